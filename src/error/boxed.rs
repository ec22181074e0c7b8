//! The one error type every seawall layer returns.
//!
//! It lives in a file of its own, importing nothing from the crate, so that a
//! layer's error type can hold a boxed source (as
//! [`BudgetExhausted`](crate::retry::error::BudgetExhausted) does) while
//! [`ErrorKind`](super::ErrorKind) looks for that same type: no file depends
//! on itself through the other.

/// The error type of every seawall layer: any error, boxed.
///
/// ```
/// let err: seawall::BoxError = "connection reset".into();
/// assert_eq!(err.to_string(), "connection reset");
/// ```
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;
