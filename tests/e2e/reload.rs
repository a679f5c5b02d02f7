//! Hot reload through the tenants directory: a dropped-in file serves within a second, a
//! swap under load drops nothing, calls in progress stay on their version, and a broken
//! version leaves the old one serving.

use std::path::Path;
use std::time::{Duration, Instant};

use callflow_server::tenant::repo::write_atomic;
use callflow_test_artifacts::{HOSTILE_WASM, IVR_WASM};

use crate::support::{Host, IVR_CONFIG, TenantSpec, call_action, call_action_in, event_id};

fn start(name: &str) -> Host {
    let host = Host::start(
        name,
        "",
        &[TenantSpec {
            id: "live",
            // `mode` is read by the echo plugin swapped in later; the IVR ignores it.
            toml: format!("sub_accounts = [\"*\"]\n{IVR_CONFIG}mode = \"echo\"\n"),
            wasm: Some(Path::new(IVR_WASM)),
        }],
    );
    host.watch();
    host
}

fn drop_in(host: &Host, wasm: &[u8]) {
    write_atomic(&host.dir.join("tenants/live/plugin.wasm"), wasm).expect("drop in");
}

/// Waits until a new call gets an answer that `done` accepts; returns how long it took.
async fn until(host: &Host, done: impl Fn(&serde_json::Value) -> bool) -> Duration {
    let start = Instant::now();
    loop {
        let (_, answer) = host
            .post("live", &call_action(&event_id("poll"), None, None))
            .await;
        if done(&answer) {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the new version never served: {answer}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn is_ivr(answer: &serde_json::Value) -> bool {
    answer["clientActionId"] == "main_menu"
}

#[tokio::test]
async fn dropped_in_plugin_serves_within_a_second() {
    let host = start("reload-drop");
    assert!(is_ivr(
        &host
            .post("live", &call_action(&event_id("x"), None, None))
            .await
            .1
    ));
    drop_in(&host, &std::fs::read(HOSTILE_WASM).expect("echo"));
    let took = until(&host, |a| !is_ivr(a) && a["callflow"][0]["action"] == "say").await;
    assert!(took < Duration::from_secs(1), "took {took:?}");
}

#[tokio::test]
async fn swapping_versions_under_load_drops_nothing() {
    let host = start("reload-load");
    let ivr = std::fs::read(IVR_WASM).expect("ivr");
    let echo = std::fs::read(HOSTILE_WASM).expect("echo");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut workers = Vec::new();
    for _ in 0..4 {
        let stop = std::sync::Arc::clone(&stop);
        let url = host.webhook_url("live");
        workers.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            let (mut ok, mut errors) = (0u32, Vec::new());
            // Bounded: at most 2,000 requests per worker, and it stops when told.
            for _ in 0..2000 {
                if stop.load(std::sync::atomic::Ordering::Relaxed) {
                    break;
                }
                let resp = client
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(call_action(&event_id("load"), None, None))
                    .send()
                    .await;
                match resp {
                    Ok(r) if r.status() == 200 => match r.json::<serde_json::Value>().await {
                        Ok(v) if v["callflow"].is_array() => ok += 1,
                        other => errors.push(format!("{other:?}")),
                    },
                    other => errors.push(format!("{other:?}")),
                }
            }
            (ok, errors)
        }));
    }
    for round in 0..6 {
        tokio::time::sleep(Duration::from_millis(150)).await;
        drop_in(&host, if round % 2 == 0 { &echo } else { &ivr });
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut total = 0;
    for w in workers {
        let (ok, errors) = w.await.expect("worker");
        assert!(errors.is_empty(), "errors during the swap: {errors:?}");
        total += ok;
    }
    assert!(total > 50, "the load barely ran: {total}");
    let tenant = host.registry.get("live").expect("tenant");
    assert!(
        tenant.state.last_load().loads >= 4,
        "{:?}",
        tenant.state.last_load()
    );
}

#[tokio::test]
async fn a_call_in_progress_stays_on_the_version_that_answered_it_first() {
    let host = start("reload-pin");
    let session = event_id("session");
    let first = call_action_in(&session, &event_id("pin"), None, None);
    let (_, answer) = host.post("live", &first).await;
    assert!(is_ivr(&answer), "{answer}");

    drop_in(&host, &std::fs::read(HOSTILE_WASM).expect("echo"));
    until(&host, |a| !is_ivr(a)).await;

    // Same session, next menu: still the IVR.
    let next = call_action_in(&session, &event_id("pin"), Some("main_menu"), Some("1"));
    let (_, answer) = host.post("live", &next).await;
    assert_eq!(
        answer["clientActionId"], "reservations",
        "the call switched versions mid-menu: {answer}"
    );
}

#[tokio::test]
async fn broken_version_leaves_the_old_one_serving_and_reports_the_error() {
    let host = start("reload-broken");
    drop_in(&host, b"\0asm\x0d\0\x01\0 this is not a component");
    let tenant_error = || {
        host.registry
            .get("live")
            .expect("tenant")
            .state
            .last_load()
            .error
    };
    let start = Instant::now();
    while tenant_error().is_none() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the broken version was never noticed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        tenant_error()
            .unwrap_or_default()
            .contains("kept the serving version")
    );
    let (status, answer) = host
        .post("live", &call_action(&event_id("broken"), None, None))
        .await;
    assert_eq!(status, 200);
    assert!(is_ivr(&answer), "{answer}");
}

/// Posts `total` call actions, each a new call, over `workers` connections at full speed.
async fn fresh_calls(host: &Host, workers: usize, total: usize) -> usize {
    let mut tasks = Vec::new();
    for _ in 0..workers {
        let url = host.webhook_url("live");
        tasks.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            let mut ok = 0;
            for _ in 0..total / workers {
                let resp = client
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(call_action(&event_id("fresh"), None, None))
                    .send()
                    .await
                    .expect("post");
                assert_eq!(resp.status(), 200);
                ok += 1;
            }
            ok
        }));
    }
    let mut ok = 0;
    for t in tasks {
        ok += t.await.expect("worker");
    }
    ok
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_full_load_of_new_calls_a_call_keeps_its_version_and_a_redelivery_its_answer() {
    let host = start("reload-full-load");
    let session = event_id("long-call");
    let first = call_action_in(&session, &event_id("first"), None, None);
    let (_, answer) = host.post("live", &first).await;
    assert!(is_ivr(&answer), "{answer}");

    // Far more new calls than the 4,096 answers and pins a tenant used to keep, with the
    // plugin swapped in the middle.
    let before = fresh_calls(&host, 8, 6000).await;
    drop_in(&host, &std::fs::read(HOSTILE_WASM).expect("echo"));
    until(&host, |a| !is_ivr(a)).await;
    let after = fresh_calls(&host, 8, 6000).await;
    assert_eq!(before + after, 12_000);

    // The first event delivered again, seconds and 12,000 calls later: its answer, and the
    // plugin does not run.
    let tenant = host.registry.get("live").expect("tenant");
    let ran = tenant.state.stats.invocations();
    let (_, again) = host.post("live", &first).await;
    assert_eq!(again, answer, "a redelivery got another answer");
    assert_eq!(
        tenant.state.stats.invocations(),
        ran,
        "the plugin ran again"
    );
    // The call's next menu: still the IVR that answered its first event.
    let next = call_action_in(&session, &event_id("next"), Some("main_menu"), Some("1"));
    let (_, answer) = host.post("live", &next).await;
    assert_eq!(
        answer["clientActionId"], "reservations",
        "the call switched versions mid-menu: {answer}"
    );
    let metrics = host.metrics().await;
    for line in [
        "callflow_answers_dropped_early_total{tenant=\"live\"} 0",
        "callflow_pins_dropped_early_total{tenant=\"live\"} 0",
    ] {
        assert!(metrics.contains(line), "no {line:?} in\n{metrics}");
    }
}
