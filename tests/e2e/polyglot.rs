//! Plugins in Python and JavaScript, built with their SDKs (`sdk/python` with
//! componentize-py, `sdk/js` with componentize-js), against the same host and the same
//! case data as the Rust ones. The toolchains are set up by the tests themselves
//! (`callflow_tests::polyglot`), so that `cargo test --workspace` stays the one command;
//! without `python3` or `node` the tests skip, and fail under
//! `CALLFLOW_REQUIRE_SERVERS=1`, as `.ci/run` sets.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use callflow_tests::polyglot::{Toolchains, workspace};

use crate::support::{Host, IVR_CONFIG, TenantSpec};

/// The toolchains, shared by this binary's tests.
pub(crate) fn tools() -> &'static Toolchains {
    static TOOLS: OnceLock<Toolchains> = OnceLock::new();
    TOOLS.get_or_init(|| Toolchains::new(Path::new(env!("CARGO_TARGET_TMPDIR"))))
}

/// `wasm` compiled into the compile cache every test host shares, so that a host's first
/// event for it loads in milliseconds rather than compiling for 20 s under a client's
/// timeout.
pub(crate) fn precompile(wasm: &Path) {
    use callflow_server::runtime::{Runtime, RuntimeConfig};
    let runtime = Runtime::new(RuntimeConfig {
        cache_dir: Some(Path::new(env!("CARGO_TARGET_TMPDIR")).join("e2e-compiled")),
        max_instances: 1,
        ..RuntimeConfig::default()
    })
    .expect("runtime");
    runtime.load_file(wasm).expect("the component compiles");
}

fn python() -> Option<PathBuf> {
    tools().python()
}

fn node() -> Option<()> {
    tools().node()
}

/// `node --test` over `dir` (relative to the workspace).
fn node_test(dir: &str) {
    if node().is_some() {
        run_in(
            &workspace().join(dir),
            Path::new("node"),
            &["--test", "test/"],
        );
    }
}

/// Runs pytest over `paths` (relative to the workspace) with the SDK's interpreter.
fn pytest(paths: &[&str]) {
    if let Some(python) = python() {
        let args = [&["-m", "pytest", "-q", "-p", "no:cacheprovider"], paths].concat();
        run_in(workspace(), &python, &args);
    }
}

#[test]
fn the_python_sdk_passes_its_own_tests() {
    pytest(&["sdk/python/tests"]);
}

#[test]
fn the_python_ivr_passes_its_own_tests_natively() {
    pytest(&["plugins/ivr-python/tests"]);
}

#[test]
fn the_js_sdk_passes_its_own_tests() {
    node_test("sdk/js");
}

/// The `.d.ts` files, compiled by TypeScript (pinned in `sdk/js`'s lock file) against a
/// plugin, its API and its tests written in TypeScript (`sdk/js/types/check.ts`).
#[test]
fn the_js_sdk_types_check() {
    if node().is_some() {
        let sdk = workspace().join("sdk/js");
        run_in(
            &sdk,
            &sdk.join("node_modules/.bin/tsc"),
            &["-p", "types/tsconfig.json"],
        );
    }
}

#[test]
fn the_js_ivr_passes_its_own_tests_natively() {
    node_test("plugins/ivr-js");
}

#[test]
fn the_js_number_masking_passes_its_own_tests_natively() {
    node_test("plugins/number-masking-js");
}

/// Every case of `tests/cases/ivr` through one real host, to the IVR in Rust, Python and
/// JavaScript: each answers exactly what the case holds.
#[tokio::test]
async fn the_three_ivrs_answer_every_case_identically_through_a_real_host() {
    let (Some(python_ivr), Some(js_ivr)) = (
        tools().python_component("ivr-python"),
        tools().js_component("ivr-js"),
    ) else {
        return;
    };
    let rust_ivr = Path::new(callflow_test_artifacts::IVR_WASM);
    let tenants = [
        TenantSpec {
            id: "ivr-rust",
            toml: format!("sub_accounts = [\"*\"]\n{IVR_CONFIG}"),
            wasm: Some(rust_ivr),
        },
        TenantSpec {
            id: "ivr-python",
            toml: format!("sub_accounts = [\"*\"]\n{IVR_CONFIG}"),
            wasm: Some(&python_ivr),
        },
        TenantSpec {
            id: "ivr-js",
            toml: format!("sub_accounts = [\"*\"]\n{IVR_CONFIG}"),
            wasm: Some(&js_ivr),
        },
    ];
    let host = Host::start("polyglot-ivr", "", &tenants);
    let mut cases: Vec<PathBuf> = std::fs::read_dir(workspace().join("tests/cases/ivr"))
        .expect("cases")
        .flatten()
        .map(|e| e.path())
        .collect();
    cases.sort();
    assert!(cases.len() >= 20, "{} cases", cases.len());
    for case in &cases {
        let request = std::fs::read_to_string(case.join("request.json")).expect("request");
        let expected: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(case.join("response.json")).expect("response"),
        )
        .expect("response json");
        for tenant in ["ivr-rust", "ivr-python", "ivr-js"] {
            let (status, answer) = host.post(tenant, &request).await;
            assert_eq!(status, 200, "{tenant} {}: {answer}", case.display());
            assert_eq!(answer, expected, "{tenant} {}", case.display());
        }
    }
    let metrics = host.metrics().await;
    let failures = metrics
        .lines()
        .filter(|l| l.starts_with("callflow_plugin_failures_total{") && l.contains("ivr-"))
        .filter(|l| !l.ends_with(" 0"))
        .collect::<Vec<_>>();
    assert!(failures.is_empty(), "{failures:?}");
}

/// A call through a component with `simulate`, as a plugin author runs it: the tenant's
/// `tenant.toml`, the digits pressed; returns the transcript.
async fn simulated_call(wasm: &Path, tenant_toml: &Path, dtmf: &str) -> String {
    use callflow_host::simulate::{self, Args};
    let wasm = wasm.to_str().expect("utf-8 path");
    let toml = tenant_toml.to_str().expect("utf-8 path");
    let args = Args::parse_from([wasm, "--no-costs", "--tenant-toml", toml, "--dtmf", dtmf])
        .expect("args");
    let mut out = Vec::new();
    let report = simulate::run(&args, None, &mut out)
        .await
        .expect("simulate");
    let out = String::from_utf8(out).expect("utf-8");
    assert!(report.passed(), "{out}");
    out
}

/// A new plugin's `plugin.wasm`, simulated with its `tenant.toml`: pressing 2 then 1,
/// the caller hears the template's menu, then the opening hours.
async fn the_templates_menu_answers_a_call(dir: &Path) {
    let out = simulated_call(&dir.join("plugin.wasm"), &dir.join("tenant.toml"), "2,1").await;
    assert!(out.contains("Welcome to ABC Restaurant."), "{out}");
    assert!(
        out.contains("hears    \"We are open from 9 AM to 5 PM, Monday to Friday. Goodbye.\""),
        "{out}"
    );
}

/// A directory outside the checkout for a new plugin (as a plugin author's would be).
fn outside(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("callflow-e2e-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    dir
}

fn run_in(dir: &Path, program: &Path, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", program.display()));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "{} {args:?} in {} failed:\n{text}",
        program.display(),
        dir.display()
    );
    text
}

#[tokio::test]
async fn a_new_python_plugin_passes_its_tests_builds_and_takes_a_simulated_call() {
    use callflow_host::scaffold::{self, Lang};
    let Some(python) = python() else { return };
    let outer = outside("new-python");
    let created = scaffold::create_in(Lang::Python, "front-desk", &outer, None).expect("created");
    assert!(
        Path::new(&created.sdk_path).is_absolute(),
        "{}",
        created.sdk_path
    );
    for file in [
        "app.py",
        "tests/test_app.py",
        "requirements.txt",
        "tenant.toml",
        "README.md",
    ] {
        assert!(created.dir.join(file).is_file(), "{file}");
    }
    // What the README says to run, with the test's interpreter standing in for the
    // plugin's venv: the requirements resolve (a dry run: the interpreter is shared with
    // the tests running beside this one, and already has the SDK).
    let resolved = run_in(
        &created.dir,
        &python,
        &[
            "-m",
            "pip",
            "install",
            "--dry-run",
            "-r",
            "requirements.txt",
        ],
    );
    assert!(resolved.contains("callflow-sdk"), "{resolved}");
    let tests = run_in(
        &created.dir,
        &python,
        &["-m", "pytest", "-q", "-p", "no:cacheprovider"],
    );
    assert!(tests.contains("4 passed"), "{tests}");
    run_in(
        &created.dir,
        &python,
        &[
            "-m",
            "callflow_sdk",
            "build",
            "app",
            "-q",
            "-o",
            "plugin.wasm",
        ],
    );
    the_templates_menu_answers_a_call(&created.dir).await;
    let _ = std::fs::remove_dir_all(&outer);
}

#[tokio::test]
async fn a_new_js_plugin_passes_its_tests_builds_and_takes_a_simulated_call() {
    use callflow_host::scaffold::{self, Lang};
    if node().is_none() {
        return;
    }
    let outer = outside("new-js");
    let created = scaffold::create_in(Lang::Js, "front-desk", &outer, None).expect("created");
    for file in [
        "app.js",
        "test/app.test.js",
        "package.json",
        "tenant.toml",
        "README.md",
    ] {
        assert!(created.dir.join(file).is_file(), "{file}");
    }
    let npm = Path::new("npm");
    run_in(
        &created.dir,
        npm,
        &["install", "--no-audit", "--no-fund", "--loglevel=error"],
    );
    let tests = run_in(&created.dir, npm, &["test"]);
    assert!(tests.contains("# pass 4"), "{tests}");
    run_in(&created.dir, npm, &["run", "build"]);
    the_templates_menu_answers_a_call(&created.dir).await;
    let _ = std::fs::remove_dir_all(&outer);
}

/// What an operator does with a plugin author's Python or JavaScript component: upload it
/// through the admin API, and the tenant's next call is answered by it.
#[tokio::test]
async fn python_and_js_components_upload_through_the_admin_api_and_answer() {
    let (Some(python_ivr), Some(js_ivr)) = (
        tools().python_component("ivr-python"),
        tools().js_component("ivr-js"),
    ) else {
        return;
    };
    // Compiled ahead into the cache every test host shares: an upload compiles before it
    // answers, and a first compile is 20 s.
    precompile(&python_ivr);
    precompile(&js_ivr);
    let host = Host::start(
        "polyglot-upload",
        "[maxima]\ntimeout_ms = 10000\n",
        &[TenantSpec {
            id: "uploads",
            // A 10 s deadline: a component's first event loads it, which on a machine
            // busy with every other test can take longer than the default 100 ms.
            toml: format!("sub_accounts = [\"*\"]\n[limits]\ntimeout_ms = 10000\n{IVR_CONFIG}"),
            wasm: None,
        }],
    );
    let case = workspace().join("tests/cases/ivr/02-main-menu-1--reservations");
    let request = std::fs::read_to_string(case.join("request.json")).expect("request");
    let expected: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(case.join("response.json")).expect("response"),
    )
    .expect("response json");
    for (n, wasm) in [&python_ivr, &js_ivr].into_iter().enumerate() {
        let bytes = std::fs::read(wasm).expect("component");
        let digest = callflow_server::tenant::repo::digest(&bytes);
        let resp = reqwest::Client::new()
            .post(host.url("/v1/admin/tenants/uploads/versions"))
            .bearer_auth(crate::support::OPERATOR_TOKEN)
            .body(bytes)
            .send()
            .await
            .expect("upload");
        let status = resp.status().as_u16();
        let body = resp.text().await.expect("body");
        assert_eq!(status, 201, "{}: {body}", wasm.display());
        let body: serde_json::Value = serde_json::from_str(&body).expect("json");
        assert_eq!(body["digest"], digest.as_str(), "{body}");
        assert_eq!(body["activated"], true, "{body}");
        // A fresh event and session each time: the same delivery twice is answered from
        // the duplicate cache, and a session stays on the version it started with.
        let request = request
            .replace("\"ivr-case-01\"", &format!("\"upload-{n}\""))
            .replace(
                "\"ivr-case-session-01\"",
                &format!("\"upload-session-{n}\""),
            );
        assert!(
            request.contains(&format!("upload-session-{n}")),
            "{request}"
        );
        let (status, answer) = host.post("uploads", &request).await;
        assert_eq!((status, &answer), (200, &expected), "{}", wasm.display());
    }
}
