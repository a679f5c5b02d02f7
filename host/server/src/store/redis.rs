//! A cluster's shared store on Redis, with exactly the redb store's semantics.
//!
//! Every key of a tenant lives under `cf:{<tenant>}:kv:<key>`: the hash tag keeps a
//! tenant's keys in one slot of a Redis Cluster (so one script can touch them), and no
//! tenant id can spell another's prefix (ids are `[A-Za-z0-9_-]`, no braces).
//!
//! A stored value is `v` + a 16-byte write token + the plugin's bytes; a deletion by
//! compare-and-swap leaves a tombstone (`t` + token, expiring after [`TOMBSTONE_TTL`])
//! that reads as absent. The token is how a lost reply is handled: the connection
//! manager reports a dropped connection to the caller instead of retrying, so a
//! compare-and-swap may have been applied without its caller knowing. It is retried once
//! with the same token, and a retry that finds its own token counts as done. (A retry
//! whose write was overwritten by another writer in between reports `false`: both
//! writes happened, the caller's first.)
//!
//! Compare-and-swap (with its TTL) is one Lua script, run by digest (`EVALSHA`, loaded
//! again when Redis answers `NOSCRIPT` after a restart or `SCRIPT FLUSH`), not
//! WATCH/MULTI/EXEC: over a reconnecting connection a WATCH can be lost between the read
//! and the write, and an aborted EXEC must not read as success.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use redis::aio::ConnectionManager;
use redis::{AsyncCommands as _, RedisError, Script};
use sha2::{Digest as _, Sha256};

use super::{KvStore, StoreError, check};

/// How long a tombstone remembers who deleted a key: longer than any retry.
pub const TOMBSTONE_TTL: Duration = Duration::from_secs(60);

/// How long one command may take before it is an error (the plugin gets `unavailable`).
const RESPONSE_TIMEOUT: Duration = Duration::from_millis(500);
/// How long connecting may take.
const CONNECTION_TIMEOUT: Duration = Duration::from_millis(500);

const TOKEN_BYTES: usize = 16;

/// `KEYS[1]`; `ARGV`: expected, has expected (`0`/`1`), new, has new, TTL in ms (`-1`
/// none, `0` expires at once), token, tombstone TTL in ms. Returns 1 when swapped.
const CAS: &str = r"
local cur = redis.call('GET', KEYS[1])
local live = false
local val = nil
if cur then
  if string.sub(cur, 2, 17) == ARGV[6] then return 1 end
  live = string.sub(cur, 1, 1) == 'v'
  val = string.sub(cur, 18)
end
local matches
if ARGV[2] == '0' then matches = not live else matches = live and val == ARGV[1] end
if not matches then return 0 end
if ARGV[4] == '1' and ARGV[5] ~= '0' then
  if ARGV[5] == '-1' then
    redis.call('SET', KEYS[1], 'v' .. ARGV[6] .. ARGV[3])
  else
    redis.call('SET', KEYS[1], 'v' .. ARGV[6] .. ARGV[3], 'PX', ARGV[5])
  end
else
  redis.call('SET', KEYS[1], 't' .. ARGV[6], 'PX', ARGV[7])
end
return 1
";

/// `KEYS[1]`. Deletes a live value; returns 1 when there was one.
const DELETE: &str = r"
local cur = redis.call('GET', KEYS[1])
if cur and string.sub(cur, 1, 1) == 'v' then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
";

/// The Redis store.
pub struct RedisStore {
    conn: ConnectionManager,
    cas: Script,
    delete: Script,
    /// Makes write tokens unique to this process.
    seed: [u8; 32],
    writes: AtomicU64,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore").finish_non_exhaustive()
    }
}

impl RedisStore {
    /// A store on the Redis at `url` (`redis://host:port/db`); call it inside a tokio
    /// runtime (the connection lives on a task of its own). Connects lazily and
    /// reconnects by itself: a Redis that is down now makes each call fail with
    /// [`StoreError::Unavailable`] until it is back, not the start.
    pub fn open(url: &str, node_id: &str) -> Result<Self, StoreError> {
        let conn = connect(url)?;
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let seed = Sha256::digest(format!("{node_id}/{}/{nanos}", std::process::id())).into();
        Ok(Self {
            conn,
            cas: Script::new(CAS),
            delete: Script::new(DELETE),
            seed,
            writes: AtomicU64::new(0),
        })
    }

    /// The Redis key of a tenant's key.
    fn key(tenant: &str, key: &str) -> Vec<u8> {
        let mut k = Vec::with_capacity(10 + tenant.len() + key.len());
        k.extend_from_slice(b"cf:{");
        k.extend_from_slice(tenant.as_bytes());
        k.extend_from_slice(b"}:kv:");
        k.extend_from_slice(key.as_bytes());
        k
    }

    /// A token no other write (of this process or another) carries.
    fn token(&self) -> [u8; TOKEN_BYTES] {
        let n = self.writes.fetch_add(1, Ordering::Relaxed);
        let mut h = Sha256::new();
        h.update(self.seed);
        h.update(n.to_le_bytes());
        let digest = h.finalize();
        let mut token = [0; TOKEN_BYTES];
        token.copy_from_slice(&digest[..TOKEN_BYTES]);
        token
    }

    /// Runs `op` once more when the first try lost its connection: every operation here
    /// is safe to repeat (writes carry their token).
    async fn retry<T, F, Fut>(&self, op: F) -> Result<T, StoreError>
    where
        F: Fn(ConnectionManager) -> Fut,
        Fut: Future<Output = Result<T, RedisError>>,
    {
        match op(self.conn.clone()).await {
            Err(e) if e.is_io_error() || e.is_connection_dropped() || e.is_timeout() => {
                op(self.conn.clone()).await.map_err(unavailable)
            }
            other => other.map_err(unavailable),
        }
    }
}

/// A lazy, reconnecting connection to the Redis at `url`, with short timeouts (a node
/// must answer its callers even when Redis does not); call inside a tokio runtime.
pub(crate) fn connect(url: &str) -> Result<ConnectionManager, StoreError> {
    let open = |e: RedisError| StoreError::Open {
        path: url.into(),
        message: e.to_string(),
    };
    let client = redis::Client::open(url).map_err(open)?;
    let config = redis::aio::ConnectionManagerConfig::new()
        .set_response_timeout(Some(RESPONSE_TIMEOUT))
        .set_connection_timeout(Some(CONNECTION_TIMEOUT))
        .set_number_of_retries(2)
        .set_max_delay(Duration::from_millis(200));
    ConnectionManager::new_lazy_with_config(client, config).map_err(open)
}

fn unavailable(err: RedisError) -> StoreError {
    StoreError::Unavailable(format!("redis: {err}"))
}

/// TTL in milliseconds as the scripts take it: `-1` none, `0` at once.
fn ttl_arg(ttl: Option<Duration>) -> i64 {
    ttl.map_or(-1, |t| i64::try_from(t.as_millis()).unwrap_or(i64::MAX))
}

#[async_trait::async_trait]
impl KvStore for RedisStore {
    async fn get(&self, tenant: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        check(key, None)?;
        let k = Self::key(tenant, key);
        let stored: Option<Vec<u8>> = self
            .retry(|mut c| {
                let k = k.clone();
                async move { c.get(k).await }
            })
            .await?;
        Ok(stored
            .filter(|v| v.len() > TOKEN_BYTES && v[0] == b'v')
            .map(|v| v[1 + TOKEN_BYTES..].to_vec()))
    }

    async fn set(
        &self,
        tenant: &str,
        key: &str,
        value: &[u8],
        ttl: Option<Duration>,
    ) -> Result<(), StoreError> {
        check(key, Some(value))?;
        let k = Self::key(tenant, key);
        if ttl == Some(Duration::ZERO) {
            // Expires at once: what is left is no value.
            return self
                .retry(|mut c| {
                    let k = k.clone();
                    async move { c.del::<_, ()>(k).await }
                })
                .await;
        }
        let mut stored = Vec::with_capacity(1 + TOKEN_BYTES + value.len());
        stored.push(b'v');
        stored.extend_from_slice(&self.token());
        stored.extend_from_slice(value);
        self.retry(|mut c| {
            let (k, stored) = (k.clone(), stored.clone());
            async move {
                match ttl {
                    Some(ttl) => {
                        let ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
                        c.pset_ex::<_, _, ()>(k, stored, ms).await
                    }
                    None => c.set::<_, _, ()>(k, stored).await,
                }
            }
        })
        .await
    }

    async fn delete(&self, tenant: &str, key: &str) -> Result<bool, StoreError> {
        check(key, None)?;
        let k = Self::key(tenant, key);
        let deleted: i64 = self
            .retry(|mut c| {
                let invocation = self.delete.key(k.clone());
                async move { invocation.invoke_async(&mut c).await }
            })
            .await?;
        Ok(deleted == 1)
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
        let k = Self::key(tenant, key);
        let token = self.token();
        let tombstone_ms = i64::try_from(TOMBSTONE_TTL.as_millis()).unwrap_or(i64::MAX);
        let swapped: i64 = self
            .retry(|mut c| {
                let mut invocation = self.cas.key(k.clone());
                invocation
                    .arg(expected.unwrap_or_default())
                    .arg(i32::from(expected.is_some()))
                    .arg(new.unwrap_or_default())
                    .arg(i32::from(new.is_some()))
                    .arg(ttl_arg(ttl))
                    .arg(&token[..])
                    .arg(tombstone_ms);
                async move { invocation.invoke_async(&mut c).await }
            })
            .await?;
        Ok(swapped == 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_tenant_key_is_under_its_own_hash_tag() {
        assert_eq!(RedisStore::key("acme", "n"), b"cf:{acme}:kv:n");
        // A key cannot reach into another tenant's prefix.
        assert!(!RedisStore::key("ac", "me}:kv:n").starts_with(b"cf:{acme}"));
    }

    // The connection manager spawns its connection task: it needs a runtime.
    #[tokio::test]
    async fn write_tokens_are_unique() {
        let store = RedisStore::open("redis://127.0.0.1:1/", "node").expect("lazy");
        let a = store.token();
        let b = store.token();
        assert_ne!(a, b);
        let other = RedisStore::open("redis://127.0.0.1:1/", "node").expect("lazy");
        assert_ne!(other.token(), a);
    }
}
