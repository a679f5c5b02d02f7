//! Whole calls, natively: 8x8's side of a call ([`callflow_wire::platform`], the walker
//! `callflow-host simulate` drives too) against a plugin run by a [`Harness`].

use std::time::Duration;

use callflow_wire::platform::{
    CallSetup, Failure, Next, Reply, ReplyLog, Script, SimulatedCall, Transcript,
};
use callflow_wire::{Callflow, EventKind, rules};

use super::{Harness, event_from_json};
use crate::{Plugin, PluginError, guest};

impl Harness {
    /// Plays a whole inbound call through plugin `P`: the seed's caller dials the seed's
    /// virtual number and presses what `script` says at each `sayAndCapture`, in order
    /// (`"1,1,2"`; `-` presses nothing; see [`Script`] for retries). Every webhook 8x8
    /// would send reaches the plugin: the call actions, the bridged leg's statuses, the
    /// final `CALL_STATUS` and `SESSION_SUMMARY`.
    ///
    /// The plugin is answered as the host would answer it: a call action it fails on (an
    /// error, no callflow, a callflow 8x8 would reject) gets the tenant's fallback
    /// ([`fallback`](Self::fallback)) and is listed in [`Transcript::failures`], instead
    /// of failing the test on the spot as [`handle`](Self::handle) does. The harness's
    /// clock moves with the call's simulated time.
    ///
    /// ```
    /// use callflow_sdk::prelude::*;
    /// use callflow_sdk::testing::Harness;
    ///
    /// struct Menu;
    /// impl Plugin for Menu {
    ///     fn handle(event: Event, _ctx: &Context) -> Result<Option<Callflow>, PluginError> {
    ///         let Event::CallAction(action) = event else { return Ok(None) };
    ///         let voice = "en-US-BenjaminRUS";
    ///         Ok(Some(match action.digits.as_deref() {
    ///             None if action.client_action_id.is_none() => Callflow::new()
    ///                 .client_action_id("menu")
    ///                 .say_and_capture(SayAndCapture::new("Press 1 for the hours.", voice).digits(1, 1)),
    ///             Some("1") => Callflow::new().say(Say::new("Nine to five.", voice)).hangup(),
    ///             _ => Callflow::new().say(Say::new("Goodbye.", voice)).hangup(),
    ///         }))
    ///     }
    /// }
    ///
    /// let call = Harness::new().call::<Menu>("1");
    /// assert_eq!(call.heard(), ["Press 1 for the hours.", "Nine to five."]);
    /// assert_eq!(call.fallbacks(), 0);
    /// ```
    ///
    /// # Panics
    /// When `script` is malformed.
    #[track_caller]
    pub fn call<P: Plugin>(&self, script: &str) -> Transcript {
        let script = Script::parse(script).unwrap_or_else(|e| panic!("{e}"));
        self.call_with::<P>(CallSetup::default(), script)
    }

    /// [`call`](Self::call) with the call's numbers, sub-account and behaviour set.
    pub fn call_with<P: Plugin>(&self, setup: CallSetup, mut script: Script) -> Transcript {
        let mut call = SimulatedCall::new(setup);
        let mut clock = call.now_ms();
        loop {
            match call.next_step() {
                Next::Send(webhook) => {
                    let reply = self.answer::<P>(&webhook.to_json());
                    call.reply(reply);
                }
                Next::Press(prompt) => call.press(script.press(&prompt)),
                Next::Done => return call.into_transcript(),
            }
            let now = call.now_ms();
            self.advance(Duration::from_millis(now.saturating_sub(clock)));
            clock = now;
        }
    }

    /// The callflow a call action gets when the plugin fails on it, as the tenant's
    /// `[fallback]` would be. Unless set: `hangup`.
    #[must_use]
    pub fn fallback(mut self, flow: Callflow) -> Self {
        self.fallback = Some(flow);
        self
    }

    /// Answers one webhook body as the host would: the plugin's callflow, the fallback,
    /// or the bare acknowledgement.
    fn answer<P: Plugin>(&self, body: &str) -> Reply {
        let event = event_from_json(body);
        let kind = event.kind();
        let logged = self.logs.borrow().len();
        let ctx = self.context();
        let result = guest::dispatch::<P>(guest::event_to_wit(event), &ctx)
            .map(|flow| flow.map(guest::callflow_from_wit))
            .map_err(guest::plugin_error_from_wit);
        let logs = self.logs.borrow()[logged..]
            .iter()
            .map(|l| ReplyLog {
                level: l.level.as_str().to_owned(),
                message: l.message.clone(),
            })
            .collect();
        let failure = |reason: &str, message: String| Failure {
            reason: reason.to_owned(),
            message,
        };
        let outcome = match (kind, result) {
            (EventKind::CallAction, Ok(Some(flow))) => rules::render(&flow)
                .map_err(|v| failure("invalid_callflow", format!("invalid callflow: {v}"))),
            (EventKind::CallAction, Ok(None)) => Err(failure(
                "no_callflow",
                "the plugin returned no callflow for a call action".into(),
            )),
            (_, Err(err)) => Err(failure("plugin_error", reported(&err))),
            (_, Ok(_)) => Ok(b"{}".to_vec()),
        };
        let (body, failure) = match outcome {
            Ok(body) => (body, None),
            Err(failure) if kind == EventKind::CallAction => {
                let fallback = self
                    .fallback
                    .clone()
                    .unwrap_or_else(|| Callflow::new().hangup());
                (fallback.to_json().into_bytes(), Some(failure))
            }
            Err(failure) => (b"{}".to_vec(), Some(failure)),
        };
        Reply {
            status: 200,
            body,
            failure,
            cost: None,
            logs,
        }
    }
}

/// The host's words for a plugin's own error.
fn reported(err: &PluginError) -> String {
    let (kind, message) = match err {
        PluginError::BadEvent(m) => ("bad_event", m),
        PluginError::Unavailable(m) => ("unavailable", m),
        PluginError::Internal(m) => ("internal", m),
    };
    format!("the plugin reported {kind}: {message}")
}

#[cfg(test)]
mod tests {
    use callflow_wire::platform::{Ending, Entry};

    use super::*;
    use crate::prelude::*;

    const VOICE: &str = "en-US-BenjaminRUS";

    /// A menu that remembers in the store how often it was played.
    struct Counter;
    impl Plugin for Counter {
        fn handle(event: Event, ctx: &Context<'_>) -> Result<Option<Callflow>, PluginError> {
            let Event::CallAction(action) = event else {
                return Ok(None);
            };
            let kv = ctx.kv();
            let n = kv.get("plays")?.map_or(0, |v| v.len()) + 1;
            kv.set("plays", vec![0; n], None)?;
            Ok(Some(match action.digits.as_deref() {
                Some("1") => Callflow::new().say(Say::new("One", VOICE)).hangup(),
                Some("2") => ctx
                    .require_config("desk")
                    .map(|desk| Callflow::new().make_call(MakeCall::new("+6512345678", desk)))?,
                Some("3") => Callflow::new().say(Say::new("", VOICE)),
                _ => Callflow::new()
                    .client_action_id("menu")
                    .say_and_capture(SayAndCapture::new("Press", VOICE).digits(1, 1).tries(2)),
            }))
        }
    }

    #[test]
    fn a_whole_call_runs_every_webhook_through_the_plugin_and_its_store() {
        let h = Harness::new();
        let call = h.call::<Counter>("-,1");
        assert_eq!(call.ending, Some(Ending::Hangup));
        assert_eq!(call.heard(), ["Press", "Press", "Press", "One"]);
        assert_eq!(call.callflows().len(), 3);
        // Three call actions; the status and summary are not call actions.
        assert_eq!(h.context().kv().get("plays"), Ok(Some(vec![0; 3])));
        assert_eq!(call.fallbacks(), 0);
    }

    #[test]
    fn failures_get_the_fallback_and_are_listed() {
        let h = Harness::new().fallback(Callflow::new().say(Say::new("Sorry", VOICE)).hangup());
        let call = h.call::<Counter>("2");
        assert_eq!(call.fallbacks(), 1);
        let (_, failure) = call.failures()[0];
        assert_eq!(failure.reason, "plugin_error");
        assert!(failure.message.contains("`desk`"), "{}", failure.message);
        assert_eq!(call.heard(), ["Press", "Sorry"]);

        let call = Harness::new().call::<Counter>("3");
        assert_eq!(call.failures()[0].1.reason, "invalid_callflow");
        assert!(call.entries.contains(&Entry::Hangup));
    }

    #[test]
    fn the_harness_clock_follows_the_call() {
        let h = Harness::new();
        let before = h.context().now_ms();
        let _ = h.call::<Counter>("-");
        // Two silent tries of 30 s each, at least.
        assert!(h.context().now_ms() - before >= 60_000);
    }
}
