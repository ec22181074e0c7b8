//! Panic and cancellation safety: whatever unwinds or is dropped half-way, the
//! shared state stays usable and its counts stay true.
//!
//! Every test ends the same way: the breaker is in the state its recorded
//! outcomes say, every half-open probe slot can be taken again, the bulkhead
//! has no slot taken and nobody waiting. A leaked probe permit would leave a
//! half-open breaker refusing probes forever; a leaked bulkhead slot would
//! shrink the bulkhead for good; a lock held across a panic would deadlock the
//! next caller (seawall's locks do not poison, so a deadlock or a wrong count
//! is what a bug would look like here).

#![cfg(all(feature = "fallback", feature = "bulkhead"))]

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::FutureExt;
use seawall::breaker::BreakerEvent;
use seawall::breaker::{
    Breaker, BreakerConfig, BreakerLayer, BreakerService, KeyedBreaker, OpenWait, State,
};
use seawall::bulkhead::{Bulkhead, BulkheadConfig, BulkheadEvent, BulkheadLayer, BulkheadService};
use seawall::classify::Outcome;
use seawall::fallback::{FallbackEvent, FallbackLayer, FallbackOn};
use seawall::BoxError;
use tokio_test::{assert_pending, assert_ready, assert_ready_ok};
use tower::{Service, ServiceBuilder, ServiceExt};
use tower_test::mock;

const OPEN_WAIT: Duration = Duration::from_secs(10);
const PROBES: u32 = 2;

/// A window of 4 calls, open at half of them failing, 2 half-open probes.
fn breaker() -> Breaker {
    Breaker::new(
        BreakerConfig::builder()
            .name("faults")
            .count_window(4)
            .minimum_calls(4)
            .failure_rate_threshold(0.5)
            .open_wait(OpenWait::fixed(OPEN_WAIT))
            .permitted_calls_in_half_open(PROBES)
            .build()
            .expect("a valid config"),
    )
}

/// Trips `breaker`, waits out its open wait and lets an admission check move
/// it to half-open, with all its probe slots free.
async fn half_open(breaker: &Breaker) {
    for _ in 0..4 {
        breaker.try_acquire().expect("closed").failure();
    }
    assert_eq!(breaker.state(), State::Open);
    tokio::time::advance(OPEN_WAIT + Duration::from_millis(1)).await;
    assert_probes_free(breaker, PROBES);
}

/// Exactly `free` probe slots can be taken now, and are given back unused.
fn assert_probes_free(breaker: &Breaker, free: u32) {
    let permits: Vec<_> = (0..free)
        .map(|i| {
            breaker
                .try_acquire()
                .unwrap_or_else(|_| panic!("probe {i} of {free} refused: a slot leaked"))
        })
        .collect();
    assert_eq!(breaker.state(), State::HalfOpen);
    assert!(
        breaker.try_acquire().is_err(),
        "more than {free} probes admitted"
    );
    drop(permits); // Ignored: the slots come back.
}

/// The half-open breaker is not wedged: its probes still decide. Both succeed
/// and it closes.
fn assert_probes_close(breaker: &Breaker) {
    for _ in 0..PROBES {
        breaker.try_acquire().expect("a probe").success();
    }
    assert_eq!(breaker.state(), State::Closed);
}

fn bulkhead(max: u32) -> Bulkhead {
    Bulkhead::new(
        BulkheadConfig::builder()
            .name("faults")
            .max_concurrent_calls(max)
            .wait_for_slot(4, Duration::from_secs(60))
            .build()
            .expect("a valid config"),
    )
}

fn assert_bulkhead_idle(bulkhead: &Bulkhead) {
    assert_eq!(bulkhead.in_flight(), 0, "a bulkhead slot leaked");
    assert_eq!(bulkhead.waiting(), 0, "a waiter was left in the queue");
}

// ---------------------------------------------------------------------------
// A service that panics where it is told to
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq)]
enum PanicIn {
    PollReady,
    Call,
    Future,
    Nowhere,
}

#[derive(Clone, Debug)]
struct Panicky {
    at: PanicIn,
}

impl Service<&'static str> for Panicky {
    type Response = &'static str;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<&'static str, BoxError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        assert_ne!(self.at, PanicIn::PollReady, "inner poll_ready panics");
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: &'static str) -> Self::Future {
        assert_ne!(self.at, PanicIn::Call, "inner call panics");
        let at = self.at;
        Box::pin(async move {
            tokio::task::yield_now().await; // Pending once, as a real call would be.
            assert_ne!(at, PanicIn::Future, "inner future panics");
            Ok("ok")
        })
    }
}

/// Runs one call through `service`, expecting it to panic somewhere.
async fn call_panics<S>(service: &mut S)
where
    S: Service<&'static str>,
{
    let unwound = AssertUnwindSafe(async {
        let _ = service.ready().await;
        let _ = service.call("req").await;
    })
    .catch_unwind()
    .await;
    assert!(unwound.is_err(), "the call was expected to panic");
}

// ---------------------------------------------------------------------------
// Panics
// ---------------------------------------------------------------------------

/// A probe whose inner service panics — in its future, in `call` or in
/// `poll_ready` — counts as ignored and hands its slot back, however often it
/// happens; the probes after it still decide.
#[tokio::test(start_paused = true)]
async fn a_panicking_inner_service_never_leaks_a_probe() {
    for at in [PanicIn::Future, PanicIn::Call, PanicIn::PollReady] {
        let breaker = breaker();
        half_open(&breaker).await;
        for _ in 0..PROBES + 1 {
            // A service dropped after a panic, as a panicking task drops its own.
            let mut service = BreakerService::new(Panicky { at }, breaker.clone());
            call_panics(&mut service).await;
        }
        assert_eq!(breaker.state(), State::HalfOpen, "{at:?}");
        assert_eq!(
            breaker.metrics().calls,
            0,
            "{at:?}: a panic counts as ignored"
        );
        assert_probes_free(&breaker, PROBES);
        assert_probes_close(&breaker);
    }
}

/// `poll_ready` panicking in a service that is kept (the caller caught the
/// panic): half-open, `poll_ready` only looked for a free probe slot, so the
/// kept service holds none, and it serves again.
#[tokio::test(start_paused = true)]
async fn a_kept_service_holds_no_probe_slot_after_a_panic() {
    let breaker = breaker();
    half_open(&breaker).await;
    let mut service = BreakerService::new(
        Panicky {
            at: PanicIn::PollReady,
        },
        breaker.clone(),
    );
    call_panics(&mut service).await;
    assert_probes_free(&breaker, PROBES);
    // A panic did not corrupt the service: it serves again.
    service.get_mut().at = PanicIn::Nowhere;
    assert_eq!(
        service.ready().await.unwrap().call("req").await.unwrap(),
        "ok"
    );
    assert_eq!(breaker.metrics().calls, 1);
    drop(service);
    assert_probes_free(&breaker, PROBES - 1);
}

/// A panicking inner service behind a bulkhead gives its slot back, to a
/// caller waiting for it where there is one.
#[tokio::test(start_paused = true)]
async fn a_panicking_inner_service_never_leaks_a_bulkhead_slot() {
    for at in [PanicIn::Future, PanicIn::Call, PanicIn::PollReady] {
        let bulkhead = bulkhead(1);
        let mut service = BulkheadService::new(Panicky { at }, bulkhead.clone());
        let mut waiter = None;
        let unwound = match at {
            PanicIn::Future => {
                let call = service.ready().await.unwrap().call("req");
                let mut queued = tokio_test::task::spawn(bulkhead.acquire());
                assert_pending!(queued.poll());
                waiter = Some(queued);
                AssertUnwindSafe(call).catch_unwind().await.map(drop)
            }
            PanicIn::Call => {
                service.ready().await.unwrap();
                let mut queued = tokio_test::task::spawn(bulkhead.acquire());
                assert_pending!(queued.poll());
                waiter = Some(queued);
                std::panic::catch_unwind(AssertUnwindSafe(|| drop(service.call("req"))))
            }
            _ => {
                // The slot is the kept service's reservation until it goes.
                call_panics(&mut service).await;
                assert_eq!(bulkhead.in_flight(), 1);
                service = BulkheadService::new(Panicky { at }, bulkhead.clone());
                Err(Box::new(()) as Box<dyn std::any::Any + Send>)
            }
        };
        assert!(unwound.is_err(), "{at:?}: the call panics");
        if let Some(mut waiter) = waiter {
            assert!(waiter.is_woken(), "{at:?}: the slot is handed over");
            drop(assert_ready_ok!(waiter.poll()));
        }
        drop(service);
        assert_bulkhead_idle(&bulkhead);
        assert_eq!(bulkhead.rejected(), 0, "{at:?}");
        let _permit = bulkhead.try_acquire().expect("the slot came back");
    }
}

/// A classifier that panics on a result: the call counts as ignored, the probe
/// slot comes back, the window is untouched.
#[tokio::test(start_paused = true)]
async fn a_panicking_classifier_counts_as_ignored() {
    let breaker = breaker();
    let classify = |result: &Result<&'static str, BoxError>| -> Outcome {
        assert!(result.is_err(), "the classifier panics on a success");
        Outcome::Failure
    };
    let (inner, mut handle) = mock::pair::<&'static str, &'static str>();
    let mut service = BreakerService::with_classifier(inner, breaker.clone(), classify);

    // Closed: a panic in classification leaves the window as it was.
    handle.allow(10);
    let respond = tokio::spawn(async move {
        while let Some((_, reply)) = handle.next_request().await {
            reply.send_response("ok");
        }
    });
    for _ in 0..3 {
        let call = service.ready().await.unwrap().call("req");
        assert!(AssertUnwindSafe(call).catch_unwind().await.is_err());
    }
    assert_eq!(breaker.state(), State::Closed);
    assert_eq!(breaker.metrics().calls, 0);

    // Half-open: `Breaker::call_with` the same way.
    half_open(&breaker).await;
    for _ in 0..PROBES + 1 {
        let call = breaker.call_with(classify, async { Ok::<_, BoxError>("ok") });
        assert!(AssertUnwindSafe(call).catch_unwind().await.is_err());
    }
    assert_eq!(breaker.metrics().calls, 0);
    assert_probes_free(&breaker, PROBES);
    assert_probes_close(&breaker);
    respond.abort();
}

/// Listeners that panic on every event, on the breaker, the bulkhead and the
/// fallback: the panics are caught, every layer does its work, and the
/// listeners registered beside them still hear every event.
#[tokio::test(start_paused = true)]
async fn panicking_listeners_disturb_nothing() {
    let breaker = breaker();
    let bulkhead = bulkhead(1);
    let heard = Arc::new(AtomicUsize::new(0));
    breaker.on_event(|_: &BreakerEvent<'_>| panic!("breaker listener panics"));
    breaker.on_state_transition(|_: &BreakerEvent<'_>| panic!("transition listener panics"));
    bulkhead.on_event(|_: &BulkheadEvent<'_>| panic!("bulkhead listener panics"));
    let counter = heard.clone();
    breaker.on_state_transition(move |_: &BreakerEvent<'_>| {
        counter.fetch_add(1, Ordering::Relaxed);
    });
    let fallbacks = Arc::new(AtomicUsize::new(0));
    let counter = fallbacks.clone();
    let (inner, mut handle) = mock::pair::<&'static str, &'static str>();
    let mut service = ServiceBuilder::new()
        .layer(
            FallbackLayer::value("degraded")
                .on(FallbackOn::default().any_error())
                .on_event(|_: &FallbackEvent<'_>| panic!("fallback listener panics"))
                .on_event(move |_: &FallbackEvent<'_>| {
                    counter.fetch_add(1, Ordering::Relaxed);
                }),
        )
        .layer(BreakerLayer::new(breaker.clone()))
        .layer(BulkheadLayer::new(bulkhead.clone()))
        .service(inner);
    handle.allow(100);
    tokio::spawn(async move {
        while let Some((_, reply)) = handle.next_request().await {
            reply.send_error("down");
        }
    });

    for _ in 0..4 {
        let answer = service.ready().await.unwrap().call("req").await.unwrap();
        assert_eq!(answer, "degraded");
    }
    assert_eq!(breaker.state(), State::Open, "failures still trip it");
    let answer = service.ready().await.unwrap().call("req").await.unwrap();
    assert_eq!(answer, "degraded", "an open breaker is covered too");
    assert_eq!(breaker.metrics().not_permitted_calls, 1);
    assert_eq!(fallbacks.load(Ordering::Relaxed), 5);

    // A full bulkhead that cannot wait rejects, and its panicking listener hears it.
    let strict = Bulkhead::new(
        BulkheadConfig::builder()
            .max_concurrent_calls(1)
            .build()
            .unwrap(),
    );
    strict.on_event(|_: &BulkheadEvent<'_>| panic!("bulkhead listener panics"));
    let _held = strict.try_acquire().unwrap();
    assert!(strict.try_acquire().is_err());
    assert_eq!(strict.rejected(), 1);

    tokio::time::advance(OPEN_WAIT + Duration::from_millis(1)).await;
    assert_probes_free(&breaker, PROBES);
    assert_probes_close(&breaker);
    // Closed -> open -> half-open -> closed, each heard beside the panicking ones.
    assert_eq!(heard.load(Ordering::Relaxed), 3);
    assert_bulkhead_idle(&bulkhead);
}

/// The eager half-open timer runs in a task of its own; a transition listener
/// panicking there neither kills the transition nor the timer's later work.
#[tokio::test(start_paused = true)]
async fn a_panicking_listener_does_not_stop_the_eager_timer() {
    let breaker = Breaker::new(
        BreakerConfig::builder()
            .count_window(1)
            .minimum_calls(1)
            .open_wait(OpenWait::fixed(OPEN_WAIT))
            .permitted_calls_in_half_open(1)
            .eager_half_open(true)
            .build()
            .unwrap(),
    );
    breaker.on_state_transition(|_: &BreakerEvent<'_>| panic!("transition listener panics"));
    for _ in 0..2 {
        breaker.try_acquire().unwrap().failure();
        assert_eq!(breaker.state(), State::Open);
        tokio::time::advance(OPEN_WAIT).await;
        for _ in 0..4 {
            tokio::task::yield_now().await;
        }
        assert_eq!(breaker.state(), State::HalfOpen, "moved by the timer");
        breaker.try_acquire().unwrap().success();
        assert_eq!(breaker.state(), State::Closed);
    }
}

/// A key whose `Display` panics while the keyed breaker makes its breaker
/// (under the map's lock): the lock is released, the map stays whole, and
/// other keys and later calls are served.
#[tokio::test(start_paused = true)]
async fn a_panicking_key_leaves_a_keyed_breaker_usable() {
    #[derive(Clone, Debug, PartialEq, Eq, Hash)]
    struct Host(&'static str);
    impl std::fmt::Display for Host {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            assert_ne!(self.0, "bad", "a key that cannot be named");
            f.write_str(self.0)
        }
    }
    // Labelled per key, so that each new key's name is written.
    let keyed = KeyedBreaker::with_key_labels(BreakerConfig::default(), 2).unwrap();
    keyed.get(&Host("a")).try_acquire().unwrap().success();
    for _ in 0..2 {
        let unwound = std::panic::catch_unwind(AssertUnwindSafe(|| keyed.get(&Host("bad"))));
        assert!(unwound.is_err());
    }
    assert_eq!(keyed.len(), 1, "nothing half-inserted");
    assert!(keyed.peek(&Host("bad")).is_none());
    keyed.get(&Host("b")).try_acquire().unwrap().failure();
    assert_eq!(keyed.len(), 2);
    assert_eq!(keyed.get(&Host("a")).metrics().calls, 1);
    assert_eq!(keyed.get(&Host("b")).metrics().failed_calls, 1);
}

/// A fallback closure that panics: the breaker below it has already counted
/// the failure it covers for, the bulkhead slot is back, and the next call's
/// fallback works.
#[tokio::test(start_paused = true)]
async fn a_panicking_fallback_poisons_nothing() {
    let breaker = breaker();
    let bulkhead = bulkhead(1);
    let panicked = Arc::new(AtomicBool::new(false));
    let once = panicked.clone();
    let (inner, mut handle) = mock::pair::<&'static str, &'static str>();
    let mut service = ServiceBuilder::new()
        .layer(
            FallbackLayer::with_fn(move |_err| {
                let first = !once.swap(true, Ordering::Relaxed);
                assert!(!first, "the first fallback panics");
                async { Ok::<_, BoxError>("degraded") }
            })
            .on(FallbackOn::default().any_error()),
        )
        .layer(BreakerLayer::new(breaker.clone()))
        .layer(BulkheadLayer::new(bulkhead.clone()))
        .service(inner);
    handle.allow(100);
    tokio::spawn(async move {
        while let Some((_, reply)) = handle.next_request().await {
            reply.send_error("down");
        }
    });

    let call = service.ready().await.unwrap().call("req");
    assert!(AssertUnwindSafe(call).catch_unwind().await.is_err());
    assert!(panicked.load(Ordering::Relaxed));
    let metrics = breaker.metrics();
    assert_eq!((metrics.calls, metrics.failed_calls), (1, 1));
    assert_bulkhead_idle(&bulkhead);

    let answer = service.ready().await.unwrap().call("req").await.unwrap();
    assert_eq!(answer, "degraded");
    assert_eq!(breaker.metrics().failed_calls, 2);
    assert_bulkhead_idle(&bulkhead);
}

// ---------------------------------------------------------------------------
// Cancellation at every await point
// ---------------------------------------------------------------------------

/// Where a call through fallback -> breaker -> bulkhead -> mock is when its
/// future is dropped.
#[derive(Clone, Copy, Debug)]
enum Stage {
    /// Created, never polled.
    Unpolled,
    /// Admitted by the breaker, waiting in the bulkhead's queue.
    WaitingForSlot,
    /// Holding a probe and a slot, the inner service not ready.
    InnerNotReady,
    /// Sent to the inner service, waiting for its answer.
    AwaitingResponse,
    /// The inner service failed; the fallback's own future is pending.
    InFallback,
}

/// A call stepped to `stage` with the breaker half-open, then dropped: the
/// counts are as if the call had never been made (or, once the inner service
/// answered, as if it had been recorded), and nothing stays reserved.
#[tokio::test(start_paused = true)]
async fn a_call_dropped_at_any_stage_leaves_consistent_counts() {
    for stage in [
        Stage::Unpolled,
        Stage::WaitingForSlot,
        Stage::InnerNotReady,
        Stage::AwaitingResponse,
        Stage::InFallback,
    ] {
        let breaker = breaker();
        let bulkhead = bulkhead(1);
        let (inner, mut handle) = mock::pair::<&'static str, &'static str>();
        let (release, released) = tokio::sync::oneshot::channel::<()>();
        let released = Arc::new(tokio::sync::Mutex::new(Some(released)));
        let stack = ServiceBuilder::new()
            .layer(
                FallbackLayer::with_fn(move |_err| {
                    let released = released.clone();
                    async move {
                        // The fallback waits (as a cache lookup would) until released.
                        if let Some(rx) = released.lock().await.take() {
                            let _ = rx.await;
                        }
                        Ok::<_, BoxError>("degraded")
                    }
                })
                .on(FallbackOn::default().any_error()),
            )
            .layer(BreakerLayer::new(breaker.clone()))
            .layer(BulkheadLayer::new(bulkhead.clone()))
            .service(inner);
        half_open(&breaker).await;

        let mut kept_reply = None;
        let blocker = match stage {
            Stage::WaitingForSlot => Some(bulkhead.try_acquire().expect("a free slot")),
            _ => None,
        };
        handle.allow(match stage {
            Stage::InnerNotReady => 0,
            _ => 1,
        });
        let mut call = tokio_test::task::spawn(stack.oneshot("req"));
        match stage {
            Stage::Unpolled => {}
            Stage::WaitingForSlot => {
                assert_pending!(call.poll());
                assert_eq!(bulkhead.waiting(), 1);
            }
            Stage::InnerNotReady => {
                assert_pending!(call.poll());
                assert_eq!(bulkhead.in_flight(), 1);
            }
            Stage::AwaitingResponse => {
                assert_pending!(call.poll());
                let (_, reply) = handle.next_request().await.expect("the call arrives");
                assert_pending!(call.poll());
                kept_reply = Some(reply); // Never answered.
            }
            Stage::InFallback => {
                assert_pending!(call.poll());
                let (_, reply) = handle.next_request().await.expect("the call arrives");
                reply.send_error("down");
                assert_pending!(call.poll(), "the fallback waits");
                assert_eq!(bulkhead.in_flight(), 0, "the slot is back once answered");
            }
        }
        drop(call);
        drop(blocker);
        drop(kept_reply);

        assert_bulkhead_idle(&bulkhead);
        assert_eq!(breaker.state(), State::HalfOpen, "{stage:?}");
        let metrics = breaker.metrics();
        match stage {
            Stage::InFallback => {
                // The probe finished (a failure) before the fallback started.
                assert_eq!((metrics.calls, metrics.failed_calls), (1, 1), "{stage:?}");
                assert_probes_free(&breaker, PROBES - 1);
            }
            _ => {
                assert_eq!(metrics.calls, 0, "{stage:?}: a dropped call is ignored");
                assert_probes_free(&breaker, PROBES);
                assert_probes_close(&breaker);
            }
        }
        drop(release);
    }
}

/// The handles' own futures, dropped at each await point: `Breaker::call`
/// (before the first poll, and while its future is pending) and
/// `Bulkhead::call` and `acquire` (while waiting for a slot, and while the
/// call holding one is pending).
#[tokio::test(start_paused = true)]
async fn handle_futures_dropped_at_any_stage_release_everything() {
    let breaker = breaker();
    half_open(&breaker).await;
    let never = std::future::pending::<Result<(), BoxError>>;

    drop(breaker.call(never()));
    let mut pending = tokio_test::task::spawn(breaker.call(never()));
    assert_pending!(pending.poll());
    assert_probes_free(&breaker, PROBES - 1);
    drop(pending);
    assert_probes_free(&breaker, PROBES);
    assert_eq!(breaker.metrics().calls, 0);

    let bulkhead = bulkhead(1);
    let mut holding = tokio_test::task::spawn(bulkhead.call(never()));
    assert_pending!(holding.poll());
    assert_eq!(bulkhead.in_flight(), 1);
    let mut waiting = tokio_test::task::spawn(bulkhead.call(never()));
    assert_pending!(waiting.poll());
    let mut acquiring = tokio_test::task::spawn(bulkhead.acquire());
    assert_pending!(acquiring.poll());
    assert_eq!(bulkhead.waiting(), 2);
    // The holder goes: its slot is handed to the first waiter, which is then
    // dropped before it ever runs; the slot passes on to the next.
    drop(holding);
    drop(waiting);
    assert!(acquiring.is_woken());
    let permit = assert_ready_ok!(acquiring.poll());
    assert_eq!(bulkhead.in_flight(), 1);
    drop(permit);
    assert_bulkhead_idle(&bulkhead);

    // A waiter dropped exactly when its wait runs out.
    let holder = bulkhead.try_acquire().unwrap();
    let mut waiting = tokio_test::task::spawn(bulkhead.acquire());
    assert_pending!(waiting.poll());
    tokio::time::advance(Duration::from_secs(60)).await;
    drop(waiting);
    drop(holder);
    assert_bulkhead_idle(&bulkhead);
    let mut late = tokio_test::task::spawn(bulkhead.acquire());
    let _ = assert_ready!(late.poll()).expect("the slot is free");
}

/// The health registry's in-flight count, which the drain waits on: a
/// request that panics (in `call` or in its future) or is dropped unfinished
/// is counted out, so a drain after it finishes at once.
#[cfg(feature = "health")]
#[tokio::test(start_paused = true)]
async fn the_drain_count_survives_panics_and_cancellation() {
    use seawall::health::{HealthRegistry, InFlightLayer};

    let health = HealthRegistry::new();
    for at in [PanicIn::Call, PanicIn::Future] {
        let mut app = ServiceBuilder::new()
            .layer(InFlightLayer::new(health.clone()))
            .service(Panicky { at });
        call_panics(&mut app).await;
        assert_eq!(health.in_flight(), 0, "{at:?}");
    }
    let mut app = ServiceBuilder::new()
        .layer(InFlightLayer::new(health.clone()))
        .service(Panicky {
            at: PanicIn::Nowhere,
        });
    let mut call = tokio_test::task::spawn(app.ready().await.unwrap().call("req"));
    assert_pending!(call.poll());
    assert_eq!(health.in_flight(), 1);
    drop(call);
    assert_eq!(health.in_flight(), 0);
    health
        .drain(Duration::from_millis(1))
        .await
        .expect("nothing is left in flight");
}
