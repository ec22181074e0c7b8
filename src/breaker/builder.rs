//! The validating builder of a [`BreakerConfig`].

use std::borrow::Cow;
use std::time::Duration;

use crate::clock::Clock;
use crate::error::ConfigError;
use crate::keyed::MetricScope;
use crate::validate::{positive_duration, LONGEST_DURATION};

use super::config::{
    BreakerConfig, HalfOpenTimeout, HalfOpenWait, OpenWait, SlidingWindow, MAX_PERMITTED_PROBES,
    RATE_SCALE,
};

/// The largest count window.
const MAX_COUNT_WINDOW: u32 = 1_000_000;
/// The most buckets a time window may have.
const MAX_BUCKETS: u32 = 1_000;

impl BreakerConfig {
    /// A builder starting from the defaults.
    ///
    /// ```
    /// use seawall::breaker::BreakerConfig;
    ///
    /// let config = BreakerConfig::builder().minimum_calls(10).build()?;
    /// # drop(config);
    /// # Ok::<(), seawall::ConfigError>(())
    /// ```
    pub fn builder() -> BreakerConfigBuilder {
        BreakerConfigBuilder::default()
    }
}

impl Default for BreakerConfig {
    fn default() -> Self {
        BreakerConfigBuilder::default()
            .build()
            .expect("the default configuration is valid")
    }
}

/// Builds a [`BreakerConfig`], checking every field in [`build`](Self::build).
///
/// ```
/// use seawall::breaker::BreakerConfig;
///
/// let err = BreakerConfig::builder().failure_rate_threshold(1.5).build().unwrap_err();
/// assert_eq!(err.field(), "failure_rate_threshold");
/// ```
#[derive(Clone, Debug)]
pub struct BreakerConfigBuilder {
    name: Cow<'static, str>,
    window: SlidingWindow,
    failure_rate_threshold: f64,
    slow_call_rate_threshold: f64,
    slow_call_duration_threshold: Option<Duration>,
    minimum_calls: u32,
    consecutive_failures: Option<u32>,
    open_wait: OpenWait,
    permitted_calls_in_half_open: u32,
    half_open_wait: HalfOpenWait,
    half_open_timeout: HalfOpenTimeout,
    eager_half_open: bool,
    clock: Option<Clock>,
}

impl Default for BreakerConfigBuilder {
    fn default() -> Self {
        Self {
            name: Cow::Borrowed("default"),
            window: SlidingWindow::Count { size: 100 },
            failure_rate_threshold: 0.5,
            slow_call_rate_threshold: 1.0,
            slow_call_duration_threshold: None,
            minimum_calls: 100,
            consecutive_failures: None,
            open_wait: OpenWait::fixed(Duration::from_secs(60)),
            permitted_calls_in_half_open: 10,
            half_open_wait: HalfOpenWait::TwiceOpenWait,
            half_open_timeout: HalfOpenTimeout::Open,
            eager_half_open: false,
            clock: None,
        }
    }
}

impl BreakerConfigBuilder {
    /// The name used in metrics labels and events.
    ///
    /// ```
    /// use seawall::breaker::BreakerConfig;
    ///
    /// let config = BreakerConfig::builder().name("payments").build()?;
    /// assert_eq!(config.name(), "payments");
    /// # Ok::<(), seawall::ConfigError>(())
    /// ```
    pub fn name(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.name = name.into();
        self
    }

    /// Judge by the last `size` calls (1 to 1,000,000).
    ///
    /// ```
    /// use seawall::breaker::BreakerConfig;
    ///
    /// let config = BreakerConfig::builder().count_window(50).build()?;
    /// # drop(config);
    /// # Ok::<(), seawall::ConfigError>(())
    /// ```
    pub fn count_window(mut self, size: u32) -> Self {
        self.window = SlidingWindow::Count { size };
        self
    }

    /// Judge by the calls that finished in the last `duration`, kept in
    /// `buckets` slices (1 to 1,000 slices of at least 1 ms each).
    ///
    /// ```
    /// use seawall::breaker::BreakerConfig;
    /// use std::time::Duration;
    ///
    /// let config = BreakerConfig::builder().time_window(Duration::from_secs(30), 10).build()?;
    /// # drop(config);
    /// # Ok::<(), seawall::ConfigError>(())
    /// ```
    pub fn time_window(mut self, duration: Duration, buckets: u32) -> Self {
        self.window = SlidingWindow::Time { duration, buckets };
        self
    }

    /// Open when at least this fraction of calls failed (greater than 0, at most 1).
    ///
    /// ```
    /// use seawall::breaker::BreakerConfig;
    ///
    /// let config = BreakerConfig::builder().failure_rate_threshold(0.25).build()?;
    /// # drop(config);
    /// # Ok::<(), seawall::ConfigError>(())
    /// ```
    pub fn failure_rate_threshold(mut self, rate: f64) -> Self {
        self.failure_rate_threshold = rate;
        self
    }

    /// Open when at least this fraction of calls were slow (greater than 0, at most 1).
    ///
    /// ```
    /// use seawall::breaker::BreakerConfig;
    /// use std::time::Duration;
    ///
    /// let config = BreakerConfig::builder()
    ///     .slow_call_duration_threshold(Duration::from_millis(300))
    ///     .slow_call_rate_threshold(0.8)
    ///     .build()?;
    /// # drop(config);
    /// # Ok::<(), seawall::ConfigError>(())
    /// ```
    pub fn slow_call_rate_threshold(mut self, rate: f64) -> Self {
        self.slow_call_rate_threshold = rate;
        self
    }

    /// A call is slow when it takes strictly longer than this. Turns on
    /// slow-call detection, which reads the clock twice per call.
    ///
    /// ```
    /// use seawall::breaker::BreakerConfig;
    /// use std::time::Duration;
    ///
    /// let config = BreakerConfig::builder()
    ///     .slow_call_duration_threshold(Duration::from_secs(2))
    ///     .build()?;
    /// # drop(config);
    /// # Ok::<(), seawall::ConfigError>(())
    /// ```
    pub fn slow_call_duration_threshold(mut self, threshold: Duration) -> Self {
        self.slow_call_duration_threshold = Some(threshold);
        self
    }

    /// Calls the window must hold before any rate is computed (at least 1).
    ///
    /// ```
    /// use seawall::breaker::BreakerConfig;
    ///
    /// let config = BreakerConfig::builder().minimum_calls(20).build()?;
    /// # drop(config);
    /// # Ok::<(), seawall::ConfigError>(())
    /// ```
    pub fn minimum_calls(mut self, calls: u32) -> Self {
        self.minimum_calls = calls;
        self
    }

    /// Also open after `failures` failures in a row (at least 1), whatever the
    /// rates. Any success ends the run.
    ///
    /// ```
    /// use seawall::breaker::BreakerConfig;
    ///
    /// let config = BreakerConfig::builder().consecutive_failures(5).build()?;
    /// # drop(config);
    /// # Ok::<(), seawall::ConfigError>(())
    /// ```
    pub fn consecutive_failures(mut self, failures: u32) -> Self {
        self.consecutive_failures = Some(failures);
        self
    }

    /// How long to stay open before probing (fixed, or growing with each
    /// consecutive reopening).
    ///
    /// ```
    /// use seawall::breaker::BreakerConfig;
    /// use seawall::breaker::OpenWait;
    /// use std::time::Duration;
    ///
    /// let config = BreakerConfig::builder()
    ///     .open_wait(OpenWait::fixed(Duration::from_secs(10)))
    ///     .build()?;
    /// # drop(config);
    /// # Ok::<(), seawall::ConfigError>(())
    /// ```
    pub fn open_wait(mut self, wait: OpenWait) -> Self {
        self.open_wait = wait;
        self
    }

    /// How many probes half-open admits (1 to 4,095).
    ///
    /// ```
    /// use seawall::breaker::BreakerConfig;
    ///
    /// let config = BreakerConfig::builder().permitted_calls_in_half_open(3).build()?;
    /// # drop(config);
    /// # Ok::<(), seawall::ConfigError>(())
    /// ```
    pub fn permitted_calls_in_half_open(mut self, calls: u32) -> Self {
        self.permitted_calls_in_half_open = calls;
        self
    }

    /// The longest half-open may wait for its probes before it resolves by
    /// itself, and where it then goes. Without this, half-open waits twice
    /// the open wait before it, then opens again ([`HalfOpenWait`]).
    ///
    /// ```
    /// use seawall::breaker::BreakerConfig;
    /// use seawall::breaker::HalfOpenTimeout;
    /// use std::time::Duration;
    ///
    /// let config = BreakerConfig::builder()
    ///     .max_wait_in_half_open(Duration::from_secs(30), HalfOpenTimeout::Open)
    ///     .build()?;
    /// # drop(config);
    /// # Ok::<(), seawall::ConfigError>(())
    /// ```
    pub fn max_wait_in_half_open(mut self, wait: Duration, then: HalfOpenTimeout) -> Self {
        self.half_open_wait = HalfOpenWait::At(wait);
        self.half_open_timeout = then;
        self
    }

    /// Lets half-open wait for its probes for ever, as resilience4j does by
    /// default. A probe that never finishes (a call admitted and never
    /// polled, a dependency that hangs without a timeout) then keeps the
    /// breaker half-open, refusing the calls beyond its probes, until a
    /// manual change.
    ///
    /// ```
    /// use seawall::breaker::{BreakerConfig, HalfOpenWait};
    ///
    /// let config = BreakerConfig::builder().unbounded_wait_in_half_open().build()?;
    /// assert_eq!(config.half_open_wait(), HalfOpenWait::Unbounded);
    /// # Ok::<(), seawall::ConfigError>(())
    /// ```
    pub fn unbounded_wait_in_half_open(mut self) -> Self {
        self.half_open_wait = HalfOpenWait::Unbounded;
        self
    }

    /// Move from open to half-open by a timer exactly when the wait ends (and
    /// resolve an expired half-open the same way), instead of at the next
    /// admission check. Needs a tokio runtime when the breaker opens; without
    /// one the lazy transition still happens.
    ///
    /// ```
    /// use seawall::breaker::BreakerConfig;
    ///
    /// let config = BreakerConfig::builder().eager_half_open(true).build()?;
    /// # drop(config);
    /// # Ok::<(), seawall::ConfigError>(())
    /// ```
    pub fn eager_half_open(mut self, eager: bool) -> Self {
        self.eager_half_open = eager;
        self
    }

    /// The clock the breaker reads (default: [`Clock::tokio`]).
    ///
    /// ```
    /// use seawall::breaker::BreakerConfig;
    /// use seawall::clock::Clock;
    ///
    /// let (clock, _hand) = Clock::manual(); // moved by hand, in tests
    ///
    /// let config = BreakerConfig::builder().clock(clock).build()?;
    /// # drop(config);
    /// # Ok::<(), seawall::ConfigError>(())
    /// ```
    pub fn clock(mut self, clock: Clock) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Checks every field and builds the configuration.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the first field out of its allowed range.
    ///
    /// ```
    /// use seawall::breaker::BreakerConfig;
    ///
    /// assert!(BreakerConfig::builder().minimum_calls(0).build().is_err());
    /// assert!(BreakerConfig::builder().minimum_calls(1).build().is_ok());
    /// ```
    pub fn build(self) -> Result<BreakerConfig, ConfigError> {
        let failure_rate_ppm = rate_ppm("failure_rate_threshold", self.failure_rate_threshold)?;
        let slow_call_rate_ppm =
            rate_ppm("slow_call_rate_threshold", self.slow_call_rate_threshold)?;
        match self.window {
            SlidingWindow::Count { size } => {
                if !(1..=MAX_COUNT_WINDOW).contains(&size) {
                    return Err(ConfigError::new("count_window", size, "1 to 1000000"));
                }
            }
            SlidingWindow::Time { duration, buckets } => {
                positive_duration("time_window.duration", duration)?;
                if !(1..=MAX_BUCKETS).contains(&buckets) {
                    return Err(ConfigError::new(
                        "time_window.buckets",
                        buckets,
                        "1 to 1000",
                    ));
                }
                if duration / buckets < Duration::from_millis(1) {
                    return Err(ConfigError::new(
                        "time_window.buckets",
                        buckets,
                        "few enough that each bucket spans at least 1 ms",
                    ));
                }
            }
        }
        let slow_call_nanos = match self.slow_call_duration_threshold {
            None => None,
            Some(threshold) => Some(
                positive_duration("slow_call_duration_threshold", threshold)?.as_nanos() as u64,
            ),
        };
        if self.minimum_calls == 0 {
            return Err(ConfigError::new("minimum_calls", 0, "at least 1"));
        }
        if self.consecutive_failures == Some(0) {
            return Err(ConfigError::new("consecutive_failures", 0, "at least 1"));
        }
        let wait = self.open_wait;
        positive_duration("open_wait.initial", wait.initial)?;
        if !(wait.multiplier.is_finite() && (1.0..=100.0).contains(&wait.multiplier)) {
            return Err(ConfigError::new(
                "open_wait.multiplier",
                wait.multiplier,
                "1 to 100",
            ));
        }
        if wait.max < wait.initial || wait.max > LONGEST_DURATION {
            return Err(ConfigError::new(
                "open_wait.max",
                wait.max,
                "at least the initial wait and at most 7 days",
            ));
        }
        if !(1..=MAX_PERMITTED_PROBES).contains(&self.permitted_calls_in_half_open) {
            return Err(ConfigError::new(
                "permitted_calls_in_half_open",
                self.permitted_calls_in_half_open,
                "1 to 4095",
            ));
        }
        if let HalfOpenWait::At(wait) = self.half_open_wait {
            positive_duration("max_wait_in_half_open", wait)?;
        }
        Ok(BreakerConfig {
            name: self.name,
            window: self.window,
            failure_rate_ppm,
            slow_call_rate_ppm,
            slow_call_nanos,
            minimum_calls: u64::from(self.minimum_calls),
            consecutive_failures: self.consecutive_failures,
            open_wait: self.open_wait,
            permitted_probes: self.permitted_calls_in_half_open,
            half_open_wait: self.half_open_wait,
            half_open_timeout: self.half_open_timeout,
            eager_half_open: self.eager_half_open,
            clock: self.clock.unwrap_or_default(),
            metric_scope: MetricScope::Own,
        })
    }
}

/// A rate in (0, 1] as millionths (at least one).
fn rate_ppm(field: &'static str, rate: f64) -> Result<u64, ConfigError> {
    if !(rate > 0.0 && rate <= 1.0) {
        return Err(ConfigError::new(
            field,
            rate,
            "greater than 0 and at most 1",
        ));
    }
    Ok(((rate * RATE_SCALE as f64).round() as u64).max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_out_of_range_field_is_named() {
        let cases: Vec<(BreakerConfigBuilder, &str)> = vec![
            (
                BreakerConfig::builder().failure_rate_threshold(0.0),
                "failure_rate_threshold",
            ),
            (
                BreakerConfig::builder().failure_rate_threshold(f64::NAN),
                "failure_rate_threshold",
            ),
            (
                BreakerConfig::builder().slow_call_rate_threshold(1.01),
                "slow_call_rate_threshold",
            ),
            (BreakerConfig::builder().count_window(0), "count_window"),
            (
                BreakerConfig::builder().time_window(Duration::ZERO, 10),
                "time_window.duration",
            ),
            (
                BreakerConfig::builder().time_window(Duration::from_secs(1), 0),
                "time_window.buckets",
            ),
            (
                BreakerConfig::builder().time_window(Duration::from_millis(5), 10),
                "time_window.buckets",
            ),
            (
                BreakerConfig::builder().slow_call_duration_threshold(Duration::ZERO),
                "slow_call_duration_threshold",
            ),
            (BreakerConfig::builder().minimum_calls(0), "minimum_calls"),
            (
                BreakerConfig::builder().consecutive_failures(0),
                "consecutive_failures",
            ),
            (
                BreakerConfig::builder().open_wait(OpenWait::fixed(Duration::ZERO)),
                "open_wait.initial",
            ),
            (
                BreakerConfig::builder().open_wait(OpenWait::exponential(
                    Duration::from_secs(1),
                    f64::INFINITY,
                    Duration::from_secs(2),
                )),
                "open_wait.multiplier",
            ),
            (
                BreakerConfig::builder().open_wait(OpenWait::exponential(
                    Duration::from_secs(2),
                    2.0,
                    Duration::from_secs(1),
                )),
                "open_wait.max",
            ),
            (
                BreakerConfig::builder().permitted_calls_in_half_open(0),
                "permitted_calls_in_half_open",
            ),
            (
                BreakerConfig::builder().permitted_calls_in_half_open(5000),
                "permitted_calls_in_half_open",
            ),
            (
                BreakerConfig::builder()
                    .max_wait_in_half_open(Duration::ZERO, HalfOpenTimeout::Open),
                "max_wait_in_half_open",
            ),
        ];
        for (builder, field) in cases {
            let err = builder.build().expect_err(field);
            assert_eq!(err.field(), field, "{err}");
            assert!(err.to_string().contains(err.allowed()), "{err}");
        }
    }
}
