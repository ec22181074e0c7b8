//! The circuit breaker through its public API: the tower service over
//! `tower-test`'s mock, the handle, events, metrics, the keyed breaker,
//! classifiers and configuration. Time is tokio's paused clock throughout.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use seawall::breaker::error::BreakerOpen;
use seawall::breaker::{
    Breaker, BreakerConfig, BreakerLayer, HalfOpenTimeout, KeyedBreaker, KeyedBreakerLayer,
    OpenWait, State,
};
use seawall::classify::{Classify, FailOnError, Outcome};
use seawall::clock::Clock;
use seawall::{BoxError, ErrorKind};
use tokio_test::{assert_pending, assert_ready, assert_ready_err, assert_ready_ok};
use tower::Layer;
use tower_test::mock;

use support::*;

// ---------------------------------------------------------------------------
// Closed -> open
// ---------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn closed_opens_when_the_failure_rate_reaches_the_threshold() {
    let (mut svc, mut handle, breaker) = service(small());
    // S F S S: 1 of 4 failed.
    succeed(&mut svc, &mut handle).await;
    fail(&mut svc, &mut handle).await;
    succeed(&mut svc, &mut handle).await;
    assert_eq!(breaker.state(), State::Closed, "below the minimum of 4");
    succeed(&mut svc, &mut handle).await;
    assert_eq!(breaker.state(), State::Closed, "1 of 4 is below one half");
    // The window slides to F S S F: 2 of 4 is exactly the threshold.
    fail(&mut svc, &mut handle).await;
    assert_eq!(breaker.state(), State::Open);
    let open = rejected(&mut svc, &mut handle);
    assert_eq!(open.retry_after(), Some(OPEN_WAIT));
}

#[tokio::test(start_paused = true)]
async fn a_breaker_tripped_long_after_it_was_built_waits_the_full_open_wait() {
    let (mut svc, mut handle, breaker) = service(small());
    advance(Duration::from_secs(3600)).await;
    trip(&mut svc, &mut handle).await;
    assert_eq!(breaker.metrics().time_until_probe, Some(OPEN_WAIT));
    assert_eq!(
        rejected(&mut svc, &mut handle).retry_after(),
        Some(OPEN_WAIT)
    );
    assert_eq!(breaker.state(), State::Open);
}

#[tokio::test(start_paused = true)]
async fn failures_below_the_minimum_never_trip() {
    let (mut svc, mut handle, breaker) = service(small());
    for _ in 0..3 {
        fail(&mut svc, &mut handle).await;
    }
    assert_eq!(breaker.state(), State::Closed);
    let metrics = breaker.metrics();
    assert_eq!((metrics.calls, metrics.failed_calls), (3, 3));
    assert_eq!(metrics.failure_rate, None, "undefined below the minimum");
    assert_eq!(metrics.slow_call_rate, None);
    fail(&mut svc, &mut handle).await;
    assert_eq!(breaker.state(), State::Open);
}

#[tokio::test(start_paused = true)]
async fn closed_opens_when_the_slow_call_rate_reaches_the_threshold() {
    let threshold = Duration::from_millis(100);
    let (mut svc, mut handle, breaker) = service(
        small()
            .count_window(2)
            .minimum_calls(2)
            .slow_call_duration_threshold(threshold)
            .slow_call_rate_threshold(0.5),
    );
    // Exactly the threshold is not slow.
    let call = start(&mut svc, &mut handle).await;
    advance(threshold).await;
    call.succeed();
    assert_eq!(
        breaker.metrics().slow_calls,
        0,
        "a call of exactly the threshold is not slow"
    );
    assert_eq!(breaker.state(), State::Closed);
    // One millisecond more is.
    let call = start(&mut svc, &mut handle).await;
    advance(threshold + MS).await;
    call.succeed();
    assert_eq!(breaker.state(), State::Open, "1 slow of 2 reaches one half");
    let metrics = breaker.metrics();
    assert_eq!(
        (metrics.calls, metrics.failed_calls, metrics.slow_calls),
        (2, 0, 1),
        "the tripping window stays readable while open"
    );
    assert_eq!(metrics.slow_call_rate, Some(0.5));
    assert_eq!(metrics.failure_rate, Some(0.0));
}

#[tokio::test(start_paused = true)]
async fn a_slow_failure_counts_as_failed_and_as_slow() {
    let threshold = Duration::from_millis(100);
    let (mut svc, mut handle, breaker) = service(
        small()
            .count_window(10)
            .minimum_calls(10)
            .slow_call_duration_threshold(threshold),
    );
    let call = start(&mut svc, &mut handle).await;
    advance(threshold * 2).await;
    call.fail();
    let metrics = breaker.metrics();
    assert_eq!(
        (metrics.calls, metrics.failed_calls, metrics.slow_calls),
        (1, 1, 1)
    );
}

#[tokio::test(start_paused = true)]
async fn consecutive_failures_open_whatever_the_rates() {
    let (mut svc, mut handle, breaker) = service(
        small()
            .count_window(100)
            .minimum_calls(100)
            .consecutive_failures(3),
    );
    fail(&mut svc, &mut handle).await;
    fail(&mut svc, &mut handle).await;
    succeed(&mut svc, &mut handle).await; // ends the run
    fail(&mut svc, &mut handle).await;
    fail(&mut svc, &mut handle).await;
    assert_eq!(breaker.state(), State::Closed, "no run of 3 yet");
    fail(&mut svc, &mut handle).await;
    assert_eq!(breaker.state(), State::Open, "3 in a row");
    let metrics = breaker.metrics();
    assert_eq!((metrics.calls, metrics.failed_calls), (6, 5));
    assert_eq!(
        metrics.failure_rate, None,
        "the rates never reached their minimum"
    );
    assert_eq!(
        rejected(&mut svc, &mut handle).retry_after(),
        Some(OPEN_WAIT)
    );
}

#[tokio::test(start_paused = true)]
async fn ignored_outcomes_do_not_end_a_run_of_failures() {
    let breaker = Breaker::new(
        small()
            .count_window(100)
            .minimum_calls(100)
            .consecutive_failures(2)
            .build()
            .unwrap(),
    );
    breaker.try_acquire().unwrap().failure();
    breaker.try_acquire().unwrap().record(Outcome::Ignored);
    assert_eq!(breaker.state(), State::Closed);
    breaker.try_acquire().unwrap().failure();
    assert_eq!(breaker.state(), State::Open);
}

// ---------------------------------------------------------------------------
// Open -> half-open -> closed / open
// ---------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn open_becomes_half_open_strictly_after_the_wait() {
    let (mut svc, mut handle, breaker) = service(small());
    trip(&mut svc, &mut handle).await;
    advance(OPEN_WAIT - MS).await;
    assert_eq!(rejected(&mut svc, &mut handle).retry_after(), Some(MS));
    advance(MS).await;
    assert_eq!(
        rejected(&mut svc, &mut handle).retry_after(),
        Some(Duration::ZERO),
        "exactly at the end of the wait, still open"
    );
    assert_eq!(breaker.state(), State::Open);
    advance(MS).await;
    assert_eq!(
        breaker.state(),
        State::Open,
        "reading the state never moves it"
    );
    let probe = start(&mut svc, &mut handle).await;
    assert_eq!(breaker.state(), State::HalfOpen);
    probe.succeed();
}

#[tokio::test(start_paused = true)]
async fn half_open_closes_when_the_probes_succeed() {
    let (mut svc, mut handle, breaker) = service(small());
    trip(&mut svc, &mut handle).await;
    advance(OPEN_WAIT + MS).await;
    succeed(&mut svc, &mut handle).await;
    assert_eq!(
        breaker.state(),
        State::HalfOpen,
        "one of two probes decided nothing"
    );
    succeed(&mut svc, &mut handle).await;
    assert_eq!(breaker.state(), State::Closed);
    let metrics = breaker.metrics();
    assert_eq!(
        (metrics.calls, metrics.failed_calls),
        (0, 0),
        "closed starts fresh"
    );
    // The fresh window needs its own four calls to trip again.
    for _ in 0..3 {
        fail(&mut svc, &mut handle).await;
    }
    assert_eq!(breaker.state(), State::Closed);
}

#[tokio::test(start_paused = true)]
async fn half_open_reopens_when_the_probes_fail() {
    let (mut svc, mut handle, breaker) = service(small());
    trip(&mut svc, &mut handle).await;
    advance(OPEN_WAIT + MS).await;
    succeed(&mut svc, &mut handle).await;
    fail(&mut svc, &mut handle).await;
    assert_eq!(
        breaker.state(),
        State::Open,
        "1 of 2 probes failed: one half"
    );
    assert_eq!(
        rejected(&mut svc, &mut handle).retry_after(),
        Some(OPEN_WAIT)
    );
    let metrics = breaker.metrics();
    assert_eq!(
        (metrics.calls, metrics.failed_calls),
        (2, 1),
        "open after half-open shows the probes that tripped it"
    );
}

#[tokio::test(start_paused = true)]
async fn half_open_admits_only_the_permitted_probes() {
    let (mut svc, mut handle, breaker) = service(small());
    trip(&mut svc, &mut handle).await;
    advance(OPEN_WAIT + MS).await;
    let first = start(&mut svc, &mut handle).await;
    let second = start(&mut svc, &mut handle).await;
    let full = rejected(&mut svc, &mut handle);
    assert_eq!(
        full.retry_after(),
        None,
        "half-open and full: no known retry time"
    );
    assert_eq!(breaker.state(), State::HalfOpen);
    first.succeed();
    // A completed probe still uses its slot: the decision needs both.
    rejected(&mut svc, &mut handle);
    second.succeed();
    assert_eq!(breaker.state(), State::Closed);
}

#[tokio::test(start_paused = true)]
async fn open_wait_grows_with_each_reopening_and_resets_on_close() {
    let (mut svc, mut handle, breaker) = service(
        small()
            .permitted_calls_in_half_open(1)
            .open_wait(OpenWait::exponential(
                Duration::from_secs(10),
                2.0,
                Duration::from_secs(60),
            )),
    );
    trip(&mut svc, &mut handle).await;
    let mut waits = Vec::new();
    for _ in 0..4 {
        let wait = rejected(&mut svc, &mut handle).retry_after().unwrap();
        waits.push(wait);
        advance(wait + MS).await;
        fail(&mut svc, &mut handle).await; // the probe fails: open again
        assert_eq!(breaker.state(), State::Open);
    }
    waits.push(rejected(&mut svc, &mut handle).retry_after().unwrap());
    let secs: Vec<u64> = waits.iter().map(Duration::as_secs).collect();
    assert_eq!(secs, [10, 20, 40, 60, 60], "grows by 2 up to the maximum");
    // A successful probe closes the breaker and forgets the reopenings.
    advance(Duration::from_secs(60) + MS).await;
    succeed(&mut svc, &mut handle).await;
    assert_eq!(breaker.state(), State::Closed);
    trip(&mut svc, &mut handle).await;
    assert_eq!(
        rejected(&mut svc, &mut handle).retry_after(),
        Some(Duration::from_secs(10))
    );
}

#[tokio::test(start_paused = true)]
async fn half_open_max_wait_resolves_to_open() {
    let max_wait = Duration::from_secs(5);
    let (mut svc, mut handle, breaker) = service(
        small()
            .permitted_calls_in_half_open(1)
            .max_wait_in_half_open(max_wait, HalfOpenTimeout::Open),
    );
    trip(&mut svc, &mut handle).await;
    advance(OPEN_WAIT + MS).await;
    let probe = start(&mut svc, &mut handle).await;
    advance(max_wait).await;
    rejected(&mut svc, &mut handle);
    assert_eq!(
        breaker.state(),
        State::HalfOpen,
        "exactly at the maximum wait"
    );
    advance(MS).await;
    let open = rejected(&mut svc, &mut handle);
    assert_eq!(breaker.state(), State::Open);
    assert_eq!(open.retry_after(), Some(OPEN_WAIT));
    // The probe answering late belongs to the half-open state that is over.
    probe.succeed();
    assert_eq!(breaker.state(), State::Open);
}

#[tokio::test(start_paused = true)]
async fn half_open_max_wait_resolves_to_close() {
    let max_wait = Duration::from_secs(5);
    let (mut svc, mut handle, breaker) = service(
        small()
            .permitted_calls_in_half_open(1)
            .max_wait_in_half_open(max_wait, HalfOpenTimeout::Close),
    );
    trip(&mut svc, &mut handle).await;
    advance(OPEN_WAIT + MS).await;
    let probe = start(&mut svc, &mut handle).await;
    advance(max_wait + MS).await;
    let call = start(&mut svc, &mut handle).await;
    assert_eq!(breaker.state(), State::Closed);
    // The late probe's failure is not counted in the new closed window.
    probe.fail();
    call.succeed();
    let metrics = breaker.metrics();
    assert_eq!((metrics.calls, metrics.failed_calls), (1, 0));
}

#[tokio::test(start_paused = true)]
async fn eager_half_open_moves_at_the_deadline_without_a_call() {
    let (mut svc, mut handle, breaker) = service(small().eager_half_open(true));
    let seen = events(&breaker);
    trip(&mut svc, &mut handle).await;
    advance(OPEN_WAIT - MS).await;
    assert_eq!(breaker.state(), State::Open);
    advance(MS).await;
    assert_eq!(
        breaker.state(),
        State::HalfOpen,
        "at the deadline, no call made"
    );
    let transitions: Vec<Seen> = drain(&seen)
        .into_iter()
        .filter(|event| matches!(event, Seen::Transition(..)))
        .collect();
    assert_eq!(
        transitions,
        [
            Seen::Transition(State::Closed, State::Open),
            Seen::Transition(State::Open, State::HalfOpen)
        ]
    );
    succeed(&mut svc, &mut handle).await;
    succeed(&mut svc, &mut handle).await;
    assert_eq!(breaker.state(), State::Closed);
}

#[tokio::test(start_paused = true)]
async fn eager_half_open_max_wait_resolves_by_the_timer() {
    let max_wait = Duration::from_secs(5);
    let (mut svc, mut handle, breaker) = service(
        small()
            .eager_half_open(true)
            .max_wait_in_half_open(max_wait, HalfOpenTimeout::Close),
    );
    trip(&mut svc, &mut handle).await;
    advance(OPEN_WAIT).await;
    assert_eq!(breaker.state(), State::HalfOpen);
    advance(max_wait).await;
    assert_eq!(
        breaker.state(),
        State::Closed,
        "no probe came: the timer closed it"
    );
}

#[tokio::test(start_paused = true)]
async fn reset_voids_the_eager_timer() {
    let (mut svc, mut handle, breaker) = service(small().eager_half_open(true));
    trip(&mut svc, &mut handle).await;
    advance(OPEN_WAIT / 2).await;
    breaker.reset();
    trip(&mut svc, &mut handle).await;
    // The first opening's deadline passes: its timer must do nothing.
    advance(OPEN_WAIT / 2).await;
    assert_eq!(
        breaker.state(),
        State::Open,
        "the first timer was voided by reset"
    );
    let open = rejected(&mut svc, &mut handle);
    assert_eq!(open.retry_after(), Some(OPEN_WAIT / 2));
    advance(OPEN_WAIT / 2).await;
    assert_eq!(
        breaker.state(),
        State::HalfOpen,
        "the second timer fires on time"
    );

    // A reset with no new opening: the breaker stays closed past the deadline.
    breaker.force_open();
    breaker.reset();
    trip(&mut svc, &mut handle).await;
    breaker.reset();
    advance(OPEN_WAIT * 2).await;
    assert_eq!(breaker.state(), State::Closed);
}

#[test]
fn eager_half_open_without_a_runtime_still_moves_lazily() {
    let (clock, hand) = Clock::manual();
    let breaker = Breaker::new(small().eager_half_open(true).clock(clock).build().unwrap());
    for _ in 0..4 {
        breaker.try_acquire().unwrap().failure();
    }
    assert_eq!(breaker.state(), State::Open);
    hand.advance(OPEN_WAIT);
    assert!(
        breaker.try_acquire().is_err(),
        "at the deadline, lazily still open"
    );
    hand.advance(MS);
    breaker.try_acquire().unwrap().success();
    assert_eq!(breaker.state(), State::HalfOpen);
}

// ---------------------------------------------------------------------------
// Time window
// ---------------------------------------------------------------------------

fn timed() -> seawall::breaker::BreakerConfigBuilder {
    small()
        .time_window(Duration::from_secs(10), 10)
        .minimum_calls(2)
}

#[tokio::test(start_paused = true)]
async fn time_window_counts_failures_inside_it() {
    let (mut svc, mut handle, breaker) = service(timed());
    fail(&mut svc, &mut handle).await;
    advance(Duration::from_secs(8)).await;
    succeed(&mut svc, &mut handle).await;
    assert_eq!(breaker.state(), State::Open, "1 of 2 within 10 s");
}

#[tokio::test(start_paused = true)]
async fn time_window_forgets_failures_older_than_the_window() {
    let (mut svc, mut handle, breaker) = service(timed());
    fail(&mut svc, &mut handle).await;
    succeed(&mut svc, &mut handle).await;
    assert_eq!(breaker.state(), State::Open, "control: together they trip");

    let (mut svc, mut handle, breaker) = service(timed().failure_rate_threshold(0.6));
    fail(&mut svc, &mut handle).await;
    advance(Duration::from_secs(11)).await;
    succeed(&mut svc, &mut handle).await;
    let metrics = breaker.metrics();
    assert_eq!(
        (metrics.calls, metrics.failed_calls),
        (1, 0),
        "the old failure slid out"
    );
    fail(&mut svc, &mut handle).await;
    assert_eq!(
        breaker.state(),
        State::Closed,
        "1 of 2 after the slide, below 0.6"
    );
    fail(&mut svc, &mut handle).await;
    assert_eq!(breaker.state(), State::Open, "2 of 3");
}

#[tokio::test(start_paused = true)]
async fn time_window_drops_a_failure_by_time_alone() {
    let (mut svc, mut handle, breaker) = service(timed());
    fail(&mut svc, &mut handle).await;
    assert_eq!(breaker.metrics().failed_calls, 1);
    advance(Duration::from_secs(11)).await;
    let metrics = breaker.metrics();
    assert_eq!((metrics.calls, metrics.failed_calls), (0, 0));
    succeed(&mut svc, &mut handle).await;
    assert_eq!(breaker.state(), State::Closed);
}

// ---------------------------------------------------------------------------
// Manual control
// ---------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn force_open_rejects_until_reset() {
    let (mut svc, mut handle, breaker) = service(small());
    breaker.force_open();
    assert_eq!(breaker.state(), State::ForcedOpen);
    assert_eq!(rejected(&mut svc, &mut handle).retry_after(), None);
    advance(OPEN_WAIT * 100).await;
    assert_eq!(
        breaker.state(),
        State::ForcedOpen,
        "no wait ends a forced opening"
    );
    rejected(&mut svc, &mut handle);
    breaker.reset();
    assert_eq!(breaker.state(), State::Closed);
    succeed(&mut svc, &mut handle).await;
}

#[tokio::test(start_paused = true)]
async fn disable_passes_everything_and_records_nothing() {
    let (mut svc, mut handle, breaker) = service(small());
    trip(&mut svc, &mut handle).await;
    breaker.disable();
    for _ in 0..10 {
        fail(&mut svc, &mut handle).await;
    }
    assert_eq!(breaker.state(), State::Disabled);
    let metrics = breaker.metrics();
    assert_eq!((metrics.calls, metrics.failed_calls), (0, 0));
}

#[tokio::test(start_paused = true)]
async fn metrics_only_records_but_never_trips() {
    let (mut svc, mut handle, breaker) = service(small().consecutive_failures(2));
    breaker.metrics_only();
    for _ in 0..10 {
        fail(&mut svc, &mut handle).await;
    }
    assert_eq!(breaker.state(), State::MetricsOnly);
    let metrics = breaker.metrics();
    assert_eq!((metrics.calls, metrics.failed_calls), (4, 4));
    assert_eq!(metrics.failure_rate, Some(1.0));
    breaker.reset();
    assert_eq!(breaker.metrics().calls, 0);
    fail(&mut svc, &mut handle).await;
    fail(&mut svc, &mut handle).await;
    assert_eq!(
        breaker.state(),
        State::Open,
        "closed again, two failures in a row trip it"
    );
}

#[tokio::test(start_paused = true)]
async fn reset_closes_an_open_breaker_with_a_fresh_window() {
    let (mut svc, mut handle, breaker) = service(small());
    trip(&mut svc, &mut handle).await;
    breaker.reset();
    assert_eq!(breaker.state(), State::Closed);
    assert_eq!(breaker.metrics().calls, 0);
    for _ in 0..3 {
        fail(&mut svc, &mut handle).await;
    }
    assert_eq!(
        breaker.state(),
        State::Closed,
        "the old failures were forgotten"
    );
}

// ---------------------------------------------------------------------------
// Readiness, cancellation, clones, generations
// ---------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn an_open_breaker_is_ready_without_polling_the_inner_service() {
    let (mut svc, mut handle, breaker) = service(small());
    trip(&mut svc, &mut handle).await;
    handle.allow(0);
    advance(Duration::from_secs(3)).await;
    // `rejected` checks poll_ready is Ready(Ok) and nothing reaches the mock.
    let open = rejected(&mut svc, &mut handle);
    assert_eq!(open.retry_after(), Some(OPEN_WAIT - Duration::from_secs(3)));
    assert_eq!(ErrorKind::of(&open), ErrorKind::BreakerOpen);

    // Control: closed, the same inner service is not ready.
    breaker.reset();
    assert_pending!(svc.poll_ready());
    handle.allow(1);
    assert!(svc.is_woken(), "the inner service wakes the caller");
    succeed(&mut svc, &mut handle).await;
}

#[tokio::test(start_paused = true)]
async fn a_rejection_from_poll_ready_is_decided_again_by_the_next_poll() {
    let (mut svc, mut handle, breaker) = service(small());
    trip(&mut svc, &mut handle).await;
    assert_ready_ok!(svc.poll_ready()); // decides: refused
    breaker.reset();
    // Polled again before calling: the breaker is closed now, the call must pass.
    succeed(&mut svc, &mut handle).await;

    breaker.reset();
    trip(&mut svc, &mut handle).await;
    assert_ready_ok!(svc.poll_ready());
    advance(Duration::from_secs(4)).await;
    let open = rejected(&mut svc, &mut handle);
    assert_eq!(
        open.retry_after(),
        Some(OPEN_WAIT - Duration::from_secs(4)),
        "the wait is as of the last poll"
    );
}

#[tokio::test(start_paused = true)]
async fn an_inner_poll_ready_error_is_a_failure() {
    let (mut svc, mut handle, breaker) = service(small().count_window(1).minimum_calls(1));
    handle.send_error("cannot connect");
    let err = assert_ready_err!(svc.poll_ready());
    assert_eq!(err.to_string(), "cannot connect");
    assert_eq!(breaker.state(), State::Open);
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_probe_gives_its_slot_back_and_is_ignored() {
    let (mut svc, mut handle, breaker) = service(small());
    trip(&mut svc, &mut handle).await;
    let seen = events(&breaker);
    advance(OPEN_WAIT + MS).await;
    let first = start(&mut svc, &mut handle).await;
    let second = start(&mut svc, &mut handle).await;
    rejected(&mut svc, &mut handle);
    drop(first); // the caller gives up on the first probe
    let third = start(&mut svc, &mut handle).await;
    assert_eq!(breaker.state(), State::HalfOpen);
    assert_eq!(
        breaker.metrics().calls,
        0,
        "the cancelled probe is not counted"
    );
    assert!(drain(&seen).contains(&Seen::Recorded(Outcome::Ignored, false, None)));
    second.succeed();
    assert_eq!(
        breaker.state(),
        State::HalfOpen,
        "the ignored probe did not complete the two"
    );
    third.succeed();
    assert_eq!(breaker.state(), State::Closed);
}

#[tokio::test(start_paused = true)]
async fn a_service_polled_ready_holds_no_probe_slot() {
    let (mut svc, mut handle, breaker) = service(small().permitted_calls_in_half_open(1));
    trip(&mut svc, &mut handle).await;
    advance(OPEN_WAIT + MS).await;
    // Ready, and never called: it sees the free slot but takes nothing, so
    // the next caller probes and closes the breaker.
    let mut idle = mock::Spawn::new(svc.get_ref().clone());
    assert_ready_ok!(idle.poll_ready());
    assert_eq!(breaker.metrics().not_permitted_calls, 0);
    succeed(&mut svc, &mut handle).await;
    assert_eq!(breaker.state(), State::Closed);
}

#[tokio::test(start_paused = true)]
async fn a_probe_slot_taken_between_ready_and_call_fails_that_call_fast() {
    let (mut svc, mut handle, breaker) = service(small().permitted_calls_in_half_open(1));
    trip(&mut svc, &mut handle).await;
    advance(OPEN_WAIT + MS).await;
    let mut late = mock::Spawn::new(svc.get_ref().clone());
    assert_ready_ok!(late.poll_ready());
    // Another caller takes the only slot first.
    let probe = start(&mut svc, &mut handle).await;
    let mut refused = tokio_test::task::spawn(late.call("req"));
    let err = assert_ready_err!(refused.poll());
    assert_eq!(open_error(err).retry_after(), None);
    assert_pending!(
        handle.poll_request(),
        "the refused call never reaches the mock"
    );
    assert_eq!(breaker.metrics().not_permitted_calls, 1);
    probe.succeed();
    assert_eq!(breaker.state(), State::Closed);
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_closed_call_is_not_counted() {
    let (mut svc, mut handle, breaker) = service(small());
    for _ in 0..3 {
        fail(&mut svc, &mut handle).await;
    }
    let call = start(&mut svc, &mut handle).await;
    drop(call);
    // Counted either way, a fourth call would trip (3 or 4 failures of 4).
    assert_eq!(breaker.state(), State::Closed);
    assert_eq!(breaker.metrics().calls, 3);
}

#[tokio::test(start_paused = true)]
async fn clones_of_a_layered_service_share_one_breaker() {
    let breaker = Breaker::new(small().build().unwrap());
    let (inner, mut handle) = mock::pair::<Req, Rsp>();
    let layered = BreakerLayer::new(breaker.clone()).layer(inner);
    let mut a = mock::Spawn::new(layered.clone());
    let mut b = mock::Spawn::new(layered);
    fail(&mut a, &mut handle).await;
    fail(&mut b, &mut handle).await;
    fail(&mut a, &mut handle).await;
    assert_eq!(breaker.metrics().calls, 3);
    fail(&mut b, &mut handle).await;
    assert_eq!(breaker.state(), State::Open);
    rejected(&mut a, &mut handle);
    rejected(&mut b, &mut handle);
    assert_eq!(breaker.metrics().not_permitted_calls, 2);
}

#[tokio::test(start_paused = true)]
async fn services_made_by_one_layer_share_one_breaker() {
    let breaker = Breaker::new(small().build().unwrap());
    let layer = BreakerLayer::new(breaker.clone());
    let (first, mut first_handle) = mock::pair::<Req, Rsp>();
    let (second, mut second_handle) = mock::pair::<Req, Rsp>();
    let mut a = mock::Spawn::new(layer.layer(first));
    let mut b = mock::Spawn::new(layer.layer(second));
    for _ in 0..2 {
        fail(&mut a, &mut first_handle).await;
        fail(&mut b, &mut second_handle).await;
    }
    assert_eq!(breaker.state(), State::Open);
    rejected(&mut a, &mut first_handle);
    rejected(&mut b, &mut second_handle);
    assert_eq!(layer.breaker().state(), State::Open);
}

#[tokio::test(start_paused = true)]
async fn a_result_from_an_older_generation_is_dropped() {
    let (mut svc, mut handle, breaker) = service(small().count_window(1).minimum_calls(1));
    let seen = events(&breaker);
    let call = start(&mut svc, &mut handle).await;
    breaker.reset();
    drain(&seen);
    call.fail(); // alone it would trip a window of one
    assert_eq!(breaker.state(), State::Closed);
    assert_eq!(breaker.metrics().calls, 0);
    assert_eq!(
        drain(&seen),
        [],
        "a dropped result is not reported as recorded"
    );

    // The same across open -> half-open: a closed call finishing in half-open.
    let call = start(&mut svc, &mut handle).await;
    fail(&mut svc, &mut handle).await;
    assert_eq!(breaker.state(), State::Open);
    advance(OPEN_WAIT + MS).await;
    let probe = start(&mut svc, &mut handle).await;
    call.fail();
    assert_eq!(breaker.state(), State::HalfOpen);
    assert_eq!(breaker.metrics().calls, 0);
    probe.succeed();
    assert_eq!(breaker.state(), State::Closed);
}

// ---------------------------------------------------------------------------
// Events
// ---------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn events_report_each_transition_once_and_every_rejection_and_call() {
    let (mut svc, mut handle, breaker) = service(small());
    let seen = events(&breaker);
    succeed(&mut svc, &mut handle).await;
    for _ in 0..3 {
        fail(&mut svc, &mut handle).await;
    }
    rejected(&mut svc, &mut handle);
    let mut expected = vec![Seen::Recorded(Outcome::Success, false, None)];
    expected.extend(vec![Seen::Recorded(Outcome::Failure, false, None); 3]);
    expected.push(Seen::Transition(State::Closed, State::Open));
    expected.push(Seen::Rejected(State::Open, Some(OPEN_WAIT)));
    assert_eq!(drain(&seen), expected);

    advance(OPEN_WAIT + MS).await;
    let first = start(&mut svc, &mut handle).await;
    let second = start(&mut svc, &mut handle).await;
    rejected(&mut svc, &mut handle);
    first.succeed();
    second.succeed();
    assert_eq!(
        drain(&seen),
        [
            Seen::Transition(State::Open, State::HalfOpen),
            Seen::Rejected(State::HalfOpen, None),
            Seen::Recorded(Outcome::Success, false, None),
            Seen::Recorded(Outcome::Success, false, None),
            Seen::Transition(State::HalfOpen, State::Closed),
        ]
    );

    breaker.force_open();
    breaker.disable();
    breaker.metrics_only();
    breaker.reset();
    assert_eq!(
        drain(&seen),
        [
            Seen::Transition(State::Closed, State::ForcedOpen),
            Seen::Transition(State::ForcedOpen, State::Disabled),
            Seen::Transition(State::Disabled, State::MetricsOnly),
            Seen::Transition(State::MetricsOnly, State::Closed),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_manual_change_to_the_same_state_is_not_a_transition() {
    let (mut svc, mut handle, breaker) = service(small());
    let seen = events(&breaker);
    fail(&mut svc, &mut handle).await;
    breaker.reset();
    assert_eq!(
        breaker.metrics().calls,
        0,
        "a reset still starts a fresh window"
    );
    breaker.force_open();
    breaker.force_open();
    assert_eq!(
        drain(&seen),
        [
            Seen::Recorded(Outcome::Failure, false, None),
            Seen::Transition(State::Closed, State::ForcedOpen),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn slow_calls_are_reported_with_their_duration() {
    let (mut svc, mut handle, breaker) = service(
        small()
            .count_window(10)
            .minimum_calls(10)
            .slow_call_duration_threshold(Duration::from_millis(100)),
    );
    let seen = events(&breaker);
    let call = start(&mut svc, &mut handle).await;
    advance(Duration::from_millis(150)).await;
    call.succeed();
    assert_eq!(
        drain(&seen),
        [Seen::Recorded(
            Outcome::Success,
            true,
            Some(Duration::from_millis(150))
        )]
    );
}

#[tokio::test(start_paused = true)]
async fn a_listener_sees_the_tripping_window_when_told_of_the_opening() {
    let (mut svc, mut handle, breaker) = service(small());
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = seen.clone();
    // The listener holds a clone of the breaker: a cycle, fine in a test.
    let handle_in_listener = breaker.clone();
    breaker.on_event(move |event: &seawall::breaker::BreakerEvent<'_>| {
        if let seawall::breaker::BreakerEvent::StateTransition {
            to: State::Open, ..
        } = event
        {
            let metrics = handle_in_listener.metrics();
            log.lock()
                .unwrap()
                .push((metrics.calls, metrics.failed_calls));
        }
    });
    succeed(&mut svc, &mut handle).await;
    succeed(&mut svc, &mut handle).await;
    fail(&mut svc, &mut handle).await;
    fail(&mut svc, &mut handle).await;
    assert_eq!(breaker.state(), State::Open);
    assert_eq!(*seen.lock().unwrap(), [(4, 2)]);
}

#[tokio::test(start_paused = true)]
async fn a_panicking_listener_does_not_disturb_the_breaker() {
    let (mut svc, mut handle, breaker) = service(small());
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    breaker.on_event(move |_| {
        counted.fetch_add(1, Ordering::Relaxed);
        panic!("a listener with a bug");
    });
    let seen = events(&breaker);
    trip(&mut svc, &mut handle).await;
    assert_eq!(breaker.state(), State::Open);
    rejected(&mut svc, &mut handle);
    let events = drain(&seen);
    assert_eq!(events.len(), 6, "{events:?}");
    assert_eq!(
        calls.load(Ordering::Relaxed),
        6,
        "the panicking listener was called each time"
    );
    breaker.reset();
    succeed(&mut svc, &mut handle).await;
}

#[tokio::test(start_paused = true)]
async fn no_listener_means_no_event_and_a_late_listener_sees_later_events() {
    let (mut svc, mut handle, breaker) = service(small());
    fail(&mut svc, &mut handle).await;
    let seen = events(&breaker);
    for _ in 0..3 {
        fail(&mut svc, &mut handle).await;
    }
    let events = drain(&seen);
    assert_eq!(events.len(), 4, "3 calls and 1 transition: {events:?}");
}

// ---------------------------------------------------------------------------
// Metrics (the `metrics` crate) and the snapshot
// ---------------------------------------------------------------------------

mod recorded {
    use super::*;
    use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
    use metrics_util::MetricKind;

    /// The value of the series `name` with exactly `labels`.
    fn value(snapshotter: &Snapshotter, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        snapshotter
            .snapshot()
            .into_vec()
            .into_iter()
            .find(|(key, ..)| {
                let key_labels: Vec<(&str, &str)> =
                    key.key().labels().map(|l| (l.key(), l.value())).collect();
                key.key().name() == name
                    && key_labels.len() == labels.len()
                    && labels.iter().all(|label| key_labels.contains(label))
            })
            .map(|(key, _, _, value)| match value {
                DebugValue::Counter(n) => {
                    assert_eq!(key.kind(), MetricKind::Counter);
                    n as f64
                }
                DebugValue::Gauge(x) => x.into_inner(),
                DebugValue::Histogram(_) => panic!("no histogram expected"),
            })
    }

    #[test]
    fn calls_rejections_state_and_transitions_are_recorded_by_name() {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        let (clock, hand) = Clock::manual();
        metrics::with_local_recorder(&recorder, || {
            let breaker = Breaker::new(small().name("metered").clock(clock).build().unwrap());
            let calls = |outcome| {
                value(
                    &snapshotter,
                    seawall::observe::BREAKER_CALLS_TOTAL,
                    &[("name", "metered"), ("outcome", outcome)],
                )
            };
            let state = || {
                value(
                    &snapshotter,
                    seawall::observe::BREAKER_STATE,
                    &[("name", "metered")],
                )
            };
            let transitions = |from, to| {
                value(
                    &snapshotter,
                    seawall::observe::BREAKER_TRANSITIONS_TOTAL,
                    &[("name", "metered"), ("from", from), ("to", to)],
                )
            };
            assert_eq!(state(), Some(0.0), "closed when built");

            for _ in 0..3 {
                breaker.try_acquire().unwrap().success();
            }
            breaker.try_acquire().unwrap().failure();
            assert_eq!(calls("failure"), Some(1.0));
            assert_eq!(
                calls("success"),
                Some(3.0),
                "successes are published whenever anything else is recorded"
            );
            breaker.try_acquire().unwrap().record(Outcome::Ignored);
            breaker.try_acquire().unwrap().failure();
            assert_eq!(breaker.state(), State::Open);
            assert_eq!(calls("ignored"), Some(1.0));
            assert_eq!(state(), Some(1.0));
            assert_eq!(transitions("closed", "open"), Some(1.0));
            assert_eq!(
                value(
                    &snapshotter,
                    seawall::observe::BREAKER_FAILURE_RATE,
                    &[("name", "metered")]
                ),
                Some(0.5)
            );

            assert!(breaker.try_acquire().is_err());
            assert!(breaker.try_acquire().is_err());
            assert_eq!(
                value(
                    &snapshotter,
                    seawall::observe::BREAKER_REJECTIONS_TOTAL,
                    &[("name", "metered")]
                ),
                Some(2.0)
            );

            hand.advance(OPEN_WAIT + MS);
            breaker.try_acquire().unwrap().success();
            assert_eq!(state(), Some(2.0));
            breaker.try_acquire().unwrap().success();
            assert_eq!(state(), Some(0.0));
            assert_eq!(transitions("open", "half_open"), Some(1.0));
            assert_eq!(transitions("half_open", "closed"), Some(1.0));
            breaker.try_acquire().unwrap().failure();
            assert_eq!(
                calls("success"),
                Some(5.0),
                "probe successes are calls recorded by the breaker too"
            );

            breaker.force_open();
            assert_eq!(state(), Some(3.0));
            breaker.disable();
            assert_eq!(state(), Some(4.0));
            breaker.metrics_only();
            assert_eq!(state(), Some(5.0));
            assert_eq!(transitions("closed", "forced_open"), Some(1.0));
            assert_eq!(transitions("disabled", "metrics_only"), Some(1.0));
        });
    }

    #[test]
    fn slow_outcomes_have_their_own_labels() {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        let (clock, hand) = Clock::manual();
        metrics::with_local_recorder(&recorder, || {
            let breaker = Breaker::new(
                small()
                    .name("slow")
                    .count_window(10)
                    .minimum_calls(10)
                    .slow_call_duration_threshold(Duration::from_millis(10))
                    .clock(clock)
                    .build()
                    .unwrap(),
            );
            let permit = breaker.try_acquire().unwrap();
            hand.advance(Duration::from_millis(11));
            permit.success();
            let permit = breaker.try_acquire().unwrap();
            hand.advance(Duration::from_millis(11));
            permit.failure();
            for outcome in ["slow_success", "slow_failure"] {
                assert_eq!(
                    value(
                        &snapshotter,
                        seawall::observe::BREAKER_CALLS_TOTAL,
                        &[("name", "slow"), ("outcome", outcome)]
                    ),
                    Some(1.0),
                    "{outcome}"
                );
            }
        });
    }
}

#[tokio::test(start_paused = true)]
async fn the_metrics_snapshot_follows_the_states() {
    let (mut svc, mut handle, breaker) = service(small());
    let metrics = breaker.metrics();
    assert_eq!(metrics.state, State::Closed);
    assert_eq!((metrics.calls, metrics.failure_rate), (0, None));
    assert_eq!(metrics.time_until_probe, None);

    succeed(&mut svc, &mut handle).await;
    succeed(&mut svc, &mut handle).await;
    fail(&mut svc, &mut handle).await;
    assert_eq!(breaker.metrics().failure_rate, None, "3 calls, minimum 4");
    fail(&mut svc, &mut handle).await;

    let metrics = breaker.metrics();
    assert_eq!(metrics.state, State::Open);
    assert_eq!((metrics.calls, metrics.failed_calls), (4, 2));
    assert_eq!(metrics.failure_rate, Some(0.5));
    assert_eq!(metrics.slow_call_rate, Some(0.0));
    assert_eq!(metrics.time_until_probe, Some(OPEN_WAIT));
    assert_eq!(metrics.not_permitted_calls, 0);

    advance(Duration::from_secs(4)).await;
    rejected(&mut svc, &mut handle);
    rejected(&mut svc, &mut handle);
    let metrics = breaker.metrics();
    assert_eq!(metrics.time_until_probe, Some(Duration::from_secs(6)));
    assert_eq!(metrics.not_permitted_calls, 2);

    advance(Duration::from_secs(7)).await;
    assert_eq!(
        breaker.metrics().time_until_probe,
        Some(Duration::ZERO),
        "past the wait and not yet probed"
    );
    assert_eq!(breaker.state(), State::Open, "metrics never move the state");
    fail(&mut svc, &mut handle).await;
    let metrics = breaker.metrics();
    assert_eq!(metrics.state, State::HalfOpen);
    assert_eq!((metrics.calls, metrics.failed_calls), (1, 1));
    assert_eq!(metrics.failure_rate, None, "1 probe of the 2 needed");
    assert_eq!(metrics.time_until_probe, None);
    assert_eq!(metrics.not_permitted_calls, 2);
}

// ---------------------------------------------------------------------------
// Keyed breakers
// ---------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn keyed_breakers_are_isolated_per_key() {
    let breakers = KeyedBreaker::with_key_labels(small().build().unwrap(), 16).unwrap();
    let (mut svc, mut handle) = mock::spawn_layer::<Req, Rsp, _>(KeyedBreakerLayer::new(
        breakers.clone(),
        |request: &Req| *request,
    ));
    for _ in 0..4 {
        assert_ready_ok!(svc.poll_ready());
        let mut call = tokio_test::task::spawn(svc.call("a.example"));
        let (_, respond) = handle.next_request().await.unwrap();
        respond.send_error("down");
        assert_ready_err!(call.poll());
    }
    let a = breakers.peek(&"a.example").unwrap();
    assert_eq!(a.state(), State::Open);
    assert_eq!(a.name(), "test/a.example");

    assert_ready_ok!(svc.poll_ready());
    let err = assert_ready_err!(tokio_test::task::spawn(svc.call("a.example")).poll());
    assert_eq!(open_error(err).retry_after(), Some(OPEN_WAIT));
    assert_pending!(handle.poll_request());

    assert_ready_ok!(svc.poll_ready());
    let mut call = tokio_test::task::spawn(svc.call("b.example"));
    let (request, respond) = handle.next_request().await.unwrap();
    assert_eq!(request, "b.example");
    respond.send_response("ok");
    assert_eq!(assert_ready_ok!(call.poll()), "ok");
    assert_eq!(breakers.peek(&"b.example").unwrap().state(), State::Closed);
    assert_eq!(breakers.len(), 2);
}

#[test]
fn keyed_breakers_evict_the_least_recently_used_closed_one_at_capacity() {
    let (clock, _hand) = Clock::manual();
    let breakers = KeyedBreaker::new(small().clock(clock).build().unwrap(), 2).unwrap();
    assert!(breakers.is_empty());
    let a = breakers.get(&"a");
    breakers.get(&"b");
    breakers.get(&"a"); // a is now more recent than b
    breakers.get(&"c");
    assert_eq!(breakers.len(), 2);
    assert!(
        breakers.peek(&"b").is_none(),
        "b was the least recently used"
    );
    assert!(breakers.peek(&"a").is_some() && breakers.peek(&"c").is_some());
    // peek does not make a key recent: c, then a, are the LRU order now.
    breakers.peek(&"c");
    breakers.get(&"a");
    let b = breakers.get(&"b");
    assert!(breakers.peek(&"c").is_none());
    assert_eq!(b.state(), State::Closed, "an evicted key starts over");
    // A breaker handed out before eviction keeps working on its own.
    breakers.get(&"d");
    assert!(breakers.peek(&"a").is_none());
    a.force_open();
    assert_eq!(a.state(), State::ForcedOpen);
}

#[test]
fn keyed_breakers_never_evict_a_forced_open_one() {
    let (clock, _hand) = Clock::manual();
    let breakers = KeyedBreaker::new(small().clock(clock).build().unwrap(), 2).unwrap();
    let a = breakers.get(&"a");
    a.force_open();
    breakers.get(&"b").force_open();
    let c = breakers.get(&"c");
    assert_eq!(
        c.name(),
        breakers.overflow().name(),
        "c shares the overflow breaker"
    );
    assert!(breakers.peek(&"c").is_none());
    assert_eq!(breakers.get(&"a").state(), State::ForcedOpen);
    a.reset();
    assert_eq!(breakers.get(&"c").state(), State::Closed);
    assert!(breakers.peek(&"c").is_some(), "room again once a was reset");
    assert!(breakers.peek(&"a").is_none());
}

#[test]
fn keyed_breakers_reject_a_capacity_of_zero() {
    let err = KeyedBreaker::<String>::new(BreakerConfig::default(), 0).unwrap_err();
    assert_eq!(err.field(), "capacity");
    assert!(err.to_string().contains("capacity"), "{err}");
}

// ---------------------------------------------------------------------------
// Classifiers and the tower-free API
// ---------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn a_closure_classifier_decides_through_the_service() {
    let breaker = Breaker::new(small().count_window(2).minimum_calls(2).build().unwrap());
    let classify = |result: &Result<Rsp, BoxError>| match result {
        Ok("busy") => Outcome::Failure,
        Ok(_) => Outcome::Success,
        Err(_) => Outcome::Ignored,
    };
    let layer = BreakerLayer::new(breaker.clone()).with_classifier(classify);
    let (mut svc, mut handle) = mock::spawn_layer::<Req, Rsp, _>(layer);
    let mut call = |answer: Result<Rsp, &'static str>| {
        assert_ready_ok!(svc.poll_ready());
        let mut future = tokio_test::task::spawn(svc.call("req"));
        let (_, respond) = assert_ready!(handle.poll_request()).unwrap();
        match answer {
            Ok(response) => respond.send_response(response),
            Err(err) => respond.send_error(err),
        }
        let _ = future.poll();
    };
    call(Err("cancelled"));
    call(Err("cancelled"));
    assert_eq!(
        breaker.metrics().calls,
        0,
        "errors are ignored by this classifier"
    );
    call(Ok("busy"));
    call(Ok("fine"));
    assert_eq!(breaker.state(), State::Open, "a busy answer is a failure");
}

#[tokio::test(start_paused = true)]
async fn a_dropped_call_future_gives_its_probe_back() {
    let breaker = Breaker::new(small().permitted_calls_in_half_open(1).build().unwrap());
    breaker.force_open();
    breaker.reset();
    for _ in 0..4 {
        breaker.try_acquire().unwrap().failure();
    }
    advance(OPEN_WAIT + MS).await;
    let mut call =
        tokio_test::task::spawn(breaker.call(std::future::pending::<Result<(), std::io::Error>>()));
    assert_pending!(call.poll());
    assert_eq!(breaker.state(), State::HalfOpen);
    assert!(
        breaker.try_acquire().is_err(),
        "the only probe is in flight"
    );
    drop(call);
    breaker.try_acquire().expect("the slot came back").success();
    assert_eq!(breaker.state(), State::Closed);
}

#[tokio::test(start_paused = true)]
async fn slow_probes_reopen_the_breaker() {
    let threshold = Duration::from_millis(100);
    let (mut svc, mut handle, breaker) = service(
        small()
            .slow_call_duration_threshold(threshold)
            .slow_call_rate_threshold(0.5),
    );
    trip(&mut svc, &mut handle).await;
    advance(OPEN_WAIT + MS).await;
    succeed(&mut svc, &mut handle).await;
    let probe = start(&mut svc, &mut handle).await;
    advance(threshold + MS).await;
    probe.succeed();
    assert_eq!(
        breaker.state(),
        State::Open,
        "1 slow probe of 2 reaches one half"
    );
    let metrics = breaker.metrics();
    assert_eq!(
        (metrics.calls, metrics.failed_calls, metrics.slow_calls),
        (2, 0, 1)
    );
}

#[test]
fn threads_sharing_a_breaker_lose_no_call() {
    let (clock, _hand) = Clock::manual();
    let breaker = Breaker::new(
        small()
            .time_window(Duration::from_secs(10), 10)
            .minimum_calls(10)
            .clock(clock)
            .build()
            .unwrap(),
    );
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let breaker = breaker.clone();
            std::thread::spawn(move || {
                for i in 0..1000 {
                    let permit = breaker.try_acquire().unwrap();
                    // One failure in 100, on one thread only: far below the threshold.
                    if t == 0 && i % 100 == 0 {
                        permit.failure();
                    } else {
                        permit.success();
                    }
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    let metrics = breaker.metrics();
    assert_eq!((metrics.calls, metrics.failed_calls), (4000, 10));
    assert_eq!(breaker.state(), State::Closed);
}

#[tokio::test(start_paused = true)]
async fn call_and_call_with_run_a_future_without_tower() {
    let breaker = Breaker::new(small().build().unwrap());
    let answer = breaker
        .call(async { Ok::<_, std::io::Error>(42) })
        .await
        .unwrap();
    assert_eq!(answer, 42);
    let err = breaker
        .call(async { Err::<(), _>(std::io::Error::other("refused")) })
        .await
        .unwrap_err();
    assert_eq!(ErrorKind::of(&*err), ErrorKind::Other);
    assert!(
        err.downcast_ref::<std::io::Error>().is_some(),
        "the inner error, boxed"
    );
    let ignore = |_: &Result<(), &'static str>| Outcome::Ignored;
    breaker
        .call_with(ignore, async { Err("whatever") })
        .await
        .unwrap_err();
    let metrics = breaker.metrics();
    assert_eq!((metrics.calls, metrics.failed_calls), (2, 1));

    breaker.force_open();
    let err = breaker
        .call(async {
            panic!("an open breaker never runs the future") as Result<(), std::io::Error>
        })
        .await
        .unwrap_err();
    assert_eq!(ErrorKind::of(&*err), ErrorKind::BreakerOpen);
}

#[derive(Debug)]
struct Wrapped(BoxError);

impl std::fmt::Display for Wrapped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("request failed")
    }
}

impl std::error::Error for Wrapped {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.0)
    }
}

#[test]
fn error_kind_looks_through_the_source_chain() {
    let open: BoxError = BreakerOpen::new(None).into();
    let twice = Wrapped(Box::new(Wrapped(open)));
    assert_eq!(ErrorKind::of(&twice), ErrorKind::BreakerOpen);
    let other = Wrapped(Box::new(Wrapped("reset by peer".into())));
    assert_eq!(ErrorKind::of(&other), ErrorKind::Other);
    // The default classifier treats an inner breaker's rejection as a failure.
    let result: Result<(), BoxError> = Err(Box::new(twice));
    assert_eq!(FailOnError.classify(&result), Outcome::Failure);
    let ok: Result<(), BoxError> = Ok(());
    assert_eq!(FailOnError.classify(&ok), Outcome::Success);
}

#[cfg(feature = "http")]
#[tokio::test(start_paused = true)]
async fn http_status_classifies_responses() {
    use seawall::classify::HttpStatus;
    let breaker = Breaker::new(
        small()
            .count_window(100)
            .minimum_calls(100)
            .build()
            .unwrap(),
    );
    let respond = |status: u16| async move {
        Ok::<_, std::io::Error>(http::Response::builder().status(status).body(()).unwrap())
    };
    let plain = HttpStatus::default();
    let strict = HttpStatus::server_errors()
        .with_too_many_requests()
        .with_request_timeout();
    for status in [200, 404, 429, 408] {
        breaker.call_with(plain, respond(status)).await.unwrap();
    }
    assert_eq!(breaker.metrics().failed_calls, 0);
    for status in [500, 503] {
        breaker.call_with(plain, respond(status)).await.unwrap();
    }
    assert_eq!(breaker.metrics().failed_calls, 2);
    for status in [429, 408] {
        breaker.call_with(strict, respond(status)).await.unwrap();
    }
    breaker.call_with(strict, respond(404)).await.unwrap();
    assert_eq!(breaker.metrics().failed_calls, 4);
    let transport = async { Err::<http::Response<()>, _>(std::io::Error::other("reset")) };
    breaker.call_with(plain, transport).await.unwrap_err();
    let metrics = breaker.metrics();
    assert_eq!((metrics.calls, metrics.failed_calls), (10, 5));
}

#[cfg(feature = "grpc")]
#[test]
fn grpc_status_classifies_by_the_header() {
    use seawall::classify::{GrpcCode, GrpcStatus};
    let response = |status: Option<&str>| {
        let mut builder = http::Response::builder();
        if let Some(status) = status {
            builder = builder.header("grpc-status", status);
        }
        Ok::<_, std::io::Error>(builder.body(()).unwrap())
    };
    let default = GrpcStatus::default();
    assert_eq!(default.classify(&response(None)), Outcome::Success);
    assert_eq!(default.classify(&response(Some("0"))), Outcome::Success);
    assert_eq!(
        default.classify(&response(Some("5"))),
        Outcome::Success,
        "NOT_FOUND"
    );
    for code in ["14", "4", "13", "2", "8", "15"] {
        assert_eq!(
            default.classify(&response(Some(code))),
            Outcome::Failure,
            "{code}"
        );
    }
    for broken in ["17", "abc", "-1", "014", ""] {
        assert_eq!(
            default.classify(&response(Some(broken))),
            Outcome::Failure,
            "{broken:?}"
        );
    }
    let lenient = default.without(GrpcCode::ResourceExhausted);
    assert_eq!(lenient.classify(&response(Some("8"))), Outcome::Success);
    let custom = GrpcStatus::none().with(GrpcCode::NotFound);
    assert_eq!(custom.classify(&response(Some("5"))), Outcome::Failure);
    assert_eq!(custom.classify(&response(Some("14"))), Outcome::Success);
    let transport: Result<http::Response<()>, _> = Err(std::io::Error::other("reset"));
    assert_eq!(default.classify(&transport), Outcome::Failure);
    assert_eq!(GrpcCode::from_i32(14), Some(GrpcCode::Unavailable));
    assert_eq!(GrpcCode::from_i32(17), None);
}

// ---------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------

#[test]
fn every_builder_field_out_of_range_is_rejected_by_name() {
    use seawall::breaker::BreakerConfigBuilder;
    let b = BreakerConfig::builder;
    let day7 = Duration::from_secs(7 * 24 * 60 * 60);
    let s = Duration::from_secs;
    let exp =
        |initial, multiplier, max| b().open_wait(OpenWait::exponential(initial, multiplier, max));
    let cases: Vec<(BreakerConfigBuilder, &str)> = vec![
        (
            b().failure_rate_threshold(f64::NAN),
            "failure_rate_threshold",
        ),
        (
            b().failure_rate_threshold(f64::INFINITY),
            "failure_rate_threshold",
        ),
        (
            b().failure_rate_threshold(f64::NEG_INFINITY),
            "failure_rate_threshold",
        ),
        (b().failure_rate_threshold(-0.5), "failure_rate_threshold"),
        (b().failure_rate_threshold(-0.0), "failure_rate_threshold"),
        (
            b().failure_rate_threshold(1.0 + f64::EPSILON),
            "failure_rate_threshold",
        ),
        (
            b().failure_rate_threshold(f64::MAX),
            "failure_rate_threshold",
        ),
        (
            b().slow_call_rate_threshold(f64::NAN),
            "slow_call_rate_threshold",
        ),
        (
            b().slow_call_rate_threshold(0.0),
            "slow_call_rate_threshold",
        ),
        (
            b().slow_call_rate_threshold(f64::INFINITY),
            "slow_call_rate_threshold",
        ),
        (b().count_window(0), "count_window"),
        (b().count_window(1_000_001), "count_window"),
        (b().count_window(u32::MAX), "count_window"),
        (b().time_window(Duration::MAX, 10), "time_window.duration"),
        (
            b().time_window(day7 + Duration::from_nanos(1), 10),
            "time_window.duration",
        ),
        (b().time_window(Duration::ZERO, 0), "time_window.duration"),
        (b().time_window(s(10), 1001), "time_window.buckets"),
        (b().time_window(s(10), u32::MAX), "time_window.buckets"),
        (
            b().time_window(Duration::from_micros(999), 1),
            "time_window.buckets",
        ),
        (
            b().slow_call_duration_threshold(Duration::MAX),
            "slow_call_duration_threshold",
        ),
        (
            b().slow_call_duration_threshold(day7 + Duration::from_nanos(1)),
            "slow_call_duration_threshold",
        ),
        (b().minimum_calls(0), "minimum_calls"),
        (b().consecutive_failures(0), "consecutive_failures"),
        (
            b().open_wait(OpenWait::fixed(Duration::MAX)),
            "open_wait.initial",
        ),
        (exp(Duration::ZERO, 2.0, s(1)), "open_wait.initial"),
        (exp(s(1), f64::NAN, s(2)), "open_wait.multiplier"),
        (exp(s(1), f64::NEG_INFINITY, s(2)), "open_wait.multiplier"),
        (exp(s(1), 0.5, s(2)), "open_wait.multiplier"),
        (exp(s(1), -2.0, s(2)), "open_wait.multiplier"),
        (exp(s(1), 100.5, s(2)), "open_wait.multiplier"),
        (exp(s(1), 2.0, Duration::MAX), "open_wait.max"),
        (exp(s(2), 2.0, s(1)), "open_wait.max"),
        (
            b().permitted_calls_in_half_open(0),
            "permitted_calls_in_half_open",
        ),
        (
            b().permitted_calls_in_half_open(4096),
            "permitted_calls_in_half_open",
        ),
        (
            b().permitted_calls_in_half_open(u32::MAX),
            "permitted_calls_in_half_open",
        ),
        (
            b().max_wait_in_half_open(Duration::ZERO, HalfOpenTimeout::Close),
            "max_wait_in_half_open",
        ),
        (
            b().max_wait_in_half_open(Duration::MAX, HalfOpenTimeout::Open),
            "max_wait_in_half_open",
        ),
    ];
    for (builder, field) in cases {
        let description = format!("{builder:?}");
        let err = builder.build().expect_err(&description);
        assert_eq!(err.field(), field, "{err}");
        let message = err.to_string();
        assert!(message.contains(field), "{message}");
        assert!(message.contains(err.allowed()), "{message}");
        assert!(!err.value().is_empty(), "{message}");
    }
}

#[tokio::test(start_paused = true)]
async fn the_extremes_of_every_range_are_accepted_and_work() {
    let day7 = Duration::from_secs(7 * 24 * 60 * 60);
    let config = BreakerConfig::builder()
        .failure_rate_threshold(f64::MIN_POSITIVE)
        .slow_call_rate_threshold(1.0)
        .time_window(day7, 1000)
        .slow_call_duration_threshold(day7)
        .minimum_calls(u32::MAX)
        .consecutive_failures(u32::MAX)
        .open_wait(OpenWait::exponential(day7, 100.0, day7))
        .permitted_calls_in_half_open(4095)
        .max_wait_in_half_open(day7, HalfOpenTimeout::Close)
        .eager_half_open(true)
        .build()
        .unwrap();
    let breaker = Breaker::new(config);
    breaker.try_acquire().unwrap().failure();
    assert_eq!(breaker.state(), State::Closed);

    // The smallest rate trips on one failure in the window once the minimum is met.
    let breaker = Breaker::new(
        BreakerConfig::builder()
            .failure_rate_threshold(f64::MIN_POSITIVE)
            .count_window(1_000)
            .minimum_calls(2)
            .open_wait(OpenWait::exponential(day7, 100.0, day7))
            .permitted_calls_in_half_open(1)
            .build()
            .unwrap(),
    );
    breaker.try_acquire().unwrap().success();
    breaker.try_acquire().unwrap().failure();
    assert_eq!(breaker.state(), State::Open);
    assert_eq!(breaker.metrics().time_until_probe, Some(day7));
    advance(day7 + MS).await;
    breaker.try_acquire().unwrap().failure();
    assert_eq!(breaker.state(), State::Open);
    assert_eq!(
        breaker.metrics().time_until_probe,
        Some(day7),
        "the maximum caps the growth"
    );
}

#[test]
fn the_default_config_is_documented() {
    let config = BreakerConfig::default();
    assert_eq!(config.name(), "default");
    assert_eq!(
        config.sliding_window(),
        seawall::breaker::SlidingWindow::Count { size: 100 }
    );
    // 100 calls are needed; 99 failures do not trip.
    let (clock, _hand) = Clock::manual();
    let breaker = Breaker::new(BreakerConfig::builder().clock(clock).build().unwrap());
    for _ in 0..99 {
        breaker.try_acquire().unwrap().failure();
    }
    assert_eq!(breaker.state(), State::Closed);
    breaker.try_acquire().unwrap().failure();
    assert_eq!(breaker.state(), State::Open);
    assert_eq!(
        breaker.metrics().time_until_probe,
        Some(Duration::from_secs(60))
    );
}
