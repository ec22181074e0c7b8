//! Breaker configuration and its validating builder.

use std::borrow::Cow;
use std::time::Duration;

use crate::clock::Clock;
use crate::error::ConfigError;
use crate::validate::{positive_duration, LONGEST_DURATION};

use super::State;

/// Consecutive reopenings the breaker counts; from this many on the open wait
/// is the maximum.
pub(crate) const MAX_REOPENINGS: u32 = 63;
/// The most probes half-open may admit (the probe counters are 12 bits wide).
pub(crate) const MAX_PERMITTED_PROBES: u32 = 4095;
/// The largest count window.
const MAX_COUNT_WINDOW: u32 = 1_000_000;
/// The most buckets a time window may have.
const MAX_BUCKETS: u32 = 1_000;
/// Rates are compared as integers in millionths, so the breaker and any model of
/// it agree to the last call.
pub(crate) const RATE_SCALE: u64 = 1_000_000;

/// Which calls the closed breaker judges the dependency by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SlidingWindow {
    /// The last `size` recorded calls.
    Count {
        /// How many calls.
        size: u32,
    },
    /// The calls that finished in the last `duration`, kept in `buckets` equal
    /// slices of it. A call is dropped once its whole bucket is older than the
    /// window, so the window slides in steps of `duration / buckets`.
    Time {
        /// How far back the window reaches.
        duration: Duration,
        /// How many slices it is kept in.
        buckets: u32,
    },
}

/// How long an open breaker waits before it lets probes through.
///
/// The wait of the `n`-th consecutive opening (counting from 0, and reset when
/// the breaker closes) is `min(max, initial * multiplier^n)`; from the 63rd
/// consecutive reopening on it is `max`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OpenWait {
    pub(crate) initial: Duration,
    pub(crate) multiplier: f64,
    pub(crate) max: Duration,
}

impl OpenWait {
    /// Always the same wait.
    pub fn fixed(wait: Duration) -> Self {
        Self {
            initial: wait,
            multiplier: 1.0,
            max: wait,
        }
    }

    /// A wait that grows by `multiplier` each time a probe fails and the
    /// breaker opens again, up to `max`.
    pub fn exponential(initial: Duration, multiplier: f64, max: Duration) -> Self {
        Self {
            initial,
            multiplier,
            max,
        }
    }

    /// The wait of the `reopenings`-th consecutive opening. The breaker counts
    /// up to [`MAX_REOPENINGS`]; from there on the wait is the maximum.
    pub(crate) fn wait(&self, reopenings: u32) -> Duration {
        if reopenings >= MAX_REOPENINGS {
            return self.max;
        }
        let factor = self
            .multiplier
            .powi(i32::try_from(reopenings).unwrap_or(i32::MAX));
        let scaled = self.initial.as_secs_f64() * factor;
        if !scaled.is_finite() || scaled >= self.max.as_secs_f64() {
            self.max
        } else {
            Duration::from_secs_f64(scaled).min(self.max)
        }
    }
}

/// Where a half-open breaker goes when its maximum wait runs out before the
/// probes decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HalfOpenTimeout {
    /// Open again (the default): an undecided dependency is not trusted.
    Open,
    /// Close: trust the dependency again.
    Close,
}

impl HalfOpenTimeout {
    /// The state an expired half-open state moves to.
    pub(crate) fn next_state(self) -> State {
        match self {
            Self::Open => State::Open,
            Self::Close => State::Closed,
        }
    }
}

/// The configuration of a [`Breaker`](super::Breaker). Build one with
/// [`BreakerConfig::builder`]; [`BreakerConfig::default`] is valid as is.
///
/// | setting | default |
/// |---|---|
/// | `name` | `"default"` |
/// | `sliding_window` | count of 100 calls |
/// | `failure_rate_threshold` | 0.5 |
/// | `slow_call_rate_threshold` | 1.0 |
/// | `slow_call_duration_threshold` | off |
/// | `minimum_calls` | 100 (capped at a count window's size) |
/// | `consecutive_failures` | off |
/// | `open_wait` | fixed 60 s |
/// | `permitted_calls_in_half_open` | 10 |
/// | `max_wait_in_half_open` | none (wait for the probes) |
/// | `half_open_timeout` | open |
/// | `eager_half_open` | off (lazily, at the next admission) |
/// | `clock` | [`Clock::tokio`] |
///
/// ```
/// use seawall::breaker::{BreakerConfig, OpenWait};
/// use std::time::Duration;
///
/// let config = BreakerConfig::builder()
///     .name("payments")
///     .count_window(50)
///     .minimum_calls(20)
///     .failure_rate_threshold(0.25)
///     .slow_call_duration_threshold(Duration::from_millis(500))
///     .open_wait(OpenWait::exponential(Duration::from_secs(5), 2.0, Duration::from_secs(120)))
///     .build()?;
/// assert_eq!(config.name(), "payments");
/// # Ok::<(), seawall::ConfigError>(())
/// ```
#[derive(Clone, Debug)]
pub struct BreakerConfig {
    pub(crate) name: Cow<'static, str>,
    pub(crate) window: SlidingWindow,
    pub(crate) failure_rate_ppm: u64,
    pub(crate) slow_call_rate_ppm: u64,
    pub(crate) slow_call_nanos: Option<u64>,
    pub(crate) minimum_calls: u64,
    pub(crate) consecutive_failures: Option<u32>,
    pub(crate) open_wait: OpenWait,
    pub(crate) permitted_probes: u32,
    pub(crate) max_wait_in_half_open: Option<Duration>,
    pub(crate) half_open_timeout: HalfOpenTimeout,
    pub(crate) eager_half_open: bool,
    pub(crate) clock: Clock,
}

impl BreakerConfig {
    /// A builder starting from the defaults.
    pub fn builder() -> BreakerConfigBuilder {
        BreakerConfigBuilder::default()
    }

    /// The breaker's name: the `name` label of its metrics and events.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The sliding window of the closed state.
    pub fn sliding_window(&self) -> SlidingWindow {
        self.window
    }

    /// Calls needed in the window (or, half-open, probes completed) before a
    /// decision: the configured minimum, capped at a count window's size and,
    /// half-open, at the number of permitted probes.
    pub(crate) fn minimum_calls_in(&self, state: State) -> u64 {
        match (state, self.window) {
            (State::HalfOpen, _) => self.minimum_calls.min(u64::from(self.permitted_probes)),
            (_, SlidingWindow::Count { size }) => self.minimum_calls.min(u64::from(size)),
            (_, SlidingWindow::Time { .. }) => self.minimum_calls,
        }
    }

    /// Whether `failures` and `slow` out of `calls` reach a threshold, once
    /// `minimum` calls have been seen. Both thresholds trip at `>=`.
    pub(crate) fn rates_trip(&self, calls: u64, failures: u64, slow: u64, minimum: u64) -> bool {
        calls >= minimum.max(1)
            && (u128::from(failures) * u128::from(RATE_SCALE)
                >= u128::from(self.failure_rate_ppm) * u128::from(calls)
                || u128::from(slow) * u128::from(RATE_SCALE)
                    >= u128::from(self.slow_call_rate_ppm) * u128::from(calls))
    }

    /// Whether a call of `nanos` is slow: strictly longer than the threshold.
    #[inline]
    pub(crate) fn is_slow(&self, nanos: u64) -> bool {
        self.slow_call_nanos
            .is_some_and(|threshold| nanos > threshold)
    }

    /// Whether recording a call needs its duration.
    #[inline]
    pub(crate) fn measures_duration(&self) -> bool {
        self.slow_call_nanos.is_some()
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
    max_wait_in_half_open: Option<Duration>,
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
            max_wait_in_half_open: None,
            half_open_timeout: HalfOpenTimeout::Open,
            eager_half_open: false,
            clock: None,
        }
    }
}

impl BreakerConfigBuilder {
    /// The name used in metrics labels and events.
    pub fn name(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.name = name.into();
        self
    }

    /// Judge by the last `size` calls (1 to 1,000,000).
    pub fn count_window(mut self, size: u32) -> Self {
        self.window = SlidingWindow::Count { size };
        self
    }

    /// Judge by the calls that finished in the last `duration`, kept in
    /// `buckets` slices (1 to 1,000 slices of at least 1 ms each).
    pub fn time_window(mut self, duration: Duration, buckets: u32) -> Self {
        self.window = SlidingWindow::Time { duration, buckets };
        self
    }

    /// Open when at least this fraction of calls failed (greater than 0, at most 1).
    pub fn failure_rate_threshold(mut self, rate: f64) -> Self {
        self.failure_rate_threshold = rate;
        self
    }

    /// Open when at least this fraction of calls were slow (greater than 0, at most 1).
    pub fn slow_call_rate_threshold(mut self, rate: f64) -> Self {
        self.slow_call_rate_threshold = rate;
        self
    }

    /// A call is slow when it takes strictly longer than this. Turns on
    /// slow-call detection, which reads the clock twice per call.
    pub fn slow_call_duration_threshold(mut self, threshold: Duration) -> Self {
        self.slow_call_duration_threshold = Some(threshold);
        self
    }

    /// Calls the window must hold before any rate is computed (at least 1).
    pub fn minimum_calls(mut self, calls: u32) -> Self {
        self.minimum_calls = calls;
        self
    }

    /// Also open after `failures` failures in a row (at least 1), whatever the
    /// rates. Any success ends the run.
    pub fn consecutive_failures(mut self, failures: u32) -> Self {
        self.consecutive_failures = Some(failures);
        self
    }

    /// How long to stay open before probing (fixed, or growing with each
    /// consecutive reopening).
    pub fn open_wait(mut self, wait: OpenWait) -> Self {
        self.open_wait = wait;
        self
    }

    /// How many probes half-open admits (1 to 4,095).
    pub fn permitted_calls_in_half_open(mut self, calls: u32) -> Self {
        self.permitted_calls_in_half_open = calls;
        self
    }

    /// The longest half-open may wait for its probes before it resolves by
    /// itself, to [`HalfOpenTimeout::Open`] unless told otherwise.
    pub fn max_wait_in_half_open(mut self, wait: Duration, then: HalfOpenTimeout) -> Self {
        self.max_wait_in_half_open = Some(wait);
        self.half_open_timeout = then;
        self
    }

    /// Move from open to half-open by a timer exactly when the wait ends (and
    /// resolve an expired half-open the same way), instead of at the next
    /// admission check. Needs a tokio runtime when the breaker opens; without
    /// one the lazy transition still happens.
    pub fn eager_half_open(mut self, eager: bool) -> Self {
        self.eager_half_open = eager;
        self
    }

    /// The clock the breaker reads (default: [`Clock::tokio`]).
    pub fn clock(mut self, clock: Clock) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Checks every field and builds the configuration.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the first field out of its allowed range.
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
        if let Some(wait) = self.max_wait_in_half_open {
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
            max_wait_in_half_open: self.max_wait_in_half_open,
            half_open_timeout: self.half_open_timeout,
            eager_half_open: self.eager_half_open,
            clock: self.clock.unwrap_or_default(),
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

    #[test]
    fn open_wait_grows_and_caps_without_overflow() {
        let wait = OpenWait::exponential(Duration::from_secs(1), 2.0, Duration::from_secs(30));
        assert_eq!(wait.wait(0), Duration::from_secs(1));
        assert_eq!(wait.wait(3), Duration::from_secs(8));
        assert_eq!(wait.wait(5), Duration::from_secs(30));
        assert_eq!(wait.wait(u32::MAX), Duration::from_secs(30));
        let slow_growth =
            OpenWait::exponential(Duration::from_millis(100), 1.01, Duration::from_secs(600));
        assert!(slow_growth.wait(62) < Duration::from_secs(1));
        assert_eq!(slow_growth.wait(MAX_REOPENINGS), Duration::from_secs(600));
    }

    #[test]
    fn thresholds_trip_at_greater_or_equal() {
        let config = BreakerConfig::builder()
            .minimum_calls(4)
            .failure_rate_threshold(0.5)
            .build()
            .unwrap();
        assert!(!config.rates_trip(3, 3, 0, 4), "below the minimum");
        assert!(config.rates_trip(4, 2, 0, 4), "exactly the threshold");
        assert!(!config.rates_trip(5, 2, 0, 4));
        assert!(
            config.rates_trip(4, 0, 4, 4),
            "slow-call rate of 1 reaches 1"
        );
    }
}
