//! The plugin's state in the tenant's key-value store, and every read-modify-write on it.
//!
//! | key | value | written by |
//! |---|---|---|
//! | `nm/vn/{number}` | [`Slot`]: the bookings on that virtual number (id, both participants, expiry) | compare-and-swap only: create, release, pruning |
//! | `nm/booking/{id}` | [`Booking`]: the booking's record | `set`, after the slot took the booking; on release |
//! | `nm/calls/{id}` | [`CallLog`]: what happened on the booking's calls | compare-and-swap only |
//! | `nm/session/{sessionId}` | the booking id a call session belongs to | `set`, when a call is bridged |
//! | `nm/health` | [`Health`]: numbers 8x8 reported not active | compare-and-swap only |
//!
//! The slot is the truth: a booking is active exactly while its entry is in its number's
//! slot and not past its expiry. Every change to a slot is a compare-and-swap against the
//! bytes the decision was made on, so two writers can never both act on the same state;
//! see [`crate`] for why that makes double assignment impossible.

use callflow_sdk::{Kv, KvError};
use serde::{Deserialize, Serialize, de::DeserializeOwned};

/// How many compare-and-swap rounds one operation tries before giving up (and answering
/// "retry"). Each lost round means another writer changed the key in between.
pub const MAX_ROUNDS: usize = 64;

/// The slot of a virtual number.
pub fn slot_key(number: &str) -> String {
    format!("nm/vn/{number}")
}

/// A booking's record.
pub fn booking_key(id: &str) -> String {
    format!("nm/booking/{id}")
}

/// A booking's call log.
pub fn calls_key(id: &str) -> String {
    format!("nm/calls/{id}")
}

/// Which booking a call session belongs to.
pub fn session_key(session_id: &str) -> String {
    format!("nm/session/{session_id}")
}

/// The numbers 8x8 reported unhealthy (or expiring, or inactive).
pub const HEALTH_KEY: &str = "nm/health";

/// The bookings on one virtual number. Kept small: each entry is what allocation and
/// call routing need, nothing more.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Slot {
    /// The bookings, oldest first; entries past their expiry are dropped on the next write.
    #[serde(default, rename = "b")]
    pub bookings: Vec<SlotEntry>,
}

/// One booking in a slot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlotEntry {
    /// The booking id.
    pub id: String,
    /// Both participants, E.164 with `+`.
    #[serde(rename = "p")]
    pub participants: [String; 2],
    /// When it expires, Unix milliseconds.
    #[serde(rename = "exp")]
    pub expires_at: u64,
}

impl Slot {
    /// The bookings alive at `now`.
    pub fn live(&self, now: u64) -> impl Iterator<Item = &SlotEntry> {
        self.bookings.iter().filter(move |b| b.expires_at > now)
    }

    /// Drops the bookings expired at `now`.
    pub fn prune(&mut self, now: u64) {
        self.bookings.retain(|b| b.expires_at > now);
    }

    /// True when `number` is a participant of a booking alive at `now`.
    pub fn holds(&self, number: &str, now: u64) -> bool {
        self.live(now)
            .any(|b| b.participants.iter().any(|p| p == number))
    }
}

/// A booking's record: what the API shows, kept `retention` past its end.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Booking {
    /// `bk_` and 24 random base32 characters.
    pub id: String,
    /// Both participants, E.164 with `+`.
    pub participants: [String; 2],
    /// The virtual number, E.164 with `+`.
    pub virtual_number: String,
    /// 8x8's reference id of the number, when configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ref_id: Option<String>,
    /// Unix milliseconds.
    pub created_at: u64,
    /// Unix milliseconds.
    pub expires_at: u64,
    /// When it was released (`DELETE`), Unix milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub released_at: Option<u64>,
}

/// A booking's call log.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CallLog {
    /// Entries in arrival order, each with its `eventId`.
    #[serde(default)]
    pub entries: Vec<serde_json::Value>,
    /// True when entries were dropped because the log was full.
    #[serde(default)]
    pub truncated: bool,
}

/// Entries kept per call log; more are counted in `truncated` and dropped.
pub const MAX_LOG_ENTRIES: usize = 200;

/// Numbers not fit for new bookings, with the state 8x8 reported.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    /// (number, state) pairs, numbers E.164 with `+`.
    #[serde(default)]
    pub down: Vec<(String, String)>,
}

impl Health {
    /// The reported state of `number`: `None` when it is active.
    pub fn state(&self, number: &str) -> Option<&str> {
        self.down
            .iter()
            .find(|(n, _)| n == number)
            .map(|(_, s)| s.as_str())
    }
}

/// Why a store operation failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreError {
    /// The store failed (or a value would be over its size limit).
    Kv(KvError),
    /// A stored value is not what this plugin writes.
    Corrupt(String),
    /// Lost [`MAX_ROUNDS`] compare-and-swap rounds in a row.
    Contended,
}

impl From<KvError> for StoreError {
    fn from(e: KvError) -> Self {
        StoreError::Kv(e)
    }
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreError::Kv(e) => write!(f, "{e}"),
            StoreError::Corrupt(key) => write!(f, "the value under {key} is not readable"),
            StoreError::Contended => write!(f, "too many concurrent writers; retry"),
        }
    }
}

/// The value under `key` and its raw bytes (the `expected` of a later compare-and-swap).
pub fn read<T: DeserializeOwned + Default>(
    kv: &Kv<'_>,
    key: &str,
) -> Result<(Option<Vec<u8>>, T), StoreError> {
    let raw = kv.get(key)?;
    let value = match &raw {
        None => T::default(),
        Some(bytes) => {
            serde_json::from_slice(bytes).map_err(|_| StoreError::Corrupt(key.to_owned()))?
        }
    };
    Ok((raw, value))
}

/// The record of booking `id`, if any.
pub fn booking(kv: &Kv<'_>, id: &str) -> Result<Option<Booking>, StoreError> {
    let key = booking_key(id);
    match kv.get(&key)? {
        None => Ok(None),
        Some(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|_| StoreError::Corrupt(key)),
    }
}

/// Writes the record of `booking`, kept until `retention_ms` past its end.
pub fn put_booking(
    kv: &Kv<'_>,
    booking: &Booking,
    now: u64,
    retention_ms: u64,
) -> Result<(), StoreError> {
    let end = booking.released_at.unwrap_or(booking.expires_at);
    let ttl = end.saturating_add(retention_ms).saturating_sub(now).max(1);
    let bytes = serde_json::to_vec(booking).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    kv.set(
        &booking_key(&booking.id),
        bytes,
        Some(std::time::Duration::from_millis(ttl)),
    )?;
    Ok(())
}

/// Applies `change` to the value under `key` until a compare-and-swap lands it:
/// read, change, swap against what was read, and on a lost race start over from a
/// fresh read. `change` answers what to write (`None`: leave the key as it is) and a
/// result to return.
pub fn update<T, R>(
    kv: &Kv<'_>,
    key: &str,
    ttl: Option<std::time::Duration>,
    mut change: impl FnMut(&mut T) -> (bool, R),
) -> Result<R, StoreError>
where
    T: Serialize + DeserializeOwned + Default,
{
    for _ in 0..MAX_ROUNDS {
        let (raw, mut value) = read::<T>(kv, key)?;
        let (write, result) = change(&mut value);
        if !write {
            return Ok(result);
        }
        let bytes = serde_json::to_vec(&value).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        if kv.compare_and_swap(key, raw.as_deref(), Some(&bytes), ttl)? {
            return Ok(result);
        }
    }
    Err(StoreError::Contended)
}
