//! The one place the `plugin` world's host bindings are generated.
//!
//! Our own imports (`log`, `config`, `kv`) are synchronous host functions; the
//! `handler` and `api` exports are called asynchronously so that WASI's async host functions and
//! epoch yields work inside a tokio worker.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "plugin",
    exports: { default: async },
});
