//! The plugin natively, through the SDK's harness: allocation, routing, the call log,
//! health and validation. Concurrency is proven end to end (`tests/e2e/masking.rs`),
//! where real instances race on the real store.

use std::time::Duration;

use callflow_sdk::api::{Request, Response};
use callflow_sdk::prelude::*;
use callflow_sdk::testing::{Harness, call_action, event_from_json};
use serde_json::{Value, json};

use super::*;

const POOL: &str = "+6568001001=vn-1, +6568001002=vn-2,+6568001003=vn-3";
const A: &str = "+6591234567";
const B: &str = "+6598765432";
const C: &str = "+6590001111";
const D: &str = "+6590002222";

fn harness(pool: &str) -> Harness {
    Harness::new().config("pool", pool)
}

fn book(h: &Harness, a: &str, b: &str) -> Response {
    h.api::<NumberMasking>(
        Request::post("/bookings")
            .with_json(&json!({ "participants": [a, b], "ttlSeconds": 3600 })),
    )
}

fn booked(h: &Harness, a: &str, b: &str) -> Value {
    let r = book(h, a, b);
    assert_eq!(r.status(), 201, "{}", r.json_value());
    r.json_value()
}

fn get(h: &Harness, path: &str) -> Response {
    h.api::<NumberMasking>(Request::get(path))
}

/// Dials `vn` from `from`; the callflow's JSON.
fn dial(h: &Harness, from: &str, vn: &str) -> Value {
    let flow = h
        .handle::<NumberMasking>(call_action().source(from).destination(vn))
        .expect("handled")
        .expect("a callflow");
    serde_json::from_str(&flow.to_json()).expect("json")
}

fn make_call(flow: &Value) -> Option<(String, String)> {
    let action = &flow["callflow"][0];
    (action["action"] == "makeCall").then(|| {
        (
            action["params"]["source"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            action["params"]["destination"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        )
    })
}

#[test]
fn a_booking_gets_a_number_and_connects_both_ways() {
    let h = harness(POOL);
    let b = booked(&h, A, B);
    assert_eq!(b["status"], "active");
    assert_eq!(b["virtualNumber"], "+6568001001");
    assert_eq!(b["virtualNumberRefId"], "vn-1");
    assert_eq!(b["participants"], json!([A, B]));
    assert_eq!(b["createdAt"], "2026-01-01T00:00:00.000Z");
    assert_eq!(b["expiresAt"], "2026-01-01T01:00:00.000Z");
    let id = b["bookingId"].as_str().expect("id");
    assert!(bookings::valid_id(id), "{id}");

    let vn = "+6568001001";
    assert_eq!(make_call(&dial(&h, A, vn)), Some((vn.into(), B.into())));
    assert_eq!(make_call(&dial(&h, B, vn)), Some((vn.into(), A.into())));
    // 8x8 may write numbers without `+`, on either side.
    assert_eq!(
        make_call(&dial(&h, "6598765432", "6568001001")),
        Some((vn.into(), A.into()))
    );
    let shown = get(&h, &format!("/bookings/{id}"));
    assert_eq!(shown.status(), 200);
    assert_eq!(shown.json_value()["status"], "active");
    assert_eq!(shown.json_value()["virtualNumberHealth"], "active");
}

#[test]
fn the_bridge_never_carries_a_real_number_in_its_client_action_id_or_the_log() {
    let h = harness(POOL).config("call_recording", "true");
    let b = booked(&h, A, B);
    let flow = dial(&h, A, "+6568001001");
    let id = flow["clientActionId"].as_str().expect("an id");
    assert_eq!(id, format!("nm.{}", b["bookingId"].as_str().expect("id")));
    assert!(!id.contains("91234567") && !id.contains("98765432"));
    assert_eq!(flow["callflow"][0]["params"]["callRecording"], true);
    let logs = format!("{:?}", h.logs());
    for number in [A, B, "6591234567", "6598765432", "1234567", "8765432"] {
        assert!(!logs.contains(number), "{number} in {logs}");
    }
    assert!(logs.contains("*4567") && logs.contains("*5432"), "{logs}");
}

#[test]
fn after_the_bridge_the_call_hangs_up() {
    let h = harness(POOL);
    booked(&h, A, B);
    let flow = h
        .handle::<NumberMasking>(
            call_action()
                .source(A)
                .destination("+6568001001")
                .client_action_id("nm.bk_whatever"),
        )
        .expect("ok")
        .expect("flow");
    assert_eq!(flow.actions, [Action::Hangup]);
}

#[test]
fn strangers_hear_the_configured_apology_and_a_hangup() {
    let h = harness(POOL).config("stranger_text", "No booking, no call.");
    booked(&h, A, B);
    let flow = dial(&h, C, "+6568001001");
    assert_eq!(flow["callflow"][0]["action"], "say");
    assert_eq!(
        flow["callflow"][0]["params"]["text"],
        "No booking, no call."
    );
    assert_eq!(flow["callflow"][1]["action"], "hangup");
    // A participant dialling another pool number than their booking's is a stranger there.
    assert_eq!(dial(&h, A, "+6568001002")["callflow"][0]["action"], "say");
    // So is anyone dialling a number outside the pool.
    assert_eq!(dial(&h, A, "+6500000000")["callflow"][0]["action"], "say");
}

#[test]
fn bookings_spread_over_the_pool_least_loaded_first() {
    let h = harness(POOL);
    let numbers: Vec<Value> = [(A, B), (C, D), ("+6511111111", "+6522222222")]
        .iter()
        .map(|(a, b)| booked(&h, a, b)["virtualNumber"].clone())
        .collect();
    assert_eq!(numbers, ["+6568001001", "+6568001002", "+6568001003"]);
    // All at one booking each: the tie goes to the first number.
    assert_eq!(
        booked(&h, "+6533333333", "+6544444444")["virtualNumber"],
        "+6568001001"
    );
}

#[test]
fn a_participant_never_holds_the_same_number_twice() {
    let h = harness("+6568001001=vn-1,+6568001002=vn-2");
    let first = booked(&h, A, B)["virtualNumber"].clone();
    let second = booked(&h, A, C)["virtualNumber"].clone();
    assert_ne!(first, second, "A got the same number twice");
    // B holds only the first number; D none: B and D fit on the second.
    assert_eq!(booked(&h, B, D)["virtualNumber"], second);
    // A holds both numbers now: nothing fits.
    let r = book(&h, D, A);
    assert_eq!(r.status(), 409);
    assert_eq!(r.json_value()["code"], "pool_exhausted");
    // Each call still reaches the right person.
    assert_eq!(
        make_call(&dial(&h, A, first.as_str().expect("n"))).map(|c| c.1),
        Some(B.into())
    );
    assert_eq!(
        make_call(&dial(&h, A, second.as_str().expect("n"))).map(|c| c.1),
        Some(C.into())
    );
}

#[test]
fn deleting_a_booking_frees_the_number_at_once() {
    let h = harness("+6568001001=vn-1");
    let b = booked(&h, A, B);
    let id = b["bookingId"].as_str().expect("id");
    assert_eq!(book(&h, A, C).status(), 409);
    let released = h.api::<NumberMasking>(Request::delete(&format!("/bookings/{id}")));
    assert_eq!(released.status(), 200);
    assert_eq!(released.json_value()["status"], "released");
    assert_eq!(
        released.json_value()["releasedAt"],
        "2026-01-01T00:00:00.000Z"
    );
    assert_eq!(dial(&h, A, "+6568001001")["callflow"][0]["action"], "say");
    assert_eq!(booked(&h, A, C)["virtualNumber"], "+6568001001");
    // Releasing again changes nothing and says so.
    let again = h.api::<NumberMasking>(Request::delete(&format!("/bookings/{id}")));
    assert_eq!(
        (again.status(), again.json_value()["status"].clone()),
        (200, json!("released"))
    );
    assert_eq!(
        get(&h, &format!("/bookings/{id}")).json_value()["status"],
        "released"
    );
}

#[test]
fn bookings_expire_with_their_time_to_live() {
    let h = harness("+6568001001=vn-1");
    let r = h.api::<NumberMasking>(
        Request::post("/bookings").with_json(&json!({ "participants": [A, B], "ttlSeconds": 60 })),
    );
    let id = r.json_value()["bookingId"].as_str().expect("id").to_owned();
    h.advance(Duration::from_secs(59));
    assert!(make_call(&dial(&h, A, "+6568001001")).is_some());
    h.advance(Duration::from_secs(1));
    assert_eq!(dial(&h, A, "+6568001001")["callflow"][0]["action"], "say");
    assert_eq!(
        get(&h, &format!("/bookings/{id}")).json_value()["status"],
        "expired"
    );
    // The number is the pair's to have again.
    assert_eq!(booked(&h, A, C)["virtualNumber"], "+6568001001");
    // And the record is gone once the retention has passed too.
    h.advance(Duration::from_secs(8 * 86_400));
    assert_eq!(get(&h, &format!("/bookings/{id}")).status(), 404);
}

#[test]
fn the_default_time_to_live_comes_from_the_configuration() {
    let h = harness(POOL).config("default_ttl_seconds", "90");
    let r = h.api::<NumberMasking>(
        Request::post("/bookings").with_json(&json!({ "participants": [A, B] })),
    );
    assert_eq!(r.json_value()["expiresAt"], "2026-01-01T00:01:30.000Z");
}

#[test]
fn invalid_requests_get_clear_codes() {
    let h = harness(POOL);
    let post = |body: Value| h.api::<NumberMasking>(Request::post("/bookings").with_json(&body));
    let code = |r: Response| {
        (
            r.status(),
            r.json_value()["code"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        )
    };
    assert_eq!(
        code(post(json!({ "participants": [A, "12ab"] }))),
        (422, "invalid_number".into())
    );
    assert_eq!(
        code(post(json!({ "participants": [A, "6591234567"] }))),
        (422, "same_participant".into())
    );
    assert_eq!(
        code(post(json!({ "participants": [A] }))),
        (422, "invalid_participants".into())
    );
    assert_eq!(
        code(post(json!({ "ttlSeconds": 5 }))),
        (422, "missing_field".into())
    );
    assert_eq!(
        code(post(json!({ "participants": [A, B], "ttlSeconds": 0 }))),
        (422, "invalid_ttl".into())
    );
    assert_eq!(
        code(post(
            json!({ "participants": [A, B], "ttlSeconds": 999_999_999 })
        )),
        (422, "invalid_ttl".into())
    );
    assert_eq!(
        code(post(json!({ "participants": [A, B], "ttl": 5 }))),
        (422, "invalid_field".into())
    );
    assert_eq!(
        code(post(json!({ "participants": [A, "+6568001002"] }))),
        (422, "invalid_number".into())
    );
    assert_eq!(
        code(h.api::<NumberMasking>(Request::post("/bookings").with_body("{nope"))),
        (400, "malformed_json".into())
    );
    assert_eq!(
        code(get(&h, "/bookings/bk_aaaaaaaaaaaaaaaaaaaaaaaa")),
        (404, "unknown_booking".into())
    );
    assert_eq!(
        code(get(&h, "/bookings/..%2Fhealth")),
        (404, "unknown_booking".into())
    );
    assert_eq!(code(get(&h, "/nothing")), (404, "not_found".into()));
    assert_eq!(
        code(harness("").api::<NumberMasking>(Request::get("/pool"))),
        (503, "pool_not_configured".into())
    );
}

#[test]
fn a_misconfigured_pool_gives_callers_the_fallback() {
    for pool in ["", "+65abc=x", "+6568001001,+6568001001"] {
        let err = harness(pool)
            .handle::<NumberMasking>(call_action())
            .expect_err("no pool");
        assert!(
            matches!(err, PluginError::Unavailable(ref m) if m.contains("pool")),
            "{err:?}"
        );
    }
}

fn status_event(
    event_id: &str,
    session: &str,
    status: &str,
    direction: &str,
    source: &str,
    destination: &str,
) -> Event {
    event_from_json(&json!({
        "namespace": "VOICE", "eventType": "CALL_STATUS", "description": "Status update of a call",
        "payload": {
            "eventId": event_id, "callId": format!("call-{event_id}"), "sessionId": session,
            "subAccountId": "acc", "callStatus": status, "callDirection": direction,
            "callType": "PSTN", "source": source, "destination": destination,
            "callDuration": 7, "sipCode": 200, "timestamp": "2026-01-01T00:00:05.000Z"
        }
    }).to_string())
}

#[test]
fn call_events_are_logged_once_each_with_roles_not_numbers() {
    let h = harness(POOL);
    let id = booked(&h, A, B)["bookingId"]
        .as_str()
        .expect("id")
        .to_owned();
    let vn = "+6568001001";
    h.handle::<NumberMasking>(
        call_action()
            .source(A)
            .destination(vn)
            .session_id("s1")
            .event_id("e0"),
    )
    .expect("bridged");
    let connected = status_event("e1", "s1", "CALL_CONNECTED", "OUTBOUND", vn, B);
    for _ in 0..3 {
        h.handle::<NumberMasking>(connected.clone())
            .expect("logged");
    }
    // A status of a session the plugin never bridged is found by its numbers.
    h.handle::<NumberMasking>(status_event("e2", "s2", "CALL_RECEIVED", "INBOUND", B, vn))
        .expect("logged");
    h.handle::<NumberMasking>(event_from_json(
        r#"{"eventType":"CALL_RECORDING_STATUS","payload":{"sessionId":"s1","recordingId":"r1","durationSeconds":25,"status":"UPLOAD_COMPLETED"}}"#,
    ))
    .expect("logged");
    h.handle::<NumberMasking>(event_from_json(&json!({
        "eventType": "SESSION_SUMMARY",
        "payload": {
            "sessionId": "s1", "subAccountId": "acc", "sessionStatus": "COMPLETED",
            "startTime": "2026-01-01T00:00:01Z", "endTime": "2026-01-01T00:00:20Z",
            "lastAction": "MAKE_CALL", "callCount": 2,
            "details": {
                "callA": { "callId": "ca", "callDirection": "INBOUND", "source": A, "destination": vn, "callStatus": "COMPLETED", "callDuration": 13 },
                "callB": { "callId": "cb", "callDirection": "OUTBOUND", "source": vn, "destination": B, "callStatus": "COMPLETED", "callDuration": 13 }
            }
        }
    }).to_string()))
    .expect("logged");

    let calls = get(&h, &format!("/bookings/{id}/calls")).json_value();
    let types: Vec<&str> = calls["calls"]
        .as_array()
        .expect("calls")
        .iter()
        .map(|c| c["type"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        types,
        [
            "CALL_ACTION",
            "CALL_STATUS",
            "CALL_STATUS",
            "CALL_RECORDING_STATUS",
            "SESSION_SUMMARY"
        ]
    );
    assert_eq!(calls["calls"][1]["from"], "virtual_number");
    assert_eq!(calls["calls"][1]["to"], "participant:1");
    assert_eq!(calls["calls"][2]["from"], "participant:1");
    assert_eq!(calls["calls"][4]["legs"][0]["from"], "participant:0");
    let text = calls.to_string();
    assert!(
        !text.contains("91234567") && !text.contains("98765432"),
        "{text}"
    );
}

fn health_update(number: &str, state: &str) -> Event {
    event_from_json(&json!({
        "namespace": "VOICE", "eventType": "VIRTUAL_NUMBER_UPDATE",
        "payload": { "subAccountId": "acc", "totalNumbers": 1, "updateEventType": "UPDATES",
            "virtualNumbers": [{ "msisdn": number, "operationalStatus": state, "referenceId": "vn-1" }] }
    }).to_string())
}

#[test]
fn unhealthy_numbers_leave_allocation_until_active_again() {
    let h = harness("+6568001001=vn-1,+6568001002=vn-2");
    let id = booked(&h, A, B)["bookingId"]
        .as_str()
        .expect("id")
        .to_owned();
    h.handle::<NumberMasking>(health_update("6568001001", "Unhealthy"))
        .expect("ok");
    // Existing bookings keep working and report the number's health.
    assert!(make_call(&dial(&h, A, "+6568001001")).is_some());
    assert_eq!(
        get(&h, &format!("/bookings/{id}")).json_value()["virtualNumberHealth"],
        "unhealthy"
    );
    // New ones avoid it, even when it is the least loaded.
    assert_eq!(booked(&h, C, D)["virtualNumber"], "+6568001002");
    assert_eq!(
        booked(&h, "+6511111111", "+6522222222")["virtualNumber"],
        "+6568001002"
    );
    h.handle::<NumberMasking>(health_update("+6568001002", "Inactive"))
        .expect("ok");
    let r = book(&h, "+6533333333", "+6544444444");
    assert_eq!(r.status(), 409);
    assert!(
        r.json_value()["message"]
            .as_str()
            .unwrap_or_default()
            .contains("unhealthy")
    );
    let pool = get(&h, "/pool").json_value();
    assert_eq!(pool["numbers"][0]["health"], "unhealthy");
    assert_eq!(pool["numbers"][1]["health"], "inactive");
    h.handle::<NumberMasking>(health_update("+6568001001", "Active"))
        .expect("ok");
    assert_eq!(
        booked(&h, "+6533333333", "+6544444444")["virtualNumber"],
        "+6568001001"
    );
    assert_eq!(
        get(&h, "/pool").json_value()["numbers"][0]["activeBookings"],
        2
    );
}

#[test]
fn pool_configuration_is_checked() {
    let pool = settings::parse_pool("6568001001=vn-1\n +6568001002 ").expect("valid");
    assert_eq!(pool[0].number, "+6568001001");
    assert_eq!(pool[0].ref_id.as_deref(), Some("vn-1"));
    assert_eq!(pool[1].ref_id, None);
    assert!(
        settings::parse_pool("+6568001001,6568001001")
            .expect_err("twice")
            .contains("twice")
    );
    assert!(
        settings::parse_pool("nope")
            .expect_err("bad")
            .contains("E.164")
    );
    assert!(
        settings::parse_pool(" , ")
            .expect_err("empty")
            .contains("no virtual")
    );
}

#[test]
fn booking_ids_are_random_and_well_formed() {
    let a = bookings::new_id().expect("id");
    let b = bookings::new_id().expect("id");
    assert_ne!(a, b);
    assert!(bookings::valid_id(&a) && bookings::valid_id(&b), "{a} {b}");
    assert!(!bookings::valid_id("bk_AAAAAAAAAAAAAAAAAAAAAAAA"));
    assert!(!bookings::valid_id("bk_short"));
}

/// What a "concurrent" writer does to the store.
type Race<'h> = Box<dyn FnOnce(&Harness) + 'h>;

/// A host whose store loses the next compare-and-swap race: just before the swap, a
/// "concurrent" writer runs `race` against the store.
struct Racing<'h> {
    store: &'h Harness,
    race: std::cell::RefCell<Option<Race<'h>>>,
}

impl callflow_sdk::Host for Racing<'_> {
    fn log(&self, level: Level, message: &str) {
        self.store.log(level, message);
    }
    fn config(&self, key: &str) -> Option<String> {
        callflow_sdk::Host::config(self.store, key)
    }
    fn kv_get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        self.store.kv_get(key)
    }
    fn kv_set(&self, key: &str, value: &[u8], ttl_ms: Option<u64>) -> Result<(), KvError> {
        self.store.kv_set(key, value, ttl_ms)
    }
    fn kv_delete(&self, key: &str) -> Result<bool, KvError> {
        self.store.kv_delete(key)
    }
    fn kv_compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
        ttl_ms: Option<u64>,
    ) -> Result<bool, KvError> {
        if let Some(race) = self.race.borrow_mut().take() {
            race(self.store);
        }
        self.store.kv_compare_and_swap(key, expected, new, ttl_ms)
    }
    fn now_ms(&self) -> u64 {
        self.store.now_ms()
    }
}

#[test]
fn a_lost_race_is_checked_again_before_the_number_is_taken() {
    let h = harness("+6568001001=vn-1,+6568001002=vn-2");
    let racing = Racing {
        store: &h,
        // Between this creation's check and its swap, A gets the first number elsewhere.
        race: std::cell::RefCell::new(Some(Box::new(|store: &Harness| {
            assert_eq!(booked(store, A, C)["virtualNumber"], "+6568001001");
        }))),
    };
    let ctx = Context::new(&racing);
    let settings = settings::Settings::load(&ctx).expect("settings");
    let now = ctx.now_ms();
    let entry = store::SlotEntry {
        id: bookings::new_id().expect("id"),
        participants: [A.into(), B.into()],
        expires_at: now + 60_000,
    };
    // The swap on the first number fails; re-read, A holds it now: the second it is.
    assert_eq!(bookings::allocate(&ctx, &settings, &entry, now), Ok(1));
    let (_, first) = store::read::<store::Slot>(&h.context().kv(), &store::slot_key("+6568001001"))
        .expect("slot");
    assert_eq!(first.bookings.len(), 1, "{first:?}");
    assert_eq!(first.bookings[0].participants, [A.to_owned(), C.to_owned()]);
}

#[test]
fn a_lost_race_that_fills_the_pool_is_exhaustion() {
    let h = harness("+6568001001=vn-1");
    let racing = Racing {
        store: &h,
        race: std::cell::RefCell::new(Some(Box::new(|store: &Harness| {
            booked(store, B, D);
        }))),
    };
    let ctx = Context::new(&racing);
    let settings = settings::Settings::load(&ctx).expect("settings");
    let now = ctx.now_ms();
    let entry = store::SlotEntry {
        id: bookings::new_id().expect("id"),
        participants: [A.into(), B.into()],
        expires_at: now + 60_000,
    };
    assert_eq!(
        bookings::allocate(&ctx, &settings, &entry, now),
        Err(bookings::AllocError::Exhausted { unhealthy: 0 })
    );
}
