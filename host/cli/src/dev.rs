//! `dev <crate>`: the plugin author's inner loop. Serves the crate as a tenant,
//! rebuilds it on every source change and drops the new component into the tenant's
//! folder, where the tenants watcher picks it up.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use callflow_host::plugin_build;
use callflow_server::tenant::repo::{self, write_atomic};
use notify::Watcher as _;

/// Builds the crate once and lays out its tenant; returns the tenants directory and
/// the tenant id.
pub fn prepare(
    crate_dir: &Path,
    data: &Path,
    config: &[(String, String)],
) -> anyhow::Result<(PathBuf, String)> {
    let name = plugin_build::package_name(crate_dir)?;
    let tenant = format!("{name}-dev");
    let tenants = data.join("dev-tenants");
    let mut toml =
        String::from("# Written by `callflow-host dev`.\nsub_accounts = [\"*\"]\n\n[config]\n");
    for (k, v) in config {
        toml.push_str(&format!("{k} = {}\n", toml::Value::String(v.clone())));
    }
    write_atomic(&tenants.join(&tenant).join("tenant.toml"), toml.as_bytes())?;
    if let Err(e) = rebuild(crate_dir, &name, &tenants.join(&tenant), data) {
        eprintln!("callflow-host dev: {e}; fix it and save, the host keeps watching");
    }
    Ok((tenants, tenant))
}

fn rebuild(crate_dir: &Path, name: &str, tenant_dir: &Path, data: &Path) -> anyhow::Result<()> {
    let start = Instant::now();
    let target = data.join("dev-target");
    let wasm = plugin_build::build(crate_dir, &[name], "release", &target)?
        .pop()
        .context("cargo built nothing")?;
    let bytes = std::fs::read(&wasm).with_context(|| format!("reading {}", wasm.display()))?;
    write_atomic(&tenant_dir.join("plugin.wasm"), &bytes)?;
    eprintln!(
        "callflow-host dev: built {name} ({} bytes, version {}) in {:.1} s; reloading",
        bytes.len(),
        &repo::digest(&bytes)[..12],
        start.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Rebuilds on every change under `src/` or to `Cargo.toml`, until the process ends.
pub fn watch_sources(crate_dir: PathBuf, tenant_dir: PathBuf, data: PathBuf) -> anyhow::Result<()> {
    let name = plugin_build::package_name(&crate_dir)?;
    let (tx, rx) = std::sync::mpsc::channel();
    let mut watcher = notify::recommended_watcher(move |e: notify::Result<notify::Event>| {
        if let Ok(e) = e
            && !e.kind.is_access()
        {
            let _ = tx.send(());
        }
    })?;
    watcher.watch(&crate_dir.join("src"), notify::RecursiveMode::Recursive)?;
    watcher.watch(
        &crate_dir.join("Cargo.toml"),
        notify::RecursiveMode::NonRecursive,
    )?;
    std::thread::Builder::new()
        .name("dev-rebuild".into())
        .spawn(move || {
            let _watcher = watcher;
            while rx.recv().is_ok() {
                // Editors save in several steps: wait for quiet.
                while rx.recv_timeout(Duration::from_millis(150)).is_ok() {}
                if let Err(e) = rebuild(&crate_dir, &name, &tenant_dir, &data) {
                    eprintln!("callflow-host dev: {e}; still serving the last good build");
                }
            }
        })?;
    Ok(())
}
