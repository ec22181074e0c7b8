//! The fallback's errors.

use std::error::Error as StdError;
use std::fmt;

use crate::error::BoxError;

/// An error shared between the fallback that receives it and the
/// [`FallbackFailed`] that keeps it as its source.
///
/// ```
/// use seawall::fallback::SharedError;
/// use seawall::ErrorKind;
///
/// let error: SharedError = std::sync::Arc::new(seawall::bulkhead::error::BulkheadFull::new());
/// assert_eq!(ErrorKind::of(&*error), ErrorKind::BulkheadFull);
/// ```
pub type SharedError = std::sync::Arc<dyn std::error::Error + Send + Sync + 'static>;

/// The fallback itself failed: the backup service or the closure returned an
/// error.
///
/// The failure the fallback tried to cover for is kept as the
/// [`source`](StdError::source), so [`ErrorKind::of`](crate::ErrorKind::of)
/// still finds it (a `BreakerOpen` stays a `BreakerOpen`), and the fallback's
/// own error is available from [`fallback_error`](Self::fallback_error).
///
/// ```
/// use seawall::breaker::error::BreakerOpen;
/// use seawall::fallback::error::FallbackFailed;
/// use seawall::ErrorKind;
/// use std::sync::Arc;
///
/// let err = FallbackFailed::new(Arc::new(BreakerOpen::new(None)), "cache miss".into());
/// assert_eq!(err.to_string(), "fallback failed: cache miss");
/// assert_eq!(ErrorKind::of(&err), ErrorKind::BreakerOpen);
/// ```
#[derive(Debug)]
pub struct FallbackFailed {
    original: SharedError,
    error: BoxError,
}

impl FallbackFailed {
    /// The fallback for `original` failed with `error`.
    pub fn new(original: SharedError, error: BoxError) -> Self {
        Self { original, error }
    }

    /// The failure the fallback tried to cover for.
    pub fn original(&self) -> &SharedError {
        &self.original
    }

    /// The fallback's own error.
    pub fn fallback_error(&self) -> &BoxError {
        &self.error
    }
}

impl fmt::Display for FallbackFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "fallback failed: {}", self.error)
    }
}

impl StdError for FallbackFailed {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        Some(&*self.original)
    }
}

/// A response the fallback's classifier judged a failure (say, a `503`): the
/// error a closure fallback receives, and the source of a
/// [`FallbackFailed`] when the fallback for such a response fails. The
/// response itself is dropped.
///
/// ```
/// use seawall::fallback::error::FailedResponse;
///
/// assert_eq!(FailedResponse::new().to_string(), "response classified as a failure");
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FailedResponse {
    _private: (),
}

impl FailedResponse {
    /// The error for a failed response.
    pub fn new() -> Self {
        Self { _private: () }
    }
}

impl fmt::Display for FailedResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("response classified as a failure")
    }
}

impl StdError for FailedResponse {}
