//! What a breaker reports: its `metrics` handles, and the snapshot a handle
//! reads with [`Breaker::metrics`](super::Breaker::metrics).

use std::time::Duration;

use crate::classify::Outcome;
use crate::observe;
use crate::sync::Ordering;

use super::core::BreakerCore;
use super::probe_word::ProbeCounts;
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
    pub(super) fn new(name: &str) -> Self {
        let calls = |outcome: &'static str| metrics::counter!(observe::BREAKER_CALLS_TOTAL, "name" => name.to_owned(), "outcome" => outcome);
        Self {
            success: calls("success"),
            failure: calls("failure"),
            slow_success: calls("slow_success"),
            slow_failure: calls("slow_failure"),
            ignored: calls("ignored"),
            rejections: metrics::counter!(observe::BREAKER_REJECTIONS_TOTAL, "name" => name.to_owned()),
            state: metrics::gauge!(observe::BREAKER_STATE, "name" => name.to_owned()),
            failure_rate: metrics::gauge!(observe::BREAKER_FAILURE_RATE, "name" => name.to_owned()),
            slow_call_rate: metrics::gauge!(observe::BREAKER_SLOW_CALL_RATE, "name" => name.to_owned()),
        }
    }

    /// The counter of a notable outcome; `None` for a fast success, which is
    /// counted on the stripes.
    fn counter_for(&self, outcome: Outcome, slow: bool) -> Option<&metrics::Counter> {
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

impl BreakerCore {
    /// Counts a notable outcome, and publishes the success total with it (fast
    /// successes are counted on the stripes, and published by their callers).
    pub(super) fn count_outcome(&self, outcome: Outcome, slow: bool) {
        if let Some(counter) = self.metrics.counter_for(outcome, slow) {
            counter.increment(1);
            self.publish_successes();
        }
    }

    /// Sets `seawall_breaker_calls_total{outcome="success"}` to every fast
    /// success so far: the stripes' and the probes'.
    #[cold]
    #[inline(never)]
    pub(super) fn publish_successes(&self) {
        // Relaxed: a statistic; a success racing this read is published next time.
        let probes = self.probe_successes.load(Ordering::Relaxed);
        self.metrics
            .success
            .absolute(self.window.total_successes() + probes);
    }

    /// A consistent-enough view for the handle. Never changes the state.
    pub(crate) fn metrics_snapshot(&self) -> BreakerMetrics {
        let word = self.load();
        let state = word.state();
        let now = self.now();
        let counts = match state {
            State::Closed | State::MetricsOnly => self.window.counts(now),
            State::Open | State::ForcedOpen => *self.tripped_window.lock(),
            State::HalfOpen => {
                // Acquire: pairs with the AcqRel of the probe updates.
                let raw = self.probe_word.load(Ordering::Acquire);
                ProbeCounts::unpack(raw, word.generation()).completed_counts()
            }
            State::Disabled => WindowCounts::default(),
        };
        let minimum = self.config.minimum_calls_in(state);
        let rate = |part: u64| {
            (counts.calls >= minimum && counts.calls > 0).then(|| part as f64 / counts.calls as f64)
        };
        let time_until_probe = match state {
            State::Open => word
                .deadline_nanos()
                .map(|deadline| Duration::from_nanos(deadline.saturating_sub(now))),
            _ => None,
        };
        BreakerMetrics {
            state,
            calls: counts.calls,
            failed_calls: counts.failures,
            slow_calls: counts.slow,
            failure_rate: rate(counts.failures),
            slow_call_rate: rate(counts.slow),
            // Relaxed: a statistic.
            not_permitted_calls: self.rejections.load(Ordering::Relaxed),
            time_until_probe,
        }
    }
}
