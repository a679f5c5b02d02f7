//! What a plugin can reach while it handles an event: configuration, the key-value store
//! and the log.
//!
//! Plugin code sees only [`Context`]. Behind it sits a [`Host`]: in a component that is
//! the host's WIT imports, under `cargo test` it is the in-memory host of
//! [`testing`](crate::testing). The same plugin code runs against either, which is the
//! point of this module: it must not know which one it talks to.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::PluginError;

/// Severity of a log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// Very detailed tracing.
    Trace,
    /// Debugging detail.
    Debug,
    /// Normal operation.
    Info,
    /// Something unexpected that the plugin handled.
    Warn,
    /// Something failed.
    Error,
}

impl Level {
    /// The level's name in lower case, as log lines print it.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Trace => "trace",
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a key-value operation failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KvError {
    /// The key or the value is larger than the host allows (keys 1 KiB, values 64 KiB).
    TooLarge(String),
    /// The store is not available right now.
    Unavailable(String),
    /// The tenant's store quota (keys, or bytes of keys plus values) is reached, or this
    /// event used its key-value operations. Nothing was changed; deleting keys frees room.
    QuotaExceeded(String),
}

impl fmt::Display for KvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KvError::TooLarge(why) => write!(f, "too large: {why}"),
            KvError::Unavailable(why) => write!(f, "store unavailable: {why}"),
            KvError::QuotaExceeded(why) => write!(f, "quota exceeded: {why}"),
        }
    }
}

impl std::error::Error for KvError {}

/// The host's side of the contract, as a Rust trait: one method per WIT import.
///
/// Plugins never call this directly; they use [`Context`]. Implement it to run plugins
/// against a host of your own (the SDK has two: the component's imports, and the
/// in-memory host of [`testing::Harness`](crate::testing::Harness)).
pub trait Host {
    /// Writes one log line (`log.log`).
    fn log(&self, level: Level, message: &str);
    /// The tenant's configuration value for `key` (`config.get`).
    fn config(&self, key: &str) -> Option<String>;
    /// `kv.get`: the live value under `key`.
    fn kv_get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError>;
    /// `kv.set`: stores `value`, expiring after `ttl_ms` when given.
    fn kv_set(&self, key: &str, value: &[u8], ttl_ms: Option<u64>) -> Result<(), KvError>;
    /// `kv.delete`: true when a live value existed.
    fn kv_delete(&self, key: &str) -> Result<bool, KvError>;
    /// `kv.compare-and-swap`: replaces the value if the current one is `expected`.
    fn kv_compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
        ttl_ms: Option<u64>,
    ) -> Result<bool, KvError>;
    /// The wall clock, in milliseconds since the Unix epoch. The default reads the system
    /// clock: in a component that is the host's, through WASI's wall clock, the same clock
    /// the host's store expires values by.
    fn now_ms(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }
}

/// Everything a plugin can ask of its host while it handles one event.
///
/// Nothing a plugin keeps in memory survives the event (every event runs in a fresh
/// instance): state that must last goes in [`kv`](Context::kv).
#[derive(Clone, Copy)]
pub struct Context<'a> {
    host: &'a dyn Host,
}

impl fmt::Debug for Context<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context").finish_non_exhaustive()
    }
}

impl<'a> Context<'a> {
    /// A context backed by `host`.
    pub fn new(host: &'a dyn Host) -> Self {
        Self { host }
    }

    /// The tenant's configuration value for `key`, if set.
    pub fn config(&self, key: &str) -> Option<String> {
        self.host.config(key)
    }

    /// The tenant's configuration value for `key`, or [`PluginError::Unavailable`]
    /// naming the missing key: for settings the plugin cannot do without.
    pub fn require_config(&self, key: &str) -> Result<String, PluginError> {
        self.config(key)
            .ok_or_else(|| PluginError::Unavailable(format!("tenant configuration has no `{key}`")))
    }

    /// The tenant's key-value store.
    pub fn kv(&self) -> Kv<'a> {
        Kv { host: self.host }
    }

    /// The wall clock, in milliseconds since the Unix epoch: the host's clock in a
    /// component, the harness's own (movable) clock under
    /// [`testing::Harness`](crate::testing::Harness). Use it rather than
    /// `SystemTime::now()` so that time-dependent logic is testable.
    pub fn now_ms(&self) -> u64 {
        self.host.now_ms()
    }

    /// Writes one line to the host's log, tagged by the host with tenant, session and
    /// event. Lines beyond the host's per-event budget are dropped. The macros
    /// [`info!`](crate::info) and friends format and call this.
    pub fn log(&self, level: Level, message: &str) {
        self.host.log(level, message);
    }
}

/// The tenant's key-value store: no tenant sees another's keys.
///
/// Keys are strings of at most 1 KiB, values bytes of at most 64 KiB. A value set with a
/// time to live is absent once that time has passed; `None` means it never expires.
#[derive(Clone, Copy)]
pub struct Kv<'a> {
    host: &'a dyn Host,
}

impl fmt::Debug for Kv<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Kv").finish_non_exhaustive()
    }
}

/// Whole milliseconds, rounding a non-zero duration below 1 ms up so that it does not
/// turn into "expires at once".
fn ttl_ms(ttl: Option<Duration>) -> Option<u64> {
    ttl.map(|d| {
        let ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        if ms == 0 && !d.is_zero() { 1 } else { ms }
    })
}

impl Kv<'_> {
    /// The value under `key`, if there is one and it has not expired.
    pub fn get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        self.host.kv_get(key)
    }

    /// Stores `value` under `key`, replacing any value (and its expiry); with `ttl` it
    /// expires after that long.
    pub fn set(
        &self,
        key: &str,
        value: impl AsRef<[u8]>,
        ttl: Option<Duration>,
    ) -> Result<(), KvError> {
        self.host.kv_set(key, value.as_ref(), ttl_ms(ttl))
    }

    /// Removes `key`; true when a live value was there.
    pub fn delete(&self, key: &str) -> Result<bool, KvError> {
        self.host.kv_delete(key)
    }

    /// Atomically replaces the value of `key` with `new` (`None` deletes it) if its
    /// current value is `expected` (`None`: absent or expired). True when the swap
    /// happened. The new value gets `ttl` (`None`: never expires).
    ///
    /// ```
    /// # use callflow_sdk::testing::Harness;
    /// # let harness = Harness::new();
    /// # let ctx = harness.context();
    /// let kv = ctx.kv();
    /// assert!(kv.compare_and_swap("seats", None, Some(b"1"), None)?);
    /// assert!(!kv.compare_and_swap("seats", None, Some(b"1"), None)?);
    /// assert!(kv.compare_and_swap("seats", Some(b"1"), Some(b"2"), None)?);
    /// assert_eq!(kv.get("seats")?.as_deref(), Some(&b"2"[..]));
    /// # Ok::<(), callflow_sdk::KvError>(())
    /// ```
    pub fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
        ttl: Option<Duration>,
    ) -> Result<bool, KvError> {
        self.host
            .kv_compare_and_swap(key, expected, new, ttl_ms(ttl))
    }
}

/// Logs at `level` through a [`Context`]: `log!(ctx, Level::Info, "menu {}", id)`.
#[macro_export]
macro_rules! log {
    ($ctx:expr, $level:expr, $($arg:tt)+) => {
        $crate::Context::log(&$ctx, $level, &::std::format!($($arg)+))
    };
}

/// Logs at trace level through a [`Context`]: `trace!(ctx, "digits {:?}", digits)`.
#[macro_export]
macro_rules! trace {
    ($ctx:expr, $($arg:tt)+) => { $crate::log!($ctx, $crate::Level::Trace, $($arg)+) };
}

/// Logs at debug level through a [`Context`]: `debug!(ctx, "ignoring {}", kind)`.
#[macro_export]
macro_rules! debug {
    ($ctx:expr, $($arg:tt)+) => { $crate::log!($ctx, $crate::Level::Debug, $($arg)+) };
}

/// Logs at info level through a [`Context`]: `info!(ctx, "caller chose {}", digit)`.
#[macro_export]
macro_rules! info {
    ($ctx:expr, $($arg:tt)+) => { $crate::log!($ctx, $crate::Level::Info, $($arg)+) };
}

/// Logs at warn level through a [`Context`]: `warn!(ctx, "unknown menu {}", id)`.
#[macro_export]
macro_rules! warn {
    ($ctx:expr, $($arg:tt)+) => { $crate::log!($ctx, $crate::Level::Warn, $($arg)+) };
}

/// Logs at error level through a [`Context`]: `error!(ctx, "store failed: {}", err)`.
#[macro_export]
macro_rules! error {
    ($ctx:expr, $($arg:tt)+) => { $crate::log!($ctx, $crate::Level::Error, $($arg)+) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sub_millisecond_ttls_round_up_and_zero_stays_zero() {
        assert_eq!(ttl_ms(None), None);
        assert_eq!(ttl_ms(Some(Duration::ZERO)), Some(0));
        assert_eq!(ttl_ms(Some(Duration::from_micros(10))), Some(1));
        assert_eq!(ttl_ms(Some(Duration::from_secs(2))), Some(2000));
        assert_eq!(ttl_ms(Some(Duration::MAX)), Some(u64::MAX));
    }
}
