//! Repeated deliveries: 8x8 may post an event again (a timeout, a retry); the tenant's
//! plugin must act once and the platform get the same answer.
//!
//! Answers are kept for a window of time ([`ANSWER_WINDOW`] unless configured), in a
//! memory budget: an entry is a 128-bit digest of the delivery key, a second count and
//! the digest of its answer, and each distinct answer body is kept once per shard however
//! many deliveries gave it (an IVR's first menu is the same for every new call). Entries
//! are kept in shards (`tenant/keys.rs`) by the digest, each with its share of the
//! budget: beyond it a shard's oldest answers go first, before their time (so the first
//! drops come a little before the whole budget is used); those are counted
//! ([`Deliveries::dropped_early`]) for `/metrics`.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::OnceCell;

use super::keys::{Key, KeyMap, Shards, shard_count};

/// How long an answer is kept for a repeated delivery unless the host says otherwise:
/// longer than the retries of any platform (Twilio retries after 15 s, Telnyx ignores
/// repeats within 60 s; 8x8 documents none).
pub const ANSWER_WINDOW: Duration = Duration::from_secs(5 * 60);

/// What one kept answer costs in memory besides its body, as the budget counts it: the
/// map's entry with its share of empty buckets, and the time queue's.
pub const ENTRY_BYTES: usize = 96;

/// Recent answers by delivery key, so a repeated delivery gets the same answer and the
/// plugin acts once. Concurrent deliveries of one key share a cell: the first runs the
/// plugin, the others wait for its answer.
#[derive(Debug)]
pub struct Deliveries {
    shards: Shards<Shard>,
    start: Instant,
    window: Duration,
    /// Each shard's share of the budget.
    budget: usize,
    dropped_early: AtomicU64,
}

#[derive(Debug, Default)]
struct Shard {
    /// Deliveries being answered now.
    running: KeyMap<Arc<OnceCell<Bytes>>>,
    /// Deliveries answered: key → (second answered, answer).
    answered: KeyMap<(u32, Key)>,
    /// Answered keys, oldest first.
    order: VecDeque<(u32, Key)>,
    /// Each distinct answer once, with how many entries give it.
    bodies: KeyMap<(Bytes, u32)>,
    /// Bytes the budget counts.
    used: usize,
}

impl Deliveries {
    /// Answers kept for `window`, within `budget` bytes.
    pub(super) fn new(window: Duration, budget: usize) -> Self {
        let shards = shard_count(budget);
        Self {
            shards: Shards::new(shards),
            start: Instant::now(),
            window,
            budget: (budget / shards).max(ENTRY_BYTES),
            dropped_early: AtomicU64::new(0),
        }
    }

    /// The cell for `key`: already set when the delivery was answered within the window,
    /// shared while it is being answered, new otherwise. Set it, then
    /// [`keep`](Self::keep) the answer.
    pub fn cell(&self, key: &str) -> Arc<OnceCell<Bytes>> {
        let id = Key::of(key.as_bytes());
        let mut shard = self.shards.lock(&id);
        // Read under the lock, so that the shard's queue stays in time order.
        let now = self.now();
        shard.expire(now, self.window);
        if let Some((_, body)) = shard.answered.get(&id)
            && let Some((bytes, _)) = shard.bodies.get(body)
        {
            return Arc::new(OnceCell::new_with(Some(bytes.clone())));
        }
        Arc::clone(shard.running.entry(id).or_default())
    }

    /// Keeps `answer` as the answer to `key` for the window (or forgets the delivery,
    /// `None`: an answer not to replay).
    pub fn keep(&self, key: &str, answer: Option<&Bytes>) {
        let id = Key::of(key.as_bytes());
        let body = answer.map(|a| Key::of(a));
        let mut shard = self.shards.lock(&id);
        // Read under the lock, so that the shard's queue stays in time order.
        let now = self.now();
        shard.running.remove(&id);
        let (Some(answer), Some(body)) = (answer, body) else {
            return;
        };
        if shard.answered.contains_key(&id) {
            return;
        }
        match shard.bodies.get_mut(&body) {
            Some((_, refs)) => *refs += 1,
            None => {
                shard.used += answer.len();
                shard.bodies.insert(body, (answer.clone(), 1));
            }
        }
        shard.used += ENTRY_BYTES;
        shard.answered.insert(id, (now, body));
        shard.order.push_back((now, id));
        while shard.used > self.budget {
            if !shard.drop_oldest() {
                break;
            }
            self.dropped_early.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Answers dropped before their window ended, to stay within the budget.
    pub fn dropped_early(&self) -> u64 {
        self.dropped_early.load(Ordering::Relaxed)
    }

    /// Answers kept now.
    pub fn len(&self) -> usize {
        self.shards.sum(|s| s.answered.len())
    }

    /// True when no answer is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes the budget counts now.
    pub fn used(&self) -> usize {
        self.shards.sum(|s| s.used)
    }

    fn now(&self) -> u32 {
        u32::try_from(self.start.elapsed().as_secs()).unwrap_or(u32::MAX)
    }
}

impl Shard {
    /// Drops answers whose window has ended.
    fn expire(&mut self, now: u32, window: Duration) {
        let window = u32::try_from(window.as_secs()).unwrap_or(u32::MAX);
        while let Some(&(at, _)) = self.order.front() {
            if now.saturating_sub(at) < window {
                break;
            }
            self.drop_oldest();
        }
    }

    /// Drops the oldest answer; false when there is none.
    fn drop_oldest(&mut self) -> bool {
        let Some((_, id)) = self.order.pop_front() else {
            return false;
        };
        if let Some((_, body)) = self.answered.remove(&id) {
            self.used = self.used.saturating_sub(ENTRY_BYTES);
            if let Some((bytes, refs)) = self.bodies.get_mut(&body) {
                *refs -= 1;
                if *refs == 0 {
                    self.used = self.used.saturating_sub(bytes.len());
                    self.bodies.remove(&body);
                }
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(deliveries: &Deliveries, key: &str, body: &'static str) {
        let cell = deliveries.cell(key);
        let bytes = Bytes::from_static(body.as_bytes());
        cell.set(bytes.clone()).expect("unset");
        deliveries.keep(key, Some(&bytes));
    }

    #[test]
    fn an_answer_is_replayed_and_identical_answers_are_kept_once() {
        let d = Deliveries::new(ANSWER_WINDOW, 1 << 20);
        answer(&d, "e1", "menu");
        answer(&d, "e2", "menu");
        answer(&d, "e3", "other");
        assert_eq!(d.cell("e1").get().map(|b| &b[..]), Some(&b"menu"[..]));
        assert_eq!(d.cell("e3").get().map(|b| &b[..]), Some(&b"other"[..]));
        assert!(d.cell("e4").get().is_none());
        assert_eq!(d.len(), 3);
        assert_eq!(d.used(), 3 * ENTRY_BYTES + "menu".len() + "other".len());
    }

    #[test]
    fn beyond_the_budget_the_oldest_go_first_and_are_counted() {
        let d = Deliveries::new(ANSWER_WINDOW, 10 * ENTRY_BYTES + 4);
        for i in 0..15 {
            answer(&d, &format!("e{i}"), "menu");
        }
        assert_eq!(d.len(), 10, "ten entries and the one body fit");
        assert_eq!(d.dropped_early(), 5);
        assert!(d.cell("e0").get().is_none());
        assert!(d.cell("e14").get().is_some());
    }

    #[test]
    fn a_large_budget_is_split_in_shards_and_holds_in_total() {
        let budget = 4 * super::super::keys::SHARD_BYTES;
        let d = Deliveries::new(ANSWER_WINDOW, budget);
        assert_eq!(d.shards.len(), 4);
        for i in 0..200 {
            let body = Bytes::from(vec![u8::try_from(i % 251).unwrap_or(0); 64 << 10]);
            let key = format!("e{i}");
            let cell = d.cell(&key);
            cell.set(body.clone()).expect("unset");
            d.keep(&key, Some(&body));
            assert!(d.used() <= budget, "{} bytes kept of {budget}", d.used());
        }
        assert!(d.len() > 40, "{} answers kept", d.len());
        assert_eq!(
            d.len() + usize::try_from(d.dropped_early()).unwrap_or(0),
            200
        );
    }

    #[test]
    fn answers_outlive_their_window_by_less_than_a_second() {
        let d = Deliveries::new(Duration::from_secs(1), 1 << 20);
        answer(&d, "e1", "menu");
        assert!(d.cell("e1").get().is_some());
        std::thread::sleep(Duration::from_millis(2100));
        assert!(d.cell("e1").get().is_none(), "expired");
        assert_eq!(d.used(), 0);
        assert_eq!(d.dropped_early(), 0);
    }

    #[test]
    fn an_answer_not_to_replay_is_forgotten() {
        let d = Deliveries::new(ANSWER_WINDOW, 1 << 20);
        let cell = d.cell("e1");
        let again = d.cell("e1");
        assert!(
            Arc::ptr_eq(&cell, &again),
            "concurrent deliveries share a cell"
        );
        d.keep("e1", None);
        assert!(!Arc::ptr_eq(&cell, &d.cell("e1")));
        assert!(d.is_empty());
    }
}
