use serde_json::Value;

use crate::support::{HOSTILE_MODES, call_action, default_fallback, event_id, shared};

/// The typed reason each hostile mode must be reported with.
fn expected_reason(mode: &str) -> &'static str {
    match mode {
        "loop" => "out_of_fuel",
        "spin" => "deadline",
        "grow" => "memory_limit",
        "recurse" | "panic" => "trap",
        "invalid" => "invalid_callflow",
        "read-file" | "read-env" | "error" => "plugin_error",
        "huge" => "output_too_large",
        other => panic!("no expectation for mode {other}"),
    }
}

#[tokio::test]
async fn every_hostile_plugin_gets_the_fallback_while_the_ivr_keeps_answering() {
    let host = shared();
    let failures = |mode: &str| {
        let tenant = host
            .registry
            .get(&format!("hostile-{mode}"))
            .expect("tenant");
        tenant.state.stats.failures(expected_reason(mode))
    };
    let before: Vec<u64> = HOSTILE_MODES
        .iter()
        .map(|(mode, _)| failures(mode))
        .collect();
    let mut set = tokio::task::JoinSet::new();
    for (mode, _) in HOSTILE_MODES {
        for round in 0..3 {
            let tenant = format!("hostile-{mode}");
            set.spawn(async move {
                let answer = host
                    .post(&tenant, &call_action(&event_id(mode), None, None))
                    .await;
                (Some((*mode, round)), answer)
            });
        }
    }
    for _ in 0..60 {
        set.spawn(async move {
            (
                None,
                host.post("ivr", &call_action(&event_id("calm"), None, None))
                    .await,
            )
        });
    }
    let fallback = default_fallback();
    while let Some(joined) = set.join_next().await {
        let (hostile, (status, body)) = joined.expect("task");
        assert_eq!(status, 200, "{hostile:?}: {body}");
        match hostile {
            Some((mode, _)) => {
                assert_eq!(body, fallback, "hostile-{mode} did not get the fallback")
            }
            None => {
                assert_eq!(body["clientActionId"], "main_menu", "{body}");
                assert_eq!(body["callflow"][0]["action"], "sayAndCapture", "{body}");
            }
        }
    }
    // Other tests may run the same tenants at the same time: count at least ours.
    for ((mode, _), before) in HOSTILE_MODES.iter().zip(before) {
        let counted = failures(mode) - before;
        assert!(
            counted >= 3,
            "hostile-{mode}: {counted} failures counted as {}",
            expected_reason(mode)
        );
    }
}

#[tokio::test]
async fn denied_capabilities_are_not_readable() {
    // The plugin says what it read if it could; the fallback proves it could not.
    let host = shared();
    for tenant in ["hostile-read-file", "hostile-read-env"] {
        let (status, body) = host
            .post(tenant, &call_action(&event_id("deny"), None, None))
            .await;
        assert_eq!(status, 200);
        assert_eq!(body, default_fallback(), "{tenant} read something: {body}");
        let text = body.to_string();
        assert!(!text.contains("root:") && !text.contains("/root"), "{text}");
    }
}

#[tokio::test]
async fn configured_fallback_is_what_callers_hear() {
    let host = shared();
    let (status, body) = host
        .post("custom-fallback", &call_action(&event_id("cf"), None, None))
        .await;
    assert_eq!(status, 200);
    let expected: Value = serde_json::json!({"callflow": [
        {"action": "say", "params": {"text": "Our lines are closed.", "voiceProfile": "en-GB-Susan"}},
        {"action": "hangup"}
    ]});
    assert_eq!(body, expected);
}

#[tokio::test]
async fn tenant_without_a_loadable_plugin_gets_the_fallback_not_an_error() {
    let host = shared();
    let (status, body) = host
        .post("no-plugin", &call_action(&event_id("np"), None, None))
        .await;
    assert_eq!(status, 200);
    assert_eq!(body, default_fallback());
    let tenant = host.registry.get("no-plugin").expect("tenant");
    assert!(tenant.state.stats.failures("not_loaded") >= 1);
}

#[tokio::test]
async fn hostile_plugin_on_a_status_event_is_still_acknowledged() {
    let host = shared();
    let body = call_action(&event_id("status"), None, None)
        .replace("CALL_ACTION", "CALL_STATUS")
        .replace("CALL_RECEIVED", "CALL_CONNECTED");
    let (status, answer) = host.post("hostile-loop", &body).await;
    assert_eq!((status, answer), (200, serde_json::json!({})));
}

#[tokio::test]
async fn tenants_never_see_each_others_keys() {
    let host = shared();
    let say = |body: &Value| {
        body["callflow"][0]["params"]["text"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    let (_, a1) = host
        .post("counter-a", &call_action(&event_id("kv"), None, None))
        .await;
    let (_, a2) = host
        .post("counter-a", &call_action(&event_id("kv"), None, None))
        .await;
    let (_, b1) = host
        .post("counter-b", &call_action(&event_id("kv"), None, None))
        .await;
    let (a1, a2, b1) = (say(&a1), say(&a2), say(&b1));
    assert_ne!(a1, a2, "the counter did not persist between events");
    assert_eq!(
        b1, "count 1",
        "tenant b saw tenant a's counter: a said {a1:?}, {a2:?}"
    );
}

#[tokio::test]
async fn metrics_count_webhooks_and_failures_by_typed_reason() {
    let host = shared();
    let (status, _) = host
        .post(
            "hostile-grow",
            &call_action(&event_id("metrics"), None, None),
        )
        .await;
    assert_eq!(status, 200);
    let text = host.metrics().await;
    let failures = text
        .lines()
        .find(|l| {
            l.starts_with(
                "callflow_plugin_failures_total{tenant=\"hostile-grow\",reason=\"memory_limit\"}",
            )
        })
        .unwrap_or_else(|| panic!("no memory_limit failures for hostile-grow in:\n{text}"));
    let n: u64 = failures
        .rsplit(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .expect("count");
    assert!(n >= 1);
    assert!(
        text.contains("callflow_webhooks_total{tenant=\"hostile-grow\",event_type=\"CALL_ACTION\",outcome=\"fallback\"}"),
        "{text}"
    );
    assert!(
        text.contains("callflow_plugin_loaded{tenant=\"no-plugin\"} 0"),
        "{text}"
    );
    assert!(
        text.contains("callflow_plugin_load_failed{tenant=\"no-plugin\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("callflow_plugin_loaded{tenant=\"hostile-grow\"} 1"),
        "{text}"
    );
}

#[tokio::test]
async fn a_tenant_over_its_fuel_rate_gets_the_fallback_without_running() {
    // `greedy` may burn 15M fuel a second and burns 10M per event.
    let host = shared();
    let tenant = host.registry.get("greedy").expect("tenant");
    let ran_before = tenant.state.stats.invocations();
    for _ in 0..4 {
        let (status, body) = host
            .post("greedy", &call_action(&event_id("greedy"), None, None))
            .await;
        assert_eq!((status, &body), (200, &default_fallback()));
    }
    assert!(
        tenant.state.stats.failures("fuel_rate_limit") >= 1,
        "the fuel rate never stopped it"
    );
    assert!(
        tenant.state.stats.invocations() - ran_before < 4,
        "every event ran the plugin"
    );
    let (_, calm) = host
        .post("ivr", &call_action(&event_id("calm"), None, None))
        .await;
    assert_eq!(calm["clientActionId"], "main_menu");
}

#[tokio::test]
async fn a_plugin_that_runs_long_goes_to_the_long_lane_and_keeps_its_limits() {
    let host = shared();
    // `hostile-loop` burns its whole fuel (10M, about a millisecond) on every event; from
    // its second event on, its invocations run on the long lane.
    let looping = host.registry.get("hostile-loop").expect("tenant");
    let before = looping.state.stats.long_lane();
    let failed = looping.state.stats.failures("out_of_fuel");
    for _ in 0..3 {
        let (status, body) = host
            .post("hostile-loop", &call_action(&event_id("long"), None, None))
            .await;
        assert_eq!((status, &body), (200, &default_fallback()));
    }
    assert!(
        looping.state.stats.long_lane() - before >= 2,
        "the burning plugin stayed on the serving workers"
    );
    assert!(looping.state.stats.failures("out_of_fuel") - failed >= 3);

    // On the lane, the deadline still stops a plugin that spins: `hostile-spin` has
    // 30 ms.
    let spinning = host.registry.get("hostile-spin").expect("tenant");
    let (before, deadlines) = (
        spinning.state.stats.long_lane(),
        spinning.state.stats.failures("deadline"),
    );
    for _ in 0..2 {
        let (status, body) = host
            .post("hostile-spin", &call_action(&event_id("spin"), None, None))
            .await;
        assert_eq!((status, &body), (200, &default_fallback()));
    }
    assert!(spinning.state.stats.long_lane() > before);
    // (Other tests spin this shared tenant too: at least these two.)
    assert!(spinning.state.stats.failures("deadline") - deadlines >= 2);

    // The IVR's events are short: never on the lane.
    let (_, answer) = host
        .post("ivr", &call_action(&event_id("short"), None, None))
        .await;
    assert_eq!(answer["clientActionId"], "main_menu");
    assert_eq!(
        host.registry
            .get("ivr")
            .expect("ivr")
            .state
            .stats
            .long_lane(),
        0
    );

    // The lane's threads run below the serving workers' priority.
    let mut lane_threads = 0;
    for task in std::fs::read_dir("/proc/self/task").expect("/proc/self/task") {
        let dir = task.expect("task").path();
        let comm = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
        if comm.trim() != "callflow-long" {
            continue;
        }
        let stat = std::fs::read_to_string(dir.join("stat")).expect("stat");
        let nice: i32 = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(16))
            .and_then(|n| n.parse().ok())
            .expect("nice");
        assert!(
            nice >= callflow_server::runtime::LONG_LANE_NICE,
            "{comm}: nice {nice}"
        );
        lane_threads += 1;
    }
    assert!(lane_threads > 0, "no long-lane thread");
}
