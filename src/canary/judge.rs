//! Judging a step: from its numbers and the configuration to a verdict.
//!
//! A pure function, with no clock, no atomics and no handle: the rollout
//! gathers the numbers ([`Analysis`]) and carries the verdict out, and every
//! bound can be tested here on its own, boundaries included (see
//! `judge_tests.rs`). The candidate's own health (a watched breaker or
//! component) is asked by the rollout before it judges.
//!
//! # Why a failure rate needs a margin
//!
//! Failure rates are proportions of few calls at small weights: at 1% of
//! traffic one failure in the first 20 candidate calls reads as 5%. So a
//! roll-back on a failure rate needs the excess to stand out from sampling
//! noise: the observed excess minus `z` standard errors (normal
//! approximation; `z` from the configured confidence) must still exceed the
//! allowance. Promotion needs the observed rates themselves within bounds; in
//! between, the step is held and looked at again. Latencies are compared as
//! measured, with the ratio and the minimum increase as the noise guard.

use super::config::CanaryConfig;
use super::decision::{Analysis, Reason};

/// Slack on the comparison with the stable failure rate, so that exactly the
/// allowance is within bounds despite floating-point rounding.
const RATE_SLACK: f64 = 1e-9;

/// What a step's numbers call for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Held long enough, with enough candidate requests, and within bounds:
    /// on to the next step.
    Promote,
    /// Nothing to do yet: look again at the next analysis.
    Hold(HoldReason),
    /// Out of bounds beyond sampling noise: every request back to the stable
    /// service.
    RollBack(Reason),
}

/// Why a step is held rather than promoted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum HoldReason {
    /// Fewer candidate calls than `min_samples`: too few to judge at all.
    TooFewSamples,
    /// Out of bounds as measured, but within sampling noise: more calls will
    /// tell.
    WithinNoise,
    /// Within bounds, but the step has not run for its `hold` yet.
    HoldNotOver,
    /// Within bounds and held, but the candidate has served fewer than
    /// `min_requests`.
    TooFewRequests,
}

/// The verdict on a step's numbers under `config`.
pub(crate) fn judge(step: &Analysis, config: &CanaryConfig) -> Verdict {
    if let Err(verdict) = check_bounds(step, config) {
        return verdict;
    }
    if step.elapsed < config.hold {
        return Verdict::Hold(HoldReason::HoldNotOver);
    }
    // Within bounds means at least `min_samples` calls already.
    if step.candidate.calls < config.min_requests {
        return Verdict::Hold(HoldReason::TooFewRequests);
    }
    Verdict::Promote
}

/// `Ok` when the candidate's numbers are within bounds as measured; otherwise
/// the verdict they call for: a roll-back when out of bounds beyond the noise,
/// a hold when too few or unclear.
fn check_bounds(step: &Analysis, config: &CanaryConfig) -> Result<(), Verdict> {
    let candidate = &step.candidate;
    if candidate.calls < config.min_samples {
        return Err(Verdict::Hold(HoldReason::TooFewSamples));
    }
    let z = config.z;
    let mut clear = true;
    let rate = candidate.failure_rate.unwrap_or(0.0);
    let variance = rate * (1.0 - rate) / candidate.calls as f64;
    // Failures that were mostly requests the candidate was not ready for are
    // reported as such.
    let failure_reason = |reason| {
        if candidate.not_ready * 2 > candidate.failures {
            Reason::NotReady
        } else {
            reason
        }
    };
    if let Some(max) = config.max_failure_rate {
        if rate - z * variance.sqrt() > max {
            return Err(Verdict::RollBack(failure_reason(Reason::FailureRateLimit)));
        }
        clear &= rate <= max;
    }
    if let (Some(max), Some(latency)) = (config.max_latency, candidate.latency) {
        if latency > max {
            return Err(Verdict::RollBack(Reason::LatencyLimit));
        }
    }
    let stable = &step.stable;
    // Without enough stable calls there is nothing to compare with (at 100%,
    // or too little stable traffic): the absolute limits alone apply.
    if stable.calls >= config.min_samples {
        let stable_rate = stable.failure_rate.unwrap_or(0.0);
        let stable_variance = stable_rate * (1.0 - stable_rate) / stable.calls as f64;
        let excess = rate - stable_rate;
        let allowed = config.max_failure_rate_increase + RATE_SLACK;
        if excess - z * (variance + stable_variance).sqrt() > allowed {
            return Err(Verdict::RollBack(failure_reason(
                Reason::FailureRateAboveStable,
            )));
        }
        clear &= excess <= allowed;
        if let (Some(theirs), Some(ours)) = (stable.latency, candidate.latency) {
            let ratio_limit = theirs.as_secs_f64() * config.max_latency_ratio;
            if ours.as_secs_f64() > ratio_limit
                && ours.saturating_sub(theirs) > config.min_latency_increase
            {
                return Err(Verdict::RollBack(Reason::LatencyAboveStable));
            }
        }
    }
    if clear {
        Ok(())
    } else {
        Err(Verdict::Hold(HoldReason::WithinNoise))
    }
}
