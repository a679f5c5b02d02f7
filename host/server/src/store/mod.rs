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

/// The attribute a [`KvStore`] implementation is written with.
pub use async_trait::async_trait;

pub use self::memory::MemoryStore;
pub use self::redb::RedbStore;
pub use self::redis::RedisStore;
pub(crate) use self::redis::connect as redis_connection;

/// Largest key a plugin may use, in bytes.
pub const MAX_KEY_BYTES: usize = 1024;
/// Largest value a plugin may store, in bytes.
pub const MAX_VALUE_BYTES: usize = 64 * 1024;

/// How much one tenant may keep in the store: keys, and bytes of keys plus values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Quota {
    /// Keys stored.
    pub keys: u64,
    /// Bytes of keys plus values (as the plugin wrote them).
    pub bytes: u64,
}

impl Quota {
    /// No bound (the host's own writes, and tests of other things).
    pub const UNLIMITED: Quota = Quota {
        keys: u64::MAX,
        bytes: u64::MAX,
    };

    /// Whether a write that takes a tenant from `before` to `after` is allowed: one that
    /// grows a dimension may not take it past the quota; one that does not grow it is
    /// always allowed (a tenant over a lowered quota can still delete and shrink).
    pub(crate) fn admits(&self, before: Usage, after: Usage) -> Result<(), StoreError> {
        if after.keys > before.keys && after.keys > self.keys {
            return Err(StoreError::QuotaExceeded {
                what: "keys",
                used: before.keys,
                limit: self.keys,
            });
        }
        if after.bytes > before.bytes && after.bytes > self.bytes {
            return Err(StoreError::QuotaExceeded {
                what: "bytes",
                used: before.bytes,
                limit: self.bytes,
            });
        }
        Ok(())
    }
}

/// What one tenant keeps in the store.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Keys stored.
    pub keys: u64,
    /// Bytes of keys plus values.
    pub bytes: u64,
}

impl Usage {
    /// The usage with one entry of `size` bytes (key plus value) more (`sign` 1) or
    /// fewer (`sign` -1).
    pub(crate) fn with(self, size: u64, sign: i8) -> Usage {
        match sign {
            1 => Usage {
                keys: self.keys.saturating_add(1),
                bytes: self.bytes.saturating_add(size),
            },
            _ => Usage {
                keys: self.keys.saturating_sub(1),
                bytes: self.bytes.saturating_sub(size),
            },
        }
    }
}

/// Bytes an entry counts for: its key and its value.
pub(crate) fn entry_size(key: &str, value: &[u8]) -> u64 {
    u64::try_from(key.len() + value.len()).unwrap_or(u64::MAX)
}

/// A key-value store with per-key expiry, scoped by tenant. Async, so that each backend
/// decides what may block: redb's reads return at once and its commits go to the blocking
/// pool; Redis waits on the network without holding a worker.
///
/// Implementations must keep tenants apart: nothing written for one tenant may be read,
/// overwritten or deleted through another tenant's id.
///
/// They also account for what each tenant keeps ([`usage`](KvStore::usage)) and refuse,
/// atomically with the write, one that would take the tenant past its [`Quota`]
/// ([`StoreError::QuotaExceeded`], nothing changed). An expired entry may count until
/// the backend reclaims it, but a backend reclaims a tenant's expired entries before it
/// refuses that tenant a write.
#[async_trait::async_trait]
pub trait KvStore: Send + Sync + 'static {
    /// The value of `key`, or `None` when it is absent or expired.
    async fn get(&self, tenant: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError>;

    /// Stores `value` under `key`; with `ttl` it expires that long from now. Refused when
    /// it would take the tenant past `quota`.
    async fn set(
        &self,
        tenant: &str,
        key: &str,
        value: &[u8],
        ttl: Option<Duration>,
        quota: Quota,
    ) -> Result<(), StoreError>;

    /// Removes `key`; true when it existed (and had not expired).
    async fn delete(&self, tenant: &str, key: &str) -> Result<bool, StoreError>;

    /// Atomically replaces the value of `key` with `new` if its current value is
    /// `expected`.
    ///
    /// `expected: None` means the key is absent or expired; `new: None` deletes it.
    /// Returns whether the swap happened; a swap that would take the tenant past `quota`
    /// is refused (an error, not `false`: the comparison held).
    async fn compare_and_swap(
        &self,
        tenant: &str,
        key: &str,
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
        ttl: Option<Duration>,
        quota: Quota,
    ) -> Result<bool, StoreError>;

    /// What `tenant` keeps in the store.
    async fn usage(&self, tenant: &str) -> Result<Usage, StoreError>;
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
    /// The write would take the tenant past its quota; nothing was changed.
    #[error("the tenant's store quota of {limit} {what} is reached ({used} in use)")]
    QuotaExceeded {
        /// `keys` or `bytes`.
        what: &'static str,
        /// What the tenant had before the write.
        used: u64,
        /// The quota.
        limit: u64,
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
