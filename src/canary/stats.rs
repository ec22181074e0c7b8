//! Per-side outcome counters and a lock-free latency histogram.
//!
//! # Why log-linear buckets
//!
//! A percentile needs the distribution, not an average, and recording must
//! not lock. Latencies are kept in microseconds in buckets of atomics: exact
//! below 8 µs, and above that 8 buckets per power of two, so a bucket is at
//! most 1/8 (12.5%) wide relative to its lower edge. 288 buckets cover up to
//! about 76 hours; anything longer lands in the last one. Recording is one
//! `fetch_add` on the bucket and one on each of two counters.

use std::time::Duration;

use crate::sync::{AtomicU64, Ordering};

/// Sub-buckets per power of two, as a number of bits.
const SUB_BITS: u32 = 3;
const SUB: u64 = 1 << SUB_BITS;
/// The largest power of two kept apart: 2^37 µs is about 38 hours.
const MAX_EXPONENT: u32 = 37;
const BUCKETS: usize = ((MAX_EXPONENT - SUB_BITS + 2) as usize) * SUB as usize;

/// The bucket of a latency of `micros`.
fn bucket_of(micros: u64) -> usize {
    if micros < SUB {
        return micros as usize;
    }
    let exponent = (63 - micros.leading_zeros()).min(MAX_EXPONENT);
    if exponent == MAX_EXPONENT && micros >> MAX_EXPONENT > 1 {
        return BUCKETS - 1;
    }
    let sub = (micros >> (exponent - SUB_BITS)) & (SUB - 1);
    ((exponent - SUB_BITS + 1) as usize) * SUB as usize + sub as usize
}

/// The largest latency, in microseconds, that falls in `bucket`.
fn upper_edge(bucket: usize) -> u64 {
    let bucket = bucket as u64;
    if bucket < SUB {
        return bucket;
    }
    let exponent = (bucket / SUB) as u32 + SUB_BITS - 1;
    let sub = bucket % SUB;
    let width = 1u64 << (exponent - SUB_BITS);
    ((SUB + sub) << (exponent - SUB_BITS)) + width - 1
}

/// Calls, failures and latencies of one side in the current step.
#[derive(Debug)]
pub(crate) struct SideStats {
    calls: AtomicU64,
    failures: AtomicU64,
    /// Of the failures, requests the side was not ready for.
    not_ready: AtomicU64,
    latency: Box<[AtomicU64]>,
}

/// What [`SideStats::snapshot`] read.
#[derive(Clone, Debug)]
pub(crate) struct SideSnapshot {
    pub(crate) calls: u64,
    pub(crate) failures: u64,
    pub(crate) not_ready: u64,
    buckets: Vec<u64>,
}

impl SideStats {
    pub(crate) fn new() -> Self {
        Self {
            calls: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            not_ready: AtomicU64::new(0),
            latency: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// Records one call that took `took`.
    #[inline]
    pub(crate) fn record(&self, failed: bool, took: Duration) {
        let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        // Relaxed throughout: plain counters, read by the analysis as a
        // snapshot; no other memory is published through them.
        self.latency[bucket_of(micros)].fetch_add(1, Ordering::Relaxed);
        if failed {
            self.failures.fetch_add(1, Ordering::Relaxed);
        }
        self.calls.fetch_add(1, Ordering::Relaxed);
    }

    /// Records a request the side was not ready for: a failed call without a
    /// latency.
    pub(crate) fn record_not_ready(&self) {
        // Relaxed: as in `record`.
        self.not_ready.fetch_add(1, Ordering::Relaxed);
        self.failures.fetch_add(1, Ordering::Relaxed);
        self.calls.fetch_add(1, Ordering::Relaxed);
    }

    /// Empties the counters for a new step.
    pub(crate) fn reset(&self) {
        // Relaxed: the new step is published by the Release store of the state
        // word that follows the reset.
        self.calls.store(0, Ordering::Relaxed);
        self.failures.store(0, Ordering::Relaxed);
        self.not_ready.store(0, Ordering::Relaxed);
        for bucket in self.latency.iter() {
            bucket.store(0, Ordering::Relaxed);
        }
    }

    /// The counters as they stand. With calls racing it, the counts may be off
    /// by the calls in flight; never by more.
    pub(crate) fn snapshot(&self) -> SideSnapshot {
        // Relaxed: see `record`.
        SideSnapshot {
            calls: self.calls.load(Ordering::Relaxed),
            failures: self.failures.load(Ordering::Relaxed),
            not_ready: self.not_ready.load(Ordering::Relaxed),
            buckets: self
                .latency
                .iter()
                .map(|b| b.load(Ordering::Relaxed))
                .collect(),
        }
    }
}

impl SideSnapshot {
    /// The latency at `percentile` (0 to 1], rounded up to its bucket's upper
    /// edge (at most 12.5% above the true value); `None` with no call.
    pub(crate) fn percentile(&self, percentile: f64) -> Option<Duration> {
        let total: u64 = self.buckets.iter().sum();
        if total == 0 {
            return None;
        }
        let rank = ((percentile * total as f64).ceil() as u64).clamp(1, total);
        let mut seen = 0;
        for (bucket, &count) in self.buckets.iter().enumerate() {
            seen += count;
            if seen >= rank {
                return Some(Duration::from_micros(upper_edge(bucket)));
            }
        }
        Some(Duration::from_micros(upper_edge(BUCKETS - 1)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_ordered_and_bound_their_values() {
        let mut last = 0;
        for micros in (0..100_000u64).chain([1 << 30, (1 << 37) + 5, u64::MAX]) {
            let bucket = bucket_of(micros);
            assert!(bucket < BUCKETS);
            assert!(bucket >= last || micros > 100_000, "monotone at {micros}");
            last = bucket;
            if micros < 1 << 37 {
                let upper = upper_edge(bucket);
                assert!(upper >= micros, "{micros} above its bucket's edge {upper}");
                assert!(
                    upper as f64 <= micros as f64 * 1.125 + 1.0,
                    "{micros} in a bucket up to {upper}"
                );
            }
        }
    }

    #[test]
    fn percentiles_come_from_the_distribution() {
        let side = SideStats::new();
        for _ in 0..90 {
            side.record(false, Duration::from_millis(10));
        }
        for _ in 0..10 {
            side.record(true, Duration::from_millis(200));
        }
        let snapshot = side.snapshot();
        assert_eq!((snapshot.calls, snapshot.failures), (100, 10));
        let p50 = snapshot.percentile(0.5).unwrap();
        let p99 = snapshot.percentile(0.99).unwrap();
        assert!(p50 >= Duration::from_millis(10) && p50 < Duration::from_micros(11_300));
        assert!(p99 >= Duration::from_millis(200) && p99 < Duration::from_millis(226));
        side.record_not_ready();
        let snapshot = side.snapshot();
        assert_eq!(
            (snapshot.calls, snapshot.failures, snapshot.not_ready),
            (101, 11, 1)
        );
        assert!(
            snapshot.percentile(1.0).unwrap() < Duration::from_millis(226),
            "no latency sample"
        );
        side.reset();
        let empty = side.snapshot();
        assert_eq!((empty.calls, empty.failures, empty.not_ready), (0, 0, 0));
        assert_eq!(empty.percentile(0.5), None);
    }

    proptest::proptest! {
        #[test]
        fn a_percentile_is_the_exact_one_rounded_up_by_at_most_an_eighth(
            micros in proptest::collection::vec(0u64..10_000_000, 1..300),
            percentile in 0.01f64..=1.0,
        ) {
            let side = SideStats::new();
            for &m in &micros {
                side.record(false, Duration::from_micros(m));
            }
            let mut sorted = micros.clone();
            sorted.sort_unstable();
            let rank = ((percentile * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
            let exact = sorted[rank - 1];
            let found = side.snapshot().percentile(percentile).unwrap().as_micros() as u64;
            proptest::prop_assert!(found >= exact, "{} < {}", found, exact);
            proptest::prop_assert!(found as f64 <= exact as f64 * 1.125 + 1.0, "{} for {}", found, exact);
        }
    }
}
