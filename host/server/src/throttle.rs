//! Log lines at a bounded rate: the log is a disk too, and a stranger posting garbage at
//! full speed, or a plugin logging in a loop, must not fill it.
//!
//! A [`Throttle`] lets through the first `per_second` lines of each second (the caller
//! says how many: a tenant's limit may change on reload) and counts the rest; the count is reported once, in one summary line, by the next line let through
//! or by [`Throttle::flush`] (the server calls it every second), whichever comes first.
//! Every refusal is still counted in `/metrics`: the log samples, the counters count.
//!
//! Lock-free: a second's number, a count and a suppressed count, all atomics; a line
//! racing the turn of a second may land in either, which a bound does not mind.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// One budget of log lines per second.
#[derive(Debug, Default)]
pub struct Throttle {
    second: AtomicU64,
    logged: AtomicU32,
    suppressed: AtomicU64,
}

/// What a caller may do with one line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum Verdict {
    /// Log it; first say that this many lines were suppressed before it (0: none).
    Log {
        /// Lines suppressed since the last line let through.
        suppressed: u64,
    },
    /// Do not log it (it was counted).
    Suppress,
}

fn now_second() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Throttle {
    /// A budget with nothing spent.
    pub const fn new() -> Self {
        Self {
            second: AtomicU64::new(0),
            logged: AtomicU32::new(0),
            suppressed: AtomicU64::new(0),
        }
    }

    /// Whether one more line may be logged now, at most `per_second` a second (0: none,
    /// every line suppressed and counted).
    pub fn admit(&self, per_second: u32) -> Verdict {
        self.admit_at(per_second, now_second())
    }

    fn admit_at(&self, per_second: u32, now: u64) -> Verdict {
        let second = self.second.load(Ordering::Relaxed);
        if second != now
            && self
                .second
                .compare_exchange(second, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            self.logged.store(0, Ordering::Relaxed);
        }
        if self.logged.fetch_add(1, Ordering::Relaxed) < per_second {
            Verdict::Log {
                suppressed: self.suppressed.swap(0, Ordering::Relaxed),
            }
        } else {
            self.suppressed.fetch_add(1, Ordering::Relaxed);
            Verdict::Suppress
        }
    }

    /// Lines suppressed in a second that has ended and not yet reported: the caller logs
    /// one summary line for them. 0 while the current second is still suppressing.
    pub fn flush(&self) -> u64 {
        self.flush_at(now_second())
    }

    fn flush_at(&self, now: u64) -> u64 {
        if self.second.load(Ordering::Relaxed) == now {
            return 0;
        }
        self.suppressed.swap(0, Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_lines_of_a_second_pass_and_the_rest_are_counted() {
        let t = Throttle::new();
        let verdicts: Vec<_> = (0..10).map(|_| t.admit_at(3, 100)).collect();
        assert_eq!(
            verdicts.iter().filter(|v| **v == Verdict::Suppress).count(),
            7
        );
        assert_eq!(verdicts[0], Verdict::Log { suppressed: 0 });
        // Still within the second: nothing to report yet.
        assert_eq!(t.flush_at(100), 0);
        // The next second's first line carries the count.
        assert_eq!(t.admit_at(3, 101), Verdict::Log { suppressed: 7 });
        assert_eq!(t.admit_at(3, 101), Verdict::Log { suppressed: 0 });
    }

    #[test]
    fn a_flood_that_stops_is_summed_up_by_the_flush() {
        let t = Throttle::new();
        let _ = t.admit_at(1, 5);
        for _ in 0..4 {
            assert_eq!(t.admit_at(1, 5), Verdict::Suppress);
        }
        assert_eq!(t.flush_at(6), 4);
        assert_eq!(t.flush_at(7), 0, "reported once");
        assert_eq!(t.admit_at(1, 9), Verdict::Log { suppressed: 0 });
    }

    #[test]
    fn a_budget_of_zero_suppresses_everything() {
        let t = Throttle::new();
        assert_eq!(t.admit_at(0, 1), Verdict::Suppress);
        assert_eq!(t.flush_at(2), 1);
    }
}
