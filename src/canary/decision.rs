//! What a rollout decides, why, and the numbers it decides on.

use std::fmt;
use std::time::Duration;

use super::stats::SideSnapshot;

/// What a decision did.
///
/// ```
/// use seawall::canary::CanaryDecision;
///
/// assert_eq!(CanaryDecision::RollBack.as_str(), "roll_back");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CanaryDecision {
    /// Moved to the next step, or (after the last) to
    /// [`Promoted`](super::Phase::Promoted).
    Promote,
    /// Sent every request back to the stable service, for good.
    RollBack,
    /// Stopped analysing and promoting.
    Pause,
    /// Started the current step afresh after a pause.
    Resume,
}

impl CanaryDecision {
    /// The decision's name, the `decision` label of
    /// `seawall_canary_decisions_total`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Promote => "promote",
            Self::RollBack => "roll_back",
            Self::Pause => "pause",
            Self::Resume => "resume",
        }
    }
}

impl fmt::Display for CanaryDecision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a decision was made.
///
/// The numbers behind it are in the [`Analysis`] of the same event.
///
/// ```
/// use seawall::canary::Reason;
///
/// assert_eq!(Reason::FailureRateAboveStable.to_string(), "failure_rate_above_stable");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Reason {
    /// The step was held long enough, with enough requests, and the
    /// candidate stayed within bounds.
    WithinBounds,
    /// Someone called the handle.
    Manual,
    /// The candidate's failure rate exceeded the stable side's by more than
    /// allowed.
    FailureRateAboveStable,
    /// The candidate's latency exceeded the stable side's by more than
    /// allowed.
    LatencyAboveStable,
    /// The candidate's failure rate exceeded the absolute limit.
    FailureRateLimit,
    /// The candidate's latency exceeded the absolute limit.
    LatencyLimit,
    /// The candidate's breaker opened.
    BreakerOpen,
    /// The candidate's health component reported down.
    Unhealthy,
    /// The candidate service failed to become ready (its `poll_ready`
    /// returned an error), or most of its failures were requests it was not
    /// ready for.
    NotReady,
    /// The candidate stayed not ready for longer than
    /// [`max_not_ready`](super::CanaryConfigBuilder::max_not_ready).
    NotReadyTooLong,
}

impl Reason {
    /// The reason's name in `snake_case`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::WithinBounds => "within_bounds",
            Self::Manual => "manual",
            Self::FailureRateAboveStable => "failure_rate_above_stable",
            Self::LatencyAboveStable => "latency_above_stable",
            Self::FailureRateLimit => "failure_rate_limit",
            Self::LatencyLimit => "latency_limit",
            Self::BreakerOpen => "breaker_open",
            Self::Unhealthy => "unhealthy",
            Self::NotReady => "not_ready",
            Self::NotReadyTooLong => "not_ready_too_long",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One side's numbers in an [`Analysis`] (see its example).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct SideAnalysis {
    /// Calls recorded in the step (ignored outcomes are not counted).
    pub calls: u64,
    /// Of which failed.
    pub failures: u64,
    /// Of the failures, requests the side was not ready for (the candidate's
    /// went to the stable service instead).
    pub not_ready: u64,
    /// `failures / calls`, once there are calls.
    pub failure_rate: Option<f64>,
    /// The latency at the configured percentile, rounded up to the
    /// histogram's bucket edge (at most 12.5% above).
    pub latency: Option<Duration>,
}

impl SideAnalysis {
    /// A side with `calls` of which `failures` failed, at `latency`.
    pub(crate) fn new(calls: u64, failures: u64, latency: Option<Duration>) -> Self {
        Self {
            calls,
            failures,
            not_ready: 0,
            failure_rate: (calls > 0).then(|| failures as f64 / calls as f64),
            latency,
        }
    }

    pub(crate) fn from_snapshot(snapshot: &SideSnapshot, percentile: f64) -> Self {
        Self {
            not_ready: snapshot.not_ready,
            ..Self::new(
                snapshot.calls,
                snapshot.failures,
                snapshot.percentile(percentile),
            )
        }
    }
}

/// The numbers a decision was made on: both sides over the same step.
///
/// ```
/// use seawall::canary::{Canary, CanaryConfig};
///
/// let rollout = Canary::new(CanaryConfig::builder().steps([2.5, 100.0]).build()?);
/// let analysis = rollout.analysis();
/// assert_eq!((analysis.step, analysis.weight), (0, 250));
/// assert_eq!(analysis.candidate.calls, 0);
/// assert_eq!(analysis.candidate.failure_rate, None, "no call, no rate");
/// assert_eq!(analysis.stable.latency, None);
/// # Ok::<(), seawall::ConfigError>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Analysis {
    /// The step's index in the configured steps.
    pub step: usize,
    /// The candidate's weight in the step, in basis points.
    pub weight: u16,
    /// How long the step had run.
    pub elapsed: Duration,
    /// The latency percentile compared (0 to 1).
    pub percentile: f64,
    /// The stable side.
    pub stable: SideAnalysis,
    /// The candidate.
    pub candidate: SideAnalysis,
}
