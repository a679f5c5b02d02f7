//! Tenant state: the key-value store behind the plugins' `kv` import.
//!
//! Owns persistence and tenant scoping. Every method takes the tenant id, and keys of
//! different tenants can never meet: the table is keyed by the pair `(tenant, key)`, which
//! redb encodes with the tenant's length first, so no choice of strings makes one tenant's
//! key spell another's. The [`KvStore`] trait is the seam a distributed backend (Redis)
//! plugs into; [`RedbStore`] is the embedded default.
//!
//! Must not: know about plugins or WIT types. The runtime maps [`StoreError`] to the
//! guest's `kv-error`.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use redb::{Database, ReadableTable, ReadableTableMetadata, TableDefinition};

/// Largest key a plugin may use, in bytes.
pub const MAX_KEY_BYTES: usize = 1024;
/// Largest value a plugin may store, in bytes.
pub const MAX_VALUE_BYTES: usize = 64 * 1024;

/// A key-value store with per-key expiry, scoped by tenant.
///
/// Implementations must keep tenants apart: nothing written for one tenant may be read,
/// overwritten or deleted through another tenant's id.
pub trait KvStore: Send + Sync + 'static {
    /// The value of `key`, or `None` when it is absent or expired.
    fn get(&self, tenant: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError>;

    /// Stores `value` under `key`; with `ttl` it expires that long from now.
    fn set(
        &self,
        tenant: &str,
        key: &str,
        value: &[u8],
        ttl: Option<Duration>,
    ) -> Result<(), StoreError>;

    /// Removes `key`; true when it existed (and had not expired).
    fn delete(&self, tenant: &str, key: &str) -> Result<bool, StoreError>;

    /// Atomically replaces the value of `key` with `new` if its current value is
    /// `expected`.
    ///
    /// `expected: None` means the key is absent or expired; `new: None` deletes it.
    /// Returns whether the swap happened.
    fn compare_and_swap(
        &self,
        tenant: &str,
        key: &str,
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
        ttl: Option<Duration>,
    ) -> Result<bool, StoreError>;
}

impl std::fmt::Debug for dyn KvStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("dyn KvStore")
    }
}

/// Why a store operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The key or value is larger than the store allows.
    #[error("the {what} is {len} bytes, more than the {max} allowed")]
    TooLarge {
        /// `key` or `value`.
        what: &'static str,
        /// Its size.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The database file could not be opened or created.
    #[error("cannot open the store at {path}: {message}")]
    Open {
        /// The database file.
        path: PathBuf,
        /// What the backend said.
        message: String,
    },
    /// The backend failed (I/O, corruption, a poisoned lock).
    #[error("the store is unavailable: {0}")]
    Unavailable(String),
}

/// `(tenant, key)` → `(expiry in unix milliseconds, 0 = never; value)`.
const ENTRIES: TableDefinition<(&str, &str), (u64, &[u8])> = TableDefinition::new("kv");

/// The embedded store: one redb file, ACID, every write durable when it returns.
pub struct RedbStore {
    db: Database,
}

impl std::fmt::Debug for RedbStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedbStore").finish_non_exhaustive()
    }
}

fn unavailable(err: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(err.to_string())
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The stored expiry for a ttl given now; `0` means none.
fn expiry(ttl: Option<Duration>, now: u64) -> u64 {
    match ttl {
        None => 0,
        // A ttl of zero expires at once; `max(1)` keeps it from meaning "never".
        Some(ttl) => now
            .saturating_add(u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX))
            .max(1),
    }
}

fn live(expires_at: u64, now: u64) -> bool {
    expires_at == 0 || expires_at > now
}

fn check(key: &str, value: Option<&[u8]>) -> Result<(), StoreError> {
    if key.len() > MAX_KEY_BYTES {
        return Err(StoreError::TooLarge {
            what: "key",
            len: key.len(),
            max: MAX_KEY_BYTES,
        });
    }
    match value {
        Some(v) if v.len() > MAX_VALUE_BYTES => Err(StoreError::TooLarge {
            what: "value",
            len: v.len(),
            max: MAX_VALUE_BYTES,
        }),
        _ => Ok(()),
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
        Ok(Self { db })
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

impl KvStore for RedbStore {
    fn get(&self, tenant: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        check(key, None)?;
        let txn = self.db.begin_read().map_err(unavailable)?;
        let table = txn.open_table(ENTRIES).map_err(unavailable)?;
        let Some(entry) = table.get((tenant, key)).map_err(unavailable)? else {
            return Ok(None);
        };
        let (expires_at, value) = entry.value();
        Ok(live(expires_at, now_ms()).then(|| value.to_vec()))
    }

    fn set(
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

    fn delete(&self, tenant: &str, key: &str) -> Result<bool, StoreError> {
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

    fn compare_and_swap(
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

/// A store in memory, for one dry run: the same semantics as [`RedbStore`], nothing on
/// disk, gone when dropped, and bounded in bytes so that a plugin writing in a loop
/// fills it, not the host's memory.
#[derive(Debug)]
pub struct MemoryStore {
    entries: std::sync::Mutex<MemoryEntries>,
    max_bytes: usize,
}

#[derive(Debug, Default)]
struct MemoryEntries {
    /// `(tenant, key)` → `(expiry in unix milliseconds, 0 = never; value)`.
    map: std::collections::HashMap<(String, String), (u64, Vec<u8>)>,
    /// Keys plus values, in bytes.
    bytes: usize,
}

impl MemoryStore {
    /// An empty store that holds at most `max_bytes` of keys and values.
    pub fn new(max_bytes: usize) -> Self {
        Self {
            entries: std::sync::Mutex::default(),
            max_bytes,
        }
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, MemoryEntries> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl MemoryEntries {
    fn live(&self, tenant: &str, key: &str, now: u64) -> Option<&[u8]> {
        let (expires_at, value) = self.map.get(&(tenant.to_owned(), key.to_owned()))?;
        live(*expires_at, now).then_some(value.as_slice())
    }

    fn put(
        &mut self,
        tenant: &str,
        key: &str,
        value: Option<(u64, &[u8])>,
        max: usize,
    ) -> Result<(), StoreError> {
        let id = (tenant.to_owned(), key.to_owned());
        let old = self.map.get(&id).map_or(0, |(_, v)| key.len() + v.len());
        let new = value.map_or(0, |(_, v)| key.len() + v.len());
        let bytes = self.bytes - old + new;
        if bytes > max {
            return Err(StoreError::Unavailable(format!(
                "the scratch store is full ({max} bytes)"
            )));
        }
        self.bytes = bytes;
        match value {
            Some((expires_at, v)) => self.map.insert(id, (expires_at, v.to_vec())),
            None => self.map.remove(&id),
        };
        Ok(())
    }
}

impl KvStore for MemoryStore {
    fn get(&self, tenant: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        check(key, None)?;
        Ok(self
            .entries()
            .live(tenant, key, now_ms())
            .map(<[u8]>::to_vec))
    }

    fn set(
        &self,
        tenant: &str,
        key: &str,
        value: &[u8],
        ttl: Option<Duration>,
    ) -> Result<(), StoreError> {
        check(key, Some(value))?;
        let now = now_ms();
        self.entries()
            .put(tenant, key, Some((expiry(ttl, now), value)), self.max_bytes)
    }

    fn delete(&self, tenant: &str, key: &str) -> Result<bool, StoreError> {
        check(key, None)?;
        let mut entries = self.entries();
        let existed = entries.live(tenant, key, now_ms()).is_some();
        entries.put(tenant, key, None, self.max_bytes)?;
        Ok(existed)
    }

    fn compare_and_swap(
        &self,
        tenant: &str,
        key: &str,
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
        ttl: Option<Duration>,
    ) -> Result<bool, StoreError> {
        check(key, new)?;
        let now = now_ms();
        let mut entries = self.entries();
        if entries.live(tenant, key, now) != expected {
            return Ok(false);
        }
        entries.put(
            tenant,
            key,
            new.map(|v| (expiry(ttl, now), v)),
            self.max_bytes,
        )?;
        Ok(true)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    /// A directory under the system temp dir, removed on drop.
    pub(crate) struct TempDir(pub PathBuf);

    impl TempDir {
        pub(crate) fn new(name: &str) -> Self {
            static NEXT: AtomicU32 = AtomicU32::new(0);
            let dir = std::env::temp_dir().join(format!(
                "callflow-{name}-{}-{}",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed)
            ));
            std::fs::create_dir_all(&dir).expect("create temp dir");
            Self(dir)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn store() -> (TempDir, RedbStore) {
        let dir = TempDir::new("kv");
        let store = RedbStore::open(&dir.0.join("kv.redb")).expect("open");
        (dir, store)
    }

    #[test]
    fn tenants_never_see_each_others_keys() {
        let (_dir, s) = store();
        s.set("acme", "counter", b"1", None).expect("set");
        // Same key, other tenant; and a tenant/key split that would collide if the two
        // were simply concatenated.
        assert_eq!(s.get("globex", "counter").expect("get"), None);
        s.set("ac", "mecounter", b"2", None).expect("set");
        assert_eq!(s.get("acme", "counter").expect("get"), Some(b"1".to_vec()));
        assert!(!s.delete("globex", "counter").expect("delete"));
        assert!(
            !s.compare_and_swap("globex", "counter", Some(b"1"), Some(b"x"), None)
                .expect("cas")
        );
        assert_eq!(s.get("acme", "counter").expect("get"), Some(b"1".to_vec()));
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
    fn zero_ttl_expires_at_once() {
        let (_dir, s) = store();
        s.set("t", "k", b"v", Some(Duration::ZERO)).expect("set");
        assert_eq!(s.get("t", "k").expect("get"), None);
    }

    #[test]
    fn compare_and_swap_compares_swaps_and_deletes() {
        let (_dir, s) = store();
        // Absent key: only `expected: None` matches.
        assert!(
            !s.compare_and_swap("t", "k", Some(b"0"), Some(b"1"), None)
                .expect("cas")
        );
        assert!(
            s.compare_and_swap("t", "k", None, Some(b"1"), None)
                .expect("cas")
        );
        assert!(
            !s.compare_and_swap("t", "k", None, Some(b"2"), None)
                .expect("cas")
        );
        assert!(
            !s.compare_and_swap("t", "k", Some(b"0"), Some(b"2"), None)
                .expect("cas")
        );
        assert_eq!(s.get("t", "k").expect("get"), Some(b"1".to_vec()));
        assert!(
            s.compare_and_swap("t", "k", Some(b"1"), Some(b"2"), None)
                .expect("cas")
        );
        assert_eq!(s.get("t", "k").expect("get"), Some(b"2".to_vec()));
        // `new: None` deletes.
        assert!(
            s.compare_and_swap("t", "k", Some(b"2"), None, None)
                .expect("cas")
        );
        assert_eq!(s.get("t", "k").expect("get"), None);
    }

    #[test]
    fn compare_and_swap_treats_an_expired_key_as_absent() {
        let (_dir, s) = store();
        s.set("t", "lock", b"held", Some(Duration::from_millis(20)))
            .expect("set");
        assert!(
            !s.compare_and_swap("t", "lock", None, Some(b"mine"), None)
                .expect("cas")
        );
        std::thread::sleep(Duration::from_millis(40));
        assert!(
            !s.compare_and_swap("t", "lock", Some(b"held"), Some(b"x"), None)
                .expect("cas")
        );
        assert!(
            s.compare_and_swap("t", "lock", None, Some(b"mine"), None)
                .expect("cas")
        );
        assert_eq!(s.get("t", "lock").expect("get"), Some(b"mine".to_vec()));
    }

    #[test]
    fn compare_and_swap_is_atomic_under_contention() {
        let (_dir, s) = store();
        let s = std::sync::Arc::new(s);
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let s = std::sync::Arc::clone(&s);
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
    fn oversized_keys_and_values_are_refused() {
        let (_dir, s) = store();
        let long_key = "k".repeat(MAX_KEY_BYTES + 1);
        assert!(matches!(
            s.set("t", &long_key, b"v", None),
            Err(StoreError::TooLarge { what: "key", .. })
        ));
        let big = vec![0u8; MAX_VALUE_BYTES + 1];
        assert!(matches!(
            s.set("t", "k", &big, None),
            Err(StoreError::TooLarge { what: "value", .. })
        ));
        assert!(matches!(
            s.compare_and_swap("t", "k", None, Some(&big), None),
            Err(StoreError::TooLarge { what: "value", .. })
        ));
        s.set(
            "t",
            &"k".repeat(MAX_KEY_BYTES),
            &vec![1u8; MAX_VALUE_BYTES],
            None,
        )
        .expect("at the limits");
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
