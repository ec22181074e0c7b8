//! Any value in any builder field: an error naming the field, never a panic.
#![no_main]

use std::time::Duration;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use seawall::breaker::{Breaker, BreakerConfig, HalfOpenTimeout, OpenWait};

#[derive(Arbitrary, Debug)]
struct Input {
    count_window: Option<u32>,
    time_window: Option<(u64, u32, u32)>,
    failure_rate: f64,
    slow_rate: f64,
    slow_threshold: Option<(u64, u32)>,
    minimum_calls: u32,
    consecutive: Option<u32>,
    open_wait: (u64, u32, f64, u64, u32),
    permitted: u32,
    max_wait: Option<(u64, u32, bool)>,
}

/// The longest open wait a config accepts, plus the millisecond a deadline rounds up by.
const LONGEST_WAIT: Duration = Duration::from_millis(7 * 24 * 3600 * 1000 + 1);

fn duration((secs, nanos): (u64, u32)) -> Duration {
    Duration::new(secs, nanos % 1_000_000_000)
}

fuzz_target!(|input: Input| {
    let (clock, hand) = seawall::clock::Clock::manual();
    let mut builder = BreakerConfig::builder()
        .clock(clock)
        .failure_rate_threshold(input.failure_rate)
        .slow_call_rate_threshold(input.slow_rate)
        .minimum_calls(input.minimum_calls)
        .permitted_calls_in_half_open(input.permitted)
        .open_wait(OpenWait::exponential(
            duration((input.open_wait.0, input.open_wait.1)),
            input.open_wait.2,
            duration((input.open_wait.3, input.open_wait.4)),
        ));
    if let Some(size) = input.count_window {
        builder = builder.count_window(size);
    }
    if let Some((secs, nanos, buckets)) = input.time_window {
        builder = builder.time_window(duration((secs, nanos)), buckets);
    }
    if let Some(threshold) = input.slow_threshold {
        builder = builder.slow_call_duration_threshold(duration(threshold));
    }
    if let Some(n) = input.consecutive {
        builder = builder.consecutive_failures(n);
    }
    if let Some((secs, nanos, close)) = input.max_wait {
        let then = if close { HalfOpenTimeout::Close } else { HalfOpenTimeout::Open };
        builder = builder.max_wait_in_half_open(duration((secs, nanos)), then);
    }
    match builder.build() {
        Ok(config) => {
            // A valid config makes a working breaker, whatever the extremes.
            let breaker = Breaker::new(config);
            for round in 0..3u64 {
                for _ in 0..64 {
                    match breaker.try_acquire() {
                        Ok(permit) => permit.failure(),
                        Err(open) => assert!(open.retry_after() <= Some(LONGEST_WAIT)),
                    }
                }
                hand.advance(Duration::from_secs(round * 3600 * 24 * 8));
            }
            let _ = breaker.metrics();
        }
        Err(err) => {
            assert!(!err.field().is_empty());
            assert!(err.to_string().contains(err.field()));
        }
    }
});
