//! `/healthz`, `/readyz` and `/metrics`: whether the host is up, whether it has tenants
//! to serve, and every counter in Prometheus text format.

use super::AppState;
use super::bodies::{Readiness, StoreState};
use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// The status routes, to be merged into the app.
pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
        .route("/metrics", get(metrics))
}

async fn ready(State(state): State<AppState>) -> Response {
    let tenants = state.registry.all();
    let residency = state.registry.residency();
    // In a cluster, a node that cannot reach Redis is not ready: the balancer should send
    // calls to a node that can.
    let store_up = state.registry.cluster().is_none_or(|c| c.healthy());
    let draining = state.draining.load(std::sync::atomic::Ordering::Relaxed);
    let body = Json(Readiness {
        node: state.node.to_string(),
        draining,
        store: if store_up {
            StoreState::Reachable
        } else {
            StoreState::Unreachable
        },
        tenants: tenants.len(),
        plugins_loaded: residency.resident,
        plugins_failed: tenants
            .iter()
            .filter(|t| t.plugin.error().is_some())
            .count(),
        plugin_contract: crate::runtime::contract::name(),
    });
    if tenants.is_empty() || !store_up || draining {
        (StatusCode::SERVICE_UNAVAILABLE, body).into_response()
    } else {
        body.into_response()
    }
}

async fn metrics(State(state): State<AppState>) -> Response {
    let tenants = state.registry.all();
    let mut text = format!(
        "# HELP callflow_node_info This node's name (--node-id).\n# TYPE callflow_node_info gauge\ncallflow_node_info{{node=\"{}\"}} 1\n",
        state.node
    );
    text.push_str("# HELP callflow_http_refusals_total Requests refused at the edge, by error code (each one, though only a few a second are logged).\n# TYPE callflow_http_refusals_total counter\n");
    for (code, n) in super::error::refusals() {
        text.push_str(&format!(
            "callflow_http_refusals_total{{code=\"{code}\"}} {n}\n"
        ));
    }
    text.push_str(&crate::metrics::render(
        tenants.iter().map(|t| (&*t.id, &t.state.stats)),
    ));
    text.push_str("# HELP callflow_kv_keys Keys the tenant keeps in its key-value store.\n# TYPE callflow_kv_keys gauge\n# HELP callflow_kv_bytes Bytes of keys plus values the tenant keeps in its key-value store.\n# TYPE callflow_kv_bytes gauge\n# HELP callflow_kv_quota_keys The tenant's quota of keys.\n# TYPE callflow_kv_quota_keys gauge\n# HELP callflow_kv_quota_bytes The tenant's quota of bytes.\n# TYPE callflow_kv_quota_bytes gauge\n");
    for t in &tenants {
        let quota = t.config.limits.sandbox.kv_quota;
        // Unreachable store (a cluster's Redis): no usage figure rather than a wrong one.
        if let Ok(usage) = state.kv.usage(&t.id).await {
            text.push_str(&format!(
                "callflow_kv_keys{{tenant=\"{0}\"}} {1}\ncallflow_kv_bytes{{tenant=\"{0}\"}} {2}\n",
                t.id, usage.keys, usage.bytes
            ));
        }
        text.push_str(&format!(
            "callflow_kv_quota_keys{{tenant=\"{0}\"}} {1}\ncallflow_kv_quota_bytes{{tenant=\"{0}\"}} {2}\n",
            t.id, quota.keys, quota.bytes
        ));
    }
    text.push_str("# HELP callflow_answers_kept Answers kept for repeated deliveries.\n# TYPE callflow_answers_kept gauge\n# HELP callflow_answers_bytes Memory the kept answers count against answers_mib.\n# TYPE callflow_answers_bytes gauge\n# HELP callflow_answers_dropped_early_total Answers dropped before their window ended, to stay within answers_mib.\n# TYPE callflow_answers_dropped_early_total counter\n# HELP callflow_pinned_calls Calls pinned to the version of their first event.\n# TYPE callflow_pinned_calls gauge\n# HELP callflow_pins_dropped_early_total Pins dropped before their time, to stay within pins_mib.\n# TYPE callflow_pins_dropped_early_total counter\n");
    for t in &tenants {
        let (d, p) = (&t.state.deliveries, &t.state.pins);
        text.push_str(&format!(
            "callflow_answers_kept{{tenant=\"{0}\"}} {1}\ncallflow_answers_bytes{{tenant=\"{0}\"}} {2}\ncallflow_answers_dropped_early_total{{tenant=\"{0}\"}} {3}\ncallflow_pinned_calls{{tenant=\"{0}\"}} {4}\ncallflow_pins_dropped_early_total{{tenant=\"{0}\"}} {5}\n",
            t.id,
            d.len(),
            d.used(),
            d.dropped_early(),
            p.len(),
            p.dropped_early(),
        ));
    }
    text.push_str("# HELP callflow_plugin_loaded Whether the tenant's plugin is in memory (plugins load on first event and are evicted when idle).\n# TYPE callflow_plugin_loaded gauge\n");
    for t in &tenants {
        text.push_str(&format!(
            "callflow_plugin_loaded{{tenant=\"{}\"}} {}\n",
            t.id,
            u8::from(t.plugin.is_loaded())
        ));
    }
    text.push_str("# HELP callflow_plugin_load_failed Whether the tenant's plugin failed its last load.\n# TYPE callflow_plugin_load_failed gauge\n");
    for t in &tenants {
        text.push_str(&format!(
            "callflow_plugin_load_failed{{tenant=\"{}\"}} {}\n",
            t.id,
            u8::from(t.plugin.error().is_some())
        ));
    }
    let residency = state.registry.residency();
    text.push_str(&format!(
        "# HELP callflow_plugins_resident Distinct plugins (by digest) that tenants hold in memory.\n# TYPE callflow_plugins_resident gauge\ncallflow_plugins_resident {}\n\
         # HELP callflow_tenants_resident Tenants whose plugin is in memory.\n# TYPE callflow_tenants_resident gauge\ncallflow_tenants_resident {}\n\
         # HELP callflow_plugins_resident_max The bound on plugins in memory (max_loaded_plugins).\n# TYPE callflow_plugins_resident_max gauge\ncallflow_plugins_resident_max {}\n\
         # HELP callflow_components_in_memory Distinct compiled components in memory (tenants sharing a digest share one).\n# TYPE callflow_components_in_memory gauge\ncallflow_components_in_memory {}\n\
         # HELP callflow_plugin_loads_total Plugins loaded on demand (first event, or after an eviction).\n# TYPE callflow_plugin_loads_total counter\ncallflow_plugin_loads_total {}\n\
         # HELP callflow_plugin_evictions_total Tenants' plugins dropped from memory to stay within max_loaded_plugins.\n# TYPE callflow_plugin_evictions_total counter\ncallflow_plugin_evictions_total {}\n",
        residency.resident,
        residency.tenants,
        residency.capacity,
        state.registry.runtime().components_in_memory(),
        residency.loads,
        residency.evictions,
    ));
    let compiles = state.registry.runtime().compile_stats();
    text.push_str(&format!(
        "# HELP callflow_compiles_admitted Uploads' compiles waiting or running on the compile threads.\n# TYPE callflow_compiles_admitted gauge\ncallflow_compiles_admitted {}\n\
         # HELP callflow_compiles_total Components compiled (uploads, reloads, loads without a cached compile).\n# TYPE callflow_compiles_total counter\ncallflow_compiles_total {}\n\
         # HELP callflow_compile_seconds_total Time compiles took on the compile threads, waiting included.\n# TYPE callflow_compile_seconds_total counter\ncallflow_compile_seconds_total {:.3}\n\
         # HELP callflow_compiles_refused_total Uploads refused (429 compile_busy) because the tenant or the host had too many compiles waiting.\n# TYPE callflow_compiles_refused_total counter\ncallflow_compiles_refused_total {}\n",
        compiles.admitted,
        compiles.compiled,
        compiles.busy.as_secs_f64(),
        compiles.refused,
    ));
    text.push_str("# HELP callflow_reloads_total Tenant (re)loads, by tenant and result.\n# TYPE callflow_reloads_total counter\n");
    for t in &tenants {
        let load = t.state.last_load();
        text.push_str(&format!(
            "callflow_reloads_total{{tenant=\"{}\",result=\"ok\"}} {}\ncallflow_reloads_total{{tenant=\"{}\",result=\"failed\"}} {}\n",
            t.id,
            load.loads - load.failures,
            t.id,
            load.failures
        ));
    }
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4"),
        )],
        text,
    )
        .into_response()
}
