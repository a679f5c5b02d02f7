//! The one place the `plugin` world's host bindings are generated.
//!
//! `log`, `config` and `kv.get` are synchronous host functions (memory, or a read of
//! the store's memory map); the `kv` writes are async, so that a commit's fsync runs on
//! the blocking pool instead of stalling every other event on the worker. The `handler`
//! and `api` exports are called asynchronously so that WASI's async host functions and
//! epoch yields work inside a tokio worker.

wasmtime::component::bindgen!({
    path: "../../wit",
    world: "plugin",
    imports: {
        "callflow:plugin/kv.set": async,
        "callflow:plugin/kv.delete": async,
        "callflow:plugin/kv.compare-and-swap": async,
    },
    exports: { default: async },
});
