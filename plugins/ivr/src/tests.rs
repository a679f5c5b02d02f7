//! Every path of the tree, against the guide's callflow JSON.
//!
//! Expected bodies are copied from 8x8's Advanced IVR guide, with the two corrections the
//! crate docs name: `digitTimeout` 5000 (the guide's 10000 equals `overallTimeout`, which
//! 8x8 rejects) and the reservations / main menu `clientActionId`s. They are written
//! pretty, as in the guide, and compared byte for byte once whitespace between tokens
//! is gone, so key order and number formatting count.

use callflow_sdk::prelude::*;
use callflow_sdk::testing::{Ending, Harness, Transcript, call_action, event_from_json, samples};

use super::*;

const MAIN_MENU_JSON: &str = r#"{
"clientActionId":"main_menu",
"callflow":[
{
"action":"sayAndCapture",
"params":{
"promptMessage":"Welcome to ABC Restaurant, to book a table press 1, to speak to a representative press 2, to hear our restaurant hours press 3.",
"voiceProfile":"en-US-BenjaminRUS",
"speed":1,
"minDigits":1,
"maxDigits":1,
"digitTimeout":5000,
"overallTimeout":10000,
"noOfTries":2
}
}
]
}"#;

const RESERVATIONS_JSON: &str = r#"{
"clientActionId":"reservations",
"callflow":[
{
"action":"sayAndCapture",
"params":{
"promptMessage":"Press 1 to make a new reservation, press 2 to reschedule an existing reservation, press 3 to return to main menu.",
"voiceProfile":"en-US-BenjaminRUS",
"speed":1,
"minDigits":1,
"maxDigits":1,
"digitTimeout":5000,
"overallTimeout":10000,
"noOfTries":2
}
}
]
}"#;

const CONNECT_CALL_JSON: &str = r#"{
"clientActionId":"connect_call",
"callflow":[
{
"action":"sayAndCapture",
"params":{
"promptMessage":"Connecting you to the next available representative. Press 1 to connect now, press 2 to return to main menu",
"voiceProfile":"en-US-BenjaminRUS",
"speed":1,
"minDigits":1,
"maxDigits":1,
"digitTimeout":5000,
"overallTimeout":10000,
"noOfTries":2
}
}
]
}"#;

const BOOK_TABLE_JSON: &str = r#"{
"clientActionId":"book_table",
"callflow":[
{
"action":"sayAndCapture",
"params":{
"promptMessage":"Reserving a Table, Press 1 to reserve a table for today, Press 2 to reserve a table for tomorrow.",
"voiceProfile":"en-US-BenjaminRUS",
"speed":1,
"minDigits":1,
"maxDigits":1,
"digitTimeout":5000,
"overallTimeout":10000,
"noOfTries":2
}
}
]
}"#;

const RESCHEDULE_TABLE_JSON: &str = r#"{
"clientActionId":"reschedule_table",
"callflow":[
{
"action":"sayAndCapture",
"params":{
"promptMessage":"Rescheduling your reservation, Press 1 to keep your current reservation, press 2 to change your reservation to tomorrow.",
"voiceProfile":"en-US-BenjaminRUS",
"speed":1,
"minDigits":1,
"maxDigits":1,
"digitTimeout":5000,
"overallTimeout":10000,
"noOfTries":2
}
}
]
}"#;

const CONNECT_NOW_JSON: &str = r#"{
"clientActionId":"post_call",
"callflow":[
{
"action":"makeCall",
"params":{
"source":"+6512345678",
"destination":"+6587654321"
}
}
]
}"#;

/// The guide's say-and-hangup template with `{{Text to send the user}}` filled in.
fn say_and_hang_up_json(text: &str) -> String {
    format!(
        r#"{{
"callflow":[
{{
"action":"say",
"params":{{
"text":"{text}",
"voiceProfile":"en-US-BenjaminRUS",
"speed":1
}}
}},
{{
"action":"hangup"
}}
]
}}"#
    )
}

/// `pretty` without the whitespace between JSON tokens (whitespace inside strings stays).
fn compact(pretty: &str) -> String {
    let mut out = String::with_capacity(pretty.len());
    let (mut in_string, mut escaped) = (false, false);
    for c in pretty.chars() {
        if in_string {
            out.push(c);
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_string = false,
                _ => {}
            }
        } else if c == '"' {
            in_string = true;
            out.push(c);
        } else if !c.is_whitespace() {
            out.push(c);
        }
    }
    out
}

fn harness() -> Harness {
    Harness::new()
        .config(VIRTUAL_NUMBER, "+6512345678")
        .config(REPRESENTATIVE_NUMBER, "+6587654321")
}

/// The callflow the IVR answers in `menu` after `digits`, as 8x8 JSON.
#[track_caller]
fn answer(menu: &str, digits: Option<&str>) -> String {
    let mut event = call_action().client_action_id(menu);
    if let Some(digits) = digits {
        event = event.digits(digits);
    }
    harness()
        .handle::<Ivr>(event)
        .expect("the IVR answers")
        .expect("with a callflow")
        .to_json()
}

#[track_caller]
fn assert_invalid(menu: &str, digits: Option<&str>) {
    assert_eq!(
        answer(menu, digits),
        compact(&say_and_hang_up_json("Invalid input, please call again.")),
        "menu {menu}, digits {digits:?}"
    );
}

// ---- Level 1: a new call and the main menu ------------------------------------------------

#[test]
fn a_new_inbound_call_hears_the_main_menu() {
    let flow = harness()
        .handle::<Ivr>(call_action())
        .expect("ok")
        .expect("callflow");
    assert_eq!(flow.to_json(), compact(MAIN_MENU_JSON));
}

#[test]
fn the_seeds_call_received_webhook_gets_the_main_menu() {
    let event = event_from_json(
        r#"{"namespace":"VOICE","eventType":"CALL_ACTION","description":"Action request of a call",
        "payload":{"eventId":"eb0fc709-9693-11ea-454d-1705dde98182","callId":"a1d6a5e3-efec-11e9-b999-7d370b5f90d1",
        "sessionId":"a1d6a5e2-efec-11e9-b999-efc71013a78f","subAccountId":"your_subaccount_id",
        "callStatus":"CALL_RECEIVED","callDirection":"INBOUND","callType":"PSTN","source":"+65123456789",
        "destination":"+65987654321","sourceFormat":"MSISDN","destinationFormat":"MSISDN",
        "sourceCountryCode":"SG","destinationCountryCode":"SG","destinationRefId":"vn-ref-1",
        "callDuration":0,"sipCode":200,"timestamp":"2019-10-16T08:12:01Z"}}"#,
    );
    let flow = harness()
        .handle::<Ivr>(event)
        .expect("ok")
        .expect("callflow");
    assert_eq!(flow.to_json(), compact(MAIN_MENU_JSON));
}

#[test]
fn main_menu_1_opens_reservations() {
    assert_eq!(answer("main_menu", Some("1")), compact(RESERVATIONS_JSON));
}

#[test]
fn main_menu_2_offers_to_connect_to_a_representative() {
    assert_eq!(answer("main_menu", Some("2")), compact(CONNECT_CALL_JSON));
}

#[test]
fn main_menu_3_says_the_opening_hours_and_hangs_up() {
    assert_eq!(
        answer("main_menu", Some("3")),
        compact(&say_and_hang_up_json(
            "Our restaurant hours are between 9AM and 9PM every day of the week."
        ))
    );
}

#[test]
fn main_menu_rejects_any_other_input() {
    for digits in ["0", "4", "9", "*", "#", "12"] {
        assert_invalid("main_menu", Some(digits));
    }
}

// ---- Level 2: reservations -----------------------------------------------------------------

#[test]
fn reservations_1_opens_book_table() {
    assert_eq!(answer("reservations", Some("1")), compact(BOOK_TABLE_JSON));
}

#[test]
fn reservations_2_opens_reschedule_table() {
    assert_eq!(
        answer("reservations", Some("2")),
        compact(RESCHEDULE_TABLE_JSON)
    );
}

#[test]
fn reservations_3_returns_to_the_main_menu_under_its_own_id() {
    // The guide's sample sends "book_table" here; the next digit must reach the main menu.
    assert_eq!(answer("reservations", Some("3")), compact(MAIN_MENU_JSON));
}

#[test]
fn reservations_rejects_any_other_input() {
    for digits in ["0", "4", "*", "11"] {
        assert_invalid("reservations", Some(digits));
    }
}

// ---- Level 2: connect call -----------------------------------------------------------------

#[test]
fn connect_call_1_bridges_the_virtual_number_to_the_representative() {
    assert_eq!(answer("connect_call", Some("1")), compact(CONNECT_NOW_JSON));
}

#[test]
fn connect_call_accepts_numbers_written_without_plus() {
    let flow = Harness::new()
        .config(VIRTUAL_NUMBER, "6512345678")
        .config(REPRESENTATIVE_NUMBER, " 6587654321 ")
        .handle::<Ivr>(call_action().client_action_id("connect_call").digits("1"))
        .expect("ok")
        .expect("callflow");
    assert_eq!(
        flow.actions,
        [Action::MakeCall(MakeCall::new("6512345678", "6587654321"))]
    );
}

#[test]
fn connect_call_without_configured_numbers_is_unavailable_naming_the_key() {
    let connect = || call_action().client_action_id("connect_call").digits("1");
    let err = Harness::new()
        .config(REPRESENTATIVE_NUMBER, "+6587654321")
        .handle::<Ivr>(connect())
        .expect_err("no virtual number");
    assert!(
        matches!(&err, PluginError::Unavailable(why) if why.contains("`virtual_number`")),
        "{err}"
    );
    let err = Harness::new()
        .config(VIRTUAL_NUMBER, "+6512345678")
        .handle::<Ivr>(connect())
        .expect_err("no representative");
    assert!(
        matches!(&err, PluginError::Unavailable(why) if why.contains("`representative_number`")),
        "{err}"
    );
}

#[test]
fn connect_call_with_a_malformed_number_is_unavailable_not_an_invalid_callflow() {
    let err = harness()
        .config(REPRESENTATIVE_NUMBER, "front desk")
        .handle::<Ivr>(call_action().client_action_id("connect_call").digits("1"))
        .expect_err("not a number");
    assert!(
        matches!(&err, PluginError::Unavailable(why) if why.contains("`representative_number` is not an E.164")),
        "{err}"
    );
}

#[test]
fn connect_call_2_returns_to_the_main_menu() {
    assert_eq!(answer("connect_call", Some("2")), compact(MAIN_MENU_JSON));
}

#[test]
fn connect_call_rejects_any_other_input() {
    for digits in ["0", "3", "#"] {
        assert_invalid("connect_call", Some(digits));
    }
}

#[test]
fn after_the_bridged_call_the_ivr_hangs_up() {
    assert_eq!(
        answer("post_call", None),
        r#"{"callflow":[{"action":"hangup"}]}"#
    );
}

// ---- Level 3: book table and reschedule ------------------------------------------------------

#[test]
fn book_table_books_today_or_tomorrow() {
    assert_eq!(
        answer("book_table", Some("1")),
        compact(&say_and_hang_up_json(
            "We have booked your table for today, thank you."
        ))
    );
    assert_eq!(
        answer("book_table", Some("2")),
        compact(&say_and_hang_up_json(
            "We have booked your table for tomorrow, thank you."
        ))
    );
    for digits in ["0", "3", "*"] {
        assert_invalid("book_table", Some(digits));
    }
}

#[test]
fn reschedule_table_keeps_or_moves_the_reservation() {
    assert_eq!(
        answer("reschedule_table", Some("1")),
        compact(&say_and_hang_up_json(
            "Keeping your current reservation, thank you."
        ))
    );
    assert_eq!(
        answer("reschedule_table", Some("2")),
        compact(&say_and_hang_up_json(
            "Changing your reservation to tomorrow thank you."
        ))
    );
    for digits in ["0", "3", "#"] {
        assert_invalid("reschedule_table", Some(digits));
    }
}

// ---- Policies the guide leaves open ----------------------------------------------------------

#[test]
fn no_digit_captured_in_any_menu_is_invalid_input() {
    for menu in [
        "main_menu",
        "reservations",
        "connect_call",
        "book_table",
        "reschedule_table",
    ] {
        assert_invalid(menu, None);
    }
}

#[test]
fn an_unknown_client_action_id_starts_over_at_the_main_menu() {
    let h = harness();
    let flow = h
        .handle::<Ivr>(call_action().client_action_id("ivr-1-stage-1").digits("1"))
        .expect("ok")
        .expect("callflow");
    assert_eq!(flow.to_json(), compact(MAIN_MENU_JSON));
    let logs = h.logs();
    assert!(
        logs.iter()
            .any(|l| l.level == Level::Warn && l.message.contains("ivr-1-stage-1")),
        "{logs:?}"
    );
}

#[test]
fn a_call_action_without_client_action_id_gets_the_main_menu_whatever_its_status() {
    let event = call_action().status(CallStatus::ActionCompleted);
    let flow = harness()
        .handle::<Ivr>(event)
        .expect("ok")
        .expect("callflow");
    assert_eq!(flow.to_json(), compact(MAIN_MENU_JSON));
}

#[test]
fn events_other_than_call_actions_get_no_callflow() {
    let events = [
        // The guide's CALL_STATUS sample.
        r#"{"payload":{"eventId":"e2078079-eae8-11f0-ae64-a500004e488e","callId":"e1ff6a14-eae8-11f0-baa6-c93abb37794a",
        "sessionId":"e1ff6a15-eae8-11f0-baa6-c147150ab00e","subAccountId":"8x8_test","callStatus":"CALL_RECEIVED",
        "callDirection":"INBOUND","callType":"PSTN","source":"+656833033","destination":"+94778066434",
        "sourceFormat":"MSISDN","destinationFormat":"MSISDN","sourceCountryCode":"SG","destinationCountryCode":"LK",
        "callDuration":0,"sipCode":200,"timestamp":"2026-01-06T10:17:19.375Z"},
        "namespace":"VOICE","eventType":"CALL_STATUS","description":"Status update of a call"}"#,
        r#"{"eventType":"SESSION_SUMMARY","payload":{"sessionId":"s","subAccountId":"a",
        "sessionStatus":"COMPLETED","callCount":1,"details":{"callA":{"callId":"c"}}}}"#,
        r#"{"eventType":"CALL_RECORDING_STATUS","payload":{"sessionId":"s","recordingId":"r",
        "status":"UPLOAD_COMPLETED"}}"#,
        r#"{"eventType":"VIRTUAL_NUMBER_UPDATE","payload":{"virtualNumbers":[
        {"msisdn":"+6512345678","operationalStatus":"Unhealthy"}]}}"#,
    ];
    for json in events {
        let h = harness();
        assert_eq!(h.handle::<Ivr>(event_from_json(json)), Ok(None), "{json}");
        assert!(
            h.logs().iter().all(|l| l.level == Level::Debug),
            "{:?}",
            h.logs()
        );
    }
}

// ---- Whole calls ----------------------------------------------------------------------------
//
// 8x8's side of each call is played by the SDK's walker, the same one `callflow-host
// simulate` drives: the platform echoes each callflow's `clientActionId` with the digits
// pressed, retries a silent capture `noOfTries` times, reports the bridged leg, and sends
// the call's final status and summary through the plugin too.

/// Every callflow the IVR answered the call's call actions with, as 8x8 JSON.
fn callflows(call: &Transcript) -> Vec<String> {
    call.callflows().iter().map(|f| f.to_json()).collect()
}

#[test]
fn a_caller_books_a_table_for_tomorrow() {
    let call = harness().call::<Ivr>("1,1,2");
    assert_eq!(
        callflows(&call),
        [
            compact(MAIN_MENU_JSON),
            compact(RESERVATIONS_JSON),
            compact(BOOK_TABLE_JSON),
            compact(&say_and_hang_up_json(
                "We have booked your table for tomorrow, thank you."
            )),
        ]
    );
    assert_eq!(call.ending, Some(Ending::Hangup));
    assert!(call.failures().is_empty(), "{:?}", call.failures());
}

#[test]
fn a_caller_goes_back_twice_then_hears_the_hours() {
    let call = harness().call::<Ivr>("1,3,2,2,3");
    let ids: Vec<_> = call
        .callflows()
        .iter()
        .map(|f| f.client_action_id.as_deref())
        .collect();
    assert_eq!(
        ids,
        [
            Some("main_menu"),
            Some("reservations"),
            Some("main_menu"),
            Some("connect_call"),
            Some("main_menu"),
            None,
        ]
    );
    assert_eq!(call.heard().last().map(String::as_str), Some(text::HOURS));
}

#[test]
fn a_caller_reaches_the_representative_and_is_hung_up_after() {
    let call = harness().call::<Ivr>("2,1");
    let flows = callflows(&call);
    assert_eq!(flows[2], compact(CONNECT_NOW_JSON));
    assert_eq!(call.dialled(), ["+6587654321"]);
    // When the representative hangs up, 8x8 sends ACTION_COMPLETED for `post_call`.
    assert_eq!(flows[3], r#"{"callflow":[{"action":"hangup"}]}"#);
    assert_eq!(call.ending, Some(Ending::Hangup));
}

#[test]
fn a_silent_caller_hears_the_menu_twice_then_the_apology() {
    let call = harness().call::<Ivr>("-");
    assert_eq!(
        call.heard(),
        [text::MAIN_MENU, text::MAIN_MENU, text::INVALID]
    );
    assert_eq!(call.ending, Some(Ending::Hangup));
}

#[test]
fn a_caller_who_presses_at_the_second_try_gets_through() {
    let call = harness().call::<Ivr>("-/1,2");
    assert_eq!(
        call.heard(),
        [
            text::MAIN_MENU,
            text::MAIN_MENU,
            text::RESERVATIONS,
            text::RESCHEDULE_TABLE
        ]
    );
}

#[test]
fn connecting_without_the_numbers_configured_gets_the_tenants_fallback() {
    let call = Harness::new().call::<Ivr>("2,1");
    assert_eq!(call.fallbacks(), 1);
    let (webhook, failure) = call.failures()[0];
    assert_eq!(webhook.summary, "connect_call, dtmf 1");
    assert_eq!(failure.reason, "plugin_error");
    assert!(failure.message.contains("`virtual_number`"), "{failure:?}");
}

#[test]
fn every_sample_webhook_of_the_seed_and_8x8_is_handled() {
    for (name, json) in samples::ALL {
        let answer = harness().handle::<Ivr>(event_from_json(json));
        assert!(answer.is_ok(), "{name}: {answer:?}");
    }
    let flow = harness()
        .handle::<Ivr>(samples::call_received())
        .expect("ok")
        .expect("callflow");
    assert_eq!(flow.to_json(), compact(MAIN_MENU_JSON));
}

#[test]
fn every_key_in_every_menu_gets_a_callflow_8x8_accepts() {
    // The harness fails on any callflow outside 8x8's rules.
    let h = harness();
    for row in &TREE {
        for key in ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "*", "#"] {
            let answer = h.handle::<Ivr>(call_action().client_action_id(row.id).digits(key));
            assert!(
                matches!(answer, Ok(Some(_))),
                "{} {key}: {answer:?}",
                row.id
            );
        }
    }
}

#[test]
fn every_menu_has_one_row_and_one_id() {
    for menu in [
        Menu::Main,
        Menu::Reservations,
        Menu::ConnectCall,
        Menu::BookTable,
        Menu::RescheduleTable,
    ] {
        assert_eq!(
            TREE.iter().filter(|r| r.menu == menu).count(),
            1,
            "{menu:?}"
        );
        assert_eq!(Menu::from_id(menu.row().id), Some(menu));
    }
    assert_eq!(Menu::from_id(POST_CALL), None);
}
