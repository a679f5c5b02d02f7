//! The plugin-API request path fuzzed over real HTTP: requests of every method, path,
//! query, header and body to number masking's API (the booking API a business runs),
//! with and without its key. Invariants: the host never answers 500 of its own (a
//! plugin's own statuses pass through, an edge refusal is a 4xx); every answer the host
//! writes is JSON with a `code`; the API's own answers are JSON too; a request without
//! the key never reaches the plugin.

use std::path::Path;
use std::sync::OnceLock;

use callflow_test_artifacts::NUMBER_MASKING_WASM;
use proptest::prelude::*;
use serde_json::Value;

use crate::api::TEST_KEY_SHA256;
use crate::support::{Host, TenantSpec};

fn host() -> &'static Host {
    static HOST: OnceLock<Host> = OnceLock::new();
    HOST.get_or_init(|| {
        Host::start(
            "api-fuzz",
            "",
            &[TenantSpec {
                id: "rides",
                toml: format!(
                    "sub_accounts = [\"*\"]\napi_keys_sha256 = [\"{TEST_KEY_SHA256}\"]\n[limits]\nfuel = 100000000\ntimeout_ms = 1000\n[config]\npool = \"+6568001001=vn-1,+6568001002=vn-2\"\n"
                ),
                wasm: Some(Path::new(NUMBER_MASKING_WASM)),
            }],
        )
    })
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
    })
}

#[derive(Debug, Clone)]
struct Fuzzed {
    method: String,
    path: String,
    query: Option<String>,
    key: Option<String>,
    content_type: Option<String>,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

fn request() -> impl Strategy<Value = Fuzzed> {
    let method = prop_oneof![
        4 => proptest::sample::select(vec!["GET", "POST", "DELETE", "PUT", "PATCH"]).prop_map(str::to_owned),
        1 => proptest::sample::select(vec!["HEAD", "OPTIONS", "TRACE", "PROPFIND"]).prop_map(str::to_owned),
    ];
    let segment = prop_oneof![
        4 => proptest::sample::select(vec!["bookings", "pool", "calls", "bk_abc", ""]).prop_map(str::to_owned),
        2 => "[a-zA-Z0-9_.~-]{1,12}",
        1 => "%[0-9A-F]{2}[a-z]{0,4}",
        1 => Just("..".to_owned()),
    ];
    let path = proptest::collection::vec(segment, 0..4).prop_map(|s| format!("/{}", s.join("/")));
    let body = prop_oneof![
        3 => Just(Vec::new()),
        3 => (proptest::collection::vec("\\+?[0-9]{0,14}|[a-z]{0,6}", 0..4), proptest::option::of(any::<i64>()))
            .prop_map(|(participants, ttl)| {
                let mut v = serde_json::json!({ "participants": participants });
                if let Some(ttl) = ttl {
                    v["ttlSeconds"] = ttl.into();
                }
                serde_json::to_vec(&v).expect("json")
            }),
        1 => proptest::collection::vec(any::<u8>(), 0..300),
        1 => Just(b"{\"participants\": null}".to_vec()),
    ];
    let key = prop_oneof![
        4 => Just(Some("Bearer test-key".to_owned())),
        1 => Just(None),
        1 => "(Bearer|bearer|Basic) [ -~]{0,20}".prop_map(Some),
    ];
    let header = ("x-[a-z]{1,8}", "[ -~]{0,30}");
    (
        method,
        path,
        proptest::option::of("[a-z0-9=&%]{0,20}"),
        key,
        proptest::option::of(proptest::sample::select(vec![
            "application/json",
            "text/plain",
            "application/x-www-form-urlencoded",
        ])),
        proptest::collection::vec(header, 0..3),
        body,
    )
        .prop_map(
            |(method, path, query, key, content_type, headers, body)| Fuzzed {
                method,
                path,
                query,
                key,
                content_type: content_type.map(str::to_owned),
                headers,
                body,
            },
        )
}

async fn send(request: &Fuzzed) -> (u16, Option<String>, Vec<u8>) {
    let mut url = host().url(&format!("/v1/tenants/rides/api{}", request.path));
    if let Some(q) = &request.query {
        url.push('?');
        url.push_str(q);
    }
    let mut req = reqwest::Client::new().request(request.method.parse().expect("method"), url);
    if let Some(key) = &request.key {
        req = req.header("authorization", key);
    }
    if let Some(ct) = &request.content_type {
        req = req.header("content-type", ct);
    }
    for (name, value) in &request.headers {
        req = req.header(name, value);
    }
    let resp = req
        .body(request.body.clone())
        .send()
        .await
        .expect("request");
    let status = resp.status().as_u16();
    let content_type = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    (
        status,
        content_type,
        resp.bytes().await.expect("body").to_vec(),
    )
}

proptest! {
    // 96 requests unless `PROPTEST_CASES` says otherwise: each is a real HTTP round trip.
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(96),
        ..ProptestConfig::default()
    })]

    #[test]
    fn every_plugin_api_request_gets_a_typed_answer_and_never_a_host_500(request in request()) {
        let tenant = host().registry.get("rides").expect("tenant");
        let ran_before = tenant.state.stats.invocations();
        let (status, content_type, body) = runtime().block_on(send(&request));
        let ran = tenant.state.stats.invocations() > ran_before;
        prop_assert!(status != 500, "500 for {request:?}: {}", String::from_utf8_lossy(&body));
        if request.method == "HEAD" {
            return Ok(());
        }
        let json: Option<Value> = serde_json::from_slice(&body).ok();
        if !ran {
            // The host answered by itself: a refusal with its code.
            prop_assert!((400..500).contains(&status) || status == 503, "{status} for {request:?}");
            prop_assert!(json.as_ref().is_some_and(|j| j["code"].is_string()), "{status} {body:?}");
        } else {
            // The plugin's answer: JSON, as the API promises.
            prop_assert!(content_type.as_deref().is_some_and(|c| c.starts_with("application/json")), "{content_type:?}");
            prop_assert!(json.is_some(), "{status}: {}", String::from_utf8_lossy(&body));
        }
        let keyed = request.key.as_deref() == Some("Bearer test-key");
        prop_assert!(keyed || !ran, "the plugin ran for a request without the key: {request:?}");
    }
}
