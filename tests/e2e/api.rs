//! A plugin's own API at `/v1/tenants/{tenant}/api/{path}`: API keys, what the plugin
//! sees, what the caller gets back, and every way the plugin can fail it.

use std::path::Path;
use std::sync::OnceLock;

use callflow_test_artifacts::{HOSTILE_WASM, IVR_WASM};
use serde_json::Value;

use crate::support::{Host, IVR_CONFIG, TenantSpec};

/// `test-key` and `other-key`, as `sha256sum` prints them.
pub const TEST_KEY_SHA256: &str =
    "62af8704764faf8ea82fc61ce9c4c3908b6cb97d463a634e9e587d7c885db0ef";
const OTHER_KEY_SHA256: &str = "580843d03d2216ff1a275d0991bad66e4d1af871171d929e9de604b7959f9bca";

fn host() -> &'static Host {
    static HOST: OnceLock<Host> = OnceLock::new();
    HOST.get_or_init(|| {
        let hostile = Path::new(HOSTILE_WASM);
        let keys = format!("api_keys_sha256 = [\"{TEST_KEY_SHA256}\", \"{OTHER_KEY_SHA256}\"]");
        let tenant = |id: &'static str, extra: &str| TenantSpec {
            id,
            toml: format!("sub_accounts = [\"*\"]\n{keys}\n{extra}"),
            wasm: Some(hostile),
        };
        Host::start(
            "api",
            // A small body limit, to prove it applies here too.
            "max_body_kib = 4\n[maxima]\nfuel = 1000000000000\n",
            &[
                TenantSpec {
                    id: "ivr",
                    toml: format!("sub_accounts = [\"*\"]\n{keys}\n{IVR_CONFIG}"),
                    wasm: Some(Path::new(IVR_WASM)),
                },
                TenantSpec {
                    id: "keyless",
                    toml: "sub_accounts = [\"*\"]\n[config]\nmode = \"echo\"\n".into(),
                    wasm: Some(hostile),
                },
                tenant("echo", "[config]\nmode = \"echo\"\n"),
                tenant("loop", "[config]\nmode = \"loop\"\n"),
                tenant("panic", "[config]\nmode = \"panic\"\n"),
                tenant("grow", "[config]\nmode = \"grow\"\n"),
                tenant(
                    "spin",
                    "[limits]\nfuel = 100000000000\ntimeout_ms = 30\n[config]\nmode = \"spin\"\n",
                ),
                // Burns its whole 10M budget per request; may burn 30M a second.
                tenant(
                    "burner",
                    "[limits]\nfuel = 10000000\nfuel_per_second = 30000000\n[config]\nmode = \"loop\"\n",
                ),
                tenant(
                    "slow",
                    "[limits]\nmax_concurrency = 1\nfuel = 100000000000\ntimeout_ms = 1000\n[config]\nmode = \"slow\"\ndelay_ms = \"400\"\n",
                ),
            ],
        )
    })
}

/// Sends `method path` to `tenant`'s API with `key` (if any) and `body`; the status,
/// the headers and the body parsed as JSON (`Null` when it is not).
async fn call(
    method: &str,
    tenant: &str,
    path: &str,
    key: Option<&str>,
    body: &str,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let url = host().url(&format!("/v1/tenants/{tenant}/api{path}"));
    let mut req = reqwest::Client::new()
        .request(method.parse().expect("method"), url)
        .header("cookie", "session=secret")
        .header("x-request-id", "req-1")
        .body(body.to_owned());
    if let Some(key) = key {
        req = req.bearer_auth(key);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.expect("body");
    (
        status,
        headers,
        serde_json::from_str(&text).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn a_plugin_that_serves_no_api_answers_a_clean_404() {
    let (status, headers, body) = call("GET", "ivr", "/anything", Some("test-key"), "").await;
    assert_eq!(status, 404);
    assert_eq!(body["code"], "not_found", "{body}");
    assert_eq!(headers["content-type"], "application/json");
}

#[tokio::test]
async fn api_requests_need_one_of_the_tenants_keys() {
    let code = |r: (u16, reqwest::header::HeaderMap, Value)| {
        (r.0, r.2["code"].as_str().unwrap_or_default().to_owned())
    };
    assert_eq!(
        code(call("GET", "echo", "/x", None, "").await),
        (401, "missing_api_key".into())
    );
    assert_eq!(
        code(call("GET", "echo", "/x", Some("wrong"), "").await),
        (401, "bad_api_key".into())
    );
    assert_eq!(
        code(call("GET", "keyless", "/x", Some("test-key"), "").await),
        (401, "bad_api_key".into())
    );
    assert_eq!(
        code(call("GET", "nobody", "/x", Some("test-key"), "").await),
        (404, "unknown_tenant".into())
    );
    assert_eq!(call("GET", "echo", "/x", Some("test-key"), "").await.0, 200);
    assert_eq!(
        call("GET", "echo", "/x", Some("other-key"), "").await.0,
        200
    );
}

#[tokio::test]
async fn the_plugin_sees_method_path_query_and_body_but_no_credentials() {
    let (status, _, body) = call(
        "PUT",
        "echo",
        "/things/%2B6591234567/calls?limit=5&x=a+b",
        Some("test-key"),
        "hello",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["method"], "PUT");
    assert_eq!(body["path"], "/things/%2B6591234567/calls");
    assert_eq!(body["query"], "limit=5&x=a+b");
    assert_eq!(body["body_len"], 5);
    let headers = body["headers"].to_string();
    assert!(headers.contains("x-request-id"), "{headers}");
    assert!(
        !headers.contains("authorization") && !headers.contains("cookie"),
        "{headers}"
    );
}

#[tokio::test]
async fn headers_the_plugin_sets_are_sanitised() {
    let (status, headers, body) = call("GET", "echo", "/x", Some("test-key"), "").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(headers["x-hostile"], "echo");
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    for dropped in ["set-cookie", "connection", "x-newline", "x-injected"] {
        assert!(
            headers.get(dropped).is_none(),
            "{dropped} passed: {headers:?}"
        );
    }
    let length: usize = headers["content-length"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("number");
    assert_eq!(length, body.to_string().len());
}

#[tokio::test]
async fn the_plugins_status_passes_unless_it_is_not_one() {
    let (status, _, _) = call("GET", "echo", "/x?status=418", Some("test-key"), "").await;
    assert_eq!(status, 418);
    let (status, _, body) = call("GET", "echo", "/x?status=99", Some("test-key"), "").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (500, Some("plugin_bad_response"))
    );
}

#[tokio::test]
async fn plugin_failures_are_5xx_json_errors_with_a_code() {
    for (tenant, status, code, reason) in [
        ("loop", 500, "plugin_failed", "out_of_fuel"),
        ("panic", 500, "plugin_failed", "trap"),
        ("grow", 500, "plugin_failed", "memory_limit"),
        ("spin", 504, "plugin_timeout", "deadline"),
    ] {
        let before = host()
            .registry
            .get(tenant)
            .expect("tenant")
            .state
            .stats
            .failures(reason);
        let (got, _, body) = call("POST", tenant, "/x", Some("test-key"), "{}").await;
        assert_eq!(
            (got, body["code"].as_str()),
            (status, Some(code)),
            "{tenant}: {body}"
        );
        let after = host()
            .registry
            .get(tenant)
            .expect("tenant")
            .state
            .stats
            .failures(reason);
        assert_eq!(
            after - before,
            1,
            "{tenant}: failure not counted as {reason}"
        );
    }
}

#[tokio::test]
async fn bodies_over_the_limit_are_refused() {
    let big = "x".repeat(5 << 10);
    let (status, _, body) = call("POST", "echo", "/x", Some("test-key"), &big).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (413, Some("body_too_large"))
    );
}

#[tokio::test]
async fn requests_over_the_tenants_concurrency_cap_get_429() {
    let (first, second) = tokio::join!(call("GET", "slow", "/x", Some("test-key"), ""), async {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        call("GET", "slow", "/x", Some("test-key"), "").await
    });
    assert_eq!(first.0, 200, "{}", first.2);
    assert_eq!(second.0, 429, "{}", second.2);
    assert_eq!(second.2["code"], "concurrency_limit");
    assert_eq!(second.1["retry-after"], "1");
}

#[tokio::test]
async fn a_tenant_flooding_its_api_is_held_to_its_fuel_rate_while_its_neighbour_answers() {
    // Each request burns the burner's whole 10M budget; its rate is 30M a second, so a
    // flood is refused within a few requests, and for as long as it lasts.
    let mut statuses = Vec::new();
    for _ in 0..40 {
        let (status, headers, body) = call("GET", "burner", "/work", Some("test-key"), "").await;
        if status == 429 {
            assert_eq!(body["code"], "fuel_rate_limit", "{body}");
            assert_eq!(
                headers.get("retry-after").map(|v| v.as_bytes()),
                Some(&b"1"[..])
            );
        } else {
            assert_eq!(
                (status, body["code"].as_str()),
                (500, Some("plugin_failed")),
                "{body}"
            );
        }
        statuses.push(status);
    }
    let refused = statuses.iter().filter(|s| **s == 429).count();
    let ran = statuses.len() - refused;
    // 40 requests in well under a second: at most the bucket (3) plus what refills.
    assert!(refused >= 30, "refused {refused} of 40: {statuses:?}");
    assert!(ran >= 3, "the first ones run: {statuses:?}");
    // The neighbour's calls are answered by its plugin all along.
    let (status, answer) = host()
        .post(
            "ivr",
            &crate::support::call_action(&crate::support::event_id("neighbour"), None, None),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(answer["clientActionId"], "main_menu", "{answer}");
    // The refusals are counted like a webhook's.
    let metrics = host().metrics().await;
    assert!(
        metrics.lines().any(|l| l.starts_with(
            "callflow_plugin_failures_total{tenant=\"burner\",reason=\"fuel_rate_limit\"}"
        ) && !l.ends_with(" 0")),
        "{metrics}"
    );
}
