//! `callflow-host new`: a fresh plugin crate builds for `wasm32-wasip2`, passes its own
//! tests, and takes a simulated call, with nothing edited. Slow (it builds a crate and
//! its dependencies from scratch the first time), so it is one test; its target
//! directory lives under `CARGO_TARGET_TMPDIR` so that reruns are incremental.

use std::path::Path;
use std::process::Command;

use callflow_host::scaffold;
use callflow_host::simulate::{self, Args};

/// Flags and wrappers meant for the outer build, wrong for the fresh crate's.
const SCRUB: &[&str] = &[
    "RUSTFLAGS",
    "CARGO_ENCODED_RUSTFLAGS",
    "CARGO_BUILD_RUSTFLAGS",
    "CARGO_TARGET_DIR",
    "CARGO_BUILD_TARGET",
    "CARGO_BUILD_TARGET_DIR",
    "RUSTC_WRAPPER",
    "RUSTC_WORKSPACE_WRAPPER",
    "CARGO_PRIMARY_PACKAGE",
];

fn cargo(dir: &Path, args: &[&str], target_dir: Option<&Path>) -> String {
    let mut cmd = Command::new(env!("CARGO"));
    cmd.current_dir(dir).args(args);
    if let Some(target_dir) = target_dir {
        cmd.arg("--target-dir").arg(target_dir);
    }
    for var in SCRUB {
        cmd.env_remove(var);
    }
    let out = cmd.output().expect("cargo");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "cargo {args:?} in {} failed:\n{text}",
        dir.display()
    );
    text
}

#[tokio::test]
async fn a_new_plugin_builds_passes_its_tests_and_takes_a_simulated_call() {
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    // Someone else's workspace, outside the callflow-host checkout: the new crate is
    // created inside its directory and must not break it (nor be broken by it).
    let outer = std::env::temp_dir().join(format!("callflow-e2e-new-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&outer);
    std::fs::create_dir_all(&outer).expect("dir");
    std::fs::write(
        outer.join("Cargo.toml"),
        "[workspace]\nresolver = \"3\"\nmembers = []\n",
    )
    .expect("outer workspace");

    let created = scaffold::create("front-desk", &outer, None).expect("created");
    assert_eq!(created.lib_name, "front_desk");
    // Outside the callflow-host checkout: the SDK by absolute path.
    assert!(
        Path::new(&created.sdk_path).is_absolute(),
        "{}",
        created.sdk_path
    );
    let manifest = std::fs::read_to_string(created.dir.join("Cargo.toml")).expect("manifest");
    assert!(manifest.contains("[workspace]"), "{manifest}");
    for file in [
        "src/lib.rs",
        "rust-toolchain.toml",
        "tenant.toml",
        "README.md",
        ".gitignore",
        "Cargo.lock",
    ] {
        assert!(created.dir.join(file).is_file(), "{file}");
    }
    // A second `new` with the same name changes nothing.
    assert!(scaffold::create("front-desk", &outer, None).is_err());

    let target = tmp.join("scaffold-target");
    let tests = cargo(&created.dir, &["test"], Some(&target));
    assert!(tests.contains("test result: ok. 6 passed"), "{tests}");
    cargo(
        &created.dir,
        &["build", "--target", "wasm32-wasip2", "--release"],
        Some(&target),
    );
    // The outer workspace is unaffected.
    cargo(
        &outer,
        &["metadata", "--no-deps", "--format-version", "1"],
        None,
    );

    let wasm = target.join("wasm32-wasip2/release/front_desk.wasm");
    assert!(wasm.is_file(), "{}", wasm.display());
    let wasm = wasm.to_str().expect("utf-8 path");
    let toml = created.dir.join("tenant.toml");
    let toml = toml.to_str().expect("utf-8 path");
    let args = Args::parse_from([wasm, "--no-costs", "--tenant-toml", toml, "--dtmf", "2,1"])
        .expect("args");
    let mut out = Vec::new();
    let report = simulate::run(&args, None, &mut out)
        .await
        .expect("simulate");
    let out = String::from_utf8(out).expect("utf-8");
    assert!(report.passed(), "{out}");
    assert!(out.contains("(sub-account your_subaccount_id)"), "{out}");
    assert!(out.contains("Welcome to ABC Restaurant."), "{out}");
    assert!(
        out.contains("hears    \"We are open from 9 AM to 5 PM, Monday to Friday. Goodbye.\""),
        "{out}"
    );
    let _ = std::fs::remove_dir_all(&outer);
}

#[test]
fn inside_the_checkout_the_sdk_path_is_relative() {
    // Where a plugin of this repository would live; created in the test's scratch
    // space instead, then the SDK path is checked as it would be written there.
    let sdk = scaffold::default_sdk();
    let checkout = sdk
        .parent()
        .expect("checkout")
        .canonicalize()
        .expect("checkout");
    let scratch = checkout
        .join("target")
        .join(format!("scaffold-inside-{}", std::process::id()));
    let created = scaffold::create("inside", &scratch, None).expect("created");
    assert_eq!(created.sdk_path, "../../../sdk");
    let manifest = std::fs::read_to_string(created.dir.join("Cargo.toml")).expect("manifest");
    assert!(
        manifest.contains("callflow-sdk = { path = \"../../../sdk\" }"),
        "{manifest}"
    );
    let _ = std::fs::remove_dir_all(&scratch);
}
