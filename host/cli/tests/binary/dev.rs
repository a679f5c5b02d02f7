//! `callflow-host dev` as a plugin author runs it, on a JavaScript plugin made by
//! `new --lang js`: the plugin is built and served, and after an edit to its source the
//! next call hears the edit. (JavaScript because its toolchain is the lightest to set up
//! here: `npm ci` of the SDK's pinned build tools; the Python and Rust paths share
//! everything but the build command, and `tests/e2e/polyglot.rs` builds both.)

use std::ffi::OsStr;
use std::process::Command;
use std::time::{Duration, Instant};

use callflow_host::scaffold::{self, Lang};

use crate::support::Server;

fn ok(cmd: &mut Command, what: &str) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The prompt a fresh call hears first, polled until it contains `want` (a rebuild and
/// a reload take seconds); panics after `within`.
fn first_prompt_becomes(server: &Server, tenant: &str, want: &str, within: Duration) {
    let path = format!("/v1/tenants/{tenant}/webhooks/voice");
    let started = Instant::now();
    let mut n = 0;
    loop {
        n += 1;
        let body = serde_json::json!({
            "namespace": "VOICE",
            "eventType": "CALL_ACTION",
            "payload": {
                "eventId": format!("dev-{n}"),
                "callId": "c1",
                "sessionId": format!("dev-session-{n}"),
                "subAccountId": "8x8_test",
                "callStatus": "CALL_RECEIVED",
                "callDirection": "INBOUND",
                "callType": "PSTN",
                "source": "+6591178965",
                "destination": "+6568332048",
                "callDuration": 0,
                "timestamp": "2026-01-06T10:17:19.375Z"
            }
        });
        let (status, answer) = server.request(
            "POST",
            &path,
            &[("content-type", "application/json")],
            body.to_string().as_bytes(),
        );
        let prompt = answer["callflow"][0]["params"]["promptMessage"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        if status == 200 && prompt.contains(want) {
            return;
        }
        assert!(
            started.elapsed() < within,
            "after {within:?} a new call still hears {prompt:?} ({status} {answer}), not {want:?}\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[test]
fn dev_serves_a_js_plugin_and_a_saved_edit_reaches_the_next_call() {
    if !callflow_test_servers::available("node", "dev_serves_a_js_plugin") {
        return;
    }
    // The SDK's build tools, from its lock file, unless installed from this very lock
    // file already (the marker `tests/src/polyglot.rs` keeps too).
    let sdk = scaffold::default_sdk_for(Lang::Js);
    let lock = std::fs::read(sdk.join("package-lock.json")).expect("sdk/js/package-lock.json");
    let want = callflow_server::tenant::repo::digest(&lock);
    let marker = sdk.join("node_modules/.callflow-lock-digest");
    if std::fs::read_to_string(&marker).ok().as_deref() != Some(want.as_str()) {
        ok(
            Command::new("npm")
                .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
                .current_dir(&sdk),
            "npm ci in sdk/js",
        );
        std::fs::write(&marker, want).expect("marker");
    }
    let tmp = std::env::temp_dir().join(format!("callflow-dev-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    let created = scaffold::create_in(Lang::Js, "dev-loop", &tmp, None).expect("created");
    ok(
        Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(&created.dir),
        "npm install",
    );
    let data = tmp.join("data");
    let server = Server::start_command(&[
        OsStr::new("dev"),
        created.dir.as_os_str(),
        OsStr::new("--listen"),
        OsStr::new("127.0.0.1:0"),
        OsStr::new("--data"),
        data.as_os_str(),
        OsStr::new("--log-json"),
        OsStr::new("--config"),
        OsStr::new("company=ABC Restaurant"),
    ]);
    let tenant = "dev-loop-dev";
    first_prompt_becomes(
        &server,
        tenant,
        "Welcome to ABC Restaurant.",
        Duration::from_secs(120),
    );

    let app = created.dir.join("app.js");
    let source = std::fs::read_to_string(&app).expect("app.js");
    assert!(source.contains("Welcome to ${company}."), "{source}");
    std::fs::write(
        &app,
        source.replace("Welcome to ${company}.", "Hello from ${company}."),
    )
    .expect("edit app.js");
    first_prompt_becomes(
        &server,
        tenant,
        "Hello from ABC Restaurant.",
        Duration::from_secs(120),
    );
    let log = server.kill();
    assert!(log.contains("callflow-host dev: built"), "{log}");
    let _ = std::fs::remove_dir_all(&tmp);
}
