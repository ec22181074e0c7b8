//! The canary's `tracing` event (feature `tracing`), listed with its fields
//! in [`observe`](crate::observe#tracing).

use tracing::Level;

use crate::observe::trace_event;

use super::decision::{Analysis, CanaryDecision, Reason};
use super::state::Phase;

const TARGET: &str = "seawall::canary";

/// A decision with the numbers it was made on: `WARN` for a roll-back,
/// `INFO` for the others. Weights are fractions, 0 to 1, as in the
/// `seawall_canary_weight` gauge.
pub(super) fn decided(
    name: &str,
    decision: CanaryDecision,
    reason: Reason,
    (from_weight, to_weight): (u16, u16),
    phase: Phase,
    analysis: &Analysis,
) {
    let level = match decision {
        CanaryDecision::RollBack => Level::WARN,
        _ => Level::INFO,
    };
    let fraction = |basis_points: u16| f64::from(basis_points) / 10_000.0;
    let (stable, candidate) = (&analysis.stable, &analysis.candidate);
    trace_event!(
        TARGET,
        level,
        "seawall.canary.name" = name,
        "seawall.canary.decision" = decision.as_str(),
        "seawall.canary.reason" = reason.as_str(),
        "seawall.canary.weight.from" = fraction(from_weight),
        "seawall.canary.weight.to" = fraction(to_weight),
        "seawall.canary.phase" = phase.as_str(),
        "seawall.canary.step" = analysis.step as u64,
        "seawall.canary.step.elapsed_seconds" = analysis.elapsed.as_secs_f64(),
        "seawall.canary.percentile" = analysis.percentile,
        "seawall.canary.stable.calls" = stable.calls,
        "seawall.canary.stable.failures" = stable.failures,
        "seawall.canary.stable.failure_rate" = stable.failure_rate,
        "seawall.canary.stable.latency_seconds" =
            stable.latency.map(|latency| latency.as_secs_f64()),
        "seawall.canary.candidate.calls" = candidate.calls,
        "seawall.canary.candidate.failures" = candidate.failures,
        "seawall.canary.candidate.failure_rate" = candidate.failure_rate,
        "seawall.canary.candidate.latency_seconds" =
            candidate.latency.map(|latency| latency.as_secs_f64()),
        "canary decided"
    );
}
