//! gRPC's retry throttling (proposal A6): a token bucket that failures drain
//! and successes refill, retries allowed only while it is over half full.

use std::fmt;

use crate::error::ConfigError;
use crate::sync::{Arc, AtomicU64, Ordering};

use super::budget::{AttemptEnd, RetryBudget, Withdrawal};

/// Tokens are kept in thousandths, as A6 keeps `tokenRatio` to three places.
const SCALE: u64 = 1_000;

/// gRPC's retry throttling (proposal A6), as grpc-go and grpc-java implement
/// it. Cheap to clone; clones share one bucket.
///
/// The bucket starts full with `max_tokens`. An attempt that fails in a way
/// worth retrying, or that the server answered with "do not retry"
/// pushback, takes one token; a success puts `token_ratio` back (never above
/// `max_tokens`); a failure the policy does not retry (say `INVALID_ARGUMENT`,
/// or `INTERNAL` when only `UNAVAILABLE` is retried) leaves the bucket as it
/// is, as A6 says, "to avoid conflating server failure with responses to
/// malformed requests". A retry is allowed only while more than
/// `max_tokens / 2` tokens are left. Sending one costs nothing: the bucket
/// is a level, not a price.
///
/// `token_ratio` keeps three decimal places, the rest cut off (A6; grpc-java
/// and grpc-core truncate the same way): 0.5466 is 0.546. A value that
/// `f64` cannot hold exactly and that is a whole number of thousandths to
/// within a millionth (4.35 is stored as 4.3499999...) counts as that
/// number, so the ratio you write is the ratio you get; grpc-java, which
/// multiplies a `float`, would keep 4.349 there.
///
/// ```
/// use seawall::retry::{AttemptEnd, GrpcRetryThrottle, RetryBudget};
///
/// // A6: 10 tokens; retries stop once 5 or fewer are left.
/// let bucket = GrpcRetryThrottle::new(10, 0.5)?;
/// for _ in 0..5 {
///     bucket.record(AttemptEnd::Failed, None);
/// }
/// assert!(bucket.try_withdraw(AttemptEnd::Failed).is_none());
/// bucket.record(AttemptEnd::NotRetryable, None); // INTERNAL, not retried: no change
/// assert!(bucket.try_withdraw(AttemptEnd::Failed).is_none());
/// bucket.record(AttemptEnd::Succeeded, None);
/// assert!(bucket.try_withdraw(AttemptEnd::Failed).is_some()); // 5.5 tokens > 5
/// # Ok::<(), seawall::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct GrpcRetryThrottle {
    inner: Arc<Bucket>,
}

struct Bucket {
    /// In thousandths of a token.
    max: u64,
    ratio: u64,
    tokens: AtomicU64,
}

impl GrpcRetryThrottle {
    /// A bucket of `max_tokens` tokens (1 to 1000, as A6 allows), refilled
    /// by `token_ratio` per success (at least 0.001 after truncation to
    /// thousandths, at most `max_tokens`).
    ///
    /// # Errors
    ///
    /// Either value outside its range.
    pub fn new(max_tokens: u32, token_ratio: f64) -> Result<Self, ConfigError> {
        if !(1..=1000).contains(&max_tokens) {
            return Err(ConfigError::new("max_tokens", max_tokens, "from 1 to 1000"));
        }
        let max = u64::from(max_tokens) * SCALE;
        let ratio = thousandths(token_ratio)
            .filter(|&ratio| (1..=max).contains(&ratio))
            .ok_or_else(|| {
                ConfigError::new("token_ratio", token_ratio, "from 0.001 to max_tokens")
            })?;
        Ok(Self {
            inner: Arc::new(Bucket {
                max,
                ratio,
                tokens: AtomicU64::new(max),
            }),
        })
    }

    /// What a success puts back, in thousandths of a token (after truncation).
    pub fn token_ratio_thousandths(&self) -> u64 {
        self.inner.ratio
    }

    fn update(&self, f: impl Fn(u64) -> u64) {
        // Relaxed: a counter; no other memory is published through it. `fetch_update` is
        // a CAS loop, so concurrent updates are never lost. A word that would not change
        // (a full bucket credited) is read, not written.
        let _ = self
            .inner
            .tokens
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |t| {
                let next = f(t);
                (next != t).then_some(next)
            });
    }
}

/// `value` in thousandths, the rest cut off; a value within a millionth of a
/// whole number of thousandths counts as it (`f64` error, not intent).
/// `None` for values that are not finite or not positive.
fn thousandths(value: f64) -> Option<u64> {
    if !(value.is_finite() && value > 0.0) {
        return None;
    }
    let scaled = value * SCALE as f64;
    let nearest = scaled.round();
    let kept = if (scaled - nearest).abs() <= 1e-6 * nearest.max(1.0) {
        nearest
    } else {
        scaled.floor()
    };
    (kept <= u64::MAX as f64).then_some(kept as u64)
}

impl RetryBudget for GrpcRetryThrottle {
    /// A first attempt does not move the bucket.
    fn deposit(&self) {}

    /// Allowed while more than half the tokens are left; costs nothing.
    fn try_withdraw(&self, _after: AttemptEnd) -> Option<Withdrawal> {
        // Relaxed: the count is the only data; nothing else is published through it.
        (self.inner.tokens.load(Ordering::Relaxed) > self.inner.max / 2).then_some(Withdrawal::FREE)
    }

    /// A retryable failure or timeout takes a token, a success puts back
    /// `token_ratio`; a failure not worth retrying changes nothing.
    fn record(&self, end: AttemptEnd, _paid: Option<Withdrawal>) {
        let bucket = &*self.inner;
        match end {
            AttemptEnd::Succeeded => {
                self.update(|t| t.saturating_add(bucket.ratio).min(bucket.max));
            }
            AttemptEnd::Failed | AttemptEnd::TimedOut => {
                self.update(|t| t.saturating_sub(SCALE));
            }
            AttemptEnd::NotRetryable => {}
        }
    }

    /// Tokens left.
    fn level(&self) -> f64 {
        self.inner.tokens.load(Ordering::Relaxed) as f64 / SCALE as f64
    }
}

impl fmt::Debug for GrpcRetryThrottle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GrpcRetryThrottle")
            .field("max_tokens", &(self.inner.max / SCALE))
            .field("token_ratio_thousandths", &self.inner.ratio)
            .field("tokens", &self.level())
            .finish()
    }
}
