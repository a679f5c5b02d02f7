//! The sandbox: runs a tenant's plugin for one event.
//!
//! Owns the wasmtime engine (pooled instance slots, fuel, epoch interruption), loading
//! plugins (checks, compilation, the on-disk compile cache, one `InstancePre` per plugin
//! version), and invoking them: per event a fresh `Store` with its own fuel budget,
//! deadline, memory cap and deny-all WASI context, then the typed `handle-event` export
//! ([`Runtime::invoke`]); an API request takes the same path to `handle-request`
//! ([`Runtime::invoke_api`]).
//! Every way a plugin can fail comes back as a [`PluginFailure`] with a stable
//! [`reason`](PluginFailure::reason); nothing a plugin does can fail the host.
//!
//! Must not: know about HTTP or the 8x8 JSON (it takes and returns [`callflow_wire`]
//! types), validate callflows against 8x8's rules (the `callflow` module does), or keep
//! anything from one event to the next inside an instance.
//!
//! Rooms, one job each:
//! - [`types`]: what goes in and out (configuration, limits, answers) and every error;
//! - `load`: checking and compiling a component into a [`LoadedPlugin`];
//! - `invoke`: one event or API request in a fresh instance, every failure classified;
//! - `bindings` (the one `bindgen!`), `engine` (wasmtime settings, the epoch ticker),
//!   `cache` (compiled components on disk), `compile` (the compile threads and their
//!   admission), `lane` (the long lane: lower-priority threads for plugins that run
//!   long), `host` (store data and the host side of the imports), `logs` (a
//!   tenant's budget of log lines and the recent ones), `convert` (wire ⇄ WIT types).

mod bindings;
mod cache;
mod compile;
pub mod contract;
mod convert;
mod engine;
mod host;
mod invoke;
mod lane;
mod load;
mod logs;
pub mod types;

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::{Mutex, Weak};
use std::time::Duration;

use wasmtime::Engine;
use wasmtime::component::{HasSelf, Linker};

pub use compile::{CompileBusy, CompileLimits, CompileStats, CompileTicket};
pub use engine::Allocation;
pub use host::{HostState, LOG_TARGET};
pub use lane::LONG_LANE_NICE;
pub use load::LoadedPlugin;
pub use logs::{LogLine, PluginLogs};
pub use types::*;

use cache::CompileCache;
use compile::Compiler;
use engine::EpochTicker;
use host::State;
use lane::LongLane;
use load::PluginInner;

/// The sandbox: one engine, one linker, one epoch ticker.
pub struct Runtime {
    engine: Engine,
    linker: Linker<State>,
    allocation: Allocation,
    cache: Option<CompileCache>,
    compiler: Compiler,
    /// Plugins already loaded, by digest, so tenants sharing a plugin share its code.
    loaded: Mutex<HashMap<String, Weak<PluginInner>>>,
    max_memory_bytes: u64,
    max_plugin_bytes: usize,
    ticker: EpochTicker,
    /// One permit per pool slot: an invocation waits for a slot rather than failing when
    /// every slot is taken.
    instances: tokio::sync::Semaphore,
    /// Where the invocations of plugins that run long go ([`Runtime::invoke_long`]).
    long_lane: LongLane,
}

impl fmt::Debug for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runtime")
            .field("allocation", &self.allocation)
            .field("cache", &self.cache)
            .finish_non_exhaustive()
    }
}

impl Runtime {
    /// Creates the engine (pooled, or on demand if the pool cannot be reserved), links
    /// the host imports and starts the epoch ticker.
    pub fn new(cfg: RuntimeConfig) -> Result<Self, RuntimeError> {
        let (engine, allocation) = engine::build(&cfg)?;
        let mut linker = Linker::<State>::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)
            .map_err(|e| RuntimeError::Link(format!("{e:#}")))?;
        bindings::Plugin::add_to_linker::<State, HasSelf<HostState>>(&mut linker, |s| &mut s.host)
            .map_err(|e| RuntimeError::Link(format!("{e:#}")))?;
        let cache = cfg
            .cache_dir
            .as_deref()
            .map(|dir| {
                CompileCache::open(dir, &engine).map_err(|e| RuntimeError::CacheDir {
                    path: dir.to_owned(),
                    message: e.to_string(),
                })
            })
            .transpose()?;
        let compiler = Compiler::new(cfg.compile)
            .map_err(|e| RuntimeError::Engine(format!("cannot start the compile threads: {e}")))?;
        let ticker =
            EpochTicker::start(engine.clone(), cfg.epoch_tick.max(Duration::from_micros(1)))?;
        Ok(Self {
            compiler,
            engine,
            linker,
            allocation,
            cache,
            loaded: Mutex::new(HashMap::new()),
            max_memory_bytes: cfg.max_memory_bytes,
            max_plugin_bytes: cfg.max_plugin_bytes,
            ticker,
            instances: tokio::sync::Semaphore::new(
                usize::try_from(cfg.max_instances.max(1)).unwrap_or(usize::MAX),
            ),
            long_lane: LongLane::new(cfg.long_lane_nice),
        })
    }

    /// Whether instances come from the pool or are allocated on demand.
    pub fn allocation(&self) -> Allocation {
        self.allocation
    }

    /// Largest plugin accepted, in bytes (a file, an upload).
    pub fn max_plugin_bytes(&self) -> usize {
        self.max_plugin_bytes
    }

    /// A place in the compile queue for `owner` (a tenant), refused beyond the limits:
    /// take one before a compile someone asked for, such as an upload.
    pub fn admit_compile(&self, owner: &str) -> Result<CompileTicket, CompileBusy> {
        self.compiler.admit(owner)
    }

    /// What compiling has cost so far.
    pub fn compile_stats(&self) -> CompileStats {
        self.compiler.stats()
    }

    /// Where the compiled form of a plugin with this digest is cached, if caching is on.
    pub fn cache_path(&self, digest: &str) -> Option<PathBuf> {
        self.cache.as_ref().map(|c| c.path(digest))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_reasons_are_the_metric_labels() {
        let all = [
            PluginFailure::OutOfFuel,
            PluginFailure::Deadline,
            PluginFailure::MemoryLimit,
            PluginFailure::Trap(String::new()),
            PluginFailure::PluginError {
                kind: "internal",
                message: String::new(),
            },
            PluginFailure::OutputTooLarge { bytes: 0 },
            PluginFailure::Host(String::new()),
        ];
        let reasons: Vec<_> = all.iter().map(PluginFailure::reason).collect();
        assert_eq!(
            reasons,
            [
                "out_of_fuel",
                "deadline",
                "memory_limit",
                "trap",
                "plugin_error",
                "output_too_large",
                "host_error"
            ]
        );
        for r in reasons {
            assert!(crate::metrics::FAILURE_REASONS.contains(&r), "{r}");
        }
    }

    fn runtime() -> Runtime {
        Runtime::new(RuntimeConfig {
            max_instances: 4,
            ..RuntimeConfig::default()
        })
        .expect("runtime")
    }

    #[test]
    fn the_pooled_engine_starts() {
        assert_eq!(runtime().allocation(), Allocation::Pooling);
    }

    #[test]
    fn an_impossible_pool_falls_back_to_on_demand() {
        // Two billion 64 MiB slots cannot be reserved in any address space.
        let rt = Runtime::new(RuntimeConfig {
            max_instances: 2_000_000_000,
            ..RuntimeConfig::default()
        })
        .expect("runtime");
        assert_eq!(rt.allocation(), Allocation::OnDemand);
    }

    #[test]
    fn loading_rejects_what_is_not_a_component() {
        let rt = runtime();
        assert!(matches!(
            rt.load(b"hello"),
            Err(LoadError::NotAComponent(_))
        ));
        // A core module: magic, version 1, layer 0.
        let core = b"\0asm\x01\0\0\0";
        let err = rt.load(core).expect_err("core module");
        assert!(
            matches!(&err, LoadError::NotAComponent(m) if m.contains("core")),
            "{err}"
        );
    }

    #[test]
    fn loading_rejects_oversized_plugins() {
        let rt = Runtime::new(RuntimeConfig {
            max_instances: 1,
            max_plugin_bytes: 8,
            ..RuntimeConfig::default()
        })
        .expect("runtime");
        assert!(matches!(
            rt.load(&[0; 9]),
            Err(LoadError::TooLarge { bytes: 9, max: 8 })
        ));
    }

    #[test]
    fn a_component_missing_the_handler_export_is_the_wrong_world() {
        let rt = runtime();
        // The smallest valid component: no imports, no exports.
        let err = rt.load(b"\0asm\x0d\0\x01\0").expect_err("no export");
        assert!(
            matches!(&err, LoadError::WrongWorld(m) if m.contains("callflow:plugin@0.2.0")),
            "{err}"
        );
    }

    #[test]
    fn garbage_after_a_component_header_does_not_compile() {
        let rt = runtime();
        let err = rt
            .load(b"\0asm\x0d\0\x01\0\xff\xff\xff")
            .expect_err("garbage");
        assert!(matches!(err, LoadError::Compile(_)), "{err}");
    }
}
