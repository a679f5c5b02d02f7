//! The embedded store: one redb file. The table is keyed by the pair `(tenant, key)`,
//! which redb encodes with the tenant's length first, so no choice of strings makes one
//! tenant's key spell another's.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use redb::{Database, ReadableTable, ReadableTableMetadata, TableDefinition};

use super::{KvStore, StoreError, check, expiry, live, now_ms, unavailable};

/// `(tenant, key)` → `(expiry in unix milliseconds, 0 = never; value)`.
const ENTRIES: TableDefinition<(&str, &str), (u64, &[u8])> = TableDefinition::new("kv");

/// The embedded store: one redb file, ACID, every write durable when it returns.
#[derive(Clone)]
pub struct RedbStore {
    db: Arc<Database>,
}

impl std::fmt::Debug for RedbStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedbStore").finish_non_exhaustive()
    }
}

impl RedbStore {
    /// Opens the database at `path`, creating it if it does not exist.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let open_err = |err: &dyn std::fmt::Display| StoreError::Open {
            path: path.to_owned(),
            message: err.to_string(),
        };
        let db = Database::create(path).map_err(|e| open_err(&e))?;
        // Create the table up front so readers never meet a missing table.
        let txn = db.begin_write().map_err(|e| open_err(&e))?;
        txn.open_table(ENTRIES).map_err(|e| open_err(&e))?;
        txn.commit().map_err(|e| open_err(&e))?;
        Ok(Self { db: Arc::new(db) })
    }

    /// Removes every expired entry; returns how many were removed.
    ///
    /// Reads already treat expired entries as absent and writes replace them, so this
    /// only reclaims space; run it now and then (say, hourly).
    pub fn purge_expired(&self) -> Result<u64, StoreError> {
        let now = now_ms();
        let txn = self.db.begin_write().map_err(unavailable)?;
        let removed = {
            let mut table = txn.open_table(ENTRIES).map_err(unavailable)?;
            let before = table.len().map_err(unavailable)?;
            table
                .retain(|_, (expires_at, _)| live(expires_at, now))
                .map_err(unavailable)?;
            before - table.len().map_err(unavailable)?
        };
        txn.commit().map_err(unavailable)?;
        Ok(removed)
    }

    /// Entries stored, expired ones included (for tests and diagnostics).
    pub fn len(&self) -> Result<u64, StoreError> {
        let txn = self.db.begin_read().map_err(unavailable)?;
        let table = txn.open_table(ENTRIES).map_err(unavailable)?;
        table.len().map_err(unavailable)
    }

    /// Whether nothing is stored at all.
    pub fn is_empty(&self) -> Result<bool, StoreError> {
        Ok(self.len()? == 0)
    }
}

/// The blocking forms of [`KvStore`]'s methods: each returns when its transaction has
/// (writes: durably committed).
impl RedbStore {
    pub fn get(&self, tenant: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        check(key, None)?;
        let txn = self.db.begin_read().map_err(unavailable)?;
        let table = txn.open_table(ENTRIES).map_err(unavailable)?;
        let Some(entry) = table.get((tenant, key)).map_err(unavailable)? else {
            return Ok(None);
        };
        let (expires_at, value) = entry.value();
        Ok(live(expires_at, now_ms()).then(|| value.to_vec()))
    }

    pub fn set(
        &self,
        tenant: &str,
        key: &str,
        value: &[u8],
        ttl: Option<Duration>,
    ) -> Result<(), StoreError> {
        check(key, Some(value))?;
        let txn = self.db.begin_write().map_err(unavailable)?;
        {
            let mut table = txn.open_table(ENTRIES).map_err(unavailable)?;
            table
                .insert((tenant, key), (expiry(ttl, now_ms()), value))
                .map_err(unavailable)?;
        }
        txn.commit().map_err(unavailable)
    }

    pub fn delete(&self, tenant: &str, key: &str) -> Result<bool, StoreError> {
        check(key, None)?;
        let txn = self.db.begin_write().map_err(unavailable)?;
        let existed = {
            let mut table = txn.open_table(ENTRIES).map_err(unavailable)?;
            let removed = table.remove((tenant, key)).map_err(unavailable)?;
            removed.is_some_and(|old| live(old.value().0, now_ms()))
        };
        txn.commit().map_err(unavailable)?;
        Ok(existed)
    }

    pub fn compare_and_swap(
        &self,
        tenant: &str,
        key: &str,
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
        ttl: Option<Duration>,
    ) -> Result<bool, StoreError> {
        check(key, new)?;
        let now = now_ms();
        // One write transaction: redb runs write transactions one at a time, so nothing
        // can change the entry between the comparison and the swap.
        let txn = self.db.begin_write().map_err(unavailable)?;
        {
            let mut table = txn.open_table(ENTRIES).map_err(unavailable)?;
            let matches = {
                let current = table.get((tenant, key)).map_err(unavailable)?;
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
            match new {
                Some(value) => {
                    table
                        .insert((tenant, key), (expiry(ttl, now), value))
                        .map_err(unavailable)?;
                }
                None => {
                    table.remove((tenant, key)).map_err(unavailable)?;
                }
            }
        }
        txn.commit().map_err(unavailable)?;
        Ok(true)
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
    ) -> Result<(), StoreError> {
        check(key, Some(value))?;
        let (tenant, key, value) = (tenant.to_owned(), key.to_owned(), value.to_vec());
        self.offload(move |s| s.set(&tenant, &key, &value, ttl))
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
    ) -> Result<bool, StoreError> {
        check(key, new)?;
        let (tenant, key) = (tenant.to_owned(), key.to_owned());
        let (expected, new) = (expected.map(<[u8]>::to_vec), new.map(<[u8]>::to_vec));
        self.offload(move |s| {
            s.compare_and_swap(&tenant, &key, expected.as_deref(), new.as_deref(), ttl)
        })
        .await
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
        let store = RedbStore::open(&dir.0.join("kv.redb")).expect("open");
        (dir, store)
    }

    #[test]
    fn expired_values_read_as_absent_and_are_purged() {
        let (_dir, s) = store();
        s.set("t", "short", b"v", Some(Duration::from_millis(30)))
            .expect("set");
        s.set("t", "long", b"v", Some(Duration::from_secs(3600)))
            .expect("set");
        s.set("t", "forever", b"v", None).expect("set");
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
            let s = RedbStore::open(&path).expect("open");
            s.set("acme", "greeting", b"hello", None).expect("set");
            s.set("acme", "gone", b"x", Some(Duration::ZERO))
                .expect("set");
        }
        let s = RedbStore::open(&path).expect("reopen");
        assert_eq!(
            s.get("acme", "greeting").expect("get"),
            Some(b"hello".to_vec())
        );
        assert_eq!(s.get("acme", "gone").expect("get"), None);
    }

    #[test]
    fn opening_a_bad_path_names_it() {
        let dir = TempDir::new("kv-bad");
        let path = dir.0.join("missing-dir").join("kv.redb");
        let err = RedbStore::open(&path).expect_err("no parent dir");
        assert!(err.to_string().contains("missing-dir"), "{err}");
    }
}
