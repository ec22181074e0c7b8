//! The bulkhead's error.

use std::fmt;

/// The bulkhead had no free slot: every slot was taken and either waiting was
/// not allowed, the wait queue was full, or the wait ran out.
///
/// The call never reached the inner service. It is the caller's own overload,
/// not a fault of the dependency, so [`FailOnError`](crate::classify::FailOnError)
/// classifies it as [`Ignored`](crate::classify::Outcome::Ignored) when a
/// circuit breaker sits outside the bulkhead.
///
/// ```
/// use seawall::bulkhead::error::BulkheadFull;
/// use seawall::{BoxError, ErrorKind};
///
/// let err: BoxError = BulkheadFull::new().into();
/// assert_eq!(err.to_string(), "bulkhead is full");
/// assert_eq!(ErrorKind::of(&*err), ErrorKind::BulkheadFull);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BulkheadFull {
    _private: (),
}

impl BulkheadFull {
    /// A rejection.
    pub fn new() -> Self {
        Self { _private: () }
    }
}

impl fmt::Display for BulkheadFull {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("bulkhead is full")
    }
}

impl std::error::Error for BulkheadFull {}
