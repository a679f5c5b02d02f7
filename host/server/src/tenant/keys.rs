//! The keys of a tenant's in-memory maps (answered deliveries, pinned calls), and those
//! maps split in shards.
//!
//! A key is kept as its 128-bit digest ([`Key`]): SipHash-1-3 under a key drawn once per
//! process, so no sender can choose event or session ids that collide or crowd one
//! bucket, and half of the digest serves as the map's hash: nothing is hashed twice, on a
//! lookup or when a map grows. A map is up to [`MAX_SHARDS`] maps behind their own locks,
//! each with its share of the budget ([`shard_count`]): a growing map rehashes one shard
//! at a time. One map per tenant stalled a worker for 4 ms when a flooding tenant's grew
//! past 100k entries (profiled under `--bench isolation`; ADR 0012), and every event of
//! every tenant on that worker waited.
//!
//! Owns: the digest of a key, the hashing of digests, which shard holds a key.
//! Must not: know what the maps keep, or evict anything (their owners do).

use std::collections::HashMap;
use std::hash::{BuildHasher as _, BuildHasherDefault, Hash, Hasher, RandomState};
use std::sync::{LazyLock, Mutex, MutexGuard};

use siphasher::sip128::SipHasher13;

/// A map's budget per shard below which it is not split further: a small map is one
/// shard, so a small budget is kept exactly oldest-first.
pub const SHARD_BYTES: usize = 1 << 20;

/// The most shards a map is split in: the default budgets (128 MiB of answers, 64 MiB
/// of pins) give each shard 1–2 MiB, some 20,000 entries, rehashed in well under a
/// millisecond.
pub const MAX_SHARDS: usize = 64;

/// The shards a map with `budget` bytes is split in.
pub fn shard_count(budget: usize) -> usize {
    (budget / SHARD_BYTES).clamp(1, MAX_SHARDS)
}

/// A key's 128-bit keyed digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key {
    /// Half of the digest: the maps' hash.
    hash: u64,
    /// The other half: which shard.
    shard: u64,
}

/// The process's digest key, drawn at first use from the operating system's randomness
/// through std's `RandomState` (two of its outputs under its own secret key).
static DIGEST: LazyLock<SipHasher13> = LazyLock::new(|| {
    let random = RandomState::new();
    SipHasher13::new_with_keys(random.hash_one(0_u8), random.hash_one(1_u8))
});

impl Key {
    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        let (hash, shard) = DIGEST.hash(bytes).as_u64();
        Self { hash, shard }
    }
}

impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

/// Passes a [`Key`]'s hash through: it is already a keyed digest.
#[derive(Debug, Default)]
pub struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write_u64(&mut self, hash: u64) {
        self.0 = hash;
    }

    /// Only a [`Key`] is hashed here, through `write_u64`; any other bytes are folded
    /// in so that the hasher stays a hasher.
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
}

/// A map by [`Key`].
pub type KeyMap<V> = HashMap<Key, V, BuildHasherDefault<KeyHasher>>;

/// One map in shards, each behind its own lock.
#[derive(Debug)]
pub struct Shards<T> {
    shards: Box<[Mutex<T>]>,
}

impl<T: Default> Shards<T> {
    /// `count` empty shards (at least one).
    pub fn new(count: usize) -> Self {
        Self {
            shards: (0..count.max(1)).map(|_| Mutex::default()).collect(),
        }
    }
}

impl<T> Shards<T> {
    /// The shard that holds `key`, locked.
    pub fn lock(&self, key: &Key) -> MutexGuard<'_, T> {
        // Lossless in effect: the remainder is below the shard count, a usize.
        #[allow(clippy::cast_possible_truncation, reason = "reduced below len first")]
        let i = (key.shard % self.shards.len() as u64) as usize;
        lock(&self.shards[i])
    }

    /// The sum of `f` over every shard, each locked in turn.
    pub fn sum(&self, f: impl Fn(&T) -> usize) -> usize {
        self.shards.iter().map(|s| f(&lock(s))).sum()
    }

    /// How many shards.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.shards.len()
    }
}

fn lock<T>(shard: &Mutex<T>) -> MutexGuard<'_, T> {
    shard.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_are_stable_in_a_process_and_distinct_per_key() {
        assert_eq!(Key::of(b"event-1"), Key::of(b"event-1"));
        assert_ne!(Key::of(b"event-1"), Key::of(b"event-2"));
        assert_ne!(Key::of(b""), Key::of(b"\0"));
    }

    #[test]
    fn small_budgets_are_one_shard_and_large_ones_at_most_the_maximum() {
        assert_eq!(shard_count(0), 1);
        assert_eq!(shard_count(SHARD_BYTES - 1), 1);
        assert_eq!(shard_count(8 * SHARD_BYTES), 8);
        assert_eq!(shard_count(128 << 20), MAX_SHARDS);
    }

    #[test]
    fn keys_spread_over_every_shard() {
        let shards: Shards<usize> = Shards::new(16);
        for i in 0..16_000 {
            *shards.lock(&Key::of(format!("session-{i}").as_bytes())) += 1;
        }
        assert_eq!(shards.sum(|n| *n), 16_000);
        for s in shards.shards.iter() {
            let n = *lock(s);
            assert!((800..1200).contains(&n), "a shard holds {n} of 16,000");
        }
    }

    #[test]
    fn a_map_by_key_finds_what_it_keeps() {
        let mut map: KeyMap<u32> = KeyMap::default();
        for i in 0..1000_u32 {
            map.insert(Key::of(&i.to_le_bytes()), i);
        }
        for i in 0..1000_u32 {
            assert_eq!(map.get(&Key::of(&i.to_le_bytes())), Some(&i));
        }
        assert_eq!(map.get(&Key::of(b"absent")), None);
    }
}
