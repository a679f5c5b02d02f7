//! What happened on a simulated call, and the transcript as plain text.

use std::fmt::Write as _;

use serde::Serialize;
use serde_json::{Value, json};

use crate::callflow::{Action, Callflow};

/// A plugin failure the answerer reports with its answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failure {
    /// The stable label (`out_of_fuel`, `invalid_callflow`, `plugin_error`, ...).
    pub reason: String,
    /// What happened.
    pub message: String,
}

/// What one event cost the plugin, against its limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Cost {
    /// Fuel used.
    pub fuel: u64,
    /// The fuel limit per event, when known.
    pub fuel_limit: Option<u64>,
    /// Wall-clock time, in microseconds.
    pub elapsed_us: u64,
    /// The time limit per event, in microseconds, when known.
    pub time_limit_us: Option<u64>,
}

/// A line the plugin logged while handling an event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReplyLog {
    /// `trace`, `debug`, `info`, `warn` or `error`.
    pub level: String,
    /// The line.
    pub message: String,
}

/// The answer to one webhook, as the platform received it, with what the answerer knows
/// about how it came about.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Reply {
    /// The HTTP status.
    pub status: u16,
    /// The body.
    pub body: Vec<u8>,
    /// The plugin failed on this event; for a call action `body` is the tenant's fallback.
    pub failure: Option<Failure>,
    /// What the event cost, when known.
    pub cost: Option<Cost>,
    /// What the plugin logged.
    pub logs: Vec<ReplyLog>,
}

impl Reply {
    /// A 200 with `body`.
    pub fn ok(body: impl Into<Vec<u8>>) -> Self {
        Self {
            status: 200,
            body: body.into(),
            ..Self::default()
        }
    }
}

/// A webhook the platform posts.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Webhook {
    /// Its number in the call, from 1.
    pub n: usize,
    /// `eventType`.
    pub event_type: &'static str,
    /// `callStatus`, or `sessionStatus` for a summary.
    pub status: String,
    /// One line for people: what the event says.
    pub summary: String,
    /// The body.
    pub body: Value,
}

impl Webhook {
    /// The body as 8x8 sends it.
    pub fn to_json(&self) -> String {
        self.body.to_string()
    }

    /// True for a `CALL_ACTION`.
    pub fn is_call_action(&self) -> bool {
        self.event_type == "CALL_ACTION"
    }
}

/// One webhook and its answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Exchange {
    /// What the platform sent.
    pub webhook: Webhook,
    /// The answer's HTTP status.
    pub status: u16,
    /// The answer's body: JSON when it parses, else the text.
    pub answer: Value,
    /// For a call action answered with a callflow 8x8 accepts: that callflow.
    #[serde(skip)]
    pub callflow: Option<Callflow>,
    /// The plugin failed on this event.
    pub failure: Option<Failure>,
    /// What the event cost.
    pub cost: Option<Cost>,
    /// What the plugin logged.
    pub logs: Vec<ReplyLog>,
}

/// Something that happened on the call.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum Entry {
    /// A webhook was posted and answered.
    Webhook(Box<Exchange>),
    /// The caller heard speech.
    Hears {
        /// The words.
        text: String,
        /// How many times.
        times: u8,
    },
    /// The caller heard an audio file.
    PlaysFile {
        /// The file.
        url: String,
        /// How many times.
        times: u8,
    },
    /// The caller heard a capture's prompt.
    Prompt {
        /// The words.
        text: String,
        /// Which try, from 1.
        attempt: u8,
        /// Of how many.
        tries: u8,
    },
    /// The caller pressed keys and the capture took `digits`.
    Presses {
        /// What was pressed.
        keys: String,
        /// What the capture took.
        digits: String,
    },
    /// A try failed.
    NoInput {
        /// What was pressed, if anything.
        keys: Option<String>,
        /// Why it did not count.
        why: String,
    },
    /// Every try of a capture failed: the next call action carries no digits.
    NothingCaptured {
        /// Tries made.
        tries: u8,
    },
    /// The platform dialled a number to bridge the caller.
    Dials {
        /// The number shown.
        source: String,
        /// The number dialled.
        destination: String,
    },
    /// The bridged party answered, talked, and hung up.
    Bridged {
        /// Who.
        destination: String,
        /// For how long.
        seconds: u32,
    },
    /// The callflow hung up.
    Hangup,
    /// The caller hung up.
    CallerHangsUp {
        /// Why the caller did.
        why: String,
    },
    /// The platform refused an answer and ended the session.
    Rejected {
        /// 8x8's session error code.
        code: i32,
        /// Why.
        message: String,
    },
}

/// How a call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Ending {
    /// A callflow's `hangup`.
    Hangup,
    /// The caller hung up: the script ran out, or the person at the keyboard did.
    CallerHungUp,
    /// The caller gave up after [`super::CallSetup::max_call_actions`] call actions.
    TooManyCallActions,
    /// The platform refused an answer to a call action.
    Rejected,
}

/// Everything that happened on a call, in order.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Transcript {
    /// What happened.
    pub entries: Vec<Entry>,
    /// How it ended, once it has.
    pub ending: Option<Ending>,
}

impl Transcript {
    /// Every webhook and its answer.
    pub fn exchanges(&self) -> impl Iterator<Item = &Exchange> {
        self.entries.iter().filter_map(|e| match e {
            Entry::Webhook(x) => Some(x.as_ref()),
            _ => None,
        })
    }

    /// The callflows that answered call actions, in order (the fallback included, when
    /// a call action got it).
    pub fn callflows(&self) -> Vec<&Callflow> {
        self.exchanges()
            .filter_map(|x| x.callflow.as_ref())
            .collect()
    }

    /// Everything the caller heard, in order: speech, prompts (once per try) and files
    /// (as `file <url>`).
    pub fn heard(&self) -> Vec<String> {
        self.entries
            .iter()
            .filter_map(|e| match e {
                Entry::Hears { text, .. } | Entry::Prompt { text, .. } => Some(text.clone()),
                Entry::PlaysFile { url, .. } => Some(format!("file {url}")),
                _ => None,
            })
            .collect()
    }

    /// The numbers dialled to bridge the caller, in order.
    pub fn dialled(&self) -> Vec<&str> {
        self.entries
            .iter()
            .filter_map(|e| match e {
                Entry::Dials { destination, .. } => Some(destination.as_str()),
                _ => None,
            })
            .collect()
    }

    /// The events the plugin failed on, with why.
    pub fn failures(&self) -> Vec<(&Webhook, &Failure)> {
        self.exchanges()
            .filter_map(|x| x.failure.as_ref().map(|f| (&x.webhook, f)))
            .collect()
    }

    /// Call actions answered with the tenant's fallback.
    pub fn fallbacks(&self) -> usize {
        self.exchanges()
            .filter(|x| x.webhook.is_call_action() && x.failure.is_some())
            .count()
    }

    /// The transcript as text (see [`render_entry`]).
    pub fn render(&self, style: &Style) -> String {
        let mut out = String::new();
        for entry in &self.entries {
            out.push_str(&render_entry(entry, style));
        }
        out
    }
}

/// How much a rendered transcript shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Style {
    /// Each event's fuel and time (left out of golden files: they change with the build).
    pub costs: bool,
    /// Every plugin log line; otherwise only warnings and errors.
    pub all_logs: bool,
}

/// One entry as text: a webhook is a line `> EVENT_TYPE STATUS summary` (with its cost)
/// followed by the answer (`< ...`), anything the plugin logged, and any failure;
/// what the caller hears and does is indented below.
pub fn render_entry(entry: &Entry, style: &Style) -> String {
    let mut out = String::new();
    match entry {
        Entry::Webhook(x) => render_exchange(&mut out, x, style),
        Entry::Hears { text, times } => {
            let _ = writeln!(out, "     hears    {text:?}{}", times_suffix(*times));
        }
        Entry::PlaysFile { url, times } => {
            let _ = writeln!(out, "     plays    {url}{}", times_suffix(*times));
        }
        Entry::Prompt {
            text,
            attempt,
            tries,
        } => {
            let try_note = if *tries > 1 {
                format!("  (try {attempt} of {tries})")
            } else {
                String::new()
            };
            let _ = writeln!(out, "     prompt   {text:?}{try_note}");
        }
        Entry::Presses { keys, digits } => {
            if keys == digits {
                let _ = writeln!(out, "     presses  {keys}");
            } else {
                let _ = writeln!(out, "     presses  {keys}  (captured {digits})");
            }
        }
        Entry::NoInput { keys, why } => match keys {
            Some(keys) => {
                let _ = writeln!(out, "     presses  {keys}  ({why})");
            }
            None => {
                let _ = writeln!(out, "     presses  nothing  ({why})");
            }
        },
        Entry::NothingCaptured { tries } => {
            let _ = writeln!(
                out,
                "     nothing captured after {tries} {}",
                if *tries == 1 { "try" } else { "tries" }
            );
        }
        Entry::Dials {
            source,
            destination,
        } => {
            let _ = writeln!(out, "     dials    {destination}  (showing {source})");
        }
        Entry::Bridged {
            destination,
            seconds,
        } => {
            let _ = writeln!(
                out,
                "     talks    with {destination} for {seconds} s, who hangs up"
            );
        }
        Entry::Hangup => out.push_str("     hangup\n"),
        Entry::CallerHangsUp { why } => {
            let _ = writeln!(out, "     caller hangs up  ({why})");
        }
        Entry::Rejected { code, message } => {
            let _ = writeln!(
                out,
                "  !! 8x8 rejects the answer and ends the session ({code}): {message}"
            );
        }
    }
    out
}

fn times_suffix(times: u8) -> String {
    if times > 1 {
        format!("  x{times}")
    } else {
        String::new()
    }
}

fn render_exchange(out: &mut String, x: &Exchange, style: &Style) {
    let head = format!(
        "{:>2} > {} {} {}",
        x.webhook.n, x.webhook.event_type, x.webhook.status, x.webhook.summary
    );
    match (&x.cost, style.costs) {
        (Some(cost), true) => {
            let _ = writeln!(out, "{head:<74} {}", render_cost(cost));
        }
        _ => {
            let _ = writeln!(out, "{}", head.trim_end());
        }
    }
    for line in &x.logs {
        if style.all_logs || matches!(line.level.as_str(), "warn" | "error") {
            let _ = writeln!(out, "     log {:<5} {}", line.level, line.message);
        }
    }
    if let Some(failure) = &x.failure {
        let what = if x.webhook.is_call_action() {
            "FALLBACK"
        } else {
            "PLUGIN FAILED"
        };
        let _ = writeln!(out, "  !! {what} {}: {}", failure.reason, failure.message);
    }
    if x.status != 200 {
        let _ = writeln!(out, "   < HTTP {}: {}", x.status, x.answer);
        return;
    }
    if let Some(flow) = &x.callflow {
        let actions: Vec<&str> = flow.actions.iter().map(Action::name).collect();
        let id = flow
            .client_action_id
            .as_deref()
            .map(|id| format!("  [clientActionId {id}]"))
            .unwrap_or_default();
        let whose = if x.failure.is_some() {
            "  (the tenant's fallback)"
        } else {
            ""
        };
        let _ = writeln!(out, "   < {}{id}{whose}", actions.join(", "));
    } else if !x.webhook.is_call_action() && x.answer != json!({}) {
        let _ = writeln!(out, "   < {}", x.answer);
    }
}

/// `fuel 48,231 (0.5%)  0.62 ms (0.6%)`.
pub fn render_cost(cost: &Cost) -> String {
    let mut s = format!("fuel {}", thousands(cost.fuel));
    if let Some(limit) = cost.fuel_limit {
        let _ = write!(s, " ({})", percent(cost.fuel, limit));
    }
    let _ = write!(s, "  {}", millis(cost.elapsed_us));
    if let Some(limit) = cost.time_limit_us {
        let _ = write!(s, " ({})", percent(cost.elapsed_us, limit));
    }
    s
}

/// `12,345,678`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `0.62 ms`.
pub fn millis(us: u64) -> String {
    format!("{}.{:02} ms", us / 1000, (us % 1000) / 10)
}

/// `part` as a percentage of `whole`, one decimal: `0.5%`.
pub fn percent(part: u64, whole: u64) -> String {
    if whole == 0 {
        return "-".into();
    }
    let tenths = u128::from(part) * 1000 / u128::from(whole);
    format!("{}.{}%", tenths / 10, tenths % 10)
}
