//! What the nodes of a cluster coordinate through Redis, beside the tenants' key-value
//! store ([`crate::store::RedisStore`]): which node answers a delivery, and whether Redis
//! can be reached at all.
//!
//! **Deliveries.** 8x8 may deliver an event twice, and a load balancer may send the two
//! copies to two nodes. The first node to claim the event's key
//! (`cf:{tenant}:evt:<key>`, `SET NX` with a claim TTL longer than the plugin may run)
//! runs the plugin and stores its answer for [`ANSWER_WINDOW`]; a node that finds the
//! answer replays it; a node that finds a claim waits for the answer. A claim whose node
//! died expires, and the event may then run again. Claiming, reading the answer and (for
//! an event of a call) pinning the call's version are one script: one round trip per
//! event on the response path; the answer is stored after the response.
//!
//! **Health.** A ping every [`HEALTH_EVERY`], and every operation's own result, keep
//! [`Cluster::healthy`] current. While Redis cannot be reached, call actions get the
//! tenant's fallback at once (no plugin runs without its state), the plugin API answers
//! 503 `store_unavailable`, and `/readyz` says not ready; the connection comes back by
//! itself.
//!
//! **Pins.** A call's first event pins its session to the tenant's active version, in
//! the same script that reads the active pointer (`cf:{tenant}:pin:<session>`, for the
//! pin's TTL): the call's later events run on that version on whichever node they reach.
//!
//! **Catalog.** [`catalog`]: tenants, plugin versions and the active pointer, with a
//! stream of changes the nodes follow (`crate::tenant::sync`).
//!
//! **Presence.** Each health ping also says the node is alive (`cf:nodes`, a sorted set
//! of node names by the Redis clock's time of their last ping); a node that drains
//! leaves it. A node that has compiled a newly uploaded version says so
//! (`cf:{tenant}:ready:<digest>`), and an upload is activated once every live node has,
//! so that it serves everywhere at once ([`Cluster::await_ready`]).
//!
//! Must not: hold tenant key-value data (that is the store's), or decide what a caller
//! hears (the webhook does).

pub mod catalog;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use redis::aio::ConnectionManager;
use redis::{RedisError, Script, Value};

use crate::store::StoreError;

/// How long an answer is kept for repeated deliveries across nodes.
pub const ANSWER_WINDOW: Duration = Duration::from_secs(10 * 60);

/// How often Redis is pinged for [`Cluster::healthy`].
pub const HEALTH_EVERY: Duration = Duration::from_millis(250);

/// How long a node waits for another node's answer between looks.
const POLL_EVERY: Duration = Duration::from_millis(10);

/// A node whose last ping is older than this is not counted as alive.
pub const ALIVE_FOR: Duration = Duration::from_secs(2);

/// How long a node's word that it compiled a version is kept (an upload waits seconds).
const READY_FOR: Duration = Duration::from_secs(3600);

const NODES: &str = "cf:nodes";

/// `KEYS[1]` the nodes; `ARGV[1]` this node, or empty to only look; `ARGV[2]` how long
/// (ms) a ping counts. Records the ping by the Redis clock (the nodes' clocks may
/// disagree), forgets long-gone nodes, and returns the names of the live ones.
const PRESENCE: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if ARGV[1] ~= '' then redis.call('ZADD', KEYS[1], now, ARGV[1]) end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - 3600000)
return redis.call('ZRANGEBYSCORE', KEYS[1], now - tonumber(ARGV[2]), '+inf')
";

/// `KEYS[1]` the delivery, and for an event of a call `KEYS[2]` its pin and `KEYS[3]` the
/// tenant's active pointer; `ARGV`: this node's claim, claim TTL (ms), pin TTL (ms).
/// Returns `{0}` or `{0, version}` when the claim is this node's now (with the call's
/// version, pinned now if it was not), `{1, answer}` when the answer is stored, `{2,
/// claimant}` while another node runs it: claim and pin in one round trip.
const CLAIM: &str = r"
local cur = redis.call('GET', KEYS[1])
if not cur then
  redis.call('SET', KEYS[1], 'p' .. ARGV[1], 'PX', ARGV[2])
  if KEYS[2] then
    local pinned = redis.call('GET', KEYS[2])
    if not pinned then
      pinned = redis.call('GET', KEYS[3])
      if pinned then redis.call('SET', KEYS[2], pinned, 'PX', ARGV[3]) end
    end
    if pinned then return {0, pinned} end
  end
  return {0}
end
if string.sub(cur, 1, 1) == 'd' then return {1, string.sub(cur, 2)} end
return {2, string.sub(cur, 2)}
";

/// `KEYS[1]` the call's pin, `KEYS[2]` the tenant's active pointer; `ARGV[1]` the pin's
/// TTL (ms). The call's version: the pinned one, else the active one, pinned now.
const PIN: &str = r"
local pinned = redis.call('GET', KEYS[1])
if pinned then return pinned end
local active = redis.call('GET', KEYS[2])
if not active then return false end
redis.call('SET', KEYS[1], active, 'PX', ARGV[1])
return active
";

/// What a node found when it claimed a delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The delivery is this node's to run; for an event of a call, the version the call
    /// runs on (`None`: the tenant has no active version in the catalog).
    Mine(Option<String>),
    /// Another delivery of the event was answered; this is its answer.
    Answered(Bytes),
    /// Another node (named) is running it now.
    Running(String),
}

/// A node's handle on the cluster's coordination.
pub struct Cluster {
    pub(crate) conn: ConnectionManager,
    claim: Script,
    pin: Script,
    presence: Script,
    node: Arc<str>,
    healthy: AtomicBool,
    /// Set once the node drains: its pings no longer say it is alive.
    left: AtomicBool,
}

/// Which live nodes had compiled a version when an upload stopped waiting for them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Readiness {
    /// Live nodes that can serve it.
    pub ready: Vec<String>,
    /// Live nodes that could not yet (they load it when it is activated).
    pub late: Vec<String>,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("node", &self.node)
            .field("healthy", &self.healthy())
            .finish_non_exhaustive()
    }
}

fn unavailable(err: RedisError) -> StoreError {
    StoreError::Unavailable(format!("redis: {err}"))
}

impl Cluster {
    /// Coordination through the Redis at `url`, as `node`; call inside a tokio runtime.
    /// Connects lazily; starts healthy and learns otherwise from the first ping.
    pub fn open(url: &str, node: &str) -> Result<Arc<Self>, StoreError> {
        let conn = crate::store::redis_connection(url)?;
        Ok(Arc::new(Self {
            conn,
            claim: Script::new(CLAIM),
            pin: Script::new(PIN),
            presence: Script::new(PRESENCE),
            node: Arc::from(node),
            healthy: AtomicBool::new(true),
            left: AtomicBool::new(false),
        }))
    }

    /// This node's name.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// Whether Redis answered the last ping or operation.
    pub fn healthy(&self) -> bool {
        self.healthy.load(Ordering::Relaxed)
    }

    pub(crate) fn record<T>(&self, result: Result<T, RedisError>) -> Result<T, StoreError> {
        let up = match &result {
            Ok(_) => true,
            Err(e) => !is_connection_error(e),
        };
        self.healthy.store(up, Ordering::Relaxed);
        result.map_err(unavailable)
    }

    /// Pings Redis, saying this node is alive unless it left; records and returns
    /// whether Redis answered.
    pub async fn ping(&self) -> bool {
        let me = if self.left.load(Ordering::Relaxed) {
            ""
        } else {
            &self.node
        };
        let up = self.live_nodes_as(me).await.is_ok();
        self.healthy.store(up, Ordering::Relaxed);
        up
    }

    async fn live_nodes_as(&self, me: &str) -> Result<Vec<String>, RedisError> {
        let mut conn = self.conn.clone();
        self.presence
            .key(NODES)
            .arg(me)
            .arg(u64::try_from(ALIVE_FOR.as_millis()).unwrap_or(u64::MAX))
            .invoke_async(&mut conn)
            .await
    }

    /// The nodes that pinged within [`ALIVE_FOR`].
    pub async fn live_nodes(&self) -> Result<Vec<String>, StoreError> {
        let live = self.live_nodes_as("").await;
        self.record(live)
    }

    /// This node is going away (draining): it stops counting as alive, so uploads stop
    /// waiting for it.
    pub async fn leave(&self) {
        self.left.store(true, Ordering::Relaxed);
        let mut conn = self.conn.clone();
        let removed: Result<(), _> = redis::cmd("ZREM")
            .arg(NODES)
            .arg(&*self.node)
            .query_async(&mut conn)
            .await;
        if let Err(e) = removed {
            tracing::warn!(cause = %e, "could not leave the cluster's live nodes");
        }
    }

    fn ready_key(tenant: &str, digest: &str) -> String {
        format!("cf:{{{tenant}}}:ready:{digest}")
    }

    /// Says this node has compiled version `digest` of `tenant` and can serve it.
    pub async fn mark_ready(&self, tenant: &str, digest: &str) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        let key = Self::ready_key(tenant, digest);
        let marked: Result<(), _> = redis::pipe()
            .sadd(&key, &*self.node)
            .ignore()
            .expire(&key, i64::try_from(READY_FOR.as_secs()).unwrap_or(i64::MAX))
            .ignore()
            .query_async(&mut conn)
            .await;
        self.record(marked)
    }

    /// Waits until every live node has said it can serve version `digest` of `tenant`,
    /// or for `timeout`; which nodes could, and which could not yet.
    pub async fn await_ready(
        &self,
        tenant: &str,
        digest: &str,
        timeout: Duration,
    ) -> Result<Readiness, StoreError> {
        let deadline = tokio::time::Instant::now() + timeout;
        let key = Self::ready_key(tenant, digest);
        loop {
            let live = self.live_nodes().await?;
            let mut conn = self.conn.clone();
            let ready: Result<Vec<String>, _> = redis::cmd("SMEMBERS")
                .arg(&key)
                .query_async(&mut conn)
                .await;
            let ready = self.record(ready)?;
            let (mut ready, mut late): (Vec<String>, Vec<String>) =
                live.into_iter().partition(|n| ready.contains(n));
            if late.is_empty() || tokio::time::Instant::now() >= deadline {
                ready.sort();
                late.sort();
                return Ok(Readiness { ready, late });
            }
            tokio::time::sleep(POLL_EVERY).await;
        }
    }

    /// Pings Redis every [`HEALTH_EVERY`] for as long as the returned task runs.
    pub fn watch_health(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let cluster = Arc::clone(self);
        tokio::spawn(async move {
            let mut every = tokio::time::interval(HEALTH_EVERY);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut was = true;
            loop {
                every.tick().await;
                let up = cluster.ping().await;
                if up != was {
                    if up {
                        tracing::info!(node = cluster.node(), "redis is reachable again");
                    } else {
                        tracing::error!(
                            node = cluster.node(),
                            "redis is unreachable: call actions get their tenant's fallback until it is back"
                        );
                    }
                    was = up;
                }
            }
        })
    }

    fn delivery_key(tenant: &str, key: &str) -> Vec<u8> {
        let mut k = Vec::with_capacity(12 + tenant.len() + key.len());
        k.extend_from_slice(b"cf:{");
        k.extend_from_slice(tenant.as_bytes());
        k.extend_from_slice(b"}:evt:");
        k.extend_from_slice(key.as_bytes());
        k
    }

    /// Claims the delivery `key` of `tenant` for `claim_ttl`, or finds who has it. For
    /// an event of call `session`, a claim that is this node's also brings the call's
    /// version, pinned for `pin_ttl` if it was not: one round trip.
    pub async fn claim(
        &self,
        tenant: &str,
        key: &str,
        claim_ttl: Duration,
        session: Option<(&str, Duration)>,
    ) -> Result<Claim, StoreError> {
        let mut conn = self.conn.clone();
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1);
        let mut invocation = self.claim.key(Self::delivery_key(tenant, key));
        let mut pin_ms = 1;
        if let Some((session, pin_ttl)) = session {
            invocation
                .key(format!("cf:{{{tenant}}}:pin:{session}"))
                .key(format!("cf:{{{tenant}}}:active"));
            pin_ms = ms(pin_ttl);
        }
        let reply: Result<Vec<Value>, _> = invocation
            .arg(&*self.node)
            .arg(ms(claim_ttl))
            .arg(pin_ms)
            .invoke_async(&mut conn)
            .await;
        let reply = self.record(reply)?;
        let text = |v: Option<&Value>| match v {
            Some(Value::BulkString(b)) => b.clone(),
            _ => Vec::new(),
        };
        match reply.first() {
            Some(Value::Int(0)) => {
                Ok(Claim::Mine(reply.get(1).map(|v| {
                    String::from_utf8_lossy(&text(Some(v))).into_owned()
                })))
            }
            Some(Value::Int(1)) => Ok(Claim::Answered(Bytes::from(text(reply.get(1))))),
            Some(Value::Int(2)) => Ok(Claim::Running(
                String::from_utf8_lossy(&text(reply.get(1))).into_owned(),
            )),
            other => Err(StoreError::Unavailable(format!(
                "redis: the claim script answered {other:?}"
            ))),
        }
    }

    /// Stores the answer to the delivery `key` of `tenant` for [`ANSWER_WINDOW`].
    pub async fn answered(&self, tenant: &str, key: &str, answer: &[u8]) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        let mut value = Vec::with_capacity(1 + answer.len());
        value.push(b'd');
        value.extend_from_slice(answer);
        let ms = u64::try_from(ANSWER_WINDOW.as_millis()).unwrap_or(u64::MAX);
        let set: Result<(), _> = redis::cmd("SET")
            .arg(Self::delivery_key(tenant, key))
            .arg(value)
            .arg("PX")
            .arg(ms)
            .query_async(&mut conn)
            .await;
        self.record(set)
    }

    /// The version (digest) call `session` of `tenant` runs on: the one it was pinned to
    /// on any node, else the active one, pinned now for `ttl`. `None` when the tenant has
    /// no active version in the catalog.
    pub async fn pin(
        &self,
        tenant: &str,
        session: &str,
        ttl: Duration,
    ) -> Result<Option<String>, StoreError> {
        let mut conn = self.conn.clone();
        let ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let pinned: Result<Option<String>, _> = self
            .pin
            .key(format!("cf:{{{tenant}}}:pin:{session}"))
            .key(format!("cf:{{{tenant}}}:active"))
            .arg(ms)
            .invoke_async(&mut conn)
            .await;
        self.record(pinned)
    }

    /// Forgets call `session`'s pin (it ended).
    pub async fn unpin(&self, tenant: &str, session: &str) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        let deleted: Result<(), _> = redis::cmd("DEL")
            .arg(format!("cf:{{{tenant}}}:pin:{session}"))
            .query_async(&mut conn)
            .await;
        self.record(deleted)
    }

    /// Waits for the answer to a delivery another node is running, claiming it when that
    /// node's claim expired first.
    pub async fn await_answer(
        &self,
        tenant: &str,
        key: &str,
        claim_ttl: Duration,
    ) -> Result<Claim, StoreError> {
        loop {
            tokio::time::sleep(POLL_EVERY).await;
            match self.claim(tenant, key, claim_ttl, None).await? {
                Claim::Running(_) => continue,
                found => return Ok(found),
            }
        }
    }
}

/// Whether `err` says Redis could not be reached (not that it refused a command).
fn is_connection_error(err: &RedisError) -> bool {
    err.is_io_error()
        || err.is_connection_dropped()
        || err.is_timeout()
        || err.is_connection_refusal()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tenants_deliveries_share_its_hash_tag() {
        assert_eq!(Cluster::delivery_key("acme", "e1"), b"cf:{acme}:evt:e1");
    }
}
