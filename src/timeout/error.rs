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

/// A request carried a deadline header that does not parse, such as a
/// malformed `grpc-timeout`. The request is refused rather than served
/// without the deadline its caller asked for.
///
/// ```
/// use seawall::timeout::error::InvalidDeadline;
///
/// let err = InvalidDeadline::new("grpc-timeout");
/// assert_eq!(err.to_string(), "malformed grpc-timeout header");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InvalidDeadline {
    header: &'static str,
}

impl InvalidDeadline {
    /// A malformed `header`.
    pub fn new(header: &'static str) -> Self {
        Self { header }
    }

    /// The header that did not parse.
    pub fn header(&self) -> &'static str {
        self.header
    }
}

impl fmt::Display for InvalidDeadline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "malformed {} header", self.header)
    }
}

impl std::error::Error for InvalidDeadline {}
