//! loom models of the bulkhead's slot hand-over (see `slots.rs`).
//!
//! Run with `RUSTFLAGS="--cfg loom" cargo test --release --lib loom`.

use std::time::Duration;

use crate::sync::Arc;

use super::config::BulkheadConfig;
use super::slots::{AcquireOrQueue, BulkheadCore, LeftQueue};

fn core(max: u32, waiters: u32) -> Arc<BulkheadCore> {
    let config = BulkheadConfig::builder()
        .max_concurrent_calls(max)
        .wait_for_slot(waiters, Duration::from_secs(1))
        .build()
        .expect("valid config");
    Arc::new(BulkheadCore::new(config))
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
        let queued = match core.acquire_or_queue(&waker) {
            AcquireOrQueue::Acquired => None,
            AcquireOrQueue::Queued(waiter) => Some(waiter),
            AcquireOrQueue::QueueFull => panic!("the queue has room"),
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
        let AcquireOrQueue::Queued(waiter) = core.acquire_or_queue(&waker) else {
            panic!("full: the waiter queues");
        };
        let releaser = {
            let core = core.clone();
            loom::thread::spawn(move || core.release())
        };
        let left = core.leave_queue(&waiter);
        releaser.join().unwrap();
        let expected = u64::from(left == LeftQueue::WithSlot);
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
            .map(|_| match core.acquire_or_queue(&waker) {
                AcquireOrQueue::Queued(waiter) => waiter,
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
