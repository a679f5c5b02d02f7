//! Callflows out: what a call action is answered with, in 8x8's exact JSON.
//!
//! ```
//! use callflow_wire::{Callflow, Say};
//!
//! let flow = Callflow::new()
//!     .say(Say::new("Our restaurant hours are between 9AM and 9PM.", "en-US-BenjaminRUS").speed(1.0))
//!     .hangup();
//! assert_eq!(
//!     flow.to_json(),
//!     r#"{"callflow":[{"action":"say","params":{"text":"Our restaurant hours are between 9AM and 9PM.","voiceProfile":"en-US-BenjaminRUS","speed":1}},{"action":"hangup"}]}"#,
//! );
//! ```

use serde::{Deserialize, Serialize, Serializer};

/// The answer to a call action: `{"clientActionId": ..., "callflow": [...]}`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Callflow {
    /// Echoed back by 8x8 in the next call action: where the caller is in the flow.
    #[serde(
        rename = "clientActionId",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub client_action_id: Option<String>,
    /// What the platform runs, in order.
    #[serde(rename = "callflow")]
    pub actions: Vec<Action>,
}

/// One step of a callflow: `{"action": "...", "params": {...}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(tag = "action", content = "params", rename_all = "camelCase")]
pub enum Action {
    /// Bridge the caller to another party.
    MakeCall(MakeCall),
    /// Speak text.
    Say(Say),
    /// Speak a prompt and capture digits.
    SayAndCapture(SayAndCapture),
    /// Play an audio file.
    PlayFile(PlayFile),
    /// End the call.
    Hangup,
}

impl Action {
    /// The action's name in 8x8's JSON.
    pub fn name(&self) -> &'static str {
        match self {
            Action::MakeCall(_) => "makeCall",
            Action::Say(_) => "say",
            Action::SayAndCapture(_) => "sayAndCapture",
            Action::PlayFile(_) => "playFile",
            Action::Hangup => "hangup",
        }
    }
}

/// `makeCall`: connect the caller to `destination`, showing `source`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MakeCall {
    /// The number shown to the other party: one of the sub-account's virtual numbers.
    pub source: String,
    /// The party to call.
    pub destination: String,
    /// Record the call.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub call_recording: Option<bool>,
}

/// `say`: text to speech.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Say {
    /// What to say.
    pub text: String,
    /// The voice, for example `en-US-BenjaminRUS`.
    pub voice_profile: String,
    /// How many times, 1 to 3.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub repetition: Option<u8>,
    /// Speech speed, 0.5 to 2.0.
    #[serde(
        skip_serializing_if = "Option::is_none",
        default,
        serialize_with = "speed"
    )]
    pub speed: Option<f32>,
}

/// `sayAndCapture`: a prompt, then the caller's digits in the next call action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SayAndCapture {
    /// The prompt.
    pub prompt_message: String,
    /// The voice.
    pub voice_profile: String,
    /// Said after a successful capture.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub success_message: Option<String>,
    /// Said after a failed capture.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub failure_message: Option<String>,
    /// Speech speed, 0.5 to 2.0.
    #[serde(
        skip_serializing_if = "Option::is_none",
        default,
        serialize_with = "speed"
    )]
    pub speed: Option<f32>,
    /// End the capture on `#`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub complete_on_hash: Option<bool>,
    /// Fewest digits that count.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub min_digits: Option<u8>,
    /// Most digits accepted.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub max_digits: Option<u8>,
    /// Milliseconds allowed between digits.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub digit_timeout: Option<u32>,
    /// Milliseconds allowed for the whole input.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub overall_timeout: Option<u32>,
    /// How many times the prompt is tried on failed input.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub no_of_tries: Option<u8>,
}

/// `playFile`: play an audio file into the call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PlayFile {
    /// Public http(s) URL of an `.mp3` or `.wav` file.
    pub file_url: String,
    /// How many times, 1 to 3.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub repetition: Option<u8>,
}

/// 8x8's samples write `"speed":1`; keep whole speeds integral so our JSON matches theirs.
fn speed<S: Serializer>(speed: &Option<f32>, s: S) -> Result<S::Ok, S::Error> {
    match *speed {
        Some(v) if v.fract() == 0.0 && (0.0..=255.0).contains(&v) => s.serialize_u8(v as u8),
        Some(v) => s.serialize_f32(v),
        None => s.serialize_none(),
    }
}

impl Callflow {
    /// An empty callflow; add actions with the builder methods.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the `clientActionId` 8x8 echoes back in the next call action.
    #[must_use]
    pub fn client_action_id(mut self, id: impl Into<String>) -> Self {
        self.client_action_id = Some(id.into());
        self
    }

    /// Appends any action.
    #[must_use]
    pub fn then(mut self, action: impl Into<Action>) -> Self {
        self.actions.push(action.into());
        self
    }

    /// Appends a `say`.
    #[must_use]
    pub fn say(self, say: Say) -> Self {
        self.then(say)
    }

    /// Appends a `sayAndCapture`.
    #[must_use]
    pub fn say_and_capture(self, capture: SayAndCapture) -> Self {
        self.then(capture)
    }

    /// Appends a `makeCall`.
    #[must_use]
    pub fn make_call(self, call: MakeCall) -> Self {
        self.then(call)
    }

    /// Appends a `playFile`.
    #[must_use]
    pub fn play_file(self, file: PlayFile) -> Self {
        self.then(file)
    }

    /// Appends a `hangup`.
    #[must_use]
    pub fn hangup(self) -> Self {
        self.then(Action::Hangup)
    }

    /// 8x8's JSON for this callflow.
    pub fn to_json(&self) -> String {
        // Serialising plain structs of strings and numbers cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Writes 8x8's JSON for this callflow into `buf`.
    pub fn write_json(&self, buf: &mut Vec<u8>) {
        // Writing to a Vec cannot fail, and neither can serialising these types.
        let _ = serde_json::to_writer(buf, self);
    }

    /// Parses a callflow written in 8x8's JSON, strictly: unknown keys are errors.
    pub fn from_json(json: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(json)
    }
}

macro_rules! into_action {
    ($($ty:ident),*) => {$(
        impl From<$ty> for Action {
            fn from(params: $ty) -> Self {
                Action::$ty(params)
            }
        }
    )*};
}
into_action!(MakeCall, Say, SayAndCapture, PlayFile);

impl MakeCall {
    /// Bridge to `destination`, showing `source` (a virtual number).
    pub fn new(source: impl Into<String>, destination: impl Into<String>) -> Self {
        Self {
            source: source.into(),
            destination: destination.into(),
            call_recording: None,
        }
    }

    /// Records the call.
    #[must_use]
    pub fn call_recording(mut self, on: bool) -> Self {
        self.call_recording = Some(on);
        self
    }
}

impl Say {
    /// Say `text` in `voice_profile`.
    pub fn new(text: impl Into<String>, voice_profile: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            voice_profile: voice_profile.into(),
            repetition: None,
            speed: None,
        }
    }

    /// Repeats the text, 1 to 3 times.
    #[must_use]
    pub fn repetition(mut self, times: u8) -> Self {
        self.repetition = Some(times);
        self
    }

    /// Speech speed, 0.5 to 2.0.
    #[must_use]
    pub fn speed(mut self, speed: f32) -> Self {
        self.speed = Some(speed);
        self
    }
}

impl SayAndCapture {
    /// Say `prompt` in `voice_profile`, then capture digits.
    pub fn new(prompt: impl Into<String>, voice_profile: impl Into<String>) -> Self {
        Self {
            prompt_message: prompt.into(),
            voice_profile: voice_profile.into(),
            success_message: None,
            failure_message: None,
            speed: None,
            complete_on_hash: None,
            min_digits: None,
            max_digits: None,
            digit_timeout: None,
            overall_timeout: None,
            no_of_tries: None,
        }
    }

    /// Said after a successful capture.
    #[must_use]
    pub fn success_message(mut self, text: impl Into<String>) -> Self {
        self.success_message = Some(text.into());
        self
    }

    /// Said after a failed capture.
    #[must_use]
    pub fn failure_message(mut self, text: impl Into<String>) -> Self {
        self.failure_message = Some(text.into());
        self
    }

    /// Speech speed, 0.5 to 2.0.
    #[must_use]
    pub fn speed(mut self, speed: f32) -> Self {
        self.speed = Some(speed);
        self
    }

    /// End the capture on `#` (when false, set [`digits`](Self::digits) too).
    #[must_use]
    pub fn complete_on_hash(mut self, on: bool) -> Self {
        self.complete_on_hash = Some(on);
        self
    }

    /// Accept between `min` and `max` digits (1 <= min <= max <= 25).
    #[must_use]
    pub fn digits(mut self, min: u8, max: u8) -> Self {
        self.min_digits = Some(min);
        self.max_digits = Some(max);
        self
    }

    /// Milliseconds between digits and for the whole input (`digit` < `overall`).
    #[must_use]
    pub fn timeouts(mut self, digit_ms: u32, overall_ms: u32) -> Self {
        self.digit_timeout = Some(digit_ms);
        self.overall_timeout = Some(overall_ms);
        self
    }

    /// Milliseconds for the whole input, with no per-digit timeout.
    #[must_use]
    pub fn overall_timeout(mut self, overall_ms: u32) -> Self {
        self.overall_timeout = Some(overall_ms);
        self
    }

    /// How many times the prompt is tried on failed input (1 to 5).
    #[must_use]
    pub fn tries(mut self, tries: u8) -> Self {
        self.no_of_tries = Some(tries);
        self
    }
}

impl PlayFile {
    /// Play the file at `url`.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            file_url: url.into(),
            repetition: None,
        }
    }

    /// Repeats the file, 1 to 3 times.
    #[must_use]
    pub fn repetition(mut self, times: u8) -> Self {
        self.repetition = Some(times);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialises_in_8x8_shape_and_omits_unset_params() {
        let flow = Callflow::new()
            .client_action_id("connect_call")
            .make_call(MakeCall::new("+6512345678", "+6587654321"))
            .say(Say::new("Bye", "en-US-ZiraRUS").speed(1.5))
            .hangup();
        assert_eq!(
            flow.to_json(),
            r#"{"clientActionId":"connect_call","callflow":[{"action":"makeCall","params":{"source":"+6512345678","destination":"+6587654321"}},{"action":"say","params":{"text":"Bye","voiceProfile":"en-US-ZiraRUS","speed":1.5}},{"action":"hangup"}]}"#
        );
    }

    #[test]
    fn round_trips_through_json() {
        let flow = Callflow::new()
            .say_and_capture(
                SayAndCapture::new("Press 1", "en-US-BenjaminRUS")
                    .digits(1, 1)
                    .timeouts(5000, 10000)
                    .tries(2),
            )
            .play_file(PlayFile::new("https://example.com/a.mp3").repetition(2));
        let parsed = Callflow::from_json(flow.to_json().as_bytes()).expect("parses");
        assert_eq!(parsed, flow);
    }

    #[test]
    fn parsing_rejects_unknown_params() {
        let err = Callflow::from_json(
            br#"{"callflow":[{"action":"say","params":{"text":"x","voiceProfile":"v","loud":true}}]}"#,
        )
        .expect_err("unknown param");
        assert!(err.to_string().contains("loud"), "{err}");
    }
}
