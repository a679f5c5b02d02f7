//! What goes into the sandbox and what comes out: the runtime's configuration, the
//! limits of one invocation, the answers, and every error, each naming what failed.

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::store::{KvStore, Quota};

/// How the runtime is set up; fixed for its lifetime.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// Where compiled components are kept across restarts; `None` compiles on every
    /// load.
    pub cache_dir: Option<PathBuf>,
    /// Instance slots in the pool: the most plugin invocations that can run at once.
    pub max_instances: u32,
    /// The operator's maximum linear memory per instance. Tenants' `memory_bytes` above
    /// it are capped to it.
    pub max_memory_bytes: u64,
    /// How often a plugin that runs long yields its worker thread: the epoch's fine
    /// tick, used for 20 ms after any plugin yielded (otherwise the epoch advances every
    /// millisecond, or every `epoch_tick` if longer). Deadlines are kept by the clock,
    /// within about two of the slower ticks, whatever this is.
    pub epoch_tick: Duration,
    /// Largest plugin (`.wasm`) accepted, in bytes.
    pub max_plugin_bytes: usize,
    /// How slots are reset between events.
    pub pool: PoolTuning,
    /// What one plugin may hold of a pool slot.
    pub per_plugin: PerPlugin,
    /// How compiling is kept apart from serving.
    pub compile: super::CompileLimits,
    /// The long lane's `nice` on Linux (`lane.rs`): 0 (serving's) to 19 (the lowest).
    pub long_lane_nice: i32,
}

/// How the pool resets a slot after an event. The defaults were measured (see
/// `tests/e2e/runtime.rs`, `fresh_instance_cost`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolTuning {
    /// Bytes of a linear memory reset in place (kept resident) rather than released.
    pub memory_keep_resident: usize,
    /// Bytes of a table reset in place rather than released.
    pub table_keep_resident: usize,
    /// Use Linux's `PAGEMAP_SCAN` (6.7+) to reset only the pages an event dirtied.
    pub pagemap_scan: bool,
}

impl Default for PoolTuning {
    fn default() -> Self {
        Self {
            memory_keep_resident: 2 << 20,
            table_keep_resident: 64 << 10,
            pagemap_scan: true,
        }
    }
}

/// What one plugin component may hold of its instance slot. With the pooling allocator
/// (the default) a component over any of these is refused when it is loaded, naming the
/// setting that raises it; a host that fell back to on-demand allocation applies none.
///
/// The defaults admit the SDKs' own builds with room to spare: a Rust component has a
/// handful of core instances (the code plus the adapter shims wit-component adds), one
/// memory and one table; componentize-py's (CPython) 14 core instances, one memory and
/// two tables. Raising one raises the pool's reserved address space (not its resident
/// memory) by that factor times `max_instances`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PerPlugin {
    /// Core module instances (the code, plus the adapters and shims a toolchain adds).
    pub core_instances: u32,
    /// Linear memories. Each reserves `maxima.memory_mib` plus a guard per slot.
    pub memories: u32,
    /// Tables.
    pub tables: u32,
}

impl Default for PerPlugin {
    fn default() -> Self {
        Self {
            core_instances: 20,
            memories: 1,
            tables: 4,
        }
    }
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        Self {
            cache_dir: None,
            max_instances: 256,
            max_memory_bytes: DEFAULT_MAX_MEMORY_BYTES,
            epoch_tick: Duration::from_micros(100),
            max_plugin_bytes: 32 << 20,
            pool: PoolTuning::default(),
            per_plugin: PerPlugin::default(),
            compile: super::CompileLimits::default(),
            long_lane_nice: super::LONG_LANE_NICE,
        }
    }
}

/// The operator's default ceiling on a plugin instance's linear memory: the host's
/// `maxima.memory_mib` unless `host.toml` raises it, and the runtime's pool slot size.
pub const DEFAULT_MAX_MEMORY_BYTES: u64 = 64 << 20;

/// What one event may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Limits {
    /// Fuel (roughly, wasm instructions); about 1 ms of compute per 10 million.
    pub fuel: u64,
    /// Wall-clock time for instantiation plus the call.
    pub timeout: Duration,
    /// Linear memory, in bytes.
    pub memory_bytes: u64,
    /// Largest callflow accepted, as rendered 8x8 JSON.
    pub output_bytes: usize,
    /// Log lines kept; further lines are dropped.
    pub log_lines: u32,
    /// Log lines per second over all the tenant's events; further lines are counted
    /// and summed up in one line.
    pub log_lines_per_second: u32,
    /// Key-value operations (get, set, delete, compare-and-swap) per event; further
    /// ones fail with `kv-error::quota-exceeded`.
    pub kv_ops: u32,
    /// What the tenant may keep in its key-value store, over all its events.
    pub kv_quota: Quota,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            fuel: 10_000_000,
            timeout: Duration::from_millis(100),
            memory_bytes: 32 << 20,
            output_bytes: 64 << 10,
            log_lines: 100,
            log_lines_per_second: 100,
            kv_ops: 1000,
            kv_quota: Quota {
                keys: 100_000,
                bytes: 64 << 20,
            },
        }
    }
}

/// What an invocation may reach: its tenant's configuration and store, under its limits.
#[derive(Clone)]
pub struct InvokeContext {
    /// The tenant; every `kv` call is scoped to it.
    pub tenant: Arc<str>,
    /// The tenant's plugin configuration (`config.get`).
    pub config: Arc<HashMap<String, String>>,
    /// The key-value store.
    pub kv: Arc<dyn KvStore>,
    /// The limits for this event.
    pub limits: Limits,
    /// The tenant's budget of plugin log lines, shared by its events, and where the
    /// recent lines are kept.
    pub logs: Arc<super::PluginLogs>,
    /// The span the invocation's lines (the plugin's log lines and output) are written
    /// in: a webhook's, made by the first line, or the caller's
    /// ([`EventSpan::current`](crate::event_span::EventSpan::current)).
    pub span: crate::event_span::EventSpan,
}

impl fmt::Debug for InvokeContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InvokeContext")
            .field("tenant", &self.tenant)
            .field("config_keys", &self.config.len())
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

/// A plugin's answer to one event.
#[derive(Debug, Clone)]
pub struct EventAnswer {
    /// The callflow the plugin returned, if any (not yet checked against 8x8's rules).
    pub callflow: Option<callflow_wire::Callflow>,
    /// Fuel the event used.
    pub fuel_used: u64,
    /// Key-value operations refused for the tenant's quota or the per-event cap.
    pub kv_refused: u32,
    /// Wall-clock time from store creation to the store's drop.
    pub elapsed: Duration,
    /// Where that time went.
    pub stages: Stages,
}

/// A request to a plugin's API (`/v1/tenants/{tenant}/api/{path}`), as the edge hands it
/// over: credentials already removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiRequest {
    /// The method, upper case.
    pub method: String,
    /// The path below the tenant's `/api`, starting with `/`.
    pub path: String,
    /// The raw query string, without the `?`.
    pub query: Option<String>,
    /// Headers, names in lower case.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

/// A plugin's answer to an API request, unchecked (the edge checks the status and
/// sanitises the headers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiResponse {
    /// The status the plugin chose.
    pub status: u16,
    /// The headers the plugin set.
    pub headers: Vec<(String, String)>,
    /// The body, within the output limit.
    pub body: Vec<u8>,
}

/// A plugin's answer to one API request.
#[derive(Debug, Clone)]
pub struct ApiAnswer {
    /// The response.
    pub response: ApiResponse,
    /// Fuel the request used.
    pub fuel_used: u64,
    /// Key-value operations refused for the tenant's quota or the per-event cap.
    pub kv_refused: u32,
    /// Wall-clock time from store creation to the store's drop.
    pub elapsed: Duration,
    /// Where that time went.
    pub stages: Stages,
}

/// Time spent in each stage of an invocation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stages {
    /// Building the store: WASI context, fuel, deadline, limiter.
    pub store_new: Duration,
    /// Instantiating the plugin from its `InstancePre`.
    pub instantiate: Duration,
    /// Converting the event, calling `handle-event`, converting the answer.
    pub call: Duration,
    /// Dropping the store (returns the instance's slot to the pool).
    pub drop: Duration,
}

/// Why an invocation produced no answer. Each variant has its own metric label
/// ([`reason`](Self::reason)).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PluginFailure {
    /// The plugin used up its fuel.
    #[error("the plugin ran out of fuel")]
    OutOfFuel,
    /// The plugin ran past its wall-clock deadline.
    #[error("the plugin ran past its deadline")]
    Deadline,
    /// The plugin tried to grow its memory past its limit.
    #[error("the plugin exceeded its memory limit")]
    MemoryLimit,
    /// The plugin trapped (panic, stack overflow, invalid memory access, exit, ...).
    #[error("the plugin trapped: {0}")]
    Trap(String),
    /// The plugin returned an error itself.
    #[error("the plugin reported {kind}: {message}")]
    PluginError {
        /// `bad_event`, `unavailable` or `internal`.
        kind: &'static str,
        /// The plugin's message.
        message: String,
    },
    /// The plugin's callflow is larger than its limit allows.
    #[error("the plugin's callflow is {bytes} bytes, over its limit")]
    OutputTooLarge {
        /// The callflow's size as rendered JSON.
        bytes: usize,
    },
    /// The host could not run the plugin (no free instance slot, a plugin from another
    /// runtime, ...).
    #[error("the host could not run the plugin: {0}")]
    Host(String),
}

impl PluginFailure {
    /// The stable label for logs and metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            PluginFailure::OutOfFuel => "out_of_fuel",
            PluginFailure::Deadline => "deadline",
            PluginFailure::MemoryLimit => "memory_limit",
            PluginFailure::Trap(_) => "trap",
            PluginFailure::PluginError { .. } => "plugin_error",
            PluginFailure::OutputTooLarge { .. } => "output_too_large",
            PluginFailure::Host(_) => "host_error",
        }
    }
}

/// Why a plugin could not be loaded. The variant names the check that failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoadError {
    /// The plugin file could not be read.
    #[error("cannot read the plugin {path}: {message}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// The plugin is larger than the runtime accepts.
    #[error(
        "the plugin is {bytes} bytes, more than the {max} allowed; an operator can raise \
         `max_plugin_kib` in host.toml's `[runtime]`"
    )]
    TooLarge {
        /// Its size.
        bytes: usize,
        /// The limit.
        max: usize,
    },
    /// The bytes are not a WebAssembly component (a core module, a precompiled file,
    /// or not WebAssembly at all).
    #[error("not a WebAssembly component: {0}")]
    NotAComponent(String),
    /// The component is invalid or could not be compiled.
    #[error("the component does not compile: {0}")]
    Compile(String),
    /// The component was built against a version of the plugin contract this host does
    /// not run.
    #[error(
        "the plugin was built against callflow:plugin@{found}, and this host runs \
         callflow:plugin@{accepted}: rebuild it with an SDK for {accepted}"
    )]
    ContractVersion {
        /// The version the component names.
        found: String,
        /// The version this host implements.
        accepted: &'static str,
    },
    /// The component needs more of an instance slot than the pool gives one plugin
    /// (core instances, linear memories, tables, or initial memory).
    #[error("{message}; an operator can raise `{setting}` in host.toml")]
    PoolLimit {
        /// What wasmtime found, with the count and the limit.
        message: String,
        /// The host.toml setting that raises the limit.
        setting: &'static str,
    },
    /// The component does not fit the `callflow:plugin/plugin` world: it imports
    /// something the host does not provide, or lacks the `handler` or `api` export.
    #[error("the component does not implement the callflow plugin world: {0}")]
    WrongWorld(String),
}

/// Why the runtime could not start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuntimeError {
    /// The engine (or its epoch ticker) could not be created.
    #[error("cannot create the WebAssembly engine: {0}")]
    Engine(String),
    /// The host imports could not be linked.
    #[error("cannot link the host imports: {0}")]
    Link(String),
    /// The compile cache directory could not be created.
    #[error("cannot use the compile cache directory {path}: {message}")]
    CacheDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        message: String,
    },
}

/// Where a loaded plugin's compiled code came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadSource {
    /// Compiled from the wasm just now.
    Compiled,
    /// Read from the on-disk compile cache.
    DiskCache,
    /// Shared with a plugin with the same digest that this runtime already holds.
    Memory,
}
