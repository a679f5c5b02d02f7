//! The tenant registry: which plugin version, limits, configuration and fallback each
//! tenant has, and the per-tenant state that outlives plugin versions (counters, the
//! duplicate-delivery cache, the in-flight count).
//!
//! Lookups take a read lock for the time of a hash lookup and an `Arc` clone; loading
//! (file reads, compilation) happens outside the lock and swaps the entry in whole, so
//! an event in flight keeps the version it started with.

use std::collections::{HashMap, VecDeque};
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::SystemTime;

use axum::body::Bytes;
use tokio::sync::OnceCell;

use crate::config::{ConfigError, HostConfig, TenantConfig};
use crate::metrics::TenantStats;
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
    /// Its active plugin, or why none could be loaded (calls then get the fallback).
    pub plugin: Result<Plugin, Arc<LoadError>>,
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
    in_flight: AtomicU32,
}

impl TenantState {
    fn new(dedupe_capacity: usize) -> Self {
        Self {
            stats: TenantStats::default(),
            deliveries: Deliveries::new(dedupe_capacity),
            in_flight: AtomicU32::new(0),
        }
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

/// Every tenant the host serves.
#[derive(Debug)]
pub struct Registry {
    tenants: RwLock<HashMap<Arc<str>, Arc<Tenant>>>,
    states: Mutex<HashMap<Arc<str>, Arc<TenantState>>>,
    runtime: Arc<Runtime>,
    host: HostConfig,
}

/// True when `id` may name a tenant (it appears in URLs and folder names).
pub fn valid_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl Registry {
    /// An empty registry loading plugins into `runtime`.
    pub fn new(runtime: Arc<Runtime>, host: HostConfig) -> Self {
        Self {
            tenants: RwLock::default(),
            states: Mutex::default(),
            runtime,
            host,
        }
    }

    /// The host configuration.
    pub fn host(&self) -> &HostConfig {
        &self.host
    }

    /// The runtime plugins run in.
    pub fn runtime(&self) -> &Arc<Runtime> {
        &self.runtime
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

    /// Loads every tenant folder under `dir` (folder name = tenant id). A tenant whose
    /// configuration is refused is skipped and reported; one whose plugin does not load
    /// is served with its fallback and reported.
    pub fn load_dir(&self, dir: &Path) -> std::io::Result<Vec<(String, String)>> {
        let mut problems = Vec::new();
        let mut entries: Vec<_> = std::fs::read_dir(dir)?
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .collect();
        entries.sort_by_key(std::fs::DirEntry::file_name);
        for entry in entries {
            let id = entry.file_name().to_string_lossy().into_owned();
            match self.load_tenant(&id, &entry.path()) {
                Ok(tenant) => {
                    if let Err(e) = &tenant.plugin {
                        problems.push((id, format!("plugin not loaded: {e}")));
                    }
                }
                Err(e) => problems.push((id, e.to_string())),
            }
        }
        Ok(problems)
    }

    /// Loads (or reloads) one tenant from its folder and swaps it in.
    pub fn load_tenant(&self, id: &str, dir: &Path) -> Result<Arc<Tenant>, TenantError> {
        if !valid_id(id) {
            return Err(TenantError::InvalidId(id.to_owned()));
        }
        let config = TenantConfig::load(dir, &self.host)?;
        let plugin = self.runtime.load_file(&config.plugin).map_err(Arc::new);
        Ok(self.install(id, config, plugin))
    }

    /// Swaps in a tenant built from an already validated configuration and plugin.
    pub fn install(
        &self,
        id: &str,
        config: TenantConfig,
        plugin: Result<Plugin, Arc<LoadError>>,
    ) -> Arc<Tenant> {
        let id: Arc<str> = Arc::from(id);
        let state = {
            let mut states = self.states.lock().unwrap_or_else(|e| e.into_inner());
            Arc::clone(
                states
                    .entry(Arc::clone(&id))
                    .or_insert_with(|| Arc::new(TenantState::new(self.host.dedupe_capacity))),
            )
        };
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
