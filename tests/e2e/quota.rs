//! Storage quotas: a tenant's plugin that writes without bound fills its own quota, not
//! the disk its neighbours' bookings live on. The plugin gets a typed error it can
//! handle, the event is answered, nothing stored is lost, and the operator sees it.

use std::path::Path;

use callflow_test_artifacts::HOSTILE_WASM;
use serde_json::Value;

use crate::support::{Host, OPERATOR_TOKEN, TenantSpec, call_action, event_id};

fn said(answer: &Value) -> String {
    answer["callflow"][0]["params"]["text"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

fn tenant(id: &'static str, limits: &str, mode: &str) -> TenantSpec<'static> {
    TenantSpec {
        id,
        toml: format!("sub_accounts = [\"*\"]\n[limits]\n{limits}\n[config]\nmode = \"{mode}\"\n"),
        wasm: Some(Path::new(HOSTILE_WASM)),
    }
}

async fn status(host: &Host, tenant: &str) -> Value {
    reqwest::Client::new()
        .get(host.url(&format!("/v1/admin/tenants/{tenant}")))
        .bearer_auth(OPERATOR_TOKEN)
        .send()
        .await
        .expect("status")
        .json()
        .await
        .expect("json")
}

#[tokio::test]
async fn a_plugin_that_writes_without_bound_fills_its_quota_and_the_event_is_answered() {
    let host = Host::start(
        "quota",
        "",
        &[
            tenant("filler", "kv_keys = 10", "fill"),
            tenant("busy", "kv_ops = 50", "fill"),
            tenant("neighbour", "kv_keys = 10", "kv"),
        ],
    );
    // Ten keys, then the quota: the plugin is told why and answers anyway.
    let (status_code, answer) = host
        .post("filler", &call_action(&event_id("fill"), None, None))
        .await;
    assert_eq!(status_code, 200);
    assert_eq!(
        said(&answer),
        "stored 10 then quota exceeded: the tenant's store quota of 10 keys is reached (10 in use)",
        "{answer}"
    );
    // The next event finds the ten still there and no room for more.
    let (_, answer) = host
        .post("filler", &call_action(&event_id("fill"), None, None))
        .await;
    assert!(
        said(&answer).starts_with("stored 0 then quota exceeded"),
        "{answer}"
    );
    let kv = &status(&host, "filler").await["kv"];
    let entry = |n: usize| (format!("fill-{n}").len() + 1024) as u64;
    assert_eq!(kv["keys"], 10, "{kv}");
    assert_eq!(kv["bytes"], (0..10).map(entry).sum::<u64>(), "{kv}");
    assert_eq!(kv["quota_keys"], 10, "{kv}");
    assert!(kv["refused"].as_u64() >= Some(4), "{kv}");
    // A neighbour under the same quota is untouched by it.
    let (_, answer) = host
        .post("neighbour", &call_action(&event_id("kv"), None, None))
        .await;
    assert_eq!(said(&answer), "count 1", "{answer}");

    // Operations per event: one read and 49 writes, then the 51st is refused.
    let (_, answer) = host
        .post("busy", &call_action(&event_id("busy"), None, None))
        .await;
    assert_eq!(
        said(&answer),
        "stored 49 then quota exceeded: this event used its 50 key-value operations",
        "{answer}"
    );

    let metrics = host.metrics().await;
    for line in [
        "callflow_kv_keys{tenant=\"filler\"} 10",
        "callflow_kv_quota_keys{tenant=\"filler\"} 10",
        "callflow_kv_keys{tenant=\"neighbour\"} 1",
        "callflow_kv_refused_total{tenant=\"neighbour\"} 0",
    ] {
        assert!(metrics.contains(line), "no {line:?} in\n{metrics}");
    }
    let refused = |tenant: &str| -> u64 {
        let prefix = format!("callflow_kv_refused_total{{tenant=\"{tenant}\"}} ");
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    assert!(refused("filler") >= 4, "{metrics}");
    assert!(refused("busy") >= 2, "{metrics}");
}

#[test]
fn a_quota_above_the_operators_maximum_is_refused_with_the_field_named() {
    let dir =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("quota-max-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let host_toml = dir.join("host.toml");
    std::fs::write(
        &host_toml,
        "[maxima]\nkv_mib = 8\n[defaults]\nkv_mib = 16\n",
    )
    .expect("write");
    let err = callflow_server::config::ServerConfig::load(Some(&host_toml), Default::default())
        .expect_err("defaults above maxima");
    assert!(err.to_string().contains("defaults.kv_mib"), "{err}");
    assert!(
        err.to_string()
            .contains("16 exceeds the operator maximum of 8"),
        "{err}"
    );
}
