#!/usr/bin/env node
// `callflow-js build app.js -o plugin.wasm`: see src/build.js.
import { main } from "../src/build.js";

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    console.error(`callflow-js: ${err?.message ?? err}`);
    process.exit(1);
  },
);
