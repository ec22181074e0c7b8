//! Which of seawall's failures an error is, found anywhere in its `source()` chain.

use std::error::Error as StdError;

use super::boxed::BoxError;

/// What kind of failure an error is, as far as seawall is concerned.
///
/// ```
/// use seawall::{BoxError, ErrorKind};
/// use seawall::breaker::error::BreakerOpen;
///
/// let err: BoxError = BreakerOpen::new(None).into();
/// assert_eq!(ErrorKind::of(&*err), ErrorKind::BreakerOpen);
///
/// let other: BoxError = "connection reset".into();
/// assert_eq!(ErrorKind::of(&*other), ErrorKind::Other);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A circuit breaker refused the call: [`BreakerOpen`](crate::breaker::error::BreakerOpen).
    BreakerOpen,
    /// A bulkhead had no free slot: [`BulkheadFull`](crate::bulkhead::error::BulkheadFull).
    /// Local overload, not a fault of the dependency.
    BulkheadFull,
    /// An attempt ran out of time: [`Elapsed`](crate::timeout::error::Elapsed)
    /// (feature `timeout`).
    Elapsed,
    /// A retry was refused because the shared retry budget is empty:
    /// [`BudgetExhausted`](crate::retry::error::BudgetExhausted) (feature
    /// `retry`). Its `source()` is the last attempt's error.
    BudgetExhausted,
    /// Not a seawall error: the inner service's own failure.
    Other,
}

impl ErrorKind {
    /// The kind's name in `snake_case`, as used in metric labels.
    ///
    /// ```
    /// assert_eq!(seawall::ErrorKind::BreakerOpen.as_str(), "breaker_open");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BreakerOpen => "breaker_open",
            Self::BulkheadFull => "bulkhead_full",
            Self::Elapsed => "elapsed",
            Self::BudgetExhausted => "budget_exhausted",
            Self::Other => "other",
        }
    }

    /// Finds the first seawall error in `err` or its `source()` chain.
    ///
    /// A `reqwest_middleware::Error::Middleware` (feature
    /// `reqwest-middleware`) is looked into, though it hides its own error
    /// from the `source()` chain.
    pub fn of(err: &(dyn StdError + 'static)) -> Self {
        for err in chain(err) {
            if let Some(kind) = Self::of_one(err) {
                return kind;
            }
            #[cfg(feature = "reqwest-middleware")]
            if let Some(reqwest_middleware::Error::Middleware(inner)) = err.downcast_ref() {
                return Self::of(inner.as_ref());
            }
        }
        Self::Other
    }

    /// The kind of an error of any type: looked for when it is an error type
    /// seawall knows ([`as_known_error`]; a [`BoxError`], as every seawall
    /// layer's error is, among them), `Other` for any other type.
    pub(crate) fn of_any<E: 'static>(err: &E) -> Self {
        as_known_error(err).map_or(Self::Other, Self::of)
    }

    fn of_one(err: &(dyn StdError + 'static)) -> Option<Self> {
        if err.is::<crate::breaker::error::BreakerOpen>() {
            return Some(Self::BreakerOpen);
        }
        #[cfg(feature = "bulkhead")]
        if err.is::<crate::bulkhead::error::BulkheadFull>() {
            return Some(Self::BulkheadFull);
        }
        #[cfg(feature = "timeout")]
        if err.is::<crate::timeout::error::Elapsed>() {
            return Some(Self::Elapsed);
        }
        #[cfg(feature = "retry")]
        if err.is::<crate::retry::error::BudgetExhausted>() {
            return Some(Self::BudgetExhausted);
        }
        None
    }
}

/// `err` as a `dyn Error`, when its type is one seawall knows: a
/// [`BoxError`], an `io::Error`, and (with their features) a hyper, reqwest
/// or reqwest-middleware error. Results of a generic `E` are judged through
/// it, by [`ErrorKind::of_any`] and by transport error classification.
pub(crate) fn as_known_error<E: 'static>(err: &E) -> Option<&(dyn StdError + 'static)> {
    let any: &dyn std::any::Any = err;
    if let Some(boxed) = any.downcast_ref::<BoxError>() {
        return Some(&**boxed);
    }
    if let Some(err) = any.downcast_ref::<std::io::Error>() {
        return Some(err);
    }
    #[cfg(feature = "http")]
    if let Some(err) = any.downcast_ref::<hyper::Error>() {
        return Some(err);
    }
    #[cfg(feature = "reqwest")]
    if let Some(err) = any.downcast_ref::<reqwest::Error>() {
        return Some(err);
    }
    #[cfg(feature = "reqwest-middleware")]
    if let Some(err) = any.downcast_ref::<reqwest_middleware::Error>() {
        return Some(err);
    }
    None
}

/// `err` and the errors of its `source()` chain, outermost first.
pub(crate) fn chain<'a>(
    err: &'a (dyn StdError + 'static),
) -> impl Iterator<Item = &'a (dyn StdError + 'static)> {
    std::iter::successors(Some(err), |&err| err.source())
}

/// The first error of type `T` in `err` or its `source()` chain.
#[cfg_attr(not(any(feature = "axum", feature = "tonic")), allow(dead_code))]
pub(crate) fn find_in_chain<'a, T: StdError + 'static>(
    err: &'a (dyn StdError + 'static),
) -> Option<&'a T> {
    chain(err).find_map(|err| err.downcast_ref::<T>())
}
