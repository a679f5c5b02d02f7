//! The log is a disk too: a stranger posting garbage at full speed, and a plugin logging
//! in a loop on every event, leave a bounded log, while `/metrics` counts every request.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{Server, call_action, request};

/// How long the flood lasts.
const FLOOD: Duration = Duration::from_secs(3);

/// The bad requests of the flood, each with the code it is refused with.
const BAD: &[(&str, &str, &str, &[u8])] = &[
    (
        "malformed_json",
        "/v1/tenants/chatty/webhooks/voice",
        "application/json",
        b"{not json",
    ),
    (
        "unknown_tenant",
        "/v1/tenants/nobody/webhooks/voice",
        "application/json",
        b"{}",
    ),
    (
        "unsupported_media_type",
        "/v1/tenants/chatty/webhooks/voice",
        "text/plain",
        b"hello",
    ),
];

/// The JSON log lines, parsed.
fn lines(log: &str) -> Vec<Value> {
    log.lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

fn metric(metrics: &str, name_and_labels: &str) -> u64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(name_and_labels)?.trim().parse().ok())
        .unwrap_or(0)
}

#[test]
fn a_flood_of_bad_requests_and_chatty_events_leaves_a_bounded_log_and_every_request_counted() {
    let _heavy = crate::support::heavy();
    let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("flood-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let tenant = root.join("tenants").join("chatty");
    std::fs::create_dir_all(&tenant).expect("tenant dir");
    std::fs::write(
        tenant.join("tenant.toml"),
        // Every event must run to its end for the lines to add up. A chatty event burns
        // about 6M fuel, so it runs on the long lane, below the flood's priority: in a
        // CI run beside the other tests, 140 of its lines were missing, events cut short
        // by the default 100 ms deadline.
        "sub_accounts = [\"*\"]\n[limits]\nlog_lines_per_second = 50\ntimeout_ms = 1000\n[config]\nmode = \"chatty\"\n",
    )
    .expect("toml");
    std::fs::copy(
        callflow_test_artifacts::HOSTILE_WASM,
        tenant.join("plugin.wasm"),
    )
    .expect("plugin");
    let server = Server::start(&root.join("tenants"), &root.join("data"), None);
    let addr = server.addr;

    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let bad: Vec<_> = BAD
        .iter()
        .map(|&(code, path, content_type, body)| {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                let mut sent = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let (status, answer) =
                        request(addr, "POST", path, &[("Content-Type", content_type)], body);
                    assert_eq!(answer["code"], code, "{status} {answer}");
                    sent += 1;
                }
                (code, sent)
            })
        })
        .collect();
    let chatty = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            let mut answered = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let (status, answer) = request(
                    addr,
                    "POST",
                    "/v1/tenants/chatty/webhooks/voice",
                    &[("Content-Type", "application/json")],
                    &call_action("flood", usize::try_from(answered).expect("small")),
                );
                assert_eq!(status, 200, "{answer}");
                answered += 1;
            }
            answered
        })
    };
    std::thread::sleep(FLOOD);
    stop.store(true, Ordering::Relaxed);
    let sent: BTreeMap<&str, u64> = bad.into_iter().map(|t| t.join().expect("flood")).collect();
    let events = chatty.join().expect("chatty");
    let seconds = started.elapsed().as_secs() + 1;
    // Give the host its summing-up tick for the last second.
    std::thread::sleep(Duration::from_millis(2500));
    let metrics = {
        let mut stream = crate::support::send(addr, "GET", "/metrics", &[], b"");
        let mut text = String::new();
        std::io::Read::read_to_string(&mut stream, &mut text).expect("metrics");
        text
    };
    let log = server.kill();
    let log = lines(&log);

    // Every refusal counted; a few logged per code and second, the rest summed up.
    for (code, n) in &sent {
        assert!(*n > 100, "the flood sent only {n} {code}");
        assert_eq!(
            metric(
                &metrics,
                &format!("callflow_http_refusals_total{{code=\"{code}\"}}")
            ),
            *n,
            "{code}"
        );
        let refused = log
            .iter()
            .filter(|l| l["fields"]["message"] == "request refused" && l["fields"]["code"] == *code)
            .count() as u64;
        let suppressed: u64 = log
            .iter()
            .filter(|l| l["fields"]["code"] == *code)
            .filter_map(|l| l["fields"]["suppressed"].as_u64())
            .sum();
        assert!(
            refused <= 5 * seconds,
            "{refused} lines for {n} {code} refusals in {seconds} s"
        );
        assert_eq!(
            refused + suppressed,
            *n,
            "{code}: {refused} logged plus {suppressed} summed up"
        );
    }

    // The plugin's lines: its per-event cap (100) first, then the tenant's rate (50 a
    // second) over all its events.
    assert!(events > 10, "only {events} chatty events answered");
    let plugin: Vec<&Value> = log
        .iter()
        .filter(|l| l["target"] == "callflow::plugin" && l["fields"]["suppressed"].is_null())
        .collect();
    let plugin_suppressed: u64 = log
        .iter()
        .filter(|l| l["target"] == "callflow::plugin")
        .filter_map(|l| l["fields"]["suppressed"].as_u64())
        .sum();
    assert!(
        plugin.len() as u64 <= 50 * seconds,
        "{} plugin lines over {events} events in {seconds} s",
        plugin.len()
    );
    // Per event: 100 log lines within its cap, its stdout (which fills the 4 KiB output
    // cap: stderr gets nothing), the output-dropped and the lines-dropped warnings.
    let chatty_metrics: Vec<&str> = metrics
        .lines()
        .filter(|l| l.contains("tenant=\"chatty\"") && !l.contains("_bucket"))
        .collect();
    assert_eq!(
        plugin.len() as u64 + plugin_suppressed,
        events * 103,
        "plugin lines logged plus summed up; the tenant's counters: {chatty_metrics:#?}"
    );
    let total = log.len() as u64;
    let requests: u64 = sent.values().sum::<u64>() + events;
    assert!(
        total < 400 * seconds,
        "{total} log lines for {requests} requests in {seconds} s"
    );
    eprintln!(
        "flood of {requests} requests ({events} chatty events, each logging 1,000 lines) in {seconds} s: {total} log lines"
    );
}
