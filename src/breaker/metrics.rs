//! What a breaker reports: its `metrics` handles, and the snapshot a handle
//! reads with [`Breaker::metrics`](super::Breaker::metrics).

use std::time::Duration;

use crate::classify::Outcome;
use crate::keyed::MetricScope;
use crate::observe;

use super::state::State;
use super::window::WindowCounts;

/// Publish the success counter every this many successes per stripe.
pub(super) const SUCCESS_PUBLISH_EVERY: u64 = 1024;

/// A snapshot of a breaker's metrics, from [`Breaker::metrics`](super::Breaker::metrics).
///
/// Closed or metrics-only, it describes the sliding window; open, the window
/// that tripped the breaker; half-open, the probes completed so far.
///
/// ```
/// use seawall::breaker::{Breaker, BreakerConfig, State};
///
/// let config = BreakerConfig::builder().count_window(4).minimum_calls(2).build()?;
/// let breaker = Breaker::new(config);
/// breaker.try_acquire()?.success();
/// breaker.try_acquire()?.success();
/// let metrics = breaker.metrics();
/// assert_eq!((metrics.state, metrics.calls, metrics.failed_calls), (State::Closed, 2, 0));
/// assert_eq!(metrics.failure_rate, Some(0.0));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct BreakerMetrics {
    /// The state when the snapshot was taken.
    pub state: State,
    /// Calls counted.
    pub calls: u64,
    /// Of which failed.
    pub failed_calls: u64,
    /// Of which slow.
    pub slow_calls: u64,
    /// `failed_calls / calls`, once the minimum number of calls is reached.
    pub failure_rate: Option<f64>,
    /// `slow_calls / calls`, once the minimum number of calls is reached.
    pub slow_call_rate: Option<f64>,
    /// Calls refused since the breaker was built.
    pub not_permitted_calls: u64,
    /// Open: how long until the next admission check may let a probe through.
    pub time_until_probe: Option<Duration>,
}

/// The breaker's `metrics` handles, resolved once when it is built (the
/// transitions counter, rare and labelled by two states, is looked up at each
/// transition).
///
/// A keyed breaker without per-key labels shares its `name` with every other
/// key's ([`MetricScope::SharedByKeys`]): its counters add up with theirs, and
/// its gauges are not published, since each breaker would overwrite the
/// others' state and rates.
pub(super) struct MetricHandles {
    pub(super) success: metrics::Counter,
    pub(super) failure: metrics::Counter,
    pub(super) slow_success: metrics::Counter,
    pub(super) slow_failure: metrics::Counter,
    pub(super) ignored: metrics::Counter,
    pub(super) rejections: metrics::Counter,
    pub(super) state: metrics::Gauge,
    pub(super) failure_rate: metrics::Gauge,
    pub(super) slow_call_rate: metrics::Gauge,
}

impl MetricHandles {
    pub(super) fn new(name: &str, scope: MetricScope) -> Self {
        let calls = |outcome: &'static str| metrics::counter!(observe::BREAKER_CALLS_TOTAL, "name" => name.to_owned(), "outcome" => outcome);
        let gauge = |gauge: &'static str| match scope {
            MetricScope::Own => metrics::gauge!(gauge, "name" => name.to_owned()),
            MetricScope::SharedByKeys => metrics::Gauge::noop(),
        };
        Self {
            success: calls("success"),
            failure: calls("failure"),
            slow_success: calls("slow_success"),
            slow_failure: calls("slow_failure"),
            ignored: calls("ignored"),
            rejections: metrics::counter!(observe::BREAKER_REJECTIONS_TOTAL, "name" => name.to_owned()),
            state: gauge(observe::BREAKER_STATE),
            failure_rate: gauge(observe::BREAKER_FAILURE_RATE),
            slow_call_rate: gauge(observe::BREAKER_SLOW_CALL_RATE),
        }
    }

    /// The counter of a notable outcome; `None` for a fast success, which is
    /// counted on the stripes.
    pub(super) fn counter_for(&self, outcome: Outcome, slow: bool) -> Option<&metrics::Counter> {
        match (outcome, slow) {
            (Outcome::Success, false) => None,
            (Outcome::Success, true) => Some(&self.slow_success),
            (Outcome::Failure, false) => Some(&self.failure),
            (Outcome::Failure, true) => Some(&self.slow_failure),
            (Outcome::Ignored, _) => Some(&self.ignored),
        }
    }

    /// Sets the rate gauges from `counts`, once `minimum` calls are in.
    pub(super) fn publish_rates(&self, counts: WindowCounts, minimum: u64) {
        if counts.calls >= minimum && counts.calls > 0 {
            let calls = counts.calls as f64;
            self.failure_rate.set(counts.failures as f64 / calls);
            self.slow_call_rate.set(counts.slow as f64 / calls);
        }
    }
}
