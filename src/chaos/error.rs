//! The chaos layer's error.

use std::fmt;

/// A failure the chaos layer made up: the call never reached the inner
/// service.
///
/// This is what [`Fault::error`](super::Fault::error) injects. It is not a
/// seawall rejection, so [`ErrorKind::of`](crate::ErrorKind::of) reports it as
/// [`ErrorKind::Other`](crate::ErrorKind::Other) and the default classifier
/// counts it as a failure: to every layer outside, it looks like the
/// dependency failed, which is the point.
///
/// ```
/// use seawall::chaos::error::InjectedFault;
/// use seawall::{BoxError, ErrorKind};
///
/// let err: BoxError = InjectedFault::new().into();
/// assert_eq!(err.to_string(), "fault injected by chaos");
/// assert_eq!(ErrorKind::of(&*err), ErrorKind::Other);
/// assert!(err.is::<InjectedFault>());
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct InjectedFault {
    _private: (),
}

impl InjectedFault {
    /// An injected failure.
    pub fn new() -> Self {
        Self { _private: () }
    }
}

impl fmt::Display for InjectedFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("fault injected by chaos")
    }
}

impl std::error::Error for InjectedFault {}
