// `callflow-js build app.js -o plugin.wasm`: a plugin module into the component the host
// runs.
//
// The plugin module's default export is the plugin (a Plugin class or instance). The
// build writes an entry that hands it to the SDK's WIT glue, bundles the two with
// esbuild (componentize-js takes one module; the WIT imports stay external), and runs
// componentize-js 0.23.0 (StarlingMonkey) against the SDK's WIT and world. WASI's
// stdio, HTTP and fetch-event are left out of the engine: a plugin has no console and no
// network, and the host refuses a component that imports `wasi:http`. Clocks and random
// stay, for `ctx.nowMs()`, `Date` and `Math.random`.

import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

import { CONTRACT } from "./index.js";

export const WORLD = "plugin";
/** The host's default `max_plugin_kib` (32 MiB): above it an upload is refused. */
export const HOST_DEFAULT_MAX_BYTES = 32 << 20;
/** What the engine leaves out (componentize-js `disableFeatures`). */
export const DISABLED_FEATURES = ["stdio", "http", "fetch-event"];

const sdkDir = resolve(dirname(fileURLToPath(import.meta.url)), "..");
/** The WIT the SDK builds against. */
export const witDir = join(sdkDir, "wit");

/** Builds the plugin module `app` into `output`; returns the component's size. */
export async function build(app, output, { quiet = false } = {}) {
  const appPath = resolve(app);
  statSync(appPath); // a clear ENOENT naming the file
  const { build: bundle } = await import("esbuild");
  const { componentize } = await import("@bytecodealliance/componentize-js");
  const stage = mkdtempSync(join(tmpdir(), "callflow-js-"));
  const started = Date.now();
  try {
    const bundled = join(stage, "plugin.bundle.js");
    await bundle({
      stdin: {
        contents: [
          `import plugin from ${JSON.stringify(appPath)};`,
          `import { exportsFor } from "@callflow/sdk/guest";`,
          `export const { handler, api } = exportsFor(plugin);`,
        ].join("\n"),
        resolveDir: dirname(appPath),
        sourcefile: "callflow-entry.js",
      },
      // The SDK resolves from the plugin's own node_modules, as its `import`s do, so
      // that the plugin and the glue share one copy of its classes.
      bundle: true,
      format: "esm",
      platform: "neutral",
      target: "es2022",
      external: ["callflow:*", "wasi:*"],
      outfile: bundled,
      logLevel: quiet ? "error" : "warning",
    });
    const { component } = await componentize({
      sourcePath: bundled,
      witPath: witDir,
      worldName: WORLD,
      disableFeatures: DISABLED_FEATURES,
    });
    writeFileSync(output, component);
  } finally {
    rmSync(stage, { recursive: true, force: true });
  }
  const size = statSync(output).size;
  if (!quiet) {
    const took = ((Date.now() - started) / 1000).toFixed(1);
    console.error(`built ${output} (${(size / (1 << 20)).toFixed(1)} MiB, ${CONTRACT}) in ${took} s`);
    if (size > HOST_DEFAULT_MAX_BYTES) {
      console.error(
        `warning: over the host's default plugin size (${HOST_DEFAULT_MAX_BYTES >> 20} MiB); the operator must raise \`max_plugin_kib\` in host.toml`,
      );
    }
  }
  return size;
}

export async function main(argv) {
  const [command, ...rest] = argv;
  if (command === "wit") {
    console.log(witDir);
    return 0;
  }
  if (command !== "build" || rest.length === 0) {
    console.error("usage: callflow-js build APP.js [-o plugin.wasm] [-q]\n       callflow-js wit");
    return 2;
  }
  let output = "plugin.wasm";
  let quiet = false;
  let app;
  for (let i = 0; i < rest.length; i++) {
    if (rest[i] === "-o" || rest[i] === "--output") output = rest[++i];
    else if (rest[i] === "-q" || rest[i] === "--quiet") quiet = true;
    else app = rest[i];
  }
  if (!app || !output) {
    console.error("usage: callflow-js build APP.js [-o plugin.wasm] [-q]");
    return 2;
  }
  await build(app, output, { quiet });
  return 0;
}
