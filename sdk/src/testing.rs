//! Run plugins natively under plain `cargo test`: an in-memory host, and events built
//! from 8x8's JSON.
//!
//! ```
//! use callflow_sdk::prelude::*;
//! use callflow_sdk::testing::{Harness, call_action};
//!
//! struct Echo;
//! impl Plugin for Echo {
//!     fn handle(event: Event, _ctx: &Context) -> Result<Option<Callflow>, PluginError> {
//!         let Event::CallAction(action) = event else { return Ok(None) };
//!         let text = format!("You pressed {}", action.digits.as_deref().unwrap_or("nothing"));
//!         Ok(Some(Callflow::new().say(Say::new(text, "en-US-BenjaminRUS")).hangup()))
//!     }
//! }
//!
//! let flow = Harness::new()
//!     .handle::<Echo>(call_action().client_action_id("menu").digits("7"))?
//!     .expect("a callflow");
//! assert_eq!(flow.actions[0], Action::Say(Say::new("You pressed 7", "en-US-BenjaminRUS")));
//! # Ok::<(), PluginError>(())
//! ```
//!
//! What the harness promises: the plugin sees what it would see in a component (the
//! event crosses the same WIT conversions, the store keeps the host's rules), and a
//! callflow that 8x8 would reject fails the test on the spot.
//!
//! Three ways to make events:
//! - [`samples`]: the seed's and 8x8's webhooks, one call each
//!   (`samples::call_received()`);
//! - [`call_action`]: a call action with what the test is about set
//!   (`call_action().client_action_id("menu").digits("1")`);
//! - [`Harness::call`]: a whole call, 8x8's side played by the same walker as
//!   `callflow-host simulate` (`harness.call::<MyPlugin>("1,1,2")`), with every callflow,
//!   what the caller heard and how the call ended in the [`Transcript`].

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::time::Duration;

use callflow_wire::{CallDirection, CallStatus, Callflow, Event, rules};

use crate::api::{Request, Response};
use crate::context::{Context, Host, KvError, Level};
use crate::{Plugin, PluginError, guest};

mod call;
pub mod samples;

/// What [`Harness::call`] takes and gives; the rest (the transcript's entries, the
/// walker itself) is in [`callflow_wire::platform`].
pub use callflow_wire::platform::{
    CallSetup, Ending, Exchange, Failure, Press, Prompt, Script, Style, Transcript,
};

/// What [`Context::now_ms`] answers under a fresh harness: 2026-01-01T00:00:00Z.
pub const EPOCH_MS: u64 = 1_767_225_600_000;

/// Longest key the store takes, in bytes (the host's limit).
pub const MAX_KEY_BYTES: usize = 1024;
/// Longest value the store takes, in bytes (the host's limit).
pub const MAX_VALUE_BYTES: usize = 64 * 1024;

/// One line a plugin logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// Its severity.
    pub level: Level,
    /// What the plugin wrote.
    pub message: String,
}

#[derive(Debug, Clone)]
struct Entry {
    value: Vec<u8>,
    /// Milliseconds on the harness clock at which the value is gone.
    expires_at: Option<u64>,
}

/// An in-memory host for running a [`Plugin`] natively.
///
/// - Configuration is what [`config`](Harness::config) set.
/// - The key-value store follows the host's rules: keys up to [`MAX_KEY_BYTES`], values
///   up to [`MAX_VALUE_BYTES`] (else [`KvError::TooLarge`]); a value with a time to live
///   of `t` ms is gone once the clock has moved `t` ms or more (a TTL of 0 expires at
///   once); `set` and a successful compare-and-swap replace the expiry with their own;
///   an expired value counts as absent everywhere, including `delete`'s answer and
///   compare-and-swap's `expected`.
/// - The clock starts at 0 and moves only with [`advance`](Harness::advance), so TTL
///   tests need no sleeping. [`Context::now_ms`] reads it as [`EPOCH_MS`] plus the time
///   advanced.
/// - Log lines are kept in memory (see [`logs`](Harness::logs)), not printed, so that
///   a harness in a benchmark loop stays quiet; a failing check prints them.
#[derive(Debug, Default)]
pub struct Harness {
    config: BTreeMap<String, String>,
    kv: RefCell<BTreeMap<String, Entry>>,
    now_ms: Cell<u64>,
    logs: RefCell<Vec<LogLine>>,
    /// What a failed call action gets in [`Harness::call`].
    fallback: Option<Callflow>,
    /// The store quota, if one was set: keys, and bytes of keys plus values.
    quota: Option<(u64, u64)>,
}

impl Harness {
    /// A harness with no configuration, an empty store and the clock at 0.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the tenant configuration value `key`.
    #[must_use]
    pub fn config(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.config.insert(key.into(), value.into());
        self
    }

    /// Bounds the store as a tenant's quota does: at most `keys` keys and `bytes` bytes
    /// of keys plus values (expired values do not count). A write that would grow past
    /// either fails with [`KvError::QuotaExceeded`] and changes nothing.
    #[must_use]
    pub fn kv_quota(mut self, keys: u64, bytes: u64) -> Self {
        self.quota = Some((keys, bytes));
        self
    }

    /// Runs `event` through plugin `P`, as the host would.
    ///
    /// The event and the answer cross the same WIT conversions as in a component. A
    /// returned callflow is checked with [`rules::render`]; if 8x8 would reject it, this
    /// panics with the broken rule and the callflow's JSON.
    #[track_caller]
    pub fn handle<P: Plugin>(
        &self,
        event: impl Into<Event>,
    ) -> Result<Option<Callflow>, PluginError> {
        let ctx = self.context();
        let answer = match guest::dispatch::<P>(guest::event_to_wit(event.into()), &ctx) {
            Ok(flow) => flow.map(guest::callflow_from_wit),
            Err(err) => return Err(guest::plugin_error_from_wit(err)),
        };
        if let Some(flow) = &answer
            && let Err(violation) = rules::render(flow)
        {
            panic!(
                "the plugin returned a callflow 8x8 would reject: {violation}\n{}\nplugin log: {:#?}",
                flow.to_json(),
                self.logs.borrow(),
            );
        }
        Ok(answer)
    }

    /// Runs one API request through plugin `P`'s [`Plugin::api`], as the host would: the
    /// request and the response cross the same WIT conversions as in a component.
    pub fn api<P: Plugin>(&self, request: Request) -> Response {
        let ctx = self.context();
        guest::api_response_from_wit(guest::dispatch_api::<P>(
            guest::api_request_to_wit(request),
            &ctx,
        ))
    }

    /// A [`Context`] on this harness's host: seed or inspect the store and configuration
    /// exactly as the plugin sees them.
    pub fn context(&self) -> Context<'_> {
        Context::new(self)
    }

    /// Moves the store's clock forward.
    pub fn advance(&self, by: Duration) {
        let ms = u64::try_from(by.as_millis()).unwrap_or(u64::MAX);
        self.now_ms.set(self.now_ms.get().saturating_add(ms));
    }

    /// Every line plugins logged so far, oldest first.
    pub fn logs(&self) -> Vec<LogLine> {
        self.logs.borrow().clone()
    }

    fn live(&self, entry: &Entry) -> bool {
        entry.expires_at.is_none_or(|at| self.now_ms.get() < at)
    }

    fn current(&self, key: &str) -> Option<Vec<u8>> {
        self.kv
            .borrow()
            .get(key)
            .filter(|e| self.live(e))
            .map(|e| e.value.clone())
    }

    /// Refuses writing `new` (or removing, `None`) under `key` when it would grow the
    /// store past its quota.
    fn admit(&self, key: &str, new: Option<&[u8]>) -> Result<(), KvError> {
        let Some((max_keys, max_bytes)) = self.quota else {
            return Ok(());
        };
        let size = |k: &str, v: &[u8]| (k.len() + v.len()) as u64;
        let (mut keys, mut bytes) = (0u64, 0u64);
        for (k, e) in self.kv.borrow().iter().filter(|(_, e)| self.live(e)) {
            keys += 1;
            bytes += size(k, &e.value);
        }
        let old = self.current(key).map(|v| size(key, &v));
        let after_keys = keys - u64::from(old.is_some()) + u64::from(new.is_some());
        let after_bytes = bytes - old.unwrap_or(0) + new.map_or(0, |v| size(key, v));
        if after_keys > keys && after_keys > max_keys {
            return Err(KvError::QuotaExceeded(format!(
                "the tenant's store quota of {max_keys} keys is reached ({keys} in use)"
            )));
        }
        if after_bytes > bytes && after_bytes > max_bytes {
            return Err(KvError::QuotaExceeded(format!(
                "the tenant's store quota of {max_bytes} bytes is reached ({bytes} in use)"
            )));
        }
        Ok(())
    }

    fn put(&self, key: &str, value: &[u8], ttl_ms: Option<u64>) {
        let entry = Entry {
            value: value.to_vec(),
            expires_at: ttl_ms.map(|t| self.now_ms.get().saturating_add(t)),
        };
        self.kv.borrow_mut().insert(key.to_owned(), entry);
    }

    /// Removes `key`; true when a live value was there.
    fn remove(&self, key: &str) -> bool {
        let removed = self.kv.borrow_mut().remove(key);
        removed.is_some_and(|e| self.live(&e))
    }
}

fn check_key(key: &str) -> Result<(), KvError> {
    if key.len() > MAX_KEY_BYTES {
        return Err(KvError::TooLarge(format!(
            "key is {} bytes; the limit is {MAX_KEY_BYTES}",
            key.len()
        )));
    }
    Ok(())
}

fn check_value(value: &[u8]) -> Result<(), KvError> {
    if value.len() > MAX_VALUE_BYTES {
        return Err(KvError::TooLarge(format!(
            "value is {} bytes; the limit is {MAX_VALUE_BYTES}",
            value.len()
        )));
    }
    Ok(())
}

impl Host for Harness {
    fn log(&self, level: Level, message: &str) {
        self.logs.borrow_mut().push(LogLine {
            level,
            message: message.to_owned(),
        });
    }

    fn config(&self, key: &str) -> Option<String> {
        self.config.get(key).cloned()
    }

    fn kv_get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        check_key(key)?;
        Ok(self.current(key))
    }

    fn kv_set(&self, key: &str, value: &[u8], ttl_ms: Option<u64>) -> Result<(), KvError> {
        check_key(key)?;
        check_value(value)?;
        self.admit(key, Some(value))?;
        self.put(key, value, ttl_ms);
        Ok(())
    }

    fn kv_delete(&self, key: &str) -> Result<bool, KvError> {
        check_key(key)?;
        Ok(self.remove(key))
    }

    fn kv_compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
        ttl_ms: Option<u64>,
    ) -> Result<bool, KvError> {
        check_key(key)?;
        if let Some(value) = new {
            check_value(value)?;
        }
        if self.current(key).as_deref() != expected {
            return Ok(false);
        }
        self.admit(key, new)?;
        match new {
            Some(value) => self.put(key, value, ttl_ms),
            None => {
                self.remove(key);
            }
        }
        Ok(true)
    }

    fn now_ms(&self) -> u64 {
        EPOCH_MS.saturating_add(self.now_ms.get())
    }
}

/// Parses an 8x8 webhook body into an [`Event`] with the host's own parser.
///
/// # Panics
/// When the host would reject the body; the message says why.
#[track_caller]
pub fn event_from_json(json: &str) -> Event {
    match callflow_wire::parse_webhook(json.as_bytes()) {
        Ok(event) => event,
        Err(err) => panic!("not a webhook the host accepts: {err}\n{json}"),
    }
}

/// A `CALL_ACTION` webhook to build: an inbound PSTN call to a virtual number, like the
/// seed's sample. Set what the test is about, leave the rest.
///
/// ```
/// use callflow_sdk::testing::call_action;
/// use callflow_sdk::{CallStatus, Event};
///
/// let Event::CallAction(action) = call_action().client_action_id("main_menu").digits("1").build()
/// else { unreachable!() };
/// assert_eq!(action.digits.as_deref(), Some("1"));
/// assert_eq!(action.call.status, CallStatus::ActionCompleted);
/// ```
pub fn call_action() -> CallActionBuilder {
    CallActionBuilder::default()
}

/// Builds a `CALL_ACTION` webhook; start with [`call_action`].
///
/// The builder writes 8x8's JSON and parses it with the host's parser, so the event is
/// exactly what the host would hand a plugin for that body.
#[derive(Debug, Clone)]
pub struct CallActionBuilder {
    event_id: Option<String>,
    call_id: String,
    session_id: String,
    sub_account_id: String,
    status: Option<CallStatus>,
    direction: CallDirection,
    source: String,
    destination: String,
    client_action_id: Option<String>,
    digits: Option<String>,
}

impl Default for CallActionBuilder {
    fn default() -> Self {
        Self {
            event_id: None,
            call_id: "a1d6a5e3-efec-11e9-b999-7d370b5f90d1".into(),
            session_id: "a1d6a5e2-efec-11e9-b999-efc71013a78f".into(),
            sub_account_id: "your_subaccount_id".into(),
            status: None,
            direction: CallDirection::Inbound,
            source: "+65123456789".into(),
            destination: "+65987654321".into(),
            client_action_id: None,
            digits: None,
        }
    }
}

impl CallActionBuilder {
    /// The `clientActionId` 8x8 echoes from the previous callflow.
    #[must_use]
    pub fn client_action_id(mut self, id: impl Into<String>) -> Self {
        self.client_action_id = Some(id.into());
        self
    }

    /// The digits the last `sayAndCapture` captured (`eventData.dtmf`).
    #[must_use]
    pub fn digits(mut self, digits: impl Into<String>) -> Self {
        self.digits = Some(digits.into());
        self
    }

    /// The `callStatus`. Unless set, it is `ACTION_COMPLETED` when a client action id or
    /// digits are set (the answer to an earlier callflow) and `CALL_RECEIVED` otherwise
    /// (a new inbound call).
    #[must_use]
    pub fn status(mut self, status: CallStatus) -> Self {
        self.status = Some(status);
        self
    }

    /// The `callDirection` (default `INBOUND`).
    #[must_use]
    pub fn direction(mut self, direction: CallDirection) -> Self {
        self.direction = direction;
        self
    }

    /// The calling number.
    #[must_use]
    pub fn source(mut self, number: impl Into<String>) -> Self {
        self.source = number.into();
        self
    }

    /// The called number (a virtual number for inbound calls).
    #[must_use]
    pub fn destination(mut self, number: impl Into<String>) -> Self {
        self.destination = number.into();
        self
    }

    /// The `eventId` (default: a new one per built event).
    #[must_use]
    pub fn event_id(mut self, id: impl Into<String>) -> Self {
        self.event_id = Some(id.into());
        self
    }

    /// The `callId`.
    #[must_use]
    pub fn call_id(mut self, id: impl Into<String>) -> Self {
        self.call_id = id.into();
        self
    }

    /// The `sessionId`.
    #[must_use]
    pub fn session_id(mut self, id: impl Into<String>) -> Self {
        self.session_id = id.into();
        self
    }

    /// The `subAccountId`.
    #[must_use]
    pub fn sub_account_id(mut self, id: impl Into<String>) -> Self {
        self.sub_account_id = id.into();
        self
    }

    /// The webhook body 8x8 would send.
    pub fn to_json(&self) -> String {
        use std::sync::atomic::{AtomicU64, Ordering};
        static NEXT_EVENT: AtomicU64 = AtomicU64::new(1);

        let answered = self.client_action_id.is_some() || self.digits.is_some();
        let status = self.status.clone().unwrap_or(if answered {
            CallStatus::ActionCompleted
        } else {
            CallStatus::CallReceived
        });
        let event_id = self.event_id.clone().unwrap_or_else(|| {
            let n = NEXT_EVENT.fetch_add(1, Ordering::Relaxed);
            format!("eb0fc709-9693-11ea-454d-{n:012x}")
        });
        let mut payload = serde_json::json!({
            "eventId": event_id,
            "callId": self.call_id,
            "sessionId": self.session_id,
            "subAccountId": self.sub_account_id,
            "callStatus": status.as_str(),
            "callDirection": self.direction.as_str(),
            "callType": "PSTN",
            "source": self.source,
            "destination": self.destination,
            "sourceFormat": "MSISDN",
            "destinationFormat": "MSISDN",
            "sourceCountryCode": "SG",
            "destinationCountryCode": "SG",
            "destinationRefId": "vn-ref-1",
            "callDuration": 0,
            "sipCode": 200,
            "timestamp": "2019-10-16T08:12:01Z",
        });
        if let Some(id) = &self.client_action_id {
            payload["clientActionId"] = id.as_str().into();
        }
        if let Some(digits) = &self.digits {
            payload["eventData"] = serde_json::json!({ "dtmf": digits });
        }
        serde_json::json!({
            "namespace": "VOICE",
            "eventType": "CALL_ACTION",
            "description": "Action request of a call",
            "payload": payload,
        })
        .to_string()
    }

    /// The event the host would hand a plugin for [`to_json`](Self::to_json).
    #[track_caller]
    pub fn build(&self) -> Event {
        event_from_json(&self.to_json())
    }
}

impl From<CallActionBuilder> for Event {
    #[track_caller]
    fn from(builder: CallActionBuilder) -> Self {
        builder.build()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Action, Say};

    const DAY: Duration = Duration::from_secs(86_400);

    #[test]
    fn values_expire_exactly_when_their_ttl_has_passed() {
        let h = Harness::new();
        let kv = h.context().kv();
        kv.set("k", b"v", Some(Duration::from_millis(100)))
            .expect("set");
        h.advance(Duration::from_millis(99));
        assert_eq!(kv.get("k"), Ok(Some(b"v".to_vec())));
        h.advance(Duration::from_millis(1));
        assert_eq!(kv.get("k"), Ok(None));
    }

    #[test]
    fn a_zero_ttl_expires_at_once_and_no_ttl_never_expires() {
        let h = Harness::new();
        let kv = h.context().kv();
        kv.set("gone", b"v", Some(Duration::ZERO)).expect("set");
        kv.set("kept", b"v", None).expect("set");
        assert_eq!(kv.get("gone"), Ok(None));
        h.advance(DAY * 365);
        assert_eq!(kv.get("kept"), Ok(Some(b"v".to_vec())));
    }

    #[test]
    fn set_replaces_the_expiry_of_the_value_it_replaces() {
        let h = Harness::new();
        let kv = h.context().kv();
        kv.set("k", b"1", Some(Duration::from_secs(1)))
            .expect("set");
        kv.set("k", b"2", None).expect("set");
        h.advance(DAY);
        assert_eq!(kv.get("k"), Ok(Some(b"2".to_vec())));
        kv.set("k", b"3", Some(Duration::from_secs(1)))
            .expect("set");
        h.advance(Duration::from_secs(1));
        assert_eq!(kv.get("k"), Ok(None));
    }

    #[test]
    fn delete_reports_only_live_values() {
        let h = Harness::new();
        let kv = h.context().kv();
        assert_eq!(kv.delete("k"), Ok(false));
        kv.set("k", b"v", None).expect("set");
        assert_eq!(kv.delete("k"), Ok(true));
        assert_eq!(kv.get("k"), Ok(None));
        kv.set("k", b"v", Some(Duration::from_secs(1)))
            .expect("set");
        h.advance(Duration::from_secs(2));
        assert_eq!(kv.delete("k"), Ok(false));
    }

    #[test]
    fn compare_and_swap_treats_expired_values_as_absent() {
        let h = Harness::new();
        let kv = h.context().kv();
        kv.set("k", b"old", Some(Duration::from_secs(1)))
            .expect("set");
        assert_eq!(
            kv.compare_and_swap("k", None, Some(b"new"), None),
            Ok(false)
        );
        h.advance(Duration::from_secs(1));
        assert_eq!(
            kv.compare_and_swap("k", Some(b"old"), Some(b"new"), None),
            Ok(false)
        );
        assert_eq!(kv.compare_and_swap("k", None, Some(b"new"), None), Ok(true));
        assert_eq!(kv.get("k"), Ok(Some(b"new".to_vec())));
    }

    #[test]
    fn compare_and_swap_deletes_and_sets_its_own_ttl() {
        let h = Harness::new();
        let kv = h.context().kv();
        kv.set("k", b"a", None).expect("set");
        assert_eq!(kv.compare_and_swap("k", Some(b"b"), None, None), Ok(false));
        assert_eq!(kv.get("k"), Ok(Some(b"a".to_vec())));
        assert_eq!(kv.compare_and_swap("k", Some(b"a"), None, None), Ok(true));
        assert_eq!(kv.get("k"), Ok(None));
        let ttl = Some(Duration::from_secs(5));
        assert_eq!(kv.compare_and_swap("k", None, Some(b"c"), ttl), Ok(true));
        h.advance(Duration::from_secs(5));
        assert_eq!(kv.get("k"), Ok(None));
    }

    #[test]
    fn keys_and_values_over_the_host_limits_are_too_large() {
        let h = Harness::new();
        let kv = h.context().kv();
        let long_key = "k".repeat(MAX_KEY_BYTES + 1);
        let big = vec![0; MAX_VALUE_BYTES + 1];
        assert!(matches!(kv.get(&long_key), Err(KvError::TooLarge(_))));
        assert!(matches!(
            kv.set(&long_key, b"v", None),
            Err(KvError::TooLarge(_))
        ));
        assert!(matches!(kv.delete(&long_key), Err(KvError::TooLarge(_))));
        assert!(matches!(kv.set("k", &big, None), Err(KvError::TooLarge(_))));
        assert!(matches!(
            kv.compare_and_swap("k", None, Some(&big), None),
            Err(KvError::TooLarge(_))
        ));
        let at_limit = vec![0; MAX_VALUE_BYTES];
        assert_eq!(kv.set(&"k".repeat(MAX_KEY_BYTES), &at_limit, None), Ok(()));
    }

    #[test]
    fn config_and_logs_reach_the_plugin_and_the_test() {
        let h = Harness::new().config("greeting", "hi");
        let ctx = h.context();
        assert_eq!(ctx.config("greeting").as_deref(), Some("hi"));
        assert_eq!(ctx.config("absent"), None);
        let err = ctx.require_config("absent").expect_err("missing");
        assert_eq!(
            err,
            PluginError::Unavailable("tenant configuration has no `absent`".into())
        );
        crate::info!(ctx, "menu {}", 1);
        crate::warn!(ctx, "odd");
        assert_eq!(
            h.logs(),
            [
                LogLine {
                    level: Level::Info,
                    message: "menu 1".into()
                },
                LogLine {
                    level: Level::Warn,
                    message: "odd".into()
                },
            ]
        );
    }

    struct Fixed;
    impl Plugin for Fixed {
        fn handle(event: Event, ctx: &Context<'_>) -> Result<Option<Callflow>, PluginError> {
            let text = ctx.require_config("text")?;
            match event {
                Event::CallAction(_) => Ok(Some(Callflow::new().say(Say::new(text, "v")).hangup())),
                _ => Ok(None),
            }
        }
    }

    #[test]
    fn handle_returns_the_plugins_answer_and_errors() {
        let flow = Harness::new()
            .config("text", "hello")
            .handle::<Fixed>(call_action());
        let flow = flow.expect("ok").expect("a callflow");
        assert_eq!(
            flow.actions,
            [Action::Say(Say::new("hello", "v")), Action::Hangup]
        );
        let err = Harness::new()
            .handle::<Fixed>(call_action())
            .expect_err("no config");
        assert!(matches!(err, PluginError::Unavailable(why) if why.contains("`text`")));
    }

    #[test]
    #[should_panic(expected = "8x8 would reject")]
    fn handle_fails_loudly_on_a_callflow_8x8_would_reject() {
        // An empty text breaks 8x8's rules (-1009).
        let _ = Harness::new()
            .config("text", " ")
            .handle::<Fixed>(call_action());
    }

    #[test]
    fn call_action_status_follows_what_was_set() {
        let status = |b: CallActionBuilder| match b.build() {
            Event::CallAction(a) => a.call.status,
            other => panic!("not a call action: {other:?}"),
        };
        assert_eq!(status(call_action()), CallStatus::CallReceived);
        assert_eq!(
            status(call_action().client_action_id("m")),
            CallStatus::ActionCompleted
        );
        assert_eq!(
            status(call_action().digits("1")),
            CallStatus::ActionCompleted
        );
        assert_eq!(
            status(call_action().digits("1").status(CallStatus::DtmfReceived)),
            CallStatus::DtmfReceived
        );
    }

    #[test]
    fn call_action_sets_every_field_it_names() {
        let built = call_action()
            .event_id("e")
            .call_id("c")
            .session_id("s")
            .sub_account_id("acc")
            .direction(CallDirection::Outbound)
            .source("6511")
            .destination("+6522")
            .client_action_id("menu")
            .digits("42")
            .build();
        let Event::CallAction(a) = built else {
            panic!("not a call action")
        };
        assert_eq!(
            (
                a.call.event_id.as_str(),
                a.call.call_id.as_str(),
                a.call.session_id.as_str()
            ),
            ("e", "c", "s")
        );
        assert_eq!(a.call.sub_account_id, "acc");
        assert_eq!(a.call.direction, CallDirection::Outbound);
        // As the host's parser does: E.164 numbers get their `+`.
        assert_eq!(
            (a.call.source.as_str(), a.call.destination.as_str()),
            ("+6511", "+6522")
        );
        assert_eq!(a.client_action_id.as_deref(), Some("menu"));
        assert_eq!(a.digits.as_deref(), Some("42"));
    }

    #[test]
    fn built_events_get_distinct_event_ids() {
        assert_ne!(
            call_action().build().event_id(),
            call_action().build().event_id()
        );
    }

    #[test]
    #[should_panic(expected = "not a webhook the host accepts")]
    fn event_from_json_names_what_the_host_would_reject() {
        let _ = event_from_json(r#"{"eventType":"CALL_ACTION","payload":{}}"#);
    }
}
