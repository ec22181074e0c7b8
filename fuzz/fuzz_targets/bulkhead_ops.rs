//! A bulkhead built from arbitrary values, then driven by random operations
//! against a plain model: a counter of taken slots and a first-come,
//! first-served queue of waiters.
//!
//! Any value in the builder gives an error naming the field or a working
//! bulkhead. Operations take slots without waiting, start waiting acquisitions
//! (polled once by hand), poll and drop waiters, drop slots and move a paused
//! clock past waiters' deadlines; after every step `in_flight`, `waiting` and
//! `rejected` must equal the model's. Clock moves are whole seconds and the
//! wait is 10.5 s, so no step lands on a deadline, where the timer's
//! millisecond rounding would decide.
#![no_main]

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use seawall::bulkhead::future::Acquire;
use seawall::bulkhead::{Bulkhead, BulkheadConfig, BulkheadPermit};

#[derive(Arbitrary, Debug)]
struct Config {
    max_concurrent: u32,
    wait: Option<(u32, u64, u32)>,
}

#[derive(Arbitrary, Debug)]
enum Op {
    TryAcquire,
    Acquire,
    PollWaiter(u8),
    DropWaiter(u8),
    Release(u8),
    Advance(u8),
}

/// How long a waiter may wait, in milliseconds.
const MAX_WAIT_MS: u64 = 10_500;

/// The specification, sequentially.
#[derive(Debug, Default)]
struct Model {
    max: u32,
    max_waiting: u32,
    in_flight: u32,
    /// Milliseconds since the input started.
    now: u64,
    /// Waiter ids in arrival order, with their deadlines.
    queue: VecDeque<(u64, u64)>,
    /// Waiters handed a slot they have not collected yet.
    granted: Vec<u64>,
    rejected: u64,
}

impl Model {
    fn take(&mut self) -> bool {
        // Never ahead of the queue.
        if self.queue.is_empty() && self.in_flight < self.max {
            self.in_flight += 1;
            true
        } else {
            false
        }
    }

    fn release(&mut self) {
        self.in_flight -= 1;
        while self.in_flight < self.max {
            let Some((first, _)) = self.queue.pop_front() else {
                break;
            };
            self.in_flight += 1;
            self.granted.push(first);
        }
    }
}

/// A runtime with a paused clock for the waiters' timers; driven only to move
/// the clock.
fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .expect("a runtime")
    })
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let Ok(config) = Config::arbitrary(&mut u) else {
        return;
    };
    let mut builder = BulkheadConfig::builder().max_concurrent_calls(config.max_concurrent);
    if let Some((max_waiting, secs, nanos)) = config.wait {
        builder = builder.wait_for_slot(max_waiting, Duration::new(secs, nanos % 1_000_000_000));
    }
    let config = match builder.build() {
        Ok(config) => config,
        Err(err) => {
            assert!(!err.field().is_empty());
            assert!(err.to_string().contains(err.field()));
            return;
        }
    };
    // Small bulkheads fill up; large ones only show that nothing overflows.
    let max = config.max_concurrent_calls().min(16);
    let max_waiting = config.max_waiting().min(16);
    let mut builder = BulkheadConfig::builder().max_concurrent_calls(max);
    if config.max_waiting() > 0 {
        builder = builder.wait_for_slot(max_waiting, Duration::from_millis(MAX_WAIT_MS));
    }
    let bulkhead = Bulkhead::new(builder.build().expect("a valid config"));
    let mut model = Model {
        max,
        max_waiting,
        ..Model::default()
    };

    let _runtime = runtime().enter();
    let mut cx = Context::from_waker(Waker::noop());
    let mut permits: Vec<BulkheadPermit> = Vec::new();
    let mut waiters: Vec<(u64, Pin<Box<Acquire>>)> = Vec::new();
    let mut next_id = 0;
    let mut steps = 0;
    while let Ok(op) = Op::arbitrary(&mut u) {
        steps += 1;
        if steps > 500 {
            break;
        }
        match op {
            Op::TryAcquire => {
                let real = bulkhead.try_acquire();
                let expected = model.take();
                assert_eq!(real.is_ok(), expected, "try_acquire, model {model:?}");
                match real {
                    Ok(permit) => permits.push(permit),
                    Err(_) => model.rejected += 1,
                }
            }
            Op::Acquire => {
                let mut acquire = Box::pin(bulkhead.acquire());
                let polled = acquire.as_mut().poll(&mut cx);
                let id = next_id;
                next_id += 1;
                let expected = if model.take() {
                    "acquired"
                } else if model.max_waiting > 0 && (model.queue.len() as u32) < model.max_waiting {
                    model.queue.push_back((id, model.now + MAX_WAIT_MS));
                    "waiting"
                } else {
                    model.rejected += 1;
                    "refused"
                };
                let real = match polled {
                    Poll::Ready(Ok(permit)) => {
                        permits.push(permit);
                        "acquired"
                    }
                    Poll::Ready(Err(_)) => "refused",
                    Poll::Pending => {
                        waiters.push((id, acquire));
                        "waiting"
                    }
                };
                assert_eq!(real, expected, "acquire, model {model:?}");
            }
            Op::PollWaiter(pick) if !waiters.is_empty() => {
                let index = usize::from(pick) % waiters.len();
                let id = waiters[index].0;
                let polled = waiters[index].1.as_mut().poll(&mut cx);
                let granted = model.granted.iter().position(|&g| g == id);
                let queued = model.queue.iter().position(|&(q, _)| q == id);
                // A slot handed over counts, however late the waiter comes for it.
                let expired = granted.is_none()
                    && queued.is_some_and(|position| model.queue[position].1 <= model.now);
                match (polled, granted) {
                    (Poll::Ready(Ok(permit)), Some(position)) => {
                        model.granted.swap_remove(position);
                        drop(waiters.swap_remove(index));
                        permits.push(permit);
                    }
                    (Poll::Ready(Err(_)), None) if expired => {
                        model.queue.remove(queued.expect("queued"));
                        model.rejected += 1;
                        drop(waiters.swap_remove(index));
                    }
                    (Poll::Pending, None) if !expired => {}
                    (polled, granted) => panic!(
                        "waiter {id}: polled {:?}, model granted {granted:?}, model {model:?}",
                        polled.map(|r| r.is_ok())
                    ),
                }
            }
            Op::DropWaiter(pick) if !waiters.is_empty() => {
                let (id, waiter) = waiters.swap_remove(usize::from(pick) % waiters.len());
                drop(waiter);
                if let Some(position) = model.granted.iter().position(|&g| g == id) {
                    // Handed a slot it never used: passed on.
                    model.granted.swap_remove(position);
                    model.release();
                } else {
                    let position = model
                        .queue
                        .iter()
                        .position(|&(q, _)| q == id)
                        .expect("queued");
                    model.queue.remove(position);
                }
            }
            Op::Release(pick) if !permits.is_empty() => {
                drop(permits.swap_remove(usize::from(pick) % permits.len()));
                model.release();
            }
            Op::Advance(seconds) => {
                let seconds = 1 + u64::from(seconds % 12);
                runtime().block_on(tokio::time::advance(Duration::from_secs(seconds)));
                model.now += seconds * 1_000;
            }
            Op::PollWaiter(_) | Op::DropWaiter(_) | Op::Release(_) => {}
        }
        assert_eq!(
            bulkhead.in_flight(),
            model.in_flight,
            "in_flight, model {model:?}"
        );
        assert_eq!(
            bulkhead.waiting() as usize,
            model.queue.len(),
            "waiting, model {model:?}"
        );
        assert_eq!(
            bulkhead.rejected(),
            model.rejected,
            "rejected, model {model:?}"
        );
    }
    drop(waiters);
    drop(permits);
    assert_eq!(bulkhead.in_flight(), 0, "every slot came back");
    assert_eq!(bulkhead.waiting(), 0, "nobody is left waiting");
});
