//! The cluster's catalog of tenants: each tenant's `tenant.toml`, its plugin versions
//! (immutable blobs named by their sha256, written once), the active version and the
//! history of activations, and a stream of changes every node follows.
//!
//! ```text
//! cf:tenants              set of tenant ids
//! cf:deleted              set of tenant ids deleted (and not created again) since
//! cf:{t}:config           the tenant's tenant.toml
//! cf:{t}:versions         set of the tenant's version digests
//! cf:{t}:active           the active version's digest
//! cf:{t}:history          activations, oldest first (the last 100)
//! cf:blob:<sha256>        a version's bytes (shared by tenants that run the same bytes)
//! cf:changes              a stream: one entry `tenant=<id>` per change (about 10,000 kept)
//! ```
//!
//! Nodes keep the bytes on their own disk (the tenants directory is each node's mirror)
//! and compile them themselves: compiled code is never shared between machines (loading
//! it is trusted input). `crate::tenant::sync` keeps the mirror in step.

use redis::{AsyncCommands as _, RedisError};

use super::Cluster;
use crate::store::StoreError;

/// Activations kept in a tenant's history (rollback needs only the recent past).
const HISTORY: isize = 100;
/// Entries kept in the change stream: a node that fell further behind resyncs whole.
const STREAM_LENGTH: usize = 10_000;
const STREAM: &str = "cf:changes";
const TENANTS: &str = "cf:tenants";
const DELETED: &str = "cf:deleted";

/// One tenant as the catalog has it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TenantRecord {
    /// Its `tenant.toml`; `None`: the tenant does not exist (or was deleted).
    pub config: Option<String>,
    /// Its versions' digests.
    pub versions: Vec<String>,
    /// The active version.
    pub active: Option<String>,
    /// Activations, oldest first.
    pub history: Vec<String>,
}

impl TenantRecord {
    /// The version active before the current one, if any.
    pub fn previous(&self) -> Option<&str> {
        let active = self.active.as_deref()?;
        self.history
            .iter()
            .rev()
            .find(|d| d.as_str() != active && self.versions.contains(d))
            .map(String::as_str)
    }
}

fn key(tenant: &str, what: &str) -> String {
    format!("cf:{{{tenant}}}:{what}")
}

impl Cluster {
    fn catalog<T>(&self, result: Result<T, RedisError>) -> Result<T, StoreError> {
        self.record(result)
    }

    /// Records a change of `tenant` on the stream every node follows.
    async fn announce(&self, tenant: &str) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        let added: Result<String, _> = redis::cmd("XADD")
            .arg(STREAM)
            .arg("MAXLEN")
            .arg("~")
            .arg(STREAM_LENGTH)
            .arg("*")
            .arg("tenant")
            .arg(tenant)
            .query_async(&mut conn)
            .await;
        self.catalog(added).map(|_| ())
    }

    /// Every tenant id in the catalog.
    pub async fn tenant_ids(&self) -> Result<Vec<String>, StoreError> {
        let mut conn = self.conn.clone();
        let ids: Result<Vec<String>, _> = conn.smembers(TENANTS).await;
        self.catalog(ids)
    }

    /// One tenant, read in one round trip.
    pub async fn tenant(&self, id: &str) -> Result<TenantRecord, StoreError> {
        let mut conn = self.conn.clone();
        type Read = (Option<String>, Vec<String>, Option<String>, Vec<String>);
        let read: Result<Read, _> = redis::pipe()
            .get(key(id, "config"))
            .smembers(key(id, "versions"))
            .get(key(id, "active"))
            .lrange(key(id, "history"), 0, -1)
            .query_async(&mut conn)
            .await;
        let (config, versions, active, history) = self.catalog(read)?;
        Ok(TenantRecord {
            config,
            versions,
            active,
            history,
        })
    }

    /// A version's bytes.
    pub async fn blob(&self, digest: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let mut conn = self.conn.clone();
        let blob: Result<Option<Vec<u8>>, _> = conn.get(format!("cf:blob:{digest}")).await;
        self.catalog(blob)
    }

    /// Sets a tenant's `tenant.toml` (creating the tenant).
    pub async fn put_config(&self, id: &str, toml: &str) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        let written: Result<(), _> = redis::pipe()
            .set(key(id, "config"), toml)
            .ignore()
            .sadd(TENANTS, id)
            .ignore()
            .srem(DELETED, id)
            .ignore()
            .query_async(&mut conn)
            .await;
        self.catalog(written)?;
        self.announce(id).await
    }

    /// Whether `id` was deleted from the catalog (rather than never in it).
    pub async fn was_deleted(&self, id: &str) -> Result<bool, StoreError> {
        let mut conn = self.conn.clone();
        let deleted: Result<bool, _> = conn.sismember(DELETED, id).await;
        self.catalog(deleted)
    }

    /// Deletes a tenant (its blobs stay: other tenants may run the same bytes).
    pub async fn delete_tenant(&self, id: &str) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        let deleted: Result<(), _> = redis::pipe()
            .del(&[
                key(id, "config"),
                key(id, "versions"),
                key(id, "active"),
                key(id, "history"),
            ])
            .ignore()
            .srem(TENANTS, id)
            .ignore()
            .sadd(DELETED, id)
            .ignore()
            .query_async(&mut conn)
            .await;
        self.catalog(deleted)?;
        self.announce(id).await
    }

    /// Stores a version of a tenant (the blob once, whoever uploads it).
    pub async fn add_version(&self, id: &str, digest: &str, wasm: &[u8]) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        let written: Result<(), _> = redis::pipe()
            .cmd("SET")
            .arg(format!("cf:blob:{digest}"))
            .arg(wasm)
            .arg("NX")
            .ignore()
            .sadd(key(id, "versions"), digest)
            .ignore()
            .query_async(&mut conn)
            .await;
        self.catalog(written)?;
        self.announce(id).await
    }

    /// Makes `digest` the tenant's active version.
    pub async fn activate(&self, id: &str, digest: &str) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        let written: Result<(), _> = redis::pipe()
            .set(key(id, "active"), digest)
            .ignore()
            .rpush(key(id, "history"), digest)
            .ignore()
            .ltrim(key(id, "history"), -HISTORY, -1)
            .ignore()
            .query_async(&mut conn)
            .await;
        self.catalog(written)?;
        self.announce(id).await
    }

    /// The id of the newest change (`0-0` when there is none): follow from there after a
    /// snapshot, and nothing between the two is missed.
    pub async fn last_change(&self) -> Result<String, StoreError> {
        let mut conn = self.conn.clone();
        let newest: Result<redis::streams::StreamRangeReply, _> =
            conn.xrevrange_count(STREAM, "+", "-", 1).await;
        let newest = self.catalog(newest)?;
        Ok(newest
            .ids
            .first()
            .map_or_else(|| "0-0".to_owned(), |e| e.id.clone()))
    }

    /// Changes after `since`, oldest first: `(change id, tenant)`; `None` when `since` is
    /// older than the oldest change kept (the caller must resync whole).
    pub async fn changes_since(
        &self,
        since: &str,
    ) -> Result<Option<Vec<(String, String)>>, StoreError> {
        let mut conn = self.conn.clone();
        let oldest: Result<redis::streams::StreamRangeReply, _> =
            conn.xrange_count(STREAM, "-", "+", 1).await;
        let oldest = self.catalog(oldest)?;
        if let Some(first) = oldest.ids.first()
            && since != "0-0"
            && stream_id_less(since, &first.id)
        {
            return Ok(None);
        }
        let read: Result<redis::streams::StreamReadReply, _> = conn
            .xread_options(
                &[STREAM],
                &[since],
                &redis::streams::StreamReadOptions::default().count(1000),
            )
            .await;
        let read = self.catalog(read)?;
        let mut changes = Vec::new();
        for stream in read.keys {
            for entry in stream.ids {
                let tenant: Option<String> = entry.get("tenant");
                changes.push((entry.id.clone(), tenant.unwrap_or_default()));
            }
        }
        Ok(Some(changes))
    }
}

/// Whether stream id `a` (`ms-seq`) is before `b`, with a one-entry slack: `since` is the
/// last id a node saw, and it is fine when that id was the one just trimmed.
fn stream_id_less(a: &str, b: &str) -> bool {
    let parse = |s: &str| {
        let (ms, seq) = s.split_once('-').unwrap_or((s, "0"));
        (
            ms.parse::<u64>().unwrap_or(0),
            seq.parse::<u64>().unwrap_or(0),
        )
    };
    let (a, b) = (parse(a), parse(b));
    a < b && (a.0, a.1 + 1) != b && (a.0 + 1, 0) != b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_previous_version_is_the_last_other_one_still_stored() {
        let record = TenantRecord {
            config: Some(String::new()),
            versions: vec!["a".into(), "b".into()],
            active: Some("b".into()),
            history: vec!["a".into(), "gone".into(), "b".into()],
        };
        assert_eq!(record.previous(), Some("a"));
    }

    #[test]
    fn stream_ids_compare_by_time_then_sequence() {
        assert!(stream_id_less("1-0", "5-0"));
        assert!(!stream_id_less("5-0", "1-0"));
        assert!(
            !stream_id_less("4-3", "4-4"),
            "the very next id is not a gap"
        );
    }
}
