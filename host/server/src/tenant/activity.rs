//! A tenant's recent activity, for the operator's console: events, latency, fuel and
//! failures by reason over the last ten minutes in five-second steps, and the sums of the
//! last minute.
//!
//! Owns: the marks (the tenant's counters as they were at each step) and the points
//! between them. The server's sampler calls [`Activity::mark`] every [`STEP_S`] seconds;
//! a reader gets the closed steps plus the one in progress (the counters now against the
//! last mark), so what it sees is live.
//!
//! Must not: add work per event. Everything here is read off the counters that
//! [`crate::metrics`] already keeps (atomics), every few seconds.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};

use crate::metrics::{FAILURE_REASONS, HISTOGRAM_BUCKETS, TenantStats, quantile_of};

/// Seconds between marks: one point of the charts.
pub const STEP_S: u64 = 5;
/// Points kept: ten minutes.
pub const POINTS: usize = 120;
/// The window of [`Activity::recent`], in seconds.
pub const RECENT_S: u64 = 60;

/// Marks kept: enough to reach back [`RECENT_S`].
const MARKS: usize = (RECENT_S / STEP_S) as usize + 1;

/// The counters at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Counters {
    invocations: u64,
    failures: [u64; FAILURE_REASONS.len()],
    latency_us: [u64; HISTOGRAM_BUCKETS],
    fuel: [u64; HISTOGRAM_BUCKETS],
}

impl Counters {
    fn of(stats: &TenantStats) -> Self {
        Self {
            invocations: stats.invocations(),
            failures: stats.failure_counts(),
            latency_us: stats.latency_us.counts(),
            fuel: stats.fuel.counts(),
        }
    }

    fn zero() -> Self {
        Self {
            invocations: 0,
            failures: [0; FAILURE_REASONS.len()],
            latency_us: [0; HISTOGRAM_BUCKETS],
            fuel: [0; HISTOGRAM_BUCKETS],
        }
    }

    /// What happened between `earlier` and `self`, summed up.
    fn since(&self, earlier: &Counters, at: u64, seconds: u64) -> Point {
        let diff = |now: &[u64], then: &[u64]| -> Vec<u64> {
            now.iter()
                .zip(then)
                .map(|(n, t)| n.saturating_sub(*t))
                .collect()
        };
        let latency = diff(&self.latency_us, &earlier.latency_us);
        let fuel = diff(&self.fuel, &earlier.fuel);
        let failures = self
            .failures
            .iter()
            .zip(&earlier.failures)
            .enumerate()
            .filter_map(|(i, (n, t))| {
                let d = n.saturating_sub(*t);
                (d > 0).then_some((i as u8, d))
            })
            .collect();
        Point {
            at,
            seconds: seconds.max(1),
            events: self.invocations.saturating_sub(earlier.invocations),
            latency_us: (quantile_of(&latency, 0.5), quantile_of(&latency, 0.99)),
            fuel: (quantile_of(&fuel, 0.5), quantile_of(&fuel, 0.99)),
            failures,
        }
    }
}

/// What happened in one span of time.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    /// Its start, in seconds since the Unix epoch.
    pub at: u64,
    /// Its length in seconds (at least 1).
    pub seconds: u64,
    /// Plugin invocations.
    pub events: u64,
    /// Their wall-clock microseconds, median and 99th percentile (bucket bounds).
    pub latency_us: (u64, u64),
    /// Their fuel, median and 99th percentile (bucket bounds).
    pub fuel: (u64, u64),
    /// Failures, as (index into [`FAILURE_REASONS`], count); none listed when none.
    failures: Vec<(u8, u64)>,
}

impl Point {
    /// Invocations per second.
    pub fn rate(&self) -> f64 {
        #[allow(
            clippy::cast_precision_loss,
            reason = "a rate on a chart: 52 bits of precision are plenty"
        )]
        let rate = self.events as f64 / self.seconds as f64;
        rate
    }

    /// Failures by reason.
    pub fn failures(&self) -> BTreeMap<String, u64> {
        self.failures
            .iter()
            .map(|(i, n)| (FAILURE_REASONS[usize::from(*i)].to_owned(), *n))
            .collect()
    }
}

/// A tenant's marks and points.
#[derive(Debug, Default)]
pub struct Activity {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// (when, the counters then), oldest first; an idle tenant's marks share one copy.
    marks: VecDeque<(u64, Arc<Counters>)>,
    /// The closed steps between consecutive marks, oldest first.
    points: VecDeque<Point>,
}

impl Activity {
    /// The activity of counters that start from zero at `now` (a new tenant's): the
    /// first step runs from then, so events before the sampler's first mark count too.
    pub fn starting_at(now: u64) -> Self {
        Self {
            inner: Mutex::new(Inner {
                marks: VecDeque::from([(now, Arc::new(Counters::zero()))]),
                points: VecDeque::new(),
            }),
        }
    }

    /// Marks `stats` as they are at `now` (seconds since the Unix epoch), closing the
    /// step since the last mark.
    pub fn mark(&self, stats: &TenantStats, now: u64) {
        let counters = Counters::of(stats);
        let mut guard = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let inner = &mut *guard;
        let counters = match inner.marks.back() {
            Some((at, last)) => {
                let point = counters.since(last, *at, now.saturating_sub(*at));
                if inner.points.len() == POINTS {
                    inner.points.pop_front();
                }
                inner.points.push_back(point);
                if **last == counters {
                    Arc::clone(last)
                } else {
                    Arc::new(counters)
                }
            }
            None => Arc::new(counters),
        };
        if inner.marks.len() == MARKS {
            inner.marks.pop_front();
        }
        inner.marks.push_back((now, counters));
    }

    /// The last ten minutes' points, oldest first, then the step in progress (`stats`
    /// now against the last mark).
    pub fn points(&self, stats: &TenantStats, now: u64) -> Vec<Point> {
        let counters = Counters::of(stats);
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let mut points: Vec<Point> = inner.points.iter().cloned().collect();
        let (at, last) = match inner.marks.back() {
            Some((at, last)) => (*at, Arc::clone(last)),
            None => (now, Arc::new(Counters::zero())),
        };
        points.push(counters.since(&last, at, now.saturating_sub(at)));
        points
    }

    /// The last [`RECENT_S`] seconds (or as many as were marked), summed up.
    pub fn recent(&self, stats: &TenantStats, now: u64) -> Point {
        let counters = Counters::of(stats);
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let oldest = inner
            .marks
            .iter()
            .find(|(at, _)| now.saturating_sub(*at) <= RECENT_S)
            .or(inner.marks.front());
        match oldest {
            Some((at, then)) => counters.since(then, *at, now.saturating_sub(*at)),
            None => counters.since(&Counters::zero(), now, RECENT_S),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn steps_hold_what_happened_between_marks_and_the_step_in_progress_is_live() {
        let stats = TenantStats::default();
        let activity = Activity::default();
        activity.mark(&stats, 1000);
        for _ in 0..10 {
            stats.invocation(5_000, Duration::from_micros(300));
        }
        stats.failure("deadline");
        activity.mark(&stats, 1005);
        stats.invocation(5_000, Duration::from_micros(40_000));

        let points = activity.points(&stats, 1007);
        assert_eq!(points.len(), 2);
        let closed = &points[0];
        assert_eq!((closed.at, closed.seconds, closed.events), (1000, 5, 10));
        assert!((closed.rate() - 2.0).abs() < f64::EPSILON);
        assert_eq!(closed.latency_us, (512, 512));
        assert_eq!(closed.failures(), BTreeMap::from([("deadline".into(), 1)]));
        let live = &points[1];
        assert_eq!((live.at, live.seconds, live.events), (1005, 2, 1));
        assert_eq!(live.latency_us.1, 65_536);
        assert!(live.failures().is_empty());

        let minute = activity.recent(&stats, 1007);
        assert_eq!((minute.events, minute.seconds), (11, 7));
    }

    #[test]
    fn events_before_the_first_mark_count_from_the_tenants_start() {
        let stats = TenantStats::default();
        let activity = Activity::starting_at(1000);
        for _ in 0..3 {
            stats.invocation(5_000, Duration::from_micros(300));
        }
        activity.mark(&stats, 1003);
        stats.invocation(5_000, Duration::from_micros(300));
        let points = activity.points(&stats, 1004);
        let events: Vec<(u64, u64)> = points.iter().map(|p| (p.at, p.events)).collect();
        assert_eq!(events, [(1000, 3), (1003, 1)]);
        assert_eq!(activity.recent(&stats, 1004).events, 4);
    }

    #[test]
    fn keeps_ten_minutes_and_idle_marks_share_their_counters() {
        let stats = TenantStats::default();
        let activity = Activity::default();
        for i in 0..(POINTS as u64 + 30) {
            activity.mark(&stats, i * STEP_S);
        }
        let inner = activity.inner.lock().expect("lock");
        assert_eq!(inner.points.len(), POINTS);
        assert_eq!(inner.marks.len(), MARKS);
        let (_, first) = &inner.marks[0];
        assert!(inner.marks.iter().all(|(_, c)| Arc::ptr_eq(c, first)));
    }
}
