//! Several hosts sharing one real `redis-server` (skipped when it is not installed, a
//! failure under `.ci/run`): tenant state written through one node is what every other
//! node reads.
//!
//! What is shared so far: the tenants' key-value store and which node answers a
//! delivery. Tenant configuration, plugin versions and session pins are still each node's
//! own (every node here is given the same tenants directory).

use std::path::Path;

use callflow_test_artifacts::{HOSTILE_WASM, NUMBER_MASKING_WASM};
use callflow_test_servers::RedisServer;
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
        &[
            TenantSpec {
                id: "rides",
                toml,
                wasm: Some(Path::new(NUMBER_MASKING_WASM)),
            },
            // Adds one to its `count` key on every event it runs, and says the count.
            TenantSpec {
                id: "counter",
                toml: "sub_accounts = [\"*\"]\n[config]\nmode = \"kv\"\n".into(),
                wasm: Some(Path::new(HOSTILE_WASM)),
            },
        ],
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

fn redis(test: &str) -> Option<RedisServer> {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    RedisServer::start(&dir, test)
}

async fn ready(host: &Host) -> (u16, Value) {
    let resp = reqwest::get(host.url("/readyz")).await.expect("readyz");
    let status = resp.status().as_u16();
    (status, resp.json().await.expect("json"))
}

#[tokio::test]
async fn a_booking_made_through_one_node_is_honoured_by_a_call_on_another() {
    let Some(redis) = redis("cluster-booking") else {
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

fn said(answer: &Value) -> String {
    answer["callflow"][0]["params"]["text"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn one_event_delivered_to_two_nodes_at_once_runs_the_plugin_once() {
    let Some(redis) = redis("cluster-dedupe") else {
        return;
    };
    let (a, b) = (node("a", &redis), node("b", &redis));
    for round in 1..=10 {
        let body = crate::support::call_action(&event_id("twice"), None, None);
        let (from_a, from_b) = tokio::join!(a.post("counter", &body), b.post("counter", &body));
        assert_eq!((from_a.0, from_b.0), (200, 200));
        // Both nodes answer with the one run's callflow.
        assert_eq!(from_a.1, from_b.1, "round {round}");
        assert_eq!(said(&from_a.1), format!("count {round}"), "round {round}");
    }
    // A new event runs once more: the ten pairs ran the plugin ten times, not twenty.
    let (_, next) = b
        .post(
            "counter",
            &crate::support::call_action(&event_id("next"), None, None),
        )
        .await;
    assert_eq!(said(&next), "count 11");
    let metrics = a.metrics().await + &b.metrics().await;
    let duplicates: u64 = metrics
        .lines()
        .filter(|l| {
            l.starts_with("callflow_webhooks_total{tenant=\"counter\"")
                && l.contains("outcome=\"duplicate\"")
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum();
    assert_eq!(
        duplicates, 10,
        "one of each pair was a duplicate:\n{metrics}"
    );
}

#[tokio::test]
async fn while_redis_is_down_calls_get_the_fallback_and_the_node_recovers_by_itself() {
    let Some(mut redis) = redis("cluster-down") else {
        return;
    };
    let a = node("a", &redis);
    let (rider, driver) = ("+6591240001", "+6591240002");
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
    assert_eq!(ready(&a).await.0, 200);

    redis.kill();
    // Within a few health checks the node says it is not ready.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let mut state = ready(&a).await;
    while state.0 != 503 && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        state = ready(&a).await;
    }
    assert_eq!(state.0, 503, "{}", state.1);
    assert_eq!(state.1["store"], "unreachable");
    // A caller hears the tenant's fallback, never an error.
    let (status, answer) = a.post("rides", &dial(rider, &vn)).await;
    assert_eq!(status, 200);
    assert_eq!(answer, crate::support::default_fallback(), "{answer}");
    // The plugin's API says why it cannot answer.
    let (status, refused) = api(&a, "GET", "/bookings", None).await;
    assert_eq!(
        (status, refused["code"].as_str()),
        (503, Some("store_unavailable")),
        "{refused}"
    );

    // Redis comes back from its AOF; the node reconnects by itself and the booking,
    // acknowledged before the crash, is still there.
    redis.restart();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while ready(&a).await.0 != 200 && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(ready(&a).await.0, 200);
    let (status, answer) = a.post("rides", &dial(rider, &vn)).await;
    assert_eq!(status, 200);
    assert_eq!(answer["callflow"][0]["action"], "makeCall", "{answer}");
    assert_eq!(answer["callflow"][0]["params"]["destination"], driver);
}

/// A node whose tenants come from the cluster's catalog (its own folder starts empty,
/// or seeds an empty catalog with `tenants`).
fn catalog_node(name: &str, redis: &RedisServer, tenants: &[TenantSpec<'_>]) -> Host {
    Host::start(
        &format!("catalog-{name}"),
        &format!(
            "[cluster]\nredis_url = \"{}\"\nnode_id = \"{name}\"\n",
            redis.url()
        ),
        tenants,
    )
}

async fn admin(host: &Host, method: &str, path: &str, body: Vec<u8>) -> (u16, Value) {
    let resp = reqwest::Client::new()
        .request(method.parse().expect("method"), host.url(path))
        .bearer_auth(crate::support::OPERATOR_TOKEN)
        .body(body)
        .send()
        .await
        .expect("admin request");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// Which plugin answers a new call to `tenant` on `host`: "ivr", "masking", or what came.
async fn who_answers(host: &Host, tenant: &str) -> String {
    let (status, answer) = host
        .post(
            tenant,
            &crate::support::call_action(&event_id("who"), None, None),
        )
        .await;
    match (
        status,
        answer["clientActionId"].as_str(),
        answer["callflow"][0]["action"].as_str(),
    ) {
        (200, Some("main_menu"), _) => "ivr".into(),
        (200, None, Some("say")) => "masking".into(),
        _ => format!("{status} {answer}"),
    }
}

/// Polls until `host` answers `tenant` with `want`; how long it took.
async fn until_serving(host: &Host, tenant: &str, want: &str) -> std::time::Duration {
    let start = std::time::Instant::now();
    loop {
        let got = who_answers(host, tenant).await;
        if got == want {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < std::time::Duration::from_secs(10),
            "{tenant} still answers {got}, not {want}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}

/// `wasm` with a custom section named after `n` at its end: the same plugin under a
/// digest of its own, which no node has compiled yet.
fn with_custom_section(mut wasm: Vec<u8>, n: usize) -> Vec<u8> {
    let name = format!("callflow-test-{n}");
    assert!(name.len() < 0x80);
    wasm.push(0); // custom section
    wasm.push(u8::try_from(name.len() + 1).expect("short"));
    wasm.push(u8::try_from(name.len()).expect("short"));
    wasm.extend_from_slice(name.as_bytes());
    wasm
}

#[tokio::test]
async fn uploads_and_activations_through_one_node_serve_on_every_node() {
    let Some(redis) = redis("cluster-catalog") else {
        return;
    };
    let acme = format!("sub_accounts = [\"*\"]\n{}", crate::support::IVR_CONFIG);
    // A seeds the empty catalog with its folder; B starts with none and gets it.
    let a = catalog_node(
        "a",
        &redis,
        &[TenantSpec {
            id: "acme",
            toml: acme.clone(),
            wasm: Some(Path::new(callflow_test_artifacts::IVR_WASM)),
        }],
    );
    until_serving(&a, "acme", "ivr").await;
    // B's folder has a tenant of its own that the catalog never had: B keeps serving it
    // (its files are the operator's), and it does not spread.
    let b = catalog_node(
        "b",
        &redis,
        &[TenantSpec {
            id: "local-only",
            toml: acme.clone(),
            wasm: Some(Path::new(callflow_test_artifacts::IVR_WASM)),
        }],
    );
    until_serving(&b, "acme", "ivr").await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(who_answers(&b, "local-only").await, "ivr");
    assert_eq!(
        a.post(
            "local-only",
            &crate::support::call_action(&event_id("x"), None, None)
        )
        .await
        .0,
        404
    );

    // Two versions uploaded through A, not activated.
    let mut digests = Vec::new();
    for wasm in [callflow_test_artifacts::IVR_WASM, NUMBER_MASKING_WASM] {
        let (status, v) = admin(
            &a,
            "POST",
            "/v1/admin/tenants/acme/versions?activate=false",
            std::fs::read(wasm).expect("wasm"),
        )
        .await;
        assert_eq!(status, 201, "{v}");
        digests.push(v["digest"].as_str().expect("digest").to_owned());
    }
    // Twenty activations, alternating the node that takes them: each serves on the
    // other node in the time printed.
    let mut took = Vec::new();
    for round in 0..20 {
        let (via, other) = if round % 2 == 0 { (&a, &b) } else { (&b, &a) };
        let (digest, want) = if round % 2 == 0 {
            (&digests[1], "masking")
        } else {
            (&digests[0], "ivr")
        };
        let (status, v) = admin(
            via,
            "POST",
            &format!("/v1/admin/tenants/acme/versions/{digest}/activate"),
            Vec::new(),
        )
        .await;
        assert_eq!(status, 200, "round {round}: {v}");
        assert_eq!(
            who_answers(via, "acme").await,
            want,
            "round {round}, on the node that took it"
        );
        took.push(until_serving(other, "acme", want).await);
    }
    took.sort();
    eprintln!(
        "activation to serving on the other node, 20 activations: p50 {:?}, p100 {:?}",
        took[took.len() / 2],
        took[took.len() - 1]
    );
    // Ten uploads of versions no node has seen (each plugin with a custom section of its
    // own), alternating the node that takes them: each is activated once both nodes have
    // compiled it, and then serves on the other node in the time printed.
    let mut took = Vec::new();
    for round in 0..10 {
        let (via, other) = if round % 2 == 0 { (&a, &b) } else { (&b, &a) };
        let (wasm, want) = if round % 2 == 0 {
            (NUMBER_MASKING_WASM, "masking")
        } else {
            (callflow_test_artifacts::IVR_WASM, "ivr")
        };
        let wasm = with_custom_section(std::fs::read(wasm).expect("wasm"), round);
        let (status, v) = admin(via, "POST", "/v1/admin/tenants/acme/versions", wasm).await;
        assert_eq!(status, 201, "round {round}: {v}");
        assert_eq!(
            v["nodes"],
            json!({ "ready": ["a", "b"], "late": [] }),
            "round {round}"
        );
        took.push(until_serving(other, "acme", want).await);
    }
    took.sort();
    eprintln!(
        "upload of a new version to serving on the other node, 10 uploads: p50 {:?}, p100 {:?}",
        took[took.len() / 2],
        took[took.len() - 1]
    );
    // Roll back through B: A serves the version before.
    let (status, v) = admin(&b, "POST", "/v1/admin/tenants/acme/rollback", Vec::new()).await;
    assert_eq!(status, 200, "{v}");
    until_serving(&a, "acme", "masking").await;

    // A tenant created through B serves on A; deleted through A, it is gone from B.
    let (status, v) = admin(&b, "PUT", "/v1/admin/tenants/globex", acme.into_bytes()).await;
    assert_eq!(status, 201, "{v}");
    let (status, v) = admin(
        &b,
        "POST",
        "/v1/admin/tenants/globex/versions",
        std::fs::read(callflow_test_artifacts::IVR_WASM).expect("ivr"),
    )
    .await;
    assert_eq!(status, 201, "{v}");
    until_serving(&a, "globex", "ivr").await;
    let (status, _) = admin(&a, "DELETE", "/v1/admin/tenants/globex", Vec::new()).await;
    assert_eq!(status, 204);
    let start = std::time::Instant::now();
    while b
        .post(
            "globex",
            &crate::support::call_action(&event_id("gone"), None, None),
        )
        .await
        .0
        != 404
    {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(10),
            "globex still on B"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn a_call_stays_on_its_version_on_every_node_after_an_activation() {
    let Some(redis) = redis("cluster-pins") else {
        return;
    };
    let a = catalog_node(
        "a",
        &redis,
        &[TenantSpec {
            id: "pinned",
            toml: format!("sub_accounts = [\"*\"]\n{}", crate::support::IVR_CONFIG),
            wasm: Some(Path::new(callflow_test_artifacts::IVR_WASM)),
        }],
    );
    until_serving(&a, "pinned", "ivr").await;
    let b = catalog_node("b", &redis, &[]);
    until_serving(&b, "pinned", "ivr").await;
    let (status, v2) = admin(
        &a,
        "POST",
        "/v1/admin/tenants/pinned/versions?activate=false",
        std::fs::read(NUMBER_MASKING_WASM).expect("masking"),
    )
    .await;
    assert_eq!(status, 201, "{v2}");

    // The call starts on A, on the IVR.
    let session = event_id("pinned-call");
    let first = crate::support::call_action_in(&session, &event_id("e"), None, None);
    let (status, menu) = a.post("pinned", &first).await;
    assert_eq!(
        (status, menu["clientActionId"].as_str()),
        (200, Some("main_menu")),
        "{menu}"
    );

    // Version 2 is activated through B, and serves new calls on both nodes.
    let digest = v2["digest"].as_str().expect("digest");
    let path = format!("/v1/admin/tenants/pinned/versions/{digest}/activate");
    assert_eq!(admin(&b, "POST", &path, Vec::new()).await.0, 200);
    until_serving(&a, "pinned", "masking").await;
    until_serving(&b, "pinned", "masking").await;

    // The call's next event lands on B: the caller pressed 3 in the IVR's menu, and the
    // IVR (version 1) answers it.
    let next =
        crate::support::call_action_in(&session, &event_id("e"), Some("main_menu"), Some("3"));
    let (status, hours) = b.post("pinned", &next).await;
    assert_eq!(status, 200);
    assert_eq!(
        said(&hours),
        "Our restaurant hours are between 9AM and 9PM every day of the week.",
        "{hours}"
    );
}
