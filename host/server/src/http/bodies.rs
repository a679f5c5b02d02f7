//! The JSON bodies the host answers with, as types: the handlers build these, and the
//! OpenAPI document's schemas are derived from them (`schemars`), so that what
//! `/openapi.json` promises is what the handlers send.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Serialize;

use crate::tenant::state::LoadRecord;

/// An error: every refusal, whatever the route.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ErrorBody {
    /// Stable and machine-readable: match on this.
    #[schemars(schema_with = "super::openapi::error_codes")]
    pub code: &'static str,
    /// For people: what was wrong and, where it helps, what to do.
    pub message: String,
}

/// A tenant's status.
#[derive(Debug, Serialize, JsonSchema)]
pub struct TenantStatus {
    /// The tenant's id.
    pub tenant: String,
    /// The sha256 of the plugin version it serves (known before it is loaded).
    pub active_version: Option<String>,
    /// Whether its plugin is in memory (plugins load on first event).
    pub plugin_resident: bool,
    /// Why its plugin failed its last load, if it did.
    pub plugin_error: Option<String>,
    /// When its configuration was loaded (seconds since the Unix epoch).
    pub loaded_at: u64,
    /// Its most recent (re)load.
    pub last_load: LoadRecord,
    /// Plugin versions stored.
    pub stored_versions: usize,
    /// Events and API requests run.
    pub invocations: u64,
    /// Failures by reason (`out_of_fuel`, `deadline`, ...); reasons never seen are left
    /// out.
    pub failures: BTreeMap<String, u64>,
    /// Fuel per invocation.
    pub fuel: Quantiles,
    /// Wall-clock microseconds per invocation.
    pub latency_us: Quantiles,
    /// Invocations running now.
    pub in_flight: u32,
    /// Calls pinned to the version of their first event.
    pub pinned_calls: usize,
    /// The key-value store: usage and quota.
    pub kv: KvStatus,
    /// What each event may use, and the tenant's shares.
    pub limits: LimitsStatus,
    /// The plugin's configuration (`[config]`).
    pub config: BTreeMap<String, String>,
    /// The last minute.
    pub recent: ActivityPoint,
}

/// A tenant's limits.
#[derive(Debug, Serialize, JsonSchema)]
pub struct LimitsStatus {
    /// Fuel per event.
    pub fuel: u64,
    /// Wall-clock milliseconds per event.
    pub timeout_ms: u64,
    /// Linear memory per event, bytes.
    pub memory_bytes: u64,
    /// Largest callflow, bytes of 8x8 JSON.
    pub output_bytes: u64,
    /// Key-value operations per event.
    pub kv_ops: u32,
    /// Log lines per event.
    pub log_lines: u32,
    /// Log lines per second over all events.
    pub log_lines_per_second: u32,
    /// Fuel per second over all events (the tenant's CPU share).
    pub fuel_per_second: u64,
    /// Events running at once.
    pub max_concurrency: u32,
}

/// Who a token belongs to.
#[derive(Debug, Serialize, JsonSchema)]
pub struct WhoAmI {
    /// `operator` (every tenant) or `tenant` (its own).
    pub role: Role,
    /// The tenant, for a tenant token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
}

/// What a token may do.
#[derive(Debug, Clone, Copy, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Everything, on every tenant.
    Operator,
    /// Its own tenant's versions, status, logs and phone.
    Tenant,
}

/// A tenant's last ten minutes, in steps.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Activity {
    /// The tenant.
    pub tenant: String,
    /// Seconds per step.
    pub interval_s: u64,
    /// Oldest first; the last is the step in progress.
    pub points: Vec<ActivityPoint>,
}

/// What a tenant did over a span of time: one step of its activity, or its last minute.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ActivityPoint {
    /// The span's start, in seconds since the Unix epoch.
    pub at: u64,
    /// Its length, in seconds.
    pub seconds: u64,
    /// Plugin invocations.
    pub events: u64,
    /// Invocations per second.
    pub rate: f64,
    /// Wall-clock microseconds per invocation.
    pub latency_us: Quantiles,
    /// Fuel per invocation.
    pub fuel: Quantiles,
    /// Failures by reason; reasons not seen are left out.
    pub failures: BTreeMap<String, u64>,
}

impl From<&crate::tenant::activity::Point> for ActivityPoint {
    fn from(p: &crate::tenant::activity::Point) -> Self {
        let quantiles = |(p50, p99)| Quantiles { p50, p99 };
        Self {
            at: p.at,
            seconds: p.seconds,
            events: p.events,
            rate: p.rate(),
            latency_us: quantiles(p.latency_us),
            fuel: quantiles(p.fuel),
            failures: p.failures(),
        }
    }
}

/// A tenant plugin's recent log lines.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Logs {
    /// The tenant.
    pub tenant: String,
    /// Oldest first.
    pub lines: Vec<crate::runtime::LogLine>,
    /// Lines after the one asked from that are no longer kept.
    pub missed: u64,
    /// The number the next line will get. Numbers start again from 1 when the host
    /// restarts (and differ from node to node): a client holding a number not below this
    /// one should ask again from 0.
    pub next: u64,
}

/// A dev-phone call to place (`{}`: the active version, the seed's numbers).
#[derive(Debug, serde::Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Dial {
    /// The version that answers (sha256, hex) [default: the active one].
    #[schemars(regex(pattern = r"^[0-9a-f]{64}$"))]
    pub version: Option<String>,
    /// The caller's number, E.164 [default: +6591178965].
    #[schemars(regex(pattern = r"^\+?[0-9]{1,15}$"))]
    pub caller: Option<String>,
    /// The virtual number dialled, E.164 [default: +6568332048].
    #[schemars(regex(pattern = r"^\+?[0-9]{1,15}$"))]
    pub dialled: Option<String>,
}

/// What the caller does at a prompt: `{"keys": "12#"}` (`""`: nothing, the try times
/// out) or `{"hangup": true}`.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PhonePress {
    /// Keys pressed (`0`-`9`, `*`, `#`), at most 32.
    pub keys: Option<String>,
    /// The caller hangs up.
    pub hangup: Option<bool>,
}

impl JsonSchema for PhonePress {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "PhonePress".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "What the caller does at a prompt: keys (`\"\"`: nothing, the try times out), or hang up.",
            "oneOf": [
                {
                    "type": "object",
                    "properties": { "keys": { "type": "string", "pattern": "^[0-9*#]{0,32}$" } },
                    "required": ["keys"],
                    "additionalProperties": false,
                },
                {
                    "type": "object",
                    "properties": { "hangup": { "const": true } },
                    "required": ["hangup"],
                    "additionalProperties": false,
                },
            ],
        })
    }
}

/// The median and the 99th percentile.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Quantiles {
    /// Median.
    pub p50: u64,
    /// 99th percentile.
    pub p99: u64,
}

/// A tenant's use of the key-value store.
#[derive(Debug, Serialize, JsonSchema)]
pub struct KvStatus {
    /// Keys stored; `null` when the store cannot be reached.
    pub keys: Option<u64>,
    /// Bytes of keys plus values; `null` when the store cannot be reached.
    pub bytes: Option<u64>,
    /// Its quota of keys.
    pub quota_keys: u64,
    /// Its quota of bytes.
    pub quota_bytes: u64,
    /// Writes refused over quota so far.
    pub refused: u64,
}

/// Every tenant's status.
#[derive(Debug, Serialize, JsonSchema)]
pub struct TenantList {
    /// One status per tenant.
    pub tenants: Vec<TenantStatus>,
}

/// A tenant's stored plugin versions.
#[derive(Debug, Serialize, JsonSchema)]
pub struct VersionList {
    /// The tenant's id.
    pub tenant: String,
    /// Oldest first.
    pub versions: Vec<VersionEntry>,
}

/// One stored version.
#[derive(Debug, Serialize, JsonSchema)]
pub struct VersionEntry {
    /// Its sha256, hex: also its name.
    pub digest: String,
    /// Size in bytes.
    pub size: u64,
    /// When it was uploaded (seconds since the Unix epoch).
    pub uploaded_at: u64,
    /// Whether the tenant serves it.
    pub status: VersionStatus,
}

/// Whether a version is the one served.
#[derive(Debug, Clone, Copy, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum VersionStatus {
    /// Served.
    Active,
    /// Stored, not served.
    Inactive,
}

/// An upload taken.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Uploaded {
    /// The version's sha256, hex: its name.
    pub digest: String,
    /// Size in bytes.
    pub size: u64,
    /// When it was stored (seconds since the Unix epoch).
    pub uploaded_at: u64,
    /// Whether it was activated (`?activate=false` stores it only).
    pub activated: bool,
    /// On a cluster: which live nodes had compiled it when it was activated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nodes: Option<NodesReady>,
}

/// Which nodes could serve a version when it was activated.
#[derive(Debug, Serialize, JsonSchema)]
pub struct NodesReady {
    /// Nodes that had compiled it.
    pub ready: Vec<String>,
    /// Nodes that had not yet: they serve it once they have.
    pub late: Vec<String>,
}

/// What a dry run of a version did with one webhook.
#[derive(Debug, Serialize, JsonSchema)]
pub struct DryRun {
    /// The version run.
    pub version: String,
    /// Fuel the plugin used, when it returned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fuel_used: Option<u64>,
    /// Wall-clock microseconds.
    pub elapsed_us: u64,
    /// The answer, or why the caller would have heard the fallback.
    pub result: DryRunResult,
}

/// A dry run's outcome.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum DryRunResult {
    /// The plugin's answer, as 8x8 would get it.
    Answer {
        /// The callflow.
        #[schemars(with = "callflow_wire::Callflow")]
        answer: serde_json::Value,
    },
    /// The plugin failed: the caller would hear the fallback.
    Failure {
        /// Why, as in `callflow_plugin_failures_total`.
        failure: &'static str,
        /// In words.
        message: String,
        /// The tenant's fallback callflow.
        #[schemars(with = "callflow_wire::Callflow")]
        fallback: serde_json::Value,
    },
}

/// Whether the host is ready to serve.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Readiness {
    /// This node's name.
    pub node: String,
    /// Whether it is shutting down (answering, but not taking new calls from a balancer).
    pub draining: bool,
    /// Whether the cluster's shared store is reachable (always, on one machine).
    pub store: StoreState,
    /// Tenants configured.
    pub tenants: usize,
    /// Plugins in memory.
    pub plugins_loaded: usize,
    /// Tenants whose plugin failed its last load.
    pub plugins_failed: usize,
    /// The plugin contract this host runs (`callflow:plugin@0.2.0`): plugins built
    /// against any semver-compatible version of it load; others are refused, naming
    /// both versions.
    pub plugin_contract: String,
}

/// The shared store's state as a node sees it.
#[derive(Debug, Clone, Copy, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum StoreState {
    /// Reachable.
    Reachable,
    /// Unreachable: the node is not ready.
    Unreachable,
}
