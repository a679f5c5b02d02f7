//! The operator's admin API over HTTP: tenants, uploads, versions, rollback, status, dry
//! runs, and who may do what. Each test runs its own host: these tests change tenants.

use std::path::Path;

use callflow_test_artifacts::{HOSTILE_WASM, IVR_WASM, OLD_CONTRACT_WASM};
use serde_json::Value;

use crate::support::{
    Host, IVR_CONFIG, OPERATOR_TOKEN, TenantSpec, call_action, event_id, variant,
};

/// The tenant token of tenant `acme` (its sha256 is in acme's tenant.toml).
const ACME_TOKEN: &str = "acme-token";

fn acme_toml() -> String {
    format!(
        "sub_accounts = [\"*\"]\nadmin_token_sha256 = \"{}\"\n{IVR_CONFIG}",
        sha256_hex(ACME_TOKEN)
    )
}

fn sha256_hex(s: &str) -> String {
    callflow_server::tenant::repo::digest(s.as_bytes())
}

fn start(name: &str) -> Host {
    Host::start(
        name,
        "",
        &[
            TenantSpec {
                id: "acme",
                toml: acme_toml(),
                wasm: Some(Path::new(IVR_WASM)),
            },
            TenantSpec {
                id: "globex",
                toml: format!("sub_accounts = [\"*\"]\n{IVR_CONFIG}"),
                wasm: Some(Path::new(IVR_WASM)),
            },
        ],
    )
}

async fn call(
    host: &Host,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
    body: Vec<u8>,
) -> (u16, Value) {
    let mut req = reqwest::Client::new()
        .request(method, host.url(path))
        .body(body);
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    let text = resp.text().await.expect("body");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn greeting(host: &Host, tenant: &str) -> Value {
    let (status, body) = host
        .post(tenant, &call_action(&event_id("admin"), None, None))
        .await;
    assert_eq!(status, 200, "{body}");
    body
}

#[tokio::test]
async fn upload_activate_and_roll_back_over_http() {
    let host = start("admin-versions");
    let ivr = std::fs::read(IVR_WASM).expect("ivr");
    let hostile = std::fs::read(HOSTILE_WASM).expect("hostile");
    use reqwest::Method;

    let (status, v1) = call(
        &host,
        Method::POST,
        "/v1/admin/tenants/globex/versions",
        Some(OPERATOR_TOKEN),
        ivr.clone(),
    )
    .await;
    assert_eq!(status, 201, "{v1}");
    assert_eq!(v1["digest"], sha256_hex_bytes(&ivr));
    assert_eq!(
        greeting(&host, "globex").await["clientActionId"],
        "main_menu"
    );

    // The hostile plugin in mode "" is not configured: it answers with an error, so the
    // caller hears the fallback. Enough to see which version serves.
    let (status, v2) = call(
        &host,
        Method::POST,
        "/v1/admin/tenants/globex/versions",
        Some(OPERATOR_TOKEN),
        hostile.clone(),
    )
    .await;
    assert_eq!(status, 201, "{v2}");
    let fallback = greeting(&host, "globex").await;
    assert_ne!(
        fallback["clientActionId"], "main_menu",
        "the new version is not serving: {fallback}"
    );

    let (status, list) = call(
        &host,
        Method::GET,
        "/v1/admin/tenants/globex/versions",
        Some(OPERATOR_TOKEN),
        vec![],
    )
    .await;
    assert_eq!(status, 200);
    let versions = list["versions"].as_array().expect("versions");
    assert_eq!(versions.len(), 2, "{list}");
    let active: Vec<_> = versions
        .iter()
        .filter(|v| v["status"] == "active")
        .collect();
    assert_eq!(active.len(), 1);
    assert_eq!(active[0]["digest"], v2["digest"]);

    let (status, after) = call(
        &host,
        Method::POST,
        "/v1/admin/tenants/globex/rollback",
        Some(OPERATOR_TOKEN),
        vec![],
    )
    .await;
    assert_eq!(status, 200, "{after}");
    assert_eq!(after["active_version"], v1["digest"]);
    assert_eq!(
        greeting(&host, "globex").await["clientActionId"],
        "main_menu"
    );

    let path = format!(
        "/v1/admin/tenants/globex/versions/{}/activate",
        v2["digest"].as_str().expect("digest")
    );
    let (status, after) = call(&host, Method::POST, &path, Some(OPERATOR_TOKEN), vec![]).await;
    assert_eq!(status, 200, "{after}");
    assert_eq!(after["active_version"], v2["digest"]);
}

fn sha256_hex_bytes(b: &[u8]) -> String {
    callflow_server::tenant::repo::digest(b)
}

#[tokio::test]
async fn rejected_uploads_say_which_check_failed_and_change_nothing() {
    let host = start("admin-reject");
    use reqwest::Method;
    let before = greeting(&host, "globex").await;
    let core_module = b"\0asm\x01\0\0\0".to_vec();
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (b"definitely not wasm".to_vec(), "component"),
        (core_module, "component"),
        // A component header with garbage after it.
        (b"\0asm\x0d\0\x01\0garbage".to_vec(), "compile"),
        // Built against the contract before this one: refused naming both versions.
        (
            std::fs::read(OLD_CONTRACT_WASM).expect("old contract"),
            "contract_version",
        ),
    ];
    for (bytes, check) in cases {
        let (status, body) = call(
            &host,
            Method::POST,
            "/v1/admin/tenants/globex/versions",
            Some(OPERATOR_TOKEN),
            bytes,
        )
        .await;
        assert_eq!(status, 422, "{body}");
        assert_eq!(body["code"], "plugin_rejected");
        let message = body["message"].as_str().unwrap_or_default();
        assert!(
            message.contains(&format!("`{check}`")),
            "expected check {check}: {message}"
        );
        if check == "contract_version" {
            assert!(
                message.contains("callflow:plugin@0.1.0")
                    && message.contains("callflow:plugin@0.2.0"),
                "{message}"
            );
        }
    }
    let (_, list) = call(
        &host,
        Method::GET,
        "/v1/admin/tenants/globex/versions",
        Some(OPERATOR_TOKEN),
        vec![],
    )
    .await;
    assert_eq!(list["versions"].as_array().map(Vec::len), Some(0), "{list}");
    assert_eq!(greeting(&host, "globex").await, before);
}

#[tokio::test]
async fn tenant_tokens_open_their_own_tenant_only() {
    let host = start("admin-auth");
    use reqwest::Method;
    let (status, body) = call(
        &host,
        Method::GET,
        "/v1/admin/tenants/acme",
        Some(ACME_TOKEN),
        vec![],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["tenant"], "acme");

    let ivr = std::fs::read(IVR_WASM).expect("ivr");
    let (status, body) = call(
        &host,
        Method::POST,
        "/v1/admin/tenants/globex/versions",
        Some(ACME_TOKEN),
        ivr,
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("forbidden")),
        "{body}"
    );
    let (_, list) = call(
        &host,
        Method::GET,
        "/v1/admin/tenants/globex/versions",
        Some(OPERATOR_TOKEN),
        vec![],
    )
    .await;
    assert_eq!(
        list["versions"].as_array().map(Vec::len),
        Some(0),
        "a forbidden upload changed something"
    );

    let (status, body) = call(
        &host,
        Method::PUT,
        "/v1/admin/tenants/acme",
        Some(ACME_TOKEN),
        b"sub_accounts = [\"*\"]\n".to_vec(),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("operator_only")),
        "{body}"
    );
    let (status, body) = call(&host, Method::GET, "/v1/admin/tenants", None, vec![]).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("missing_token")),
        "{body}"
    );
    let (status, body) = call(
        &host,
        Method::GET,
        "/v1/admin/tenants",
        Some("guess"),
        vec![],
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("bad_token")),
        "{body}"
    );
}

#[tokio::test]
async fn operator_creates_updates_and_deletes_a_tenant() {
    let host = start("admin-crud");
    use reqwest::Method;
    let (status, body) = call(
        &host,
        Method::PUT,
        "/v1/admin/tenants/initech",
        Some(OPERATOR_TOKEN),
        b"sub_accounts = [\"initech\"]\n".to_vec(),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert!(body["plugin_error"].is_string(), "no plugin yet: {body}");
    let (status, body) = call(
        &host,
        Method::PUT,
        "/v1/admin/tenants/initech",
        Some(OPERATOR_TOKEN),
        b"sub_accounts = [\"initech\"]\nbogus = 1\n".to_vec(),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (422, Some("invalid_config")),
        "{body}"
    );
    assert!(
        body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("bogus")
    );
    let ivr = std::fs::read(IVR_WASM).expect("ivr");
    let (status, _) = call(
        &host,
        Method::POST,
        "/v1/admin/tenants/initech/versions",
        Some(OPERATOR_TOKEN),
        ivr,
    )
    .await;
    assert_eq!(status, 201);
    let body = call_action(&event_id("crud"), None, None).replace("8x8_test", "initech");
    let (status, answer) = host.post("initech", &body).await;
    assert_eq!(
        (status, answer["clientActionId"].as_str()),
        (200, Some("main_menu")),
        "{answer}"
    );
    let (status, _) = call(
        &host,
        Method::DELETE,
        "/v1/admin/tenants/initech",
        Some(OPERATOR_TOKEN),
        vec![],
    )
    .await;
    assert_eq!(status, 204);
    let (status, answer) = host.post("initech", &body).await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (404, Some("unknown_tenant"))
    );
}

#[tokio::test]
async fn dry_run_answers_without_touching_the_live_tenant() {
    let host = start("admin-dry-run");
    use reqwest::Method;
    let hostile = std::fs::read(HOSTILE_WASM).expect("hostile");
    let (status, v) = call(
        &host,
        Method::POST,
        "/v1/admin/tenants/acme/versions?activate=false",
        Some(ACME_TOKEN),
        hostile,
    )
    .await;
    assert_eq!(
        (status, v["activated"].as_bool()),
        (201, Some(false)),
        "{v}"
    );
    let path = format!(
        "/v1/admin/tenants/acme/versions/{}/dry-run",
        v["digest"].as_str().expect("digest")
    );
    let (status, run) = call(
        &host,
        Method::POST,
        &path,
        Some(ACME_TOKEN),
        call_action(&event_id("dry"), None, None).into_bytes(),
    )
    .await;
    assert_eq!(status, 200, "{run}");
    assert!(run["elapsed_us"].is_u64(), "{run}");
    assert!(
        run["result"]["failure"].is_string(),
        "the unconfigured hostile plugin fails: {run}"
    );
    // The live tenant still runs the IVR.
    assert_eq!(greeting(&host, "acme").await["clientActionId"], "main_menu");

    let ivr = std::fs::read(IVR_WASM).expect("ivr");
    let (_, v) = call(
        &host,
        Method::POST,
        "/v1/admin/tenants/acme/versions?activate=false",
        Some(ACME_TOKEN),
        ivr,
    )
    .await;
    let path = format!(
        "/v1/admin/tenants/acme/versions/{}/dry-run",
        v["digest"].as_str().expect("digest")
    );
    let (_, run) = call(
        &host,
        Method::POST,
        &path,
        Some(ACME_TOKEN),
        call_action(&event_id("dry"), None, None).into_bytes(),
    )
    .await;
    assert_eq!(
        run["result"]["answer"]["clientActionId"], "main_menu",
        "{run}"
    );
    assert!(run["fuel_used"].as_u64().unwrap_or(0) > 0, "{run}");
}

#[tokio::test]
async fn a_dry_run_writes_to_a_scratch_store_and_leaves_the_live_one_untouched() {
    // A counter: the hostile plugin in `kv` mode adds one to the tenant's `count` and
    // says it.
    let host = Host::start(
        "admin-dry-run-store",
        "",
        &[TenantSpec {
            id: "counter",
            toml: format!(
                "sub_accounts = [\"*\"]\nadmin_token_sha256 = \"{}\"\n[config]\nmode = \"kv\"\n",
                sha256_hex(ACME_TOKEN)
            ),
            wasm: Some(Path::new(HOSTILE_WASM)),
        }],
    );
    let said = |answer: &Value| answer["callflow"][0]["params"]["text"].clone();
    assert_eq!(said(&greeting(&host, "counter").await), "count 1");
    let hostile = std::fs::read(HOSTILE_WASM).expect("hostile");
    let (status, v) = call(
        &host,
        reqwest::Method::POST,
        "/v1/admin/tenants/counter/versions?activate=false",
        Some(ACME_TOKEN),
        hostile,
    )
    .await;
    assert_eq!(status, 201, "{v}");
    let path = format!(
        "/v1/admin/tenants/counter/versions/{}/dry-run",
        v["digest"].as_str().expect("digest")
    );
    for _ in 0..3 {
        let (status, run) = call(
            &host,
            reqwest::Method::POST,
            &path,
            Some(ACME_TOKEN),
            call_action(&event_id("dry"), None, None).into_bytes(),
        )
        .await;
        assert_eq!(status, 200, "{run}");
        // Each dry run starts from an empty store of its own, and writes to it.
        assert_eq!(said(&run["result"]["answer"]), "count 1", "{run}");
    }
    // The live count went on from where the live tenant left it.
    assert_eq!(said(&greeting(&host, "counter").await), "count 2");
}

#[tokio::test]
async fn uploads_survive_a_restart_and_interrupted_writes_are_ignored() {
    let host = start("admin-restart");
    use reqwest::Method;
    let hostile = std::fs::read(HOSTILE_WASM).expect("hostile");
    let (status, v) = call(
        &host,
        Method::POST,
        "/v1/admin/tenants/globex/versions",
        Some(OPERATOR_TOKEN),
        hostile,
    )
    .await;
    assert_eq!(status, 201, "{v}");
    let dir = host.dir.clone();
    // What a host killed in the middle of the next upload leaves behind: a temporary
    // file that was never renamed into place (writes are write-fsync-rename).
    let tenant = dir.join("tenants/globex");
    std::fs::write(tenant.join(".active.999.tmp"), b"0123").expect("leftover");
    std::fs::write(
        tenant.join("versions/.deadbeef.wasm.999.tmp"),
        b"\0asm half",
    )
    .expect("leftover");

    let restarted = Host::start_in(dir, "", &[]);
    let tenant = restarted.registry.get("globex").expect("tenant");
    assert_eq!(
        tenant.plugin.digest().map(str::to_owned),
        v["digest"].as_str().map(str::to_owned),
        "the restarted host does not serve the uploaded version"
    );
    let (_, list) = call(
        &restarted,
        Method::GET,
        "/v1/admin/tenants/globex/versions",
        Some(OPERATOR_TOKEN),
        vec![],
    )
    .await;
    assert_eq!(list["versions"].as_array().map(Vec::len), Some(1), "{list}");
    let (status, _) = restarted
        .post("globex", &call_action(&event_id("restart"), None, None))
        .await;
    assert_eq!(status, 200);
}

/// Every operation `/openapi.json` lists is served: calling it without credentials or
/// with a dummy body gets one of the statuses it documents, never the router's 404/405.
#[tokio::test]
async fn openapi_document_lists_what_the_host_serves() {
    let host = start("admin-openapi");
    let resp = reqwest::get(host.url("/openapi.json"))
        .await
        .expect("openapi");
    assert_eq!(resp.status().as_u16(), 200);
    let doc: Value = resp.json().await.expect("json");
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().expect("paths");
    assert!(
        paths.contains_key("/v1/admin/tenants/{tenant}/versions"),
        "{doc}"
    );
    for (path, ops) in paths {
        let concrete = path
            .replace("{tenant}", "acme")
            .replace("{digest}", &"0".repeat(64))
            .replace("{path}", "anything")
            .replace("{call}", "ph-none")
            .replace("{file}", "app.js");
        for (method, op) in ops.as_object().expect("operations") {
            let responses = op["responses"].as_object().expect("responses");
            // `default`: the plugin's API, which answers whatever status the plugin picks.
            let any_status = responses.contains_key("default");
            let documented: Vec<u16> = responses
                .keys()
                .filter(|k| *k != "default")
                .map(|k| k.parse().expect("status"))
                .collect();
            let method =
                reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).expect("method");
            let resp = reqwest::Client::new()
                .request(method.clone(), host.url(&concrete))
                .header("content-type", "application/json")
                .body("{}")
                .send()
                .await
                .expect("request");
            let status = resp.status().as_u16();
            assert!(
                any_status || documented.contains(&status),
                "{method} {concrete} answered {status}, documented {documented:?}"
            );
            // The router's own 404 (no such route) must never be what answered.
            let body: Value = resp.json().await.unwrap_or(Value::Null);
            assert_ne!(
                body["code"], "not_found",
                "{method} {concrete} is not routed"
            );
        }
    }
}

fn metric(metrics: &str, name: &str) -> f64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no {name} in /metrics"))
        .trim()
        .parse()
        .expect("a number")
}

#[tokio::test]
async fn uploads_beyond_the_compile_queue_are_refused_with_429_and_store_nothing() {
    let host = Host::start(
        "admin-compile-queue",
        "[runtime]\ncompile_threads = 1\ncompile_queue_per_tenant = 1\ncompile_queue = 4\n",
        &[TenantSpec {
            id: "globex",
            toml: format!("sub_accounts = [\"*\"]\n{IVR_CONFIG}"),
            wasm: Some(Path::new(IVR_WASM)),
        }],
    );
    let ivr = std::fs::read(IVR_WASM).expect("ivr");
    let path = "/v1/admin/tenants/globex/versions?activate=false";
    // Four distinct components at once: one compiles, the tenant's queue holds one.
    let uploads: Vec<_> = (1..=4)
        .map(|n| {
            let url = host.url(path);
            let wasm = variant(&ivr, n);
            tokio::spawn(async move {
                let resp = reqwest::Client::new()
                    .post(url)
                    .bearer_auth(OPERATOR_TOKEN)
                    .body(wasm.clone())
                    .send()
                    .await
                    .expect("upload");
                let status = resp.status().as_u16();
                let retry = resp.headers().get("retry-after").cloned();
                let body: Value = resp.json().await.expect("JSON");
                (wasm, status, retry, body)
            })
        })
        .collect();
    let mut stored = Vec::new();
    let mut refused = Vec::new();
    for upload in uploads {
        let (wasm, status, retry, body) = upload.await.expect("task");
        match status {
            201 => stored.push(body["digest"].as_str().expect("digest").to_owned()),
            429 => {
                assert_eq!(body["code"], "compile_busy", "{body}");
                assert!(
                    body["message"]
                        .as_str()
                        .is_some_and(|m| m.contains("this tenant already has 1")),
                    "{body}"
                );
                assert_eq!(retry.as_ref().map(|v| v.as_bytes()), Some(&b"1"[..]));
                refused.push(wasm);
            }
            other => panic!("upload answered {other}: {body}"),
        }
    }
    assert!(!stored.is_empty(), "no upload was compiled");
    assert!(
        !refused.is_empty(),
        "four uploads at once all got a place in a queue of one"
    );
    let metrics = host.metrics().await;
    #[allow(clippy::cast_precision_loss, reason = "a handful")]
    let refusals = refused.len() as f64;
    assert_eq!(
        metric(&metrics, "callflow_compiles_refused_total"),
        refusals
    );
    assert_eq!(metric(&metrics, "callflow_compiles_admitted"), 0.0);

    // A refused upload stored nothing; sent again once the queue is free, it is taken.
    let (status, list) = call(
        &host,
        reqwest::Method::GET,
        "/v1/admin/tenants/globex/versions",
        Some(OPERATOR_TOKEN),
        vec![],
    )
    .await;
    assert_eq!(status, 200, "{list}");
    let digests: Vec<&str> = list["versions"]
        .as_array()
        .expect("versions")
        .iter()
        .filter_map(|v| v["digest"].as_str())
        .collect();
    for digest in &stored {
        assert!(digests.contains(&digest.as_str()), "{list}");
    }
    for wasm in &refused {
        assert!(
            !digests.contains(&sha256_hex_bytes(wasm).as_str()),
            "{list}"
        );
    }
    let (status, again) = call(
        &host,
        reqwest::Method::POST,
        path,
        Some(OPERATOR_TOKEN),
        refused[0].clone(),
    )
    .await;
    assert_eq!(status, 201, "{again}");
    // Serving went on throughout, on the version that was active.
    assert_eq!(
        greeting(&host, "globex").await["clientActionId"],
        "main_menu"
    );
}
