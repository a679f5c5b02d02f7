//! 8x8's side of a call, played without a phone line: the webhooks the platform sends, in
//! the order it sends them, and what it does with each callflow it gets back.
//!
//! [`SimulatedCall`] is a state machine that does no I/O. Ask it what comes [`next_step`](SimulatedCall::next_step):
//! a webhook to post ([`Next::Send`], answered with [`SimulatedCall::reply`]), a prompt the caller
//! answers with keys ([`Next::Press`], answered with [`SimulatedCall::press`]), or the end
//! ([`Next::Done`]). The host's `simulate` command drives it against a component in the
//! sandbox or against a running host's URL; the SDK's `testing` module drives it against
//! a plugin compiled natively. Both get the same [`Transcript`].
//!
//! # What the platform does, as modelled here
//! From 8x8's IVR guides and webhook references:
//! - A call starts with `CALL_ACTION` / `CALL_RECEIVED` for the inbound leg.
//! - The answer's actions run in order. `say` is heard `repetition` times, `playFile` is
//!   played `repetition` times. `sayAndCapture` prompts up to `noOfTries` times (8x8's
//!   default: 3) until the caller's keys are valid input: `#` ends the input when
//!   `completeOnHash` (the default), keys past `maxDigits` (default 25) are not taken,
//!   fewer than `minDigits` (default 1) is a failed try, as is pressing nothing; after a
//!   failed try the caller hears `failureMessage`, after a good one `successMessage`.
//!   `makeCall` bridges the caller to `destination`: the new outbound leg reports
//!   `CALL_INITIATED`, `CALL_CONNECTED` and, when the other party hangs up,
//!   `CALL_DISCONNECTED` (`CALL_STATUS` each). `hangup` ends the call.
//! - When the actions run out without a `hangup`, the platform sends `CALL_ACTION` /
//!   `ACTION_COMPLETED` echoing the callflow's `clientActionId` and, when the callflow
//!   captured, the last capture's digits in `eventData.dtmf` (`null`: nothing valid was
//!   captured in any try).
//! - At the end the inbound leg reports `CALL_DISCONNECTED`, then the session's
//!   `SESSION_SUMMARY` follows.
//! - An answer to a call action that is not a callflow 8x8 accepts (a non-200 status, a
//!   body that does not parse, a broken rule of [`crate::rules`]) ends the session with
//!   error -2003, as the platform does.
//!
//! Rooms: this module is the walk ([`SimulatedCall`]); `script` is what the caller does
//! ([`Script`], parsed from the words a plugin author writes); `transcript` is what
//! happened ([`Transcript`]) and its plain-text rendering, which the CLI prints and the
//! SDK's harness puts in its assertion messages.
//!
//! Time is simulated: speech at 15 characters a second, a file at 5 s, keys at 1.5 s, a
//! silent try at its `overallTimeout` (default 30 s), a bridged conversation at
//! [`CallSetup::bridge_seconds`]. Timestamps and durations are plausible and every run of
//! the same call is the same.

mod script;
mod transcript;

use std::collections::VecDeque;
use std::fmt::Write as _;

use serde::Serialize;
use serde_json::{Value, json};

use crate::callflow::{Action, Callflow, MakeCall, SayAndCapture};
use crate::rules;

pub use script::*;
pub use transcript::*;

/// How long a capture waits for the whole input when the callflow does not say.
pub const DEFAULT_OVERALL_TIMEOUT_MS: u32 = 30_000;
/// How long a capture waits after a key when the callflow does not say.
pub const DEFAULT_DIGIT_TIMEOUT_MS: u32 = 5_000;

/// 8x8's code for a session that ended on an invalid callflow.
pub const INVALID_CALLFLOW_CODE: i32 = -2003;

/// Who calls whom, and how the platform behaves, for one simulated call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CallSetup {
    /// The caller's number (the inbound leg's `source`).
    pub caller: String,
    /// The virtual number dialled (the inbound leg's `destination`).
    pub virtual_number: String,
    /// The sub-account the virtual number belongs to.
    pub sub_account_id: String,
    /// Makes the session, call and event ids of this call (`sim-<run_id>...`); a host
    /// answers a repeated `eventId` from its cache, so give each run its own.
    pub run_id: String,
    /// When the call starts, in milliseconds since the Unix epoch.
    pub started_at_ms: u64,
    /// How long a bridged conversation lasts before the other party hangs up.
    pub bridge_seconds: u32,
    /// Call actions after which the caller gives up and hangs up: a flow that never
    /// hangs up or captures would otherwise loop forever.
    pub max_call_actions: usize,
}

impl Default for CallSetup {
    /// The seed's inbound call: `+6591178965` calls the virtual number `+6568332048` of
    /// sub-account `8x8_test`, on 2026-01-06 at 10:17:19 UTC.
    fn default() -> Self {
        Self {
            caller: "+6591178965".into(),
            virtual_number: "+6568332048".into(),
            sub_account_id: "8x8_test".into(),
            run_id: "0".into(),
            started_at_ms: 1_767_694_639_375,
            bridge_seconds: 30,
            max_call_actions: 50,
        }
    }
}

/// What the driver of a [`SimulatedCall`] must do next.
#[derive(Debug, Clone, PartialEq)]
pub enum Next {
    /// Post this webhook to the plugin's host and hand the answer to [`SimulatedCall::reply`].
    Send(Webhook),
    /// The caller hears this prompt: hand what they press to [`SimulatedCall::press`].
    Press(Prompt),
    /// The call is over.
    Done,
}

/// One leg of the session.
#[derive(Debug, Clone)]
struct Leg {
    call_id: String,
    inbound: bool,
    source: String,
    destination: String,
    initiated_ms: u64,
    connected_ms: Option<u64>,
    disconnected_ms: Option<u64>,
}

impl Leg {
    fn duration_s(&self, now_ms: u64) -> u64 {
        self.connected_ms.map_or(0, |c| {
            (self.disconnected_ms.unwrap_or(now_ms).saturating_sub(c)) / 1000
        })
    }
}

/// A callflow being run.
#[derive(Debug, Clone)]
struct Running {
    flow: Callflow,
    pc: usize,
    /// `Some` once the flow has captured: the last capture's digits, if any.
    captured: Option<Option<String>>,
}

/// Something the platform does before the current callflow goes on.
#[derive(Debug, Clone)]
enum Queued {
    Send(Webhook),
    Note(Entry),
}

/// A capture waiting for the caller.
#[derive(Debug, Clone)]
struct Asking {
    prompt: Prompt,
    capture: SayAndCapture,
}

/// 8x8's side of one call. See the [module docs](self) for what it does.
#[derive(Debug)]
pub struct SimulatedCall {
    setup: CallSetup,
    now_ms: u64,
    legs: Vec<Leg>,
    /// What happens next, before the current callflow goes on: webhooks to send, and
    /// what the caller hears between them.
    outbox: VecDeque<Queued>,
    awaiting: Option<Webhook>,
    running: Option<Running>,
    asking: Option<Asking>,
    captures: usize,
    call_actions: usize,
    events: usize,
    last_action: &'static str,
    error: Option<(i32, String)>,
    torn_down: bool,
    transcript: Transcript,
}

impl SimulatedCall {
    /// A call about to ring: the first [`next_step`](Self::next_step) is the inbound `CALL_ACTION`.
    pub fn new(setup: CallSetup) -> Self {
        let now_ms = setup.started_at_ms;
        let leg = Leg {
            call_id: format!("sim-{}-call-a", setup.run_id),
            inbound: true,
            source: setup.caller.clone(),
            destination: setup.virtual_number.clone(),
            initiated_ms: now_ms,
            connected_ms: Some(now_ms),
            disconnected_ms: None,
        };
        let mut call = Self {
            setup,
            now_ms,
            legs: vec![leg],
            outbox: VecDeque::new(),
            awaiting: None,
            running: None,
            asking: None,
            captures: 0,
            call_actions: 0,
            events: 0,
            last_action: "NONE",
            error: None,
            torn_down: false,
            transcript: Transcript::default(),
        };
        let first = call.call_action("CALL_RECEIVED", None, None);
        call.outbox.push_back(Queued::Send(first));
        call
    }

    /// The setup the call was made with.
    pub fn setup(&self) -> &CallSetup {
        &self.setup
    }

    /// The simulated clock, in milliseconds since the Unix epoch.
    pub fn now_ms(&self) -> u64 {
        self.now_ms
    }

    /// Everything so far.
    pub fn transcript(&self) -> &Transcript {
        &self.transcript
    }

    /// The whole transcript, once the call is over.
    pub fn into_transcript(self) -> Transcript {
        self.transcript
    }

    /// What the driver must do next. Asking again without answering repeats the request.
    pub fn next_step(&mut self) -> Next {
        loop {
            if let Some(w) = &self.awaiting {
                return Next::Send(w.clone());
            }
            if let Some(asking) = &self.asking {
                return Next::Press(asking.prompt.clone());
            }
            match self.outbox.pop_front() {
                Some(Queued::Send(w)) => {
                    self.awaiting = Some(w.clone());
                    return Next::Send(w);
                }
                Some(Queued::Note(entry)) => {
                    self.transcript.entries.push(entry);
                    continue;
                }
                None => {}
            }
            if self.running.is_some() {
                self.run_action();
                continue;
            }
            if self.transcript.ending.is_some() && !self.torn_down {
                self.tear_down();
                continue;
            }
            return Next::Done;
        }
    }

    /// Hands over the answer to the webhook [`next_step`](Self::next_step) asked to send.
    ///
    /// # Panics
    /// When no webhook is waiting for an answer (a driver bug).
    pub fn reply(&mut self, reply: Reply) {
        let Some(webhook) = self.awaiting.take() else {
            panic!("SimulatedCall::reply without a webhook waiting for its answer");
        };
        let answer = serde_json::from_slice(&reply.body)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&reply.body).into_owned()));
        let mut exchange = Exchange {
            status: reply.status,
            answer,
            callflow: None,
            failure: reply.failure,
            cost: reply.cost,
            logs: reply.logs,
            webhook,
        };
        if !exchange.webhook.is_call_action() || self.transcript.ending.is_some() {
            self.transcript
                .entries
                .push(Entry::Webhook(Box::new(exchange)));
            return;
        }
        self.call_actions += 1;
        let accepted = if reply.status == 200 {
            Callflow::from_json(&reply.body)
                .map_err(|e| format!("the answer is not a callflow: {e}"))
                .and_then(|flow| {
                    rules::render(&flow)
                        .map(|_| flow)
                        .map_err(|v| v.to_string())
                })
        } else {
            Err(format!(
                "the webhook was answered with HTTP {}",
                reply.status
            ))
        };
        match accepted {
            Ok(flow) => {
                exchange.callflow = Some(flow.clone());
                self.transcript
                    .entries
                    .push(Entry::Webhook(Box::new(exchange)));
                self.running = Some(Running {
                    flow,
                    pc: 0,
                    captured: None,
                });
            }
            Err(message) => {
                self.transcript
                    .entries
                    .push(Entry::Webhook(Box::new(exchange)));
                self.transcript.entries.push(Entry::Rejected {
                    code: INVALID_CALLFLOW_CODE,
                    message: message.clone(),
                });
                self.error = Some((INVALID_CALLFLOW_CODE, message));
                self.end(Ending::Rejected);
            }
        }
    }

    /// Hands over what the caller did at the prompt [`next_step`](Self::next_step) played.
    ///
    /// # Panics
    /// When no prompt is waiting (a driver bug).
    pub fn press(&mut self, press: Press) {
        let Some(mut asking) = self.asking.take() else {
            panic!("SimulatedCall::press without a prompt waiting");
        };
        let prompt = &asking.prompt;
        let outcome = match press {
            Press::HangUp => {
                self.transcript.entries.push(Entry::CallerHangsUp {
                    why: "at the prompt".into(),
                });
                self.running = None;
                self.end(Ending::CallerHungUp);
                return;
            }
            Press::Nothing => {
                self.now_ms += u64::from(asking.capture.overall_timeout.unwrap_or(30_000));
                Err((None, "no input before the timeout".to_owned()))
            }
            Press::Keys(keys) => {
                self.now_ms += 1_500;
                take_digits(&keys, prompt)
                    .map_err(|why| (Some(keys.clone()), why))
                    .map(|digits| (keys, digits))
            }
        };
        match outcome {
            Ok((keys, digits)) => {
                self.transcript.entries.push(Entry::Presses {
                    keys,
                    digits: digits.clone(),
                });
                if let Some(text) = &asking.capture.success_message {
                    self.hear(text, 1);
                }
                self.finish_capture(Some(digits));
            }
            Err((keys, why)) => {
                self.transcript.entries.push(Entry::NoInput { keys, why });
                if let Some(text) = &asking.capture.failure_message {
                    self.hear(text, 1);
                }
                if asking.prompt.attempt < asking.prompt.tries {
                    asking.prompt.attempt += 1;
                    self.prompt(&asking.prompt);
                    self.asking = Some(asking);
                } else {
                    let tries = asking.prompt.tries;
                    self.transcript
                        .entries
                        .push(Entry::NothingCaptured { tries });
                    self.finish_capture(None);
                }
            }
        }
    }

    fn finish_capture(&mut self, digits: Option<String>) {
        if let Some(run) = &mut self.running {
            run.captured = Some(digits);
            run.pc += 1;
        }
    }

    fn hear(&mut self, text: &str, times: u8) {
        let chars = u64::try_from(text.chars().count()).unwrap_or(u64::MAX);
        self.now_ms += chars.saturating_mul(1000) / 15 * u64::from(times.max(1));
        self.transcript.entries.push(Entry::Hears {
            text: text.to_owned(),
            times,
        });
    }

    fn prompt(&mut self, prompt: &Prompt) {
        let chars = u64::try_from(prompt.text.chars().count()).unwrap_or(u64::MAX);
        self.now_ms += chars.saturating_mul(1000) / 15;
        self.transcript.entries.push(Entry::Prompt {
            text: prompt.text.clone(),
            attempt: prompt.attempt,
            tries: prompt.tries,
        });
    }

    /// Runs the current callflow's next action.
    fn run_action(&mut self) {
        let Some(run) = &self.running else { return };
        let Some(action) = run.flow.actions.get(run.pc).cloned() else {
            self.flow_done();
            return;
        };
        match action {
            Action::Say(say) => {
                self.last_action = "SAY";
                self.hear(&say.text, say.repetition.unwrap_or(1));
                self.advance();
            }
            Action::PlayFile(file) => {
                self.last_action = "PLAY_FILE";
                let times = file.repetition.unwrap_or(1);
                self.now_ms += 5_000 * u64::from(times.max(1));
                self.transcript.entries.push(Entry::PlaysFile {
                    url: file.file_url,
                    times,
                });
                self.advance();
            }
            Action::SayAndCapture(capture) => {
                self.last_action = "SAY_AND_CAPTURE";
                let overall = capture
                    .overall_timeout
                    .unwrap_or(DEFAULT_OVERALL_TIMEOUT_MS);
                let prompt = Prompt {
                    text: capture.prompt_message.clone(),
                    attempt: 1,
                    tries: capture.no_of_tries.unwrap_or(3).max(1),
                    min_digits: capture.min_digits.unwrap_or(1),
                    max_digits: capture.max_digits.unwrap_or(rules::MAX_DIGITS),
                    complete_on_hash: capture.complete_on_hash.unwrap_or(true),
                    capture: self.captures,
                    digit_timeout_ms: capture
                        .digit_timeout
                        .unwrap_or(DEFAULT_DIGIT_TIMEOUT_MS.min(overall)),
                    overall_timeout_ms: overall,
                };
                self.captures += 1;
                self.prompt(&prompt);
                self.asking = Some(Asking { prompt, capture });
            }
            Action::MakeCall(call) => {
                self.last_action = "MAKE_CALL";
                self.advance();
                self.bridge(&call);
            }
            Action::Hangup => {
                self.last_action = "HANGUP";
                self.transcript.entries.push(Entry::Hangup);
                self.running = None;
                self.end(Ending::Hangup);
            }
        }
    }

    fn advance(&mut self) {
        if let Some(run) = &mut self.running {
            run.pc += 1;
        }
    }

    /// The callflow ran out of actions without hanging up: the platform asks what next.
    fn flow_done(&mut self) {
        let Some(run) = self.running.take() else {
            return;
        };
        if self.call_actions >= self.setup.max_call_actions {
            self.transcript.entries.push(Entry::CallerHangsUp {
                why: format!("still on the line after {} call actions", self.call_actions),
            });
            self.end(Ending::TooManyCallActions);
            return;
        }
        let digits = run.captured.map(|d| d.map_or(Value::Null, Value::String));
        let webhook = self.call_action(
            "ACTION_COMPLETED",
            run.flow.client_action_id.as_deref(),
            digits,
        );
        self.outbox.push_back(Queued::Send(webhook));
    }

    fn bridge(&mut self, call: &MakeCall) {
        self.transcript.entries.push(Entry::Dials {
            source: call.source.clone(),
            destination: call.destination.clone(),
        });
        let n = self.legs.len();
        let leg_name = char::from(b'a' + u8::try_from(n % 26).unwrap_or(0));
        self.legs.push(Leg {
            call_id: format!("sim-{}-call-{leg_name}", self.setup.run_id),
            inbound: false,
            source: call.source.clone(),
            destination: call.destination.clone(),
            initiated_ms: self.now_ms,
            connected_ms: None,
            disconnected_ms: None,
        });
        let initiated = self.call_status(n, "CALL_INITIATED");
        self.outbox.push_back(Queued::Send(initiated));
        self.now_ms += 4_000;
        self.legs[n].connected_ms = Some(self.now_ms);
        let connected = self.call_status(n, "CALL_CONNECTED");
        self.outbox.push_back(Queued::Send(connected));
        self.now_ms += u64::from(self.setup.bridge_seconds) * 1000;
        self.legs[n].disconnected_ms = Some(self.now_ms);
        self.outbox.push_back(Queued::Note(Entry::Bridged {
            destination: call.destination.clone(),
            seconds: self.setup.bridge_seconds,
        }));
        let disconnected = self.call_status(n, "CALL_DISCONNECTED");
        self.outbox.push_back(Queued::Send(disconnected));
    }

    fn end(&mut self, ending: Ending) {
        self.asking = None;
        self.running = None;
        if self.transcript.ending.is_none() {
            self.transcript.ending = Some(ending);
        }
    }

    /// Every open leg disconnects, then the session summary.
    fn tear_down(&mut self) {
        self.torn_down = true;
        self.outbox.clear();
        for i in 0..self.legs.len() {
            if self.legs[i].disconnected_ms.is_none() {
                self.legs[i].disconnected_ms = Some(self.now_ms);
                let w = self.call_status(i, "CALL_DISCONNECTED");
                self.outbox.push_back(Queued::Send(w));
            }
        }
        let summary = self.session_summary();
        self.outbox.push_back(Queued::Send(summary));
    }

    fn next_event_id(&mut self) -> (usize, String) {
        self.events += 1;
        (
            self.events,
            format!("sim-{}-event-{:03}", self.setup.run_id, self.events),
        )
    }

    fn session_id(&self) -> String {
        format!("sim-{}-session", self.setup.run_id)
    }

    /// The payload fields every call-leg event of leg `i` carries.
    fn leg_payload(
        &self,
        i: usize,
        event_id: &str,
        status: &str,
    ) -> serde_json::Map<String, Value> {
        let leg = &self.legs[i];
        let mut p = serde_json::Map::new();
        p.insert("eventId".into(), event_id.into());
        p.insert("callId".into(), leg.call_id.clone().into());
        p.insert("sessionId".into(), self.session_id().into());
        p.insert(
            "subAccountId".into(),
            self.setup.sub_account_id.clone().into(),
        );
        p.insert("callStatus".into(), status.into());
        p.insert(
            "callDirection".into(),
            if leg.inbound { "INBOUND" } else { "OUTBOUND" }.into(),
        );
        p.insert("callType".into(), "PSTN".into());
        p.insert("source".into(), leg.source.clone().into());
        p.insert("destination".into(), leg.destination.clone().into());
        p.insert("sourceFormat".into(), "MSISDN".into());
        p.insert("destinationFormat".into(), "MSISDN".into());
        if let Some(cc) = country_code(&leg.source) {
            p.insert("sourceCountryCode".into(), cc.into());
        }
        if let Some(cc) = country_code(&leg.destination) {
            p.insert("destinationCountryCode".into(), cc.into());
        }
        if leg.inbound {
            p.insert("destinationRefId".into(), "sim-virtual-number".into());
        } else {
            p.insert("sourceRefId".into(), "sim-virtual-number".into());
        }
        p.insert("callDuration".into(), leg.duration_s(self.now_ms).into());
        p.insert("sipCode".into(), 200.into());
        p.insert("timestamp".into(), iso8601(self.now_ms, true).into());
        p
    }

    /// `CALL_ACTION` on the inbound leg.
    fn call_action(
        &mut self,
        status: &str,
        client_action_id: Option<&str>,
        digits: Option<Value>,
    ) -> Webhook {
        let (n, event_id) = self.next_event_id();
        let mut payload = self.leg_payload(0, &event_id, status);
        let mut summary = Vec::new();
        if status == "CALL_RECEIVED" {
            summary.push(format!(
                "from {} to {}",
                self.setup.caller, self.setup.virtual_number
            ));
        }
        if let Some(id) = client_action_id {
            payload.insert("clientActionId".into(), id.into());
            summary.push(id.to_owned());
        }
        if let Some(dtmf) = digits {
            summary.push(match &dtmf {
                Value::String(d) => format!("dtmf {d}"),
                _ => "dtmf null (nothing captured)".into(),
            });
            payload.insert("eventData".into(), json!({ "dtmf": dtmf }));
        }
        Webhook {
            n,
            event_type: "CALL_ACTION",
            status: status.to_owned(),
            summary: summary.join(", "),
            body: json!({
                "namespace": "VOICE",
                "eventType": "CALL_ACTION",
                "description": "Action request of a call",
                "payload": payload,
            }),
        }
    }

    /// `CALL_STATUS` for leg `i`.
    fn call_status(&mut self, i: usize, status: &str) -> Webhook {
        let (n, event_id) = self.next_event_id();
        let payload = self.leg_payload(i, &event_id, status);
        let leg = &self.legs[i];
        let mut summary = if leg.inbound {
            format!("inbound leg {}", leg.source)
        } else {
            format!("outbound leg to {}", leg.destination)
        };
        if status == "CALL_DISCONNECTED" {
            let _ = write!(summary, ", {} s", leg.duration_s(self.now_ms));
        }
        Webhook {
            n,
            event_type: "CALL_STATUS",
            status: status.to_owned(),
            summary,
            body: json!({
                "namespace": "VOICE",
                "eventType": "CALL_STATUS",
                "description": "Status update of a call",
                "payload": payload,
            }),
        }
    }

    fn session_summary(&mut self) -> Webhook {
        let (n, event_id) = self.next_event_id();
        let status = if self.error.is_some() {
            "ERROR"
        } else {
            "COMPLETED"
        };
        let mut details = serde_json::Map::new();
        for (i, leg) in self.legs.iter().enumerate() {
            let name = format!(
                "call{}",
                char::from(b'A' + u8::try_from(i % 26).unwrap_or(0))
            );
            let mut d = json!({
                "callId": leg.call_id,
                "callDirection": if leg.inbound { "INBOUND" } else { "OUTBOUND" },
                "callType": "PSTN",
                "initiatedTimestamp": iso8601(leg.initiated_ms, false),
                "disconnectedTimestamp": iso8601(leg.disconnected_ms.unwrap_or(self.now_ms), false),
                "source": leg.source,
                "destination": leg.destination,
                "sourceFormat": "MSISDN",
                "destinationFormat": "MSISDN",
                "callStatus": "COMPLETED",
                "callDuration": leg.duration_s(self.now_ms),
            });
            if let Some(at) = leg.connected_ms {
                d["connectedTimestamp"] = iso8601(at, false).into();
            }
            details.insert(name, d);
        }
        let mut payload = json!({
            "eventId": event_id,
            "sessionId": self.session_id(),
            "subAccountId": self.setup.sub_account_id,
            "sessionStatus": status,
            "startTime": iso8601(self.setup.started_at_ms, false),
            "endTime": iso8601(self.now_ms, false),
            "lastAction": self.last_action,
            "callCount": self.legs.len(),
            "details": details,
        });
        if let Some((code, message)) = &self.error {
            payload["errorDetails"] = json!({ "errorCode": code, "errorMsg": message });
        }
        let legs = self.legs.len();
        let seconds = self.now_ms.saturating_sub(self.setup.started_at_ms) / 1000;
        Webhook {
            n,
            event_type: "SESSION_SUMMARY",
            status: status.to_owned(),
            summary: format!(
                "{legs} {}, {seconds} s, last action {}",
                if legs == 1 { "leg" } else { "legs" },
                self.last_action
            ),
            body: json!({
                "namespace": "VOICE",
                "eventType": "SESSION_SUMMARY",
                "description": "Summary of a completed call session",
                "version": 5,
                "payload": payload,
            }),
        }
    }
}

/// The digits a capture takes from `keys`, or why the try failed.
fn take_digits(keys: &str, prompt: &Prompt) -> Result<String, String> {
    let entered = if prompt.complete_on_hash {
        keys.split('#').next().unwrap_or_default()
    } else {
        keys
    };
    let digits: String = entered
        .chars()
        .take(usize::from(prompt.max_digits.max(1)))
        .collect();
    if digits.is_empty() {
        return Err("no digits before #".into());
    }
    if digits.chars().count() < usize::from(prompt.min_digits) {
        return Err(format!(
            "fewer than the {} digits asked for",
            prompt.min_digits
        ));
    }
    Ok(digits)
}

/// ISO 3166 code of a few calling codes, for the payload's `...CountryCode` fields.
fn country_code(number: &str) -> Option<&'static str> {
    const CODES: &[(&str, &str)] = &[
        ("852", "HK"),
        ("94", "LK"),
        ("91", "IN"),
        ("86", "CN"),
        ("84", "VN"),
        ("82", "KR"),
        ("81", "JP"),
        ("66", "TH"),
        ("65", "SG"),
        ("64", "NZ"),
        ("63", "PH"),
        ("62", "ID"),
        ("61", "AU"),
        ("60", "MY"),
        ("49", "DE"),
        ("44", "GB"),
        ("33", "FR"),
        ("1", "US"),
    ];
    let digits = number.strip_prefix('+').unwrap_or(number);
    CODES
        .iter()
        .find(|(prefix, _)| digits.starts_with(prefix))
        .map(|(_, cc)| *cc)
}

/// `2026-01-06T10:17:19.375Z` (or without the milliseconds).
pub fn iso8601(unix_ms: u64, with_millis: bool) -> String {
    let secs = unix_ms / 1000;
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    // Howard Hinnant's days-to-civil.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let mut s = format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    );
    if with_millis {
        let _ = write!(s, ".{:03}", unix_ms % 1000);
    }
    s.push('Z');
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::callflow::{PlayFile, Say};
    use crate::event::{Event, parse_webhook};

    fn menu(id: &str) -> Callflow {
        Callflow::new().client_action_id(id).say_and_capture(
            SayAndCapture::new("Press 1", "v")
                .digits(1, 1)
                .timeouts(5000, 10000)
                .tries(2),
        )
    }

    fn bye() -> Callflow {
        Callflow::new().say(Say::new("Bye", "v")).hangup()
    }

    /// Drives a call with a plugin written as a closure over the parsed events.
    fn drive(
        script: &str,
        mut plugin: impl FnMut(&Event) -> Option<Callflow>,
    ) -> (Transcript, Vec<Event>) {
        let mut call = SimulatedCall::new(CallSetup::default());
        let mut script = Script::parse(script).expect("script");
        let mut events = Vec::new();
        loop {
            match call.next_step() {
                Next::Send(w) => {
                    let event = parse_webhook(w.to_json().as_bytes())
                        .unwrap_or_else(|e| panic!("the host cannot parse {}: {e}", w.body));
                    let body = plugin(&event).map_or_else(|| "{}".to_owned(), |f| f.to_json());
                    events.push(event);
                    call.reply(Reply::ok(body));
                }
                Next::Press(p) => {
                    let press = script.press(&p);
                    call.press(press);
                }
                Next::Done => return (call.into_transcript(), events),
            }
        }
    }

    fn statuses(events: &[Event]) -> Vec<String> {
        events
            .iter()
            .map(|e| match e {
                Event::CallAction(a) => format!("action {}", a.call.status.as_str()),
                Event::CallStatus(c) => {
                    format!("status {} {}", c.direction.as_str(), c.status.as_str())
                }
                Event::SessionSummary(s) => format!("summary {}", s.status.as_str()),
                other => format!("{other:?}"),
            })
            .collect()
    }

    #[test]
    fn a_capture_echoes_the_client_action_id_and_the_digits() {
        let (t, events) = drive("1", |e| match e {
            Event::CallAction(a) if a.client_action_id.is_none() => Some(menu("m")),
            Event::CallAction(a) => {
                assert_eq!(a.client_action_id.as_deref(), Some("m"));
                assert_eq!(a.digits.as_deref(), Some("1"));
                Some(bye())
            }
            _ => None,
        });
        assert_eq!(
            statuses(&events),
            [
                "action CALL_RECEIVED",
                "action ACTION_COMPLETED",
                "status INBOUND CALL_DISCONNECTED",
                "summary COMPLETED"
            ]
        );
        assert_eq!(t.ending, Some(Ending::Hangup));
        assert_eq!(t.heard(), ["Press 1", "Bye"]);
        assert_eq!(t.callflows().len(), 2);
    }

    #[test]
    fn nothing_pressed_prompts_no_of_tries_times_then_reports_null_digits() {
        let (t, events) = drive("-", |e| match e {
            Event::CallAction(a) if a.client_action_id.is_none() => Some(menu("m")),
            Event::CallAction(a) => {
                assert_eq!(a.digits, None);
                Some(bye())
            }
            _ => None,
        });
        assert_eq!(t.heard(), ["Press 1", "Press 1", "Bye"]);
        assert!(t.entries.contains(&Entry::NothingCaptured { tries: 2 }));
        let Event::CallAction(second) = &events[1] else {
            panic!("not a call action")
        };
        assert_eq!(second.call.status.as_str(), "ACTION_COMPLETED");
        // The raw body carries `"dtmf": null`, as 8x8's does.
        let raw = t.exchanges().nth(1).expect("second").webhook.body.clone();
        assert_eq!(raw["payload"]["eventData"], json!({ "dtmf": null }));
    }

    #[test]
    fn a_later_try_can_succeed_and_messages_are_said() {
        let capture = SayAndCapture::new("Code?", "v")
            .digits(2, 4)
            .tries(3)
            .success_message("Thanks")
            .failure_message("Again");
        let (t, _) = drive("-/1/12345#", |e| match e {
            Event::CallAction(a) if a.client_action_id.is_none() => Some(
                Callflow::new()
                    .client_action_id("code")
                    .say_and_capture(capture.clone()),
            ),
            Event::CallAction(a) => {
                assert_eq!(a.digits.as_deref(), Some("1234"));
                Some(bye())
            }
            _ => None,
        });
        assert_eq!(
            t.heard(),
            ["Code?", "Again", "Code?", "Again", "Code?", "Thanks", "Bye"]
        );
    }

    #[test]
    fn hash_ends_the_input_when_complete_on_hash() {
        let prompt = Prompt {
            text: "p".into(),
            attempt: 1,
            tries: 1,
            min_digits: 1,
            max_digits: 25,
            complete_on_hash: true,
            capture: 0,
            digit_timeout_ms: 5000,
            overall_timeout_ms: 10000,
        };
        assert_eq!(take_digits("12#34", &prompt), Ok("12".into()));
        assert!(take_digits("#", &prompt).is_err());
        let no_hash = Prompt {
            complete_on_hash: false,
            max_digits: 3,
            ..prompt
        };
        assert_eq!(take_digits("1#234", &no_hash), Ok("1#2".into()));
    }

    #[test]
    fn make_call_reports_the_new_leg_then_asks_what_next() {
        let (t, events) = drive("", |e| match e {
            Event::CallAction(a) if a.client_action_id.is_none() => Some(
                Callflow::new()
                    .client_action_id("bridged")
                    .make_call(MakeCall::new("+6512345678", "+6587654321")),
            ),
            Event::CallAction(a) => {
                assert_eq!(a.client_action_id.as_deref(), Some("bridged"));
                assert_eq!(a.digits, None);
                Some(Callflow::new().hangup())
            }
            _ => None,
        });
        assert_eq!(
            statuses(&events),
            [
                "action CALL_RECEIVED",
                "status OUTBOUND CALL_INITIATED",
                "status OUTBOUND CALL_CONNECTED",
                "status OUTBOUND CALL_DISCONNECTED",
                "action ACTION_COMPLETED",
                "status INBOUND CALL_DISCONNECTED",
                "summary COMPLETED"
            ]
        );
        assert_eq!(t.dialled(), ["+6587654321"]);
        let Some(Event::SessionSummary(summary)) = events.last() else {
            panic!("no summary")
        };
        assert_eq!(summary.call_count, 2);
        assert_eq!(summary.legs.len(), 2);
        assert_eq!(summary.last_action.as_deref(), Some("HANGUP"));
    }

    #[test]
    fn an_invalid_answer_ends_the_session_with_an_error() {
        let (t, events) = drive("", |e| match e {
            Event::CallAction(_) => Some(Callflow::new()),
            _ => None,
        });
        assert_eq!(t.ending, Some(Ending::Rejected));
        let Some(Event::SessionSummary(summary)) = events.last() else {
            panic!("no summary")
        };
        assert_eq!(summary.status.as_str(), "ERROR");
        assert_eq!(
            summary.error.as_ref().map(|e| e.code),
            Some(INVALID_CALLFLOW_CODE)
        );
    }

    #[test]
    fn the_caller_hangs_up_when_the_script_runs_out_or_the_flow_never_ends() {
        let (t, _) = drive("", |e| match e {
            Event::CallAction(_) => Some(menu("m")),
            _ => None,
        });
        assert_eq!(t.ending, Some(Ending::CallerHungUp));
        let (t, events) = drive("", |e| match e {
            Event::CallAction(_) => {
                Some(Callflow::new().play_file(PlayFile::new("https://x.example/a.mp3")))
            }
            _ => None,
        });
        assert_eq!(t.ending, Some(Ending::TooManyCallActions));
        assert_eq!(
            events
                .iter()
                .filter(|e| matches!(e, Event::CallAction(_)))
                .count(),
            CallSetup::default().max_call_actions
        );
    }

    #[test]
    fn scripts_parse_items_and_tries() {
        let mut s = Script::parse("1, -,-/2,").expect("valid");
        assert_eq!(s.len(), 4);
        let p = |capture, attempt| Prompt {
            text: String::new(),
            attempt,
            tries: 3,
            min_digits: 1,
            max_digits: 1,
            complete_on_hash: true,
            capture,
            digit_timeout_ms: 5000,
            overall_timeout_ms: 10000,
        };
        assert_eq!(s.press(&p(0, 1)), Press::Keys("1".into()));
        assert_eq!(s.press(&p(0, 2)), Press::Nothing);
        assert_eq!(s.press(&p(1, 1)), Press::Nothing);
        assert_eq!(s.press(&p(2, 2)), Press::Keys("2".into()));
        assert_eq!(s.unused(), 1);
        assert_eq!(s.press(&p(3, 1)), Press::Nothing);
        assert_eq!(s.press(&p(4, 1)), Press::HangUp);
        assert!(Script::parse("1,x").is_err());
    }

    #[test]
    fn timestamps_are_iso_8601_utc() {
        assert_eq!(
            iso8601(CallSetup::default().started_at_ms, true),
            "2026-01-06T10:17:19.375Z"
        );
        assert_eq!(iso8601(0, false), "1970-01-01T00:00:00Z");
        assert_eq!(iso8601(951_782_400_000, false), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn numbers_render_for_people() {
        assert_eq!(thousands(10_000_000), "10,000,000");
        assert_eq!(thousands(999), "999");
        assert_eq!(percent(48_231, 10_000_000), "0.4%");
        assert_eq!(millis(620), "0.62 ms");
        assert_eq!(millis(100_000), "100.00 ms");
    }
}
