//! Support for callflow-host's tests and benchmarks.
//!
//! - [`load`]: the benchmarks' load generator.
//! - [`native_ivr`], [`native_answer`]: the IVR's decision made natively, the baseline
//!   the component is measured against (`native-ivr` serves it over HTTP).
//! - [`polyglot`]: the Python and JavaScript toolchains, set up on first use, and the
//!   plugins built with them.
//! - [`soak`]: mixed traffic against a host for a bounded time, with what must stay
//!   flat measured as it runs.
//!
//! The tests themselves: `tests/runtime.rs` (the sandbox, in process), `e2e/` (a real
//! host over HTTP), `benches/` (costs).

use std::collections::HashMap;
use std::net::SocketAddr;

use callflow_sdk::{Context, Host, KvError, Level, Plugin, PluginError};
use callflow_server::Server;
use callflow_server::config::ServerConfig;
use callflow_wire::{Callflow, Event};

pub mod load;
pub mod polyglot;
pub mod soak;

/// A host in this process on a loopback port of its own, on a runtime of its own (two
/// workers, as on these machines): the runtime (dropping it stops the host) and the
/// address.
pub fn serve(config: ServerConfig) -> (tokio::runtime::Runtime, SocketAddr) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("server runtime");
    let addr = runtime.block_on(async {
        let server = Server::new(config).expect("server");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(server.run(listener, std::future::pending()));
        addr
    });
    (runtime, addr)
}

/// Runs the IVR's own code natively on `event` with the tenant configuration `config`:
/// no wasm, no conversions, an empty store and no logging. Errors when the IVR gives no
/// callflow.
pub fn native_ivr(event: Event, config: &HashMap<String, String>) -> Result<Callflow, PluginError> {
    let host = NativeHost { config };
    <ivr::Ivr as Plugin>::handle(event, &Context::new(&host))?
        .ok_or_else(|| PluginError::Internal("the IVR returned no callflow".into()))
}

/// What a native webhook handler answers for `body`: the IVR's callflow as 8x8 JSON for
/// a call action, `{}` for any other event (as the host answers them). The baseline the
/// HTTP benchmarks hold the host against; no sandbox and none of the host's checks.
pub fn native_answer(body: &[u8], config: &HashMap<String, String>) -> Result<Vec<u8>, String> {
    let event = callflow_wire::parse_webhook(body).map_err(|e| e.to_string())?;
    let host = NativeHost { config };
    match <ivr::Ivr as Plugin>::handle(event, &Context::new(&host)).map_err(|e| e.to_string())? {
        Some(flow) => callflow_wire::rules::render(&flow).map_err(|e| e.to_string()),
        None => Ok(callflow_server::webhook::ACK_BODY.to_vec()),
    }
}

/// The least a native plugin call needs: configuration, and a store that is always
/// empty and refuses writes.
struct NativeHost<'a> {
    config: &'a HashMap<String, String>,
}

impl Host for NativeHost<'_> {
    fn log(&self, _level: Level, _message: &str) {}

    fn config(&self, key: &str) -> Option<String> {
        self.config.get(key).cloned()
    }

    fn kv_get(&self, _key: &str) -> Result<Option<Vec<u8>>, KvError> {
        Ok(None)
    }

    fn kv_set(&self, _key: &str, _value: &[u8], _ttl_ms: Option<u64>) -> Result<(), KvError> {
        Err(KvError::Unavailable(
            "no store in the native baseline".into(),
        ))
    }

    fn kv_delete(&self, _key: &str) -> Result<bool, KvError> {
        Ok(false)
    }

    fn kv_compare_and_swap(
        &self,
        _key: &str,
        _expected: Option<&[u8]>,
        _new: Option<&[u8]>,
        _ttl_ms: Option<u64>,
    ) -> Result<bool, KvError> {
        Err(KvError::Unavailable(
            "no store in the native baseline".into(),
        ))
    }
}
