//! The tenant registry: which plugin version, limits, configuration and fallback each
//! tenant has, and the per-tenant state that outlives plugin versions (counters, the
//! duplicate-delivery cache, the in-flight count).
//!
//! Lookups take a read lock for the time of a hash lookup and an `Arc` clone; loading
//! (file reads, compilation) happens outside the lock and swaps the entry in whole, so
//! an event in flight keeps the version it started with.

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime};

use axum::body::Bytes;
use tokio::sync::OnceCell;

use crate::config::{ConfigError, HostConfig, TenantConfig};
use crate::metrics::TenantStats;
use crate::repo::Repo;
use crate::residency::{PluginSlot, Residency, ResidencyStats};
use crate::runtime::{LoadError, Plugin, Runtime};

/// Why a tenant could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum TenantError {
    /// Its `tenant.toml` was refused.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The tenant id is not a safe name.
    #[error("invalid tenant id {0:?}: use 1 to 64 characters of [A-Za-z0-9_-]")]
    InvalidId(String),
}

/// One tenant as currently configured.
#[derive(Debug)]
pub struct Tenant {
    /// The tenant's id, as in its URLs.
    pub id: Arc<str>,
    /// Its validated configuration.
    pub config: TenantConfig,
    /// Its active plugin: loaded on first use, evicted when idle, or why it could not
    /// be loaded (calls then get the fallback).
    pub plugin: Arc<PluginSlot>,
    /// The fallback callflow, rendered once.
    pub fallback_body: Bytes,
    /// When this version was loaded.
    pub loaded_at: SystemTime,
    /// State that outlives versions.
    pub state: Arc<TenantState>,
}

/// Per-tenant state kept across reloads.
#[derive(Debug)]
pub struct TenantState {
    /// Counters.
    pub stats: TenantStats,
    /// Answers to recent deliveries, by delivery key.
    pub deliveries: Deliveries,
    /// Calls in progress and the version that answered their first event.
    pub pins: Pins,
    in_flight: AtomicU32,
    last_load: Mutex<LoadRecord>,
    fuel: Mutex<FuelBucket>,
}

/// A token bucket of fuel: refills at the tenant's `fuel_per_second`, holds at most one
/// second's worth, and may go negative by one event's overdraft.
#[derive(Debug)]
struct FuelBucket {
    tokens: f64,
    at: Instant,
}

/// The outcome of the tenant's most recent (re)load.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct LoadRecord {
    /// When it happened (seconds since the Unix epoch).
    pub at: u64,
    /// Why it failed, if it did.
    pub error: Option<String>,
    /// Loads so far.
    pub loads: u64,
    /// Failed loads so far.
    pub failures: u64,
}

impl TenantState {
    fn new(dedupe_capacity: usize) -> Self {
        Self {
            stats: TenantStats::default(),
            deliveries: Deliveries::new(dedupe_capacity),
            pins: Pins::new(dedupe_capacity, PIN_TTL),
            in_flight: AtomicU32::new(0),
            last_load: Mutex::default(),
            fuel: Mutex::new(FuelBucket {
                tokens: f64::MAX,
                at: Instant::now(),
            }),
        }
    }

    /// True when the tenant may start another event within its fuel rate.
    pub fn fuel_available(&self, per_second: u64) -> bool {
        self.refill(per_second, 0) > 0.0
    }

    /// Charges `used` fuel to the tenant's rate.
    pub fn charge_fuel(&self, per_second: u64, used: u64) {
        self.refill(per_second, used);
    }

    #[allow(
        clippy::cast_precision_loss,
        reason = "fuel rates far below 2^52 per second"
    )]
    fn refill(&self, per_second: u64, used: u64) -> f64 {
        let mut bucket = self.fuel.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let rate = per_second as f64;
        let refilled = bucket.tokens + now.duration_since(bucket.at).as_secs_f64() * rate;
        bucket.tokens = refilled.min(rate) - used as f64;
        bucket.at = now;
        bucket.tokens
    }

    fn record_load(&self, error: Option<String>) {
        let mut record = self.last_load.lock().unwrap_or_else(|e| e.into_inner());
        record.at = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        record.loads += 1;
        if error.is_some() {
            record.failures += 1;
            tracing::error!(
                cause = error.as_deref().unwrap_or_default(),
                "tenant reload failed"
            );
        }
        record.error = error;
    }

    /// The outcome of the most recent (re)load.
    pub fn last_load(&self) -> LoadRecord {
        self.last_load
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Events of this tenant running now.
    pub fn in_flight(&self) -> u32 {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// Claims one of `max` concurrent invocation slots; `None` when all are taken.
    pub fn try_acquire(self: &Arc<Self>, max: u32) -> Option<InFlight> {
        self.in_flight
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .ok()
            .map(|_| InFlight(Arc::clone(self)))
    }
}

/// A claimed invocation slot, released on drop.
#[derive(Debug)]
pub struct InFlight(Arc<TenantState>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A bounded map from delivery key to the answer given, so a repeated delivery gets the
/// same answer and the plugin acts once. Concurrent deliveries of one key share a cell:
/// the first runs the plugin, the others wait for its answer.
#[derive(Debug)]
pub struct Deliveries {
    inner: Mutex<DeliveriesInner>,
    capacity: usize,
}

#[derive(Debug, Default)]
struct DeliveriesInner {
    cells: HashMap<String, Arc<OnceCell<Bytes>>>,
    order: VecDeque<String>,
}

impl Deliveries {
    fn new(capacity: usize) -> Self {
        Self {
            inner: Mutex::default(),
            capacity: capacity.max(1),
        }
    }

    /// The cell for `key`, created (evicting the oldest key beyond capacity) if new.
    pub fn cell(&self, key: &str) -> Arc<OnceCell<Bytes>> {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(cell) = inner.cells.get(key) {
            return Arc::clone(cell);
        }
        let cell = Arc::new(OnceCell::new());
        inner.cells.insert(key.to_owned(), Arc::clone(&cell));
        inner.order.push_back(key.to_owned());
        while inner.order.len() > self.capacity {
            if let Some(old) = inner.order.pop_front() {
                inner.cells.remove(&old);
            }
        }
        cell
    }
}

/// How long a call stays on the version that answered its first event.
pub const PIN_TTL: Duration = Duration::from_secs(2 * 60 * 60);

/// Calls in progress, pinned to the plugin version that answered their first event, so
/// that a caller never hears half of one menu tree and half of another across a reload.
/// Bounded in count (oldest first out) and in time.
#[derive(Debug)]
pub struct Pins {
    inner: Mutex<PinsInner>,
    capacity: usize,
    ttl: Duration,
}

#[derive(Debug, Default)]
struct PinsInner {
    sessions: HashMap<String, (Plugin, Instant)>,
    order: VecDeque<String>,
}

impl Pins {
    fn new(capacity: usize, ttl: Duration) -> Self {
        Self {
            inner: Mutex::default(),
            capacity: capacity.max(1),
            ttl,
        }
    }

    /// The version `session` is pinned to, while the pin is fresh.
    pub fn get(&self, session: &str) -> Option<Plugin> {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let (plugin, since) = inner.sessions.get(session)?;
        (since.elapsed() < self.ttl).then(|| plugin.clone())
    }

    /// Pins `session` to `current` unless it is already pinned (a concurrent event of the
    /// same call may have got there first); returns the version the session runs on.
    pub fn pin(&self, session: &str, current: &Plugin) -> Plugin {
        let now = Instant::now();
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((plugin, since)) = inner.sessions.get(session)
            && now.duration_since(*since) < self.ttl
        {
            return plugin.clone();
        }
        inner
            .sessions
            .insert(session.to_owned(), (current.clone(), now));
        inner.order.push_back(session.to_owned());
        while inner.order.len() > self.capacity {
            if let Some(old) = inner.order.pop_front() {
                inner.sessions.remove(&old);
            }
        }
        current.clone()
    }

    /// Forgets `session` (it ended).
    pub fn release(&self, session: &str) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.sessions.remove(session);
    }

    /// Calls currently pinned.
    pub fn len(&self) -> usize {
        self.inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .sessions
            .len()
    }

    /// True when no call is pinned.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Every tenant the host serves.
#[derive(Debug)]
pub struct Registry {
    tenants: RwLock<HashMap<Arc<str>, Arc<Tenant>>>,
    states: Mutex<HashMap<Arc<str>, Arc<TenantState>>>,
    runtime: Arc<Runtime>,
    residency: Arc<Residency>,
    host: HostConfig,
    repo: Repo,
}

/// True when `id` may name a tenant (it appears in URLs and folder names).
pub fn valid_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// When a tenant's plugin is loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Load {
    /// On its first event (start-up).
    Lazy,
    /// Now (a reload: a version that does not load must not replace a working one).
    Now,
}

/// What a reload did.
#[derive(Debug)]
pub enum Reloaded {
    /// The tenant now serves this version.
    Loaded(Arc<Tenant>),
    /// The tenant's folder is gone; so is the tenant.
    Removed,
}

impl Registry {
    /// An empty registry for the tenants in `repo`, loading plugins into `runtime`.
    pub fn new(runtime: Arc<Runtime>, host: HostConfig, repo: Repo) -> Self {
        let residency = Residency::new(Arc::clone(&runtime), host.max_loaded_plugins);
        Self {
            tenants: RwLock::default(),
            states: Mutex::default(),
            runtime,
            residency,
            host,
            repo,
        }
    }

    /// Plugins in memory, the bound, loads and evictions.
    pub fn residency(&self) -> ResidencyStats {
        self.residency.stats()
    }

    /// The host configuration.
    pub fn host(&self) -> &HostConfig {
        &self.host
    }

    /// The runtime plugins run in.
    pub fn runtime(&self) -> &Arc<Runtime> {
        &self.runtime
    }

    /// The tenants directory.
    pub fn repo(&self) -> &Repo {
        &self.repo
    }

    /// The tenant's current version.
    pub fn get(&self, id: &str) -> Option<Arc<Tenant>> {
        let tenants = self.tenants.read().unwrap_or_else(|e| e.into_inner());
        tenants.get(id).cloned()
    }

    /// Every tenant, sorted by id.
    pub fn all(&self) -> Vec<Arc<Tenant>> {
        let tenants = self.tenants.read().unwrap_or_else(|e| e.into_inner());
        let mut all: Vec<_> = tenants.values().cloned().collect();
        all.sort_by(|a, b| a.id.cmp(&b.id));
        all
    }

    /// Reads every tenant folder of the repository. Plugins are not compiled here but on
    /// each tenant's first event; a tenant whose configuration is refused is skipped and
    /// reported, one whose plugin file cannot be read is served with its fallback and
    /// reported.
    pub fn load_all(&self) -> std::io::Result<Vec<(String, String)>> {
        let mut problems = Vec::new();
        let mut ids: Vec<String> = std::fs::read_dir(self.repo.root())?
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        ids.sort();
        for id in ids {
            self.repo.remove_unfinished_writes(&id);
            match self.load(&id, Load::Lazy) {
                Ok(Reloaded::Loaded(tenant)) => {
                    if let Some(e) = tenant.plugin.error() {
                        problems.push((id, format!("plugin not loaded: {e}")));
                    }
                }
                Ok(Reloaded::Removed) => {}
                Err(e) => problems.push((id, e.to_string())),
            }
        }
        Ok(problems)
    }

    /// The tenant's long-lived state, created on first use.
    pub fn state(&self, id: &str) -> Arc<TenantState> {
        let mut states = self.states.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(state) = states.get(id) {
            return Arc::clone(state);
        }
        let state = Arc::new(TenantState::new(self.host.dedupe_capacity));
        states.insert(Arc::from(id), Arc::clone(&state));
        state
    }

    /// (Re)loads one tenant from its folder and swaps it in atomically: events already
    /// running finish on the version they started with. When the new configuration or
    /// plugin cannot be loaded and the tenant already serves a working version, that
    /// version keeps serving and the error is recorded in the tenant's status.
    /// Compiles: call it off the request path.
    pub fn reload(&self, id: &str) -> Result<Reloaded, TenantError> {
        self.load(id, Load::Now)
    }

    fn load(&self, id: &str, when: Load) -> Result<Reloaded, TenantError> {
        if !valid_id(id) {
            return Err(TenantError::InvalidId(id.to_owned()));
        }
        let state = self.state(id);
        if !self.repo.exists(id) {
            let mut tenants = self.tenants.write().unwrap_or_else(|e| e.into_inner());
            tenants.remove(id);
            return Ok(Reloaded::Removed);
        }
        let current = self.get(id);
        let dir = self.repo.tenant_dir(id);
        let config = match TenantConfig::load(&dir, &self.host) {
            Ok(config) => config,
            Err(e) => {
                state.record_load(Some(e.to_string()));
                return Err(e.into());
            }
        };
        let path = self.repo.plugin_path(id, &config.plugin);
        let slot = match (self.repo.active(id), when) {
            // An uploaded version: its file is immutable and named by its digest.
            (Some(digest), Load::Lazy) => self.residency.lazy(path, Some(digest)),
            (Some(_), Load::Now) => {
                let plugin = self.runtime.load_file(&path).map_err(Arc::new);
                self.residency.loaded(path, plugin)
            }
            // A hand-dropped file can be overwritten at any time: the slot loads from a
            // copy of the bytes it serves.
            (None, when) => match self.runtime.read(&path) {
                Err(e) => self.residency.loaded(path, Err(Arc::new(e))),
                Ok(wasm) => match when {
                    Load::Lazy => {
                        let digest = crate::repo::digest(&wasm);
                        let path = self.keep_served(id, &wasm, &digest, path);
                        self.residency.lazy(path, Some(digest))
                    }
                    Load::Now => match self.runtime.load(&wasm) {
                        Ok(plugin) => {
                            let path = self.keep_served(id, &wasm, plugin.digest(), path);
                            self.residency.loaded(path, Ok(plugin))
                        }
                        Err(e) => self.residency.loaded(path, Err(Arc::new(e))),
                    },
                },
            },
        };
        if let (Some(e), Some(current)) = (slot.error(), &current)
            && current.plugin.error().is_none()
        {
            // The serving version's file is immutable (an uploaded version or a kept
            // copy), so it can still be loaded after an eviction.
            state.record_load(Some(format!("kept the serving version: {e}")));
            return Ok(Reloaded::Loaded(Arc::clone(current)));
        }
        state.record_load(slot.error().map(|e| e.to_string()));
        Ok(Reloaded::Loaded(self.swap_in(id, config, slot)))
    }

    /// The copy of a hand-dropped plugin to load from; the file itself when no copy can
    /// be written (it then cannot be reloaded once overwritten).
    fn keep_served(&self, id: &str, wasm: &[u8], digest: &str, path: PathBuf) -> PathBuf {
        self.repo.keep_served(id, wasm, digest).unwrap_or_else(|e| {
            tracing::warn!(tenant = id, cause = %e, "cannot keep a copy of the served plugin");
            path
        })
    }

    /// Swaps in a tenant built from an already validated configuration and plugin.
    pub fn install(
        &self,
        id: &str,
        config: TenantConfig,
        plugin: Result<Plugin, Arc<LoadError>>,
    ) -> Arc<Tenant> {
        let path = self.repo.plugin_path(id, &config.plugin);
        let slot = self.residency.loaded(path, plugin);
        self.swap_in(id, config, slot)
    }

    fn swap_in(&self, id: &str, config: TenantConfig, plugin: Arc<PluginSlot>) -> Arc<Tenant> {
        let state = self.state(id);
        let id: Arc<str> = Arc::from(id);
        // The fallback was validated when the configuration was loaded.
        let fallback_body = Bytes::from(config.fallback.to_json());
        let tenant = Arc::new(Tenant {
            id: Arc::clone(&id),
            config,
            plugin,
            fallback_body,
            loaded_at: SystemTime::now(),
            state,
        });
        let mut tenants = self.tenants.write().unwrap_or_else(|e| e.into_inner());
        tenants.insert(id, Arc::clone(&tenant));
        tenant
    }
}
