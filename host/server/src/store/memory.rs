//! A store in memory: dry runs and the simulator, nothing kept.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use super::{KvStore, StoreError, check, expiry, live, now_ms};

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
    /// Keys plus values, in bytes.
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

    fn put(
        &mut self,
        tenant: &str,
        key: &str,
        value: Option<(u64, &[u8])>,
        max: usize,
    ) -> Result<(), StoreError> {
        let id = (tenant.to_owned(), key.to_owned());
        let old = self.map.get(&id).map_or(0, |(_, v)| key.len() + v.len());
        let new = value.map_or(0, |(_, v)| key.len() + v.len());
        let bytes = self.bytes - old + new;
        if bytes > max {
            return Err(StoreError::Unavailable(format!(
                "the scratch store is full ({max} bytes)"
            )));
        }
        self.bytes = bytes;
        match value {
            Some((expires_at, v)) => self.map.insert(id, (expires_at, v.to_vec())),
            None => self.map.remove(&id),
        };
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
    ) -> Result<(), StoreError> {
        check(key, Some(value))?;
        let now = now_ms();
        self.entries()
            .put(tenant, key, Some((expiry(ttl, now), value)), self.max_bytes)
    }

    async fn delete(&self, tenant: &str, key: &str) -> Result<bool, StoreError> {
        check(key, None)?;
        let mut entries = self.entries();
        let existed = entries.live(tenant, key, now_ms()).is_some();
        entries.put(tenant, key, None, self.max_bytes)?;
        Ok(existed)
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
        let now = now_ms();
        let mut entries = self.entries();
        if entries.live(tenant, key, now) != expected {
            return Ok(false);
        }
        entries.put(
            tenant,
            key,
            new.map(|v| (expiry(ttl, now), v)),
            self.max_bytes,
        )?;
        Ok(true)
    }
}
