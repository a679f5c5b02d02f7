//! Building plugin crates for `wasm32-wasip2` with cargo: what `demo` and `dev` run.
//!
//! Output from cargo (build errors included) goes straight to the terminal: a plugin
//! author reads rustc's own messages, not a summary of them.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The wasm target plugins build for.
pub const TARGET: &str = "wasm32-wasip2";

/// Why a plugin crate could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// A tool could not be run.
    #[error("cannot run {tool}: {source}")]
    Spawn {
        /// `cargo`, `rustc` or `rustup`.
        tool: &'static str,
        /// Why.
        source: std::io::Error,
    },
    /// cargo (or rustup) ran and failed; its output is already on the terminal.
    #[error("{0} failed (its output is above)")]
    Failed(String),
    /// The crate's `Cargo.toml` could not be read.
    #[error("{path}: {message}")]
    Manifest {
        /// The manifest.
        path: PathBuf,
        /// Why.
        message: String,
    },
}

/// Installs the wasm target when the toolchain lacks it: these machines set
/// `RUSTUP_AUTO_INSTALL=0`, so `rust-toolchain.toml` alone does not fetch it.
pub fn ensure_target(dir: &Path) -> Result<(), BuildError> {
    let out = Command::new("rustc")
        .args(["--print", "sysroot"])
        .current_dir(dir)
        .output()
        .map_err(|source| BuildError::Spawn {
            tool: "rustc",
            source,
        })?;
    let sysroot = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    if sysroot.join("lib/rustlib").join(TARGET).is_dir() {
        return Ok(());
    }
    tracing::info!("installing the {TARGET} target");
    let status = Command::new("rustup")
        .args(["target", "add", TARGET])
        .current_dir(dir)
        .status()
        .map_err(|source| BuildError::Spawn {
            tool: "rustup",
            source,
        })?;
    if status.success() {
        Ok(())
    } else {
        Err(BuildError::Failed(format!("rustup target add {TARGET}")))
    }
}

/// The package name in `<crate_dir>/Cargo.toml`.
pub fn package_name(crate_dir: &Path) -> Result<String, BuildError> {
    let path = crate_dir.join("Cargo.toml");
    let err = |message: String| BuildError::Manifest {
        path: path.clone(),
        message,
    };
    let text = std::fs::read_to_string(&path).map_err(|e| err(e.to_string()))?;
    let manifest: toml::Table = toml::from_str(&text).map_err(|e| err(e.to_string()))?;
    manifest
        .get("package")
        .and_then(|p| p.get("name"))
        .and_then(|n| n.as_str())
        .map(str::to_owned)
        .ok_or_else(|| err("no [package] name".into()))
}

/// Builds the plugin crates `packages` of the workspace or crate at `dir` with the
/// `profile` profile into `target_dir`; returns each component's path, in order.
pub fn build(
    dir: &Path,
    packages: &[&str],
    profile: &str,
    target_dir: &Path,
) -> Result<Vec<PathBuf>, BuildError> {
    ensure_target(dir)?;
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.current_dir(dir)
        .args(["build", "--target", TARGET, "--profile", profile])
        .arg("--target-dir")
        .arg(target_dir);
    for package in packages {
        cmd.args(["-p", package]);
    }
    let status = cmd.status().map_err(|source| BuildError::Spawn {
        tool: "cargo",
        source,
    })?;
    if !status.success() {
        return Err(BuildError::Failed(format!("cargo build ({status})")));
    }
    // cargo names the `dev` profile's directory `debug`.
    let profile_dir = if profile == "dev" { "debug" } else { profile };
    Ok(packages
        .iter()
        .map(|p| {
            target_dir
                .join(TARGET)
                .join(profile_dir)
                .join(format!("{}.wasm", p.replace('-', "_")))
        })
        .collect())
}
