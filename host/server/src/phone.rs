//! The dev phone: 8x8's side of a call played against one of a tenant's plugin versions,
//! a step at a time, as a person at a keypad answers each prompt.
//!
//! Owns: the calls ([`Phones`]: 32 in progress per host, 4 per tenant, forgotten after 5
//! idle minutes, or a minute once ended), each with its own scratch store, and the JSON a
//! call is copied as (the shape `callflow-host simulate --json` prints, from
//! [`transcript_json`], which the simulator uses too).
//!
//! Must not: decide anything about a call or an answer. The walk (which webhook comes
//! next, what the caller hears, what 8x8 accepts) is [`callflow_wire::platform`], the
//! simulator's; each webhook is answered by [`webhook::process_version`], so the sandbox,
//! the limits, the validation and the fallback are the server's own. Nor touch the
//! tenant's state: a call's store is its own, nothing is pinned, its events stay out of
//! the tenant's counters and recent log lines. They do count against the tenant's fuel
//! rate, concurrency and log lines per second: they are its CPU and its log.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use callflow_wire::platform::{
    CallSetup, Cost, Ending, Failure, Next, Press, Prompt, Reply, ReplyLog, SimulatedCall,
    Transcript, Webhook,
};
use serde_json::{Value, json};

use crate::runtime::{Limits, LoadedPlugin};
use crate::store::{KvStore, MemoryStore};
use crate::tenant::{Registry, Tenant};
use crate::webhook;

/// Calls in progress a host holds at once, over all tenants.
pub const MAX_CALLS: usize = 32;
/// Calls in progress one tenant holds at once.
pub const MAX_CALLS_PER_TENANT: usize = 4;
/// A call nobody has touched for this long is forgotten (a call in progress too).
pub const IDLE: Duration = Duration::from_secs(300);
/// An ended call is kept this long after its last use, for its transcript.
pub const ENDED_KEPT: Duration = Duration::from_secs(60);
/// Ended calls a host keeps at once, besides those in progress.
const MAX_ENDED: usize = 64;
/// Call actions after which the simulated caller gives up: with 8x8's status webhooks and
/// at most 64 KiB of callflow and 100 log lines an event, this bounds a call's transcript.
const MAX_CALL_ACTIONS: usize = 20;
/// Bytes of keys and values a call's scratch store holds.
const SCRATCH_STORE_BYTES: usize = 4 << 20;

/// Why a phone call could not be made or answered.
#[derive(Debug, thiserror::Error)]
pub enum PhoneError {
    /// The host, or the tenant, holds as many calls as it may.
    #[error(
        "{0}: hang one up (DELETE it) or wait for an idle one to be dropped after {idle} s",
        idle = IDLE.as_secs()
    )]
    TooMany(&'static str),
    /// No call by that id on this node (it ended a while ago, or another node holds it).
    #[error(
        "no phone call {0:?} on this node (calls are forgotten {idle} s after their last use, ended ones after {ended} s)",
        idle = IDLE.as_secs(),
        ended = ENDED_KEPT.as_secs()
    )]
    Unknown(String),
    /// A key press for a call that is not at a prompt.
    #[error("the call is not waiting for keys ({0})")]
    NotWaiting(&'static str),
}

/// The calls on this node.
#[derive(Debug, Default)]
pub struct Phones {
    calls: std::sync::Mutex<HashMap<String, Arc<Held>>>,
    made: AtomicU64,
}

/// A call, with what the table needs to know without waiting for it.
#[derive(Debug)]
struct Held {
    tenant: Arc<str>,
    touched: std::sync::Mutex<Instant>,
    ended: AtomicBool,
    call: tokio::sync::Mutex<PhoneCall>,
}

impl Held {
    fn touch(&self) {
        *self.touched.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
    }

    /// Whether the table should forget the call.
    fn stale(&self) -> bool {
        let idle = self
            .touched
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .elapsed();
        idle >= IDLE || (self.ended.load(Ordering::Relaxed) && idle >= ENDED_KEPT)
    }
}

/// One call.
#[derive(Debug)]
struct PhoneCall {
    id: String,
    tenant: Arc<Tenant>,
    plugin: LoadedPlugin,
    kv: Arc<dyn KvStore>,
    call: SimulatedCall,
    waiting: Option<Prompt>,
}

/// What the console shows of a call.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
pub struct PhoneView {
    /// The call's id.
    pub call: String,
    /// The tenant.
    pub tenant: String,
    /// The plugin version answering it (sha256, hex).
    pub version: String,
    /// The limits each event runs under.
    pub limits: LimitsView,
    /// The prompt the caller is at, when the call waits for keys.
    pub waiting: Option<Prompt>,
    /// How the call ended (`hangup`, `caller_hung_up`, `too_many_call_actions`,
    /// `rejected`), once it has.
    pub ending: Option<String>,
    /// Call actions answered with the tenant's fallback.
    pub fallbacks: usize,
    /// Events the plugin failed on.
    pub failures: usize,
    /// No fallback, no failure, and 8x8 accepted every answer.
    pub passed: bool,
    /// The whole call as `callflow-host simulate --json` prints it; its `entries` are
    /// everything so far, in order: webhooks with their answers, costs, failures and log
    /// lines, what the caller heard and pressed.
    #[schemars(with = "serde_json::Map<String, Value>")]
    pub transcript: Value,
}

/// An event's limits.
#[derive(Debug, Clone, Copy, serde::Serialize, schemars::JsonSchema)]
pub struct LimitsView {
    /// Fuel.
    pub fuel: u64,
    /// Wall-clock milliseconds.
    pub timeout_ms: u64,
    /// Linear memory, bytes.
    pub memory_bytes: u64,
    /// Callflow JSON, bytes.
    pub output_bytes: u64,
}

impl From<&Limits> for LimitsView {
    fn from(l: &Limits) -> Self {
        Self {
            fuel: l.fuel,
            timeout_ms: u64::try_from(l.timeout.as_millis()).unwrap_or(u64::MAX),
            memory_bytes: l.memory_bytes,
            output_bytes: l.output_bytes as u64,
        }
    }
}

impl Phones {
    /// Forgets the calls idle too long, and the ended ones once their transcript has had
    /// its time (the server calls this every few seconds; placing a call does too).
    pub fn sweep(&self) {
        self.calls
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|_, held| !held.stale());
    }

    /// Whether `tenant` may place one more call now (asked before its version is loaded,
    /// and again as the call is placed).
    pub fn room_for(&self, tenant: &str) -> Result<(), PhoneError> {
        self.sweep();
        let calls = self.calls.lock().unwrap_or_else(|e| e.into_inner());
        room(&calls, tenant)
    }

    /// Places a call from `setup.caller` to `setup.virtual_number` answered by `plugin`
    /// (one of `tenant`'s versions), and plays it up to its first prompt (or its end).
    pub async fn dial(
        &self,
        registry: &Arc<Registry>,
        tenant: Arc<Tenant>,
        plugin: LoadedPlugin,
        mut setup: CallSetup,
    ) -> Result<PhoneView, PhoneError> {
        let n = self.made.fetch_add(1, Ordering::Relaxed);
        let id = format!("ph-{:x}-{n}", setup.started_at_ms);
        setup.run_id = format!("phone-{:x}-{n}", setup.started_at_ms);
        setup.max_call_actions = MAX_CALL_ACTIONS;
        let held = Arc::new(Held {
            tenant: Arc::clone(&tenant.id),
            touched: std::sync::Mutex::new(Instant::now()),
            ended: AtomicBool::new(false),
            call: tokio::sync::Mutex::new(PhoneCall {
                id: id.clone(),
                tenant,
                plugin,
                kv: Arc::new(MemoryStore::new(SCRATCH_STORE_BYTES)),
                call: SimulatedCall::new(setup),
                waiting: None,
            }),
        });
        {
            // Others may have dialled since `room_for`.
            let mut calls = self.calls.lock().unwrap_or_else(|e| e.into_inner());
            room(&calls, &held.tenant)?;
            calls.insert(id, Arc::clone(&held));
        }
        Ok(play(registry, held, None).await)
    }

    /// The call `id` of `tenant`, touched.
    fn find(&self, tenant: &str, id: &str) -> Result<Arc<Held>, PhoneError> {
        let calls = self.calls.lock().unwrap_or_else(|e| e.into_inner());
        let held = calls
            .get(id)
            .filter(|h| &*h.tenant == tenant && !h.stale())
            .cloned()
            .ok_or_else(|| PhoneError::Unknown(id.to_owned()))?;
        held.touch();
        Ok(held)
    }

    /// The call as it stands.
    pub async fn get(&self, tenant: &str, id: &str) -> Result<PhoneView, PhoneError> {
        let held = self.find(tenant, id)?;
        let call = held.call.lock().await;
        Ok(call.view())
    }

    /// What the caller did at the prompt; plays the call on to its next prompt or end.
    pub async fn press(
        &self,
        registry: &Arc<Registry>,
        tenant: &str,
        id: &str,
        press: Press,
    ) -> Result<PhoneView, PhoneError> {
        let held = self.find(tenant, id)?;
        {
            let call = held.call.lock().await;
            if call.waiting.is_none() {
                return Err(PhoneError::NotWaiting(
                    if call.call.transcript().ending.is_some() {
                        "it has ended"
                    } else {
                        "it is not at a prompt"
                    },
                ));
            }
        }
        Ok(play(registry, held, Some(press)).await)
    }

    /// Hangs up (at a prompt, the platform's last webhooks are sent first) and forgets
    /// the call.
    pub async fn hang_up(
        &self,
        registry: &Arc<Registry>,
        tenant: &str,
        id: &str,
    ) -> Result<(), PhoneError> {
        let held = self.find(tenant, id)?;
        play(registry, held, Some(Press::HangUp)).await;
        self.calls
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(id);
        Ok(())
    }
}

/// Whether the table `calls` has room for one more call of `tenant`.
fn room(calls: &HashMap<String, Arc<Held>>, tenant: &str) -> Result<(), PhoneError> {
    let live = |h: &&Arc<Held>| !h.ended.load(Ordering::Relaxed);
    if calls.values().filter(live).count() >= MAX_CALLS {
        return Err(PhoneError::TooMany(
            "the host holds as many phone calls in progress as it may",
        ));
    }
    if calls.len() >= MAX_CALLS + MAX_ENDED {
        return Err(PhoneError::TooMany(
            "the host keeps as many ended phone calls as it may",
        ));
    }
    let theirs = calls
        .values()
        .filter(live)
        .filter(|h| &*h.tenant == tenant)
        .count();
    if theirs >= MAX_CALLS_PER_TENANT {
        return Err(PhoneError::TooMany(
            "the tenant holds as many phone calls in progress as it may",
        ));
    }
    Ok(())
}

/// Hands `press` to the call when it is at a prompt, then plays it on to its next prompt
/// or its end, on a task of its own: a client that goes away mid-webhook leaves the call
/// where the platform would have, not half-answered.
async fn play(registry: &Arc<Registry>, held: Arc<Held>, press: Option<Press>) -> PhoneView {
    let registry = Arc::clone(registry);
    let task = tokio::spawn(async move {
        let mut call = held.call.lock().await;
        if let Some(press) = press
            && call.waiting.take().is_some()
        {
            call.call.press(press);
        }
        call.advance(&registry).await;
        let over = call.waiting.is_none();
        held.ended.store(over, Ordering::Relaxed);
        held.touch();
        call.view()
    });
    match task.await {
        Ok(view) => view,
        // A bug in the walk: the request fails as a panicking handler would.
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

impl PhoneCall {
    /// Plays the call until the caller must press keys or it is over.
    async fn advance(&mut self, registry: &Registry) {
        loop {
            match self.call.next_step() {
                Next::Send(webhook) => {
                    let reply =
                        answer(registry, &self.kv, &self.tenant, &self.plugin, &webhook).await;
                    self.call.reply(reply);
                }
                Next::Press(prompt) => {
                    self.waiting = Some(prompt);
                    return;
                }
                Next::Done => {
                    self.waiting = None;
                    return;
                }
            }
        }
    }

    fn view(&self) -> PhoneView {
        let transcript = self.call.transcript();
        let limits = self.tenant.config.limits.sandbox;
        let plugin = json!({
            "tenant": &*self.tenant.id,
            "version": self.plugin.digest(),
            "bytes": self.plugin.size(),
        });
        PhoneView {
            call: self.id.clone(),
            tenant: self.tenant.id.to_string(),
            version: self.plugin.digest().to_owned(),
            limits: LimitsView::from(&limits),
            waiting: self.waiting.clone(),
            ending: transcript
                .ending
                .and_then(|e| serde_json::to_value(e).ok())
                .and_then(|v| v.as_str().map(str::to_owned)),
            fallbacks: transcript.fallbacks(),
            failures: transcript.failures().len(),
            passed: passed(transcript),
            transcript: transcript_json(plugin, &limits, self.call.setup(), transcript),
        }
    }
}

/// Answers one of the call's webhooks as the host would, with the plugin's log lines.
async fn answer(
    registry: &Registry,
    kv: &Arc<dyn KvStore>,
    tenant: &Arc<Tenant>,
    plugin: &LoadedPlugin,
    webhook: &Webhook,
) -> Reply {
    let event = match callflow_wire::parse_webhook(webhook.to_json().as_bytes()) {
        Ok(event) => event,
        Err(e) => return unparsable(&e),
    };
    let logs = Arc::new(tenant.state.plugin_logs.sharing_budget());
    let handled =
        webhook::process_version(registry, kv, tenant, plugin, &event, Arc::clone(&logs)).await;
    let lines = logs.since(0).0.into_iter().map(|l| ReplyLog {
        level: l.level.to_owned(),
        message: l.message,
    });
    reply(handled, &tenant.config.limits.sandbox, lines.collect())
}

/// What the platform gets for a webhook the host's parser refuses: 400 and the host's
/// error JSON.
pub fn unparsable(e: &callflow_wire::ParseError) -> Reply {
    Reply {
        status: 400,
        body: json!({ "code": e.code(), "message": e.to_string() })
            .to_string()
            .into_bytes(),
        ..Reply::default()
    }
}

/// What the platform gets for a webhook the host answered as `handled` under `limits`,
/// with the plugin's log lines: the simulator's and the phone's view of an answer.
pub fn reply(handled: webhook::Handled, limits: &Limits, logs: Vec<ReplyLog>) -> Reply {
    Reply {
        status: 200,
        body: handled.body.to_vec(),
        failure: handled.failure.map(|f| Failure {
            reason: f.reason().to_owned(),
            message: f.to_string(),
        }),
        cost: handled.cost.map(|(fuel, elapsed)| Cost {
            fuel,
            fuel_limit: Some(limits.fuel),
            elapsed_us: micros(elapsed),
            time_limit_us: Some(micros(limits.timeout)),
        }),
        logs,
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// True when no call action got the fallback, no event failed and 8x8 accepted every
/// answer.
pub fn passed(transcript: &Transcript) -> bool {
    transcript.failures().is_empty() && transcript.ending != Some(Ending::Rejected)
}

/// A call as `callflow-host simulate --json` prints it: the plugin (`plugin`: what ran
/// it), the limits, the call's setup, every entry, how it ended, and whether it passed.
pub fn transcript_json(
    plugin: Value,
    limits: &Limits,
    setup: &CallSetup,
    transcript: &Transcript,
) -> Value {
    json!({
        "plugin": plugin,
        "limits": {
            "fuel": limits.fuel,
            "timeout_ms": limits.timeout.as_millis(),
            "memory_bytes": limits.memory_bytes,
            "output_bytes": limits.output_bytes,
        },
        "call": setup,
        "entries": transcript.entries,
        "ending": transcript.ending,
        "fallbacks": transcript.fallbacks(),
        "failures": transcript.failures().len(),
        "passed": passed(transcript),
    })
}
