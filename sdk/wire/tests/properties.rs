//! Property tests of the wire format: structure-aware fuzzing of the webhook parser and
//! of the callflow validator and renderer (coverage-guided fuzzing needs a nightly
//! toolchain these machines do not have).
//!
//! Invariants, not just "no panic":
//! - a callflow [`rules::render`] accepts parses back to the same callflow, which
//!   validates and renders to the same bytes, within the body limit;
//! - a callflow the validator accepts obeys every rule, as restated independently here;
//! - the webhook parser answers every body (an event or a typed error), and what it
//!   allocates is bounded by a multiple of the body's size.
//!
//! `PROPTEST_CASES` sets the cases per property (256 by default; the long run in the
//! closing note used far more). Failures are kept in `proptest-regressions/`, committed.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use callflow_wire::rules::{self, MAX_BODY_BYTES, MAX_DIGITS, MAX_TEXT_CHARS, MAX_TRIES};
use callflow_wire::{
    Action, Callflow, MakeCall, ParseError, PlayFile, Say, SayAndCapture, parse_webhook,
};
use proptest::prelude::*;
use serde_json::{Value, json};

// -- what the parser allocates, per thread ------------------------------------------------

thread_local! {
    static LIVE: Cell<usize> = const { Cell::new(0) };
    static PEAK: Cell<usize> = const { Cell::new(0) };
}

/// The system allocator, counting this thread's live bytes and their peak.
struct Counting;

// SAFETY: every call is forwarded to `System` unchanged; the counters are thread-local
// cells that never allocate.
#[allow(unsafe_code, reason = "a counting global allocator forwards to System")]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = LIVE.try_with(|live| {
            let now = live.get() + layout.size();
            live.set(now);
            let _ = PEAK.try_with(|peak| peak.set(peak.get().max(now)));
        });
        // SAFETY: forwarded as given.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let _ = LIVE.try_with(|live| live.set(live.get().saturating_sub(layout.size())));
        // SAFETY: forwarded as given.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// The most `f` had allocated at once on this thread, beyond what was live before.
fn peak_allocation<R>(f: impl FnOnce() -> R) -> (R, usize) {
    let base = LIVE.with(Cell::get);
    PEAK.with(|p| p.set(base));
    let result = f();
    (result, PEAK.with(Cell::get) - base)
}

// -- strategies ---------------------------------------------------------------------------

/// Text as plugins write it: mostly ordinary, sometimes empty, blank, long or exotic.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        40 => "[A-Za-z0-9][A-Za-z0-9 .,!?']{0,80}",
        1 => Just(String::new()),
        1 => Just("   ".to_owned()),
        1 => "\\PC{1,40}",
        1 => (2990usize..3010).prop_map(|n| "é".repeat(n)),
    ]
}

fn number() -> impl Strategy<Value = String> {
    prop_oneof![
        24 => "\\+?[0-9]{1,15}",
        1 => "\\+?[0-9]{16,18}",
        1 => "[a-z@.:]{1,20}",
        1 => Just(String::new()),
    ]
}

fn speed() -> impl Strategy<Value = Option<f32>> {
    prop_oneof![
        12 => Just(None),
        12 => (0.5f32..=2.0).prop_map(Some),
        1 => prop_oneof![Just(0.0f32), Just(2.5), Just(-1.0), Just(f32::NAN), Just(f32::INFINITY)].prop_map(Some),
    ]
}

fn small() -> impl Strategy<Value = Option<u8>> {
    prop_oneof![8 => Just(None), 8 => (1u8..=3).prop_map(Some), 3 => (0u8..8).prop_map(Some), 1 => any::<u8>().prop_map(Some)]
}

fn timeout() -> impl Strategy<Value = Option<u32>> {
    prop_oneof![6 => Just(None), 3 => (0u32..20_000).prop_map(Some)]
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        (number(), number(), any::<Option<bool>>()).prop_map(|(source, destination, rec)| {
            Action::MakeCall(MakeCall {
                source,
                destination,
                call_recording: rec,
            })
        }),
        (text(), text(), small(), speed()).prop_map(|(text, voice, repetition, speed)| {
            Action::Say(Say {
                text,
                voice_profile: voice,
                repetition,
                speed,
            })
        }),
        (
            (
                text(),
                text(),
                proptest::option::of(text()),
                proptest::option::of(text()),
                speed()
            ),
            (
                any::<Option<bool>>(),
                small(),
                small(),
                timeout(),
                timeout(),
                small()
            ),
        )
            .prop_map(
                |(
                    (prompt, voice, success, failure, speed),
                    (hash, min, max, digit, overall, tries),
                )| {
                    Action::SayAndCapture(SayAndCapture {
                        prompt_message: prompt,
                        voice_profile: voice,
                        success_message: success,
                        failure_message: failure,
                        speed,
                        complete_on_hash: hash,
                        min_digits: min,
                        max_digits: max,
                        digit_timeout: digit,
                        overall_timeout: overall,
                        no_of_tries: tries,
                    })
                }
            ),
        (
            prop_oneof![
                "https?://[a-z]{1,10}\\.com/[a-z]{1,10}\\.(mp3|wav|MP3|ogg)(\\?x=1)?",
                "[a-z:/.]{0,20}",
            ],
            small()
        )
            .prop_map(|(file_url, repetition)| Action::PlayFile(PlayFile {
                file_url,
                repetition
            })),
        Just(Action::Hangup),
    ]
}

fn callflow() -> impl Strategy<Value = Callflow> {
    (
        prop_oneof![
            6 => Just(None),
            6 => "[A-Za-z0-9_.:-]{1,20}".prop_map(Some),
            1 => "\\PC{0,140}".prop_map(Some),
        ],
        proptest::collection::vec(action(), 0..5),
    )
        .prop_map(|(client_action_id, actions)| Callflow {
            client_action_id,
            actions,
        })
}

// -- the rules, restated independently ------------------------------------------------------

fn e164(s: &str) -> bool {
    let digits = s.strip_prefix('+').unwrap_or(s);
    !digits.is_empty() && digits.len() <= 15 && digits.chars().all(|c| c.is_ascii_digit())
}

fn good_text(s: &str) -> bool {
    !s.trim().is_empty() && s.chars().count() <= MAX_TEXT_CHARS
}

fn good_speed(s: Option<f32>) -> bool {
    s.is_none_or(|s| (0.5..=2.0).contains(&s))
}

/// Every rule of `docs/callflow-rules.md` a valid callflow obeys.
fn obeys_every_rule(flow: &Callflow) -> Result<(), String> {
    if let Some(id) = &flow.client_action_id {
        let ok = !id.is_empty()
            && id.len() <= 128
            && id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_.:-".contains(c));
        if !ok {
            return Err(format!("clientActionId {id:?}"));
        }
    }
    if flow.actions.is_empty() {
        return Err("no action".into());
    }
    let calls = flow
        .actions
        .iter()
        .filter(|a| matches!(a, Action::MakeCall(_)))
        .count();
    if calls > 2 {
        return Err(format!("{calls} makeCalls"));
    }
    for (i, action) in flow.actions.iter().enumerate() {
        let last = i + 1 == flow.actions.len();
        match action {
            Action::Hangup if !last => return Err("an action after hangup".into()),
            Action::Hangup if i > 0 && matches!(flow.actions[i - 1], Action::SayAndCapture(_)) => {
                return Err("hangup right after sayAndCapture".into());
            }
            Action::Hangup => {}
            Action::MakeCall(c) => {
                if !e164(&c.source) || !e164(&c.destination) {
                    return Err(format!("makeCall {c:?}"));
                }
            }
            Action::Say(s) => {
                let ok = good_text(&s.text)
                    && !s.voice_profile.trim().is_empty()
                    && s.repetition.is_none_or(|r| (1..=3).contains(&r))
                    && good_speed(s.speed);
                if !ok {
                    return Err(format!("say {s:?}"));
                }
            }
            Action::SayAndCapture(c) => {
                let digits_ok = match (c.min_digits, c.max_digits) {
                    (Some(_), None) => false,
                    (min, Some(max)) => {
                        let min = min.unwrap_or(1);
                        1 <= min && min <= max && max <= MAX_DIGITS
                    }
                    (None, None) => true,
                };
                let ok = good_text(&c.prompt_message)
                    && !c.voice_profile.trim().is_empty()
                    && c.success_message.as_deref().is_none_or(good_text)
                    && c.failure_message.as_deref().is_none_or(good_text)
                    && good_speed(c.speed)
                    && digits_ok
                    && !(c.complete_on_hash == Some(false) && c.max_digits.is_none())
                    && c.digit_timeout
                        .is_none_or(|d| c.overall_timeout.is_some_and(|o| d < o))
                    && c.no_of_tries.is_none_or(|t| (1..=MAX_TRIES).contains(&t));
                if !ok {
                    return Err(format!("sayAndCapture {c:?}"));
                }
            }
            Action::PlayFile(p) => {
                let url = p.file_url.to_ascii_lowercase();
                let path = url
                    .strip_prefix("https://")
                    .or_else(|| url.strip_prefix("http://"))
                    .map(|r| r.split(['?', '#']).next().unwrap_or(r).to_owned());
                let ok = path.is_some_and(|p| {
                    p.contains('/') && (p.ends_with(".mp3") || p.ends_with(".wav"))
                }) && p.repetition.is_none_or(|r| (1..=3).contains(&r));
                if !ok {
                    return Err(format!("playFile {p:?}"));
                }
            }
        }
    }
    Ok(())
}

// -- webhooks -------------------------------------------------------------------------------

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        "\\PC{0,20}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            proptest::collection::btree_map("[a-zA-Z]{1,12}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A webhook as 8x8 might post it, some fields dropped, replaced or mistyped.
fn webhook() -> impl Strategy<Value = Value> {
    let event_type = prop_oneof![
        Just(json!("CALL_ACTION")),
        Just(json!("CALL_STATUS")),
        Just(json!("SESSION_SUMMARY")),
        Just(json!("CALL_RECORDING_STATUS")),
        Just(json!("VIRTUAL_NUMBER_UPDATE")),
        json_value(),
    ];
    let fields = [
        "eventId",
        "callId",
        "sessionId",
        "subAccountId",
        "callStatus",
        "callDirection",
        "callType",
        "source",
        "destination",
        "clientActionId",
        "callDuration",
        "sipCode",
        "timestamp",
        "eventData",
        "recordingId",
        "status",
        "numbers",
        "legs",
        "dtmf",
    ];
    (
        event_type,
        proptest::collection::vec(
            (
                proptest::sample::select(fields.to_vec()),
                prop_oneof![
                    3 => "[a-zA-Z0-9+_-]{0,24}".prop_map(Value::from),
                    1 => json_value(),
                ],
            ),
            0..14,
        ),
        any::<bool>(),
    )
        .prop_map(|(event_type, fields, with_payload)| {
            let payload: serde_json::Map<String, Value> =
                fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
            let mut hook = json!({ "namespace": "VOICE", "eventType": event_type });
            if with_payload {
                hook["payload"] = Value::Object(payload);
            }
            hook
        })
}

proptest! {
    #[test]
    fn a_rendered_callflow_parses_back_validates_and_renders_the_same(flow in callflow()) {
        if let Ok(body) = rules::render(&flow) {
            prop_assert!(body.len() <= MAX_BODY_BYTES);
            let parsed = Callflow::from_json(&body).expect("what we render parses");
            prop_assert!(rules::validate(&parsed).is_ok());
            prop_assert_eq!(rules::render(&parsed).expect("renders again"), body);
        }
    }

    #[test]
    fn what_the_validator_accepts_obeys_every_rule(flow in callflow()) {
        let accepted = rules::validate(&flow).is_ok();
        let obeys = obeys_every_rule(&flow);
        prop_assert_eq!(accepted, obeys.is_ok(), "validator {} but {:?}: {:?}", accepted, obeys, flow);
    }

    #[test]
    fn the_parser_answers_every_webhook_within_a_bounded_allocation(hook in webhook()) {
        let body = serde_json::to_vec(&hook).expect("json");
        let (parsed, peak) = peak_allocation(|| parse_webhook(&body));
        // A parsed event holds copies of at most the body's strings, plus bounded
        // structure.
        prop_assert!(peak <= 16 * body.len() + 16 * 1024, "{peak} bytes for {} bytes", body.len());
        match parsed {
            Ok(event) => prop_assert!(!event.delivery_key().is_empty()),
            Err(ParseError::Malformed(m)) => prop_assert!(!m.is_empty()),
            Err(ParseError::MissingField(_) | ParseError::UnknownEventType(_)) => {}
        }
    }

    #[test]
    fn arbitrary_bytes_are_refused_or_parsed_never_a_panic(body in proptest::collection::vec(any::<u8>(), 0..512)) {
        let (_, peak) = peak_allocation(|| parse_webhook(&body));
        prop_assert!(peak <= 16 * body.len() + 16 * 1024);
    }
}

/// The strategies are worth something only if they reach both sides of the rules: a
/// good share of generated callflows must be valid (so that rendering is exercised), and
/// a good share invalid.
#[test]
fn the_generated_callflows_reach_both_sides_of_the_rules() {
    use proptest::strategy::ValueTree as _;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strategy = callflow();
    let valid = (0..2000)
        .filter(|_| {
            let flow = strategy.new_tree(&mut runner).expect("tree").current();
            rules::validate(&flow).is_ok()
        })
        .count();
    eprintln!("{valid} of 2000 generated callflows are valid");
    assert!((100..1900).contains(&valid), "{valid} of 2000 valid");
}
