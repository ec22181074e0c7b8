//! The shared core of one bulkhead: the slot counter and the wait queue.
//!
//! # Slots
//!
//! `in_flight` counts the slots taken. Taking one is a CAS from `n` to `n + 1`
//! while `n < max`; giving one back is a `fetch_sub`. No lock is taken on
//! either path unless someone is waiting.
//!
//! # Waiting
//!
//! Waiters queue in arrival order under a lock that only the waiting path
//! takes. `waiting` mirrors the queue's length so that a release can tell,
//! with one atomic operation, whether it must look at the queue at all. A
//! freed slot is handed straight to the first waiter (the counter stays up),
//! so a waiter that was woken never has to race for the slot again.
//!
//! The one race that matters is a waiter that finds no slot while the last
//! holder is giving one back: the waiter must not sleep on a slot that nobody
//! will hand over. The waiter raises `waiting` and then reads the counter; the
//! releaser lowers the counter and then reads `waiting`, both reads of
//! `waiting` being read-modify-writes (`AcqRel`). Read-modify-writes of one
//! atomic are totally ordered and each reads the one before it, so either
//! the releaser's comes later and sees the waiter (and hands over under the
//! queue lock, which the waiter held while enqueueing), or the waiter's comes
//! later, acquires the releaser's, and so sees the lowered counter. Plain
//! `SeqCst` loads would do the same on paper, but this argument needs only
//! acquire/release, which the loom tests (`loom_tests.rs`) check exactly.
//!
//! A bulkhead that does not wait never reads `waiting` on release: its
//! release is a single `fetch_sub`.

use std::collections::VecDeque;
use std::fmt;
use std::task::Waker;
use std::time::Duration;

use crate::keyed::MetricScope;
use crate::observe::{self, Listeners};
use crate::sync::{Arc, AtomicU64, Mutex, Ordering};

use super::config::BulkheadConfig;
use super::event::{BulkheadEvent, BulkheadListener};

/// Metric handles, resolved once when the bulkhead is built.
struct BulkheadMetrics {
    in_flight: metrics::Gauge,
    rejections: metrics::Counter,
    wait: metrics::Histogram,
}

/// One caller in the wait queue, shared by the queue and the caller's
/// [`Acquire`](super::future::Acquire).
#[derive(Debug, Default)]
pub(crate) struct QueuedCaller {
    handoff: Mutex<Handoff>,
}

/// Whether a slot was handed to a queued caller, and how to wake it.
#[derive(Debug, Default)]
struct Handoff {
    /// A slot was handed over: the counter already counts it for this caller.
    granted: bool,
    waker: Option<Waker>,
}

/// What asking for a slot, with waiting allowed, gave.
pub(crate) enum AcquireOrQueue {
    /// A free slot, taken.
    Acquired,
    /// No free slot: the caller is queued for one.
    Queued(Arc<QueuedCaller>),
    /// No free slot and no room in the queue.
    QueueFull,
}

/// How a queued caller left the queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LeftQueue {
    /// A slot had been handed to it before it could leave: it holds one.
    WithSlot,
    /// It left without a slot.
    WithoutSlot,
}

/// `repr(C)` keeps the counters first, on the cache line of the `Arc`'s
/// reference count that every call touches anyway: one line per call, not two.
#[repr(C)]
pub(crate) struct BulkheadCore {
    in_flight: AtomicU64,
    waiting: AtomicU64,
    rejected: AtomicU64,
    max: u64,
    queue: Mutex<VecDeque<Arc<QueuedCaller>>>,
    listeners: Listeners<BulkheadListener>,
    metrics: BulkheadMetrics,
    pub(crate) config: BulkheadConfig,
}

impl fmt::Debug for BulkheadCore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BulkheadCore")
            .field("name", &self.config.name())
            .field("in_flight", &self.in_flight())
            .field("max", &self.max)
            .finish_non_exhaustive()
    }
}

impl BulkheadCore {
    pub(crate) fn new(config: BulkheadConfig) -> Self {
        let name = config.name();
        let metrics = BulkheadMetrics {
            // Shared by keys, each bulkhead would overwrite the others' count.
            in_flight: match config.metric_scope {
                MetricScope::Own => {
                    metrics::gauge!(observe::BULKHEAD_IN_FLIGHT, "name" => name.to_owned())
                }
                MetricScope::SharedByKeys => metrics::Gauge::noop(),
            },
            rejections: metrics::counter!(observe::BULKHEAD_REJECTIONS_TOTAL, "name" => name.to_owned()),
            wait: metrics::histogram!(observe::BULKHEAD_WAIT_SECONDS, "name" => name.to_owned()),
        };
        metrics.in_flight.set(0.0);
        Self {
            in_flight: AtomicU64::new(0),
            waiting: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            max: u64::from(config.max_concurrent),
            queue: Mutex::new(VecDeque::new()),
            listeners: Listeners::new(),
            metrics,
            config,
        }
    }

    pub(crate) fn in_flight(&self) -> u64 {
        // Relaxed: a reading for reports; nothing is published through it.
        self.in_flight.load(Ordering::Relaxed)
    }

    pub(crate) fn waiting(&self) -> u64 {
        // Relaxed: as above.
        self.waiting.load(Ordering::Relaxed)
    }

    pub(crate) fn rejected(&self) -> u64 {
        // Relaxed: a plain counter.
        self.rejected.load(Ordering::Relaxed)
    }

    pub(crate) fn max(&self) -> u64 {
        self.max
    }
    /// Takes a slot if one is free, without waiting and without jumping the
    /// queue: while anyone waits, only the queue gets freed slots.
    #[inline]
    pub(crate) fn try_acquire(&self) -> bool {
        // Relaxed: only fairness rides on this look (a caller that misses a new
        // waiter barges once, and its own release hands over); no wakeup does.
        if self.config.waits() && self.waiting.load(Ordering::Relaxed) > 0 {
            return false;
        }
        // Relaxed: a caller that does not wait needs no ordering with releases; a
        // stale "full" is a refusal that could as well have come a moment earlier.
        self.take_slot(Ordering::Relaxed)
    }

    /// The CAS that takes a slot while fewer than `max` are taken. `read` is
    /// the ordering of the first look at the counter, which alone may decide
    /// that there is no slot.
    #[inline]
    fn take_slot(&self, read: Ordering) -> bool {
        let mut current = self.in_flight.load(read);
        loop {
            if current >= self.max {
                return false;
            }
            // Acquire on success pairs with the Release of `release`, so a slot is
            // taken only after its previous holder's release is complete. No other
            // memory is published through a slot, so a failed CAS is Relaxed.
            match self.in_flight.compare_exchange_weak(
                current,
                current + 1,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    self.metrics.in_flight.increment(1.0);
                    return true;
                }
                Err(actual) => current = actual,
            }
        }
    }

    /// Gives a slot back, handing it to the first waiter if there is one.
    #[inline]
    pub(crate) fn release(&self) {
        // Release: see `take_slot`; the read-modify-write on `waiting` below
        // publishes this decrement to a waiter that acquires it (module docs).
        self.in_flight.fetch_sub(1, Ordering::Release);
        self.metrics.in_flight.decrement(1.0);
        // AcqRel read-modify-write, not a load: the releaser's side of the race in the
        // module docs.
        if self.config.waits() && self.waiting.fetch_add(0, Ordering::AcqRel) > 0 {
            self.hand_over();
        }
    }

    /// Hands free slots to waiters, first come first served.
    #[cold]
    #[inline(never)]
    fn hand_over(&self) {
        loop {
            let waker = {
                let mut queue = self.queue.lock();
                // Relaxed first look: the queue lock orders this after every earlier
                // hand-over, and this thread's own `fetch_sub` is visible to it.
                if queue.is_empty() || !self.take_slot(Ordering::Relaxed) {
                    return;
                }
                let caller = queue.pop_front().expect("the queue is not empty");
                // AcqRel: `waiting` is only changed under the queue lock; every change
                // joins the chain of read-modify-writes the module docs rely on.
                self.waiting.fetch_sub(1, Ordering::AcqRel);
                let mut handoff = caller.handoff.lock();
                handoff.granted = true;
                handoff.waker.take()
            };
            if let Some(waker) = waker {
                waker.wake();
            }
        }
    }

    /// Takes a slot, or joins the wait queue if there is room in it.
    pub(crate) fn acquire_or_queue(&self, waker: &Waker) -> AcquireOrQueue {
        let mut queue = self.queue.lock();
        if queue.len() as u64 >= u64::from(self.config.max_waiting) {
            return AcquireOrQueue::QueueFull;
        }
        // AcqRel: announce the waiter before reading the counter; acquires a
        // releaser's earlier read-modify-write and with it its decrement (module docs).
        self.waiting.fetch_add(1, Ordering::AcqRel);
        // Behind other waiters, do not try: the slot they wait for is theirs.
        // Relaxed first look: the acquire above already orders it after any release
        // whose read-modify-write on `waiting` came first.
        if queue.is_empty() && self.take_slot(Ordering::Relaxed) {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            return AcquireOrQueue::Acquired;
        }
        let caller = Arc::new(QueuedCaller {
            handoff: Mutex::new(Handoff {
                granted: false,
                waker: Some(waker.clone()),
            }),
        });
        queue.push_back(caller.clone());
        AcquireOrQueue::Queued(caller)
    }

    /// Whether `caller` was handed a slot yet; otherwise remembers `waker`.
    pub(crate) fn poll_granted(&self, caller: &QueuedCaller, waker: &Waker) -> bool {
        let mut handoff = caller.handoff.lock();
        if handoff.granted {
            return true;
        }
        match &mut handoff.waker {
            Some(current) if current.will_wake(waker) => {}
            slot => *slot = Some(waker.clone()),
        }
        false
    }

    /// Takes `caller` out of the queue, unless a slot was handed to it first.
    pub(crate) fn leave_queue(&self, caller: &Arc<QueuedCaller>) -> LeftQueue {
        let mut queue = self.queue.lock();
        if let Some(position) = queue.iter().position(|queued| Arc::ptr_eq(queued, caller)) {
            queue.remove(position);
            // AcqRel: see `hand_over`.
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            LeftQueue::WithoutSlot
        } else {
            LeftQueue::WithSlot
        }
    }

    /// Counts a refusal and tells whoever listens.
    pub(crate) fn count_rejection(&self) {
        // Relaxed: a plain counter.
        self.rejected.fetch_add(1, Ordering::Relaxed);
        self.metrics.rejections.increment(1);
        #[cfg(feature = "tracing")]
        super::trace::rejected(self.config.name());
        if !self.listeners.is_empty() {
            let event = BulkheadEvent::Rejected {
                name: self.config.name(),
            };
            self.listeners.notify(|listener| listener(&event));
        }
    }

    /// Records how long a queued caller waited and whether it got a slot.
    pub(crate) fn record_wait(&self, waited: Duration, acquired: bool) {
        self.metrics.wait.record(waited.as_secs_f64());
        #[cfg(feature = "tracing")]
        super::trace::waited(self.config.name(), waited, acquired);
        if !self.listeners.is_empty() {
            let event = BulkheadEvent::Waited {
                name: self.config.name(),
                waited,
                acquired,
            };
            self.listeners.notify(|listener| listener(&event));
        }
    }

    pub(crate) fn add_listener(&self, listener: Box<BulkheadListener>) {
        self.listeners.add(listener);
    }
}
