//! The embedded store: one redb file. The table is keyed by the pair `(tenant, key)`,
//! which redb encodes with the tenant's length first, so no choice of strings makes one
//! tenant's key spell another's.
//!
//! A second table keeps each tenant's usage (keys, bytes, and the earliest expiry among
//! its entries), updated in the same transaction as every write: a quota is checked
//! against it without scanning, and a tenant's expired entries are reclaimed (one range
//! scan) only when a write would be refused and one of them has expired.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use redb::{Database, ReadableTable, ReadableTableMetadata, TableDefinition, WriteTransaction};

use super::{
    KvStore, Quota, StoreError, Usage, check, entry_size, expiry, live, now_ms, unavailable,
};

/// `(tenant, key)` → `(expiry in unix milliseconds, 0 = never; value)`.
const ENTRIES: TableDefinition<(&str, &str), (u64, &[u8])> = TableDefinition::new("kv");

/// `tenant` → `(keys, bytes, earliest expiry among its entries or 0)`.
const USAGE: TableDefinition<&str, (u64, u64, u64)> = TableDefinition::new("kv_usage");

/// The embedded store: one redb file, ACID, every write durable when it returns.
#[derive(Clone)]
pub struct RedbStore {
    /// `None` while it is being opened again after an I/O error.
    db: Arc<RwLock<Option<Database>>>,
    path: Arc<Path>,
    cache_bytes: usize,
}

impl std::fmt::Debug for RedbStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedbStore").finish_non_exhaustive()
    }
}

/// A tenant's row of the usage table.
#[derive(Debug, Clone, Copy, Default)]
struct Row {
    usage: Usage,
    /// The earliest expiry among its entries (0: none expires); a lower bound, made
    /// exact again whenever its entries are scanned.
    earliest: u64,
}

impl RedbStore {
    /// The page cache a store gets unless told otherwise: 64 MiB. (redb's own default,
    /// 1 GiB, lets a host's memory grow for hours under churn before the cache is full.)
    pub const DEFAULT_CACHE_BYTES: usize = 64 << 20;

    /// Opens the database at `path`, creating it if it does not exist, with a page
    /// cache of at most `cache_bytes`.
    pub fn open(path: &Path, cache_bytes: usize) -> Result<Self, StoreError> {
        let open_err = |err: &dyn std::fmt::Display| StoreError::Open {
            path: path.to_owned(),
            message: err.to_string(),
        };
        let db = create(path, cache_bytes).map_err(|e| open_err(&e))?;
        // Create the tables up front so readers never meet a missing table; a file from
        // before usage was kept gets its usage counted once.
        let txn = db.begin_write().map_err(|e| open_err(&e))?;
        let uncounted = {
            let entries = txn.open_table(ENTRIES).map_err(|e| open_err(&e))?;
            let usage = txn.open_table(USAGE).map_err(|e| open_err(&e))?;
            usage.is_empty().map_err(|e| open_err(&e))?
                && !entries.is_empty().map_err(|e| open_err(&e))?
        };
        if uncounted {
            recount(&txn, now_ms()).map_err(|e| open_err(&e))?;
        }
        txn.commit().map_err(|e| open_err(&e))?;
        Ok(Self {
            db: Arc::new(RwLock::new(Some(db))),
            path: Arc::from(path),
            cache_bytes,
        })
    }

    /// Runs `op` on the database. After a failed write redb refuses every later
    /// operation (`PreviousIo`) until the file is opened again: a failure here is
    /// followed by that check, and the database reopened if needed, so that a disk that
    /// was full, once freed, serves again without a restart.
    fn guarded<R>(
        &self,
        op: impl FnOnce(&Database) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        let result = {
            let db = self.db.read().unwrap_or_else(|e| e.into_inner());
            match db.as_ref() {
                Some(db) => op(db),
                None => Err(StoreError::Unavailable(
                    "the store is being opened again after an I/O error".into(),
                )),
            }
        };
        // Only a failure of the store itself can have broken it; a refusal (a quota, a
        // size) must not cost a probe's commit.
        if let Err(StoreError::Unavailable(_)) = &result {
            self.reopen_if_broken();
        }
        result
    }

    fn reopen_if_broken(&self) {
        let mut db = self.db.write().unwrap_or_else(|e| e.into_inner());
        // Reads still work on a broken database; an empty write's commit tells.
        let broken = match db.as_ref() {
            None => true,
            Some(open) => match open.begin_write() {
                Err(redb::TransactionError::Storage(redb::StorageError::PreviousIo)) => true,
                Err(_) => false,
                Ok(probe) => matches!(
                    probe.commit(),
                    Err(redb::CommitError::Storage(redb::StorageError::PreviousIo))
                ),
            },
        };
        if !broken {
            return;
        }
        // The file lock is the old handle's: let go of it first.
        *db = None;
        match create(&self.path, self.cache_bytes) {
            Ok(reopened) => {
                tracing::warn!(path = %self.path.display(), "the key-value store was opened again after an I/O error");
                *db = Some(reopened);
            }
            Err(e) => {
                tracing::error!(path = %self.path.display(), cause = %e, "the key-value store cannot be opened again yet");
            }
        }
    }

    /// Removes every expired entry; returns how many were removed.
    ///
    /// Reads already treat expired entries as absent, writes replace them, and a write
    /// that would be refused reclaims its tenant's first, so this only returns space
    /// early; run it now and then (say, hourly).
    pub fn purge_expired(&self) -> Result<u64, StoreError> {
        self.guarded(|db| {
            let txn = db.begin_write().map_err(unavailable)?;
            let removed = recount(&txn, now_ms())?;
            txn.commit().map_err(unavailable)?;
            Ok(removed)
        })
    }

    /// Entries stored, expired ones included (for tests and diagnostics).
    pub fn len(&self) -> Result<u64, StoreError> {
        self.guarded(|db| {
            let txn = db.begin_read().map_err(unavailable)?;
            let table = txn.open_table(ENTRIES).map_err(unavailable)?;
            table.len().map_err(unavailable)
        })
    }

    /// Whether nothing is stored at all.
    pub fn is_empty(&self) -> Result<bool, StoreError> {
        Ok(self.len()? == 0)
    }
}

/// Opens (or creates) the database at `path` with a page cache of `cache_bytes`.
fn create(path: &Path, cache_bytes: usize) -> Result<Database, redb::DatabaseError> {
    Database::builder().set_cache_size(cache_bytes).create(path)
}

/// Removes every expired entry and counts every tenant's usage again; returns how many
/// entries were removed.
fn recount(txn: &WriteTransaction, now: u64) -> Result<u64, StoreError> {
    let mut entries = txn.open_table(ENTRIES).map_err(unavailable)?;
    let mut usage = txn.open_table(USAGE).map_err(unavailable)?;
    let mut rows: HashMap<String, Row> = HashMap::new();
    let mut expired = Vec::new();
    for entry in entries.iter().map_err(unavailable)? {
        let (k, v) = entry.map_err(unavailable)?;
        let (tenant, key) = k.value();
        let (expires_at, value) = v.value();
        if live(expires_at, now) {
            let row = rows.entry(tenant.to_owned()).or_default();
            row.usage = row.usage.with(entry_size(key, value), 1);
            if expires_at != 0 && (row.earliest == 0 || expires_at < row.earliest) {
                row.earliest = expires_at;
            }
        } else {
            expired.push((tenant.to_owned(), key.to_owned()));
        }
    }
    for (tenant, key) in &expired {
        entries
            .remove((tenant.as_str(), key.as_str()))
            .map_err(unavailable)?;
    }
    usage.retain(|_, _| false).map_err(unavailable)?;
    for (tenant, row) in rows {
        usage
            .insert(
                tenant.as_str(),
                (row.usage.keys, row.usage.bytes, row.earliest),
            )
            .map_err(unavailable)?;
    }
    Ok(u64::try_from(expired.len()).unwrap_or(u64::MAX))
}

/// Reads a tenant's usage row.
fn row(txn: &WriteTransaction, tenant: &str) -> Result<Row, StoreError> {
    let usage = txn.open_table(USAGE).map_err(unavailable)?;
    Ok(usage
        .get(tenant)
        .map_err(unavailable)?
        .map(|r| {
            let (keys, bytes, earliest) = r.value();
            Row {
                usage: Usage { keys, bytes },
                earliest,
            }
        })
        .unwrap_or_default())
}

/// Removes a tenant's expired entries and makes its row exact; returns the row.
fn reclaim(txn: &WriteTransaction, tenant: &str, now: u64) -> Result<Row, StoreError> {
    let mut entries = txn.open_table(ENTRIES).map_err(unavailable)?;
    let mut row = Row::default();
    let mut expired = Vec::new();
    for entry in entries.range((tenant, "")..).map_err(unavailable)? {
        let (k, v) = entry.map_err(unavailable)?;
        let (owner, key) = k.value();
        if owner != tenant {
            break;
        }
        let (expires_at, value) = v.value();
        if live(expires_at, now) {
            row.usage = row.usage.with(entry_size(key, value), 1);
            if expires_at != 0 && (row.earliest == 0 || expires_at < row.earliest) {
                row.earliest = expires_at;
            }
        } else {
            expired.push(key.to_owned());
        }
    }
    for key in &expired {
        entries
            .remove((tenant, key.as_str()))
            .map_err(unavailable)?;
    }
    Ok(row)
}

/// Within `txn`: replaces (or with `new: None` removes) the entry `(tenant, key)` and
/// keeps the tenant's usage, refusing a write that would take it past `quota`.
/// A write [`put`] refused. When `reclaimed`, it first removed the tenant's expired
/// entries, and that stands: commit the transaction, so that the next refusal does not
/// scan them again.
struct Refused {
    error: StoreError,
    reclaimed: bool,
}

impl From<StoreError> for Refused {
    fn from(error: StoreError) -> Self {
        Refused {
            error,
            reclaimed: false,
        }
    }
}

fn put(
    txn: &WriteTransaction,
    tenant: &str,
    key: &str,
    new: Option<(u64, &[u8])>,
    quota: Quota,
    now: u64,
) -> Result<(), Refused> {
    let old_size = |txn: &WriteTransaction| -> Result<Option<u64>, StoreError> {
        let entries = txn.open_table(ENTRIES).map_err(unavailable)?;
        let old = entries.get((tenant, key)).map_err(unavailable)?;
        Ok(old.map(|e| entry_size(key, e.value().1)))
    };
    let after = |row: Row, old: Option<u64>| {
        let without = old.map_or(row.usage, |size| row.usage.with(size, -1));
        new.map_or(without, |(_, v)| without.with(entry_size(key, v), 1))
    };
    let mut row = row(txn, tenant)?;
    let mut old = old_size(txn)?;
    if let Err(refused) = quota.admits(row.usage, after(row, old)) {
        // Expired entries may still count: reclaim them (only when one has expired)
        // before refusing.
        if row.earliest == 0 || row.earliest > now {
            return Err(refused.into());
        }
        row = reclaim(txn, tenant, now)?;
        write_row(txn, tenant, row.usage, row.earliest)?;
        old = old_size(txn)?;
        if let Err(error) = quota.admits(row.usage, after(row, old)) {
            return Err(Refused {
                error,
                reclaimed: true,
            });
        }
    }
    let usage = after(row, old);
    let mut earliest = row.earliest;
    {
        let mut entries = txn.open_table(ENTRIES).map_err(unavailable)?;
        match new {
            Some((expires_at, value)) => {
                entries
                    .insert((tenant, key), (expires_at, value))
                    .map_err(unavailable)?;
                if expires_at != 0 && (earliest == 0 || expires_at < earliest) {
                    earliest = expires_at;
                }
            }
            None => {
                entries.remove((tenant, key)).map_err(unavailable)?;
            }
        }
    }
    write_row(txn, tenant, usage, earliest)?;
    Ok(())
}

/// Writes a tenant's usage row (removed when it keeps nothing).
fn write_row(
    txn: &WriteTransaction,
    tenant: &str,
    usage: Usage,
    earliest: u64,
) -> Result<(), StoreError> {
    let mut table = txn.open_table(USAGE).map_err(unavailable)?;
    if usage.keys == 0 {
        table.remove(tenant).map_err(unavailable)?;
    } else {
        table
            .insert(tenant, (usage.keys, usage.bytes, earliest))
            .map_err(unavailable)?;
    }
    Ok(())
}

/// Runs `put` in `txn` and commits it; a refusal is an error, after committing what it
/// reclaimed.
fn put_and_commit(
    txn: WriteTransaction,
    tenant: &str,
    key: &str,
    new: Option<(u64, &[u8])>,
    quota: Quota,
    now: u64,
) -> Result<(), StoreError> {
    match put(&txn, tenant, key, new, quota, now) {
        Ok(()) => txn.commit().map_err(unavailable),
        Err(Refused { error, reclaimed }) => {
            if reclaimed {
                txn.commit().map_err(unavailable)?;
            }
            Err(error)
        }
    }
}

/// The blocking forms of [`KvStore`]'s methods: each returns when its transaction has
/// (writes: durably committed).
impl RedbStore {
    pub fn get(&self, tenant: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        check(key, None)?;
        self.guarded(|db| {
            let txn = db.begin_read().map_err(unavailable)?;
            let table = txn.open_table(ENTRIES).map_err(unavailable)?;
            let Some(entry) = table.get((tenant, key)).map_err(unavailable)? else {
                return Ok(None);
            };
            let (expires_at, value) = entry.value();
            Ok(live(expires_at, now_ms()).then(|| value.to_vec()))
        })
    }

    pub fn set(
        &self,
        tenant: &str,
        key: &str,
        value: &[u8],
        ttl: Option<Duration>,
        quota: Quota,
    ) -> Result<(), StoreError> {
        check(key, Some(value))?;
        let now = now_ms();
        self.guarded(|db| {
            let txn = db.begin_write().map_err(unavailable)?;
            let entry = (ttl != Some(Duration::ZERO)).then(|| (expiry(ttl, now), value));
            put_and_commit(txn, tenant, key, entry, quota, now)
        })
    }

    pub fn delete(&self, tenant: &str, key: &str) -> Result<bool, StoreError> {
        check(key, None)?;
        let now = now_ms();
        self.guarded(|db| {
            let txn = db.begin_write().map_err(unavailable)?;
            let existed = {
                let entries = txn.open_table(ENTRIES).map_err(unavailable)?;
                let old = entries.get((tenant, key)).map_err(unavailable)?;
                match old {
                    None => return Ok(false),
                    Some(old) => live(old.value().0, now),
                }
            };
            put_and_commit(txn, tenant, key, None, Quota::UNLIMITED, now)?;
            Ok(existed)
        })
    }

    pub fn compare_and_swap(
        &self,
        tenant: &str,
        key: &str,
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
        ttl: Option<Duration>,
        quota: Quota,
    ) -> Result<bool, StoreError> {
        check(key, new)?;
        let now = now_ms();
        // One write transaction: redb runs write transactions one at a time, so nothing
        // can change the entry between the comparison and the swap.
        self.guarded(|db| {
            let txn = db.begin_write().map_err(unavailable)?;
            let matches = {
                let entries = txn.open_table(ENTRIES).map_err(unavailable)?;
                let current = entries.get((tenant, key)).map_err(unavailable)?;
                let current = current
                    .as_ref()
                    .map(|e| e.value())
                    .filter(|(expires_at, _)| live(*expires_at, now))
                    .map(|(_, value)| value);
                current == expected
            };
            if !matches {
                // Nothing changed: dropping the transaction aborts it without a disk write.
                return Ok(false);
            }
            let entry = new
                .filter(|_| ttl != Some(Duration::ZERO))
                .map(|value| (expiry(ttl, now), value));
            put_and_commit(txn, tenant, key, entry, quota, now)?;
            Ok(true)
        })
    }

    pub fn usage(&self, tenant: &str) -> Result<Usage, StoreError> {
        self.guarded(|db| {
            let txn = db.begin_read().map_err(unavailable)?;
            let usage = txn.open_table(USAGE).map_err(unavailable)?;
            Ok(usage
                .get(tenant)
                .map_err(unavailable)?
                .map(|r| {
                    let (keys, bytes, _) = r.value();
                    Usage { keys, bytes }
                })
                .unwrap_or_default())
        })
    }
}

impl RedbStore {
    /// Runs a write on tokio's blocking pool: a commit waits for its fsync, which must not
    /// hold up the other events on this worker.
    async fn offload<R: Send + 'static>(
        &self,
        op: impl FnOnce(&RedbStore) -> Result<R, StoreError> + Send + 'static,
    ) -> Result<R, StoreError> {
        let store = self.clone();
        tokio::task::spawn_blocking(move || op(&store))
            .await
            .unwrap_or_else(|e| {
                Err(StoreError::Unavailable(format!(
                    "the store task failed: {e}"
                )))
            })
    }
}

// Reads come from redb's memory map and return at once; writes commit durably, off the
// worker thread.
#[async_trait::async_trait]
impl KvStore for RedbStore {
    async fn get(&self, tenant: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        RedbStore::get(self, tenant, key)
    }

    async fn set(
        &self,
        tenant: &str,
        key: &str,
        value: &[u8],
        ttl: Option<Duration>,
        quota: Quota,
    ) -> Result<(), StoreError> {
        check(key, Some(value))?;
        let (tenant, key, value) = (tenant.to_owned(), key.to_owned(), value.to_vec());
        self.offload(move |s| s.set(&tenant, &key, &value, ttl, quota))
            .await
    }

    async fn delete(&self, tenant: &str, key: &str) -> Result<bool, StoreError> {
        check(key, None)?;
        let (tenant, key) = (tenant.to_owned(), key.to_owned());
        self.offload(move |s| s.delete(&tenant, &key)).await
    }

    async fn compare_and_swap(
        &self,
        tenant: &str,
        key: &str,
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
        ttl: Option<Duration>,
        quota: Quota,
    ) -> Result<bool, StoreError> {
        check(key, new)?;
        let (tenant, key) = (tenant.to_owned(), key.to_owned());
        let (expected, new) = (expected.map(<[u8]>::to_vec), new.map(<[u8]>::to_vec));
        self.offload(move |s| {
            s.compare_and_swap(
                &tenant,
                &key,
                expected.as_deref(),
                new.as_deref(),
                ttl,
                quota,
            )
        })
        .await
    }

    async fn usage(&self, tenant: &str) -> Result<Usage, StoreError> {
        RedbStore::usage(self, tenant)
    }
}

#[cfg(test)]
mod tests {
    //! What only the embedded store does (purging, reopening, its blocking methods under
    //! threads); the contract every backend keeps is `tests/e2e/store.rs`.

    use super::super::test_dir::TempDir;
    use super::*;

    fn store() -> (TempDir, RedbStore) {
        let dir = TempDir::new("kv");
        let store =
            RedbStore::open(&dir.0.join("kv.redb"), RedbStore::DEFAULT_CACHE_BYTES).expect("open");
        (dir, store)
    }

    #[test]
    fn expired_values_read_as_absent_and_are_purged() {
        let (_dir, s) = store();
        s.set(
            "t",
            "short",
            b"v",
            Some(Duration::from_millis(30)),
            Quota::UNLIMITED,
        )
        .expect("set");
        s.set(
            "t",
            "long",
            b"v",
            Some(Duration::from_secs(3600)),
            Quota::UNLIMITED,
        )
        .expect("set");
        s.set("t", "forever", b"v", None, Quota::UNLIMITED)
            .expect("set");
        assert_eq!(s.get("t", "short").expect("get"), Some(b"v".to_vec()));
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(s.get("t", "short").expect("get"), None);
        assert_eq!(s.get("t", "long").expect("get"), Some(b"v".to_vec()));
        assert_eq!(s.len().expect("len"), 3);
        assert_eq!(s.purge_expired().expect("purge"), 1);
        assert_eq!(s.len().expect("len"), 2);
        assert!(!s.delete("t", "short").expect("delete"));
    }

    #[test]
    fn compare_and_swap_is_atomic_under_contention() {
        let (_dir, s) = store();
        let s = Arc::new(s);
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let s = Arc::clone(&s);
                std::thread::spawn(move || {
                    let mut won = 0;
                    for _ in 0..25 {
                        loop {
                            let current = s.get("t", "n").expect("get");
                            let n: u32 = current.as_deref().map_or(0, |v| {
                                std::str::from_utf8(v).expect("utf8").parse().expect("num")
                            });
                            let next = (n + 1).to_string();
                            if s.compare_and_swap(
                                "t",
                                "n",
                                current.as_deref(),
                                Some(next.as_bytes()),
                                None,
                                Quota::UNLIMITED,
                            )
                            .expect("cas")
                            {
                                won += 1;
                                break;
                            }
                        }
                    }
                    won
                })
            })
            .collect();
        let won: u32 = threads.into_iter().map(|t| t.join().expect("join")).sum();
        assert_eq!(won, 100);
        assert_eq!(s.get("t", "n").expect("get"), Some(b"100".to_vec()));
    }

    #[test]
    fn values_survive_reopening() {
        let dir = TempDir::new("kv-reopen");
        let path = dir.0.join("kv.redb");
        {
            let s = RedbStore::open(&path, RedbStore::DEFAULT_CACHE_BYTES).expect("open");
            s.set("acme", "greeting", b"hello", None, Quota::UNLIMITED)
                .expect("set");
            s.set("acme", "gone", b"x", Some(Duration::ZERO), Quota::UNLIMITED)
                .expect("set");
        }
        let s = RedbStore::open(&path, RedbStore::DEFAULT_CACHE_BYTES).expect("reopen");
        assert_eq!(
            s.get("acme", "greeting").expect("get"),
            Some(b"hello".to_vec())
        );
        assert_eq!(s.get("acme", "gone").expect("get"), None);
    }

    #[test]
    fn a_file_from_before_usage_was_kept_is_counted_once_on_opening() {
        let dir = TempDir::new("kv-uncounted");
        let path = dir.0.join("kv.redb");
        {
            // As an older host left it: entries, no usage table.
            let db = Database::create(&path).expect("create");
            let txn = db.begin_write().expect("txn");
            {
                let mut t = txn.open_table(ENTRIES).expect("table");
                t.insert(("acme", "a"), (0, b"12345".as_slice()))
                    .expect("insert");
                t.insert(("acme", "b"), (0, b"1".as_slice()))
                    .expect("insert");
                t.insert(("acme", "gone"), (1, b"x".as_slice()))
                    .expect("insert");
                t.insert(("globex", "a"), (0, b"".as_slice()))
                    .expect("insert");
            }
            txn.commit().expect("commit");
        }
        let s = RedbStore::open(&path, RedbStore::DEFAULT_CACHE_BYTES).expect("open");
        assert_eq!(s.usage("acme").expect("usage"), Usage { keys: 2, bytes: 8 });
        assert_eq!(
            s.usage("globex").expect("usage"),
            Usage { keys: 1, bytes: 1 }
        );
        assert_eq!(s.len().expect("len"), 3, "the expired entry was reclaimed");
        s.set("acme", "c", b"1", None, Quota::UNLIMITED)
            .expect("set");
        drop(s);
        let s = RedbStore::open(&path, RedbStore::DEFAULT_CACHE_BYTES).expect("reopen");
        assert_eq!(
            s.usage("acme").expect("usage"),
            Usage { keys: 3, bytes: 10 }
        );
    }

    #[test]
    fn what_a_refused_write_reclaimed_stays_reclaimed() {
        let (_dir, s) = store();
        let one = Quota {
            keys: 1,
            bytes: u64::MAX,
        };
        s.set(
            "t",
            "lease",
            b"v",
            Some(Duration::from_millis(30)),
            Quota::UNLIMITED,
        )
        .expect("set");
        s.set("t", "kept", b"v", None, Quota::UNLIMITED)
            .expect("set");
        std::thread::sleep(Duration::from_millis(60));
        // Still one key too many once the lease is gone: refused, but the lease's
        // removal is committed, so the next refusal need not scan for it again.
        assert!(matches!(
            s.set("t", "third", b"v", None, one),
            Err(StoreError::QuotaExceeded { .. })
        ));
        assert_eq!(s.len().expect("len"), 1);
        assert_eq!(s.usage("t").expect("usage"), Usage { keys: 1, bytes: 5 });
    }

    #[test]
    fn opening_a_bad_path_names_it() {
        let dir = TempDir::new("kv-bad");
        let path = dir.0.join("missing-dir").join("kv.redb");
        let err =
            RedbStore::open(&path, RedbStore::DEFAULT_CACHE_BYTES).expect_err("no parent dir");
        assert!(err.to_string().contains("missing-dir"), "{err}");
    }
}
