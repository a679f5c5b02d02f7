//! What 8x8 accepts in a callflow, checked before anything leaves (`docs/callflow-rules.md`
//! is the reader's version).
//!
//! Each [`Violation`] carries the 8x8 error code the platform would have answered with
//! (0 for rules of our own), the JSON path of the offending value, and a message that
//! tells a plugin author how to fix it.

use crate::callflow::{Action, Callflow, MakeCall, PlayFile, Say, SayAndCapture};
use crate::number::is_e164;

/// Longest `say` text 8x8 takes.
pub const MAX_TEXT_CHARS: usize = 3000;
/// Longest `clientActionId` we send.
pub const MAX_CLIENT_ACTION_ID: usize = 128;
/// Most `makeCall` actions in one callflow.
pub const MAX_MAKE_CALLS: usize = 2;
/// Most digits a capture can ask for.
pub const MAX_DIGITS: u8 = 25;
/// Our cap on `noOfTries`.
pub const MAX_TRIES: u8 = 5;
/// Largest callflow body we send, in bytes.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// A rule a callflow breaks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message} (8x8 code {code})")]
pub struct Violation {
    /// The 8x8 error code the platform would answer with; 0 for a rule of our own.
    pub code: i32,
    /// Where: `callflow[1].params.speed`.
    pub path: String,
    /// What is wrong and how to fix it.
    pub message: String,
}

fn violation(code: i32, path: String, message: impl Into<String>) -> Violation {
    Violation {
        code,
        path,
        message: message.into(),
    }
}

/// Checks `flow` against every rule; the first broken rule is returned.
pub fn validate(flow: &Callflow) -> Result<(), Violation> {
    if let Some(id) = &flow.client_action_id {
        check_client_action_id(id)?;
    }
    if flow.actions.is_empty() {
        return Err(violation(
            -1001,
            "callflow".into(),
            "a callflow needs at least one action",
        ));
    }
    let mut make_calls = 0;
    for (i, action) in flow.actions.iter().enumerate() {
        let at = |field: &str| format!("callflow[{i}].params.{field}");
        match action {
            Action::MakeCall(call) => {
                make_calls += 1;
                if make_calls > MAX_MAKE_CALLS {
                    return Err(violation(
                        -1010,
                        format!("callflow[{i}]"),
                        format!("at most {MAX_MAKE_CALLS} makeCall actions per callflow"),
                    ));
                }
                check_make_call(call, &at)?;
            }
            Action::Say(say) => check_say(say, &at)?,
            Action::SayAndCapture(capture) => check_capture(capture, &at)?,
            Action::PlayFile(file) => check_play_file(file, &at)?,
            Action::Hangup => {
                if i + 1 < flow.actions.len() {
                    return Err(violation(
                        -1012,
                        format!("callflow[{}]", i + 1),
                        "nothing may follow hangup",
                    ));
                }
                if i > 0 && matches!(flow.actions[i - 1], Action::SayAndCapture(_)) {
                    return Err(violation(
                        -1012,
                        format!("callflow[{i}]"),
                        "hangup directly after sayAndCapture drops the captured digits; \
                         end the callflow with the sayAndCapture instead",
                    ));
                }
            }
        }
    }
    Ok(())
}

/// Validates `flow` and renders 8x8's JSON for it, checking the body size limit too:
/// the one way a callflow leaves for the platform.
pub fn render(flow: &Callflow) -> Result<Vec<u8>, Violation> {
    validate(flow)?;
    let mut body = Vec::with_capacity(256);
    flow.write_json(&mut body);
    if body.len() > MAX_BODY_BYTES {
        return Err(violation(
            0,
            "callflow".into(),
            format!(
                "the callflow is {} bytes of JSON; the limit is {MAX_BODY_BYTES}",
                body.len()
            ),
        ));
    }
    Ok(body)
}

/// Checks a `clientActionId`: at most 128 characters of `[A-Za-z0-9_.:-]`.
pub fn check_client_action_id(id: &str) -> Result<(), Violation> {
    if id.is_empty() || id.len() > MAX_CLIENT_ACTION_ID {
        return Err(violation(
            0,
            "clientActionId".into(),
            format!(
                "must be 1 to {MAX_CLIENT_ACTION_ID} characters, is {}",
                id.len()
            ),
        ));
    }
    if let Some(bad) = id
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | ':' | '-')))
    {
        return Err(violation(
            0,
            "clientActionId".into(),
            format!(
                "{bad:?} is not allowed: use only A-Z, a-z, 0-9, '_', '.', ':' and '-' \
                 (it round-trips through 8x8; keep personal data out of it)"
            ),
        ));
    }
    Ok(())
}

fn check_make_call(call: &MakeCall, at: &dyn Fn(&str) -> String) -> Result<(), Violation> {
    for (field, value) in [("source", &call.source), ("destination", &call.destination)] {
        if !is_e164(value) {
            return Err(violation(
                -1017,
                at(field),
                format!("{value:?} is not an E.164 number (optional '+', 1 to 15 digits)"),
            ));
        }
    }
    Ok(())
}

fn check_text(text: &str, field: &str, at: &dyn Fn(&str) -> String) -> Result<(), Violation> {
    if text.trim().is_empty() {
        return Err(violation(-1009, at(field), "must not be empty"));
    }
    let chars = text.chars().count();
    if chars > MAX_TEXT_CHARS {
        return Err(violation(
            -1009,
            at(field),
            format!("is {chars} characters; the limit is {MAX_TEXT_CHARS}"),
        ));
    }
    Ok(())
}

fn check_voice(voice: &str, at: &dyn Fn(&str) -> String) -> Result<(), Violation> {
    if voice.trim().is_empty() {
        return Err(violation(
            -1009,
            at("voiceProfile"),
            "is required, for example \"en-US-BenjaminRUS\"",
        ));
    }
    Ok(())
}

fn check_speed(speed: Option<f32>, at: &dyn Fn(&str) -> String) -> Result<(), Violation> {
    match speed {
        Some(s) if !(0.5..=2.0).contains(&s) => Err(violation(
            -1002,
            at("speed"),
            format!("{s} is outside 0.5 to 2.0"),
        )),
        _ => Ok(()),
    }
}

fn check_repetition(repetition: Option<u8>, at: &dyn Fn(&str) -> String) -> Result<(), Violation> {
    match repetition {
        Some(r) if !(1..=3).contains(&r) => Err(violation(
            -1009,
            at("repetition"),
            format!("{r} is outside 1 to 3"),
        )),
        _ => Ok(()),
    }
}

fn check_say(say: &Say, at: &dyn Fn(&str) -> String) -> Result<(), Violation> {
    check_text(&say.text, "text", at)?;
    check_voice(&say.voice_profile, at)?;
    check_repetition(say.repetition, at)?;
    check_speed(say.speed, at)
}

fn check_capture(c: &SayAndCapture, at: &dyn Fn(&str) -> String) -> Result<(), Violation> {
    check_text(&c.prompt_message, "promptMessage", at)?;
    check_voice(&c.voice_profile, at)?;
    if let Some(text) = &c.success_message {
        check_text(text, "successMessage", at)?;
    }
    if let Some(text) = &c.failure_message {
        check_text(text, "failureMessage", at)?;
    }
    check_speed(c.speed, at)?;
    match (c.min_digits, c.max_digits) {
        (Some(_), None) => {
            return Err(violation(
                -1003,
                at("minDigits"),
                "minDigits requires maxDigits",
            ));
        }
        (min, Some(max)) => {
            let min = min.unwrap_or(1);
            if !(1 <= min && min <= max && max <= MAX_DIGITS) {
                return Err(violation(
                    -1003,
                    at("maxDigits"),
                    format!("need 1 <= minDigits ({min}) <= maxDigits ({max}) <= {MAX_DIGITS}"),
                ));
            }
        }
        (None, None) => {}
    }
    if c.complete_on_hash == Some(false) && c.max_digits.is_none() {
        return Err(violation(
            -1008,
            at("completeOnHash"),
            "completeOnHash false requires maxDigits",
        ));
    }
    if let Some(digit) = c.digit_timeout {
        match c.overall_timeout {
            None => {
                return Err(violation(
                    -1005,
                    at("digitTimeout"),
                    "digitTimeout requires overallTimeout",
                ));
            }
            Some(overall) if digit >= overall => {
                return Err(violation(
                    -1006,
                    at("digitTimeout"),
                    format!("digitTimeout ({digit}) must be less than overallTimeout ({overall})"),
                ));
            }
            Some(_) => {}
        }
    }
    match c.no_of_tries {
        Some(t) if !(1..=MAX_TRIES).contains(&t) => Err(violation(
            -1009,
            at("noOfTries"),
            format!("{t} is outside 1 to {MAX_TRIES}"),
        )),
        _ => Ok(()),
    }
}

fn check_play_file(file: &PlayFile, at: &dyn Fn(&str) -> String) -> Result<(), Violation> {
    let url = file.file_url.as_str();
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    let path = rest.map(|r| r.split(['?', '#']).next().unwrap_or(r));
    let ok = path.is_some_and(|p| {
        let lower = p.to_ascii_lowercase();
        p.contains('/') && (lower.ends_with(".mp3") || lower.ends_with(".wav"))
    });
    if !ok {
        return Err(violation(
            -1009,
            at("fileUrl"),
            format!("{url:?} must be an http(s) URL of an .mp3 or .wav file"),
        ));
    }
    check_repetition(file.repetition, at)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn say() -> Say {
        Say::new("Hello", "en-US-BenjaminRUS")
    }

    fn code(flow: Callflow) -> i32 {
        validate(&flow).expect_err("should be invalid").code
    }

    #[test]
    fn accepts_the_seed_callflows() {
        let flow = Callflow::new()
            .client_action_id("ivr-1-stage-1")
            .say_and_capture(
                SayAndCapture::new("Press 1", "en-US-BenjaminRUS")
                    .speed(1.0)
                    .digits(1, 1)
                    .timeouts(5000, 10000)
                    .tries(2),
            );
        assert_eq!(validate(&flow), Ok(()));
        let flow = Callflow::new().say(say()).hangup();
        assert_eq!(validate(&flow), Ok(()));
    }

    #[test]
    fn rejects_empty_callflow() {
        assert_eq!(code(Callflow::new()), -1001);
    }

    #[test]
    fn rejects_actions_after_hangup() {
        assert_eq!(code(Callflow::new().hangup().say(say())), -1012);
    }

    #[test]
    fn rejects_hangup_right_after_capture() {
        let flow = Callflow::new()
            .say_and_capture(SayAndCapture::new("Press 1", "v"))
            .hangup();
        assert_eq!(code(flow), -1012);
    }

    #[test]
    fn rejects_equal_digit_and_overall_timeouts_as_8x8_does() {
        let flow =
            Callflow::new().say_and_capture(SayAndCapture::new("p", "v").timeouts(10000, 10000));
        assert_eq!(code(flow), -1006);
    }

    #[test]
    fn rejects_digit_timeout_without_overall() {
        let mut capture = SayAndCapture::new("p", "v");
        capture.digit_timeout = Some(100);
        assert_eq!(code(Callflow::new().say_and_capture(capture)), -1005);
    }

    #[test]
    fn rejects_bad_digit_ranges() {
        let mut capture = SayAndCapture::new("p", "v");
        capture.min_digits = Some(2);
        assert_eq!(
            code(Callflow::new().say_and_capture(capture.clone())),
            -1003
        );
        assert_eq!(
            code(Callflow::new().say_and_capture(capture.digits(3, 2))),
            -1003
        );
        let capture = SayAndCapture::new("p", "v").digits(1, 26);
        assert_eq!(code(Callflow::new().say_and_capture(capture)), -1003);
    }

    #[test]
    fn complete_on_hash_false_needs_max_digits() {
        let capture = SayAndCapture::new("p", "v").complete_on_hash(false);
        assert_eq!(code(Callflow::new().say_and_capture(capture)), -1008);
    }

    #[test]
    fn rejects_out_of_range_speed_repetition_and_tries() {
        assert_eq!(code(Callflow::new().say(say().speed(2.5))), -1002);
        assert_eq!(code(Callflow::new().say(say().repetition(4))), -1009);
        let capture = SayAndCapture::new("p", "v").tries(6);
        assert_eq!(code(Callflow::new().say_and_capture(capture)), -1009);
    }

    #[test]
    fn rejects_empty_or_overlong_text() {
        assert_eq!(code(Callflow::new().say(Say::new(" ", "v"))), -1009);
        assert_eq!(
            code(Callflow::new().say(Say::new("a".repeat(3001), "v"))),
            -1009
        );
        assert_eq!(code(Callflow::new().say(Say::new("hi", ""))), -1009);
    }

    #[test]
    fn rejects_non_e164_numbers_and_third_make_call() {
        let flow = Callflow::new().make_call(MakeCall::new("+65123", "not-a-number"));
        let err = validate(&flow).expect_err("invalid");
        assert_eq!(
            (err.code, err.path.as_str()),
            (-1017, "callflow[0].params.destination")
        );
        let call = MakeCall::new("6512345678", "+6587654321");
        let flow = Callflow::new()
            .make_call(call.clone())
            .make_call(call.clone())
            .make_call(call);
        assert_eq!(code(flow), -1010);
    }

    #[test]
    fn play_file_needs_http_audio_url() {
        let ok = Callflow::new().play_file(PlayFile::new("https://x.example/a/b.WAV?sig=1"));
        assert_eq!(validate(&ok), Ok(()));
        for url in ["ftp://x/a.mp3", "https://x.example/a.ogg", "https://a.mp3"] {
            assert_eq!(
                code(Callflow::new().play_file(PlayFile::new(url))),
                -1009,
                "{url}"
            );
        }
    }

    #[test]
    fn render_refuses_bodies_over_the_limit() {
        let mut flow = Callflow::new();
        for _ in 0..30 {
            flow = flow.say(Say::new("a".repeat(2900), "v"));
        }
        let err = render(&flow).expect_err("too big");
        assert!(err.message.contains("limit"), "{err}");
        let body = render(&Callflow::new().hangup()).expect("valid");
        assert_eq!(body, br#"{"callflow":[{"action":"hangup"}]}"#);
    }

    #[test]
    fn client_action_id_keeps_to_its_alphabet() {
        let flow = Callflow::new()
            .client_action_id("caller +6591234567")
            .say(say());
        assert!(validate(&flow).is_err());
        let flow = Callflow::new().client_action_id("a".repeat(129)).say(say());
        assert!(validate(&flow).is_err());
    }
}
