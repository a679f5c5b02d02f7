//! A plugin that misbehaves on request, to prove the host's sandbox.
//!
//! The tenant's configuration key `mode` picks the behaviour:
//!
//! | mode | does | the host must report |
//! |---|---|---|
//! | `loop` | loops forever | out of fuel |
//! | `spin` | loops forever (run with fuel raised, so the clock stops it) | deadline |
//! | `grow` | allocates without end | memory limit |
//! | `recurse` | recurses without end | trap (stack overflow) |
//! | `panic` | panics | trap |
//! | `invalid` | answers a callflow that breaks 8x8's rules | (an invalid callflow) |
//! | `read-file` | reads `/etc/passwd`; says it if it could | plugin error (denied) |
//! | `read-env` | reads the environment; says it if it could | plugin error (denied) |
//! | `huge` | answers a callflow over 64 KiB | output too large |
//! | `error` | returns a plugin error | plugin error |
//! | `kv` | increments the tenant's `count` key and says it | (a callflow) |
//! | `fill` | stores 1 KiB values under keys not yet there until the store refuses, then says how many and why | (a callflow) |
//! | `chatty` | logs and prints far beyond the host's caps, then acts as `echo` | (a callflow) |
//! | `fresh` | counts its own calls in a static and says the count | `count 1`, always |
//! | `echo` | says the event kind and digits, then hangs up | (a callflow) |
//!
//! Its `api` export (see `handle_request`) misbehaves by the same modes.

#[allow(unsafe_code, reason = "the canonical ABI glue wit-bindgen generates")]
mod bindings {
    wit_bindgen::generate!({
        path: "../../../wit",
        world: "plugin",
    });
}

use std::hint::black_box;
use std::sync::atomic::{AtomicU32, Ordering};

use bindings::callflow::plugin::types::{Action, Callflow, Event, PluginError, Say, SayAndCapture};
use bindings::callflow::plugin::{config, kv, log};
use bindings::exports::callflow::plugin::api::{ApiRequest, ApiResponse};

struct Hostile;

// Only a wasm32 build is a component; natively (`cargo build --workspace`) the export
// names, which are not valid symbol names there, would fail to link.
#[cfg(target_arch = "wasm32")]
#[allow(
    unsafe_code,
    reason = "the component export glue wit-bindgen generates"
)]
const _: () = {
    bindings::export!(Hostile with_types_in bindings);
};

const VOICE: &str = "en-US-BenjaminRUS";

fn say(text: impl Into<String>) -> Action {
    Action::Say(Say {
        text: text.into(),
        voice_profile: VOICE.into(),
        repetition: None,
        speed: None,
    })
}

fn flow(actions: Vec<Action>) -> Result<Option<Callflow>, PluginError> {
    Ok(Some(Callflow {
        client_action_id: None,
        actions,
    }))
}

impl bindings::exports::callflow::plugin::handler::Guest for Hostile {
    fn handle_event(event: Event) -> Result<Option<Callflow>, PluginError> {
        let mode = config::get("mode").unwrap_or_default();
        match mode.as_str() {
            "loop" | "spin" => spin(),
            "grow" => grow(),
            "recurse" => Ok(Some(Callflow {
                client_action_id: Some(recurse(0).to_string()),
                actions: Vec::new(),
            })),
            "panic" => panic!("hostile plugin panicking on purpose"),
            "invalid" => flow(vec![Action::SayAndCapture(SayAndCapture {
                prompt_message: "Press a key".into(),
                voice_profile: VOICE.into(),
                success_message: None,
                failure_message: None,
                speed: None,
                complete_on_hash: None,
                min_digits: None,
                max_digits: Some(1),
                // 8x8 requires the digit timeout to be less than the overall timeout.
                digit_timeout: Some(5000),
                overall_timeout: Some(5000),
                no_of_tries: None,
            })]),
            "read-file" => match std::fs::read_to_string("/etc/passwd") {
                Ok(text) => flow(vec![say(truncate(text))]),
                Err(err) => Err(PluginError::Unavailable(format!("/etc/passwd: {err}"))),
            },
            "read-env" => {
                let vars: Vec<String> = std::env::vars().map(|(k, v)| format!("{k}={v}")).collect();
                let args: Vec<String> = std::env::args().collect();
                match std::env::var("HOME") {
                    Ok(home) => flow(vec![say(format!("HOME={home}"))]),
                    Err(_) if vars.is_empty() && args.is_empty() => Err(PluginError::Unavailable(
                        "no environment variables and no arguments".into(),
                    )),
                    Err(_) => flow(vec![say(truncate(format!("{vars:?} {args:?}")))]),
                }
            }
            // 30 actions of 3000 characters: each within 8x8's per-text limit, together
            // about 90 KB of JSON.
            "huge" => flow((0..30).map(|_| say("a".repeat(3000))).collect()),
            "error" => Err(PluginError::Internal(
                "hostile plugin failing on purpose".into(),
            )),
            "kv" => count(),
            "fill" => fill(),
            "chatty" => {
                for i in 0..1000 {
                    log::log(
                        log::Level::Info,
                        &format!("chatty line {i} {}", "x".repeat(2000)),
                    );
                }
                println!("{}", "o".repeat(10_000));
                eprintln!("{}", "e".repeat(10_000));
                echo(&event)
            }
            "fresh" => {
                // Every event gets a fresh instance, so this static starts at 0 each time.
                static CALLS: AtomicU32 = AtomicU32::new(0);
                let n = CALLS.fetch_add(1, Ordering::Relaxed) + 1;
                flow(vec![say(format!("count {n}")), Action::Hangup])
            }
            "echo" => echo(&event),
            other => Err(PluginError::BadEvent(format!("unknown mode {other:?}"))),
        }
    }
}

/// The API export: the same `mode` picks the misbehaviour (`loop`, `spin`, `grow`,
/// `recurse`, `panic`); `slow` spins for `delay_ms` of wall clock then answers; every
/// other mode echoes the request as JSON with some headers the host must strip
/// (`set-cookie`, `connection`, a forged `content-length`) and one it must keep
/// (`x-hostile`). A status asked for with `?status=N` is answered verbatim.
impl bindings::exports::callflow::plugin::api::Guest for Hostile {
    fn handle_request(request: ApiRequest) -> ApiResponse {
        let mode = config::get("mode").unwrap_or_default();
        match mode.as_str() {
            "loop" | "spin" => spin(),
            "grow" => grow(),
            "recurse" => {
                let depth = recurse(0);
                return ApiResponse {
                    status: 200,
                    headers: Vec::new(),
                    body: depth.to_string().into_bytes(),
                };
            }
            "panic" => panic!("hostile plugin panicking on purpose"),
            "slow" => {
                let ms: u64 = config::get("delay_ms")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(100);
                let start = std::time::Instant::now();
                while start.elapsed().as_millis() < u128::from(ms) {
                    black_box(());
                }
            }
            _ => {}
        }
        let status = request
            .query
            .as_deref()
            .and_then(|q| q.strip_prefix("status="))
            .and_then(|s| s.parse().ok())
            .unwrap_or(200);
        let headers: Vec<String> = request
            .headers
            .iter()
            .map(|(k, v)| format!("{k:?}:{v:?}"))
            .collect();
        let body = format!(
            "{{\"mode\":{mode:?},\"method\":{:?},\"path\":{:?},\"query\":{:?},\"headers\":[{}],\"body_len\":{}}}",
            request.method,
            request.path,
            request.query.unwrap_or_default(),
            headers
                .iter()
                .map(|h| format!("{{{h}}}"))
                .collect::<Vec<_>>()
                .join(","),
            request.body.len()
        );
        ApiResponse {
            status,
            headers: vec![
                ("x-hostile".into(), mode),
                ("set-cookie".into(), "session=stolen".into()),
                ("connection".into(), "close".into()),
                ("content-length".into(), "999999".into()),
                ("bad header".into(), "x".into()),
                ("x-newline".into(), "a\r\nx-injected: 1".into()),
            ],
            body: body.into_bytes(),
        }
    }
}

fn truncate(mut text: String) -> String {
    let mut end = text.len().min(2000);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    text
}

fn spin() -> ! {
    let mut i: u64 = 0;
    loop {
        i = black_box(i.wrapping_add(1));
    }
}

fn grow() -> ! {
    // Reserve without touching: the allocator grows linear memory, and filling it
    // would burn fuel before the memory limit is reached.
    let mut hoard: Vec<Vec<u8>> = Vec::new();
    loop {
        hoard.push(Vec::with_capacity(1 << 20));
        black_box(&hoard);
    }
}

fn recurse(depth: u64) -> u64 {
    // Small frames, so the wasm call stack overflows before the shadow stack in linear
    // memory does; a base case the optimiser cannot see through, and work after the
    // call so it cannot become a loop.
    if black_box(depth) == u64::MAX {
        return 0;
    }
    recurse(depth + 1).wrapping_mul(3).wrapping_add(depth)
}

fn count() -> Result<Option<Callflow>, PluginError> {
    let store_err = |e: kv::KvError| PluginError::Unavailable(format!("{e:?}"));
    loop {
        let current = kv::get("count").map_err(store_err)?;
        let n: u64 = current
            .as_deref()
            .and_then(|v| std::str::from_utf8(v).ok())
            .and_then(|s| s.parse().ok())
            .unwrap_or(0)
            + 1;
        let next = n.to_string().into_bytes();
        if kv::compare_and_swap("count", current.as_deref(), Some(&next), None)
            .map_err(store_err)?
        {
            return flow(vec![say(format!("count {n}")), Action::Hangup]);
        }
    }
}

/// Writes new keys until a write fails; says how many it stored and the error's kind.
fn fill() -> Result<Option<Callflow>, PluginError> {
    let value = vec![b'x'; 1024];
    let start = kv::get("filled")
        .ok()
        .flatten()
        .and_then(|v| String::from_utf8(v).ok())
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or(0);
    let mut n = start;
    let mut stored = 0;
    let refused = loop {
        // Only new keys: one already there (kept from an earlier event) is skipped.
        match kv::compare_and_swap(&format!("fill-{n}"), None, Some(&value), None) {
            Ok(true) => stored += 1,
            Ok(false) => {}
            Err(e) => break e,
        }
        n += 1;
    };
    // Best effort: at the quota this write is refused too.
    let _ = kv::set("filled", n.to_string().as_bytes(), None);
    let why = match refused {
        kv::KvError::QuotaExceeded(why) => format!("quota exceeded: {why}"),
        kv::KvError::TooLarge(why) => format!("too large: {why}"),
        kv::KvError::Unavailable(why) => format!("unavailable: {why}"),
    };
    flow(vec![
        say(format!("stored {stored} then {why}")),
        Action::Hangup,
    ])
}

fn echo(event: &Event) -> Result<Option<Callflow>, PluginError> {
    let Event::CallAction(action) = event else {
        return Ok(None);
    };
    let digits = action.digits.as_deref().unwrap_or("none");
    flow(vec![
        say(format!("call action, digits {digits}")),
        Action::Hangup,
    ])
}
