//! The retry budget trait: what the retry layer (and any layer that sends
//! extra attempts, such as a hedge) asks before sending one more attempt and
//! tells after each attempt ends.

use std::fmt;

/// How an attempt ended, as a budget counts it.
///
/// The retry layer works it out from its [`RetryPolicy`](super::RetryPolicy):
/// a success is [`Succeeded`](Self::Succeeded); a failure the policy retries
/// (or one the server said not to retry) is [`Failed`](Self::Failed), or
/// [`TimedOut`](Self::TimedOut) when the attempt ran out of time; a failure
/// the policy does not retry is [`NotRetryable`](Self::NotRetryable).
///
/// ```
/// use seawall::retry::AttemptEnd;
///
/// assert_ne!(AttemptEnd::Failed, AttemptEnd::NotRetryable);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AttemptEnd {
    /// The attempt succeeded.
    Succeeded,
    /// The attempt failed in a way worth retrying, or the server asked that it
    /// not be retried (gRPC counts both against its throttle).
    Failed,
    /// The attempt failed in a way worth retrying: it ran out of time.
    TimedOut,
    /// The attempt failed in a way not worth retrying (a malformed request, a
    /// status the policy does not retry). It says little about the server's
    /// health, so the built-in budgets leave their balance as it is.
    NotRetryable,
}

/// What one extra attempt was paid with; handed back to the budget when that
/// attempt ends, so that a budget which refunds (the AWS quota) knows how much.
///
/// ```
/// use seawall::retry::Withdrawal;
///
/// assert_eq!(Withdrawal::new(5).cost(), 5);
/// assert_eq!(Withdrawal::FREE.cost(), 0);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Withdrawal {
    cost: u32,
}

impl Withdrawal {
    /// An attempt that cost nothing to send (the budget only checks a level).
    pub const FREE: Self = Self { cost: 0 };

    /// An attempt that cost `cost`, in the budget's own unit.
    pub const fn new(cost: u32) -> Self {
        Self { cost }
    }

    /// What the attempt cost.
    pub const fn cost(&self) -> u32 {
        self.cost
    }
}

/// A retry budget: a limit on the retries of *all* requests, relative to the
/// traffic or to recent failures, shared by every clone of a retry layer and
/// by any other layer handed the same budget.
///
/// # Why a budget and not only a maximum number of attempts
///
/// "Retry up to 3 times" sounds safe, and is what turns a dependency that is
/// struggling into one that is down: when every call fails, every caller
/// sends three times the load, just when there is least capacity. A maximum
/// bounds the retries of *one* request; a budget bounds the retries of all of
/// them, so retries help with sporadic failures and fade out by themselves
/// during an outage.
///
/// # The built-in budgets
///
/// - [`RatioBudget`](super::RatioBudget): retries may be at most a fraction
///   of the requests of a recent window, plus a small floor (Finagle's budget,
///   which tower's `TpsBudget` also follows; the differences are listed on
///   the type).
/// - [`GrpcRetryThrottle`](super::GrpcRetryThrottle): gRPC's retry
///   throttling (proposal A6), as grpc-go and grpc-java implement it.
/// - [`AwsRetryQuota`](super::AwsRetryQuota): the AWS SDKs' standard retry
///   mode quota.
///
/// # The protocol
///
/// A caller that sends extra attempts (the retry layer, a hedging layer)
/// uses a budget in three calls:
///
/// 1. [`deposit`](Self::deposit) once per request, when its first attempt is
///    sent (only for requests it could send again);
/// 2. [`try_withdraw`](Self::try_withdraw) before each extra attempt: "may I
///    send one more attempt now?" `Some` pays for it and lets it go;
/// 3. [`record`](Self::record) when any attempt ends, with how it ended and
///    what it was paid with (`None` for a first attempt).
///
/// Every method is called on the request path: keep them lock-free and
/// allocation-free (an atomic word or a few, as the built-ins do).
///
/// A budget of your own, allowing a fixed number of retries in all:
///
/// ```
/// use seawall::retry::{AttemptEnd, RetryBudget, RetryConfig, Withdrawal};
/// use std::sync::atomic::{AtomicU32, Ordering};
///
/// #[derive(Debug)]
/// struct FixedRetries(AtomicU32);
///
/// impl RetryBudget for FixedRetries {
///     fn deposit(&self) {}
///     fn try_withdraw(&self, _after: AttemptEnd) -> Option<Withdrawal> {
///         self.0
///             .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
///             .ok()
///             .map(|_| Withdrawal::new(1))
///     }
///     fn record(&self, _end: AttemptEnd, _paid: Option<Withdrawal>) {}
///     fn level(&self) -> f64 {
///         f64::from(self.0.load(Ordering::Relaxed))
///     }
/// }
///
/// let config = RetryConfig::builder().budget(FixedRetries(AtomicU32::new(100))).build()?;
/// assert_eq!(config.budget().map(|b| b.level()), Some(100.0));
/// # Ok::<(), seawall::ConfigError>(())
/// ```
pub trait RetryBudget: Send + Sync + fmt::Debug {
    /// A request that may be retried is sent for the first time.
    fn deposit(&self);

    /// May one more attempt be sent now? `after` is how the attempt before it
    /// ended. `Some` means yes, and the attempt is paid for; hand the
    /// [`Withdrawal`] back to [`record`](Self::record) when it ends.
    fn try_withdraw(&self, after: AttemptEnd) -> Option<Withdrawal>;

    /// An attempt ended as `end`. `paid` is what [`try_withdraw`](Self::try_withdraw)
    /// returned for it, `None` for a request's first attempt.
    fn record(&self, end: AttemptEnd, paid: Option<Withdrawal>);

    /// How much is left, in the budget's own unit (retries, tokens): for
    /// metrics and tests.
    fn level(&self) -> f64;
}

impl<B: RetryBudget + ?Sized> RetryBudget for std::sync::Arc<B> {
    fn deposit(&self) {
        (**self).deposit();
    }

    fn try_withdraw(&self, after: AttemptEnd) -> Option<Withdrawal> {
        (**self).try_withdraw(after)
    }

    fn record(&self, end: AttemptEnd, paid: Option<Withdrawal>) {
        (**self).record(end, paid);
    }

    fn level(&self) -> f64 {
        (**self).level()
    }
}
