//! `dev <dir>`: the plugin author's inner loop. Serves the plugin in `dir` as a tenant,
//! rebuilds it on every source change and drops the new component into the tenant's
//! folder, where the tenants watcher picks it up.
//!
//! The language is read off the directory: a `Cargo.toml` is a Rust crate (cargo), an
//! `app.py` a Python plugin (`python -m callflow_sdk build`, with the directory's
//! `.venv` when there is one), an `app.js` a JavaScript plugin (the linked SDK's
//! `callflow-js build`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use callflow_host::plugin_build;
use callflow_server::tenant::repo::{self, write_atomic};
use notify::Watcher as _;

/// A plugin directory, by the language its files say.
#[derive(Debug, Clone)]
enum Plugin {
    /// A Rust crate, by package name.
    Rust(String),
    /// `app.py` and its directory.
    Python,
    /// `app.js` and its directory.
    Js,
}

impl Plugin {
    fn detect(dir: &Path) -> anyhow::Result<Self> {
        if dir.join("Cargo.toml").is_file() {
            return Ok(Plugin::Rust(plugin_build::package_name(dir)?));
        }
        if dir.join("app.py").is_file() {
            return Ok(Plugin::Python);
        }
        if dir.join("app.js").is_file() {
            return Ok(Plugin::Js);
        }
        bail!(
            "{} holds no plugin: a Rust crate (Cargo.toml), a Python plugin (app.py) or a \
             JavaScript plugin (app.js); `callflow-host new NAME --lang rust|python|js` makes one",
            dir.display()
        )
    }

    /// Whether a change to `path`, in the plugin's directory `dir`, is a change to the
    /// plugin's sources (judged below `dir`: a plugin may itself live under a directory
    /// called `target`).
    fn is_source(&self, dir: &Path, path: &Path) -> bool {
        let inside = path.strip_prefix(dir).unwrap_or(path);
        let skipped = inside.components().any(|c| {
            let c = c.as_os_str();
            c == "target" || c == "node_modules" || c == "__pycache__" || c == ".venv"
        });
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        !skipped
            && match self {
                Plugin::Rust(_) => ext == "rs" || path.ends_with("Cargo.toml"),
                Plugin::Python => ext == "py",
                Plugin::Js => ext == "js" || ext == "mjs" || path.ends_with("package.json"),
            }
    }
}

/// The tenant's name: the crate's, or the directory's.
fn tenant_name(dir: &Path, plugin: &Plugin) -> String {
    let base = match plugin {
        Plugin::Rust(name) => name.clone(),
        Plugin::Python | Plugin::Js => dir
            .canonicalize()
            .ok()
            .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "plugin".into()),
    };
    let base: String = base
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    format!("{base}-dev")
}

/// Builds the plugin once and lays out its tenant; returns the tenants directory and
/// the tenant id.
pub fn prepare(
    dir: &Path,
    data: &Path,
    config: &[(String, String)],
) -> anyhow::Result<(PathBuf, String)> {
    let plugin = Plugin::detect(dir)?;
    let tenant = tenant_name(dir, &plugin);
    let tenants = data.join("dev-tenants");
    let mut toml =
        String::from("# Written by `callflow-host dev`.\nsub_accounts = [\"*\"]\n\n[config]\n");
    for (k, v) in config {
        toml.push_str(&format!("{k} = {}\n", toml::Value::String(v.clone())));
    }
    write_atomic(&tenants.join(&tenant).join("tenant.toml"), toml.as_bytes())?;
    if let Err(e) = rebuild(dir, &plugin, &tenants.join(&tenant), data) {
        eprintln!("callflow-host dev: {e}; fix it and save, the host keeps watching");
    }
    Ok((tenants, tenant))
}

fn run(cmd: &mut Command, what: &str) -> anyhow::Result<()> {
    let status = cmd.status().with_context(|| format!("cannot run {what}"))?;
    if !status.success() {
        bail!("{what} failed ({status}; its output is above)");
    }
    Ok(())
}

/// The component built from `dir`, at a path under `data`.
fn build(dir: &Path, plugin: &Plugin, data: &Path) -> anyhow::Result<PathBuf> {
    // The SDKs' builds run in the plugin's directory: both paths absolute.
    let target = data.join("dev-target");
    std::fs::create_dir_all(&target)?;
    let out = target.canonicalize()?.join("plugin.wasm");
    let dir = &dir.canonicalize()?;
    match plugin {
        Plugin::Rust(name) => {
            let target = data.join("dev-target");
            return plugin_build::build(dir, &[name], "release", &target)?
                .pop()
                .context("cargo built nothing");
        }
        Plugin::Python => {
            let venv = dir.join(".venv/bin/python");
            let python = std::env::var_os("CALLFLOW_PYTHON")
                .map(PathBuf::from)
                .or_else(|| venv.is_file().then_some(venv))
                .unwrap_or_else(|| "python3".into());
            run(
                Command::new(&python)
                    .args(["-m", "callflow_sdk", "build", "app", "-q", "-C"])
                    .arg(dir)
                    .arg("-o")
                    .arg(&out),
                "the Python SDK's build (pip install -r requirements.txt first)",
            )?;
        }
        Plugin::Js => {
            let cli = dir.join("node_modules/@callflow/sdk/bin/callflow-js.js");
            if !cli.is_file() {
                bail!(
                    "{} is missing: run `npm install` in the plugin's directory",
                    cli.display()
                );
            }
            run(
                Command::new("node")
                    .arg(&cli)
                    .args(["build", "app.js", "-q", "-o"])
                    .arg(&out)
                    .current_dir(dir),
                "the JavaScript SDK's build",
            )?;
        }
    }
    Ok(out)
}

fn rebuild(dir: &Path, plugin: &Plugin, tenant_dir: &Path, data: &Path) -> anyhow::Result<()> {
    let start = Instant::now();
    let wasm = build(dir, plugin, data)?;
    let bytes = std::fs::read(&wasm).with_context(|| format!("reading {}", wasm.display()))?;
    write_atomic(&tenant_dir.join("plugin.wasm"), &bytes)?;
    eprintln!(
        "callflow-host dev: built {} ({} bytes, version {}) in {:.1} s; reloading",
        dir.display(),
        bytes.len(),
        &repo::digest(&bytes)[..12],
        start.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Rebuilds on every change to the plugin's sources, until the process ends.
pub fn watch_sources(dir: PathBuf, tenant_dir: PathBuf, data: PathBuf) -> anyhow::Result<()> {
    // Watched by its canonical path, so that notify reports paths under it.
    let dir = dir
        .canonicalize()
        .with_context(|| format!("{}", dir.display()))?;
    let plugin = Plugin::detect(&dir)?;
    let (tx, rx) = std::sync::mpsc::channel();
    let filter = plugin.clone();
    let root = dir.clone();
    let mut watcher = notify::recommended_watcher(move |e: notify::Result<notify::Event>| {
        if let Ok(e) = e
            && !e.kind.is_access()
            && e.paths.iter().any(|p| filter.is_source(&root, p))
        {
            let _ = tx.send(());
        }
    })?;
    match &plugin {
        Plugin::Rust(_) => {
            watcher.watch(&dir.join("src"), notify::RecursiveMode::Recursive)?;
            watcher.watch(&dir.join("Cargo.toml"), notify::RecursiveMode::NonRecursive)?;
        }
        Plugin::Python | Plugin::Js => {
            watcher.watch(&dir, notify::RecursiveMode::Recursive)?;
        }
    }
    std::thread::Builder::new()
        .name("dev-rebuild".into())
        .spawn(move || {
            let _watcher = watcher;
            while rx.recv().is_ok() {
                // Editors save in several steps: wait for quiet.
                while rx.recv_timeout(Duration::from_millis(150)).is_ok() {}
                if let Err(e) = rebuild(&dir, &plugin, &tenant_dir, &data) {
                    eprintln!("callflow-host dev: {e}; still serving the last good build");
                }
            }
        })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_are_the_languages_own_files_outside_build_and_tool_directories() {
        let dir = Path::new("/home/me/target/p");
        let src = |plugin: &Plugin, rel: &str| plugin.is_source(dir, &dir.join(rel));
        let py = Plugin::Python;
        assert!(
            src(&py, "app.py"),
            "a plugin under a directory named target still builds"
        );
        assert!(src(&py, "menus/tree.py"));
        assert!(!src(&py, "__pycache__/app.cpython-311.pyc"));
        assert!(!src(&py, ".venv/lib/site.py"));
        let js = Plugin::Js;
        assert!(src(&js, "app.js"));
        assert!(!src(&js, "node_modules/x/index.js"));
        assert!(!src(&js, "plugin.wasm"));
        let rust = Plugin::Rust("x".into());
        assert!(src(&rust, "src/lib.rs"));
        assert!(!src(&rust, "target/debug/build/x.rs"));
    }
}
