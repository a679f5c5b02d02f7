//! Hot reload: watches the tenants directory and reloads a tenant whose configuration,
//! hand-dropped `plugin.wasm` or active version changed.
//!
//! Changes are debounced (editors and `cp` write in several steps), then each changed
//! tenant is reloaded on a blocking thread: compilation never runs on the request path.
//! The swap itself is [`Registry::reload`]'s: atomic, and a version that fails to load
//! leaves the old one serving.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use notify::{RecommendedWatcher, RecursiveMode, Watcher as _};
use tokio::sync::mpsc;
use tracing::{error, info, warn};

use crate::tenant::{Registry, Reloaded};

/// How long the directory must be quiet before changed tenants are reloaded.
pub const DEBOUNCE: Duration = Duration::from_millis(100);

/// Keeps the watch alive; dropping it stops watching.
#[derive(Debug)]
pub struct Watch {
    _watcher: RecommendedWatcher,
}

/// Why watching could not start.
#[derive(Debug, thiserror::Error)]
#[error("cannot watch {path}: {message}")]
pub struct WatchError {
    path: String,
    message: String,
}

/// Starts watching the registry's tenants directory. Must be called inside a tokio
/// runtime; reloads run on it until the returned [`Watch`] is dropped.
pub fn watch(registry: Arc<Registry>) -> Result<Watch, WatchError> {
    let root = registry.repo().root().to_owned();
    let err = |e: notify::Error| WatchError {
        path: root.display().to_string(),
        message: e.to_string(),
    };
    let (tx, rx) = mpsc::unbounded_channel();
    let mut watcher =
        notify::recommended_watcher(move |event: notify::Result<notify::Event>| match event {
            Ok(event) if !event.kind.is_access() => {
                let _ = tx.send(event.paths);
            }
            Ok(_) => {}
            Err(e) => warn!(cause = %e, "watching the tenants directory"),
        })
        .map_err(err)?;
    watcher
        .watch(&root, RecursiveMode::Recursive)
        .map_err(err)?;
    tokio::spawn(reload_loop(registry, rx));
    info!(dir = %root.display(), "watching tenants for changes");
    Ok(Watch { _watcher: watcher })
}

async fn reload_loop(
    registry: Arc<Registry>,
    mut rx: mpsc::UnboundedReceiver<Vec<std::path::PathBuf>>,
) {
    while let Some(paths) = rx.recv().await {
        let mut changed = BTreeSet::new();
        let mut note = |paths: Vec<std::path::PathBuf>| {
            for path in paths {
                if let Some(id) = registry.repo().tenant_of(&path) {
                    changed.insert(id);
                }
            }
        };
        note(paths);
        // Wait for quiet, collecting whatever else changes meanwhile.
        loop {
            match tokio::time::timeout(DEBOUNCE, rx.recv()).await {
                Ok(Some(paths)) => note(paths),
                Ok(None) => return,
                Err(_) => break,
            }
        }
        for id in changed {
            let registry = Arc::clone(&registry);
            let outcome = tokio::task::spawn_blocking(move || (registry.reload(&id), id)).await;
            match outcome {
                Ok((Ok(Reloaded::Loaded(tenant)), id)) => {
                    let version = tenant.plugin.digest().unwrap_or("none");
                    match tenant.state.last_load().error {
                        None => info!(tenant = id, version, "tenant reloaded"),
                        Some(e) => error!(
                            tenant = id,
                            version,
                            cause = e,
                            "reload failed; still serving"
                        ),
                    }
                }
                Ok((Ok(Reloaded::Removed), id)) => info!(tenant = id, "tenant removed"),
                Ok((Err(e), id)) => {
                    error!(tenant = id, cause = %e, "reload failed; still serving the previous version")
                }
                Err(e) => error!(cause = %e, "reload task failed"),
            }
        }
    }
}
