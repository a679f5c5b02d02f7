//! The tenant's configuration (`[config]` in `tenant.toml`), parsed and checked.
//!
//! | key | default | what |
//! |---|---|---|
//! | `pool` | (required) | the virtual numbers: `+6568001001=vn-ref-1, +6568001002=vn-ref-2` (comma, space or newline separated; `=ref` is 8x8's reference id, optional) |
//! | `call_recording` | `false` | `makeCall` asks 8x8 to record the bridged call |
//! | `stranger_text` | [`DEFAULT_STRANGER_TEXT`] | what a caller with no active booking on the number hears before the hangup |
//! | `voice_profile` | `en-US-BenjaminRUS` | the voice of that text |
//! | `default_ttl_seconds` | 7200 | a booking's life when the request names none |
//! | `max_ttl_seconds` | 604800 (7 days) | the longest `ttlSeconds` accepted |
//! | `retention_seconds` | 604800 (7 days) | how long a booking's record and call log are kept after it ended |

use callflow_sdk::Context;
use callflow_sdk::wire::number::{is_e164, normalize, same_number};

/// What a caller who is not in an active booking on the dialled number hears.
pub const DEFAULT_STRANGER_TEXT: &str = "Sorry, this number cannot connect your call. Please check the number in your booking. Goodbye.";
/// The default voice.
pub const DEFAULT_VOICE: &str = "en-US-BenjaminRUS";

/// One virtual number of the pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VirtualNumber {
    /// E.164 with a leading `+`.
    pub number: String,
    /// 8x8's reference id (`destinationRefId` on calls to it), when configured.
    pub ref_id: Option<String>,
}

/// The validated configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The pool, in configured order (ties in load go to the earlier number).
    pub pool: Vec<VirtualNumber>,
    /// `callRecording` on every `makeCall`.
    pub call_recording: bool,
    /// Said to strangers.
    pub stranger_text: String,
    /// The voice for it.
    pub voice_profile: String,
    /// Seconds a booking lives unless the request says otherwise.
    pub default_ttl_secs: u64,
    /// The most a request may ask for.
    pub max_ttl_secs: u64,
    /// Seconds records and call logs outlive their booking.
    pub retention_secs: u64,
}

impl Settings {
    /// Reads and checks the tenant's configuration; the error names the key.
    pub fn load(ctx: &Context<'_>) -> Result<Self, String> {
        let pool = parse_pool(
            &ctx.config("pool")
                .ok_or("the tenant configuration has no `pool` of virtual numbers")?,
        )?;
        let secs = |key: &str, default: u64| -> Result<u64, String> {
            match ctx.config(key) {
                None => Ok(default),
                Some(v) => v
                    .trim()
                    .parse::<u64>()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| {
                        format!("`{key}` must be a whole number of seconds above 0, not {v:?}")
                    }),
            }
        };
        let call_recording = match ctx.config("call_recording").as_deref().map(str::trim) {
            None | Some("false") => false,
            Some("true") => true,
            Some(other) => {
                return Err(format!(
                    "`call_recording` must be true or false, not {other:?}"
                ));
            }
        };
        let stranger_text = ctx
            .config("stranger_text")
            .filter(|t| !t.trim().is_empty())
            .unwrap_or_else(|| DEFAULT_STRANGER_TEXT.to_owned());
        let default_ttl_secs = secs("default_ttl_seconds", 7200)?;
        let max_ttl_secs = secs("max_ttl_seconds", 7 * 86_400)?;
        if default_ttl_secs > max_ttl_secs {
            return Err("`default_ttl_seconds` is above `max_ttl_seconds`".into());
        }
        Ok(Self {
            pool,
            call_recording,
            stranger_text,
            voice_profile: ctx
                .config("voice_profile")
                .filter(|v| !v.trim().is_empty())
                .unwrap_or_else(|| DEFAULT_VOICE.to_owned()),
            default_ttl_secs,
            max_ttl_secs,
            retention_secs: secs("retention_seconds", 7 * 86_400)?,
        })
    }

    /// The pool's entry for `number`, with or without `+`.
    pub fn pool_number(&self, number: &str) -> Option<&VirtualNumber> {
        self.pool.iter().find(|vn| same_number(&vn.number, number))
    }
}

/// Parses `+6568001001=vn-1, +6568001002=vn-2`.
pub fn parse_pool(text: &str) -> Result<Vec<VirtualNumber>, String> {
    let mut pool: Vec<VirtualNumber> = Vec::new();
    for item in text
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
    {
        let (number, ref_id) = match item.split_once('=') {
            Some((n, r)) if !r.is_empty() => (n, Some(r.to_owned())),
            Some((n, _)) => (n, None),
            None => (item, None),
        };
        if !is_e164(number) {
            return Err(format!("`pool`: {number:?} is not an E.164 number"));
        }
        let number = normalize(number);
        if pool.iter().any(|vn| vn.number == number) {
            return Err(format!("`pool`: {number} is listed twice"));
        }
        pool.push(VirtualNumber { number, ref_id });
    }
    if pool.is_empty() {
        return Err("`pool` lists no virtual numbers".into());
    }
    Ok(pool)
}
