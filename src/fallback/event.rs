//! What a fallback tells its listeners.

use super::Cause;

/// Something a fallback did, as received by the listeners given to
/// [`FallbackLayer::on_event`](super::FallbackLayer::on_event).
///
/// ```
/// use seawall::fallback::{Cause, FallbackEvent};
/// use seawall::ErrorKind;
///
/// let event = FallbackEvent::Taken { name: "prices", cause: Cause::Error(ErrorKind::BreakerOpen) };
/// if let FallbackEvent::Taken { name, cause } = event {
///     assert_eq!((name, cause.as_str()), ("prices", "breaker_open"));
/// }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FallbackEvent<'a> {
    /// The fallback produced a degraded answer.
    Taken {
        /// The fallback's name.
        name: &'a str,
        /// What it fell back from.
        cause: Cause,
    },
    /// The fallback failed itself; the caller gets a
    /// [`FallbackFailed`](super::error::FallbackFailed) error.
    Failed {
        /// The fallback's name.
        name: &'a str,
        /// What it fell back from.
        cause: Cause,
    },
}

/// The listeners of one fallback layer.
pub(crate) type FallbackListeners =
    crate::observe::Listeners<dyn Fn(&FallbackEvent<'_>) + Send + Sync>;
