//! Which tenants' plugins are in memory. A tenant's plugin is loaded on its first event
//! (or when a reload compiles a new version) and dropped again, least recently used
//! first, once more distinct plugins (by digest) than the operator's bound are resident.
//!
//! Dropping a [`PluginSlot`]'s plugin drops only the registry's reference: an event
//! running on it, and calls pinned to it, keep that version alive until they are done.
//! The tenant's next event loads it again: from memory when another tenant shares its
//! digest, else from the on-disk compile cache, else by compiling.
//!
//! Must not: decide which version a tenant runs (the registry does) or run plugins.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock, Weak};
use std::time::{Duration, Instant};

use crate::runtime::{LoadError, LoadedPlugin, Runtime};

/// How long a failed load is remembered before the next event tries again (a compile
/// error will fail again; an I/O error may not).
const RETRY_AFTER: Duration = Duration::from_secs(10);

/// The bound on resident plugins and the bookkeeping that enforces it.
pub struct Residency {
    runtime: Arc<Runtime>,
    capacity: usize,
    epoch: Instant,
    /// Resident slots by the digest of their plugin.
    resident: Mutex<HashMap<String, Vec<Weak<PluginSlot>>>>,
    loads: AtomicU64,
    evictions: AtomicU64,
}

impl fmt::Debug for Residency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Residency")
            .field("capacity", &self.capacity)
            .field("resident", &self.resident_count().1)
            .finish_non_exhaustive()
    }
}

/// Counters for `/metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResidencyStats {
    /// Tenants whose plugin is in memory now.
    pub tenants: usize,
    /// Distinct plugins (by digest) those tenants hold.
    pub resident: usize,
    /// The bound on `resident`.
    pub capacity: usize,
    /// Plugins loaded on demand (first event, or after an eviction) so far.
    pub loads: u64,
    /// Tenants' plugins dropped to stay within the bound so far.
    pub evictions: u64,
}

impl Residency {
    /// Keeps at most `capacity` tenants' plugins from `runtime` resident.
    pub fn new(runtime: Arc<Runtime>, capacity: usize) -> Arc<Self> {
        Arc::new(Self {
            runtime,
            capacity: capacity.max(1),
            epoch: Instant::now(),
            resident: Mutex::default(),
            loads: AtomicU64::new(0),
            evictions: AtomicU64::new(0),
        })
    }

    /// A slot for the plugin at `path`, loaded on first use. `digest` is its version when
    /// known without reading it (an uploaded version's file is named by it).
    pub fn lazy(self: &Arc<Self>, path: PathBuf, digest: Option<String>) -> Arc<PluginSlot> {
        let slot = Arc::new(PluginSlot::new(self, path, SlotState::Unloaded));
        if let Some(digest) = digest {
            let _ = slot.digest.set(digest);
        }
        slot
    }

    /// A slot holding a plugin already loaded from `path` (or a load that failed).
    pub fn loaded(
        self: &Arc<Self>,
        path: PathBuf,
        plugin: Result<LoadedPlugin, Arc<LoadError>>,
    ) -> Arc<PluginSlot> {
        let slot = Arc::new(PluginSlot::new(self, path, SlotState::Unloaded));
        let _ = slot.settle(plugin);
        slot
    }

    /// Counters for `/metrics`.
    pub fn stats(&self) -> ResidencyStats {
        let (tenants, resident) = self.resident_count();
        ResidencyStats {
            tenants,
            resident,
            capacity: self.capacity,
            loads: self.loads.load(Ordering::Relaxed),
            evictions: self.evictions.load(Ordering::Relaxed),
        }
    }

    /// Resident tenants' slots, and the distinct plugins among them.
    fn resident_count(&self) -> (usize, usize) {
        let resident = self.resident.lock().unwrap_or_else(|e| e.into_inner());
        let mut slots = 0;
        let mut distinct = 0;
        for holders in resident.values() {
            let live = holders
                .iter()
                .filter_map(Weak::upgrade)
                .filter(|s| s.is_loaded())
                .count();
            slots += live;
            distinct += usize::from(live > 0);
        }
        (slots, distinct)
    }

    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_micros()).unwrap_or(u64::MAX)
    }

    /// Records `slot` as resident and, while more distinct plugins than the bound are
    /// resident, evicts the least recently used one (from every tenant that holds it:
    /// tenants sharing a digest share its code, so dropping it from one frees nothing).
    /// The plugin just admitted is never the one evicted.
    fn admit(&self, slot: &Arc<PluginSlot>) {
        let Some(digest) = slot.digest() else { return };
        let mut resident = self.resident.lock().unwrap_or_else(|e| e.into_inner());
        let holders = resident.entry(digest.to_owned()).or_default();
        holders.retain(|w| w.strong_count() > 0);
        if !holders
            .iter()
            .any(|w| std::ptr::eq(w.as_ptr(), Arc::as_ptr(slot)))
        {
            holders.push(Arc::downgrade(slot));
        }
        if resident.len() <= self.capacity {
            return;
        }
        // Over the bound: forget tenants that are gone, then evict.
        resident.retain(|_, holders| {
            holders.retain(|w| w.upgrade().is_some_and(|s| s.is_loaded()));
            !holders.is_empty()
        });
        while resident.len() > self.capacity {
            let last_use = |holders: &Vec<Weak<PluginSlot>>| {
                holders
                    .iter()
                    .filter_map(Weak::upgrade)
                    .map(|s| s.last_used.load(Ordering::Relaxed))
                    .max()
                    .unwrap_or(0)
            };
            let victim = resident
                .iter()
                .filter(|(d, _)| d.as_str() != digest)
                .min_by_key(|(_, holders)| last_use(holders))
                .map(|(d, _)| d.clone());
            let Some(victim) = victim else { break };
            for s in resident
                .remove(&victim)
                .into_iter()
                .flatten()
                .filter_map(|w| w.upgrade())
            {
                s.unload();
                self.evictions.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// One tenant version's plugin: loaded, not (yet, or any more) loaded, or failed to load.
pub struct PluginSlot {
    residency: Arc<Residency>,
    path: PathBuf,
    digest: OnceLock<String>,
    state: RwLock<SlotState>,
    last_used: AtomicU64,
    loading: tokio::sync::Mutex<()>,
}

enum SlotState {
    Unloaded,
    Loaded(LoadedPlugin),
    Failed { error: Arc<LoadError>, at: Instant },
}

impl fmt::Debug for PluginSlot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PluginSlot")
            .field("path", &self.path)
            .field("digest", &self.digest.get())
            .field("loaded", &self.is_loaded())
            .finish_non_exhaustive()
    }
}

impl PluginSlot {
    fn new(residency: &Arc<Residency>, path: PathBuf, state: SlotState) -> Self {
        Self {
            residency: Arc::clone(residency),
            path,
            digest: OnceLock::new(),
            state: RwLock::new(state),
            last_used: AtomicU64::new(residency.now()),
            loading: tokio::sync::Mutex::const_new(()),
        }
    }

    /// The plugin, loading it first if it is not in memory. Concurrent first events
    /// share one load; a failed load is answered from memory for a while before the
    /// next attempt.
    pub async fn get(self: &Arc<Self>) -> Result<LoadedPlugin, Arc<LoadError>> {
        if let Some(ready) = self.ready() {
            return ready;
        }
        let _loading = self.loading.lock().await;
        if let Some(ready) = self.ready() {
            return ready;
        }
        let runtime = Arc::clone(&self.residency.runtime);
        let digest = self.digest.get().cloned();
        // Shared code needs no I/O: no trip to the blocking pool.
        if let Some(plugin) = digest.as_deref().and_then(|d| runtime.in_memory(d)) {
            self.residency.loads.fetch_add(1, Ordering::Relaxed);
            return self.settle(Ok(plugin));
        }
        let path = self.path.clone();
        let loaded = tokio::task::spawn_blocking(move || match digest {
            // A call waits for this load: a compile, if needed, is serving's work.
            Some(digest) => runtime.load_version_for_call(&digest, &path),
            None => runtime.load_file_for_call(&path),
        })
        .await
        .unwrap_or_else(|e| {
            Err(LoadError::Read {
                path: self.path.clone(),
                message: format!("the loading task failed: {e}"),
            })
        });
        self.residency.loads.fetch_add(1, Ordering::Relaxed);
        if let Err(e) = &loaded {
            tracing::error!(path = %self.path.display(), cause = %e, "plugin failed to load");
        }
        self.settle(loaded.map_err(Arc::new))
    }

    /// The answer `get` gives without loading, if there is one.
    fn ready(&self) -> Option<Result<LoadedPlugin, Arc<LoadError>>> {
        let state = self.state.read().unwrap_or_else(|e| e.into_inner());
        match &*state {
            SlotState::Loaded(plugin) => {
                self.last_used
                    .store(self.residency.now(), Ordering::Relaxed);
                Some(Ok(plugin.clone()))
            }
            SlotState::Failed { error, at } if at.elapsed() < RETRY_AFTER => {
                Some(Err(Arc::clone(error)))
            }
            SlotState::Failed { .. } | SlotState::Unloaded => None,
        }
    }

    fn settle(
        self: &Arc<Self>,
        result: Result<LoadedPlugin, Arc<LoadError>>,
    ) -> Result<LoadedPlugin, Arc<LoadError>> {
        let state = match &result {
            Ok(plugin) => {
                let _ = self.digest.set(plugin.digest().to_owned());
                SlotState::Loaded(plugin.clone())
            }
            Err(error) => SlotState::Failed {
                error: Arc::clone(error),
                at: Instant::now(),
            },
        };
        *self.state.write().unwrap_or_else(|e| e.into_inner()) = state;
        self.last_used
            .store(self.residency.now(), Ordering::Relaxed);
        if result.is_ok() {
            self.residency.admit(self);
        }
        result
    }

    fn unload(&self) {
        let mut state = self.state.write().unwrap_or_else(|e| e.into_inner());
        if matches!(*state, SlotState::Loaded(_)) {
            *state = SlotState::Unloaded;
        }
    }

    /// True when the plugin is in memory.
    pub fn is_loaded(&self) -> bool {
        matches!(
            *self.state.read().unwrap_or_else(|e| e.into_inner()),
            SlotState::Loaded(_)
        )
    }

    /// The plugin if it is in memory, without loading it or counting a use.
    pub fn loaded(&self) -> Option<LoadedPlugin> {
        match &*self.state.read().unwrap_or_else(|e| e.into_inner()) {
            SlotState::Loaded(plugin) => Some(plugin.clone()),
            _ => None,
        }
    }

    /// Why the last load failed, if it did.
    pub fn error(&self) -> Option<Arc<LoadError>> {
        match &*self.state.read().unwrap_or_else(|e| e.into_inner()) {
            SlotState::Failed { error, .. } => Some(Arc::clone(error)),
            _ => None,
        }
    }

    /// The version (sha256 of the wasm), once known: at once for an uploaded version,
    /// after the first load for a hand-dropped file.
    pub fn digest(&self) -> Option<&str> {
        self.digest.get().map(String::as_str)
    }

    /// The file the plugin is loaded from.
    pub fn path(&self) -> &Path {
        &self.path
    }
}
