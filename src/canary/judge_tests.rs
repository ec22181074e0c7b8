//! The judge on its own: every verdict it can give, and every bound at its
//! boundary (the value that is still within bounds, and the least one beyond).

use std::time::Duration;

use super::config::{CanaryConfig, CanaryConfigBuilder};
use super::decision::{Analysis, Reason, SideAnalysis};
use super::judge::{judge, HoldReason, Verdict};
use super::quantile::normal_quantile;

const MS: Duration = Duration::from_millis(1);
const NS: Duration = Duration::from_nanos(1);
const HOLD: Duration = Duration::from_secs(60);

use HoldReason::{HoldNotOver, TooFewRequests, TooFewSamples, WithinNoise};
use Reason::{FailureRateAboveStable, FailureRateLimit, LatencyAboveStable, LatencyLimit};
use Verdict::{Hold, Promote, RollBack};

/// Rates compared as measured (a confidence of 0.5 takes no margin for
/// noise), a hold of 60 s, 100 candidate requests and 20 samples a side; the
/// other bounds at their defaults: 2 points over the stable failure rate,
/// 1.5 times its latency and at least 1 ms more, no absolute limits.
fn exact() -> CanaryConfigBuilder {
    CanaryConfig::builder()
        .confidence(0.5)
        .hold(HOLD)
        .min_requests(100)
        .min_samples(20)
}

/// The same at the default confidence of 95%.
fn noisy() -> CanaryConfigBuilder {
    exact().confidence(0.95)
}

/// `calls` calls of which `failures` failed, at `latency`.
fn side(calls: u64, failures: u64, latency: Duration) -> SideAnalysis {
    SideAnalysis::new(calls, failures, Some(latency))
}

/// The stable side of most cases: 1,000 calls, 1% failed, 20 ms.
fn stable() -> SideAnalysis {
    side(1_000, 10, 20 * MS)
}

/// A step that has run `elapsed`, with these sides.
fn step(elapsed: Duration, stable: SideAnalysis, candidate: SideAnalysis) -> Analysis {
    Analysis {
        step: 0,
        weight: 5_000,
        elapsed,
        percentile: 0.99,
        stable,
        candidate,
    }
}

/// Checks each `(what, config, step, verdict)`, naming the failing case.
fn check(cases: Vec<(&str, CanaryConfigBuilder, Analysis, Verdict)>) {
    for (what, config, step, expected) in cases {
        let config = config.build().expect("a valid test configuration");
        assert_eq!(judge(&step, &config), expected, "{what}: {step:?}");
    }
}

#[test]
fn a_step_is_promoted_once_held_with_enough_requests_and_within_bounds() {
    check(vec![
        (
            "held exactly the hold, exactly min_requests",
            exact(),
            step(HOLD, stable(), side(100, 1, 20 * MS)),
            Promote,
        ),
        (
            "a nanosecond short of the hold",
            exact(),
            step(HOLD - NS, stable(), side(100, 1, 20 * MS)),
            Hold(HoldNotOver),
        ),
        (
            "one request short of min_requests",
            exact(),
            step(HOLD, stable(), side(99, 1, 20 * MS)),
            Hold(TooFewRequests),
        ),
        (
            "short of both: the hold is named first",
            exact(),
            step(HOLD - NS, stable(), side(99, 1, 20 * MS)),
            Hold(HoldNotOver),
        ),
        (
            "min_samples above min_requests: a step waits for the samples",
            exact().min_requests(10),
            step(HOLD, stable(), side(19, 0, 20 * MS)),
            Hold(TooFewSamples),
        ),
        (
            "min_samples above min_requests: exactly min_samples",
            exact().min_requests(10),
            step(HOLD, stable(), side(20, 0, 20 * MS)),
            Promote,
        ),
    ]);
}

#[test]
fn too_few_candidate_samples_are_not_judged_at_all() {
    check(vec![
        (
            "one call short of min_samples, every one failed and slow",
            exact(),
            step(HOLD, stable(), side(19, 19, 10_000 * MS)),
            Hold(TooFewSamples),
        ),
        (
            "exactly min_samples, every one failed",
            exact(),
            step(HOLD, stable(), side(20, 20, 20 * MS)),
            RollBack(FailureRateAboveStable),
        ),
    ]);
}

#[test]
fn the_failure_rate_against_the_stable_side() {
    check(vec![
        (
            "exactly the allowance over the stable rate (3% against 1%)",
            exact(),
            step(HOLD, stable(), side(100, 3, 20 * MS)),
            Promote,
        ),
        (
            "one failure more (4% against 1%)",
            exact(),
            step(HOLD, stable(), side(100, 4, 20 * MS)),
            RollBack(FailureRateAboveStable),
        ),
        (
            "a regression rolls back before the hold is over",
            exact(),
            step(Duration::from_secs(1), stable(), side(20, 10, 20 * MS)),
            RollBack(FailureRateAboveStable),
        ),
        (
            "one stable call short of min_samples: nothing to compare with",
            exact(),
            step(HOLD, side(19, 0, 20 * MS), side(100, 50, 20 * MS)),
            Promote,
        ),
        (
            "exactly min_samples stable calls: compared",
            exact(),
            step(HOLD, side(20, 0, 20 * MS), side(100, 50, 20 * MS)),
            RollBack(FailureRateAboveStable),
        ),
    ]);
}

#[test]
fn a_failure_rate_out_of_bounds_within_the_noise_holds_the_step() {
    check(vec![
        (
            "4% against 1% of 100 calls: out as measured, within the noise",
            noisy(),
            step(HOLD, stable(), side(100, 4, 20 * MS)),
            Hold(WithinNoise),
        ),
        (
            "10% against 1%: beyond the noise",
            noisy(),
            step(HOLD, stable(), side(100, 10, 20 * MS)),
            RollBack(FailureRateAboveStable),
        ),
        (
            "11% of 100 calls against a limit of 10%: within the noise",
            noisy().max_failure_rate(0.1),
            step(HOLD, side(1_000, 100, 20 * MS), side(100, 11, 20 * MS)),
            Hold(WithinNoise),
        ),
        (
            "latency is compared as measured, whatever the confidence",
            noisy(),
            step(HOLD, stable(), side(100, 1, 30 * MS + NS)),
            RollBack(LatencyAboveStable),
        ),
    ]);
}

#[test]
fn the_absolute_failure_rate_limit() {
    // The stable side fails as often, so only the limit can decide.
    let stable = side(1_000, 100, 20 * MS);
    check(vec![
        (
            "exactly the limit",
            exact().max_failure_rate(0.1),
            step(HOLD, stable, side(100, 10, 20 * MS)),
            Promote,
        ),
        (
            "one failure more",
            exact().max_failure_rate(0.1),
            step(HOLD, stable, side(100, 11, 20 * MS)),
            RollBack(FailureRateLimit),
        ),
        (
            "with no stable side to compare with",
            exact().max_failure_rate(0.1),
            step(HOLD, side(0, 0, 20 * MS), side(100, 11, 20 * MS)),
            RollBack(FailureRateLimit),
        ),
        (
            "the limit is named before the comparison with the stable side",
            exact().max_failure_rate(0.1),
            step(HOLD, side(1_000, 10, 20 * MS), side(100, 50, 20 * MS)),
            RollBack(FailureRateLimit),
        ),
    ]);
}

#[test]
fn the_absolute_latency_limit() {
    let stable = side(1_000, 10, 100 * MS);
    check(vec![
        (
            "exactly the limit",
            exact().max_latency(100 * MS),
            step(HOLD, stable, side(100, 1, 100 * MS)),
            Promote,
        ),
        (
            "a nanosecond over",
            exact().max_latency(100 * MS),
            step(HOLD, stable, side(100, 1, 100 * MS + NS)),
            RollBack(LatencyLimit),
        ),
        (
            "with no stable side to compare with",
            exact().max_latency(100 * MS),
            step(HOLD, side(0, 0, 100 * MS), side(100, 1, 100 * MS + NS)),
            RollBack(LatencyLimit),
        ),
        (
            "named before a failure rate above the stable side's",
            exact().max_latency(100 * MS),
            step(HOLD, side(1_000, 10, 100 * MS), side(100, 50, 200 * MS)),
            RollBack(LatencyLimit),
        ),
        (
            "no latency measured, nothing to limit",
            exact().max_latency(100 * MS),
            step(HOLD, stable, SideAnalysis::new(100, 1, None)),
            Promote,
        ),
    ]);
}

#[test]
fn the_latency_against_the_stable_side() {
    check(vec![
        (
            "exactly the ratio (30 ms against 20 ms at 1.5)",
            exact(),
            step(HOLD, stable(), side(100, 1, 30 * MS)),
            Promote,
        ),
        (
            "a nanosecond over the ratio",
            exact(),
            step(HOLD, stable(), side(100, 1, 30 * MS + NS)),
            RollBack(LatencyAboveStable),
        ),
        (
            "twice as slow, but exactly the minimum increase (2 ms against 1 ms)",
            exact(),
            step(HOLD, side(1_000, 10, MS), side(100, 1, 2 * MS)),
            Promote,
        ),
        (
            "a nanosecond over the minimum increase",
            exact(),
            step(HOLD, side(1_000, 10, MS), side(100, 1, 2 * MS + NS)),
            RollBack(LatencyAboveStable),
        ),
        (
            "no stable latency, nothing to compare with",
            exact(),
            step(
                HOLD,
                SideAnalysis::new(1_000, 10, None),
                side(100, 1, 10_000 * MS),
            ),
            Promote,
        ),
        (
            "one stable call short of min_samples: not compared",
            exact(),
            step(HOLD, side(19, 0, 20 * MS), side(100, 1, 10_000 * MS)),
            Promote,
        ),
        (
            "the failure rate is named before the latency",
            exact(),
            step(HOLD, stable(), side(100, 50, 10_000 * MS)),
            RollBack(FailureRateAboveStable),
        ),
    ]);
}

#[test]
fn normal_quantiles() {
    for (p, z) in [
        (0.5, 0.0),
        (0.9, 1.281_551_6),
        (0.95, 1.644_853_6),
        (0.99, 2.326_347_9),
        (0.999, 3.090_232_3),
    ] {
        assert!(
            (normal_quantile(p) - z).abs() < 1e-6,
            "{p}: {}",
            normal_quantile(p)
        );
    }
}

#[test]
fn failures_that_were_mostly_not_ready_requests_say_so() {
    let config = exact().max_failure_rate(0.5).build().unwrap();
    let not_ready = |failures: u64, not_ready: u64| SideAnalysis {
        not_ready,
        ..side(100, failures, 20 * MS)
    };
    let verdict = |candidate| judge(&step(HOLD, stable(), candidate), &config);
    // Above the stable side's rate by far.
    assert_eq!(verdict(not_ready(40, 21)), RollBack(Reason::NotReady));
    assert_eq!(verdict(not_ready(40, 20)), RollBack(FailureRateAboveStable));
    assert_eq!(verdict(not_ready(40, 0)), RollBack(FailureRateAboveStable));
    // Above the absolute limit too.
    assert_eq!(verdict(not_ready(90, 90)), RollBack(Reason::NotReady));
    assert_eq!(verdict(not_ready(90, 45)), RollBack(FailureRateLimit));
}
