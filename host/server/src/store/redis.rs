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
use redis::{AsyncCommands as _, RedisError, Script, Value};
use sha2::{Digest as _, Sha256};

use super::{KvStore, Quota, StoreError, Usage, check};

/// How long a tombstone remembers who deleted a key: longer than any retry.
pub const TOMBSTONE_TTL: Duration = Duration::from_secs(60);

/// How long one command may take before it is an error (the plugin gets `unavailable`).
const RESPONSE_TIMEOUT: Duration = Duration::from_millis(500);
/// How long connecting may take.
const CONNECTION_TIMEOUT: Duration = Duration::from_millis(500);

const TOKEN_BYTES: usize = 16;

/// Shared by the write scripts. `KEYS[1]` the entry, `KEYS[2]` the tenant's usage (a
/// hash: `keys`, `bytes`), `KEYS[3]` its entries that expire (a sorted set by expiry,
/// Redis's clock), `KEYS[4]` their sizes (a hash); `ARGV[1]` the key's name, `ARGV[2]`
/// the tenant's key prefix. Redis expires an entry silently: its size leaves the usage
/// when a write next meets it, or when `reclaim` finds its expiry passed.
const ACCOUNTING: &str = r"
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function untrack(name)
  local size = redis.call('HGET', KEYS[4], name)
  if size then
    redis.call('HINCRBY', KEYS[2], 'keys', -1)
    redis.call('HINCRBY', KEYS[2], 'bytes', -tonumber(size))
    redis.call('HDEL', KEYS[4], name)
    redis.call('ZREM', KEYS[3], name)
  end
end
local function reclaim(now, limit)
  local gone = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now, 'LIMIT', 0, limit)
  for _, name in ipairs(gone) do
    local cur = redis.call('GET', ARGV[2] .. name)
    if not (cur and string.sub(cur, 1, 1) == 'v') then untrack(name) end
  end
end
local function usage()
  local u = redis.call('HMGET', KEYS[2], 'keys', 'bytes')
  return tonumber(u[1] or '0'), tonumber(u[2] or '0')
end
-- The bytes the live entry `cur` counts for, or nil (an expired one is settled first).
local function counted(cur)
  if cur and string.sub(cur, 1, 1) == 'v' then return #ARGV[1] + #cur - 17 end
  untrack(ARGV[1])
  return nil
end
-- Replaces the entry (`new` nil removes it), keeping the usage; refuses with
-- {-1, what, used, limit} what would take the tenant past its quota.
local function write(cur, new, ttl, token, qkeys, qbytes, tomb)
  local now = now_ms()
  reclaim(now, 16)
  local old = counted(cur)
  local function after()
    local keys, bytes = usage()
    local k, b = keys, bytes
    if old then k = k - 1; b = b - old end
    if new then k = k + 1; b = b + #ARGV[1] + #new end
    if k > keys and k > qkeys then return {-1, 'keys', keys, qkeys} end
    if b > bytes and b > qbytes then return {-1, 'bytes', bytes, qbytes} end
    return nil
  end
  if after() then
    reclaim(now, 1000)
    local refused = after()
    if refused then return refused end
  end
  if old then
    redis.call('HINCRBY', KEYS[2], 'keys', -1)
    redis.call('HINCRBY', KEYS[2], 'bytes', -old)
    redis.call('HDEL', KEYS[4], ARGV[1])
    redis.call('ZREM', KEYS[3], ARGV[1])
  end
  if new then
    local size = #ARGV[1] + #new
    redis.call('HINCRBY', KEYS[2], 'keys', 1)
    redis.call('HINCRBY', KEYS[2], 'bytes', size)
    if ttl == '-1' then
      redis.call('SET', KEYS[1], 'v' .. token .. new)
    else
      redis.call('SET', KEYS[1], 'v' .. token .. new, 'PX', ttl)
      redis.call('HSET', KEYS[4], ARGV[1], size)
      redis.call('ZADD', KEYS[3], now + tonumber(ttl), ARGV[1])
    end
  elseif tomb then
    redis.call('SET', KEYS[1], 't' .. token, 'PX', tomb)
  else
    redis.call('DEL', KEYS[1])
  end
  return {1}
end
";

/// `ARGV[3..]`: value, TTL in ms (`-1` none, `0` expires at once), token, quota keys,
/// quota bytes. Returns `{1}`, or `{-1, what, used, limit}` over the quota.
const SET: &str = r"
local cur = redis.call('GET', KEYS[1])
if cur and string.sub(cur, 2, 17) == ARGV[5] then return {1} end
local new = ARGV[3]
if ARGV[4] == '0' then new = nil end
return write(cur, new, ARGV[4], ARGV[5], tonumber(ARGV[6]), tonumber(ARGV[7]), nil)
";

/// `ARGV[3..]`: expected, has expected (`0`/`1`), new, has new, TTL in ms (`-1` none,
/// `0` expires at once), token, tombstone TTL in ms, quota keys, quota bytes. Returns
/// `{1}` when swapped, `{0}` when not, `{-1, what, used, limit}` over the quota.
const CAS: &str = r"
local cur = redis.call('GET', KEYS[1])
local live = false
local val = nil
if cur then
  if string.sub(cur, 2, 17) == ARGV[8] then return {1} end
  live = string.sub(cur, 1, 1) == 'v'
  val = string.sub(cur, 18)
end
local matches
if ARGV[4] == '0' then matches = not live else matches = live and val == ARGV[3] end
if not matches then return {0} end
local new = nil
if ARGV[6] == '1' and ARGV[7] ~= '0' then new = ARGV[5] end
return write(cur, new, ARGV[7], ARGV[8], tonumber(ARGV[10]), tonumber(ARGV[11]), ARGV[9])
";

/// Deletes a live value; returns `{1}` when there was one.
const DELETE: &str = r"
local cur = redis.call('GET', KEYS[1])
if cur and string.sub(cur, 1, 1) == 'v' then
  write(cur, nil, '-1', '', 0, 0, nil)
  return {1}
end
counted(cur)
return {0}
";

/// The tenant's usage, `{keys, bytes}`, after reclaiming what has expired.
const USAGE: &str = r"
reclaim(now_ms(), 1000)
local keys, bytes = usage()
return {keys, bytes}
";

/// The Redis store.
pub struct RedisStore {
    conn: ConnectionManager,
    set: Script,
    cas: Script,
    delete: Script,
    usage: Script,
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
            set: Script::new(&format!("{ACCOUNTING}{SET}")),
            cas: Script::new(&format!("{ACCOUNTING}{CAS}")),
            delete: Script::new(&format!("{ACCOUNTING}{DELETE}")),
            usage: Script::new(&format!("{ACCOUNTING}{USAGE}")),
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

    /// A script invocation on `key` of `tenant`, with the keys and arguments the
    /// accounting shares.
    fn invocation<'s>(script: &'s Script, tenant: &str, key: &str) -> redis::ScriptInvocation<'s> {
        let mut invocation = script.key(Self::key(tenant, key));
        invocation
            .key(format!("cf:{{{tenant}}}:usage"))
            .key(format!("cf:{{{tenant}}}:expiring"))
            .key(format!("cf:{{{tenant}}}:sizes"))
            .arg(key)
            .arg(Self::key(tenant, ""));
        invocation
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
        quota: Quota,
    ) -> Result<(), StoreError> {
        check(key, Some(value))?;
        let token = self.token();
        let reply: Vec<Value> = self
            .retry(|mut c| {
                let mut invocation = Self::invocation(&self.set, tenant, key);
                invocation
                    .arg(value)
                    .arg(ttl_arg(ttl))
                    .arg(&token[..])
                    .arg(quota.keys)
                    .arg(quota.bytes);
                async move { invocation.invoke_async(&mut c).await }
            })
            .await?;
        written(&reply).map(|_| ())
    }

    async fn delete(&self, tenant: &str, key: &str) -> Result<bool, StoreError> {
        check(key, None)?;
        let reply: Vec<Value> = self
            .retry(|mut c| {
                let invocation = Self::invocation(&self.delete, tenant, key);
                async move { invocation.invoke_async(&mut c).await }
            })
            .await?;
        written(&reply)
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
        let token = self.token();
        let tombstone_ms = i64::try_from(TOMBSTONE_TTL.as_millis()).unwrap_or(i64::MAX);
        let reply: Vec<Value> = self
            .retry(|mut c| {
                let mut invocation = Self::invocation(&self.cas, tenant, key);
                invocation
                    .arg(expected.unwrap_or_default())
                    .arg(i32::from(expected.is_some()))
                    .arg(new.unwrap_or_default())
                    .arg(i32::from(new.is_some()))
                    .arg(ttl_arg(ttl))
                    .arg(&token[..])
                    .arg(tombstone_ms)
                    .arg(quota.keys)
                    .arg(quota.bytes);
                async move { invocation.invoke_async(&mut c).await }
            })
            .await?;
        written(&reply)
    }

    async fn usage(&self, tenant: &str) -> Result<Usage, StoreError> {
        let reply: Vec<i64> = self
            .retry(|mut c| {
                let invocation = Self::invocation(&self.usage, tenant, "");
                async move { invocation.invoke_async(&mut c).await }
            })
            .await?;
        let at = |i: usize| u64::try_from(reply.get(i).copied().unwrap_or(0)).unwrap_or(0);
        Ok(Usage {
            keys: at(0),
            bytes: at(1),
        })
    }
}

/// A write script's reply: `{1}` done, `{0}` not (a compare-and-swap that did not
/// match), `{-1, what, used, limit}` refused over the quota.
fn written(reply: &[Value]) -> Result<bool, StoreError> {
    let int = |v: Option<&Value>| match v {
        Some(Value::Int(n)) => u64::try_from(*n).unwrap_or(0),
        _ => 0,
    };
    match reply.first() {
        Some(Value::Int(1)) => Ok(true),
        Some(Value::Int(0)) => Ok(false),
        Some(Value::Int(-1)) => Err(StoreError::QuotaExceeded {
            what: match reply.get(1) {
                Some(Value::BulkString(w)) if w == b"keys" => "keys",
                _ => "bytes",
            },
            used: int(reply.get(2)),
            limit: int(reply.get(3)),
        }),
        other => Err(StoreError::Unavailable(format!(
            "redis: a store script answered {other:?}"
        ))),
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
