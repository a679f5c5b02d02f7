//! A host killed with SIGKILL and started again keeps every number-masking booking.
//!
//! This runs the real `callflow-host serve` binary (cargo builds it for this crate's
//! integration tests) with `plugins/number-masking` built from source, talks to it over
//! loopback with a few lines of plain HTTP/1.1, and reads its log to prove that no
//! participant's number reached it. The rest of number masking is proven in
//! `tests/e2e/masking.rs`.

use std::path::Path;
use std::time::Instant;

use serde_json::{Value, json};

/// sha256 of `test-key`.
const TEST_KEY_SHA256: &str = "62af8704764faf8ea82fc61ce9c4c3908b6cb97d463a634e9e587d7c885db0ef";
const POOL: &str = "+6568009001=vn-1,+6568009002=vn-2,+6568009003=vn-3";

use crate::support::Server;

/// The plugin's API: status and JSON body.
fn api(server: &Server, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
    let body = body.map(Value::to_string).unwrap_or_default();
    server.request(
        method,
        &format!("/v1/tenants/masking/api{path}"),
        &[
            ("Content-Type", "application/json"),
            ("Authorization", "Bearer test-key"),
        ],
        body.as_bytes(),
    )
}

fn webhook(server: &Server, body: &Value) -> Value {
    let (status, answer) = server.request(
        "POST",
        "/v1/tenants/masking/webhooks/voice",
        &[("Content-Type", "application/json")],
        body.to_string().as_bytes(),
    );
    assert_eq!(status, 200, "{answer}");
    answer
}

fn call_action(event: &str, session: &str, source: &str, destination: &str) -> Value {
    json!({
        "namespace": "VOICE", "eventType": "CALL_ACTION", "description": "Action request of a call",
        "payload": { "eventId": event, "callId": format!("c-{event}"), "sessionId": session,
            "subAccountId": "8x8_test", "callStatus": "CALL_RECEIVED", "callDirection": "INBOUND",
            "callType": "PSTN", "source": source, "destination": destination, "callDuration": 0,
            "sipCode": 200, "timestamp": "2026-01-06T10:17:19.375Z" }
    })
}

fn call_status(event: &str, session: &str, source: &str, destination: &str) -> Value {
    json!({
        "namespace": "VOICE", "eventType": "CALL_STATUS", "description": "Status update of a call",
        "payload": { "eventId": event, "callId": "c-out", "sessionId": session,
            "subAccountId": "8x8_test", "callStatus": "CALL_CONNECTED", "callDirection": "OUTBOUND",
            "callType": "PSTN", "source": source, "destination": destination, "callDuration": 0,
            "sipCode": 200, "timestamp": "2026-01-06T10:17:25.000Z" }
    })
}

/// The plugin, built from source.
fn plugin() -> &'static Path {
    Path::new(callflow_test_artifacts::NUMBER_MASKING_WASM)
}

fn participant(i: usize) -> String {
    format!("+659812{i:04}")
}

#[test]
fn a_killed_host_restarts_with_every_booking_and_no_number_in_its_log() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("masking-restart-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let tenant = dir.join("tenants/masking");
    std::fs::create_dir_all(&tenant).expect("tenant dir");
    std::fs::copy(plugin(), tenant.join("plugin.wasm")).expect("plugin");
    std::fs::write(
        tenant.join("tenant.toml"),
        format!(
            "sub_accounts = [\"*\"]\napi_keys_sha256 = [\"{TEST_KEY_SHA256}\"]\n[limits]\nfuel = 100000000\ntimeout_ms = 1000\n[config]\npool = \"{POOL}\"\n"
        ),
    )
    .expect("tenant.toml");
    let data = dir.join("data");

    let first = Server::start(&dir.join("tenants"), &data, None);
    let mut bookings = Vec::new();
    for i in 0..12 {
        let (status, b) = api(
            &first,
            "POST",
            "/bookings",
            Some(
                &json!({ "participants": [participant(2 * i), participant(2 * i + 1)], "ttlSeconds": 3600 }),
            ),
        );
        assert_eq!(status, 201, "{b}");
        bookings.push(b);
    }
    let vn0 = bookings[0]["virtualNumber"]
        .as_str()
        .expect("vn")
        .to_owned();
    let id0 = bookings[0]["bookingId"].as_str().expect("id").to_owned();
    let bridged = webhook(&first, &call_action("e-1", "s-1", &participant(0), &vn0));
    assert_eq!(
        bridged["callflow"][0]["params"]["destination"],
        participant(1)
    );
    webhook(&first, &call_status("st-1", "s-1", &vn0, &participant(1)));
    let released = bookings[1]["bookingId"].as_str().expect("id").to_owned();
    assert_eq!(
        api(&first, "DELETE", &format!("/bookings/{released}"), None).0,
        200
    );
    let started = Instant::now();
    let log_before = first.kill();

    let second = Server::start(&dir.join("tenants"), &data, None);
    eprintln!(
        "killed and restarted in {:.2} s",
        started.elapsed().as_secs_f64()
    );
    for (i, b) in bookings.iter().enumerate() {
        let id = b["bookingId"].as_str().expect("id");
        let (status, shown) = api(&second, "GET", &format!("/bookings/{id}"), None);
        assert_eq!(status, 200, "{shown}");
        let expected = if id == released { "released" } else { "active" };
        assert_eq!(shown["status"], expected, "booking {i}: {shown}");
        assert_eq!(shown["virtualNumber"], b["virtualNumber"]);
        assert_eq!(shown["participants"], b["participants"]);
    }
    // Still routed, both ways.
    let back = webhook(&second, &call_action("e-2", "s-2", &participant(1), &vn0));
    assert_eq!(back["callflow"][0]["params"]["destination"], participant(0));
    // The in-memory duplicate cache died with the process; the call log still takes a
    // redelivered event once.
    webhook(&second, &call_status("st-1", "s-1", &vn0, &participant(1)));
    let (_, calls) = api(&second, "GET", &format!("/bookings/{id0}/calls"), None);
    let statuses = calls["calls"]
        .as_array()
        .expect("calls")
        .iter()
        .filter(|c| c["type"] == "CALL_STATUS")
        .count();
    assert_eq!(statuses, 1, "{calls}");
    // The conflict rule survives too: participant 0 gets another number.
    let (status, more) = api(
        &second,
        "POST",
        "/bookings",
        Some(&json!({ "participants": [participant(0), participant(99)] })),
    );
    assert_eq!(status, 201, "{more}");
    assert_ne!(more["virtualNumber"], vn0);
    let log_after = second.kill();

    let log = format!("{log_before}{log_after}");
    assert!(
        log.contains("bridging participant"),
        "the plugin's log lines are missing:\n{log}"
    );
    for i in (0..24).chain([99]) {
        let number = participant(i);
        assert!(
            !log.contains(&number[1..]),
            "{number} appears in the host's log:\n{log}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
