//! The circuit breaker's error.

use std::fmt;
use std::time::Duration;

/// The circuit breaker refused the call without calling the dependency.
///
/// Returned while the breaker is open, forced open, or half-open with every
/// probe slot taken. [`retry_after`](Self::retry_after) says how long until an
/// open breaker admits a probe, where that is known; the axum integration turns
/// it into a `Retry-After` header.
///
/// ```
/// use seawall::breaker::error::BreakerOpen;
/// use std::time::Duration;
///
/// let err = BreakerOpen::new(Some(Duration::from_secs(3)));
/// assert_eq!(err.to_string(), "circuit breaker is open");
/// assert_eq!(err.retry_after(), Some(Duration::from_secs(3)));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BreakerOpen {
    retry_after: Option<Duration>,
}

impl BreakerOpen {
    /// A rejection that may be retried after `retry_after`, if known.
    ///
    /// ```
    /// use seawall::breaker::error::BreakerOpen;
    ///
    /// let forced = BreakerOpen::new(None);
    /// assert_eq!(forced.retry_after(), None);
    /// ```
    pub fn new(retry_after: Option<Duration>) -> Self {
        Self { retry_after }
    }

    /// How long until the breaker lets a probe through; `None` when forced
    /// open or when half-open probes are all taken.
    ///
    /// ```
    /// use seawall::breaker::{Breaker, BreakerConfig};
    ///
    /// let breaker = Breaker::new(BreakerConfig::default());
    /// breaker.force_open();
    /// assert_eq!(breaker.try_acquire().unwrap_err().retry_after(), None);
    /// ```
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }
}

impl fmt::Display for BreakerOpen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("circuit breaker is open")
    }
}

impl std::error::Error for BreakerOpen {}
