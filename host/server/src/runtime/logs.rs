//! Where a plugin's log lines go besides the host's log: the last [`PluginLogs::KEPT`] of
//! them, kept for the operator's console (`GET /v1/admin/tenants/{tenant}/logs`) and for
//! a dev-phone call's transcript.
//!
//! Owns: the tenant's budget of log lines per second (the [`Throttle`] every event
//! shares) and the ring of recent lines, with phone numbers masked before they are kept.
//!
//! Must not: keep a line the budget refused (a plugin logging in a loop costs a bounded
//! ring, not memory; the cost per kept line, a clock read, the masking and a lock, is
//! paid at most `log_lines_per_second` times a second per tenant), or keep anything
//! unmasked. Unlike the host's log, the ring keeps every level the budget let through
//! (debug lines included, whatever the log filter), and cuts printed output to 1 KiB.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::throttle::Throttle;

/// A tenant's plugin log lines: their budget and the most recent ones.
#[derive(Debug, Default)]
pub struct PluginLogs {
    /// Lines per second over all the tenant's events (`log_lines_per_second`).
    pub(crate) throttle: Arc<Throttle>,
    recent: Mutex<Recent>,
}

#[derive(Debug, Default)]
struct Recent {
    lines: VecDeque<LogLine>,
    /// The number the next line gets (from 1).
    next: u64,
}

/// One line a plugin logged (or printed), as kept.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct LogLine {
    /// Its number: each line's is one more than the line before.
    pub seq: u64,
    /// When it was logged, in milliseconds since the Unix epoch.
    pub at_ms: u64,
    /// `trace`, `debug`, `info`, `warn` or `error`.
    pub level: &'static str,
    /// The text, cut to 1 KiB, phone numbers masked but their last four digits
    /// ([`callflow_wire::number::mask_digit_runs`]).
    pub message: String,
}

impl PluginLogs {
    /// Lines kept: at most 1 KiB each, so at most about 200 KiB per tenant.
    pub const KEPT: usize = 200;

    /// Lines the budget refused in a second that ended and that no later line has
    /// summed up yet; the next call reports none of them again.
    pub fn flush(&self) -> u64 {
        self.throttle.flush()
    }

    /// A ring of its own under the same budget: a dev-phone call's lines are its
    /// transcript's, and still count against the tenant's lines per second.
    pub fn sharing_budget(&self) -> Self {
        Self {
            throttle: Arc::clone(&self.throttle),
            recent: Mutex::default(),
        }
    }

    /// The number the next line will get.
    pub fn next_seq(&self) -> u64 {
        self.recent
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .next
            .max(1)
    }

    /// Keeps `message` (already cut to size) at `level`, masked.
    pub(crate) fn keep(&self, level: &'static str, message: &str) {
        let at_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        let message = callflow_wire::number::mask_digit_runs(message);
        let mut recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        recent.next = recent.next.max(1);
        let seq = recent.next;
        recent.next += 1;
        if recent.lines.len() == Self::KEPT {
            recent.lines.pop_front();
        }
        recent.lines.push_back(LogLine {
            seq,
            at_ms,
            level,
            message,
        });
    }

    /// The kept lines numbered after `after`, oldest first, and how many lines numbered
    /// after it are no longer kept.
    pub fn since(&self, after: u64) -> (Vec<LogLine>, u64) {
        let recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        let lines: Vec<LogLine> = recent
            .lines
            .iter()
            .filter(|l| l.seq > after)
            .cloned()
            .collect();
        let oldest_kept = recent.lines.front().map_or(recent.next.max(1), |l| l.seq);
        let missed = oldest_kept.saturating_sub(after.saturating_add(1));
        (lines, missed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_last_lines_masked_and_counts_the_ones_it_dropped() {
        let logs = PluginLogs::default();
        assert_eq!(logs.since(0), (Vec::new(), 0));
        for i in 0..PluginLogs::KEPT + 5 {
            logs.keep("info", &format!("line {i} for +6591234567"));
        }
        let (lines, missed) = logs.since(0);
        assert_eq!(lines.len(), PluginLogs::KEPT);
        assert_eq!(missed, 5);
        assert_eq!(lines[0].seq, 6);
        assert_eq!(lines[0].message, "line 5 for +******4567");
        let (newer, missed) = logs.since(lines[lines.len() - 2].seq);
        assert_eq!((newer.len(), missed), (1, 0));
        assert_eq!(
            newer[0].message,
            format!("line {} for +******4567", PluginLogs::KEPT + 4)
        );
    }
}
