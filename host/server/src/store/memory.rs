//! A store in memory: dry runs and the simulator, nothing kept.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use super::{KvStore, Quota, StoreError, Usage, check, entry_size, expiry, live, now_ms};

/// A store in memory, for one dry run: the same semantics as [`super::RedbStore`], nothing on
/// disk, gone when dropped, and bounded in bytes so that a plugin writing in a loop
/// fills it, not the host's memory.
#[derive(Debug)]
pub struct MemoryStore {
    entries: Mutex<MemoryEntries>,
    max_bytes: usize,
}

#[derive(Debug, Default)]
struct MemoryEntries {
    /// `(tenant, key)` → `(expiry in unix milliseconds, 0 = never; value)`.
    map: HashMap<(String, String), (u64, Vec<u8>)>,
    /// Per tenant, what its entries (expired ones not yet reclaimed included) take.
    usage: HashMap<String, Usage>,
    /// Keys plus values, in bytes, over all tenants.
    bytes: usize,
}

impl MemoryStore {
    /// An empty store that holds at most `max_bytes` of keys and values.
    pub fn new(max_bytes: usize) -> Self {
        Self {
            entries: Mutex::default(),
            max_bytes,
        }
    }

    fn entries(&self) -> MutexGuard<'_, MemoryEntries> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl MemoryEntries {
    fn live(&self, tenant: &str, key: &str, now: u64) -> Option<&[u8]> {
        let (expires_at, value) = self.map.get(&(tenant.to_owned(), key.to_owned()))?;
        live(*expires_at, now).then_some(value.as_slice())
    }

    fn usage(&self, tenant: &str) -> Usage {
        self.usage.get(tenant).copied().unwrap_or_default()
    }

    /// Removes the tenant's expired entries.
    fn reclaim(&mut self, tenant: &str, now: u64) {
        let expired: Vec<_> = self
            .map
            .iter()
            .filter(|((t, _), (expires_at, _))| t == tenant && !live(*expires_at, now))
            .map(|(id, _)| id.clone())
            .collect();
        for id in expired {
            if let Some((_, value)) = self.map.remove(&id) {
                self.account(tenant, entry_size(&id.1, &value), -1);
            }
        }
    }

    fn account(&mut self, tenant: &str, size: u64, sign: i8) {
        let usage = self.usage(tenant).with(size, sign);
        let size = usize::try_from(size).unwrap_or(usize::MAX);
        self.bytes = if sign > 0 {
            self.bytes.saturating_add(size)
        } else {
            self.bytes.saturating_sub(size)
        };
        if usage.keys == 0 {
            self.usage.remove(tenant);
        } else {
            self.usage.insert(tenant.to_owned(), usage);
        }
    }

    fn put(
        &mut self,
        tenant: &str,
        key: &str,
        value: Option<(u64, &[u8])>,
        quota: Quota,
        max: usize,
        now: u64,
    ) -> Result<(), StoreError> {
        let id = (tenant.to_owned(), key.to_owned());
        let check = |entries: &Self| -> Result<(), StoreError> {
            let old = entries.map.get(&id).map(|(_, v)| entry_size(key, v));
            let before = entries.usage(tenant);
            let without = old.map_or(before, |size| before.with(size, -1));
            let after = value.map_or(without, |(_, v)| without.with(entry_size(key, v), 1));
            quota.admits(before, after)?;
            let total = entries.bytes as u64 - old.unwrap_or(0)
                + value.map_or(0, |(_, v)| entry_size(key, v));
            if total > max as u64 {
                return Err(StoreError::Unavailable(format!(
                    "the scratch store is full ({max} bytes)"
                )));
            }
            Ok(())
        };
        if check(self).is_err() {
            self.reclaim(tenant, now);
            check(self)?;
        }
        if let Some((_, old)) = self.map.remove(&id) {
            self.account(tenant, entry_size(key, &old), -1);
        }
        if let Some((expires_at, v)) = value {
            self.map.insert(id, (expires_at, v.to_vec()));
            self.account(tenant, entry_size(key, v), 1);
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl KvStore for MemoryStore {
    async fn get(&self, tenant: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        check(key, None)?;
        Ok(self
            .entries()
            .live(tenant, key, now_ms())
            .map(<[u8]>::to_vec))
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
        let now = now_ms();
        let entry = (ttl != Some(Duration::ZERO)).then(|| (expiry(ttl, now), value));
        self.entries()
            .put(tenant, key, entry, quota, self.max_bytes, now)
    }

    async fn delete(&self, tenant: &str, key: &str) -> Result<bool, StoreError> {
        check(key, None)?;
        let now = now_ms();
        let mut entries = self.entries();
        let existed = entries.live(tenant, key, now).is_some();
        entries.put(tenant, key, None, Quota::UNLIMITED, self.max_bytes, now)?;
        Ok(existed)
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
        let now = now_ms();
        let mut entries = self.entries();
        if entries.live(tenant, key, now) != expected {
            return Ok(false);
        }
        let entry = new
            .filter(|_| ttl != Some(Duration::ZERO))
            .map(|v| (expiry(ttl, now), v));
        entries.put(tenant, key, entry, quota, self.max_bytes, now)?;
        Ok(true)
    }

    async fn usage(&self, tenant: &str) -> Result<Usage, StoreError> {
        Ok(self.entries().usage(tenant))
    }
}
