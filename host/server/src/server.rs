//! One way to build and run a server: [`Server::new`] from a validated
//! [`ServerConfig`], then [`Server::run`] on a bound listener until a shutdown future
//! resolves (as mini-redis does). `main`, the tests, the simulator and every benchmark
//! go through here, so every one of them serves with the client's address (the
//! IP allowlist needs it) and with the same wiring.
//!
//! Owns: opening the store, the runtime and the tenants directory, reading the tenants,
//! the background work a server needs (the tenants watcher, purging expired keys), and
//! graceful shutdown (in-flight requests finish).
//!
//! Must not: parse flags or files (that is [`crate::config`]'s), or install a log
//! subscriber (the binary's).

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tracing::{error, info, warn};

use crate::cluster::Cluster;
use crate::config::{ConnectionLimits, ServerConfig, StoreConfig};
use crate::http::{AdminAuth, AppState, app};
use crate::runtime::{Runtime, RuntimeError};
use crate::store::{KvStore, RedbStore, RedisStore, StoreError};
use crate::tenant::Registry;
use crate::tenant::reload::{Watch, WatchError};
use crate::tenant::repo::Repo;

/// How often expired key-value entries are purged from disk unless configured
/// (`kv_purge_s`; they read as absent at once, and a write over its tenant's quota
/// reclaims its tenant's first: this returns the space of the rest).
pub const PURGE_EVERY: Duration = Duration::from_secs(3600);

/// Why a server could not start or stopped serving.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The data directory could not be created.
    #[error("cannot create the data directory {path}: {source}")]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The key-value store could not be opened.
    #[error("cannot open the key-value store: {0}")]
    Store(#[from] StoreError),
    /// The WebAssembly runtime could not start.
    #[error("cannot start the WebAssembly runtime: {0}")]
    Runtime(#[from] RuntimeError),
    /// The tenants directory could not be opened or read.
    #[error("cannot read the tenants directory {path}: {source}")]
    TenantsDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The tenants directory could not be watched.
    #[error(transparent)]
    Watch(#[from] WatchError),
    /// Serving failed.
    #[error("serving failed: {0}")]
    Serve(std::io::Error),
}

/// A server, built and ready to run.
#[derive(Debug)]
pub struct Server {
    state: AppState,
    watch: bool,
    drain: Duration,
    connections: ConnectionLimits,
    /// The embedded store, when the server opened it (so it purges it), and how often.
    redb: Option<(Arc<RedbStore>, Duration)>,
    /// Which store tenant state is in, for the log.
    store: &'static str,
}

/// Builds a [`Server`] with parts shared with others (a runtime with its compile cache,
/// a store), for tests and tools that run several in one process.
#[derive(Debug)]
pub struct Builder {
    config: ServerConfig,
    runtime: Option<Arc<Runtime>>,
    kv: Option<Arc<dyn KvStore>>,
}

impl Builder {
    /// Runs plugins in `runtime` instead of a runtime of the configuration's own.
    pub fn runtime(mut self, runtime: Arc<Runtime>) -> Self {
        self.runtime = Some(runtime);
        self
    }

    /// Keeps tenant state in `kv` instead of the configuration's store.
    pub fn kv(mut self, kv: Arc<dyn KvStore>) -> Self {
        self.kv = Some(kv);
        self
    }

    /// Opens what is not given, reads the tenants directory (plugins load on each
    /// tenant's first event) and logs each tenant that could not be read.
    pub fn build(self) -> Result<Server, ServerError> {
        let config = self.config;
        let store = match (&self.kv, &config.store) {
            (Some(_), _) => "given",
            (None, StoreConfig::Redis(_)) => "redis",
            (None, StoreConfig::Embedded) => "redb",
        };
        let (kv, redb): (Arc<dyn KvStore>, _) = match (self.kv, &config.store) {
            (Some(kv), _) => (kv, None),
            (None, StoreConfig::Redis(url)) => (
                Arc::new(RedisStore::open(url, &config.node_id)?) as Arc<dyn KvStore>,
                None,
            ),
            (None, StoreConfig::Embedded) => {
                std::fs::create_dir_all(&config.data_dir).map_err(|source| {
                    ServerError::DataDir {
                        path: config.data_dir.clone(),
                        source,
                    }
                })?;
                let redb = Arc::new(RedbStore::open(&config.kv_path(), config.kv_cache_bytes)?);
                (Arc::clone(&redb) as Arc<dyn KvStore>, Some(redb))
            }
        };
        let runtime = match self.runtime {
            Some(runtime) => runtime,
            None => Arc::new(Runtime::new(config.runtime.clone())?),
        };
        let tenants_err = |source| ServerError::TenantsDir {
            path: config.tenants_dir.clone(),
            source,
        };
        let repo = Repo::open(&config.tenants_dir).map_err(tenants_err)?;
        let cluster = match &config.store {
            StoreConfig::Redis(url) => Some(Cluster::open(url, &config.node_id)?),
            StoreConfig::Embedded => None,
        };
        let registry = Arc::new(Registry::new(runtime, config.host.clone(), repo, cluster));
        for (tenant, problem) in registry.load_all().map_err(tenants_err)? {
            error!(tenant, problem, "tenant not fully loaded");
        }
        for tenant in registry.all() {
            info!(
                tenant = %tenant.id,
                version = tenant.plugin.digest().unwrap_or("(loads on first event)"),
                "tenant ready"
            );
        }
        Ok(Server {
            state: AppState {
                registry,
                kv,
                admin: AdminAuth::new(config.admin_token.as_deref()),
                node: Arc::from(config.node_id.as_str()),
                draining: Arc::default(),
                body_timeout: config.connections.body,
                phones: Arc::default(),
            },
            connections: config.connections,
            watch: config.watch,
            drain: config.drain,
            redb: redb.map(|store| (store, config.kv_purge_every)),
            store,
        })
    }
}

impl Server {
    /// A server with everything the configuration names.
    pub fn new(config: ServerConfig) -> Result<Self, ServerError> {
        Self::builder(config).build()
    }

    /// A server some of whose parts are given.
    pub fn builder(config: ServerConfig) -> Builder {
        Builder {
            config,
            runtime: None,
            kv: None,
        }
    }

    /// The tenants.
    pub fn registry(&self) -> &Arc<Registry> {
        &self.state.registry
    }

    /// Tenant state behind the plugins' `kv` import.
    pub fn kv(&self) -> &Arc<dyn KvStore> {
        &self.state.kv
    }

    /// Serves on `listener` until `shutdown` resolves; then says it is not ready
    /// (`/readyz` 503) and keeps serving for the configuration's drain time, so the load
    /// balancer moves calls elsewhere first; then stops listening and lets in-flight
    /// requests finish. Starts the tenants watcher (unless the configuration says not to),
    /// the purge of expired keys and, in a cluster, the Redis health check; all stop with
    /// the server.
    pub async fn run(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServerError> {
        let _watch: Option<Watch> = if self.watch {
            Some(crate::tenant::reload::watch(Arc::clone(
                &self.state.registry,
            ))?)
        } else {
            None
        };
        let purge = self
            .redb
            .map(|(store, every)| tokio::spawn(purge_expired(store, every)));
        let summaries = Some(tokio::spawn(sum_up_suppressed_logs(Arc::clone(
            &self.state.registry,
        ))));
        let activity = Some(tokio::spawn(mark_activity(
            Arc::clone(&self.state.registry),
            Arc::clone(&self.state.phones),
        )));
        let health = self.state.registry.cluster().map(|c| c.watch_health());
        let follow =
            self.state.registry.cluster().map(|c| {
                crate::tenant::sync::follow(Arc::clone(&self.state.registry), Arc::clone(c))
            });
        if let Ok(addr) = listener.local_addr() {
            info!(
                %addr,
                node = &*self.state.node,
                store = self.store,
                "serving webhooks at /v1/tenants/{{tenant}}/webhooks/voice"
            );
        }
        let draining = Arc::clone(&self.state.draining);
        let drain = self.drain;
        let cluster = self.state.registry.cluster().cloned();
        let served = crate::http::serve(listener, app(self.state), self.connections, async move {
            shutdown.await;
            draining.store(true, std::sync::atomic::Ordering::Relaxed);
            if let Some(cluster) = cluster {
                cluster.leave().await;
            }
            if !drain.is_zero() {
                info!(
                    drain_ms = drain.as_millis(),
                    "draining: not ready, still serving"
                );
                tokio::time::sleep(drain).await;
            }
            info!("stopped listening: finishing in-flight requests");
        })
        .await
        .map_err(ServerError::Serve);
        for task in [purge, summaries, activity, health, follow]
            .into_iter()
            .flatten()
        {
            task.abort();
        }
        info!("stopped: in-flight requests completed");
        served
    }
}

/// Every [`STEP_S`](crate::tenant::activity::STEP_S) seconds, marks each tenant's
/// counters for the console's charts, and forgets the dev phone's stale calls.
async fn mark_activity(registry: Arc<Registry>, phones: Arc<crate::phone::Phones>) {
    let step = Duration::from_secs(crate::tenant::activity::STEP_S);
    let mut every = tokio::time::interval(step);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        let now = crate::tenant::unix_seconds();
        for tenant in registry.all() {
            tenant.state.activity.mark(&tenant.state.stats, now);
        }
        phones.sweep();
    }
}

/// Every second, one line for each budget of log lines that suppressed some in a second
/// that ended (refusals by code, each tenant's plugin lines and failures), so that a
/// flood that stopped is still summed up.
async fn sum_up_suppressed_logs(registry: Arc<Registry>) {
    let mut every = tokio::time::interval(Duration::from_secs(1));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Per tenant, the answers and pins dropped early as of the last tick.
    let mut dropped: std::collections::HashMap<Arc<str>, (u64, u64)> = Default::default();
    loop {
        every.tick().await;
        crate::http::flush_refusal_logs();
        let tenants = registry.all();
        dropped.retain(|id, _| tenants.iter().any(|t| t.id == *id));
        for tenant in tenants {
            let now = (
                tenant.state.deliveries.dropped_early(),
                tenant.state.pins.dropped_early(),
            );
            let then = dropped
                .insert(Arc::clone(&tenant.id), now)
                .unwrap_or_default();
            if now.0 > then.0 {
                warn!(
                    tenant = &*tenant.id,
                    dropped = now.0 - then.0,
                    "answers dropped before their window ended to stay within answers_mib: a repeated delivery may run the plugin again"
                );
            }
            if now.1 > then.1 {
                warn!(
                    tenant = &*tenant.id,
                    dropped = now.1 - then.1,
                    "session pins dropped before their time to stay within pins_mib: those calls take the active version"
                );
            }
            let plugin = tenant.state.plugin_logs.flush();
            if plugin > 0 {
                tracing::warn!(
                    target: crate::runtime::LOG_TARGET,
                    tenant = &*tenant.id,
                    suppressed = plugin,
                    "plugin log lines over the tenant's rate were not logged"
                );
            }
            let failures = tenant.state.failure_logs.flush();
            if failures > 0 {
                tracing::warn!(
                    tenant = &*tenant.id,
                    suppressed = failures,
                    "more failures of this tenant were not logged"
                );
            }
        }
    }
}

/// Expired values read as absent at once; this reclaims their space, `every` so often
/// (the first at once).
async fn purge_expired(store: Arc<RedbStore>, every: Duration) {
    let mut every = tokio::time::interval(every);
    loop {
        every.tick().await;
        let store = Arc::clone(&store);
        match tokio::task::spawn_blocking(move || store.purge_expired()).await {
            Ok(Ok(n)) if n > 0 => info!(purged = n, "expired key-value entries removed"),
            Ok(Ok(_)) => {}
            Ok(Err(e)) => warn!(cause = %e, "purging expired key-value entries failed"),
            Err(e) => warn!(cause = %e, "the purge task failed"),
        }
    }
}
