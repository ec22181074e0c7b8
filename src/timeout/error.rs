//! The timeout layer's error.

use std::fmt;

/// An attempt ran out of time: its per-attempt timeout or the request's
/// [`Deadline`](super::Deadline) passed first.
///
/// The inner future has been dropped (cancelled) by the time this error is
/// returned. A breaker outside the timeout counts it as a failure (and, with
/// slow-call detection, as a slow call).
///
/// ```
/// use seawall::timeout::error::Elapsed;
/// use seawall::{BoxError, ErrorKind};
///
/// let err: BoxError = Elapsed::new().into();
/// assert_eq!(err.to_string(), "request timed out");
/// assert_eq!(ErrorKind::of(&*err), ErrorKind::Elapsed);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Elapsed(());

impl Elapsed {
    /// A timeout error.
    pub fn new() -> Self {
        Self(())
    }
}

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("request timed out")
    }
}

impl std::error::Error for Elapsed {}
