//! The AWS SDKs' standard retry mode quota: retries are paid from a bucket of
//! tokens, successes refund them.

use std::fmt;

use crate::error::ConfigError;
use crate::sync::{Arc, AtomicU64, Ordering};

use super::budget::{AttemptEnd, RetryBudget, Withdrawal};

/// The AWS SDKs' standard retry mode quota ("retry quota" in the AWS SDKs
/// and Tools reference guide). Cheap to clone; clones share one bucket.
///
/// The bucket holds `capacity` tokens and starts full. A retry costs
/// `retry_cost`, or `timeout_cost` when the attempt before it timed out; a
/// retry the bucket cannot pay for is not made. When an attempt succeeds, a
/// retry gives its cost back, and a first attempt adds `success_increment`,
/// never above `capacity`. Failures take nothing by themselves: only retries
/// are paid for.
///
/// | constant (AWS name) | [`standard`](Self::standard) |
/// |---|---|
/// | capacity (`INITIAL_RETRY_TOKENS`) | 500 |
/// | `retry_cost` (`RETRY_COST`) | 5 |
/// | `timeout_cost` (`TIMEOUT_RETRY_COST`) | 10 |
/// | `success_increment` (`NO_RETRY_INCREMENT`) | 1 |
///
/// ```
/// use seawall::retry::{AttemptEnd, AwsRetryQuota, RetryBudget};
///
/// // "Retry eventually succeeds": 500, then 495 and 490 after two retries,
/// // and 495 once the second retry succeeds and gives its 5 back.
/// let quota = AwsRetryQuota::standard();
/// quota.record(AttemptEnd::Failed, None);
/// let first = quota.try_withdraw(AttemptEnd::Failed).unwrap();
/// assert_eq!(quota.level(), 495.0);
/// quota.record(AttemptEnd::Failed, Some(first));
/// let second = quota.try_withdraw(AttemptEnd::Failed).unwrap();
/// assert_eq!(quota.level(), 490.0);
/// quota.record(AttemptEnd::Succeeded, Some(second));
/// assert_eq!(quota.level(), 495.0);
/// ```
#[derive(Clone)]
pub struct AwsRetryQuota {
    inner: Arc<Quota>,
}

struct Quota {
    capacity: u64,
    retry_cost: u32,
    timeout_cost: u32,
    success_increment: u32,
    available: AtomicU64,
}

impl AwsRetryQuota {
    /// The standard mode's constants: 500 tokens, 5 a retry, 10 a retry after
    /// a timeout, 1 back per first-attempt success.
    pub fn standard() -> Self {
        Self::build(500, 5, 10, 1)
    }

    /// A quota with constants of your own. `capacity` up to 1,000,000 (0
    /// allows no retry at all); each cost from 1 to 1,000,000;
    /// `success_increment` up to 1,000,000 (refunds never fill past `capacity`).
    ///
    /// ```
    /// use seawall::retry::AwsRetryQuota;
    ///
    /// assert!(AwsRetryQuota::new(100, 5, 10, 1).is_ok());
    /// assert_eq!(AwsRetryQuota::new(100, 0, 10, 1).unwrap_err().field(), "retry_cost");
    /// ```
    ///
    /// # Errors
    ///
    /// A value outside its range.
    pub fn new(
        capacity: u32,
        retry_cost: u32,
        timeout_cost: u32,
        success_increment: u32,
    ) -> Result<Self, ConfigError> {
        if capacity > 1_000_000 {
            return Err(ConfigError::new("capacity", capacity, "at most 1000000"));
        }
        if !(1..=1_000_000).contains(&retry_cost) {
            return Err(ConfigError::new(
                "retry_cost",
                retry_cost,
                "from 1 to 1000000",
            ));
        }
        if !(1..=1_000_000).contains(&timeout_cost) {
            return Err(ConfigError::new(
                "timeout_cost",
                timeout_cost,
                "from 1 to 1000000",
            ));
        }
        if success_increment > 1_000_000 {
            return Err(ConfigError::new(
                "success_increment",
                success_increment,
                "at most 1000000",
            ));
        }
        Ok(Self::build(
            capacity,
            retry_cost,
            timeout_cost,
            success_increment,
        ))
    }

    fn build(capacity: u32, retry_cost: u32, timeout_cost: u32, success_increment: u32) -> Self {
        Self {
            inner: Arc::new(Quota {
                capacity: u64::from(capacity),
                retry_cost,
                timeout_cost,
                success_increment,
                available: AtomicU64::new(u64::from(capacity)),
            }),
        }
    }
}

impl RetryBudget for AwsRetryQuota {
    /// A first attempt costs nothing.
    fn deposit(&self) {}

    /// Pays `retry_cost` (`timeout_cost` after a timeout) if the bucket holds it.
    fn try_withdraw(&self, after: AttemptEnd) -> Option<Withdrawal> {
        let quota = &*self.inner;
        let cost = if after == AttemptEnd::TimedOut {
            quota.timeout_cost
        } else {
            quota.retry_cost
        };
        // Relaxed: a counter; nothing else is published through it. The check and the
        // payment are one compare-and-swap, so the bucket never goes below zero.
        quota
            .available
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |available| {
                available.checked_sub(u64::from(cost))
            })
            .ok()
            .map(|_| Withdrawal::new(cost))
    }

    /// A success gives back what its retry cost, or `success_increment` for a
    /// first attempt; anything else changes nothing.
    fn record(&self, end: AttemptEnd, paid: Option<Withdrawal>) {
        if end != AttemptEnd::Succeeded {
            return;
        }
        let quota = &*self.inner;
        let refund = u64::from(paid.map_or(quota.success_increment, |paid| paid.cost()));
        if refund == 0 {
            return;
        }
        // Relaxed: see `try_withdraw`.
        let _ = quota
            .available
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |available| {
                // A full bucket (the usual case) is read, not written.
                (available < quota.capacity)
                    .then(|| available.saturating_add(refund).min(quota.capacity))
            });
    }

    /// Tokens left.
    fn level(&self) -> f64 {
        self.inner.available.load(Ordering::Relaxed) as f64
    }
}

impl fmt::Debug for AwsRetryQuota {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let quota = &*self.inner;
        f.debug_struct("AwsRetryQuota")
            .field("capacity", &quota.capacity)
            .field("retry_cost", &quota.retry_cost)
            .field("timeout_cost", &quota.timeout_cost)
            .field("success_increment", &quota.success_increment)
            .field("available", &self.level())
            .finish()
    }
}
