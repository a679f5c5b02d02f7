//! A host told to stop (SIGTERM), as a rolling restart tells it: it first says it is not
//! ready, keeps answering while the load balancer moves calls away, finishes what is in
//! flight, and exits cleanly.

use std::io::Read as _;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::Server;

/// sha256 of `test-key`.
const TEST_KEY_SHA256: &str = "62af8704764faf8ea82fc61ce9c4c3908b6cb97d463a634e9e587d7c885db0ef";

fn call_action(n: usize) -> Vec<u8> {
    json!({
        "namespace": "VOICE", "eventType": "CALL_ACTION",
        "payload": { "eventId": format!("drain-{n}"), "callId": "c", "sessionId": format!("s-{n}"),
            "subAccountId": "8x8_test", "callStatus": "CALL_RECEIVED", "callDirection": "INBOUND",
            "callType": "PSTN", "source": "+6591178965", "destination": "+6568009001",
            "callDuration": 0, "sipCode": 200, "timestamp": "2026-01-06T10:17:19.375Z" }
    })
    .to_string()
    .into_bytes()
}

#[test]
fn a_host_told_to_stop_says_not_ready_finishes_its_work_and_exits() {
    let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("drain-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let tenants = root.join("tenants");
    for (id, wasm, toml) in [
        (
            "ivr",
            callflow_test_artifacts::IVR_WASM,
            "sub_accounts = [\"*\"]\n[config]\nvirtual_number = \"+6512345678\"\nrepresentative_number = \"+6587654321\"\n".to_owned(),
        ),
        (
            "slow",
            callflow_test_artifacts::HOSTILE_WASM,
            format!("sub_accounts = [\"*\"]\napi_keys_sha256 = [\"{TEST_KEY_SHA256}\"]\n[limits]\nfuel = 100000000000\ntimeout_ms = 1000\n[config]\nmode = \"slow\"\ndelay_ms = \"700\"\n"),
        ),
    ] {
        std::fs::create_dir_all(tenants.join(id)).expect("tenant dir");
        std::fs::write(tenants.join(id).join("tenant.toml"), toml).expect("toml");
        std::fs::copy(wasm, tenants.join(id).join("plugin.wasm")).expect("plugin");
    }
    // The slow plugin spins on the wall clock: it needs more fuel than the default maximum.
    let host_toml = root.join("host.toml");
    std::fs::write(&host_toml, "[maxima]\nfuel = 100000000000\n").expect("host.toml");
    let host_toml = host_toml.to_str().expect("utf-8 path");
    let mut server = Server::start_with(
        &tenants,
        &root.join("data"),
        None,
        &["--drain-ms", "1500", "--config", host_toml],
    );
    let (status, ready) = server.request("GET", "/readyz", &[], b"");
    assert_eq!(
        (status, &ready["draining"]),
        (200, &json!(false)),
        "{ready}"
    );
    // Warm the slow plugin so its request below is the 700 ms it spins, not a compile.
    let key = [("Authorization", "Bearer test-key")];
    let (status, warm) = server.request("GET", "/v1/tenants/slow/api/work", &key, b"");
    assert_eq!(status, 200, "{warm}");

    // A request in flight when the stop comes.
    let mut in_flight = server.send("GET", "/v1/tenants/slow/api/work", &key, b"");
    std::thread::sleep(Duration::from_millis(100));
    let stopped_at = Instant::now();
    server.terminate();
    // It says so at once, and still answers calls while the balancer catches up.
    let mut said_not_ready = false;
    while stopped_at.elapsed() < Duration::from_millis(1000) {
        let (status, ready) = server.request("GET", "/readyz", &[], b"");
        if status == 503 {
            assert_eq!(ready["draining"], true, "{ready}");
            said_not_ready = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(said_not_ready, "not ready within a second of SIGTERM");
    let json = [("Content-Type", "application/json")];
    let (status, answer) = server.request(
        "POST",
        "/v1/tenants/ivr/webhooks/voice",
        &json,
        &call_action(1),
    );
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["clientActionId"], "main_menu");
    // The request in flight finishes with its answer.
    let mut raw = String::new();
    in_flight.read_to_string(&mut raw).expect("read");
    assert!(raw.starts_with("HTTP/1.1 200"), "{raw}");
    // Then it exits, cleanly, after the drain.
    let status = server.wait_exit(Duration::from_secs(10)).expect("it exits");
    assert!(status.success(), "{status}");
    assert!(
        stopped_at.elapsed() >= Duration::from_millis(1500),
        "it drained first"
    );
    assert!(
        std::net::TcpStream::connect(server.addr).is_err(),
        "no longer listening"
    );
}
