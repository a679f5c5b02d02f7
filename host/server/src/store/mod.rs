//! Tenant state: the key-value store behind the plugins' `kv` import.
//!
//! Owns persistence and tenant scoping. Every method takes the tenant id, and keys of
//! different tenants can never meet. The [`KvStore`] trait is the seam; its backends:
//!
//! - [`RedbStore`] (`redb`): the embedded default, one file; reads from its memory map
//!   at once, writes committed durably on tokio's blocking pool;
//! - [`RedisStore`] (`redis`): a cluster's shared store; every key under
//!   `cf:{tenant}:kv:`, compare-and-swap as one Lua script;
//! - [`MemoryStore`] (`memory`): bounded and gone when dropped, for dry runs and the
//!   simulator.
//!
//! All three keep exactly the same semantics; one contract suite (`tests/e2e/store.rs`)
//! runs against each.
//!
//! Must not: know about plugins or WIT types. The runtime maps [`StoreError`] to the
//! guest's `kv-error`.

mod memory;
mod redb;
mod redis;

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub use self::memory::MemoryStore;
pub use self::redb::RedbStore;
pub use self::redis::RedisStore;
pub(crate) use self::redis::connect as redis_connection;

/// Largest key a plugin may use, in bytes.
pub const MAX_KEY_BYTES: usize = 1024;
/// Largest value a plugin may store, in bytes.
pub const MAX_VALUE_BYTES: usize = 64 * 1024;

/// A key-value store with per-key expiry, scoped by tenant. Async, so that each backend
/// decides what may block: redb's reads return at once and its commits go to the blocking
/// pool; Redis waits on the network without holding a worker.
///
/// Implementations must keep tenants apart: nothing written for one tenant may be read,
/// overwritten or deleted through another tenant's id.
#[async_trait::async_trait]
pub trait KvStore: Send + Sync + 'static {
    /// The value of `key`, or `None` when it is absent or expired.
    async fn get(&self, tenant: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError>;

    /// Stores `value` under `key`; with `ttl` it expires that long from now.
    async fn set(
        &self,
        tenant: &str,
        key: &str,
        value: &[u8],
        ttl: Option<Duration>,
    ) -> Result<(), StoreError>;

    /// Removes `key`; true when it existed (and had not expired).
    async fn delete(&self, tenant: &str, key: &str) -> Result<bool, StoreError>;

    /// Atomically replaces the value of `key` with `new` if its current value is
    /// `expected`.
    ///
    /// `expected: None` means the key is absent or expired; `new: None` deletes it.
    /// Returns whether the swap happened.
    async fn compare_and_swap(
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

pub(crate) fn unavailable(err: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(err.to_string())
}

pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The stored expiry for a ttl given now; `0` means none.
pub(crate) fn expiry(ttl: Option<Duration>, now: u64) -> u64 {
    match ttl {
        None => 0,
        // A ttl of zero expires at once; `max(1)` keeps it from meaning "never".
        Some(ttl) => now
            .saturating_add(u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX))
            .max(1),
    }
}

pub(crate) fn live(expires_at: u64, now: u64) -> bool {
    expires_at == 0 || expires_at > now
}

pub(crate) fn check(key: &str, value: Option<&[u8]>) -> Result<(), StoreError> {
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

/// A scratch directory for the store's tests.
#[cfg(test)]
pub(crate) mod test_dir {
    use std::path::PathBuf;
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
}
