//! Session pinning: a call stays on the plugin version that answered its first event,
//! across reloads, until its `SESSION_SUMMARY` (or the pin's time runs out).
//!
//! A pin is a 128-bit digest of the session id, a second count and a reference to the
//! version (shared by every call on it): [`PIN_BYTES`] each, within a memory budget.
//! Pins are kept in shards (`tenant/keys.rs`) by the digest, each with its share of the
//! budget: beyond it a shard's oldest pins go first, before their time; those are
//! counted ([`Pins::dropped_early`]) for `/metrics`.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::keys::{Key, KeyMap, Shards, shard_count};
use crate::runtime::LoadedPlugin;

/// How long a call stays on the version that answered its first event.
pub const PIN_TTL: Duration = Duration::from_secs(2 * 60 * 60);

/// What one pin costs in memory, as the budget counts it: the map's entry with its share
/// of empty buckets, and the time queue's.
pub const PIN_BYTES: usize = 80;

/// Calls in progress, pinned to the plugin version that answered their first event, so
/// that a caller never hears half of one menu tree and half of another across a reload.
/// Bounded in time and in memory.
#[derive(Debug)]
pub struct Pins {
    shards: Shards<Shard>,
    start: Instant,
    /// Pins per shard.
    capacity: usize,
    ttl: Duration,
    dropped_early: AtomicU64,
}

#[derive(Debug, Default)]
struct Shard {
    sessions: KeyMap<(LoadedPlugin, u32)>,
    /// Pinned sessions, oldest first; a released session's place stays until it comes
    /// round (or the queue is compacted).
    order: VecDeque<(u32, Key)>,
}

impl Pins {
    /// Pins kept for `ttl`, within `budget` bytes.
    pub(super) fn new(budget: usize, ttl: Duration) -> Self {
        let shards = shard_count(budget);
        Self {
            shards: Shards::new(shards),
            start: Instant::now(),
            capacity: (budget / PIN_BYTES / shards).max(1),
            ttl,
            dropped_early: AtomicU64::new(0),
        }
    }

    /// The version `session` is pinned to, while the pin is fresh.
    pub fn get(&self, session: &str) -> Option<LoadedPlugin> {
        let id = Key::of(session.as_bytes());
        let mut shard = self.shards.lock(&id);
        // Read under the lock, so that the shard's queue stays in time order.
        let now = self.now();
        shard.expire(now, self.ttl);
        shard.sessions.get(&id).map(|(plugin, _)| plugin.clone())
    }

    /// Pins `session` to `current` unless it is already pinned (a concurrent event of the
    /// same call may have got there first); returns the version the session runs on.
    pub fn pin(&self, session: &str, current: &LoadedPlugin) -> LoadedPlugin {
        let id = Key::of(session.as_bytes());
        let mut shard = self.shards.lock(&id);
        // Read under the lock, so that the shard's queue stays in time order.
        let now = self.now();
        shard.expire(now, self.ttl);
        if let Some((plugin, _)) = shard.sessions.get(&id) {
            return plugin.clone();
        }
        shard.sessions.insert(id, (current.clone(), now));
        shard.order.push_back((now, id));
        while shard.sessions.len() > self.capacity {
            if shard.drop_oldest() {
                self.dropped_early.fetch_add(1, Ordering::Relaxed);
            }
        }
        // Released sessions leave their places behind: compact before they outnumber
        // the pins.
        if shard.order.len() > 2 * shard.sessions.len() + 1024 {
            let Shard { sessions, order } = &mut *shard;
            order.retain(|(at, id)| sessions.get(id).is_some_and(|(_, since)| since == at));
        }
        current.clone()
    }

    /// Forgets `session` (it ended).
    pub fn release(&self, session: &str) {
        let id = Key::of(session.as_bytes());
        self.shards.lock(&id).sessions.remove(&id);
    }

    /// Calls currently pinned.
    pub fn len(&self) -> usize {
        self.shards.sum(|s| s.sessions.len())
    }

    /// True when no call is pinned.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Pins dropped before their time, to stay within the budget.
    pub fn dropped_early(&self) -> u64 {
        self.dropped_early.load(Ordering::Relaxed)
    }

    fn now(&self) -> u32 {
        u32::try_from(self.start.elapsed().as_secs()).unwrap_or(u32::MAX)
    }
}

impl Shard {
    fn expire(&mut self, now: u32, ttl: Duration) {
        let ttl = u32::try_from(ttl.as_secs()).unwrap_or(u32::MAX);
        while let Some(&(at, id)) = self.order.front() {
            if now.saturating_sub(at) < ttl {
                break;
            }
            self.order.pop_front();
            if self
                .sessions
                .get(&id)
                .is_some_and(|(_, since)| *since == at)
            {
                self.sessions.remove(&id);
            }
        }
    }

    /// Drops the oldest live pin; true when it dropped one.
    fn drop_oldest(&mut self) -> bool {
        while let Some((at, id)) = self.order.pop_front() {
            if self
                .sessions
                .get(&id)
                .is_some_and(|(_, since)| *since == at)
            {
                self.sessions.remove(&id);
                return true;
            }
        }
        false
    }
}
