//! What the host's log says about a webhook: the lines about one event (a plugin's
//! failure, its log lines and output) carry the `webhook` span with the node, the tenant,
//! the event's ids and the version, and an event that writes no line costs no span.
//!
//! The events are handled in process, on this thread, under a subscriber of this test's
//! own (the format `callflow-host` writes), so that other tests' lines stay out of it.

use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use callflow_server::store::{KvStore, RedbStore};
use callflow_server::tenant::Registry;
use callflow_test_artifacts::{HOSTILE_WASM, IVR_WASM};
use tracing::span;
use tracing_subscriber::layer::{Context, SubscriberExt as _};
use tracing_subscriber::{EnvFilter, Layer};

use crate::support::{Host, IVR_CONFIG, TenantSpec, event_id};

/// The log's text, as `callflow-host` writes it to a file.
#[derive(Clone, Default)]
struct Lines(Arc<Mutex<Vec<u8>>>);

impl Lines {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("lines")).into_owned()
    }
}

impl Write for Lines {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lines").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Counts the `webhook` spans made.
#[derive(Clone, Default)]
struct Spans(Arc<AtomicUsize>);

impl<S: tracing::Subscriber> Layer<S> for Spans {
    fn on_new_span(&self, attrs: &span::Attributes<'_>, _: &span::Id, _: Context<'_, S>) {
        if attrs.metadata().name() == "webhook" {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }
}

fn host() -> &'static Host {
    static HOST: std::sync::OnceLock<Host> = std::sync::OnceLock::new();
    HOST.get_or_init(|| {
        Host::start(
            "logs",
            "",
            &[
                TenantSpec {
                    id: "ivr",
                    toml: format!("sub_accounts = [\"*\"]\n{IVR_CONFIG}"),
                    wasm: Some(Path::new(IVR_WASM)),
                },
                TenantSpec {
                    id: "failing",
                    toml: "sub_accounts = [\"*\"]\n[config]\nmode = \"error\"\n".into(),
                    wasm: Some(Path::new(HOSTILE_WASM)),
                },
                TenantSpec {
                    id: "panicking",
                    toml: "sub_accounts = [\"*\"]\n[config]\nmode = \"panic\"\n".into(),
                    wasm: Some(Path::new(HOSTILE_WASM)),
                },
            ],
        )
    })
}

fn action(session: &str, event: &str, client_action_id: &str) -> String {
    serde_json::json!({
        "namespace": "VOICE", "eventType": "CALL_ACTION",
        "payload": { "eventId": event, "callId": "call-1", "sessionId": session,
            "subAccountId": "8x8_test", "callStatus": "ACTION_COMPLETED",
            "callDirection": "INBOUND", "callType": "PSTN", "source": "+6591178965",
            "destination": "+6568332048", "callDuration": 0, "sipCode": 200,
            "timestamp": "2026-01-06T10:17:19.375Z", "clientActionId": client_action_id,
            "eventData": { "dtmf": "1" } }
    })
    .to_string()
}

/// Posts `bodies` to `tenant` in process under a subscriber filtering at `filter`; the
/// answers, the log's text and the number of `webhook` spans made.
fn handle(tenant: &str, filter: &str, bodies: &[String]) -> (Vec<String>, String, usize) {
    let registry: &Arc<Registry> = &host().registry;
    let tenant = registry.get(tenant).expect("tenant");
    let kv: Arc<dyn KvStore> = Arc::new(
        RedbStore::open(
            &host().dir.join(format!("{}.redb", event_id("logs-kv"))),
            RedbStore::DEFAULT_CACHE_BYTES,
        )
        .expect("store"),
    );
    let (lines, spans) = (Lines::default(), Spans::default());
    let writer = lines.clone();
    let subscriber = tracing_subscriber::registry()
        .with(EnvFilter::new(filter))
        .with(
            tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_writer(move || writer.clone()),
        )
        .with(spans.clone());
    let node: Arc<str> = Arc::from("node-1");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let answers = tracing::subscriber::with_default(subscriber, || {
        rt.block_on(async {
            let mut answers = Vec::new();
            for body in bodies {
                let answer = callflow_server::webhook::handle(
                    registry,
                    &kv,
                    &tenant,
                    &node,
                    body.as_bytes(),
                )
                .await
                .expect("understood");
                answers.push(String::from_utf8_lossy(&answer).into_owned());
            }
            answers
        })
    });
    (answers, lines.text(), spans.0.load(Ordering::Relaxed))
}

/// Whether `line` names a version: a component's SHA-256, in hex.
fn names_a_version(line: &str) -> bool {
    line.split_once("version=\"").is_some_and(|(_, rest)| {
        rest.len() > 64
            && rest[..64].bytes().all(|b| b.is_ascii_hexdigit())
            && &rest[64..65] == "\""
    })
}

/// One test, its parts in order: the filter's level is the process's while a
/// subscriber lives (`tracing`'s global hint), so the debug part comes last.
#[test]
fn a_webhooks_lines_carry_its_span_and_a_quiet_event_makes_none() {
    an_event_that_writes_no_line_makes_no_span();
    a_plugins_warning_is_written_in_its_events_span();
    a_failure_and_a_plugins_output_are_written_in_its_events_span();
    with_debug_lines_on_every_event_has_its_span_and_they_are_in_it();
}

fn an_event_that_writes_no_line_makes_no_span() {
    let session = event_id("quiet");
    // The IVR writes a debug line for each of these; the log is at info.
    let bodies: Vec<String> = (0..3)
        .map(|n| action(&session, &event_id(&format!("quiet-{n}")), "main_menu"))
        .collect();
    let (answers, log, spans) = handle("ivr", "info", &bodies);
    assert!(
        answers
            .iter()
            .all(|a| a.contains(r#""clientActionId":"reservations""#)),
        "{answers:?}"
    );
    assert_eq!(spans, 0, "{log}");
    assert!(!log.contains(&session), "{log}");
}

fn a_plugins_warning_is_written_in_its_events_span() {
    let session = event_id("lost");
    let event = event_id("lost-event");
    let (answers, log, spans) = handle("ivr", "info", &[action(&session, &event, "nowhere")]);
    assert!(answers[0].contains("main_menu"), "{answers:?}");
    assert_eq!(spans, 1, "{log}");
    let line = log
        .lines()
        .find(|l| l.contains("unknown clientActionId"))
        .unwrap_or_else(|| panic!("no warning in {log}"));
    for field in [
        "webhook{node=node-1 tenant=ivr event_type=\"CALL_ACTION\"".to_owned(),
        format!("session_id=\"{session}\""),
        "call_id=\"call-1\"".to_owned(),
        format!("event_id=\"{event}\""),
        "WARN".to_owned(),
        "tenant=\"ivr\"".to_owned(),
    ] {
        assert!(line.contains(&field), "{field} is not in {line}");
    }
    assert!(names_a_version(line), "{line}");
}

fn a_failure_and_a_plugins_output_are_written_in_its_events_span() {
    let session = event_id("failing");
    let event = event_id("failing-event");
    let (answers, log, _) = handle("failing", "info", &[action(&session, &event, "main_menu")]);
    assert!(answers[0].contains("callflow"), "the fallback: {answers:?}");
    let line = log
        .lines()
        .find(|l| l.contains("plugin failed; answering with the fallback"))
        .unwrap_or_else(|| panic!("no failure line in {log}"));
    assert!(
        line.contains("webhook{node=node-1 tenant=failing"),
        "{line}"
    );
    assert!(
        line.contains(&format!("session_id=\"{session}\"")),
        "{line}"
    );
    assert!(line.contains(&format!("event_id=\"{event}\"")), "{line}");

    // A panic's message goes to stderr, which is logged as a warning of the event's.
    let session = event_id("panicking");
    let (_, log, _) = handle(
        "panicking",
        "info",
        &[action(&session, &event_id("panic-event"), "main_menu")],
    );
    // The message has lines of its own: the record starts at its level.
    let end = log
        .find("stream=\"stderr\"")
        .unwrap_or_else(|| panic!("no stderr line in {log}"));
    let stderr = &log[log[..end].rfind(" WARN ").unwrap_or(0)..end];
    assert!(
        stderr.contains(&format!("session_id=\"{session}\"")) && stderr.contains("panicked"),
        "{stderr}"
    );
}

fn with_debug_lines_on_every_event_has_its_span_and_they_are_in_it() {
    let session = event_id("debug");
    let bodies: Vec<String> = (0..2)
        .map(|n| action(&session, &event_id(&format!("debug-{n}")), "main_menu"))
        .collect();
    let (_, log, spans) = handle("ivr", "debug", &bodies);
    assert_eq!(spans, 2, "{log}");
    let plugin_lines: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("callflow::plugin") && l.contains("menu main_menu"))
        .collect();
    assert_eq!(plugin_lines.len(), 2, "{log}");
    assert!(
        plugin_lines
            .iter()
            .all(|l| l.contains(&format!("session_id=\"{session}\"")) && names_a_version(l)),
        "{plugin_lines:?}"
    );
}
