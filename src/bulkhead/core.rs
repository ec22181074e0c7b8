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
//! acquire/release, which the loom tests below check exactly.
//!
//! A bulkhead that does not wait never reads `waiting` on release: its
//! release is a single `fetch_sub`.

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;
use std::task::Waker;
use std::time::Duration;

use crate::observe::{self, Event, Listener};
use crate::sync::{AtomicU32, AtomicU64, Mutex, Ordering};

use super::config::BulkheadConfig;

/// Metric handles, resolved once when the bulkhead is built.
struct Metrics {
    in_flight: metrics::Gauge,
    rejections: metrics::Counter,
    wait: metrics::Histogram,
}

/// One queued caller.
#[derive(Debug, Default)]
pub(crate) struct Waiter {
    state: Mutex<WaiterState>,
}

#[derive(Debug, Default)]
struct WaiterState {
    /// A slot was handed over: the counter already counts it for this waiter.
    granted: bool,
    waker: Option<Waker>,
}

/// What asking for a slot with waiting allowed gave.
pub(crate) enum Enqueued {
    Acquired,
    Queued(Arc<Waiter>),
    Full,
}

/// What a queued waiter found when it stopped waiting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Left {
    /// A slot had been handed over before it could leave: it holds one.
    Granted,
    /// It left the queue without a slot.
    Removed,
}

/// `repr(C)` keeps the counters first, on the cache line of the `Arc`'s
/// reference count that every call touches anyway: one line per call, not two.
#[repr(C)]
pub(crate) struct Core {
    in_flight: AtomicU64,
    waiting: AtomicU64,
    rejected: AtomicU64,
    max: u64,
    queue: Mutex<VecDeque<Arc<Waiter>>>,
    listening: AtomicU32,
    listeners: Mutex<Arc<[Listener]>>,
    metrics: Metrics,
    pub(crate) config: BulkheadConfig,
}

impl fmt::Debug for Core {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Core")
            .field("name", &self.config.name())
            .field("in_flight", &self.in_flight())
            .field("max", &self.max)
            .finish_non_exhaustive()
    }
}

impl Core {
    pub(crate) fn new(config: BulkheadConfig) -> Self {
        let name = config.name();
        let metrics = Metrics {
            in_flight: metrics::gauge!(observe::BULKHEAD_IN_FLIGHT, "name" => name.to_owned()),
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
            listening: AtomicU32::new(0),
            listeners: Mutex::new(Arc::from(Vec::new())),
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
                let waiter = queue.pop_front().expect("the queue is not empty");
                // AcqRel: `waiting` is only changed under the queue lock; every change
                // joins the chain of read-modify-writes the module docs rely on.
                self.waiting.fetch_sub(1, Ordering::AcqRel);
                let mut state = waiter.state.lock();
                state.granted = true;
                state.waker.take()
            };
            if let Some(waker) = waker {
                waker.wake();
            }
        }
    }

    /// Takes a slot, or joins the wait queue if there is room in it.
    pub(crate) fn enqueue(&self, waker: &Waker) -> Enqueued {
        let mut queue = self.queue.lock();
        if queue.len() as u64 >= u64::from(self.config.max_waiting) {
            return Enqueued::Full;
        }
        // AcqRel: announce the waiter before reading the counter; acquires a
        // releaser's earlier read-modify-write and with it its decrement (module docs).
        self.waiting.fetch_add(1, Ordering::AcqRel);
        // Behind other waiters, do not try: the slot they wait for is theirs.
        // Relaxed first look: the acquire above already orders it after any release
        // whose read-modify-write on `waiting` came first.
        if queue.is_empty() && self.take_slot(Ordering::Relaxed) {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            return Enqueued::Acquired;
        }
        let waiter = Arc::new(Waiter {
            state: Mutex::new(WaiterState {
                granted: false,
                waker: Some(waker.clone()),
            }),
        });
        queue.push_back(waiter.clone());
        Enqueued::Queued(waiter)
    }

    /// Whether `waiter` holds a slot yet; otherwise remembers `waker`.
    pub(crate) fn poll_granted(&self, waiter: &Waiter, waker: &Waker) -> bool {
        let mut state = waiter.state.lock();
        if state.granted {
            return true;
        }
        match &mut state.waker {
            Some(current) if current.will_wake(waker) => {}
            slot => *slot = Some(waker.clone()),
        }
        false
    }

    /// Takes `waiter` out of the queue, unless a slot was handed to it first.
    pub(crate) fn leave(&self, waiter: &Arc<Waiter>) -> Left {
        let mut queue = self.queue.lock();
        if let Some(position) = queue.iter().position(|w| Arc::ptr_eq(w, waiter)) {
            queue.remove(position);
            // AcqRel: see `hand_over`.
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            Left::Removed
        } else {
            Left::Granted
        }
    }

    /// Counts a refusal and tells whoever listens.
    pub(crate) fn reject(&self) {
        // Relaxed: a plain counter.
        self.rejected.fetch_add(1, Ordering::Relaxed);
        self.metrics.rejections.increment(1);
        if self.is_listening() {
            self.emit(&Event::BulkheadRejected {
                name: self.config.name(),
            });
        }
    }

    /// Records how long a caller waited and whether it got a slot.
    pub(crate) fn waited(&self, waited: Duration, acquired: bool) {
        self.metrics.wait.record(waited.as_secs_f64());
        if self.is_listening() {
            self.emit(&Event::BulkheadWaited {
                name: self.config.name(),
                waited,
                acquired,
            });
        }
    }

    fn is_listening(&self) -> bool {
        // Acquire: pairs with the Release in `add_listener`, so the listener list
        // written before the flag is seen with it.
        self.listening.load(Ordering::Acquire) != 0
    }

    pub(crate) fn add_listener(&self, listener: Listener) {
        {
            let mut listeners = self.listeners.lock();
            let mut all: Vec<Listener> = listeners.iter().cloned().collect();
            all.push(listener);
            *listeners = Arc::from(all);
        }
        // Release: see `is_listening`.
        self.listening.store(1, Ordering::Release);
    }

    fn emit(&self, event: &Event<'_>) {
        let listeners = self.listeners.lock().clone();
        observe::emit(&listeners, event);
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;

    fn core(max: u32, waiters: u32) -> Arc<Core> {
        let config = BulkheadConfig::builder()
            .max_concurrent_calls(max)
            .wait_for_slot(waiters, Duration::from_secs(1))
            .build()
            .expect("valid config");
        Arc::new(Core::new(config))
    }

    /// A caller that joins the queue while the last holder gives its slot back
    /// either takes the slot itself or is handed it: never left waiting on a
    /// free slot.
    #[test]
    fn loom_a_waiter_racing_a_release_gets_the_slot() {
        loom::model(|| {
            let core = core(1, 1);
            assert!(core.try_acquire());
            let releaser = {
                let core = core.clone();
                loom::thread::spawn(move || core.release())
            };
            let waker = futures::task::noop_waker();
            let queued = match core.enqueue(&waker) {
                Enqueued::Acquired => None,
                Enqueued::Queued(waiter) => Some(waiter),
                Enqueued::Full => panic!("the queue has room"),
            };
            releaser.join().unwrap();
            if let Some(waiter) = queued {
                assert!(
                    core.poll_granted(&waiter, &waker),
                    "the slot was handed over"
                );
            }
            assert_eq!(core.in_flight(), 1);
            assert_eq!(core.waiting(), 0);
        });
    }

    /// A waiter giving up while the holder releases: it either leaves without
    /// a slot (and the slot stays free) or finds it was handed one.
    #[test]
    fn loom_a_waiter_leaving_during_a_release_loses_no_slot() {
        loom::model(|| {
            let core = core(1, 1);
            assert!(core.try_acquire());
            let waker = futures::task::noop_waker();
            let Enqueued::Queued(waiter) = core.enqueue(&waker) else {
                panic!("full: the waiter queues");
            };
            let releaser = {
                let core = core.clone();
                loom::thread::spawn(move || core.release())
            };
            let left = core.leave(&waiter);
            releaser.join().unwrap();
            let expected = u64::from(left == Left::Granted);
            assert_eq!(core.in_flight(), expected);
            assert_eq!(core.waiting(), 0);
        });
    }

    /// Two holders releasing at once with two waiters queued: both waiters
    /// get a slot, and the count never passes the cap.
    #[test]
    fn loom_concurrent_releases_serve_every_waiter() {
        loom::model(|| {
            let core = core(2, 2);
            assert!(core.try_acquire());
            assert!(core.try_acquire());
            let waker = futures::task::noop_waker();
            let waiters: Vec<_> = (0..2)
                .map(|_| match core.enqueue(&waker) {
                    Enqueued::Queued(waiter) => waiter,
                    _ => panic!("full: the waiter queues"),
                })
                .collect();
            let releasers: Vec<_> = (0..2)
                .map(|_| {
                    let core = core.clone();
                    loom::thread::spawn(move || core.release())
                })
                .collect();
            for releaser in releasers {
                releaser.join().unwrap();
            }
            for waiter in &waiters {
                assert!(core.poll_granted(waiter, &waker));
            }
            assert_eq!(core.in_flight(), 2);
            assert_eq!(core.waiting(), 0);
        });
    }
}
