//! Canary configuration and its validating builder.

use std::borrow::Cow;
use std::time::Duration;

use crate::clock::Clock;
use crate::error::ConfigError;
use crate::validate::{bounded_duration, positive_duration};

use super::quantile::normal_quantile;

/// A weight of 100%, in basis points.
pub(crate) const FULL_WEIGHT: u16 = 10_000;

/// The configuration of a [`Canary`](super::Canary). Build one
/// with [`CanaryConfig::builder`]; [`CanaryConfig::default`] is valid as is.
///
/// | setting | default |
/// |---|---|
/// | `name` | `"canary"` |
/// | `steps` (percent of traffic to the candidate) | 1, 5, 25, 50, 100 |
/// | `hold` (each step at least) | 60 s |
/// | `min_requests` (candidate requests per step at least) | 100 |
/// | `analysis_interval` | 10 s |
/// | `min_samples` (candidate calls before any judgement) | 20 |
/// | `max_failure_rate_increase` (over the stable side) | 0.02 (2 points) |
/// | `confidence` (that a failure rate is out of bounds, to roll back) | 0.95 |
/// | `latency_percentile` | 0.99 |
/// | `max_latency_ratio` (over the stable side) | 1.5 |
/// | `min_latency_increase` (ignored below) | 1 ms |
/// | `max_failure_rate`, `max_latency` (absolute) | off |
/// | `max_not_ready` (the candidate not ready, in a row, before a roll-back) | 30 s |
/// | `clock` | [`Clock::tokio`] |
///
/// ```
/// use seawall::canary::CanaryConfig;
/// use std::time::Duration;
///
/// let config = CanaryConfig::builder()
///     .name("checkout-v2")
///     .steps([1.0, 10.0, 50.0, 100.0])
///     .hold(Duration::from_secs(120))
///     .min_requests(200)
///     .max_failure_rate(0.05)
///     .build()?;
/// assert_eq!(config.steps(), &[100, 1_000, 5_000, 10_000]);
/// # Ok::<(), seawall::ConfigError>(())
/// ```
#[derive(Clone, Debug)]
pub struct CanaryConfig {
    pub(crate) name: Cow<'static, str>,
    /// Basis points, strictly increasing, each in 1..=10000.
    pub(crate) steps: Vec<u16>,
    pub(crate) hold: Duration,
    pub(crate) min_requests: u64,
    pub(crate) interval: Duration,
    pub(crate) min_samples: u64,
    pub(crate) max_failure_rate_increase: f64,
    /// The standard normal quantile of the confidence.
    pub(crate) z: f64,
    pub(crate) percentile: f64,
    pub(crate) max_latency_ratio: f64,
    pub(crate) min_latency_increase: Duration,
    pub(crate) max_failure_rate: Option<f64>,
    pub(crate) max_latency: Option<Duration>,
    pub(crate) max_not_ready: Duration,
    pub(crate) clock: Clock,
}

impl CanaryConfig {
    /// A builder starting from the defaults.
    pub fn builder() -> CanaryConfigBuilder {
        CanaryConfigBuilder::default()
    }

    /// The canary's name: the `name` label of its metrics and events, and its
    /// name in the health registry.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The weight steps, in basis points (1/100 of a percent).
    pub fn steps(&self) -> &[u16] {
        &self.steps
    }

    /// How long each step is held at least.
    pub fn hold(&self) -> Duration {
        self.hold
    }

    /// How many requests the candidate serves in each step at least.
    pub fn min_requests(&self) -> u64 {
        self.min_requests
    }

    /// How often a running step is analysed.
    pub fn analysis_interval(&self) -> Duration {
        self.interval
    }

    /// How long the candidate may stay not ready, in a row, before the
    /// rollout rolls back by itself.
    pub fn max_not_ready(&self) -> Duration {
        self.max_not_ready
    }

    /// The clock the canary reads.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }
}

impl Default for CanaryConfig {
    fn default() -> Self {
        CanaryConfigBuilder::default()
            .build()
            .expect("the default configuration is valid")
    }
}

/// Builds a [`CanaryConfig`], checking every field in [`build`](Self::build).
#[derive(Clone, Debug)]
pub struct CanaryConfigBuilder {
    name: Cow<'static, str>,
    steps: Vec<f64>,
    hold: Duration,
    min_requests: u64,
    interval: Duration,
    min_samples: u64,
    max_failure_rate_increase: f64,
    confidence: f64,
    percentile: f64,
    max_latency_ratio: f64,
    min_latency_increase: Duration,
    max_failure_rate: Option<f64>,
    max_latency: Option<Duration>,
    max_not_ready: Duration,
    clock: Clock,
}

impl Default for CanaryConfigBuilder {
    fn default() -> Self {
        Self {
            name: Cow::Borrowed("canary"),
            steps: vec![1.0, 5.0, 25.0, 50.0, 100.0],
            hold: Duration::from_secs(60),
            min_requests: 100,
            interval: Duration::from_secs(10),
            min_samples: 20,
            max_failure_rate_increase: 0.02,
            confidence: 0.95,
            percentile: 0.99,
            max_latency_ratio: 1.5,
            min_latency_increase: Duration::from_millis(1),
            max_failure_rate: None,
            max_latency: None,
            max_not_ready: Duration::from_secs(30),
            clock: Clock::tokio(),
        }
    }
}

impl CanaryConfigBuilder {
    /// The name used in metrics labels, events and the health report.
    pub fn name(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.name = name.into();
        self
    }

    /// The candidate's share of traffic at each step, in percent: strictly
    /// increasing, each greater than 0 and at most 100, in steps of 0.01.
    /// Once the last step is held and analysed the rollout is
    /// [`Promoted`](super::Phase::Promoted): all traffic goes to the
    /// candidate.
    pub fn steps(mut self, percents: impl IntoIterator<Item = f64>) -> Self {
        self.steps = percents.into_iter().collect();
        self
    }

    /// How long each step is held at least (greater than 0, at most 7 days).
    pub fn hold(mut self, hold: Duration) -> Self {
        self.hold = hold;
        self
    }

    /// How many requests the candidate must serve in a step before it may be
    /// promoted (at least 1). A step also waits for
    /// [`min_samples`](Self::min_samples), whichever is more.
    pub fn min_requests(mut self, requests: u64) -> Self {
        self.min_requests = requests;
        self
    }

    /// How often a running step is analysed (greater than 0, at most the
    /// hold): an out-of-bounds candidate is rolled back at the first analysis
    /// that sees it.
    pub fn analysis_interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }

    /// How many calls the candidate must have made in a step before its
    /// numbers are judged at all, and the stable side before it is compared
    /// with (at least 1).
    pub fn min_samples(mut self, samples: u64) -> Self {
        self.min_samples = samples;
        self
    }

    /// Roll back when the candidate's failure rate exceeds the stable side's
    /// by more than `increase` (0 to 1; 0.02 is two percentage points).
    pub fn max_failure_rate_increase(mut self, increase: f64) -> Self {
        self.max_failure_rate_increase = increase;
        self
    }

    /// How sure an analysis must be that a failure rate is out of bounds
    /// before it rolls back (at least 0.5, below 1): the excess must remain
    /// after taking off its standard error times the normal quantile of
    /// `confidence` (1.645 for 0.95). 0.5 compares the rates as measured.
    /// Short of that confidence, a step whose measured rate is out of bounds
    /// is held, neither promoted nor rolled back, until more calls decide.
    pub fn confidence(mut self, confidence: f64) -> Self {
        self.confidence = confidence;
        self
    }

    /// The latency percentile compared (greater than 0, at most 1).
    pub fn latency_percentile(mut self, percentile: f64) -> Self {
        self.percentile = percentile;
        self
    }

    /// Roll back when the candidate's latency at the percentile exceeds the
    /// stable side's times `ratio` (at least 1), and by more than the
    /// [`min_latency_increase`](Self::min_latency_increase).
    pub fn max_latency_ratio(mut self, ratio: f64) -> Self {
        self.max_latency_ratio = ratio;
        self
    }

    /// Latency differences up to `increase` are noise and never roll back
    /// (at most 7 days).
    pub fn min_latency_increase(mut self, increase: Duration) -> Self {
        self.min_latency_increase = increase;
        self
    }

    /// Roll back when the candidate's failure rate exceeds `rate` (0 to 1),
    /// whatever the stable side's.
    pub fn max_failure_rate(mut self, rate: f64) -> Self {
        self.max_failure_rate = Some(rate);
        self
    }

    /// Roll back when the candidate's latency at the percentile exceeds
    /// `latency` (greater than 0, at most 7 days), whatever the stable side's.
    pub fn max_latency(mut self, latency: Duration) -> Self {
        self.max_latency = Some(latency);
        self
    }

    /// Roll back when the candidate stays not ready (its `poll_ready`
    /// pending) for longer than `wait` in a row (greater than 0, at most 7
    /// days). Meanwhile the requests it would have had go to the stable
    /// service, and count as its failures.
    pub fn max_not_ready(mut self, wait: Duration) -> Self {
        self.max_not_ready = wait;
        self
    }

    /// The clock holds, intervals and latencies are read from.
    pub fn clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Checks every field and builds the configuration.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the first field out of its allowed range.
    pub fn build(self) -> Result<CanaryConfig, ConfigError> {
        if self.steps.is_empty() {
            return Err(ConfigError::new(
                "steps",
                &self.steps,
                "at least one step, each greater than 0 and at most 100, strictly increasing",
            ));
        }
        let mut steps = Vec::with_capacity(self.steps.len());
        for &percent in &self.steps {
            let points = (percent * 100.0).round();
            let representable = (percent * 100.0 - points).abs() < 1e-6;
            if !(percent > 0.0 && percent <= 100.0 && representable)
                || steps.last().is_some_and(|&last| f64::from(last) >= points)
            {
                return Err(ConfigError::new(
                    "steps",
                    &self.steps,
                    "at least one step, each greater than 0 and at most 100 in steps of 0.01, strictly increasing",
                ));
            }
            steps.push(points as u16);
        }
        if steps.len() > usize::from(u8::MAX) {
            return Err(ConfigError::new("steps", steps.len(), "at most 255 steps"));
        }
        positive_duration("hold", self.hold)?;
        if self.min_requests == 0 {
            return Err(ConfigError::new("min_requests", 0, "at least 1"));
        }
        if self.interval.is_zero() || self.interval > self.hold {
            return Err(ConfigError::new(
                "analysis_interval",
                self.interval,
                "greater than 0 and at most the hold",
            ));
        }
        if self.min_samples == 0 {
            return Err(ConfigError::new("min_samples", 0, "at least 1"));
        }
        if !(0.0..=1.0).contains(&self.max_failure_rate_increase) {
            return Err(ConfigError::new(
                "max_failure_rate_increase",
                self.max_failure_rate_increase,
                "0 to 1",
            ));
        }
        if !(self.confidence >= 0.5 && self.confidence < 1.0) {
            return Err(ConfigError::new(
                "confidence",
                self.confidence,
                "at least 0.5 and below 1",
            ));
        }
        if !(self.percentile > 0.0 && self.percentile <= 1.0) {
            return Err(ConfigError::new(
                "latency_percentile",
                self.percentile,
                "greater than 0 and at most 1",
            ));
        }
        if !(self.max_latency_ratio >= 1.0 && self.max_latency_ratio.is_finite()) {
            return Err(ConfigError::new(
                "max_latency_ratio",
                self.max_latency_ratio,
                "at least 1 and finite",
            ));
        }
        bounded_duration("min_latency_increase", self.min_latency_increase)?;
        if let Some(rate) = self.max_failure_rate {
            if !(0.0..=1.0).contains(&rate) {
                return Err(ConfigError::new("max_failure_rate", rate, "0 to 1"));
            }
        }
        if let Some(latency) = self.max_latency {
            positive_duration("max_latency", latency)?;
        }
        positive_duration("max_not_ready", self.max_not_ready)?;
        Ok(CanaryConfig {
            name: self.name,
            steps,
            hold: self.hold,
            min_requests: self.min_requests,
            interval: self.interval,
            min_samples: self.min_samples,
            max_failure_rate_increase: self.max_failure_rate_increase,
            z: normal_quantile(self.confidence),
            percentile: self.percentile,
            max_latency_ratio: self.max_latency_ratio,
            min_latency_increase: self.min_latency_increase,
            max_failure_rate: self.max_failure_rate,
            max_latency: self.max_latency,
            max_not_ready: self.max_not_ready,
            clock: self.clock,
        })
    }
}
