//! Breaker configuration: what a breaker is built with, once validated.
//!
//! The builder that validates it, with [`BreakerConfig::builder`] and
//! `BreakerConfig::default`, is in `builder.rs`.

use std::borrow::Cow;
use std::time::Duration;

use crate::clock::Clock;
use crate::keyed::MetricScope;

use super::State;

/// Consecutive reopenings the breaker counts; from this many on the open wait
/// is the maximum.
pub(crate) const MAX_REOPENINGS: u32 = 63;
/// The most probes half-open may admit (the probe counters are 12 bits wide).
pub(crate) const MAX_PERMITTED_PROBES: u32 = 4095;
/// Rates are compared as integers in millionths, so the breaker and any model of
/// it agree to the last call.
pub(crate) const RATE_SCALE: u64 = 1_000_000;

/// Which calls the closed breaker judges the dependency by.
///
/// ```
/// use seawall::breaker::{BreakerConfig, SlidingWindow};
/// use std::time::Duration;
///
/// let config = BreakerConfig::builder().time_window(Duration::from_secs(60), 12).build()?;
/// assert_eq!(
///     config.sliding_window(),
///     SlidingWindow::Time { duration: Duration::from_secs(60), buckets: 12 }
/// );
/// # Ok::<(), seawall::ConfigError>(())
/// ```
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
///
/// ```
/// use seawall::breaker::{BreakerConfig, OpenWait};
/// use std::time::Duration;
///
/// // 5 s, then 10 s, 20 s, ... at most 2 minutes while probes keep failing.
/// let wait = OpenWait::exponential(Duration::from_secs(5), 2.0, Duration::from_secs(120));
/// let config = BreakerConfig::builder().open_wait(wait).build()?;
/// # drop(config);
/// # Ok::<(), seawall::ConfigError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OpenWait {
    pub(crate) initial: Duration,
    pub(crate) multiplier: f64,
    pub(crate) max: Duration,
}

impl OpenWait {
    /// Always the same wait.
    ///
    /// ```
    /// use seawall::breaker::OpenWait;
    /// use std::time::Duration;
    ///
    /// let wait = OpenWait::fixed(Duration::from_secs(30));
    /// # drop(wait);
    /// ```
    pub fn fixed(wait: Duration) -> Self {
        Self {
            initial: wait,
            multiplier: 1.0,
            max: wait,
        }
    }

    /// A wait that grows by `multiplier` each time a probe fails and the
    /// breaker opens again, up to `max`.
    ///
    /// ```
    /// use seawall::breaker::OpenWait;
    /// use std::time::Duration;
    ///
    /// let wait = OpenWait::exponential(Duration::from_secs(1), 2.0, Duration::from_secs(60));
    /// # drop(wait);
    /// ```
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

/// How long a half-open breaker waits for its probes to decide before it
/// resolves by itself (to [`HalfOpenTimeout`]'s state).
///
/// The default is twice the open wait that preceded the half-open state: a
/// probe that is admitted and never finishes (a call nobody polls, a
/// dependency that hangs without a timeout) cannot keep the breaker half-open,
/// refusing nearly everything, for longer than that. resilience4j waits for
/// ever by default; [`HalfOpenWait::Unbounded`] does the same here.
///
/// ```
/// use seawall::breaker::{BreakerConfig, HalfOpenTimeout, HalfOpenWait};
/// use std::time::Duration;
///
/// assert_eq!(BreakerConfig::default().half_open_wait(), HalfOpenWait::TwiceOpenWait);
/// let patient = BreakerConfig::builder().unbounded_wait_in_half_open().build()?;
/// assert_eq!(patient.half_open_wait(), HalfOpenWait::Unbounded);
/// let fixed = BreakerConfig::builder()
///     .max_wait_in_half_open(Duration::from_secs(5), HalfOpenTimeout::Open)
///     .build()?;
/// assert_eq!(fixed.half_open_wait(), HalfOpenWait::At(Duration::from_secs(5)));
/// # Ok::<(), seawall::ConfigError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HalfOpenWait {
    /// Twice the open wait that preceded the half-open state (the default).
    TwiceOpenWait,
    /// At most this long.
    At(Duration),
    /// For ever: only the probes decide (resilience4j's default).
    Unbounded,
}

impl HalfOpenWait {
    /// The longest a half-open state entered after an open wait of
    /// `open_wait` waits, if it is bounded.
    pub(crate) fn after(self, open_wait: Duration) -> Option<Duration> {
        match self {
            Self::TwiceOpenWait => Some(open_wait.saturating_mul(2)),
            Self::At(wait) => Some(wait),
            Self::Unbounded => None,
        }
    }
}

/// Where a half-open breaker goes when its maximum wait runs out before the
/// probes decided.
///
/// ```
/// use seawall::breaker::{BreakerConfig, HalfOpenTimeout};
/// use std::time::Duration;
///
/// // Probes that have not decided within 10 s close the breaker.
/// let config = BreakerConfig::builder()
///     .max_wait_in_half_open(Duration::from_secs(10), HalfOpenTimeout::Close)
///     .build()?;
/// # drop(config);
/// # Ok::<(), seawall::ConfigError>(())
/// ```
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
/// | `half_open_wait` | twice the open wait before it ([`HalfOpenWait`]) |
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
    pub(crate) half_open_wait: HalfOpenWait,
    pub(crate) half_open_timeout: HalfOpenTimeout,
    pub(crate) eager_half_open: bool,
    pub(crate) clock: Clock,
    /// Whether the breaker's series are its own or shared with other keys'
    /// breakers (set by a keyed handle only).
    pub(crate) metric_scope: MetricScope,
}

impl BreakerConfig {
    /// The breaker's name: the `name` label of its metrics and events.
    ///
    /// ```
    /// use seawall::breaker::BreakerConfig;
    ///
    /// assert_eq!(BreakerConfig::default().name(), "default");
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The sliding window of the closed state.
    ///
    /// ```
    /// use seawall::breaker::{BreakerConfig, SlidingWindow};
    ///
    /// let window = BreakerConfig::default().sliding_window();
    /// assert_eq!(window, SlidingWindow::Count { size: 100 });
    /// ```
    pub fn sliding_window(&self) -> SlidingWindow {
        self.window
    }

    /// How long half-open waits for its probes before it resolves by itself.
    ///
    /// ```
    /// use seawall::breaker::{BreakerConfig, HalfOpenWait};
    ///
    /// assert_eq!(BreakerConfig::default().half_open_wait(), HalfOpenWait::TwiceOpenWait);
    /// ```
    pub fn half_open_wait(&self) -> HalfOpenWait {
        self.half_open_wait
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

#[cfg(test)]
mod tests {
    use super::*;

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
