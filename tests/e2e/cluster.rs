//! Several hosts sharing one real `redis-server` (skipped when it is not installed, a
//! failure under `.ci/run`): tenant state written through one node is what every other
//! node reads.
//!
//! What is shared so far: the tenants' key-value store. Tenant configuration, plugin
//! versions, session pins and the duplicate-delivery cache are still each node's own
//! (every node here is given the same tenants directory).

use std::path::Path;

use callflow_test_artifacts::NUMBER_MASKING_WASM;
use callflow_tests::servers::RedisServer;
use serde_json::{Value, json};

use crate::api::TEST_KEY_SHA256;
use crate::support::{Host, TenantSpec, event_id};

fn node(name: &str, redis: &RedisServer) -> Host {
    let toml = format!(
        "sub_accounts = [\"*\"]\napi_keys_sha256 = [\"{TEST_KEY_SHA256}\"]\n[limits]\nfuel = 100000000\ntimeout_ms = 1000\n[config]\npool = \"+6568009001=vn-1,+6568009002=vn-2\"\n"
    );
    Host::start(
        &format!("cluster-{name}"),
        &format!(
            "[cluster]\nredis_url = \"{}\"\nnode_id = \"{name}\"\n",
            redis.url()
        ),
        &[TenantSpec {
            id: "rides",
            toml,
            wasm: Some(Path::new(NUMBER_MASKING_WASM)),
        }],
    )
}

async fn api(host: &Host, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut req = reqwest::Client::new()
        .request(
            method.parse().expect("method"),
            host.url(&format!("/v1/tenants/rides/api{path}")),
        )
        .bearer_auth("test-key");
    if let Some(body) = body {
        req = req.json(&body);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

fn dial(source: &str, destination: &str) -> String {
    json!({
        "namespace": "VOICE", "eventType": "CALL_ACTION", "description": "Action request of a call",
        "payload": {
            "eventId": event_id("dial"), "callId": event_id("call"), "sessionId": event_id("session"),
            "subAccountId": "8x8_test", "callStatus": "CALL_RECEIVED", "callDirection": "INBOUND",
            "callType": "PSTN", "source": source, "destination": destination,
            "sourceFormat": "MSISDN", "destinationFormat": "MSISDN", "callDuration": 0,
            "sipCode": 200, "timestamp": "2026-01-06T10:17:19.375Z"
        }
    })
    .to_string()
}

#[tokio::test]
async fn a_booking_made_through_one_node_is_honoured_by_a_call_on_another() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("cluster-redis-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let Some(redis) = RedisServer::start(
        &dir,
        "a_booking_made_through_one_node_is_honoured_by_a_call_on_another",
    ) else {
        return;
    };
    let (a, b) = (node("a", &redis), node("b", &redis));
    let (rider, driver) = ("+6591230001", "+6591230002");
    let (status, booking) = api(
        &a,
        "POST",
        "/bookings",
        Some(json!({ "participants": [rider, driver], "ttlSeconds": 600 })),
    )
    .await;
    assert_eq!(status, 201, "{booking}");
    let vn = booking["virtualNumber"]
        .as_str()
        .expect("a number")
        .to_owned();
    // The rider's call lands on node B, which bridges it to the driver.
    let (status, answer) = b.post("rides", &dial(rider, &vn)).await;
    assert_eq!(status, 200);
    assert_eq!(answer["callflow"][0]["action"], "makeCall", "{answer}");
    assert_eq!(answer["callflow"][0]["params"]["destination"], driver);
    // Node B sees the booking through its own API; the pool's other number is the only
    // one left, whichever node asks.
    let id = booking["bookingId"].as_str().expect("an id");
    let (status, seen) = api(&b, "GET", &format!("/bookings/{id}"), None).await;
    assert_eq!(
        (status, &seen["virtualNumber"]),
        (200, &json!(vn)),
        "{seen}"
    );
    let (status, second) = api(
        &b,
        "POST",
        "/bookings",
        Some(json!({ "participants": [rider, "+6591230003"], "ttlSeconds": 600 })),
    )
    .await;
    assert_eq!(status, 201, "{second}");
    assert_ne!(
        second["virtualNumber"],
        json!(vn),
        "one number, two bookings"
    );
    // Each node names itself.
    let ready: Value = reqwest::get(b.url("/readyz"))
        .await
        .expect("readyz")
        .json()
        .await
        .expect("json");
    assert_eq!(ready["node"], "b");
    assert!(
        a.metrics()
            .await
            .contains("callflow_node_info{node=\"a\"} 1")
    );
}
