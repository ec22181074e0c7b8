//! The closed breaker's hot path does not allocate.
//!
//! A counting global allocator wraps the system one; each test turns counting
//! on for its own thread around the calls it measures, after a warm-up that
//! lets lazily made thread-locals and the like exist.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll};
use std::time::Duration;

use seawall::breaker::{Breaker, BreakerConfig, BreakerConfigBuilder, BreakerService, State};
use seawall::classify::Outcome;
use tower::Service;

#[path = "support/counting_allocator.rs"]
mod counting_allocator;

use counting_allocator::allocations_in;

#[test]
fn the_counter_sees_an_allocation() {
    // Control: without this the tests below could not fail.
    let n = allocations_in(|| drop(std::hint::black_box(Box::new(7u64))));
    assert_eq!(n, 1);
}

/// Configurations whose closed path must not allocate.
fn configs() -> Vec<(&'static str, BreakerConfigBuilder)> {
    let base = || {
        BreakerConfig::builder()
            .name("alloc")
            .count_window(100)
            .minimum_calls(10)
            .failure_rate_threshold(0.5)
    };
    vec![
        ("count window", base()),
        (
            "count window, slow-call detection",
            base().slow_call_duration_threshold(Duration::from_secs(1)),
        ),
        (
            "time window",
            base().time_window(Duration::from_secs(10), 10),
        ),
        ("consecutive failures", base().consecutive_failures(5)),
    ]
}

/// One call in ten fails: well below the threshold, with failures both in and
/// out of the window's ring.
fn outcome(i: u32) -> Outcome {
    if i.is_multiple_of(10) {
        Outcome::Failure
    } else {
        Outcome::Success
    }
}

#[test]
fn acquire_and_record_do_not_allocate_when_closed() {
    for (what, config) in configs() {
        let breaker = Breaker::new(config.build().unwrap());
        // Warm-up: past the window's size, so the ring has wrapped.
        for i in 0..300 {
            breaker.try_acquire().unwrap().record(outcome(i));
        }
        let n = allocations_in(|| {
            for i in 0..3000 {
                breaker.try_acquire().unwrap().record(outcome(i));
            }
        });
        assert_eq!(n, 0, "{what}: allocations in 3000 calls");
        let n = allocations_in(|| {
            for _ in 0..100 {
                breaker.try_acquire().unwrap().success();
            }
        });
        assert_eq!(n, 0, "{what}: allocations in 100 successes");
        assert_eq!(breaker.state(), State::Closed, "{what}");
        let rate = breaker.metrics().failure_rate.expect("the window is full");
        assert!(rate <= 0.1, "{what}: failure rate {rate}");
    }
}

#[test]
fn a_dropped_permit_does_not_allocate() {
    let breaker = Breaker::new(BreakerConfig::default());
    drop(breaker.try_acquire().unwrap());
    let n = allocations_in(|| {
        for _ in 0..100 {
            drop(breaker.try_acquire().unwrap());
        }
    });
    assert_eq!(n, 0);
}

/// A zero-sized error: boxing it into a `BoxError` does not allocate, so any
/// allocation seen is the breaker's.
#[derive(Debug)]
struct Refused;

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("refused")
    }
}

impl std::error::Error for Refused {}

/// A service that answers at once: even requests succeed, odd ones (when
/// asked to) fail.
#[derive(Clone, Debug)]
struct Immediate;

impl Service<u32> for Immediate {
    type Response = u32;
    type Error = Refused;
    type Future = std::future::Ready<Result<u32, Refused>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Refused>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: u32) -> Self::Future {
        std::future::ready(match outcome(request) {
            Outcome::Failure => Err(Refused),
            _ => Ok(request),
        })
    }
}

/// One call through `service`, polled by hand.
fn call(service: &mut BreakerService<Immediate>, cx: &mut Context<'_>, request: u32) {
    match service.poll_ready(cx) {
        Poll::Ready(Ok(())) => {}
        other => panic!("not ready: {other:?}"),
    }
    let future = pin!(service.call(request));
    match future.poll(cx) {
        Poll::Ready(Ok(response)) => assert_eq!(response, request),
        Poll::Ready(Err(err)) => assert!(err.is::<Refused>()),
        Poll::Pending => panic!("an immediate service is never pending"),
    }
}

#[test]
fn the_tower_service_does_not_allocate_when_closed() {
    let waker = futures::task::noop_waker();
    let mut cx = Context::from_waker(&waker);
    for (what, config) in configs() {
        let breaker = Breaker::new(config.build().unwrap());
        let mut service = BreakerService::new(Immediate, breaker.clone());
        for i in 0..300 {
            call(&mut service, &mut cx, i);
        }
        let n = allocations_in(|| {
            for i in 0..3000 {
                call(&mut service, &mut cx, i);
            }
        });
        assert_eq!(n, 0, "{what}: allocations in 3000 calls through tower");
        assert_eq!(breaker.state(), State::Closed, "{what}");
        let rate = breaker.metrics().failure_rate.expect("the window is full");
        assert!(rate <= 0.1, "{what}: failure rate {rate}");
    }
}

/// Switched off, the chaos layer adds no allocation to a call; switched on,
/// neither does picking no fault or injecting the zero-sized `InjectedFault`.
#[cfg(feature = "chaos")]
#[test]
fn the_chaos_layer_does_not_allocate_unless_it_delays() {
    use seawall::chaos::{Chaos, ChaosConfig, ChaosService, Fault};

    let waker = futures::task::noop_waker();
    let mut cx = Context::from_waker(&waker);
    let chaos = Chaos::new(
        ChaosConfig::builder()
            .fault(Fault::error(0.5))
            .enabled(false)
            .build()
            .unwrap(),
    );
    // Requests that are not multiples of ten only: `Immediate` then always
    // succeeds, so every error seen is injected.
    let mut service = ChaosService::new(Immediate, chaos.clone());
    let mut one_call = |request: u32| -> bool {
        assert!(matches!(service.poll_ready(&mut cx), Poll::Ready(Ok(()))));
        let request = request * 10 + 1;
        let future = pin!(service.call(request));
        match future.poll(&mut cx) {
            Poll::Ready(Ok(response)) => {
                assert_eq!(response, request);
                false
            }
            Poll::Ready(Err(err)) => {
                assert!(err.is::<seawall::chaos::error::InjectedFault>());
                true
            }
            Poll::Pending => panic!("no delay was configured"),
        }
    };
    for i in 0..300 {
        one_call(i);
    }
    let mut injected = 0;
    let off = allocations_in(|| {
        for i in 0..3000 {
            injected += u32::from(one_call(i));
        }
    });
    assert_eq!((off, injected), (0, 0), "switched off");
    chaos.enable();
    let on = allocations_in(|| {
        for i in 0..3000 {
            injected += u32::from(one_call(i));
        }
    });
    assert_eq!(on, 0, "switched on");
    assert!(
        (1200..1800).contains(&injected),
        "{injected} of 3000 injected"
    );
}
