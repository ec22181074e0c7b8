//! The open wait starts when the breaker trips, whatever the config reads the
//! clock for.

use std::time::Duration;

use seawall::breaker::{Breaker, BreakerConfig, OpenWait, State};
use seawall::clock::Clock;

fn tripped_at_ten_seconds(
    config: seawall::breaker::BreakerConfigBuilder,
) -> (Breaker, seawall::clock::ManualClock) {
    let (clock, hand) = Clock::manual();
    let breaker = Breaker::new(
        config
            .count_window(2)
            .minimum_calls(2)
            .open_wait(OpenWait::fixed(Duration::from_secs(5)))
            .permitted_calls_in_half_open(1)
            .clock(clock)
            .build()
            .expect("valid config"),
    );
    hand.advance(Duration::from_secs(10));
    breaker.try_acquire().expect("closed").failure();
    breaker.try_acquire().expect("closed").failure();
    assert_eq!(breaker.state(), State::Open);
    (breaker, hand)
}

#[test]
fn a_count_window_waits_the_whole_open_wait() {
    let (breaker, hand) = tripped_at_ten_seconds(BreakerConfig::builder());
    hand.advance(Duration::from_secs(1));
    let open = breaker.try_acquire().expect_err("still open one second in");
    assert_eq!(open.retry_after(), Some(Duration::from_secs(4)));
    hand.advance(Duration::from_secs(4));
    assert!(
        breaker.try_acquire().is_err(),
        "open exactly at the deadline"
    );
    hand.advance(Duration::from_millis(1));
    breaker
        .try_acquire()
        .expect("a probe after the wait")
        .failure();
    assert_eq!(breaker.state(), State::Open);
    hand.advance(Duration::from_secs(1));
    assert!(
        breaker.try_acquire().is_err(),
        "a failed probe opens the breaker for a whole wait again"
    );
}

#[test]
fn slow_call_detection_keeps_the_same_wait() {
    let (breaker, hand) = tripped_at_ten_seconds(
        BreakerConfig::builder().slow_call_duration_threshold(Duration::from_secs(1)),
    );
    hand.advance(Duration::from_secs(1));
    assert!(breaker.try_acquire().is_err());
}
