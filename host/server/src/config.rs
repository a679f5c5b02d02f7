//! Configuration, parsed in two stages: raw input (TOML with `deny_unknown_fields`, so a
//! typo is an error that names the field; flags and environment as [`Overrides`]) into a
//! validated [`ServerConfig`] / [`HostConfig`] / [`TenantConfig`] whose fields need no
//! further checks.
//!
//! Every default is written once: the sandbox's in [`Limits::default`] and
//! [`RuntimeConfig::default`], the host's in [`HostConfig::default`], the server's in
//! [`ServerConfig`]'s `DEFAULT_*` constants. The runtime's memory ceiling is the operator's
//! `maxima.memory_mib`, not a second number of its own.
//!
//! This module reads files and checks values; it does not load plugins or touch the
//! registry.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use callflow_wire::{Callflow, Say};
use ipnet::IpNet;
use serde::Deserialize;

use crate::runtime::{
    CompileLimits, DEFAULT_MAX_MEMORY_BYTES, Limits, PerPlugin, PoolTuning, RuntimeConfig,
};
use crate::store::Quota;

/// The file in a tenant's folder that configures it.
pub const TENANT_FILE: &str = "tenant.toml";
/// The plugin file in a tenant's folder, unless `plugin` names another.
pub const DEFAULT_PLUGIN_FILE: &str = "plugin.wasm";

/// Why a configuration file was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The TOML is malformed, has an unknown field or a value of the wrong type.
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What `toml` said, including the field.
        message: String,
    },
    /// A value is out of range or inconsistent.
    #[error("{path}: `{field}`: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The offending field.
        field: String,
        /// Why.
        message: String,
    },
}

/// Limits as written in TOML; every field optional, defaults come from the host.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLimits {
    /// Fuel per event (about 1 ms of compute per 10 million).
    pub fuel: Option<u64>,
    /// Wall-clock milliseconds per event.
    pub timeout_ms: Option<u64>,
    /// Linear memory per instance, in MiB.
    pub memory_mib: Option<u64>,
    /// Largest callflow a plugin may return, in KiB.
    pub output_kib: Option<u64>,
    /// Log lines per event.
    pub log_lines: Option<u32>,
    /// Log lines per second over all the tenant's events.
    pub log_lines_per_second: Option<u32>,
    /// Events of this tenant running at once.
    pub max_concurrency: Option<u32>,
    /// Fuel this tenant may burn per second, over all its events (about 10 billion is
    /// one core); beyond it calls get the fallback at once.
    pub fuel_per_second: Option<u64>,
    /// Keys the tenant may keep in its key-value store.
    pub kv_keys: Option<u64>,
    /// MiB of keys plus values the tenant may keep in its key-value store.
    pub kv_mib: Option<u64>,
    /// Key-value operations per event.
    pub kv_ops: Option<u32>,
}

/// The host's own configuration file (`host.toml`, `--config`): where the server listens
/// and keeps its state, the sandbox's settings, tenant defaults and operator maxima.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHostConfig {
    #[serde(default)]
    server: RawServer,
    #[serde(default)]
    runtime: RawRuntime,
    #[serde(default)]
    cluster: RawCluster,
    #[serde(default)]
    defaults: RawLimits,
    #[serde(default)]
    maxima: RawLimits,
    max_body_kib: Option<u64>,
    /// Replaced by `answers_mib` and `answer_window_s`: refused with a pointer to them.
    dedupe_capacity: Option<usize>,
    answer_window_s: Option<u64>,
    answers_mib: Option<u64>,
    pins_mib: Option<u64>,
    max_loaded_plugins: Option<usize>,
}

/// `[server]`: what flags also set (flags win).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawServer {
    listen: Option<SocketAddr>,
    data: Option<PathBuf>,
    tenants: Option<PathBuf>,
    watch: Option<bool>,
    drain_ms: Option<u64>,
    head_timeout_ms: Option<u64>,
    idle_timeout_ms: Option<u64>,
    body_timeout_ms: Option<u64>,
    max_connections: Option<usize>,
    kv_cache_mib: Option<u64>,
    kv_purge_s: Option<u64>,
}

/// `[cluster]`: what makes this host a node of a cluster.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCluster {
    redis_url: Option<String>,
    node_id: Option<String>,
}

/// `[runtime]`: the sandbox's engine, fixed for the life of the process.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRuntime {
    /// Instance slots in the pool: plugin invocations that can run at once.
    max_instances: Option<u32>,
    /// Largest plugin accepted (a file, an upload), in KiB.
    max_plugin_kib: Option<u64>,
    /// Core module instances one plugin component may have.
    max_core_instances_per_plugin: Option<u32>,
    /// Linear memories one plugin component may have.
    max_memories_per_plugin: Option<u32>,
    /// Tables one plugin component may have.
    max_tables_per_plugin: Option<u32>,
    /// How often a long-running plugin yields its thread, in microseconds (the epoch's
    /// fine tick, for 20 ms after any plugin yielded; otherwise it advances every
    /// millisecond). Deadlines are kept by the clock, within about 2 ms.
    epoch_tick_us: Option<u64>,
    /// Linear memory reset in place between events rather than released, in KiB.
    memory_keep_resident_kib: Option<u64>,
    /// Table bytes reset in place rather than released, in KiB.
    table_keep_resident_kib: Option<u64>,
    /// Reset only the pages an event dirtied (Linux 6.7+).
    pagemap_scan: Option<bool>,
    /// Threads that compile plugins, apart from serving.
    compile_threads: Option<u32>,
    /// Their `nice` on Linux: 0 (serving's) to 19 (the lowest).
    compile_nice: Option<i32>,
    /// Compiles the host may have waiting or running; an upload beyond is refused (429).
    compile_queue: Option<u32>,
    /// The `nice` of the threads that run plugins that run long: 0 to 19.
    long_lane_nice: Option<i32>,
    /// Compiles one tenant may have waiting or running.
    compile_queue_per_tenant: Option<u32>,
}

/// What flags and environment variables set, over the file's values.
#[derive(Clone, Default)]
pub struct Overrides {
    /// `--listen`.
    pub listen: Option<SocketAddr>,
    /// `--data`.
    pub data_dir: Option<PathBuf>,
    /// `--tenants`.
    pub tenants_dir: Option<PathBuf>,
    /// `--no-watch` (`Some(false)`), or a command that always watches (`Some(true)`).
    pub watch: Option<bool>,
    /// `--drain-ms`.
    pub drain_ms: Option<u64>,
    /// `--admin-token` / `CALLFLOW_ADMIN_TOKEN`: the operator token for `/v1/admin`.
    pub admin_token: Option<String>,
    /// `--redis` / `CALLFLOW_REDIS_URL`: the cluster's Redis.
    pub redis_url: Option<String>,
    /// `--node-id`: this node's name.
    pub node_id: Option<String>,
}

impl std::fmt::Debug for Overrides {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Overrides")
            .field("listen", &self.listen)
            .field("data_dir", &self.data_dir)
            .field("tenants_dir", &self.tenants_dir)
            .field("watch", &self.watch)
            .field("drain_ms", &self.drain_ms)
            .field("admin_token", &self.admin_token.as_ref().map(|_| "<set>"))
            .field("redis_url", &self.redis_url.as_ref().map(|_| "<set>"))
            .field("node_id", &self.node_id)
            .finish()
    }
}

/// Where tenant state lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreConfig {
    /// The embedded redb file under the data directory (one machine).
    Embedded,
    /// A Redis shared by the cluster's nodes (the URL may carry a password: it is not
    /// logged).
    Redis(String),
}

/// Everything a [`Server`](crate::Server) is built from, validated.
#[derive(Clone)]
pub struct ServerConfig {
    /// Where to listen (the caller binds it; see [`Server::run`](crate::Server::run)).
    pub listen: SocketAddr,
    /// Where state lives: the key-value database (`kv.redb`) and compiled components
    /// (`compiled/`).
    pub data_dir: PathBuf,
    /// The tenants directory (a folder per tenant).
    pub tenants_dir: PathBuf,
    /// Whether to watch the tenants directory and reload what changes.
    pub watch: bool,
    /// How long a server told to stop keeps serving while saying it is not ready, so the
    /// load balancer stops sending it calls before it stops listening.
    pub drain: Duration,
    /// The operator token for the admin API; without it only tenant tokens work.
    pub admin_token: Option<String>,
    /// Where tenant state lives.
    pub store: StoreConfig,
    /// The embedded store's page cache, in bytes (`kv_cache_mib`): redb keeps the pages
    /// it reads and writes up to this bound, so it is the store's share of the host's
    /// memory.
    pub kv_cache_bytes: usize,
    /// How often the embedded store removes expired entries from disk (`kv_purge_s`).
    pub kv_purge_every: Duration,
    /// This node's name in logs, `/metrics` and `/readyz`.
    pub node_id: String,
    /// Tenant defaults, operator maxima and the host's own bounds.
    pub host: HostConfig,
    /// The sandbox's engine (its memory ceiling is `host.maxima`'s).
    pub runtime: RuntimeConfig,
    /// How long a client may hold a connection without sending, and how many it may
    /// hold.
    pub connections: ConnectionLimits,
}

/// What keeps clients from holding connections: deadlines for each thing a client sends,
/// and a bound on open connections (`[server]` in `host.toml`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// From a request's first byte to its last header (`head_timeout_ms`).
    pub head: Duration,
    /// A connection with no request: from its accept, or the previous response, to the
    /// next request's first byte (`idle_timeout_ms`). Longer than a load balancer keeps
    /// idle upstream connections (nginx: 60 s), so that it closes them first.
    pub idle: Duration,
    /// Reading a request's body (`body_timeout_ms`).
    pub body: Duration,
    /// Open connections; beyond, a new one is closed at once (`max_connections`).
    pub max: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            head: Duration::from_secs(10),
            idle: Duration::from_secs(75),
            body: Duration::from_secs(60),
            max: 10_000,
        }
    }
}

impl std::fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerConfig")
            .field("listen", &self.listen)
            .field("data_dir", &self.data_dir)
            .field("tenants_dir", &self.tenants_dir)
            .field("watch", &self.watch)
            .field("drain", &self.drain)
            .field("admin_token", &self.admin_token.as_ref().map(|_| "<set>"))
            .field(
                "store",
                &match self.store {
                    StoreConfig::Embedded => "embedded",
                    StoreConfig::Redis(_) => "redis",
                },
            )
            .field("node_id", &self.node_id)
            .field("kv_cache_bytes", &self.kv_cache_bytes)
            .field("kv_purge_every", &self.kv_purge_every)
            .field("host", &self.host)
            .field("runtime", &self.runtime)
            .field("connections", &self.connections)
            .finish()
    }
}

impl ServerConfig {
    /// Where a server listens unless told otherwise.
    pub const DEFAULT_LISTEN: SocketAddr =
        SocketAddr::new(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 8080);
    /// Where a server keeps its state unless told otherwise.
    pub const DEFAULT_DATA_DIR: &str = "./data";
    /// How long a cluster node drains unless told otherwise; a single host (nothing to
    /// move its calls to) stops at once.
    pub const DEFAULT_CLUSTER_DRAIN: Duration = Duration::from_secs(2);

    /// The configuration from `file` (if any) with `overrides` over it.
    pub fn load(file: Option<&Path>, overrides: Overrides) -> Result<Self, ConfigError> {
        match file {
            Some(path) => Self::validate(read_toml(path)?, path, overrides),
            None => Self::validate(RawHostConfig::default(), Path::new("(defaults)"), overrides),
        }
    }

    /// The configuration from the text of a `host.toml` (`path` names it in errors).
    pub fn parse(text: &str, path: &Path, overrides: Overrides) -> Result<Self, ConfigError> {
        let raw = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        Self::validate(raw, path, overrides)
    }

    fn validate(raw: RawHostConfig, path: &Path, o: Overrides) -> Result<Self, ConfigError> {
        let host = HostConfig::validate(&raw, path)?;
        let runtime = runtime_config(&raw.runtime, &host, path)?;
        let server = raw.server;
        let data_dir = o
            .data_dir
            .or(server.data)
            .unwrap_or_else(|| PathBuf::from(Self::DEFAULT_DATA_DIR));
        let tenants_dir = o
            .tenants_dir
            .or(server.tenants)
            .ok_or_else(|| ConfigError::Invalid {
                path: path.to_owned(),
                field: "server.tenants".into(),
                message:
                    "name the tenants directory (`--tenants DIR`, or `tenants` under `[server]`)"
                        .into(),
            })?;
        if o.admin_token
            .as_deref()
            .is_some_and(|t| t.trim().is_empty())
        {
            return Err(ConfigError::Invalid {
                path: path.to_owned(),
                field: "admin_token".into(),
                message:
                    "the operator token must not be empty; leave it out to allow tenant tokens only"
                        .into(),
            });
        }
        let store = match o.redis_url.or(raw.cluster.redis_url) {
            None => StoreConfig::Embedded,
            Some(url) if url.starts_with("redis://") || url.starts_with("rediss://") => {
                StoreConfig::Redis(url)
            }
            Some(_) => {
                return Err(ConfigError::Invalid {
                    path: path.to_owned(),
                    field: "cluster.redis_url".into(),
                    message: "a Redis URL starts with redis:// (or rediss://)".into(),
                });
            }
        };
        let node_id = o
            .node_id
            .or(raw.cluster.node_id)
            .unwrap_or_else(default_node_id);
        if node_id.is_empty()
            || !node_id
                .bytes()
                .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\')
        {
            return Err(ConfigError::Invalid {
                path: path.to_owned(),
                field: "cluster.node_id".into(),
                message: "use printable characters without spaces, quotes or backslashes".into(),
            });
        }
        let drain = match (o.drain_ms.or(server.drain_ms), &store) {
            (Some(ms), _) => Duration::from_millis(ms),
            (None, StoreConfig::Redis(_)) => Self::DEFAULT_CLUSTER_DRAIN,
            (None, StoreConfig::Embedded) => Duration::ZERO,
        };
        let embedded = store == StoreConfig::Embedded;
        let base = ConnectionLimits::default();
        let positive = |field: &str, value: Option<u64>, default: Duration| match value {
            Some(0) => Err(ConfigError::Invalid {
                path: path.to_owned(),
                field: format!("server.{field}"),
                message: "must be greater than 0".into(),
            }),
            Some(ms) => Ok(Duration::from_millis(ms)),
            None => Ok(default),
        };
        let connections = ConnectionLimits {
            head: positive("head_timeout_ms", server.head_timeout_ms, base.head)?,
            idle: positive("idle_timeout_ms", server.idle_timeout_ms, base.idle)?,
            body: positive("body_timeout_ms", server.body_timeout_ms, base.body)?,
            max: match server.max_connections {
                Some(0) => {
                    return Err(ConfigError::Invalid {
                        path: path.to_owned(),
                        field: "server.max_connections".into(),
                        message: "must be greater than 0".into(),
                    });
                }
                Some(n) => n,
                None => base.max,
            },
        };
        let kv_cache_bytes = match server.kv_cache_mib {
            Some(0) => {
                return Err(ConfigError::Invalid {
                    path: path.to_owned(),
                    field: "server.kv_cache_mib".into(),
                    message: "must be greater than 0".into(),
                });
            }
            Some(m) => usize::try_from(m.saturating_mul(1 << 20)).unwrap_or(usize::MAX),
            None => crate::store::RedbStore::DEFAULT_CACHE_BYTES,
        };
        let kv_purge_every = positive(
            "kv_purge_s",
            server.kv_purge_s.map(|s| s.saturating_mul(1000)),
            crate::server::PURGE_EVERY,
        )?;
        Ok(Self {
            connections,
            kv_cache_bytes,
            kv_purge_every,
            listen: o.listen.or(server.listen).unwrap_or(Self::DEFAULT_LISTEN),
            drain,
            store,
            node_id,
            runtime: RuntimeConfig {
                cache_dir: Some(data_dir.join("compiled")),
                ..runtime
            },
            data_dir,
            tenants_dir,
            // A cluster node's folder is a mirror of the catalog: changes come through it.
            watch: o.watch.or(server.watch).unwrap_or(embedded),
            admin_token: o.admin_token,
            host,
        })
    }

    /// The key-value database's file.
    pub fn kv_path(&self) -> PathBuf {
        self.data_dir.join("kv.redb")
    }
}

/// This machine's hostname and this process's id: unique among a cluster's nodes.
fn default_node_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "host".to_owned());
    format!("{host}-{}", std::process::id())
}

/// The sandbox's settings: `[runtime]` over [`RuntimeConfig::default`], with the memory
/// ceiling set to the operator's maximum, so raising `maxima.memory_mib` raises it.
fn runtime_config(
    raw: &RawRuntime,
    host: &HostConfig,
    path: &Path,
) -> Result<RuntimeConfig, ConfigError> {
    let base = RuntimeConfig::default();
    let positive = |field: &str, value: Option<u64>| -> Result<Option<u64>, ConfigError> {
        match value {
            Some(0) => Err(ConfigError::Invalid {
                path: path.to_owned(),
                field: format!("runtime.{field}"),
                message: "must be greater than 0".into(),
            }),
            v => Ok(v),
        }
    };
    let kib = |v: u64| usize::try_from(v << 10).unwrap_or(usize::MAX);
    let count = |field: &str, value: Option<u32>, default: usize| {
        positive(field, value.map(u64::from))
            .map(|v| v.map_or(default, |n| usize::try_from(n).unwrap_or(usize::MAX)))
    };
    let nice = |field: &str, value: Option<i32>, default: i32| match value {
        Some(n) if !(0..=19).contains(&n) => Err(ConfigError::Invalid {
            path: path.to_owned(),
            field: format!("runtime.{field}"),
            message: "a nice value from 0 (serving's priority) to 19 (the lowest)".into(),
        }),
        Some(n) => Ok(n),
        None => Ok(default),
    };
    let compile = CompileLimits {
        threads: count("compile_threads", raw.compile_threads, base.compile.threads)?,
        nice: nice("compile_nice", raw.compile_nice, base.compile.nice)?,
        per_owner: count(
            "compile_queue_per_tenant",
            raw.compile_queue_per_tenant,
            base.compile.per_owner,
        )?,
        total: count("compile_queue", raw.compile_queue, base.compile.total)?,
    };
    let per_plugin = |field: &str, value: Option<u32>, default: u32| {
        positive(field, value.map(u64::from))
            .map(|v| v.map_or(default, |n| u32::try_from(n).unwrap_or(u32::MAX)))
    };
    let per = base.per_plugin;
    let per_plugin = PerPlugin {
        core_instances: per_plugin(
            "max_core_instances_per_plugin",
            raw.max_core_instances_per_plugin,
            per.core_instances,
        )?,
        memories: per_plugin(
            "max_memories_per_plugin",
            raw.max_memories_per_plugin,
            per.memories,
        )?,
        tables: per_plugin(
            "max_tables_per_plugin",
            raw.max_tables_per_plugin,
            per.tables,
        )?,
    };
    Ok(RuntimeConfig {
        compile,
        per_plugin,
        long_lane_nice: nice("long_lane_nice", raw.long_lane_nice, base.long_lane_nice)?,
        cache_dir: None,
        max_instances: positive("max_instances", raw.max_instances.map(u64::from))?
            .map_or(base.max_instances, |n| u32::try_from(n).unwrap_or(u32::MAX)),
        max_memory_bytes: host.maxima.sandbox.memory_bytes,
        epoch_tick: positive("epoch_tick_us", raw.epoch_tick_us)?
            .map_or(base.epoch_tick, Duration::from_micros),
        max_plugin_bytes: positive("max_plugin_kib", raw.max_plugin_kib)?
            .map_or(base.max_plugin_bytes, kib),
        pool: PoolTuning {
            memory_keep_resident: raw
                .memory_keep_resident_kib
                .map_or(base.pool.memory_keep_resident, kib),
            table_keep_resident: raw
                .table_keep_resident_kib
                .map_or(base.pool.table_keep_resident, kib),
            pagemap_scan: raw.pagemap_scan.unwrap_or(base.pool.pagemap_scan),
        },
    })
}

/// Validated host configuration.
#[derive(Debug, Clone)]
pub struct HostConfig {
    /// Limits a tenant gets unless it asks for others.
    pub defaults: TenantLimits,
    /// The most a tenant may ask for.
    pub maxima: TenantLimits,
    /// Largest webhook body accepted.
    pub max_body_bytes: usize,
    /// How long a tenant's answers are kept for repeated deliveries.
    pub answer_window: Duration,
    /// Bytes of kept answers per tenant (each distinct answer body once, plus
    /// [`ENTRY_BYTES`](crate::tenant::dedupe::ENTRY_BYTES) per delivery).
    pub answers_budget: usize,
    /// Bytes of session pins per tenant ([`PIN_BYTES`](crate::tenant::pins::PIN_BYTES)
    /// each).
    pub pins_budget: usize,
    /// Distinct plugins (by digest) kept in memory at once; beyond it the least
    /// recently used is dropped and loaded again on its tenants' next event.
    pub max_loaded_plugins: usize,
}

/// A tenant's limits: the sandbox's plus the host's own.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TenantLimits {
    /// What the sandbox enforces per event.
    pub sandbox: Limits,
    /// Events of this tenant running at once; beyond it calls get the fallback.
    pub max_concurrency: u32,
    /// Fuel per second over all the tenant's events (a CPU share); beyond it calls get
    /// the fallback.
    pub fuel_per_second: u64,
}

impl Default for HostConfig {
    fn default() -> Self {
        let defaults = TenantLimits {
            sandbox: Limits::default(),
            max_concurrency: 64,
            // About a quarter of a core: 200,000 events a second of a typical IVR
            // (~13k fuel), 250 a second of a plugin that burns its whole budget.
            fuel_per_second: 2_500_000_000,
        };
        let maxima = TenantLimits {
            sandbox: Limits {
                fuel: 100_000_000,
                timeout: Duration::from_secs(1),
                memory_bytes: DEFAULT_MAX_MEMORY_BYTES,
                output_bytes: callflow_wire::rules::MAX_BODY_BYTES,
                log_lines: 1000,
                log_lines_per_second: 10_000,
                kv_ops: 100_000,
                kv_quota: Quota {
                    keys: 10_000_000,
                    bytes: 4 << 30,
                },
            },
            max_concurrency: 1024,
            fuel_per_second: 20_000_000_000,
        };
        Self {
            defaults,
            maxima,
            max_body_bytes: 64 << 10,
            answer_window: crate::tenant::dedupe::ANSWER_WINDOW,
            answers_budget: 128 << 20,
            pins_budget: 64 << 20,
            max_loaded_plugins: 256,
        }
    }
}

impl HostConfig {
    /// The tenant-facing part of a host configuration file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        Self::validate(&read_toml(path)?, path)
    }

    fn validate(raw: &RawHostConfig, path: &Path) -> Result<Self, ConfigError> {
        let base = Self::default();
        if raw.dedupe_capacity.is_some() {
            return Err(ConfigError::Invalid {
                path: path.to_owned(),
                field: "dedupe_capacity".into(),
                message: "answers are now kept by time and memory: use answer_window_s and answers_mib (and pins_mib for session pins)".into(),
            });
        }
        let positive = |value: Option<u64>, field: &str| match value {
            Some(0) => Err(ConfigError::Invalid {
                path: path.to_owned(),
                field: field.into(),
                message: "must be greater than 0".into(),
            }),
            other => Ok(other),
        };
        let mib = |m: u64| usize::try_from(m.saturating_mul(1 << 20)).unwrap_or(usize::MAX);
        let maxima = apply(&base.maxima, &raw.maxima, None, path, "maxima")?;
        let defaults = apply(
            &base.defaults,
            &raw.defaults,
            Some(&maxima),
            path,
            "defaults",
        )?;
        Ok(Self {
            defaults,
            maxima,
            max_body_bytes: raw.max_body_kib.map_or(base.max_body_bytes, |k| {
                usize::try_from(k << 10).unwrap_or(usize::MAX)
            }),
            answer_window: positive(raw.answer_window_s, "answer_window_s")?
                .map_or(base.answer_window, Duration::from_secs),
            answers_budget: positive(raw.answers_mib, "answers_mib")?
                .map_or(base.answers_budget, mib),
            pins_budget: positive(raw.pins_mib, "pins_mib")?.map_or(base.pins_budget, mib),
            max_loaded_plugins: match raw.max_loaded_plugins {
                Some(0) => {
                    return Err(ConfigError::Invalid {
                        path: path.to_owned(),
                        field: "max_loaded_plugins".into(),
                        message: "must be greater than 0".into(),
                    });
                }
                Some(n) => n,
                None => base.max_loaded_plugins,
            },
        })
    }
}

/// `base` overridden by `raw`, each value checked against `maxima` when given.
fn apply(
    base: &TenantLimits,
    raw: &RawLimits,
    maxima: Option<&TenantLimits>,
    path: &Path,
    section: &str,
) -> Result<TenantLimits, ConfigError> {
    let check = |field: &str, value: u64, max: Option<u64>| -> Result<u64, ConfigError> {
        let invalid = |message: String| ConfigError::Invalid {
            path: path.to_owned(),
            field: format!("{section}.{field}"),
            message,
        };
        if value == 0 {
            return Err(invalid("must be greater than 0".into()));
        }
        match max {
            Some(max) if value > max => Err(invalid(format!(
                "{value} exceeds the operator maximum of {max}"
            ))),
            _ => Ok(value),
        }
    };
    let m = maxima.map(|m| m.sandbox);
    let s = base.sandbox;
    let output_max = callflow_wire::rules::MAX_BODY_BYTES as u64 >> 10;
    Ok(TenantLimits {
        sandbox: Limits {
            fuel: check("fuel", raw.fuel.unwrap_or(s.fuel), m.map(|m| m.fuel))?,
            timeout: Duration::from_millis(check(
                "timeout_ms",
                raw.timeout_ms.unwrap_or(millis(s.timeout)),
                m.map(|m| millis(m.timeout)),
            )?),
            memory_bytes: check(
                "memory_mib",
                raw.memory_mib.unwrap_or(s.memory_bytes >> 20),
                m.map(|m| m.memory_bytes >> 20),
            )? << 20,
            output_bytes: usize::try_from(
                check(
                    "output_kib",
                    raw.output_kib.unwrap_or(s.output_bytes as u64 >> 10),
                    Some(m.map_or(output_max, |m| m.output_bytes as u64 >> 10)),
                )? << 10,
            )
            .unwrap_or(usize::MAX),
            log_lines: u32::try_from(check(
                "log_lines",
                raw.log_lines.map_or(u64::from(s.log_lines), u64::from),
                m.map(|m| u64::from(m.log_lines)),
            )?)
            .unwrap_or(u32::MAX),
            log_lines_per_second: u32::try_from(check(
                "log_lines_per_second",
                raw.log_lines_per_second
                    .map_or(u64::from(s.log_lines_per_second), u64::from),
                m.map(|m| u64::from(m.log_lines_per_second)),
            )?)
            .unwrap_or(u32::MAX),
            kv_ops: u32::try_from(check(
                "kv_ops",
                raw.kv_ops.map_or(u64::from(s.kv_ops), u64::from),
                m.map(|m| u64::from(m.kv_ops)),
            )?)
            .unwrap_or(u32::MAX),
            kv_quota: Quota {
                keys: check(
                    "kv_keys",
                    raw.kv_keys.unwrap_or(s.kv_quota.keys),
                    m.map(|m| m.kv_quota.keys),
                )?,
                bytes: check(
                    "kv_mib",
                    raw.kv_mib.unwrap_or(s.kv_quota.bytes >> 20),
                    m.map(|m| m.kv_quota.bytes >> 20),
                )?
                .saturating_mul(1 << 20),
            },
        },
        max_concurrency: u32::try_from(check(
            "max_concurrency",
            raw.max_concurrency
                .map_or(u64::from(base.max_concurrency), u64::from),
            maxima.map(|m| u64::from(m.max_concurrency)),
        )?)
        .unwrap_or(u32::MAX),
        fuel_per_second: check(
            "fuel_per_second",
            raw.fuel_per_second.unwrap_or(base.fuel_per_second),
            maxima.map(|m| m.fuel_per_second),
        )?,
    })
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// `tenant.toml` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTenant {
    /// 8x8 sub-accounts this tenant owns; `"*"` accepts any (for demos only).
    sub_accounts: Vec<String>,
    /// The plugin component, relative to the tenant's folder.
    plugin: Option<PathBuf>,
    #[serde(default)]
    webhook_auth: RawWebhookAuth,
    #[serde(default)]
    limits: RawLimits,
    /// Handed to the plugin through the `config` import.
    #[serde(default)]
    config: HashMap<String, String>,
    fallback: Option<RawFallback>,
    /// sha256 (hex) of the token that opens this tenant's admin API.
    admin_token_sha256: Option<String>,
    /// sha256 (hex) of each key that opens the plugin's API (`/v1/tenants/{t}/api/...`).
    #[serde(default)]
    api_keys_sha256: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWebhookAuth {
    authorization: Option<String>,
    #[serde(default)]
    allowed_ips: Vec<String>,
}

/// The fallback: either a short apology (`text`, `voice_profile`) followed by hangup,
/// or a whole callflow in 8x8's JSON shape.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFallback {
    text: Option<String>,
    voice_profile: Option<String>,
    callflow: Option<Callflow>,
}

/// Which sub-accounts' webhooks a tenant accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubAccounts {
    /// Any (demo tenants).
    Any,
    /// Only these.
    Only(Vec<String>),
}

impl SubAccounts {
    /// True when `id` is one of the tenant's.
    pub fn owns(&self, id: &str) -> bool {
        match self {
            SubAccounts::Any => true,
            SubAccounts::Only(ids) => ids.iter().any(|own| own == id),
        }
    }
}

/// How a tenant's webhooks prove they come from 8x8.
#[derive(Debug, Clone, Default)]
pub struct WebhookAuth {
    /// The exact `Authorization` header value configured in 8x8 (`httpAuthHeader`).
    pub authorization: Option<String>,
    /// Source networks allowed; empty allows any.
    pub allowed_ips: Vec<IpNet>,
}

impl WebhookAuth {
    /// True when `ip` may send webhooks.
    pub fn allows_ip(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        self.allowed_ips.is_empty() || self.allowed_ips.iter().any(|net| net.contains(&ip))
    }
}

/// A validated `tenant.toml`.
#[derive(Debug, Clone)]
pub struct TenantConfig {
    /// Sub-accounts whose webhooks the tenant accepts.
    pub sub_accounts: SubAccounts,
    /// Absolute path of the plugin component.
    pub plugin: PathBuf,
    /// Webhook authentication.
    pub auth: WebhookAuth,
    /// Effective limits.
    pub limits: TenantLimits,
    /// Plugin configuration.
    pub config: Arc<HashMap<String, String>>,
    /// What callers hear when the plugin fails.
    pub fallback: Callflow,
    /// sha256 of the tenant's admin token, if it has one.
    pub admin_token_sha256: Option<[u8; 32]>,
    /// sha256 of each key that opens the plugin's API; empty: the API is closed.
    pub api_keys_sha256: Vec<[u8; 32]>,
}

/// The voice of the default fallback.
pub const DEFAULT_FALLBACK_VOICE: &str = "en-US-BenjaminRUS";
/// The words of the default fallback.
pub const DEFAULT_FALLBACK_TEXT: &str =
    "We are sorry, we cannot take your call right now. Please try again later.";

/// The fallback a tenant gets unless it configures one: a short apology, then hangup.
pub fn default_fallback() -> Callflow {
    Callflow::new()
        .say(Say::new(DEFAULT_FALLBACK_TEXT, DEFAULT_FALLBACK_VOICE))
        .hangup()
}

impl TenantConfig {
    /// Reads `<dir>/tenant.toml`, checking limits against `host`'s maxima.
    pub fn load(dir: &Path, host: &HostConfig) -> Result<Self, ConfigError> {
        let path = dir.join(TENANT_FILE);
        let raw: RawTenant = read_toml(&path)?;
        Self::validate(raw, dir, &path, host)
    }

    /// Parses the text of a `tenant.toml` that would live in `dir`.
    pub fn parse(text: &str, dir: &Path, host: &HostConfig) -> Result<Self, ConfigError> {
        let path = dir.join(TENANT_FILE);
        let raw: RawTenant = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.clone(),
            message: e.to_string(),
        })?;
        Self::validate(raw, dir, &path, host)
    }

    fn validate(
        raw: RawTenant,
        dir: &Path,
        path: &Path,
        host: &HostConfig,
    ) -> Result<Self, ConfigError> {
        let invalid = |field: &str, message: String| ConfigError::Invalid {
            path: path.to_owned(),
            field: field.to_owned(),
            message,
        };
        let sub_accounts = if raw.sub_accounts.iter().any(|s| s == "*") {
            SubAccounts::Any
        } else if raw.sub_accounts.is_empty() {
            return Err(invalid(
                "sub_accounts",
                "list at least one 8x8 sub-account id (or \"*\" to accept any)".into(),
            ));
        } else {
            SubAccounts::Only(raw.sub_accounts)
        };
        let allowed_ips = raw
            .webhook_auth
            .allowed_ips
            .iter()
            .map(|s| {
                s.parse::<IpNet>()
                    .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| {
                        invalid(
                            "webhook_auth.allowed_ips",
                            format!("{s:?} is not an IP address or CIDR network"),
                        )
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        if raw
            .webhook_auth
            .authorization
            .as_deref()
            .is_some_and(|a| a.trim().is_empty())
        {
            return Err(invalid(
                "webhook_auth.authorization",
                "must not be empty; leave it out to accept webhooks without it".into(),
            ));
        }
        let limits = apply(
            &host.defaults,
            &raw.limits,
            Some(&host.maxima),
            path,
            "limits",
        )?;
        let fallback = match raw.fallback {
            None => default_fallback(),
            Some(RawFallback {
                callflow: Some(flow),
                text: None,
                voice_profile: None,
            }) => flow,
            Some(RawFallback {
                callflow: Some(_), ..
            }) => {
                return Err(invalid(
                    "fallback",
                    "give either `callflow` or `text`/`voice_profile`, not both".into(),
                ));
            }
            Some(RawFallback {
                text,
                voice_profile,
                ..
            }) => Callflow::new()
                .say(Say::new(
                    text.unwrap_or_else(|| DEFAULT_FALLBACK_TEXT.into()),
                    voice_profile.unwrap_or_else(|| DEFAULT_FALLBACK_VOICE.into()),
                ))
                .hangup(),
        };
        callflow_wire::rules::validate(&fallback)
            .map_err(|v| invalid("fallback", v.to_string()))?;
        let admin_token_sha256 = raw
            .admin_token_sha256
            .map(|hex| {
                parse_sha256(&hex).ok_or_else(|| {
                    invalid(
                        "admin_token_sha256",
                        "must be 64 hex digits: the sha256 of the token (sha256sum)".into(),
                    )
                })
            })
            .transpose()?;
        let api_keys_sha256 = raw
            .api_keys_sha256
            .iter()
            .map(|hex| {
                parse_sha256(hex).ok_or_else(|| {
                    invalid(
                        "api_keys_sha256",
                        "each key must be 64 hex digits: the sha256 of the key (sha256sum)".into(),
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            sub_accounts,
            plugin: dir.join(raw.plugin.unwrap_or_else(|| DEFAULT_PLUGIN_FILE.into())),
            auth: WebhookAuth {
                authorization: raw.webhook_auth.authorization,
                allowed_ips,
            },
            limits,
            config: Arc::new(raw.config),
            fallback,
            admin_token_sha256,
            api_keys_sha256,
        })
    }
}

/// 64 hex digits → 32 bytes.
fn parse_sha256(hex: &str) -> Option<[u8; 32]> {
    let hex = hex.trim().as_bytes();
    if hex.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in hex.chunks(2).enumerate() {
        let text = std::str::from_utf8(pair).ok()?;
        out[i] = u8::from_str_radix(text, 16).ok()?;
    }
    Some(out)
}

fn read_toml<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    toml::from_str(&text).map_err(|e| ConfigError::Parse {
        path: path.to_owned(),
        message: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(toml: &str) -> Result<TenantConfig, ConfigError> {
        let dir = std::env::temp_dir().join(format!(
            "callflow-config-test-{}-{}",
            std::process::id(),
            toml.len()
        ));
        std::fs::create_dir_all(&dir).expect("temp dir");
        std::fs::write(dir.join(TENANT_FILE), toml).expect("write");
        let result = TenantConfig::load(&dir, &HostConfig::default());
        let _ = std::fs::remove_dir_all(&dir);
        result
    }

    #[test]
    fn minimal_tenant_gets_host_defaults_and_default_fallback() {
        let t = load("sub_accounts = [\"acc\"]\n").expect("valid");
        assert_eq!(t.limits, HostConfig::default().defaults);
        assert_eq!(t.fallback, default_fallback());
        assert!(t.sub_accounts.owns("acc") && !t.sub_accounts.owns("other"));
        assert!(t.plugin.ends_with(DEFAULT_PLUGIN_FILE));
    }

    #[test]
    fn unknown_field_is_named_with_the_file() {
        let err = load("sub_accounts = [\"a\"]\n[limits]\nfuell = 5\n").expect_err("typo");
        let msg = err.to_string();
        assert!(msg.contains("fuell") && msg.contains(TENANT_FILE), "{msg}");
    }

    #[test]
    fn limits_above_operator_maximum_are_refused() {
        let err =
            load("sub_accounts = [\"a\"]\n[limits]\nmemory_mib = 4096\n").expect_err("too big");
        let msg = err.to_string();
        assert!(
            msg.contains("limits.memory_mib") && msg.contains("maximum"),
            "{msg}"
        );
    }

    #[test]
    fn bad_ip_and_invalid_fallback_are_refused() {
        let err = load("sub_accounts = [\"a\"]\n[webhook_auth]\nallowed_ips = [\"nope\"]\n")
            .expect_err("bad ip");
        assert!(
            err.to_string().contains("webhook_auth.allowed_ips"),
            "{err}"
        );
        let err = load(
            "sub_accounts = [\"a\"]\n[fallback]\ncallflow = { callflow = [{ action = \"hangup\" }, { action = \"hangup\" }] }\n",
        )
        .expect_err("invalid fallback");
        assert!(err.to_string().contains("fallback"), "{err}");
    }

    #[test]
    fn api_keys_are_sha256_digests() {
        let t = load("sub_accounts = [\"a\"]\n").expect("valid");
        assert!(t.api_keys_sha256.is_empty());
        let digest = "2f".repeat(32);
        let t = load(&format!(
            "sub_accounts = [\"a\"]\napi_keys_sha256 = [\"{digest}\", \"{}\"]\n",
            "AB".repeat(32)
        ))
        .expect("valid");
        assert_eq!(t.api_keys_sha256, vec![[0x2f; 32], [0xab; 32]]);
        let err = load("sub_accounts = [\"a\"]\napi_keys_sha256 = [\"demo-key\"]\n")
            .expect_err("not a digest");
        assert!(err.to_string().contains("api_keys_sha256"), "{err}");
    }

    fn server(toml: &str, overrides: Overrides) -> Result<ServerConfig, ConfigError> {
        ServerConfig::parse(toml, Path::new("host.toml"), overrides)
    }

    fn with_tenants() -> Overrides {
        Overrides {
            tenants_dir: Some("tenants".into()),
            ..Overrides::default()
        }
    }

    #[test]
    fn raising_the_memory_maximum_raises_the_runtimes_ceiling() {
        let c = server("[maxima]\nmemory_mib = 256\n", with_tenants()).expect("valid");
        assert_eq!(c.host.maxima.sandbox.memory_bytes, 256 << 20);
        assert_eq!(c.runtime.max_memory_bytes, 256 << 20);
        let c = server("", with_tenants()).expect("valid");
        assert_eq!(c.runtime.max_memory_bytes, DEFAULT_MAX_MEMORY_BYTES);
    }

    #[test]
    fn the_embedded_store_cache_is_bounded_as_configured() {
        let c = server(
            "[server]\nkv_cache_mib = 16\nkv_purge_s = 60\n",
            with_tenants(),
        )
        .expect("valid");
        assert_eq!(c.kv_cache_bytes, 16 << 20);
        assert_eq!(c.kv_purge_every, Duration::from_secs(60));
        let c = server("", with_tenants()).expect("valid");
        assert_eq!(
            c.kv_cache_bytes,
            crate::store::RedbStore::DEFAULT_CACHE_BYTES
        );
        assert_eq!(c.kv_purge_every, crate::server::PURGE_EVERY);
        for field in ["kv_cache_mib", "kv_purge_s"] {
            let err =
                server(&format!("[server]\n{field} = 0\n"), with_tenants()).expect_err("zero");
            assert!(
                err.to_string().contains(&format!("server.{field}")),
                "{err}"
            );
        }
    }

    #[test]
    fn what_one_plugin_may_hold_of_a_slot_is_configurable_and_never_zero() {
        let c = server(
            "[runtime]\nmax_core_instances_per_plugin = 40\nmax_memories_per_plugin = 2\nmax_tables_per_plugin = 6\n",
            with_tenants(),
        )
        .expect("valid");
        let want = PerPlugin {
            core_instances: 40,
            memories: 2,
            tables: 6,
        };
        assert_eq!(c.runtime.per_plugin, want);
        let c = server("", with_tenants()).expect("valid");
        assert_eq!(c.runtime.per_plugin, PerPlugin::default());
        for field in [
            "max_core_instances_per_plugin",
            "max_memories_per_plugin",
            "max_tables_per_plugin",
        ] {
            let err =
                server(&format!("[runtime]\n{field} = 0\n"), with_tenants()).expect_err("zero");
            assert!(
                err.to_string().contains(&format!("runtime.{field}")),
                "{err}"
            );
        }
    }

    #[test]
    fn compiling_is_bounded_as_configured_and_nonsense_is_refused() {
        let c = server(
            "[runtime]\ncompile_threads = 3\ncompile_nice = 0\ncompile_queue = 5\ncompile_queue_per_tenant = 1\n",
            with_tenants(),
        )
        .expect("valid");
        let want = CompileLimits {
            threads: 3,
            nice: 0,
            per_owner: 1,
            total: 5,
        };
        assert_eq!(c.runtime.compile, want);
        let c = server("", with_tenants()).expect("valid");
        assert_eq!(c.runtime.compile, CompileLimits::default());
        for (toml, field) in [
            ("compile_threads = 0", "runtime.compile_threads"),
            ("compile_queue = 0", "runtime.compile_queue"),
            ("compile_nice = 20", "runtime.compile_nice"),
            ("compile_nice = -5", "runtime.compile_nice"),
            ("long_lane_nice = 20", "runtime.long_lane_nice"),
        ] {
            let err = server(&format!("[runtime]\n{toml}\n"), with_tenants()).expect_err(toml);
            assert!(err.to_string().contains(field), "{toml}: {err}");
        }
    }

    #[test]
    fn flags_win_over_the_file_and_defaults_fill_the_rest() {
        let toml = "[server]\nlisten = \"127.0.0.1:9000\"\ndata = \"/srv/cf\"\ntenants = \"/srv/t\"\n[runtime]\nmax_instances = 8\nmax_plugin_kib = 1024\n";
        let c = server(toml, Overrides::default()).expect("valid");
        assert_eq!(c.listen, "127.0.0.1:9000".parse().expect("addr"));
        assert_eq!(c.tenants_dir, Path::new("/srv/t"));
        assert_eq!(c.kv_path(), Path::new("/srv/cf/kv.redb"));
        assert_eq!(
            c.runtime.cache_dir.as_deref(),
            Some(Path::new("/srv/cf/compiled"))
        );
        assert_eq!(
            (c.runtime.max_instances, c.runtime.max_plugin_bytes),
            (8, 1 << 20)
        );
        assert!(c.watch);
        let c = server(
            toml,
            Overrides {
                listen: Some("127.0.0.1:0".parse().expect("addr")),
                data_dir: Some("/tmp/d".into()),
                watch: Some(false),
                ..Overrides::default()
            },
        )
        .expect("valid");
        assert_eq!(c.listen.port(), 0);
        assert_eq!(c.kv_path(), Path::new("/tmp/d/kv.redb"));
        assert!(!c.watch);
        let c = server("", with_tenants()).expect("valid");
        assert_eq!(c.listen, ServerConfig::DEFAULT_LISTEN);
        assert_eq!(c.data_dir, Path::new(ServerConfig::DEFAULT_DATA_DIR));
        assert_eq!(
            c.runtime.max_instances,
            RuntimeConfig::default().max_instances
        );
    }

    #[test]
    fn a_server_without_tenants_or_with_a_typo_is_refused_by_name() {
        let err = server("", Overrides::default()).expect_err("no tenants");
        assert!(err.to_string().contains("server.tenants"), "{err}");
        let err = server("[runtime]\nmax_instance = 3\n", with_tenants()).expect_err("typo");
        assert!(err.to_string().contains("max_instance"), "{err}");
        let err = server("[runtime]\nmax_instances = 0\n", with_tenants()).expect_err("zero");
        assert!(err.to_string().contains("runtime.max_instances"), "{err}");
        let blank = Overrides {
            admin_token: Some(" ".into()),
            ..with_tenants()
        };
        assert!(server("", blank).is_err());
    }

    #[test]
    fn ip_allowlist_matches_networks_and_mapped_v4() {
        let auth = WebhookAuth {
            authorization: None,
            allowed_ips: vec!["10.0.0.0/8".parse().expect("net")],
        };
        assert!(auth.allows_ip("10.1.2.3".parse().expect("ip")));
        assert!(auth.allows_ip("::ffff:10.1.2.3".parse().expect("ip")));
        assert!(!auth.allows_ip("192.168.0.1".parse().expect("ip")));
    }
}
