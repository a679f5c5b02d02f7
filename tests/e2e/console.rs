//! The web console and the dev phone in a real browser: Debian's Chromium, driven by
//! playwright-core (`tests/browser`, pinned in its package-lock.json; no browser is
//! downloaded), against a real host on loopback. The browser signs in, watches the
//! tenants, uploads, activates and rolls back a version, watches a tenant's chart while
//! webhooks arrive, walks the IVR on the dev phone, and checks that a tenant token sees
//! its own tenant only. Screenshots of each page are left in `target/artifacts/console`.
//!
//! Needs `node`, `npm` and `/usr/bin/chromium` (or `CHROMIUM`): skipped without them,
//! failed under `CALLFLOW_REQUIRE_SERVERS=1` (as `.ci/run` sets, after installing them).

use std::path::{Path, PathBuf};
use std::process::Command;

use callflow_test_artifacts::{IVR_WASM, NUMBER_MASKING_WASM};

use crate::support::{Host, IVR_CONFIG, OPERATOR_TOKEN, TenantSpec, variant};

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
