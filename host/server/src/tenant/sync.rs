//! A cluster node's tenants directory as a mirror of the cluster's
//! [catalog](crate::cluster::catalog): every change made through any node's admin API is
//! written to the catalog, announced on its stream, and applied here to the local folder
//! (configuration, the versions' bytes, the active pointer), then reloaded as a local
//! change would be, off the request path.
//!
//! Order, so that a node that was away misses nothing: note the newest change, take a
//! snapshot of every tenant, then follow the stream from the noted change. Following
//! polls the stream every [`FOLLOW_EVERY`]; when the node fell behind further than the
//! stream keeps, or Redis went away, it takes a snapshot again.
//!
//! Seeding: a node that finds the catalog empty imports its tenants directory into it
//! once (`serve --tenants DIR --redis URL`). After that the catalog is the truth: a
//! folder edited by hand on one node is overwritten by the next change of that tenant,
//! and the watcher is off on cluster nodes; change tenants through the admin API.

use std::sync::Arc;
use std::time::Duration;

use tracing::{info, warn};

use super::{Registry, valid_id};
use crate::cluster::Cluster;
use crate::config::TENANT_FILE;
use crate::store::StoreError;

/// How often a node looks for changes on the stream: well inside the one second within
/// which a change serves everywhere.
pub const FOLLOW_EVERY: Duration = Duration::from_millis(100);

/// Why a tenant could not be brought in step.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// The catalog could not be read or written.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A version's bytes are missing from the catalog or are not what their name says.
    #[error("version {0} of the catalog is missing or corrupt")]
    BadBlob(String),
    /// The local folder could not be written.
    #[error("writing the local tenants directory: {0}")]
    Io(#[from] std::io::Error),
}

/// What a node does with a version whose bytes it has not had before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NewVersions {
    /// Compiles it at once and says so ([`Cluster::mark_ready`]): a change just made,
    /// which the upload that made it may be waiting on before it activates it.
    Compile,
    /// Stores it only (a snapshot: a version is compiled when it is activated).
    Store,
}

/// Brings the local folder of tenant `id` in step with the catalog and reloads it when
/// anything changed. Returns whether it did.
pub async fn apply(
    registry: &Arc<Registry>,
    cluster: &Cluster,
    id: &str,
    new_versions: NewVersions,
) -> Result<bool, SyncError> {
    if !valid_id(id) {
        warn!(
            tenant = id,
            "ignoring a tenant id in the catalog that is not a safe name"
        );
        return Ok(false);
    }
    let started = std::time::Instant::now();
    let record = cluster.tenant(id).await?;
    let repo = registry.repo();
    let mut added = Vec::new();
    let changed = match &record.config {
        // Deleted through the cluster: gone here too.
        None if cluster.was_deleted(id).await? => {
            let existed = repo.exists(id);
            repo.delete(id)?;
            existed
        }
        // Never in the catalog: this node's own, left alone.
        None => false,
        Some(config) => {
            let mut changed = false;
            let local = std::fs::read_to_string(repo.tenant_dir(id).join(TENANT_FILE)).ok();
            if local.as_deref() != Some(config.as_str()) {
                repo.write_config(id, config)?;
                changed = true;
            }
            for digest in &record.versions {
                if repo.version(id, digest).is_some() {
                    continue;
                }
                let wasm = cluster
                    .blob(digest)
                    .await?
                    .filter(|w| super::repo::digest(w) == *digest)
                    .ok_or_else(|| SyncError::BadBlob(digest.clone()))?;
                repo.add_version(id, &wasm)?;
                added.push(digest.clone());
                changed = true;
            }
            if let Some(active) = &record.active
                && repo.active(id).as_ref() != Some(active)
            {
                repo.activate(id, active)?;
                changed = true;
            }
            changed
        }
    };
    let fetched = started.elapsed();
    let mut ready = Vec::new();
    if new_versions == NewVersions::Compile {
        for digest in added {
            let (registry, owned) = (Arc::clone(registry), id.to_owned());
            let prepared = tokio::task::spawn_blocking(move || {
                registry.prepare(&owned, &digest).map(|()| digest)
            })
            .await;
            match prepared {
                Ok(Ok(digest)) => ready.push(digest),
                Ok(Err(e)) => warn!(tenant = id, cause = %e, "a new version does not load here"),
                Err(e) => warn!(tenant = id, cause = %e, "compiling a new version failed"),
            }
        }
    }
    if changed {
        let (registry, owned) = (Arc::clone(registry), id.to_owned());
        let reloaded = tokio::task::spawn_blocking(move || registry.reload(&owned)).await;
        match reloaded {
            Ok(Err(e)) => warn!(tenant = id, cause = %e, "a tenant from the catalog did not load"),
            _ => info!(
                tenant = id,
                fetched_ms = u64::try_from(fetched.as_millis()).unwrap_or(u64::MAX),
                total_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
                "brought in step with the catalog"
            ),
        }
    }
    for digest in ready {
        cluster.mark_ready(id, &digest).await?;
    }
    Ok(changed)
}

/// Imports the local tenants directory into an empty catalog; does nothing otherwise.
pub async fn seed(registry: &Arc<Registry>, cluster: &Cluster) -> Result<(), SyncError> {
    if !cluster.tenant_ids().await?.is_empty() {
        return Ok(());
    }
    let repo = registry.repo();
    for tenant in registry.all() {
        let id = &*tenant.id;
        let Ok(config) = std::fs::read_to_string(repo.tenant_dir(id).join(TENANT_FILE)) else {
            continue;
        };
        cluster.put_config(id, &config).await?;
        for version in repo.versions(id)? {
            let wasm = std::fs::read(repo.version_path(id, &version.digest))?;
            cluster.add_version(id, &version.digest, &wasm).await?;
        }
        // A hand-dropped plugin.wasm becomes the tenant's first version.
        let active = match repo.active(id) {
            Some(active) => Some(active),
            None => match std::fs::read(&tenant.config.plugin) {
                Ok(wasm) => {
                    let digest = super::repo::digest(&wasm);
                    cluster.add_version(id, &digest, &wasm).await?;
                    Some(digest)
                }
                Err(_) => None,
            },
        };
        if let Some(active) = active {
            cluster.activate(id, &active).await?;
        }
        info!(tenant = id, "imported into the cluster's catalog");
    }
    Ok(())
}

/// Applies every tenant of the catalog, and removes the local tenants it deleted. A local
/// tenant the catalog never had is left on disk and served by this node alone, with a
/// warning: its files are the operator's, not the cluster's to delete.
async fn snapshot(registry: &Arc<Registry>, cluster: &Cluster) -> Result<(), SyncError> {
    let mut ids = cluster.tenant_ids().await?;
    ids.sort();
    for local in registry.all() {
        let id = local.id.to_string();
        if ids.binary_search(&id).is_ok() {
            continue;
        }
        if cluster.was_deleted(&id).await? {
            ids.push(id);
        } else {
            warn!(
                tenant = id,
                "in this node's folder but not in the cluster's catalog: served by this node only; create it through the admin API to serve it everywhere"
            );
        }
    }
    ids.sort();
    ids.dedup();
    for id in ids {
        if let Err(e) = apply(registry, cluster, &id, NewVersions::Store).await {
            warn!(tenant = id, cause = %e, "tenant not brought in step with the catalog");
        }
    }
    Ok(())
}

/// Seeds the catalog if it is empty, takes a snapshot, and follows the change stream
/// for as long as the returned task runs.
pub fn follow(registry: Arc<Registry>, cluster: Arc<Cluster>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        if let Err(e) = seed(&registry, &cluster).await {
            warn!(cause = %e, "seeding the cluster's catalog failed; will follow it as it is");
        }
        let mut last: Option<String> = None;
        let mut every = tokio::time::interval(FOLLOW_EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            let since = match &last {
                Some(since) => since.clone(),
                None => {
                    // Note the newest change first, then snapshot: nothing in between is lost.
                    let Ok(newest) = cluster.last_change().await else {
                        continue;
                    };
                    if snapshot(&registry, &cluster).await.is_err() {
                        continue;
                    }
                    last = Some(newest.clone());
                    newest
                }
            };
            match cluster.changes_since(&since).await {
                Ok(Some(changes)) => {
                    for (change, tenant) in changes {
                        if let Err(e) =
                            apply(&registry, &cluster, &tenant, NewVersions::Compile).await
                        {
                            warn!(tenant, cause = %e, "change not applied; resyncing");
                            last = None;
                            break;
                        }
                        last = Some(change);
                    }
                }
                // Fell behind what the stream keeps, or Redis went away: resync whole.
                Ok(None) | Err(_) => last = None,
            }
        }
    })
}
