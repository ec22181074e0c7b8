//! How long to wait before each retry: the backoff trait, the standard
//! constant, linear and exponential delays with jitter, and the random source
//! the jitter draws from.

use std::fmt;
use std::time::Duration;

use crate::error::ConfigError;
use crate::validate::bounded_duration;

/// Chooses the delay before a retry.
///
/// Implemented by [`StandardBackoff`] (constant, linear and exponential
/// delays, capped and [jittered](Jitter)) and by [`BackoffFn`], which makes
/// one from a closure. The random source is a small [`JitterRng`] seeded from
/// the retry layer's seed, so a seeded run is reproducible.
///
/// ```
/// use seawall::retry::{Backoff, Jitter, JitterRng, StandardBackoff};
/// use std::time::Duration;
///
/// let backoff = StandardBackoff::new(Duration::from_millis(100), 2.0)
///     .with_cap(Duration::from_secs(2))
///     .with_jitter(Jitter::None);
/// let mut rng = JitterRng::seeded(7);
/// assert_eq!(backoff.delay(1, None, &mut rng), Duration::from_millis(100));
/// assert_eq!(backoff.delay(3, None, &mut rng), Duration::from_millis(400));
/// assert_eq!(backoff.delay(1_000, None, &mut rng), Duration::from_secs(2));
/// ```
pub trait Backoff: Send + Sync {
    /// The delay before retry number `retry` (1 for the first retry, which is
    /// the second attempt). `previous` is the delay before the previous retry,
    /// if there was one.
    fn delay(&self, retry: u32, previous: Option<Duration>, rng: &mut JitterRng) -> Duration;

    /// Checks the settings; the retry builder calls it and returns its error.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the bad setting.
    fn validate(&self) -> Result<(), ConfigError> {
        Ok(())
    }
}

/// A backoff from a closure of the retry number.
///
/// ```
/// use seawall::retry::{backoff_fn, Backoff, JitterRng};
/// use std::time::Duration;
///
/// let backoff = backoff_fn(|retry| Duration::from_millis(10 * u64::from(retry)));
/// assert_eq!(backoff.delay(3, None, &mut JitterRng::seeded(1)), Duration::from_millis(30));
/// ```
pub fn backoff_fn<F>(f: F) -> BackoffFn<F>
where
    F: Fn(u32) -> Duration + Send + Sync,
{
    BackoffFn(f)
}

/// A [`Backoff`] made by [`backoff_fn`] from a closure.
///
/// ```
/// use seawall::retry::{backoff_fn, BackoffFn};
/// use std::time::Duration;
///
/// let backoff: BackoffFn<_> = backoff_fn(|_| Duration::from_millis(5));
/// # drop(backoff);
/// ```
#[derive(Clone, Copy)]
pub struct BackoffFn<F>(F);

impl<F> fmt::Debug for BackoffFn<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BackoffFn")
    }
}

impl<F> Backoff for BackoffFn<F>
where
    F: Fn(u32) -> Duration + Send + Sync,
{
    fn delay(&self, retry: u32, _: Option<Duration>, _: &mut JitterRng) -> Duration {
        (self.0)(retry)
    }
}

/// How a delay is randomised.
///
/// # Why jitter
///
/// Clients that failed together and retry after the same delay fail together
/// again: a dependency that stumbled for a moment meets every retry at once.
/// Randomising the delay spreads them out. The formulas are the ones AWS
/// measured in "Exponential Backoff And Jitter", with `t` the un-jittered
/// delay of the retry (already capped), `base` the first delay and `cap` the
/// largest:
///
/// | `Jitter` | delay |
/// |---|---|
/// | `None` | `t` |
/// | `Full` | `rand(0, t)` |
/// | `Equal` | `t/2 + rand(0, t/2)` |
/// | `Decorrelated` | `min(cap, rand(base, previous * 3))` |
///
/// The cap holds after jitter too, and the arithmetic saturates, so retry
/// number `u32::MAX` gets `cap`, not an overflow.
///
/// ```
/// use seawall::retry::{Backoff, Jitter, JitterRng, StandardBackoff};
/// use std::time::Duration;
///
/// let equal = StandardBackoff::new(Duration::from_millis(100), 2.0).with_jitter(Jitter::Equal);
/// let delay = equal.delay(1, None, &mut JitterRng::seeded(3));
/// assert!(delay >= Duration::from_millis(50) && delay <= Duration::from_millis(100));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Jitter {
    /// Not at all.
    None,
    /// Uniformly between zero and the delay.
    Full,
    /// Half the delay, plus up to another half.
    Equal,
    /// Uniformly between the base and three times the previous delay, capped.
    Decorrelated,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Growth {
    Constant,
    Linear { step: u64 },
    Exponential { multiplier: f64 },
}

/// Constant, linear or exponential delays, capped and jittered.
///
/// The un-jittered delay before retry `n` (from 1) is `base` (constant),
/// `base + step * (n - 1)` (linear) or `base * multiplier^(n - 1)`
/// (exponential), and never more than the cap (by default 30 seconds, and
/// never less than `base`).
///
/// ```
/// use seawall::retry::{Backoff, Jitter, JitterRng, StandardBackoff};
/// use std::time::Duration;
///
/// let linear = StandardBackoff::linear(Duration::from_millis(100), Duration::from_millis(50))
///     .with_jitter(Jitter::None);
/// assert_eq!(linear.delay(3, None, &mut JitterRng::seeded(0)), Duration::from_millis(200));
///
/// let full = StandardBackoff::new(Duration::from_millis(100), 2.0).with_jitter(Jitter::Full);
/// let delay = full.delay(4, None, &mut JitterRng::seeded(0));
/// assert!(delay <= Duration::from_millis(800));
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StandardBackoff {
    base: u64,
    cap: u64,
    growth: Growth,
    jitter: Jitter,
}

/// The default cap on a delay.
const DEFAULT_CAP: Duration = Duration::from_secs(30);

fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

impl StandardBackoff {
    /// `base`, then `base * multiplier`, `base * multiplier^2`, ..., with full
    /// jitter. The multiplier must be finite and at least 1.
    pub fn new(base: Duration, multiplier: f64) -> Self {
        Self::with_growth(base, Growth::Exponential { multiplier })
    }

    /// Always `base`, without jitter.
    pub fn constant(base: Duration) -> Self {
        Self::with_growth(base, Growth::Constant).with_jitter(Jitter::None)
    }

    /// `base`, then `base + step`, `base + 2 * step`, ..., without jitter.
    pub fn linear(base: Duration, step: Duration) -> Self {
        Self::with_growth(base, Growth::Linear { step: nanos(step) }).with_jitter(Jitter::None)
    }

    fn with_growth(base: Duration, growth: Growth) -> Self {
        let base = nanos(base);
        Self {
            base,
            cap: nanos(DEFAULT_CAP).max(base),
            growth,
            jitter: Jitter::Full,
        }
    }

    /// No delay is ever longer than `cap`, jitter included.
    pub fn with_cap(mut self, cap: Duration) -> Self {
        self.cap = nanos(cap);
        self
    }

    /// Randomises delays with `jitter`.
    pub fn with_jitter(mut self, jitter: Jitter) -> Self {
        self.jitter = jitter;
        self
    }

    /// The first delay.
    pub fn base(&self) -> Duration {
        Duration::from_nanos(self.base)
    }

    /// The longest delay.
    pub fn cap(&self) -> Duration {
        Duration::from_nanos(self.cap)
    }

    /// The jitter.
    pub fn jitter(&self) -> Jitter {
        self.jitter
    }

    /// The delay before retry `retry`, capped, before jitter.
    pub fn unjittered(&self, retry: u32) -> Duration {
        Duration::from_nanos(self.unjittered_nanos(retry))
    }

    fn unjittered_nanos(&self, retry: u32) -> u64 {
        let steps = retry.saturating_sub(1);
        let t = match self.growth {
            Growth::Constant => self.base,
            Growth::Linear { step } => self
                .base
                .saturating_add(step.saturating_mul(u64::from(steps))),
            Growth::Exponential { multiplier } => {
                // In floating point: overflow becomes infinity, which the cap absorbs.
                let t = self.base as f64 * multiplier.powf(f64::from(steps));
                if t.is_finite() && t < self.cap as f64 {
                    t as u64
                } else {
                    self.cap
                }
            }
        };
        t.min(self.cap)
    }
}

impl Default for StandardBackoff {
    /// 100 ms, doubling, capped at 30 s, full jitter.
    fn default() -> Self {
        Self::new(Duration::from_millis(100), 2.0)
    }
}

impl Backoff for StandardBackoff {
    fn delay(&self, retry: u32, previous: Option<Duration>, rng: &mut JitterRng) -> Duration {
        let t = self.unjittered_nanos(retry);
        let delay = match self.jitter {
            Jitter::None => t,
            Jitter::Full => rng.between(0, t),
            Jitter::Equal => {
                let half = t / 2;
                // `t - half` rather than `half` again, so an odd `t` is reachable.
                half + rng.between(0, t - half)
            }
            Jitter::Decorrelated => {
                let previous = previous.map_or(self.base, nanos);
                let high = previous.saturating_mul(3).max(self.base);
                rng.between(self.base, high).min(self.cap)
            }
        };
        Duration::from_nanos(delay.min(self.cap))
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if let Growth::Exponential { multiplier } = self.growth {
            if !(multiplier.is_finite() && multiplier >= 1.0) {
                return Err(ConfigError::new(
                    "multiplier",
                    multiplier,
                    "finite and at least 1",
                ));
            }
        }
        if self.cap < self.base {
            return Err(ConfigError::new(
                "cap",
                Duration::from_nanos(self.cap),
                "at least the base delay",
            ));
        }
        // The base is at most the cap, so this bounds every delay.
        bounded_duration("cap", Duration::from_nanos(self.cap))?;
        Ok(())
    }
}

/// The random source a [`Backoff`] draws its jitter from: small, fast and
/// seedable (SplitMix64). Not for cryptography.
///
/// ```
/// use seawall::retry::JitterRng;
///
/// let (mut a, mut b) = (JitterRng::seeded(42), JitterRng::seeded(42));
/// assert_eq!(a.next_u64(), b.next_u64());
/// assert!(a.between(10, 20) >= 10);
/// ```
#[derive(Clone, Debug)]
pub struct JitterRng {
    state: u64,
}

impl JitterRng {
    /// A generator whose sequence is fixed by `seed`.
    pub fn seeded(seed: u64) -> Self {
        Self { state: seed }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `low..=high` (`low` when `high < low`).
    pub fn between(&mut self, low: u64, high: u64) -> u64 {
        if high <= low {
            return low;
        }
        let random = self.next_u64();
        match (high - low).checked_add(1) {
            // Multiply-shift maps 64 random bits onto the span without a division.
            Some(span) => low + ((u128::from(random) * u128::from(span)) >> 64) as u64,
            None => random,
        }
    }
}
