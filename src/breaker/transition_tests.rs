//! Tests of the transitions: deadlines, reopenings, generations and the
//! tickets that keep stale permits out.

use std::time::Duration;

use super::*;
use crate::breaker::admit::PermitKind;
use crate::breaker::config::MAX_REOPENINGS;
use crate::breaker::{Breaker, BreakerConfig, HalfOpenTimeout, OpenWait};
use crate::clock::{Clock, ManualClock};

const SECOND: u64 = 1_000_000_000;

#[test]
fn reopenings_carry_through_half_open_and_end_outside_the_cycle() {
    let from = |state| StateWord::new(state, 0, 5, None);
    assert_eq!(reopenings_after(from(State::Open), State::HalfOpen), 5);
    assert_eq!(reopenings_after(from(State::HalfOpen), State::Open), 6);
    assert_eq!(reopenings_after(from(State::HalfOpen), State::Closed), 0);
    assert_eq!(reopenings_after(from(State::Closed), State::Open), 0);
    assert_eq!(reopenings_after(from(State::Open), State::ForcedOpen), 0);
    for state in State::ALL {
        assert_eq!(reopenings_after(from(state), State::Disabled), 0);
    }
}

#[test]
fn deadlines_end_the_open_wait_and_the_half_open_maximum_wait() {
    let config = BreakerConfig::builder()
        .open_wait(OpenWait::exponential(
            Duration::from_secs(1),
            2.0,
            Duration::from_secs(10),
        ))
        .max_wait_in_half_open(Duration::from_secs(3), HalfOpenTimeout::Open)
        .build()
        .unwrap();
    assert_eq!(deadline_after(&config, State::Open, 0, 7), Some(7 + SECOND));
    assert_eq!(deadline_after(&config, State::Open, 2, 0), Some(4 * SECOND));
    assert_eq!(
        deadline_after(&config, State::Open, 9, 0),
        Some(10 * SECOND)
    );
    assert_eq!(
        deadline_after(&config, State::HalfOpen, 9, 1),
        Some(1 + 3 * SECOND)
    );
    assert_eq!(
        deadline_after(&config, State::Open, 0, u64::MAX),
        Some(u64::MAX)
    );
    for state in [
        State::Closed,
        State::ForcedOpen,
        State::Disabled,
        State::MetricsOnly,
    ] {
        assert_eq!(deadline_after(&config, state, 0, 0), None, "{state}");
    }
    // By default half-open waits twice the open wait before it.
    let default = BreakerConfig::default();
    assert_eq!(
        deadline_after(&default, State::HalfOpen, 0, 5),
        Some(5 + 120 * SECOND)
    );
    let growing = BreakerConfig::builder()
        .open_wait(OpenWait::exponential(
            Duration::from_secs(1),
            2.0,
            Duration::from_secs(10),
        ))
        .build()
        .unwrap();
    assert_eq!(
        deadline_after(&growing, State::HalfOpen, 2, 0),
        Some(8 * SECOND)
    );
    // The longest open wait, doubled, from the far end of the clock.
    let longest = BreakerConfig::builder()
        .open_wait(OpenWait::fixed(crate::validate::LONGEST_DURATION))
        .build()
        .unwrap();
    assert_eq!(
        deadline_after(&longest, State::HalfOpen, MAX_REOPENINGS, 0),
        Some(2 * crate::validate::LONGEST_DURATION.as_nanos() as u64)
    );
    assert_eq!(
        deadline_after(&longest, State::HalfOpen, 0, u64::MAX - 1),
        Some(u64::MAX)
    );
    let patient = BreakerConfig::builder()
        .unbounded_wait_in_half_open()
        .build()
        .unwrap();
    assert_eq!(deadline_after(&patient, State::HalfOpen, 0, 0), None);
}

#[test]
fn a_stale_word_is_overtaken_but_a_flag_change_is_not() {
    let core = BreakerCore::new(BreakerConfig::default(), 1);
    let before = core.load();
    // A flag set meanwhile: the transition still goes through, keeping it.
    core.set_flag(before.generation(), Flag::Listening, true);
    let TransitionOutcome::Made(open) = core.transition(before, State::ForcedOpen, 0) else {
        panic!("a flag change must not void a transition");
    };
    assert_eq!(open.state(), State::ForcedOpen);
    assert_eq!(open.generation(), before.next_generation());
    assert!(open.listening() && !open.armed());
    // A transition from the word before it is overtaken and changes nothing.
    let stale = core.transition(before, State::Disabled, 0);
    assert_eq!(stale, TransitionOutcome::Overtaken(open));
    assert_eq!(stale.current(), core.load());
    // Closing arms the fresh window in the same CAS.
    let closed = core.transition(open, State::Closed, 0).current();
    assert!(closed.armed() && closed.listening());
}

#[test]
fn an_armed_flag_of_an_old_generation_is_not_set() {
    let core = BreakerCore::new(BreakerConfig::default(), 1);
    let closed = core.load();
    assert!(closed.armed());
    core.set_flag(closed.generation(), Flag::Armed, false);
    assert!(!core.load().armed());
    core.force(State::MetricsOnly);
    core.set_flag(closed.generation(), Flag::Armed, true);
    assert!(
        !core.load().armed(),
        "the flag belonged to the state before"
    );
}

/// A breaker on a manual clock that trips on `calls` failures out of
/// `calls` and probes once, with no slow-call detection and a count
/// window: the configuration whose recording path never reads the clock.
fn manual_breaker(calls: u32) -> (Breaker, ManualClock) {
    let (clock, hand) = Clock::manual();
    let config = BreakerConfig::builder()
        .clock(clock)
        .count_window(calls)
        .minimum_calls(calls)
        .permitted_calls_in_half_open(1)
        .open_wait(OpenWait::fixed(Duration::from_secs(1)))
        .build()
        .unwrap();
    (Breaker::new(config), hand)
}

#[test]
fn open_wait_starts_at_the_trip_without_clocked_recording() {
    let (breaker, hand) = manual_breaker(2);
    hand.advance(Duration::from_secs(10));
    breaker.try_acquire().unwrap().failure();
    breaker.try_acquire().unwrap().failure();
    assert_eq!(breaker.state(), State::Open);
    let open = breaker.try_acquire().unwrap_err();
    assert_eq!(open.retry_after(), Some(Duration::from_secs(1)));
}

#[test]
fn open_wait_keeps_growing_with_each_reopening() {
    let (clock, hand) = Clock::manual();
    let config = BreakerConfig::builder()
        .clock(clock)
        .count_window(1)
        .minimum_calls(1)
        .permitted_calls_in_half_open(1)
        .open_wait(OpenWait::exponential(
            Duration::from_secs(1),
            2.0,
            Duration::from_secs(60),
        ))
        .build()
        .unwrap();
    let breaker = Breaker::new(config);
    breaker.try_acquire().unwrap().failure();
    for wait in [1, 2, 4, 8, 16] {
        let open = breaker.try_acquire().unwrap_err();
        assert_eq!(open.retry_after(), Some(Duration::from_secs(wait)));
        hand.advance(Duration::from_secs(wait) + Duration::from_millis(1));
        // The probe fails: open again, for twice as long.
        breaker.try_acquire().unwrap().failure();
    }
}

#[test]
fn open_wait_reaches_its_maximum_however_slowly_it_grows() {
    let (clock, hand) = Clock::manual();
    let max = Duration::from_secs(3600);
    let config = BreakerConfig::builder()
        .clock(clock)
        .count_window(1)
        .minimum_calls(1)
        .permitted_calls_in_half_open(1)
        .open_wait(OpenWait::exponential(Duration::from_millis(100), 1.01, max))
        .build()
        .unwrap();
    let breaker = Breaker::new(config);
    breaker.try_acquire().unwrap().failure();
    let mut waits = Vec::new();
    // 70 reopenings also walk the generation through 140 transitions.
    for _ in 0..70 {
        let wait = breaker.try_acquire().unwrap_err().retry_after().unwrap();
        waits.push(wait);
        hand.advance(wait + Duration::from_millis(1));
        breaker.try_acquire().unwrap().failure();
    }
    assert!(waits.windows(2).all(|pair| pair[0] <= pair[1]), "{waits:?}");
    assert!(waits[62] < Duration::from_secs(1), "{:?}", waits[62]);
    assert_eq!(waits[63], max);
    assert_eq!(waits[69], max);
}

#[test]
fn generations_wrap_without_confusing_permits() {
    let (clock, _hand) = Clock::manual();
    let breaker = Breaker::new(BreakerConfig::builder().clock(clock).build().unwrap());
    // Walk the 14-bit generation past its wrap; the breaker keeps working.
    for _ in 0..(1 << 14) + 3 {
        breaker.disable();
        breaker.reset();
    }
    let stale = breaker.try_acquire().unwrap();
    breaker.force_open();
    breaker.reset();
    stale.failure(); // admitted two generations ago: dropped
    assert_eq!(breaker.metrics().calls, 0);
    breaker.try_acquire().unwrap().failure();
    assert_eq!(breaker.metrics().calls, 1);
}

#[test]
fn a_failure_exactly_a_generation_cycle_old_is_not_counted() {
    use crate::breaker::state_word::GENERATIONS;

    let (breaker, _hand) = manual_breaker(1);
    let stale = breaker.try_acquire().unwrap();
    // 16,384 transitions: closed again, in the same 14-bit generation.
    for _ in 0..GENERATIONS / 2 {
        breaker.force_open();
        breaker.reset();
    }
    assert_eq!(stale.generation(), breaker.core().load().generation());
    stale.failure();
    assert_eq!(breaker.state(), State::Closed, "a stale failure tripped it");
    assert_eq!(breaker.metrics().calls, 0);
    // A failure of the current state trips it as ever.
    breaker.try_acquire().unwrap().failure();
    assert_eq!(breaker.state(), State::Open);
}

#[test]
fn a_probe_exactly_a_generation_cycle_old_frees_no_slot_and_decides_nothing() {
    use crate::breaker::state_word::GENERATIONS;
    use crate::classify::Outcome;

    let half_open = |breaker: &Breaker, hand: &ManualClock| {
        breaker.try_acquire().unwrap().failure();
        hand.advance(Duration::from_millis(1_001));
        breaker.try_acquire().unwrap()
    };
    let (breaker, hand) = manual_breaker(1);
    let stale = half_open(&breaker, &hand);
    assert_eq!(stale.kind(), PermitKind::Probe);
    // 16,382 transitions by hand, and two more to half-open again.
    for _ in 0..GENERATIONS / 2 - 1 {
        breaker.force_open();
        breaker.reset();
    }
    let probe = half_open(&breaker, &hand);
    assert_eq!(stale.generation(), probe.generation());
    assert_eq!(breaker.state(), State::HalfOpen);
    // The stale probe's end must not hand back the current probe's slot...
    stale.record(Outcome::Ignored);
    assert!(breaker.try_acquire().is_err(), "a second probe was let in");
    // ...nor decide the state.
    let (breaker, hand) = manual_breaker(1);
    let stale = half_open(&breaker, &hand);
    for _ in 0..GENERATIONS / 2 - 1 {
        breaker.force_open();
        breaker.reset();
    }
    let probe = half_open(&breaker, &hand);
    stale.failure();
    assert_eq!(
        breaker.state(),
        State::HalfOpen,
        "a stale probe reopened it"
    );
    probe.success();
    assert_eq!(breaker.state(), State::Closed);
}

#[test]
fn reopen_wait_starts_at_the_failed_probe_without_clocked_recording() {
    let (breaker, hand) = manual_breaker(2);
    breaker.try_acquire().unwrap().failure();
    breaker.try_acquire().unwrap().failure();
    hand.advance(Duration::from_secs(5));
    breaker.try_acquire().unwrap().failure();
    assert_eq!(breaker.state(), State::Open);
    let open = breaker.try_acquire().unwrap_err();
    assert_eq!(open.retry_after(), Some(Duration::from_secs(1)));
}
