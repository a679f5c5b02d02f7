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
//! Submodules: `bindings` (the one `bindgen!`), `engine` (wasmtime settings, the epoch
//! ticker), `cache` (compiled components on disk), `host` (store data and the host side
//! of the imports), `convert` (wire ⇄ WIT types).

mod bindings;
mod cache;
mod convert;
mod engine;
mod host;

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Engine, Store, Trap, UpdateDeadline};

pub use engine::Allocation;
pub use host::HostState;

use bindings::PluginPre;
use bindings::exports::callflow::plugin::handler::PluginError;
use cache::CompileCache;
use engine::EpochTicker;
use host::{MemoryLimitExceeded, State};

use crate::store::KvStore;

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
    /// How often the epoch advances; deadlines are counted in these ticks.
    pub epoch_tick: Duration,
    /// Largest plugin (`.wasm`) accepted, in bytes.
    pub max_plugin_bytes: usize,
    /// How slots are reset between events.
    pub pool: PoolTuning,
}

/// How the pool resets a slot after an event. The defaults were measured (see
/// `tests/tests/runtime.rs`, `fresh_instance_cost`).
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

impl Default for RuntimeConfig {
    fn default() -> Self {
        Self {
            cache_dir: None,
            max_instances: 256,
            max_memory_bytes: 64 << 20,
            epoch_tick: Duration::from_millis(1),
            max_plugin_bytes: 16 << 20,
            pool: PoolTuning::default(),
        }
    }
}

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
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            fuel: 10_000_000,
            timeout: Duration::from_millis(100),
            memory_bytes: 16 << 20,
            output_bytes: 64 << 10,
            log_lines: 100,
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
pub struct Outcome {
    /// The callflow the plugin returned, if any (not yet checked against 8x8's rules).
    pub callflow: Option<callflow_wire::Callflow>,
    /// Fuel the event used.
    pub fuel_used: u64,
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
pub struct ApiOutcome {
    /// The response.
    pub response: ApiResponse,
    /// Fuel the request used.
    pub fuel_used: u64,
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
    #[error("the plugin is {bytes} bytes, more than the {max} allowed")]
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

/// A loaded plugin version, ready to instantiate. Cheap to clone.
#[derive(Clone)]
pub struct Plugin(Arc<PluginInner>);

struct PluginInner {
    pre: PluginPre<State>,
    engine: Engine,
    digest: String,
    size: usize,
    source: LoadSource,
    load_time: Duration,
}

impl fmt::Debug for Plugin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Plugin")
            .field("digest", &self.0.digest)
            .field("size", &self.0.size)
            .field("source", &self.0.source)
            .finish_non_exhaustive()
    }
}

impl Plugin {
    /// The sha256 of the plugin's wasm, in hex: its version.
    pub fn digest(&self) -> &str {
        &self.0.digest
    }

    /// The size of the plugin's wasm, in bytes.
    pub fn size(&self) -> usize {
        self.0.size
    }

    /// Where its compiled code came from (as of when it was first loaded).
    pub fn source(&self) -> LoadSource {
        self.0.source
    }

    /// How long loading took (as of when it was first loaded).
    pub fn load_time(&self) -> Duration {
        self.0.load_time
    }
}

/// The sandbox: one engine, one linker, one epoch ticker.
pub struct Runtime {
    engine: Engine,
    linker: Linker<State>,
    allocation: Allocation,
    cache: Option<CompileCache>,
    /// Plugins already loaded, by digest, so tenants sharing a plugin share its code.
    loaded: Mutex<HashMap<String, Weak<PluginInner>>>,
    epoch_tick: Duration,
    max_memory_bytes: u64,
    max_plugin_bytes: usize,
    _ticker: EpochTicker,
}

impl fmt::Debug for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runtime")
            .field("allocation", &self.allocation)
            .field("cache", &self.cache)
            .field("epoch_tick", &self.epoch_tick)
            .finish_non_exhaustive()
    }
}

/// The magic number and the component-model version/layer of a binary component.
const WASM_MAGIC: [u8; 4] = *b"\0asm";
const COMPONENT_LAYER: [u8; 2] = [0x01, 0x00];

/// How many epoch ticks a running plugin gets between yields to the async executor.
/// Yielding lets other events run on this worker while a slow plugin burns its
/// deadline; a plugin that finishes within its fuel never reaches a yield.
const YIELD_EVERY: Duration = Duration::from_millis(10);

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
        let ticker = EpochTicker::start(engine.clone(), cfg.epoch_tick)?;
        Ok(Self {
            engine,
            linker,
            allocation,
            cache,
            loaded: Mutex::new(HashMap::new()),
            epoch_tick: cfg.epoch_tick.max(Duration::from_micros(1)),
            max_memory_bytes: cfg.max_memory_bytes,
            max_plugin_bytes: cfg.max_plugin_bytes,
            _ticker: ticker,
        })
    }

    /// Whether instances come from the pool or are allocated on demand.
    pub fn allocation(&self) -> Allocation {
        self.allocation
    }

    /// Where the compiled form of a plugin with this digest is cached, if caching is on.
    pub fn cache_path(&self, digest: &str) -> Option<PathBuf> {
        self.cache.as_ref().map(|c| c.path(digest))
    }

    /// Reads and loads a plugin file.
    pub fn load_file(&self, path: &Path) -> Result<Plugin, LoadError> {
        self.load(&self.read(path)?)
    }

    /// Reads a plugin file, refusing one over the size limit before reading it.
    pub fn read(&self, path: &Path) -> Result<Vec<u8>, LoadError> {
        let read_err = |message: String| LoadError::Read {
            path: path.to_owned(),
            message,
        };
        let len = std::fs::metadata(path)
            .map_err(|e| read_err(e.to_string()))?
            .len();
        let len = usize::try_from(len).unwrap_or(usize::MAX);
        if len > self.max_plugin_bytes {
            return Err(LoadError::TooLarge {
                bytes: len,
                max: self.max_plugin_bytes,
            });
        }
        std::fs::read(path).map_err(|e| read_err(e.to_string()))
    }

    /// Checks, compiles (or reads from the cache) and pre-links a plugin.
    pub fn load(&self, wasm: &[u8]) -> Result<Plugin, LoadError> {
        let start = Instant::now();
        if wasm.len() > self.max_plugin_bytes {
            return Err(LoadError::TooLarge {
                bytes: wasm.len(),
                max: self.max_plugin_bytes,
            });
        }
        check_header(wasm)?;
        let digest = cache::hex(&Sha256::digest(wasm));
        if let Some(plugin) = self.already_loaded(&digest) {
            return Ok(plugin);
        }
        if let Some(component) = self.cached(&digest) {
            return self.prelink(component, digest, wasm.len(), LoadSource::DiskCache, start);
        }
        let component =
            Component::new(&self.engine, wasm).map_err(|e| LoadError::Compile(format!("{e:#}")))?;
        self.prelink(component, digest, wasm.len(), LoadSource::Compiled, start)
    }

    /// Loads the version with `digest` again, as after an eviction: from memory when a
    /// plugin with that digest is still loaded, else from the compile cache, else from
    /// `path`, whose bytes must still have that digest (a file changed in place since is
    /// refused: its new bytes are the next reload's business, not this version's).
    pub fn load_version(&self, digest: &str, path: &Path) -> Result<Plugin, LoadError> {
        let start = Instant::now();
        if let Some(plugin) = self.already_loaded(digest) {
            return Ok(plugin);
        }
        if let Some(component) = self.cached(digest) {
            let size = std::fs::metadata(path).map_or(0, |m| m.len());
            let size = usize::try_from(size).unwrap_or(usize::MAX);
            return self.prelink(
                component,
                digest.to_owned(),
                size,
                LoadSource::DiskCache,
                start,
            );
        }
        let plugin = self.load_file(path)?;
        if plugin.digest() != digest {
            return Err(LoadError::Read {
                path: path.to_owned(),
                message: format!(
                    "the file changed since version {digest} was loaded from it (it is now {})",
                    plugin.digest()
                ),
            });
        }
        Ok(plugin)
    }

    fn cached(&self, digest: &str) -> Option<Component> {
        self.cache.as_ref()?.load(&self.engine, digest)
    }

    /// Pre-links a compiled component against the host's imports (which checks that it
    /// fits the world), caches it on disk if it was just compiled, and shares it with
    /// later loads of the same digest.
    fn prelink(
        &self,
        component: Component,
        digest: String,
        size: usize,
        source: LoadSource,
        start: Instant,
    ) -> Result<Plugin, LoadError> {
        let pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(|e| LoadError::WrongWorld(format!("{e:#}")))?;
        let pre = PluginPre::new(pre).map_err(|e| LoadError::WrongWorld(format!("{e:#}")))?;
        // Only a component that fits the world is worth caching.
        if source == LoadSource::Compiled
            && let Some(cache) = &self.cache
        {
            cache.store(&digest, &component);
        }
        let inner = Arc::new(PluginInner {
            pre,
            engine: self.engine.clone(),
            digest: digest.clone(),
            size,
            source,
            load_time: start.elapsed(),
        });
        if let Ok(mut loaded) = self.loaded.lock() {
            loaded.retain(|_, p| p.strong_count() > 0);
            loaded.insert(digest, Arc::downgrade(&inner));
        }
        Ok(Plugin(inner))
    }

    /// Distinct compiled components in memory (held by a tenant, a running event or a
    /// pinned call).
    pub fn components_in_memory(&self) -> usize {
        self.loaded
            .lock()
            .map_or(0, |l| l.values().filter(|p| p.strong_count() > 0).count())
    }

    /// The plugin with `digest` if this runtime holds it already (no I/O).
    pub fn in_memory(&self, digest: &str) -> Option<Plugin> {
        self.already_loaded(digest)
    }

    fn already_loaded(&self, digest: &str) -> Option<Plugin> {
        let loaded = self.loaded.lock().ok()?;
        let inner = loaded.get(digest)?.upgrade()?;
        Some(Plugin(Arc::new(PluginInner {
            pre: inner.pre.clone(),
            engine: inner.engine.clone(),
            digest: inner.digest.clone(),
            size: inner.size,
            source: LoadSource::Memory,
            load_time: Duration::ZERO,
        })))
    }

    /// Runs `plugin` on `event` in a fresh instance.
    ///
    /// The instance gets `ctx.limits.fuel` fuel, a deadline of `ctx.limits.timeout` from
    /// now (instantiation included), and at most `ctx.limits.memory_bytes` of memory
    /// (capped to the runtime's maximum). The plugin's log lines and output go to
    /// `tracing` with the tenant, inside the caller's span.
    pub async fn invoke(
        &self,
        plugin: &Plugin,
        ctx: InvokeContext,
        event: &callflow_wire::Event,
    ) -> Result<Outcome, PluginFailure> {
        let (callflow, run) = self.run(plugin, ctx, EventCall(event)).await?;
        Ok(Outcome {
            callflow,
            fuel_used: run.fuel_used,
            elapsed: run.elapsed,
            stages: run.stages,
        })
    }

    /// Runs `plugin`'s `api` export on `request` in a fresh instance, under exactly the
    /// sandbox and limits of [`invoke`](Self::invoke); a response body over
    /// `ctx.limits.output_bytes` is [`PluginFailure::OutputTooLarge`].
    pub async fn invoke_api(
        &self,
        plugin: &Plugin,
        ctx: InvokeContext,
        request: ApiRequest,
    ) -> Result<ApiOutcome, PluginFailure> {
        let (response, run) = self.run(plugin, ctx, ApiCall(request)).await?;
        Ok(ApiOutcome {
            response,
            fuel_used: run.fuel_used,
            elapsed: run.elapsed,
            stages: run.stages,
        })
    }

    /// The one path every invocation takes: a fresh store with the limits of `ctx`, the
    /// plugin instantiated from its `InstancePre`, `call` on it, every failure classified,
    /// the plugin's output logged, the store dropped, each stage timed.
    async fn run<C: Call>(
        &self,
        plugin: &Plugin,
        ctx: InvokeContext,
        call: C,
    ) -> Result<(C::Output, Run), PluginFailure> {
        if !Engine::same(&plugin.0.engine, &self.engine) {
            return Err(PluginFailure::Host(
                "the plugin was loaded by another runtime".into(),
            ));
        }
        let limits = ctx.limits;
        let tenant = Arc::clone(&ctx.tenant);
        let start = Instant::now();

        let memory_cap = limits.memory_bytes.min(self.max_memory_bytes);
        let mut store = Store::new(
            &self.engine,
            State::new(ctx, usize::try_from(memory_cap).unwrap_or(usize::MAX)),
        );
        store.limiter(|s| &mut s.limiter);
        store
            .set_fuel(limits.fuel)
            .map_err(|e| PluginFailure::Host(format!("{e:#}")))?;
        self.set_deadline(&mut store, limits.timeout);
        let t_store = Instant::now();

        let instance = plugin.0.pre.instantiate_async(&mut store).await;
        let t_instantiate = Instant::now();
        let result = match instance {
            Err(err) => Err(classify(&err, &store, Phase::Instantiate)),
            Ok(instance) => match call.call(&instance, &mut store, &limits).await {
                Err(err) => Err(classify(&err, &store, Phase::Call)),
                Ok(answer) => answer,
            },
        };
        let t_call = Instant::now();
        let fuel_used = limits.fuel.saturating_sub(store.get_fuel().unwrap_or(0));

        let state = store.data();
        state.output.log(&tenant);
        if state.host.log_lines_dropped() > 0 {
            tracing::warn!(
                target: host::LOG_TARGET,
                tenant = &*tenant,
                dropped = state.host.log_lines_dropped(),
                "plugin log lines over the per-event budget were dropped"
            );
        }
        drop(store);
        let end = Instant::now();

        let output = result?;
        Ok((
            output,
            Run {
                fuel_used,
                elapsed: end - start,
                stages: Stages {
                    store_new: t_store - start,
                    instantiate: t_instantiate - t_store,
                    call: t_call - t_instantiate,
                    drop: end - t_call,
                },
            },
        ))
    }

    /// Traps with `Interrupt` once `timeout` has passed, yielding to the executor every
    /// [`YIELD_EVERY`] on the way.
    fn set_deadline(&self, store: &mut Store<State>, timeout: Duration) {
        let ticks = |d: Duration| {
            u64::try_from(d.as_nanos().div_ceil(self.epoch_tick.as_nanos()))
                .unwrap_or(u64::MAX)
                .max(1)
        };
        let total = ticks(timeout);
        let slice = ticks(YIELD_EVERY).min(total);
        let mut remaining = total - slice;
        store.set_epoch_deadline(slice);
        store.epoch_deadline_callback(move |_| {
            if remaining == 0 {
                return Ok(UpdateDeadline::Interrupt);
            }
            let next = slice.min(remaining);
            remaining -= next;
            // tokio's `yield_now` lets the worker's other tasks run before this one
            // resumes (a plain self-wake may be polled again at once).
            Ok(UpdateDeadline::YieldCustom(
                next,
                Box::pin(tokio::task::yield_now()),
            ))
        });
    }
}

/// What one invocation cost.
struct Run {
    fuel_used: u64,
    elapsed: Duration,
    stages: Stages,
}

/// One call of an export on a fresh instance: the part of an invocation that differs
/// between a webhook event and an API request. [`Runtime::run`] does the rest.
trait Call {
    /// What the export's answer becomes.
    type Output;

    /// Calls the export. `Err` is a wasmtime error (a trap, fuel, the deadline), which
    /// `run` classifies; `Ok(Err)` is a failure the answer itself shows (the plugin's own
    /// error, an answer over the output limit).
    async fn call(
        self,
        instance: &bindings::Plugin,
        store: &mut Store<State>,
        limits: &Limits,
    ) -> wasmtime::Result<Result<Self::Output, PluginFailure>>;
}

/// `handle-event`.
struct EventCall<'e>(&'e callflow_wire::Event);

impl Call for EventCall<'_> {
    type Output = Option<callflow_wire::Callflow>;

    async fn call(
        self,
        instance: &bindings::Plugin,
        store: &mut Store<State>,
        limits: &Limits,
    ) -> wasmtime::Result<Result<Self::Output, PluginFailure>> {
        let event = convert::event(self.0);
        let answer = instance
            .callflow_plugin_handler()
            .call_handle_event(&mut *store, &event)
            .await?;
        Ok(match answer {
            Err(err) => Err(plugin_error(err)),
            Ok(flow) => {
                let flow = flow.map(convert::callflow);
                match flow.as_ref().map(convert::rendered_len) {
                    Some(bytes) if bytes > limits.output_bytes => {
                        Err(PluginFailure::OutputTooLarge { bytes })
                    }
                    _ => Ok(flow),
                }
            }
        })
    }
}

/// `handle-request`.
struct ApiCall(ApiRequest);

impl Call for ApiCall {
    type Output = ApiResponse;

    async fn call(
        self,
        instance: &bindings::Plugin,
        store: &mut Store<State>,
        limits: &Limits,
    ) -> wasmtime::Result<Result<Self::Output, PluginFailure>> {
        let request = convert::api_request(self.0);
        let response = instance
            .callflow_plugin_api()
            .call_handle_request(&mut *store, &request)
            .await?;
        let response = convert::api_response(response);
        Ok(if response.body.len() > limits.output_bytes {
            Err(PluginFailure::OutputTooLarge {
                bytes: response.body.len(),
            })
        } else {
            Ok(response)
        })
    }
}

fn check_header(wasm: &[u8]) -> Result<(), LoadError> {
    if wasm.len() < 8 || wasm[..4] != WASM_MAGIC {
        return Err(LoadError::NotAComponent(
            "the file does not start with the WebAssembly magic number".into(),
        ));
    }
    if wasm[6..8] != COMPONENT_LAYER {
        return Err(LoadError::NotAComponent(
            "this is a core WebAssembly module; build for `wasm32-wasip2` (or run \
             `wasm-tools component new`) to make it a component"
                .into(),
        ));
    }
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Instantiate,
    Call,
}

/// Names the failure behind a wasmtime error.
fn classify(err: &wasmtime::Error, store: &Store<State>, phase: Phase) -> PluginFailure {
    if store.data().limiter.hit.is_some() || err.downcast_ref::<MemoryLimitExceeded>().is_some() {
        return PluginFailure::MemoryLimit;
    }
    if let Some(trap) = err.downcast_ref::<Trap>() {
        return match trap {
            Trap::OutOfFuel => PluginFailure::OutOfFuel,
            Trap::Interrupt => PluginFailure::Deadline,
            other => {
                tracing::debug!(cause = ?err, "plugin trap");
                PluginFailure::Trap(other.to_string())
            }
        };
    }
    if let Some(exit) = err.downcast_ref::<wasmtime_wasi::I32Exit>() {
        return PluginFailure::Trap(format!("the plugin exited with status {}", exit.0));
    }
    match phase {
        // Before the plugin's code runs, a failure is the host's (no free slot, ...).
        Phase::Instantiate => PluginFailure::Host(format!("{err:#}")),
        // During the call, an error that is not a trap comes from a host function the
        // plugin misused; it is the plugin's failure.
        Phase::Call => PluginFailure::Trap(format!("{err:#}")),
    }
}

fn plugin_error(err: PluginError) -> PluginFailure {
    let (kind, message) = match err {
        PluginError::BadEvent(m) => ("bad_event", m),
        PluginError::Unavailable(m) => ("unavailable", m),
        PluginError::Internal(m) => ("internal", m),
    };
    PluginFailure::PluginError { kind, message }
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
            matches!(&err, LoadError::WrongWorld(m) if m.contains("handler")),
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
