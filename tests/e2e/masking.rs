//! Number masking end to end: `plugins/number-masking` built from source, bookings made
//! over the tenant API, calls posted as 8x8 posts them, on a real socket.
//!
//! What belongs here: what the business and the callers see of number masking. The
//! restart of a killed host is in `host/tests/masking_restart.rs` (it needs the real
//! binary).

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use callflow_test_artifacts::NUMBER_MASKING_WASM;
use serde_json::{Value, json};

use crate::api::TEST_KEY_SHA256;
use crate::support::{Host, TenantSpec, event_id};

/// The limits an API-heavy tenant asks for: creations read every slot of the pool.
const LIMITS: &str = "[limits]\nfuel = 100000000\ntimeout_ms = 1000\nmax_concurrency = 256\n";
/// The JavaScript port's: an event costs it 60 to 260 times the Rust plugin's time and
/// fuel (README, "What a Python or JavaScript plugin needs"), so two hundred concurrent
/// creations on two cores need more than a second and more than a quarter of a core.
const JS_LIMITS: &str = "[limits]\nfuel = 100000000\ntimeout_ms = 10000\nmax_concurrency = 256\nfuel_per_second = 20000000000\n";

/// The JavaScript port (`plugins/number-masking-js`), built with the JS SDK, when node is
/// there: every scenario below runs against both plugins, on tenants of their own (the
/// JS ones end in `-js`).
fn js_plugin() -> Option<&'static Path> {
    static JS: OnceLock<Option<PathBuf>> = OnceLock::new();
    JS.get_or_init(|| {
        let wasm = crate::polyglot::tools().js_component("number-masking-js")?;
        crate::polyglot::precompile(&wasm);
        Some(wasm)
    })
    .as_deref()
}

/// The host of `tenant`'s plugin: the Rust plugin's tenants on one host, the JavaScript
/// port's (`-js`) on another, so that neither plugin's bursts, nor building the JS one,
/// touch the other's tests.
fn host_for(tenant: &str) -> &'static Host {
    static RUST: OnceLock<Host> = OnceLock::new();
    static JS: OnceLock<Host> = OnceLock::new();
    if tenant.ends_with("-js") {
        let js = js_plugin().expect("the JS tests run only when it built");
        JS.get_or_init(|| start("masking-js", js, "-js", JS_LIMITS))
    } else {
        RUST.get_or_init(|| start("masking", Path::new(NUMBER_MASKING_WASM), "", LIMITS))
    }
}

/// A host with the scenarios' tenants, each `<id><suffix>`, on `wasm` with `limits`.
fn start(name: &str, wasm: &Path, suffix: &str, limits: &str) -> Host {
    let tenants = [
        // The seed's call action dials +65987654321 (vn-ref-1); 8x8's session summary
        // sample bridges through +6568332048 (PSTN1).
        ("seed", "+65987654321=vn-ref-1,+6568332048=PSTN1", ""),
        (
            "rides",
            "+6568001001=vn-1,+6568001002=vn-2,+6568001003=vn-3",
            "call_recording = \"true\"\nstranger_text = \"This number is not assigned to you.\"\n",
        ),
        ("pair", "+6568002001=vn-1,+6568002002=vn-2", ""),
        ("single", "+6568003001=vn-1", ""),
        ("health", "+6568004001=vn-1,+6568004002=vn-2", ""),
        (
            "race",
            "+6568005001=vn-1,+6568005002=vn-2,+6568005003=vn-3,+6568005004=vn-4,+6568005005=vn-5",
            "",
        ),
    ];
    let ids: Vec<String> = tenants
        .iter()
        .map(|(id, _, _)| format!("{id}{suffix}"))
        .collect();
    let specs: Vec<TenantSpec<'_>> = ids
        .iter()
        .zip(tenants)
        .map(|(id, (_, pool, extra))| TenantSpec {
            id,
            toml: format!(
                "sub_accounts = [\"*\"]\napi_keys_sha256 = [\"{TEST_KEY_SHA256}\"]\n{limits}[config]\npool = \"{pool}\"\n{extra}"
            ),
            wasm: Some(wasm),
        })
        .collect();
    Host::start(name, "[maxima]\ntimeout_ms = 10000\n", &specs)
}

/// Each scenario as a test per plugin: `rust::name` and `js::name` (which skips without
/// node, and fails without it under `CALLFLOW_REQUIRE_SERVERS=1`).
macro_rules! for_both_plugins {
    ($($name:ident),* $(,)?) => {
        mod rust {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name("").await;
                }
            )*
        }
        mod js {
            $(
                #[tokio::test]
                async fn $name() {
                    if super::js_plugin().is_some() {
                        super::$name("-js").await;
                    }
                }
            )*
        }
    };
}

for_both_plugins!(
    the_seeds_payloads_bridge_and_log_a_booked_pair,
    calls_connect_both_ways_with_or_without_plus,
    a_participant_never_gets_a_number_they_already_hold,
    release_frees_the_number_and_expiry_ends_the_booking,
    unhealthy_numbers_take_no_new_bookings_until_active_again,
    repeated_deliveries_are_logged_once,
    two_hundred_concurrent_creations_never_double_assign,
);

/// The tenant's API: status and JSON body.
async fn api(
    client: &reqwest::Client,
    method: &str,
    tenant: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = client
        .request(
            method.parse().expect("method"),
            host_for(tenant).url(&format!("/v1/tenants/{tenant}/api{path}")),
        )
        .bearer_auth("test-key")
        .timeout(Duration::from_secs(30));
    if let Some(body) = body {
        req = req.json(&body);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    let text = resp.text().await.expect("body");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn book(tenant: &str, a: &str, b: &str, ttl: u64) -> (u16, Value) {
    api(
        &reqwest::Client::new(),
        "POST",
        tenant,
        "/bookings",
        Some(json!({ "participants": [a, b], "ttlSeconds": ttl })),
    )
    .await
}

async fn booked(tenant: &str, a: &str, b: &str) -> Value {
    let (status, body) = book(tenant, a, b, 3600).await;
    assert_eq!(status, 201, "{body}");
    body
}

async fn get(tenant: &str, path: &str) -> (u16, Value) {
    api(&reqwest::Client::new(), "GET", tenant, path, None).await
}

/// A call action from `source` to `destination`, written exactly as given (with or
/// without `+`), in a session of its own.
fn dial_body(source: &str, destination: &str, session: &str) -> String {
    json!({
        "namespace": "VOICE", "eventType": "CALL_ACTION", "description": "Action request of a call",
        "payload": {
            "eventId": event_id("dial"), "callId": event_id("call"), "sessionId": session,
            "subAccountId": "8x8_test", "callStatus": "CALL_RECEIVED", "callDirection": "INBOUND",
            "callType": "PSTN", "source": source, "destination": destination,
            "sourceFormat": "MSISDN", "destinationFormat": "MSISDN", "callDuration": 0,
            "sipCode": 200, "timestamp": "2026-01-06T10:17:19.375Z"
        }
    })
    .to_string()
}

async fn dial(tenant: &str, source: &str, destination: &str) -> Value {
    let (status, answer) = host_for(tenant)
        .post(
            tenant,
            &dial_body(source, destination, &event_id("session")),
        )
        .await;
    assert_eq!(status, 200);
    answer
}

/// The makeCall's (source, destination), if the answer is one.
fn bridged(answer: &Value) -> Option<(String, String)> {
    let action = &answer["callflow"][0];
    (action["action"] == "makeCall").then(|| {
        let p = &action["params"];
        (
            p["source"].as_str().unwrap_or_default().to_owned(),
            p["destination"].as_str().unwrap_or_default().to_owned(),
        )
    })
}

fn seed_case(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("cases/webhooks")
        .join(name)
        .join("request.json");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

async fn the_seeds_payloads_bridge_and_log_a_booked_pair(plugin: &str) {
    let tenant = format!("seed{plugin}");
    // The seed's caller +65123456789 rides with +6591234567; 8x8's summary sample bridges
    // +12314377870 to +6591178965. Each pair is booked before its webhooks arrive.
    let first = booked(&tenant, "+65123456789", "+6591234567").await;
    assert_eq!(first["virtualNumber"], "+65987654321");
    assert_eq!(first["virtualNumberRefId"], "vn-ref-1");
    let second = booked(&tenant, "+12314377870", "+6591178965").await;
    assert_eq!(second["virtualNumber"], "+6568332048");

    // The seed's call action, verbatim.
    let (status, answer) = host_for(&tenant)
        .post(&tenant, &seed_case("seed--call_action--call_received"))
        .await;
    assert_eq!(status, 200);
    let id = first["bookingId"].as_str().expect("id");
    assert_eq!(
        answer,
        json!({
            "clientActionId": format!("nm.{id}"),
            "callflow": [{ "action": "makeCall", "params": { "source": "+65987654321", "destination": "+6591234567" } }]
        })
    );

    // The seed's recording event names the session only; here it is that call's.
    let recording = seed_case("seed--call_recording_status--upload_completed").replace(
        "e35e3d0e-065a-11ec-b119-676cb2bc33ef",
        "a1d6a5e2-efec-11e9-b999-efc71013a78f",
    );
    assert_eq!(
        host_for(&tenant).post(&tenant, &recording).await,
        (200, json!({}))
    );
    // The seed's call status is about numbers nobody booked: acknowledged, not logged.
    assert_eq!(
        host_for(&tenant)
            .post(&tenant, &seed_case("seed--call_status--call_received"))
            .await,
        (200, json!({}))
    );
    let (_, calls) = get(&tenant, &format!("/bookings/{id}/calls")).await;
    let types: Vec<&str> = calls["calls"]
        .as_array()
        .expect("calls")
        .iter()
        .map(|c| c["type"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(types, ["CALL_ACTION", "CALL_RECORDING_STATUS"], "{calls}");

    // 8x8's session summary for number masking: found by its legs' numbers.
    let summary = seed_case("session-summary-number-masking--session_summary--completed");
    assert_eq!(
        host_for(&tenant).post(&tenant, &summary).await,
        (200, json!({}))
    );
    let id2 = second["bookingId"].as_str().expect("id");
    let (_, calls) = get(&tenant, &format!("/bookings/{id2}/calls")).await;
    assert_eq!(calls["calls"][0]["type"], "SESSION_SUMMARY", "{calls}");
    assert_eq!(calls["calls"][0]["status"], "COMPLETED");
    assert_eq!(calls["calls"][0]["legs"][1]["to"], "participant:1");
    // Virtual number updates about numbers outside the pool change nothing.
    let update = seed_case("virtual-number-updated--virtual_number_update--update");
    assert_eq!(
        host_for(&tenant).post(&tenant, &update).await,
        (200, json!({}))
    );
}

async fn calls_connect_both_ways_with_or_without_plus(plugin: &str) {
    let tenant = format!("rides{plugin}");
    let a = "+6591110001";
    let b = "+6591110002";
    let booking = booked(&tenant, a, b).await;
    let vn = booking["virtualNumber"].as_str().expect("vn").to_owned();
    let answer = dial(&tenant, a, &vn).await;
    assert_eq!(bridged(&answer), Some((vn.clone(), b.to_owned())));
    assert_eq!(answer["callflow"][0]["params"]["callRecording"], true);
    assert_eq!(
        bridged(&dial(&tenant, &b[1..], &vn[1..]).await),
        Some((vn.clone(), a.to_owned()))
    );
    // A stranger on the same number hears the tenant's text, then the line closes.
    let stranger = dial(&tenant, "+6591110003", &vn).await;
    assert_eq!(
        stranger["callflow"],
        json!([
            { "action": "say", "params": { "text": "This number is not assigned to you.", "voiceProfile": "en-US-BenjaminRUS" } },
            { "action": "hangup" }
        ])
    );
}

async fn a_participant_never_gets_a_number_they_already_hold(plugin: &str) {
    let tenant = format!("pair{plugin}");
    let (a, b, c, d) = ("+6592220001", "+6592220002", "+6592220003", "+6592220004");
    let first = booked(&tenant, a, b).await["virtualNumber"].clone();
    let second = booked(&tenant, a, c).await["virtualNumber"].clone();
    assert_ne!(first, second);
    let (status, body) = book(&tenant, d, a, 3600).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("pool_exhausted")),
        "{body}"
    );
    // Each of A's calls reaches the right person.
    assert_eq!(
        bridged(&dial(&tenant, a, first.as_str().expect("vn")).await).map(|c| c.1),
        Some(b.into())
    );
    assert_eq!(
        bridged(&dial(&tenant, a, second.as_str().expect("vn")).await).map(|c| c.1),
        Some(c.into())
    );
}

async fn release_frees_the_number_and_expiry_ends_the_booking(plugin: &str) {
    let tenant = format!("single{plugin}");
    let (a, b, c) = ("+6593330001", "+6593330002", "+6593330003");
    let first = booked(&tenant, a, b).await;
    let id = first["bookingId"].as_str().expect("id");
    assert_eq!(book(&tenant, a, c, 3600).await.0, 409);
    let (status, released) = api(
        &reqwest::Client::new(),
        "DELETE",
        &tenant,
        &format!("/bookings/{id}"),
        None,
    )
    .await;
    assert_eq!(
        (status, released["status"].as_str()),
        (200, Some("released"))
    );
    let stranger = dial(&tenant, a, "+6568003001").await;
    assert_eq!(stranger["callflow"][0]["action"], "say");

    // A few seconds to live (one for the Rust plugin, three for the slower JS port, so
    // that its booking and first call fit inside them on a loaded machine): bridged now,
    // turned away once they have passed.
    let ttl = if plugin.is_empty() { 1 } else { 3 };
    let (status, short) = book(&tenant, a, c, ttl).await;
    assert_eq!(status, 201, "{short}");
    assert!(bridged(&dial(&tenant, c, "+6568003001").await).is_some());
    tokio::time::sleep(Duration::from_millis(ttl * 1000 + 100)).await;
    assert_eq!(
        dial(&tenant, c, "+6568003001").await["callflow"][0]["action"],
        "say"
    );
    let (_, shown) = get(
        &tenant,
        &format!("/bookings/{}", short["bookingId"].as_str().expect("id")),
    )
    .await;
    assert_eq!(shown["status"], "expired");
    // The number is the pair's again.
    assert_eq!(book(&tenant, a, c, 60).await.0, 201);
    assert_eq!(
        get(&tenant, "/bookings/bk_aaaaaaaaaaaaaaaaaaaaaaaa")
            .await
            .0,
        404
    );
}

fn health_update(number: &str, state: &str) -> String {
    json!({
        "namespace": "VOICE", "eventType": "VIRTUAL_NUMBER_UPDATE",
        "description": "Status of account virtual number(s) updated",
        "payload": { "subAccountId": "8x8_test", "totalNumbers": 1, "updateEventType": "UPDATES",
            "virtualNumbers": [{ "msisdn": number, "updatedTimestamp": "2026-01-06T10:00:00.000Z",
                "countryCode": "SG", "operationalStatus": state, "referenceId": "vn-1",
                "updateStatus": "UPDATED" }] }
    })
    .to_string()
}

async fn unhealthy_numbers_take_no_new_bookings_until_active_again(plugin: &str) {
    let tenant = format!("health{plugin}");
    let existing = booked(&tenant, "+6594440001", "+6594440002").await;
    assert_eq!(existing["virtualNumber"], "+6568004001");
    assert_eq!(
        host_for(&tenant)
            .post(&tenant, &health_update("+6568004001", "Unhealthy"))
            .await
            .0,
        200
    );
    let (_, shown) = get(
        &tenant,
        &format!("/bookings/{}", existing["bookingId"].as_str().expect("id")),
    )
    .await;
    assert_eq!(shown["virtualNumberHealth"], "unhealthy");
    // Calls on the existing booking still connect.
    assert!(bridged(&dial(&tenant, "+6594440001", "+6568004001").await).is_some());
    for i in 3..6 {
        let b = booked(
            &tenant,
            &format!("+659444000{i}"),
            &format!("+659555000{i}"),
        )
        .await;
        assert_eq!(b["virtualNumber"], "+6568004002");
    }
    assert_eq!(
        host_for(&tenant)
            .post(&tenant, &health_update("+6568004001", "Active"))
            .await
            .0,
        200
    );
    assert_eq!(
        booked(&tenant, "+6594440009", "+6595550009").await["virtualNumber"],
        "+6568004001"
    );
}

async fn repeated_deliveries_are_logged_once(plugin: &str) {
    let tenant = format!("rides{plugin}");
    let (a, b) = ("+6596660001", "+6596660002");
    let booking = booked(&tenant, a, b).await;
    let id = booking["bookingId"].as_str().expect("id");
    let vn = booking["virtualNumber"].as_str().expect("vn");
    let session = event_id("dup-session");
    assert!(
        bridged(
            &host_for(&tenant)
                .post(&tenant, &dial_body(a, vn, &session))
                .await
                .1
        )
        .is_some()
    );
    let status = json!({
        "namespace": "VOICE", "eventType": "CALL_STATUS",
        "payload": { "eventId": event_id("dup-status"), "callId": "c2", "sessionId": session,
            "subAccountId": "8x8_test", "callStatus": "CALL_CONNECTED", "callDirection": "OUTBOUND",
            "callType": "PSTN", "source": vn, "destination": b, "callDuration": 0, "sipCode": 200,
            "timestamp": "2026-01-06T10:17:25.000Z" }
    })
    .to_string();
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let status = status.clone();
        let tenant = tenant.clone();
        set.spawn(async move { host_for(&tenant).post(&tenant, &status).await });
    }
    while let Some(r) = set.join_next().await {
        assert_eq!(r.expect("task"), (200, json!({})));
    }
    let (_, calls) = get(&tenant, &format!("/bookings/{id}/calls")).await;
    let types: Vec<&str> = calls["calls"]
        .as_array()
        .expect("calls")
        .iter()
        .map(|c| c["type"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(types, ["CALL_ACTION", "CALL_STATUS"], "{calls}");
}

async fn two_hundred_concurrent_creations_never_double_assign(plugin: &str) {
    let tenant = format!("race{plugin}");
    const REQUESTS: usize = 200;
    const PEOPLE: usize = 24;
    // Overlapping pairs over few people and five numbers: many conflicts, some
    // exhaustion, every creation racing the others on the same five slots.
    let person = |i: usize| format!("+659700{:04}", i % PEOPLE);
    let client = reqwest::Client::new();
    let start = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for k in 0..REQUESTS {
        let a = person(k);
        let b = person(k * 7 + 1 + k / PEOPLE);
        let b = if a == b { person(k + 1) } else { b };
        let client = client.clone();
        let tenant = tenant.clone();
        set.spawn(async move {
            let (status, body) = api(
                &client,
                "POST",
                &tenant,
                "/bookings",
                Some(json!({ "participants": [a, b], "ttlSeconds": 3600 })),
            )
            .await;
            (a, b, status, body)
        });
    }
    let mut created = Vec::new();
    let mut exhausted = 0;
    while let Some(joined) = set.join_next().await {
        let (a, b, status, body) = joined.expect("task");
        match status {
            201 => created.push((a, b, body)),
            409 => {
                assert_eq!(body["code"], "pool_exhausted", "{body}");
                exhausted += 1;
            }
            other => panic!("request for {a} and {b} answered {other}: {body}"),
        }
    }
    let elapsed = start.elapsed();
    assert_eq!(
        created.len() + exhausted,
        REQUESTS,
        "a request went unanswered"
    );
    eprintln!(
        "{REQUESTS} concurrent creations: {} created, {exhausted} pool_exhausted, in {:.2} s",
        created.len(),
        elapsed.as_secs_f64()
    );

    // The conflict rule: no (participant, number) pair twice.
    let mut held: HashSet<(String, String)> = HashSet::new();
    for (a, b, body) in &created {
        let vn = body["virtualNumber"].as_str().expect("vn").to_owned();
        for p in [a, b] {
            assert!(held.insert((p.clone(), vn.clone())), "{p} holds {vn} twice");
        }
    }
    // No booking lost: each one is active, and the slots hold exactly these.
    for (_, _, body) in &created {
        let (status, shown) = get(
            &tenant,
            &format!("/bookings/{}", body["bookingId"].as_str().expect("id")),
        )
        .await;
        assert_eq!(
            (status, shown["status"].as_str()),
            (200, Some("active")),
            "{shown}"
        );
    }
    let (_, pool) = get(&tenant, "/pool").await;
    let in_slots: u64 = pool["numbers"]
        .as_array()
        .expect("numbers")
        .iter()
        .map(|n| n["activeBookings"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(in_slots, created.len() as u64, "{pool}");
    // Spread: no number carries more than its share plus the conflicts forced on it.
    let mut per_number: HashMap<String, usize> = HashMap::new();
    for (_, _, body) in &created {
        *per_number
            .entry(body["virtualNumber"].as_str().expect("vn").to_owned())
            .or_default() += 1;
    }
    assert_eq!(per_number.len(), 5, "{per_number:?}");
    // Every person can hold each of the five numbers once: 24 × 5 / 2 bookings at most.
    assert!(created.len() <= PEOPLE * 5 / 2);
}
