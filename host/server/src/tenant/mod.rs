//! The tenants: the registry, which maps a tenant id to its configuration, active plugin
//! and fallback, and everything a tenant keeps beside it.
//!
//! - this module: [`Registry`] and [`Tenant`]. Lookups take a read lock for the time of
//!   a hash lookup and an `Arc` clone; loading (file reads, compilation) happens outside
//!   the lock and swaps the entry in whole, so an event in flight keeps the version it
//!   started with;
//! - [`admission`]: the one way into the sandbox, for webhooks, the plugin API and dry
//!   runs alike: the tenant's fuel rate and concurrency cap checked, the invocation's
//!   context built, the fuel it burned charged;
//! - [`state`]: what a tenant keeps across reloads ([`TenantState`]), with [`dedupe`]
//!   (repeated deliveries), [`pins`] (calls on the version they started with),
//!   [`rate`] (the fuel bucket) and [`activity`] (the counters' last minutes, for the
//!   console);
//! - [`residency`]: which plugins are in memory; [`repo`]: the tenants directory on
//!   disk; [`reload`]: watching it; [`sync`]: on a cluster node, keeping it a mirror of
//!   the cluster's catalog.

pub mod activity;
pub mod admission;
pub mod dedupe;
pub(crate) mod keys;
pub mod pins;
pub mod rate;
pub mod reload;
pub mod repo;
pub mod residency;
pub mod state;
pub mod sync;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::SystemTime;

use bytes::Bytes;

pub use admission::{Admission, Refusal};
pub use state::TenantState;

use crate::cluster::Cluster;
use crate::config::{ConfigError, HostConfig, TenantConfig};
use crate::runtime::{LoadError, LoadedPlugin, Runtime};
use repo::Repo;
use residency::{PluginSlot, Residency, ResidencyStats};

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

/// Every tenant the host serves.
#[derive(Debug)]
pub struct Registry {
    tenants: RwLock<HashMap<Arc<str>, Arc<Tenant>>>,
    states: Mutex<HashMap<Arc<str>, Arc<TenantState>>>,
    runtime: Arc<Runtime>,
    residency: Arc<Residency>,
    host: HostConfig,
    repo: Repo,
    cluster: Option<Arc<Cluster>>,
    /// Per tenant, a version compiled before it is active (a cluster node prepares each
    /// upload as its bytes arrive, so that its activation swaps at once); one per
    /// tenant, released when it is swapped in or another is prepared.
    prepared: Mutex<HashMap<Arc<str>, LoadedPlugin>>,
}

/// Now, in whole seconds since the Unix epoch.
pub fn unix_seconds() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
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
    /// An empty registry for the tenants in `repo`, loading plugins into `runtime`; a
    /// cluster node's coordinates with the other nodes through `cluster`.
    pub fn new(
        runtime: Arc<Runtime>,
        host: HostConfig,
        repo: Repo,
        cluster: Option<Arc<Cluster>>,
    ) -> Self {
        let residency = Residency::new(Arc::clone(&runtime), host.max_loaded_plugins);
        Self {
            tenants: RwLock::default(),
            states: Mutex::default(),
            runtime,
            residency,
            host,
            repo,
            cluster,
            prepared: Mutex::default(),
        }
    }

    /// Compiles version `digest` of tenant `id` from its file in the tenants directory
    /// and keeps it until it is swapped in (or another version is prepared), so that
    /// activating it does not wait for the compiler. Compiles: call it off the request
    /// path.
    pub fn prepare(&self, id: &str, digest: &str) -> Result<(), LoadError> {
        let plugin = self
            .runtime
            .load_version(digest, &self.repo.version_path(id, digest))?;
        self.prepared
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(Arc::from(id), plugin);
        Ok(())
    }

    /// The cluster this node belongs to, if it is a node of one.
    pub fn cluster(&self) -> Option<&Arc<Cluster>> {
        self.cluster.as_ref()
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
        let state = Arc::new(TenantState::new(&self.host));
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
                        let digest = repo::digest(&wasm);
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
        let mut prepared = self.prepared.lock().unwrap_or_else(|e| e.into_inner());
        if prepared.get(id).map(LoadedPlugin::digest) == slot.digest() {
            prepared.remove(id);
        }
        drop(prepared);
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
        plugin: Result<LoadedPlugin, Arc<LoadError>>,
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
