//! The web console and the dev phone in a real browser: Debian's Chromium, driven by
//! playwright-core (`tests/browser`, pinned in its package-lock.json; no browser is
//! downloaded), against a real host on loopback. The browser signs in, watches the
//! tenants, uploads, activates and rolls back a version, watches a tenant's chart while
//! webhooks arrive, walks the IVR on the dev phone, and checks that a tenant token sees
//! its own tenant only. Screenshots of each page are left in `target/artifacts/console`.
//!
//! Needs `node`, `npm` and `/usr/bin/chromium` (or `CHROMIUM`): skipped without them,
//! failed under `CALLFLOW_REQUIRE_SERVERS=1` (as `.ci/run` sets, after installing them).
//!
//! Below it, the routes the pages use, over plain HTTP: the dev phone (its scratch store,
//! its bounds, a tenant token's reach), a tenant's activity and log lines, the console's
//! Content-Security-Policy.

use std::path::{Path, PathBuf};
use std::process::Command;

use callflow_test_artifacts::{HOSTILE_WASM, IVR_WASM, NUMBER_MASKING_WASM};
use serde_json::{Value, json};

use crate::support::{
    Host, IVR_CONFIG, OPERATOR_TOKEN, TenantSpec, call_action, event_id, variant,
};

/// The admin token of tenant `masking-demo`.
const TENANT_TOKEN: &str = "masking-demo-token";

fn chromium() -> Option<PathBuf> {
    let path = std::env::var_os("CHROMIUM")
        .map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from);
    if path.exists() {
        return Some(path);
    }
    assert!(
        std::env::var_os("CALLFLOW_REQUIRE_SERVERS").is_none(),
        "{} is missing and CALLFLOW_REQUIRE_SERVERS is set: install Debian's chromium",
        path.display()
    );
    eprintln!("console: skipped: no Chromium at {}", path.display());
    None
}

/// `tests/browser` with playwright-core installed from its lock file.
fn browser_tests() -> Option<PathBuf> {
    let dir = callflow_tests::polyglot::workspace().join("tests/browser");
    let has_node = Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if has_node && callflow_tests::polyglot::npm_ci(&dir) {
        return Some(dir);
    }
    assert!(
        std::env::var_os("CALLFLOW_REQUIRE_SERVERS").is_none(),
        "node, or playwright-core from tests/browser/package-lock.json, is not available and CALLFLOW_REQUIRE_SERVERS is set"
    );
    eprintln!("console: skipped: node or npm is not available");
    None
}

#[tokio::test]
async fn the_console_and_the_dev_phone_work_in_a_real_browser() {
    let (Some(chromium), Some(dir)) = (chromium(), browser_tests()) else {
        return;
    };
    let host = Host::start(
        "console",
        "",
        &[
            TenantSpec {
                id: "ivr-demo",
                toml: format!("sub_accounts = [\"*\"]\n{IVR_CONFIG}"),
                wasm: Some(Path::new(IVR_WASM)),
            },
            TenantSpec {
                id: "masking-demo",
                toml: format!(
                    "sub_accounts = [\"*\"]\nadmin_token_sha256 = \"{}\"\n[config]\npool = \"+6568332048=PSTN1, +6568332049=PSTN2\"\n",
                    callflow_server::tenant::repo::digest(TENANT_TOKEN.as_bytes())
                ),
                wasm: Some(Path::new(NUMBER_MASKING_WASM)),
            },
        ],
    );
    // What the tenants serve, stored and activated as uploads (a hand-dropped
    // plugin.wasm is no version to roll back to), as the demo stores its examples; and
    // the new version the browser uploads: the IVR under another digest.
    let ivr = std::fs::read(IVR_WASM).expect("the IVR component");
    let masking = std::fs::read(NUMBER_MASKING_WASM).expect("the masking component");
    for (tenant, wasm) in [("ivr-demo", &ivr), ("masking-demo", &masking)] {
        let stored = reqwest::Client::new()
            .post(host.url(&format!("/v1/admin/tenants/{tenant}/versions")))
            .bearer_auth(OPERATOR_TOKEN)
            .body(wasm.clone())
            .send()
            .await
            .expect("upload");
        assert_eq!(stored.status().as_u16(), 201, "storing {tenant}'s version");
    }
    let upload = host.dir.join("ivr-next.wasm");
    std::fs::write(&upload, variant(&ivr, 1)).expect("write the upload");
    let artifacts = callflow_tests::polyglot::workspace().join("target/artifacts/console");
    let _ = std::fs::remove_dir_all(&artifacts);
    std::fs::create_dir_all(&artifacts).expect("artifacts dir");

    let out = tokio::process::Command::new("node")
        .args(["--test", "--test-concurrency=1", "console.test.mjs"])
        .current_dir(&dir)
        .env("CONSOLE_URL", host.url(""))
        .env("OPERATOR_TOKEN", OPERATOR_TOKEN)
        .env("TENANT_TOKEN", TENANT_TOKEN)
        .env("IVR_WASM", &upload)
        .env("SEND_EVENTS_URL", host.webhook_url("ivr-demo"))
        .env("ARTIFACTS", &artifacts)
        .env("CHROMIUM", &chromium)
        .output()
        .await
        .expect("run node --test");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "the browser tests failed:\n{text}");
    for page in ["signin", "overview", "tenant", "phone", "tenant-token"] {
        let shot = artifacts.join(format!("{page}.png"));
        let size = std::fs::metadata(&shot).map_or(0, |m| m.len());
        assert!(
            size > 1000,
            "no screenshot of the {page} page at {}",
            shot.display()
        );
    }
}

/// One admin call: status and JSON body.
async fn admin(
    host: &Host,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .request(method, host.url(path))
        .bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// A host with a counter (the hostile plugin in `kv` mode: each call action adds one to
/// the tenant's `count` and says it) and the IVR, whose token is [`TENANT_TOKEN`].
fn phone_host(name: &str) -> Host {
    Host::start(
        name,
        "",
        &[
            TenantSpec {
                id: "counter",
                toml: "sub_accounts = [\"*\"]\n[config]\nmode = \"kv\"\n".into(),
                wasm: Some(Path::new(HOSTILE_WASM)),
            },
            TenantSpec {
                id: "ivr",
                toml: format!(
                    "sub_accounts = [\"*\"]\nadmin_token_sha256 = \"{}\"\n{IVR_CONFIG}",
                    callflow_server::tenant::repo::digest(TENANT_TOKEN.as_bytes())
                ),
                wasm: Some(Path::new(IVR_WASM)),
            },
        ],
    )
}

#[tokio::test]
async fn a_phone_call_walks_the_ivr_on_a_scratch_store_and_stays_out_of_the_tenants_figures() {
    use reqwest::Method;
    let host = phone_host("phone-ivr");
    let (status, call) = admin(
        &host,
        Method::POST,
        "/v1/admin/tenants/ivr/phone/calls",
        TENANT_TOKEN,
        Some(json!({ "caller": "6591234567" })),
    )
    .await;
    assert_eq!(status, 201, "{call}");
    assert_eq!(call["transcript"]["call"]["caller"], "+6591234567");
    assert_eq!(call["waiting"]["attempt"], 1, "{call}");
    assert_eq!(call["waiting"]["overall_timeout_ms"], 10000, "{call}");
    let path = format!(
        "/v1/admin/tenants/ivr/phone/calls/{}",
        call["call"].as_str().expect("id")
    );
    // Keys the schema does not take are refused, and change nothing.
    for bad in [
        json!({ "keys": " 1" }),
        json!({ "keys": "1", "hangup": false }),
        json!({}),
    ] {
        let (status, v) = admin(
            &host,
            Method::POST,
            &format!("{path}/press"),
            TENANT_TOKEN,
            Some(bad),
        )
        .await;
        assert_eq!(
            (status, v["code"].as_str()),
            (400, Some("invalid_request")),
            "{v}"
        );
    }
    let mut last = Value::Null;
    for keys in ["1", "1", "1"] {
        let (status, v) = admin(
            &host,
            Method::POST,
            &format!("{path}/press"),
            TENANT_TOKEN,
            Some(json!({ "keys": keys })),
        )
        .await;
        assert_eq!(status, 200, "{v}");
        last = v;
    }
    assert_eq!(last["ending"], "hangup", "{last}");
    assert_eq!(last["passed"], true);
    let heard: Vec<&str> = last["transcript"]["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter(|e| e["type"] == "hears")
        .filter_map(|e| e["text"].as_str())
        .collect();
    assert_eq!(heard, ["We have booked your table for today, thank you."]);
    // What the simulator prints, and each event's cost against the limits.
    let webhook = last["transcript"]["entries"]
        .as_array()
        .and_then(|e| e.iter().find(|e| e["type"] == "webhook"))
        .expect("a webhook");
    assert_eq!(webhook["cost"]["fuel_limit"], last["limits"]["fuel"]);
    assert!(
        webhook["cost"]["fuel"].as_u64().is_some_and(|f| f > 0),
        "{webhook}"
    );
    let (status, v) = admin(
        &host,
        Method::POST,
        &format!("{path}/press"),
        TENANT_TOKEN,
        Some(json!({ "keys": "1" })),
    )
    .await;
    assert_eq!(
        (status, v["code"].as_str()),
        (409, Some("phone_call_not_waiting"))
    );
    // The tenant's own figures and log lines know nothing of it.
    let (_, status) = admin(
        &host,
        Method::GET,
        "/v1/admin/tenants/ivr",
        TENANT_TOKEN,
        None,
    )
    .await;
    assert_eq!(status["invocations"], 0, "{status}");
    let (_, logs) = admin(
        &host,
        Method::GET,
        "/v1/admin/tenants/ivr/logs",
        TENANT_TOKEN,
        None,
    )
    .await;
    assert_eq!(logs["lines"], json!([]), "{logs}");
    // Its log lines are in its transcript instead.
    assert!(
        webhook["logs"].as_array().is_some_and(|l| !l.is_empty()),
        "{webhook}"
    );

    // A tenant token reaches its own calls only.
    let (status, v) = admin(
        &host,
        Method::POST,
        "/v1/admin/tenants/counter/phone/calls",
        TENANT_TOKEN,
        Some(json!({})),
    )
    .await;
    assert_eq!(
        (status, v["code"].as_str()),
        (403, Some("forbidden")),
        "{v}"
    );
    let (status, _) = admin(
        &host,
        Method::GET,
        &path.replace("/ivr/", "/counter/"),
        OPERATOR_TOKEN,
        None,
    )
    .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn phone_calls_keep_their_state_apart_from_the_live_store_and_are_bounded_per_tenant() {
    use reqwest::Method;
    let host = phone_host("phone-counter");
    let said = |v: &Value| -> Vec<String> {
        v["transcript"]["entries"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|e| e["type"] == "hears")
            .filter_map(|e| e["text"].as_str().map(str::to_owned))
            .collect()
    };
    let (status, live) = host
        .post("counter", &call_action(&event_id("live"), None, None))
        .await;
    assert_eq!(status, 200);
    assert_eq!(live["callflow"][0]["params"]["text"], "count 1");
    let mut calls = Vec::new();
    for _ in 0..4 {
        let (status, call) = admin(
            &host,
            Method::POST,
            "/v1/admin/tenants/counter/phone/calls",
            OPERATOR_TOKEN,
            Some(json!({})),
        )
        .await;
        assert_eq!(status, 201, "{call}");
        // Each call starts from an empty store of its own.
        assert_eq!(
            said(&call).first().map(String::as_str),
            Some("count 1"),
            "{call}"
        );
        calls.push(call);
    }
    // The counter says something and captures nothing: every call has ended, and ended
    // calls do not count against the tenant's bound.
    assert!(calls.iter().all(|c| c["ending"].is_string()), "{calls:?}");
    let (status, _) = admin(
        &host,
        Method::POST,
        "/v1/admin/tenants/counter/phone/calls",
        OPERATOR_TOKEN,
        Some(json!({})),
    )
    .await;
    assert_eq!(status, 201);
    // The live count went on from where the live tenant left it.
    let (_, live) = host
        .post("counter", &call_action(&event_id("live"), None, None))
        .await;
    assert_eq!(live["callflow"][0]["params"]["text"], "count 2");
}

#[tokio::test]
async fn calls_waiting_at_a_prompt_are_bounded_per_tenant_until_one_hangs_up() {
    use reqwest::Method;
    let host = phone_host("phone-bound");
    let mut ids = Vec::new();
    for _ in 0..4 {
        let (status, call) = admin(
            &host,
            Method::POST,
            "/v1/admin/tenants/ivr/phone/calls",
            OPERATOR_TOKEN,
            Some(json!({})),
        )
        .await;
        assert_eq!(status, 201, "{call}");
        assert!(call["waiting"].is_object(), "{call}");
        ids.push(call["call"].as_str().expect("id").to_owned());
    }
    let (status, v) = admin(
        &host,
        Method::POST,
        "/v1/admin/tenants/ivr/phone/calls",
        OPERATOR_TOKEN,
        Some(json!({})),
    )
    .await;
    assert_eq!(
        (status, v["code"].as_str()),
        (429, Some("too_many_phone_calls")),
        "{v}"
    );
    let hang_up = reqwest::Client::new()
        .delete(host.url(&format!("/v1/admin/tenants/ivr/phone/calls/{}", ids[0])))
        .bearer_auth(OPERATOR_TOKEN)
        .send()
        .await
        .expect("delete");
    assert_eq!(hang_up.status().as_u16(), 204);
    let (status, _) = admin(
        &host,
        Method::POST,
        "/v1/admin/tenants/ivr/phone/calls",
        OPERATOR_TOKEN,
        Some(json!({})),
    )
    .await;
    assert_eq!(status, 201);
    let (status, _) = admin(
        &host,
        Method::GET,
        &format!("/v1/admin/tenants/ivr/phone/calls/{}", ids[0]),
        OPERATOR_TOKEN,
        None,
    )
    .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn a_tenants_activity_and_log_lines_follow_its_webhooks() {
    use reqwest::Method;
    let host = phone_host("console-activity");
    for i in 0..5 {
        let (status, _) = host
            .post(
                "ivr",
                &call_action(&event_id(&format!("act{i}")), Some("main_menu"), Some("1")),
            )
            .await;
        assert_eq!(status, 200);
    }
    let (status, activity) = admin(
        &host,
        Method::GET,
        "/v1/admin/tenants/ivr/activity",
        TENANT_TOKEN,
        None,
    )
    .await;
    assert_eq!(status, 200, "{activity}");
    let events: u64 = activity["points"]
        .as_array()
        .expect("points")
        .iter()
        .filter_map(|p| p["events"].as_u64())
        .sum();
    assert_eq!(events, 5, "{activity}");
    let (_, status) = admin(
        &host,
        Method::GET,
        "/v1/admin/tenants/ivr",
        TENANT_TOKEN,
        None,
    )
    .await;
    assert_eq!(status["recent"]["events"], 5, "{status}");
    assert!(
        status["recent"]["latency_us"]["p50"]
            .as_u64()
            .is_some_and(|p| p > 0),
        "{status}"
    );
    // The IVR logs each menu choice: numbered lines, then only the newer ones.
    let (status, logs) = admin(
        &host,
        Method::GET,
        "/v1/admin/tenants/ivr/logs",
        TENANT_TOKEN,
        None,
    )
    .await;
    assert_eq!(status, 200, "{logs}");
    let lines = logs["lines"].as_array().expect("lines");
    assert_eq!(lines.len(), 5, "{logs}");
    assert!(
        lines[0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("main_menu")),
        "{logs}"
    );
    let third = lines[2]["seq"].as_u64().expect("seq");
    let (_, newer) = admin(
        &host,
        Method::GET,
        &format!("/v1/admin/tenants/ivr/logs?after={third}"),
        TENANT_TOKEN,
        None,
    )
    .await;
    assert_eq!(newer["lines"].as_array().map(Vec::len), Some(2), "{newer}");
    assert_eq!(newer["next"], third + 3);
    let (status, v) = admin(
        &host,
        Method::GET,
        "/v1/admin/tenants/ivr/logs?after=x",
        TENANT_TOKEN,
        None,
    )
    .await;
    assert_eq!((status, v["code"].as_str()), (400, Some("invalid_query")));
    // Another tenant's figures are not a tenant token's to see.
    for path in [
        "/v1/admin/tenants/counter/activity",
        "/v1/admin/tenants/counter/logs",
    ] {
        let (status, _) = admin(&host, Method::GET, path, TENANT_TOKEN, None).await;
        assert_eq!(status, 403, "{path}");
    }
    let (_, who) = admin(&host, Method::GET, "/v1/admin/whoami", TENANT_TOKEN, None).await;
    assert_eq!(who, json!({ "role": "tenant", "tenant": "ivr" }));
}

#[tokio::test]
async fn the_console_is_served_under_a_strict_policy_and_plugin_answers_are_sandboxed() {
    let host = phone_host("console-csp");
    for path in ["/console", "/console/app.js", "/console/console.css"] {
        let response = reqwest::get(host.url(path)).await.expect("get");
        assert_eq!(response.status().as_u16(), 200, "{path}");
        let csp = response
            .headers()
            .get("content-security-policy")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        assert!(
            csp.contains("script-src 'self'") && csp.contains("default-src 'none'"),
            "{path}: {csp}"
        );
    }
    let response = reqwest::get(host.url("/console/../Cargo.toml"))
        .await
        .expect("get");
    assert_eq!(response.status().as_u16(), 404);
}
