//! Builds the guest plugins the tests run, from source, and tells the tests where they
//! are; lists the case folders under `tests/cases` so that each becomes a test of its own.
//!
//! Runs `cargo build --target wasm32-wasip2 --profile plugin` for each guest with its
//! own target directory inside `OUT_DIR` (so it never waits on, or dirties, the outer
//! build's), then writes `gen.rs` with one path constant per guest. Rebuilds when any
//! source file a guest was built from changes (read from the guests' dep-info), or the
//! WIT, or a manifest.
//!
//! For each folder of cases (`tests/cases/ivr`, ...), `gen.rs` also gets a macro that
//! calls its argument once per case with a test name and the case's path, so a failing
//! case names itself (`ivr::case_07_reservations_1__book_table`). Adding a case folder
//! reruns this script.
//!
//! A `wasm32-wasip2` cdylib built by cargo is already a component: rustc links it with
//! `wasm-component-ld`. No checked-in `.wasm`, no extra tools.

use std::env;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

/// (package, constant in `gen.rs`, what it is).
const GUESTS: &[(&str, &str, &str)] = &[
    (
        "ivr",
        "IVR_WASM",
        "The restaurant IVR plugin (`plugins/ivr`), built with the SDK.",
    ),
    (
        "number-masking",
        "NUMBER_MASKING_WASM",
        "The number masking plugin (`plugins/number-masking`), built with the SDK.",
    ),
    (
        "mirror",
        "MIRROR_WASM",
        "Mirrors what crossed the WIT boundary (`tests/guests/mirror`), built with the SDK.",
    ),
    (
        "hostile",
        "HOSTILE_WASM",
        "The misbehaving plugin (`tests/guests/hostile`); its tenant config `mode` picks what it does.",
    ),
    (
        "old-contract",
        "OLD_CONTRACT_WASM",
        "A plugin built against `callflow:plugin@0.1.0` (`tests/guests/old-contract`).",
    ),
];

/// (folder under `tests/cases`, macro in `gen.rs`): case folders that are one test each.
const CASE_FOLDERS: &[(&str, &str)] = &[
    ("ivr", "foreach_ivr_case"),
    ("webhooks", "foreach_webhook_case"),
    ("simulate/ivr", "foreach_simulate_ivr_case"),
];

const TARGET: &str = "wasm32-wasip2";
const PROFILE: &str = "plugin";

/// Set by the outer cargo for this build script (or by the user for the outer build)
/// and wrong for the inner one: flags and wrappers for the host target, the outer
/// target directory, clippy's driver.
const SCRUB: &[&str] = &[
    "RUSTFLAGS",
    "CARGO_ENCODED_RUSTFLAGS",
    "CARGO_BUILD_RUSTFLAGS",
    "RUSTDOCFLAGS",
    "CARGO_ENCODED_RUSTDOCFLAGS",
    "CARGO_TARGET_DIR",
    "CARGO_BUILD_TARGET",
    "CARGO_BUILD_TARGET_DIR",
    "RUSTC_WRAPPER",
    "RUSTC_WORKSPACE_WRAPPER",
    "CARGO_BUILD_RUSTC_WRAPPER",
    "CARGO_BUILD_RUSTC_WORKSPACE_WRAPPER",
    "CARGO_PRIMARY_PACKAGE",
    "CLIPPY_ARGS",
    "CLIPPY_CONF_DIR",
    "__CARGO_FIX_PLZ",
    "CARGO_LLVM_COV",
    "LLVM_PROFILE_FILE",
];

fn main() {
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let manifest_dir =
        PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let workspace = manifest_dir
        .ancestors()
        .nth(2)
        .expect("this crate lives in <workspace>/tests/artifacts")
        .to_owned();
    let target_dir = out_dir.join("guests");
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    ensure_target(&workspace);

    let mut cmd = Command::new(cargo);
    cmd.current_dir(&workspace)
        .args(["build", "--target", TARGET, "--profile", PROFILE])
        .arg("--target-dir")
        .arg(&target_dir);
    for (package, _, _) in GUESTS {
        cmd.args(["-p", package]);
    }
    for var in SCRUB {
        cmd.env_remove(var);
    }
    // Per-target settings for the host (`CARGO_TARGET_X86_64_..._RUSTFLAGS`) do not
    // apply to wasm32, but the inner cargo would still read the outer's build-script
    // environment for its own build scripts; drop the build-script-only variables.
    for (var, _) in env::vars_os() {
        let Some(var) = var.to_str() else { continue };
        if var.starts_with("CARGO_CFG_")
            || var.starts_with("CARGO_FEATURE_")
            || var.starts_with("DEP_")
        {
            cmd.env_remove(var);
        }
    }
    let status = cmd
        .status()
        .unwrap_or_else(|e| panic!("cannot run cargo to build the guest plugins: {e}"));
    assert!(
        status.success(),
        "building the guest plugins failed ({status}); see the cargo output above. \
         If the target is missing: `rustup target add {TARGET}`"
    );

    let artifacts = target_dir.join(TARGET).join(PROFILE);
    let mut generated = String::from("// Written by tests/artifacts/build.rs.\n");
    for (package, constant, doc) in GUESTS {
        let stem = package.replace('-', "_");
        let wasm = artifacts.join(format!("{stem}.wasm"));
        assert!(
            wasm.exists(),
            "cargo built {package} but {} is missing",
            wasm.display()
        );
        let _ = writeln!(
            generated,
            "/// {doc}\npub const {constant}: &str = {:?};",
            wasm.to_str().expect("the target directory path is UTF-8")
        );
        for dep in dep_info(&artifacts.join(format!("{stem}.d"))) {
            println!("cargo::rerun-if-changed={}", dep.display());
        }
    }
    for (folder, name) in CASE_FOLDERS {
        write_case_macro(
            &mut generated,
            &workspace.join("tests/cases").join(folder),
            name,
        );
    }
    std::fs::write(out_dir.join("gen.rs"), generated).expect("write gen.rs");

    for path in [
        "wit",
        "Cargo.toml",
        "Cargo.lock",
        "plugins/ivr/Cargo.toml",
        "plugins/number-masking/Cargo.toml",
        "sdk/Cargo.toml",
        "sdk/wire/Cargo.toml",
        "tests/guests/hostile/Cargo.toml",
        "tests/guests/mirror/Cargo.toml",
        "tests/guests/old-contract/Cargo.toml",
        "tests/guests/old-contract/wit",
    ] {
        println!("cargo::rerun-if-changed={}", workspace.join(path).display());
    }
}

/// Writes `macro_rules! $name` that calls `$m!(test_name, "path")` for every case folder in
/// `dir`, in name order. The test name is the folder's, as an identifier:
/// `07-reservations-1--book-table` becomes `case_07_reservations_1__book_table`.
fn write_case_macro(out: &mut String, dir: &Path, name: &str) {
    println!("cargo::rerun-if-changed={}", dir.display());
    let mut cases: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    assert!(!cases.is_empty(), "no case folders in {}", dir.display());
    let _ = writeln!(
        out,
        "/// Calls `$m!(test_name, \"path\")` for every case folder in `{}`.\n#[macro_export]\nmacro_rules! {name} {{\n    ($m:ident) => {{",
        dir.display()
    );
    for case in cases {
        let folder = case
            .file_name()
            .and_then(|n| n.to_str())
            .expect("case folder names are UTF-8");
        let ident: String = folder
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '_'
                }
            })
            .collect();
        let _ = writeln!(
            out,
            "        $m!(case_{ident}, {:?});",
            case.to_str().expect("the workspace path is UTF-8")
        );
    }
    out.push_str("    };\n}\n");
}

/// The source files a dep-info file (`target: dep dep ...`, spaces escaped as `\ `)
/// lists.
fn dep_info(path: &Path) -> Vec<PathBuf> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Vec::new();
    };
    let mut deps = Vec::new();
    for line in text.lines() {
        // The target is everything before the first unescaped ": ".
        let Some(split) = find_unescaped(line, ": ") else {
            continue;
        };
        let mut current = String::new();
        let mut chars = line[split + 2..].chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => {
                    if let Some(next) = chars.next() {
                        current.push(next);
                    }
                }
                ' ' => {
                    if !current.is_empty() {
                        deps.push(PathBuf::from(std::mem::take(&mut current)));
                    }
                }
                c => current.push(c),
            }
        }
        if !current.is_empty() {
            deps.push(PathBuf::from(current));
        }
    }
    deps
}

fn find_unescaped(line: &str, pat: &str) -> Option<usize> {
    let bytes = line.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' {
            i += 2;
            continue;
        }
        if line.get(i..).is_some_and(|rest| rest.starts_with(pat)) {
            return Some(i);
        }
        i += 1;
    }
    None
}

/// Installs the wasm target when the toolchain lacks it, so that `cargo test` alone sets
/// up a fresh machine: these machines set `RUSTUP_AUTO_INSTALL=0`, so
/// `rust-toolchain.toml` does not fetch it by itself.
fn ensure_target(workspace: &Path) {
    let rustc = env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let sysroot = Command::new(rustc)
        .args(["--print", "sysroot"])
        .current_dir(workspace)
        .output()
        .ok()
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    if sysroot.is_some_and(|s| s.join("lib/rustlib").join(TARGET).is_dir()) {
        return;
    }
    println!("cargo::warning=installing the {TARGET} target (rustup target add {TARGET})");
    let status = Command::new("rustup")
        .args(["target", "add", TARGET])
        .current_dir(workspace)
        .status();
    assert!(
        status.is_ok_and(|s| s.success()),
        "rustup target add {TARGET} failed: install the target by hand"
    );
}
