//! Plugins load on their tenant's first event, concurrent first events share one load,
//! and beyond `max_loaded_plugins` the least recently used is evicted; an evicted tenant
//! answers its next event exactly as before, from the bytes it served, even if its
//! `plugin.wasm` has been overwritten since.

use std::path::Path;

use callflow_test_artifacts::{HOSTILE_WASM, IVR_WASM, NUMBER_MASKING_WASM};
use serde_json::Value;

use crate::support::{
    Host, IVR_CONFIG, TenantSpec, call_action, call_action_in, default_fallback, event_id,
};

fn start(name: &str, max_loaded: usize, ids: &[&str]) -> Host {
    let toml = format!("sub_accounts = [\"*\"]\n{IVR_CONFIG}");
    let tenants: Vec<_> = ids
        .iter()
        .map(|id| TenantSpec {
            id,
            toml: toml.clone(),
            wasm: Some(Path::new(IVR_WASM)),
        })
        .collect();
    Host::start(
        name,
        &format!("max_loaded_plugins = {max_loaded}\n"),
        &tenants,
    )
}

/// The value of an unlabelled metric, or of the series with exactly `labels`.
fn metric(text: &str, series: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {series} in:\n{text}"))
}

fn resident(text: &str, tenant: &str) -> bool {
    metric(
        text,
        &format!("callflow_plugin_loaded{{tenant=\"{tenant}\"}}"),
    ) == 1
}

async fn main_menu(host: &Host, tenant: &str) {
    let (status, answer) = host
        .post(tenant, &call_action(&event_id("lru"), None, None))
        .await;
    assert_eq!(status, 200);
    assert_eq!(answer["clientActionId"], "main_menu", "{tenant}: {answer}");
}

async fn readyz(host: &Host) -> Value {
    reqwest::get(host.url("/readyz"))
        .await
        .expect("readyz")
        .json()
        .await
        .expect("json")
}

/// Answers a new call on `tenant`; fails on anything but the plugin's own answer.
async fn answer(host: &Host, tenant: &str) -> Value {
    let (status, answer) = host
        .post(tenant, &call_action(&event_id("lru"), None, None))
        .await;
    assert_eq!(status, 200);
    assert_ne!(
        answer,
        default_fallback(),
        "{tenant} answered with its fallback"
    );
    answer
}

#[tokio::test]
async fn plugins_load_on_first_event_and_the_least_recently_used_is_evicted() {
    let ivr = |id| TenantSpec {
        id,
        toml: format!("sub_accounts = [\"*\"]\n{IVR_CONFIG}"),
        wasm: Some(Path::new(IVR_WASM)),
    };
    let host = Host::start(
        "residency-lru",
        "max_loaded_plugins = 2\n",
        &[
            ivr("ivr-1"),
            ivr("ivr-2"),
            TenantSpec {
                id: "masking",
                toml: "sub_accounts = [\"*\"]\n[config]\npool = \"+6568009001=vn-1\"\n".into(),
                wasm: Some(Path::new(NUMBER_MASKING_WASM)),
            },
            TenantSpec {
                id: "echo",
                toml: format!("sub_accounts = [\"*\"]\n{IVR_CONFIG}mode = \"echo\"\n"),
                wasm: Some(Path::new(HOSTILE_WASM)),
            },
        ],
    );
    let ready = readyz(&host).await;
    assert_eq!(
        (ready["tenants"].as_u64(), ready["plugins_loaded"].as_u64()),
        (Some(4), Some(0)),
        "nothing loads before its first event: {ready}"
    );

    main_menu(&host, "ivr-1").await;
    let text = host.metrics().await;
    assert!(resident(&text, "ivr-1") && !resident(&text, "ivr-2"));
    assert_eq!(metric(&text, "callflow_plugin_loads_total"), 1);

    // Tenants sharing a component share one resident plugin.
    main_menu(&host, "ivr-2").await;
    answer(&host, "masking").await;
    let text = host.metrics().await;
    assert_eq!(metric(&text, "callflow_plugins_resident"), 2, "{text}");
    assert_eq!(metric(&text, "callflow_tenants_resident"), 3, "{text}");
    assert_eq!(metric(&text, "callflow_plugin_evictions_total"), 0);

    // A third component: the IVR, least recently used, leaves both its tenants.
    answer(&host, "echo").await;
    let text = host.metrics().await;
    assert_eq!(metric(&text, "callflow_plugins_resident"), 2, "{text}");
    assert!(
        !resident(&text, "ivr-1") && !resident(&text, "ivr-2"),
        "{text}"
    );
    assert!(resident(&text, "masking") && resident(&text, "echo"));
    assert_eq!(metric(&text, "callflow_plugin_evictions_total"), 2);

    // masking is used again, so echo is now the least recently used.
    answer(&host, "masking").await;
    main_menu(&host, "ivr-1").await;
    let text = host.metrics().await;
    assert!(
        resident(&text, "ivr-1") && resident(&text, "masking"),
        "{text}"
    );
    assert!(!resident(&text, "echo"));
    assert_eq!(metric(&text, "callflow_plugin_loads_total"), 5);
    assert_eq!(metric(&text, "callflow_plugin_evictions_total"), 3);
    let failures: u64 = text
        .lines()
        .filter(|l| l.starts_with("callflow_plugin_failures_total"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum();
    assert_eq!(failures, 0, "{text}");
}

#[tokio::test]
async fn concurrent_first_events_share_one_load() {
    let host = start("residency-first", 4, &["busy"]);
    let posts: Vec<_> = (0..16)
        .map(|_| {
            let body = call_action(&event_id("first"), None, None);
            let url = host.webhook_url("busy");
            tokio::spawn(async move {
                let resp = reqwest::Client::new()
                    .post(url)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await
                    .expect("post");
                resp.json::<Value>().await.expect("json")
            })
        })
        .collect();
    for post in posts {
        let answer = post.await.expect("task");
        assert_eq!(answer["clientActionId"], "main_menu", "{answer}");
    }
    assert_eq!(
        metric(&host.metrics().await, "callflow_plugin_loads_total"),
        1
    );
}

#[tokio::test]
async fn an_evicted_tenant_comes_back_with_the_version_it_served() {
    // No watcher: overwriting plugin.wasm is not a reload, and an eviction must not turn
    // it into one. `b` runs another component, so nothing keeps a's code in memory.
    let host = Host::start(
        "residency-served",
        "max_loaded_plugins = 1\n",
        &[
            TenantSpec {
                id: "a",
                toml: format!("sub_accounts = [\"*\"]\n{IVR_CONFIG}"),
                wasm: Some(Path::new(IVR_WASM)),
            },
            TenantSpec {
                id: "b",
                toml: format!("sub_accounts = [\"*\"]\n{IVR_CONFIG}mode = \"echo\"\n"),
                wasm: Some(Path::new(HOSTILE_WASM)),
            },
        ],
    );
    let session = event_id("served");
    let (_, first) = host
        .post("a", &call_action_in(&session, &event_id("a"), None, None))
        .await;
    assert_eq!(first["clientActionId"], "main_menu", "{first}");
    // The call ends: nothing pins a's version any more.
    let summary = serde_json::json!({
        "namespace": "VOICE",
        "eventType": "SESSION_SUMMARY",
        "payload": {
            "sessionId": session,
            "subAccountId": "8x8_test",
            "sessionStatus": "COMPLETED",
            "callCount": 1,
            "details": {},
        },
    });
    let (status, ack) = host.post("a", &summary.to_string()).await;
    assert_eq!((status, ack), (200, serde_json::json!({})));
    std::fs::copy(HOSTILE_WASM, host.dir.join("tenants/a/plugin.wasm")).expect("overwrite");
    // Nor may it lean on the compiled copy (another test may write it back meanwhile,
    // which only makes this check weaker, never wrong).
    let ivr = callflow_server::tenant::repo::digest(&std::fs::read(IVR_WASM).expect("ivr"));
    if let Some(compiled) = host.registry.runtime().cache_path(&ivr) {
        let _ = std::fs::remove_file(compiled);
    }

    let (status, echo) = host
        .post("b", &call_action(&event_id("b"), None, None))
        .await;
    assert_eq!(status, 200);
    assert_eq!(echo["callflow"][0]["action"], "say", "{echo}");
    let text = host.metrics().await;
    assert!(!resident(&text, "a"), "a was not evicted");
    assert_eq!(metric(&text, "callflow_components_in_memory"), 1, "{text}");

    // The next call gets the IVR that a served, not the overwritten file.
    main_menu(&host, "a").await;
}
