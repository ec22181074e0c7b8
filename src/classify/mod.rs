//! Deciding whether a call succeeded, failed, or should not count at all.
//!
//! A circuit breaker is only as good as its idea of failure. A `404` is the
//! dependency working as designed; a `503` is the dependency in trouble; a
//! request the caller cancelled says nothing either way. A classifier turns the
//! result of one call into an [`Outcome`], and every seawall layer that counts
//! outcomes takes one. The retry layer asks the same question first: only what
//! a classifier calls a failure may be retried (see
//! [`RetryPolicy`](crate::retry::RetryPolicy)).
//!
//! Any closure `Fn(&Result<Response, Error>) -> Outcome` is a classifier. The
//! ready-made ones are [`FailOnError`] (the default: `Err` fails, `Ok`
//! succeeds), and behind features [`HttpStatus`] and [`GrpcStatus`]. For
//! calls that got no answer, [`Transience`] says whether the error may pass
//! if the call is tried again.
//!
//! ```
//! use seawall::classify::{Classify, Outcome};
//!
//! // Treat "not found" as a success and a timeout as not counting.
//! let classifier = |result: &Result<u16, std::io::Error>| match result {
//!     Ok(status) if *status >= 500 => Outcome::Failure,
//!     Ok(_) => Outcome::Success,
//!     Err(e) if e.kind() == std::io::ErrorKind::Interrupted => Outcome::Ignored,
//!     Err(_) => Outcome::Failure,
//! };
//! assert_eq!(classifier.classify(&Ok(404)), Outcome::Success);
//! assert_eq!(classifier.classify(&Ok(503)), Outcome::Failure);
//! ```

use crate::error::ErrorKind;

/// What one call says about the health of the dependency.
///
/// ```
/// use seawall::classify::{Classify, FailOnError, Outcome};
///
/// let ok: Result<u32, std::io::Error> = Ok(7);
/// assert_eq!(FailOnError.classify(&ok), Outcome::Success);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// The dependency did its job.
    Success,
    /// The dependency failed; it counts against the failure rate.
    Failure,
    /// The call says nothing about the dependency (cancelled, rejected by the
    /// caller's own limits, a client error): it is not counted.
    Ignored,
}

/// Classifies the result of one call.
///
/// Implemented for every `Fn(&Result<Res, E>) -> Outcome`.
///
/// ```
/// use seawall::classify::{Classify, Outcome};
///
/// struct Slow;
/// impl Classify<u64, ()> for Slow {
///     fn classify(&self, result: &Result<u64, ()>) -> Outcome {
///         match result {
///             Ok(millis) if *millis > 1_000 => Outcome::Failure,
///             Ok(_) => Outcome::Success,
///             Err(()) => Outcome::Ignored,
///         }
///     }
/// }
/// assert_eq!(Slow.classify(&Ok(5_000)), Outcome::Failure);
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot classify a `Result<{Res}, {E}>`",
    label = "this does not implement `Classify<{Res}, {E}>`",
    note = "`FailOnError` classifies any result; `HttpStatus` an `http::Response` or `reqwest::Response` (features `http`, `reqwest`); `GrpcStatus` a gRPC response (feature `grpc`); or a closure `Fn(&Result<{Res}, {E}>) -> Outcome`"
)]
pub trait Classify<Res, E> {
    /// The outcome of a call that ended with `result`.
    fn classify(&self, result: &Result<Res, E>) -> Outcome;
}

impl<F, Res, E> Classify<Res, E> for F
where
    F: Fn(&Result<Res, E>) -> Outcome,
{
    fn classify(&self, result: &Result<Res, E>) -> Outcome {
        self(result)
    }
}

/// The default classifier: every `Ok` is a success, every `Err` a failure,
/// except a seawall rejection from a layer further in (a full bulkhead, an
/// empty retry budget), which says nothing about the dependency and is ignored.
///
/// ```
/// use seawall::classify::{Classify, FailOnError, Outcome};
///
/// let result: Result<(), std::io::Error> = Err(std::io::ErrorKind::ConnectionRefused.into());
/// assert_eq!(FailOnError.classify(&result), Outcome::Failure);
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct FailOnError;

impl<Res, E: 'static> Classify<Res, E> for FailOnError {
    fn classify(&self, result: &Result<Res, E>) -> Outcome {
        match result {
            Ok(_) => Outcome::Success,
            Err(err) => outcome_of_error(err),
        }
    }
}

impl FailOnError {
    /// The outcome of a call that failed with `err`, for callers that hold a
    /// `dyn Error` rather than a `Result`: a failure, unless `err` (or its
    /// `source()` chain) is a seawall rejection raised further in that says
    /// nothing about the dependency.
    ///
    /// ```
    /// use seawall::classify::{FailOnError, Outcome};
    ///
    /// let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
    /// assert_eq!(FailOnError::outcome_of(&refused), Outcome::Failure);
    /// ```
    pub fn outcome_of(err: &(dyn std::error::Error + 'static)) -> Outcome {
        outcome_of_kind(ErrorKind::of(err))
    }
}

/// `Failure`, unless the error is a seawall rejection raised further in.
fn outcome_of_error<E: 'static>(err: &E) -> Outcome {
    outcome_of_kind(ErrorKind::of_any(err))
}

fn outcome_of_kind(kind: ErrorKind) -> Outcome {
    match kind {
        // An inner breaker's rejection means that dependency is already known to be down:
        // it is a failure of this call too.
        // A timed-out attempt is the dependency failing to answer in time.
        ErrorKind::BreakerOpen | ErrorKind::Elapsed | ErrorKind::Other => Outcome::Failure,
        // A full bulkhead is this process's own overload: the call never reached the
        // dependency, so it says nothing about it. Likewise an empty retry budget: the
        // caller's own limit.
        ErrorKind::BulkheadFull | ErrorKind::BudgetExhausted => Outcome::Ignored,
    }
}

#[cfg(feature = "http")]
mod http_status;
#[cfg(feature = "http")]
pub use self::http_status::HttpStatus;

#[cfg(feature = "grpc")]
mod grpc_status;
#[cfg(feature = "grpc")]
pub use self::grpc_status::{GrpcCode, GrpcStatus};

mod transport;
pub use self::transport::Transience;
