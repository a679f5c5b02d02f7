//! Session pinning: a call stays on the plugin version that answered its first event,
//! across reloads, until its `SESSION_SUMMARY` (or the pin's time runs out).

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::runtime::LoadedPlugin;

/// How long a call stays on the version that answered its first event.
pub const PIN_TTL: Duration = Duration::from_secs(2 * 60 * 60);

/// Calls in progress, pinned to the plugin version that answered their first event, so
/// that a caller never hears half of one menu tree and half of another across a reload.
/// Bounded in count (oldest first out) and in time.
#[derive(Debug)]
pub struct Pins {
    inner: Mutex<PinsInner>,
    capacity: usize,
    ttl: Duration,
}

#[derive(Debug, Default)]
struct PinsInner {
    sessions: HashMap<String, (LoadedPlugin, Instant)>,
    order: VecDeque<String>,
}

impl Pins {
    pub(super) fn new(capacity: usize, ttl: Duration) -> Self {
        Self {
            inner: Mutex::default(),
            capacity: capacity.max(1),
            ttl,
        }
    }

    /// The version `session` is pinned to, while the pin is fresh.
    pub fn get(&self, session: &str) -> Option<LoadedPlugin> {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let (plugin, since) = inner.sessions.get(session)?;
        (since.elapsed() < self.ttl).then(|| plugin.clone())
    }

    /// Pins `session` to `current` unless it is already pinned (a concurrent event of the
    /// same call may have got there first); returns the version the session runs on.
    pub fn pin(&self, session: &str, current: &LoadedPlugin) -> LoadedPlugin {
        let now = Instant::now();
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((plugin, since)) = inner.sessions.get(session)
            && now.duration_since(*since) < self.ttl
        {
            return plugin.clone();
        }
        inner
            .sessions
            .insert(session.to_owned(), (current.clone(), now));
        inner.order.push_back(session.to_owned());
        while inner.order.len() > self.capacity {
            if let Some(old) = inner.order.pop_front() {
                inner.sessions.remove(&old);
            }
        }
        current.clone()
    }

    /// Forgets `session` (it ended).
    pub fn release(&self, session: &str) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.sessions.remove(session);
    }

    /// Calls currently pinned.
    pub fn len(&self) -> usize {
        self.inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .sessions
            .len()
    }

    /// True when no call is pinned.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
