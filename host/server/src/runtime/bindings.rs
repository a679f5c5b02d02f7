//! The one place the `plugin` world's host bindings are generated.
//!
//! `log` and `config` are synchronous host functions (memory); every `kv` function is
//! async, so that the store decides what may wait: redb answers reads from its memory
//! map at once and commits on the blocking pool, Redis waits on the network, and neither
//! stalls the other events on the worker. The `handler`
//! and `api` exports are called asynchronously so that WASI's async host functions and
//! epoch yields work inside a tokio worker.

wasmtime::component::bindgen!({
    path: "../../wit",
    world: "plugin",
    imports: {
        "callflow:plugin/kv.get": async,
        "callflow:plugin/kv.set": async,
        "callflow:plugin/kv.delete": async,
        "callflow:plugin/kv.compare-and-swap": async,
    },
    exports: { default: async },
});
