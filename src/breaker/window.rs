//! The closed state's sliding window: striped success counts and an exact
//! record of the calls that matter.
//!
//! # Why striped
//!
//! Almost every call a healthy dependency serves is a fast success, and a
//! shared breaker sees them from every core at once. If each success wrote one
//! shared counter, the cores would pass that cache line back and forth on every
//! call: that costs more than the rest of the breaker together. So a fast
//! success only adds one to its thread's own cache-line-sized stripe, and the
//! stripes are summed only when something notable is recorded: a failure, a
//! slow call, or a success that may itself decide the state (see
//! [`ClosedWindow::record_success`]).
//!
//! Notable calls (failed or slow) are kept exactly, under a short lock that the
//! fast success path never takes: a count window keeps each one's position in
//! the stream of calls, a time window keeps per-bucket counts. Both drop what
//! slid out of the window (subtract on evict), so recording is O(1) amortised.
//!
//! # Generations
//!
//! The notable record carries the generation of the state it belongs to, set
//! when it is reset for a new state. A notable call admitted under another
//! generation is dropped under the same lock, so a failure that straddles a
//! transition can never land in the next state's window, however late it
//! arrives. The run of consecutive failures is kept under that lock too.
//!
//! # Exactness
//!
//! With one thread, the window holds exactly the calls the specification says.
//! With several, a success that races a notable call may be counted on either
//! side of it; the totals are never lost or counted twice. A fast success is
//! counted lock-free after one check of the state word, so one that races a
//! transition into a closed state may still be counted in the new window
//! (as one more call, never as a failure).

use std::collections::VecDeque;

use crate::sync::{AtomicU32, AtomicU64, Mutex, Ordering};

use super::config::SlidingWindow;

/// Calls, failures and slow calls in the window at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct WindowCounts {
    pub(crate) calls: u64,
    pub(crate) failures: u64,
    pub(crate) slow: u64,
}

/// The low half of a stripe's bucket: its success count.
const COUNT_BITS: u64 = 0xFFFF_FFFF;
/// A stripe's bucket hands its count over to the window's own bucket each
/// time it reaches a multiple of this, so that a count never carries into the
/// epoch tag above it (a bucket may last up to 7 days).
#[cfg(not(test))]
const FLUSH_EVERY: u64 = 1 << 30;
#[cfg(test)]
const FLUSH_EVERY: u64 = 1 << 4;
/// Buckets without a new one opened anywhere in the window, after which every
/// stripe's bucket is taken for stale: their 32-bit epoch tags could otherwise
/// alias one 2^32 buckets later.
const IDLE_BUCKETS: u64 = 1 << 31;

/// One thread's share of the success counts, on its own cache lines.
#[derive(Debug)]
#[repr(align(128))]
struct Stripe {
    /// Fast successes recorded on this stripe since the breaker was built.
    successes: AtomicU64,
    /// Time windows only: per bucket, `epoch << 32 | successes`, where epoch is
    /// the low 32 bits of the bucket's number. The count stays below 2^31 (see
    /// `FLUSH_EVERY`); a tag is trusted only while the window has opened a
    /// bucket within the last 2^31 buckets, and every stripe bucket that has
    /// slid out is zeroed whenever the window is read (see `IDLE_BUCKETS`).
    buckets: Box<[AtomicU64]>,
}

/// The closed state's window.
#[derive(Debug)]
pub(crate) struct ClosedWindow {
    stripes: Box<[Stripe]>,
    /// A time window's bucket width in nanoseconds; 0 for a count window.
    bucket_nanos: u64,
    /// Failures in a row. Counted and reset under the `notable` lock, so a
    /// stale failure is counted before a reset or not at all; any success ends
    /// the run without the lock.
    failure_run: AtomicU32,
    /// Time windows: the newest bucket number a stripe has opened.
    latest_epoch: AtomicU64,
    notable: Mutex<NotableRecord>,
}

/// The notable calls of the window and the state generation they belong to.
#[derive(Debug)]
struct NotableRecord {
    generation: u16,
    calls: NotableCalls,
}

/// The failed or slow calls still in the window, kept exactly.
#[derive(Debug)]
enum NotableCalls {
    Count {
        size: u64,
        /// Every notable call still in the window, oldest first.
        ring: VecDeque<NotableCall>,
        /// Notable calls recorded since the reset.
        recorded: u64,
        /// The stripes' success total at the reset.
        success_base: u64,
        in_window: KindTotals,
    },
    Time {
        bucket_nanos: u64,
        buckets: Box<[TimeBucket]>,
    },
}

/// What made a call notable: it failed, it was slow, or both.
#[derive(Clone, Copy, Debug, Default)]
struct CallKind {
    failed: bool,
    slow: bool,
}

/// A notable call in a count window's ring, in one word: its position
/// (1-based, in calls since the reset) above two bits for its kind. Eight bytes
/// an entry keep a 100-call window's ring at 808 bytes. Positions reach 2^62
/// only after that many calls.
#[derive(Clone, Copy, Debug)]
struct NotableCall(u64);

impl NotableCall {
    fn new(position: u64, kind: CallKind) -> Self {
        Self(position << 2 | u64::from(kind.slow) << 1 | u64::from(kind.failed))
    }

    fn position(self) -> u64 {
        self.0 >> 2
    }

    fn kind(self) -> CallKind {
        CallKind {
            failed: self.0 & 1 != 0,
            slow: self.0 & 2 != 0,
        }
    }
}

/// How many of a set of notable calls failed, and how many were slow.
#[derive(Clone, Copy, Debug, Default)]
struct KindTotals {
    failures: u64,
    slow: u64,
}

impl KindTotals {
    fn add(&mut self, kind: CallKind) {
        self.failures += u64::from(kind.failed);
        self.slow += u64::from(kind.slow);
    }

    fn remove(&mut self, kind: CallKind) {
        self.failures -= u64::from(kind.failed);
        self.slow -= u64::from(kind.slow);
    }
}

/// A time window's slice: the notable calls that finished in it.
#[derive(Clone, Copy, Debug, Default)]
struct TimeBucket {
    /// The bucket's number (finish time / bucket width); `u64::MAX` when empty.
    epoch: u64,
    /// Its notable calls, and the successes its stripe buckets handed over.
    calls: u64,
    totals: KindTotals,
}

const EMPTY_BUCKET: TimeBucket = TimeBucket {
    epoch: u64::MAX,
    calls: 0,
    totals: KindTotals {
        failures: 0,
        slow: 0,
    },
};

/// What recording a notable call found.
#[derive(Clone, Copy, Debug)]
pub(crate) struct NotableRecorded {
    /// The window as it now stands.
    pub(crate) counts: WindowCounts,
    /// Failures in a row, this call included; 0 after a slow success.
    pub(crate) failure_run: u32,
}

/// What recording a fast success found.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SuccessRecorded {
    /// This stripe's success total, including this one.
    pub(crate) stripe_total: u64,
    /// The call opened a new bucket on this stripe: buckets may have slid out,
    /// so the window should be looked at again.
    pub(crate) new_bucket: bool,
}

impl ClosedWindow {
    pub(crate) fn new(window: SlidingWindow, stripes: usize) -> Self {
        let (bucket_count, notable) = match window {
            SlidingWindow::Count { size } => (
                0,
                NotableCalls::Count {
                    size: u64::from(size),
                    ring: VecDeque::with_capacity(size as usize + 1),
                    recorded: 0,
                    success_base: 0,
                    in_window: KindTotals::default(),
                },
            ),
            SlidingWindow::Time { duration, buckets } => (
                buckets as usize,
                NotableCalls::Time {
                    bucket_nanos: (duration.as_nanos() / u128::from(buckets)) as u64,
                    buckets: vec![EMPTY_BUCKET; buckets as usize].into_boxed_slice(),
                },
            ),
        };
        let stripes = (0..stripes)
            .map(|_| Stripe {
                successes: AtomicU64::new(0),
                buckets: (0..bucket_count).map(|_| AtomicU64::new(0)).collect(),
            })
            .collect();
        let bucket_nanos = match notable {
            NotableCalls::Time { bucket_nanos, .. } => bucket_nanos,
            NotableCalls::Count { .. } => 0,
        };
        Self {
            stripes,
            bucket_nanos,
            failure_run: AtomicU32::new(0),
            latest_epoch: AtomicU64::new(0),
            // The breaker starts closed in generation 0.
            notable: Mutex::new(NotableRecord {
                generation: 0,
                calls: notable,
            }),
        }
    }

    /// Whether recording needs the time a call finished.
    #[inline]
    pub(crate) fn is_timed(&self) -> bool {
        self.bucket_nanos != 0
    }

    /// WindowCounts a fast success (neither failed nor slow) on `stripe`, lock-free.
    ///
    /// `now` is the finish time, read only for time windows.
    #[inline]
    pub(crate) fn record_success(&self, stripe: usize, now: u64) -> SuccessRecorded {
        // A mask, not `%`: the stripe count is a power of two, and a division on
        // every call costs more than the rest of this function.
        debug_assert!(self.stripes.len().is_power_of_two());
        let stripe = &self.stripes[stripe & (self.stripes.len() - 1)];
        // Relaxed: the stripes are plain counters. Whoever sums them takes the window
        // lock or reads a snapshot; no other memory is published through them.
        let stripe_total = stripe.successes.fetch_add(1, Ordering::Relaxed) + 1;
        let mut new_bucket = false;
        if self.is_timed() {
            let epoch = now / self.bucket_nanos;
            // Relaxed: a hint; the forgetting it calls for takes the window's lock.
            if epoch.saturating_sub(self.latest_epoch.load(Ordering::Relaxed)) >= IDLE_BUCKETS {
                self.forget_idle_buckets(epoch);
            }
            let slot = &stripe.buckets[(epoch % stripe.buckets.len() as u64) as usize];
            let tag = (epoch as u32 as u64) << 32;
            let mut current = slot.load(Ordering::Relaxed);
            loop {
                if current & !COUNT_BITS == tag {
                    // Same bucket: count it. Relaxed, as above.
                    let count = (slot.fetch_add(1, Ordering::Relaxed) & COUNT_BITS) + 1;
                    if count.is_multiple_of(FLUSH_EVERY) {
                        self.flush(slot, epoch);
                    }
                    break;
                }
                // A stale bucket: this call opens it afresh.
                match slot.compare_exchange_weak(
                    current,
                    tag | 1,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => {
                        new_bucket = true;
                        // Relaxed: a hint, as above.
                        if self.latest_epoch.load(Ordering::Relaxed) < epoch {
                            self.latest_epoch.fetch_max(epoch, Ordering::Relaxed);
                        }
                        break;
                    }
                    Err(actual) => current = actual,
                }
            }
        }
        SuccessRecorded {
            stripe_total,
            new_bucket,
        }
    }

    /// Hands a stripe bucket's count over to the window's own bucket `epoch`,
    /// whose counts are 64 bits wide, before it can carry into the tag.
    #[cold]
    #[inline(never)]
    fn flush(&self, slot: &AtomicU64, epoch: u64) {
        let tag = (epoch as u32 as u64) << 32;
        let mut record = self.notable.lock();
        let NotableCalls::Time { buckets, .. } = &mut record.calls else {
            return;
        };
        // Relaxed: the counts are plain counters (see `record_success`); the CAS
        // moves each success exactly once.
        let mut current = slot.load(Ordering::Relaxed);
        let moved = loop {
            if current & !COUNT_BITS != tag {
                // Opened afresh since: its count left with the bucket it belonged to.
                return;
            }
            match slot.compare_exchange_weak(current, tag, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => break current & COUNT_BITS,
                Err(actual) => current = actual,
            }
        };
        let len = buckets.len() as u64;
        let bucket = &mut buckets[(epoch % len) as usize];
        if bucket.epoch == u64::MAX || bucket.epoch < epoch {
            *bucket = TimeBucket {
                epoch,
                ..EMPTY_BUCKET
            };
        }
        if bucket.epoch == epoch {
            bucket.calls += moved;
        }
    }

    /// After `IDLE_BUCKETS` without a new bucket, zeroes every stripe bucket
    /// before one is counted at `epoch`: their tags may alias. A success
    /// counted at `epoch` by a racing thread may be lost with them.
    #[cold]
    #[inline(never)]
    fn forget_idle_buckets(&self, epoch: u64) {
        let _record = self.notable.lock();
        // Relaxed: the lock orders this with other forgetters and readers.
        if epoch.saturating_sub(self.latest_epoch.load(Ordering::Relaxed)) < IDLE_BUCKETS {
            return; // Forgotten already.
        }
        for slot in self.stripes.iter().flat_map(|stripe| stripe.buckets.iter()) {
            // Relaxed: as in `record_success`.
            slot.store(0, Ordering::Relaxed);
        }
        self.latest_epoch.fetch_max(epoch, Ordering::Relaxed);
    }

    /// Fast successes on every stripe since the breaker was built.
    pub(crate) fn total_successes(&self) -> u64 {
        self.stripes
            .iter()
            .map(|s| s.successes.load(Ordering::Relaxed))
            .sum()
    }

    /// Records a failed or slow call admitted under `generation` that finished
    /// at `now`. `None` when the window belongs to another generation: the
    /// call is not counted.
    pub(crate) fn record_notable(
        &self,
        generation: u16,
        now: u64,
        failed: bool,
        slow: bool,
    ) -> Option<NotableRecorded> {
        let kind = CallKind { failed, slow };
        let mut record = self.notable.lock();
        if record.generation != generation {
            return None;
        }
        let failure_run = if failed {
            // Relaxed: the lock orders this with the reset; the lock-free `end_failure_run`
            // may race it, which only makes a run under concurrent calls approximate.
            self.failure_run.fetch_add(1, Ordering::Relaxed) + 1
        } else {
            // A slow success ends a run of failures like any success.
            self.end_failure_run();
            0
        };
        let notable = &mut record.calls;
        match notable {
            NotableCalls::Count {
                ring,
                recorded,
                success_base,
                in_window,
                ..
            } => {
                *recorded += 1;
                let position = self.total_successes().saturating_sub(*success_base) + *recorded;
                ring.push_back(NotableCall::new(position, kind));
                in_window.add(kind);
            }
            NotableCalls::Time {
                bucket_nanos,
                buckets,
            } => {
                let epoch = now / *bucket_nanos;
                let len = buckets.len() as u64;
                let bucket = &mut buckets[(epoch % len) as usize];
                if bucket.epoch != epoch {
                    *bucket = TimeBucket {
                        epoch,
                        ..EMPTY_BUCKET
                    };
                }
                bucket.calls += 1;
                bucket.totals.add(kind);
            }
        }
        Some(NotableRecorded {
            counts: self.counts_locked(notable, now),
            failure_run,
        })
    }

    /// Ends a run of consecutive failures, lock-free, touching the shared line
    /// only when there is a run to end.
    pub(crate) fn end_failure_run(&self) {
        // Relaxed: a plain counter; see `record_notable`.
        if self.failure_run.load(Ordering::Relaxed) != 0 {
            // Relaxed: as above.
            self.failure_run.store(0, Ordering::Relaxed);
        }
    }

    /// The window as it stands at `now`.
    pub(crate) fn counts(&self, now: u64) -> WindowCounts {
        let mut record = self.notable.lock();
        self.counts_locked(&mut record.calls, now)
    }

    fn counts_locked(&self, notable: &mut NotableCalls, now: u64) -> WindowCounts {
        match notable {
            NotableCalls::Count {
                size,
                ring,
                recorded,
                success_base,
                in_window,
            } => {
                let calls = self.total_successes().saturating_sub(*success_base) + *recorded;
                // Evict what slid out: a notable call at position p is in the window of
                // the last `size` calls while p > calls - size.
                while let Some(&call) = ring.front() {
                    if call.position() + *size > calls {
                        break;
                    }
                    ring.pop_front();
                    in_window.remove(call.kind());
                }
                WindowCounts {
                    calls: calls.min(*size),
                    failures: in_window.failures,
                    slow: in_window.slow,
                }
            }
            NotableCalls::Time {
                bucket_nanos,
                buckets,
            } => {
                let current = now / *bucket_nanos;
                let len = buckets.len() as u64;
                let live = |epoch: u64| epoch <= current && current - epoch < len;
                let mut counts = WindowCounts::default();
                for bucket in buckets.iter_mut() {
                    if bucket.epoch == u64::MAX {
                        continue;
                    }
                    if !live(bucket.epoch) {
                        *bucket = EMPTY_BUCKET;
                        continue;
                    }
                    counts.calls += bucket.calls;
                    counts.failures += bucket.totals.failures;
                    counts.slow += bucket.totals.slow;
                }
                // Relaxed: a hint kept under this lock by `forget_idle_buckets`.
                let idle = current.saturating_sub(self.latest_epoch.load(Ordering::Relaxed))
                    >= IDLE_BUCKETS;
                let current_tag = current as u32;
                for slot in self.stripes.iter().flat_map(|stripe| stripe.buckets.iter()) {
                    let value = slot.load(Ordering::Relaxed);
                    if value == 0 {
                        continue;
                    }
                    let age = current_tag.wrapping_sub((value >> 32) as u32);
                    if !idle && u64::from(age) < len {
                        counts.calls += value & COUNT_BITS;
                    } else if idle || age < 1 << 31 {
                        // Slid out (or too old to tell): zero it, so that its tag
                        // cannot alias a bucket 2^32 buckets on. A racing success
                        // has changed it and keeps it; a bucket opened after this
                        // read's `now` (a "negative" age) is left alone. Relaxed:
                        // as above.
                        let _ =
                            slot.compare_exchange(value, 0, Ordering::Relaxed, Ordering::Relaxed);
                    }
                }
                counts
            }
        }
    }

    /// Empties the window for a state of `generation`, which then starts with
    /// fresh counts, if `still_due()` holds under the window's lock.
    ///
    /// A transition calls this before it publishes its new state, with a
    /// check that the state it moves from is still current: a transition that
    /// has already lost the race must not wipe the window of the state that
    /// won it.
    pub(crate) fn reset(&self, generation: u16, still_due: impl FnOnce() -> bool) {
        let mut record = self.notable.lock();
        if !still_due() {
            return;
        }
        record.generation = generation;
        // Relaxed: ordered with `record_notable` by the lock, and published to the
        // new state's recorders by the state word's CAS that follows.
        self.failure_run.store(0, Ordering::Relaxed);
        match &mut record.calls {
            NotableCalls::Count {
                ring,
                recorded,
                success_base,
                in_window,
                ..
            } => {
                ring.clear();
                *recorded = 0;
                *success_base = self.total_successes();
                *in_window = KindTotals::default();
            }
            NotableCalls::Time { buckets, .. } => {
                buckets.fill(EMPTY_BUCKET);
                for stripe in self.stripes.iter() {
                    for slot in stripe.buckets.iter() {
                        // A zero count reads the same whatever its epoch tag. Relaxed: a
                        // reset is published by the state word's CAS that follows it.
                        slot.store(0, Ordering::Relaxed);
                    }
                }
            }
        }
    }
}

#[cfg(all(test, not(loom)))]
#[path = "window_tests.rs"]
mod tests;
