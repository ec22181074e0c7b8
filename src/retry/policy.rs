//! Deciding whether a result is worth another attempt: the policy trait and
//! the policies that work for any request.

use std::time::Duration;

use crate::classify::{Classify, Outcome};
use crate::error::ErrorKind;

use super::budget::AttemptEnd;

/// What to do after an attempt.
///
/// ```
/// use seawall::retry::RetryDecision;
/// use std::time::Duration;
///
/// let asked = RetryDecision::RetryAfter(Duration::from_secs(2));
/// assert_ne!(asked, RetryDecision::Retry);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RetryDecision {
    /// The result stands (a success, or a failure not worth retrying).
    Accept,
    /// Retry after the backoff's delay.
    Retry,
    /// Retry after this delay, which the server asked for (clamped by the
    /// layer's maximum pushback).
    RetryAfter(Duration),
    /// A retryable failure, but the server asked not to retry.
    DoNotRetry,
}

/// Decides whether to retry after one attempt, in two steps.
///
/// # Why two steps
///
/// Whether an attempt *failed* is the question a circuit breaker asks too,
/// and it has one answer in seawall: an [`Outcome`] from a [`Classify`]. A
/// `503` or an `UNAVAILABLE` is a failure because
/// [`HttpStatus`](crate::classify::HttpStatus) or
/// [`GrpcStatus`](crate::classify::GrpcStatus) says so, for the breaker and
/// the retry alike. Whether a failure is *worth another attempt* is the
/// retry's own question: may the request be sent twice (idempotency), will
/// it fail the same way every time (a `501 Not Implemented` will), did the
/// server ask for a wait or for no retry at all (pushback)?
///
/// So the layer first asks [`classify`](Self::classify). A success, or a
/// result that says nothing about the dependency
/// ([`Outcome::Ignored`]), stands. Only a failure goes on to
/// [`decide`](Self::decide).
///
/// Whatever the policy says, the layer does not retry seawall's own
/// rejections ([`BreakerOpen`](crate::breaker::error::BreakerOpen),
/// [`BudgetExhausted`](super::error::BudgetExhausted), `BulkheadFull`) unless
/// told to with
/// [`RetryConfigBuilder::retry_rejections`](super::RetryConfigBuilder::retry_rejections)
/// (then it counts them as failures even where the classifier ignores them):
/// a dependency known to be down is not helped by being asked again at once.
///
/// # Implementations
///
/// - [`RetryOnError`], the default: every `Err` is retried.
/// - [`RetryOnFailure`]: every failure a [`Classify`] finds is retried; give
///   it the breaker's classifier so both count the same failures.
/// - [`HttpRetry`](super::HttpRetry) (feature `http`) and
///   [`GrpcRetry`](super::GrpcRetry) (feature `grpc`): classify with
///   `HttpStatus` or `GrpcStatus`, then retry transient failures of
///   idempotent requests and honour the server's pushback.
/// - Any closure `Fn(&Result<Response, Error>) -> bool`: `true` is a failure,
///   and it is retried.
///
/// ```
/// use seawall::classify::Outcome;
/// use seawall::retry::{RetryDecision, RetryPolicy};
///
/// let policy = |result: &Result<u16, std::io::Error>| matches!(result, Ok(503) | Err(_));
/// assert_eq!(RetryPolicy::<(), _, _>::classify(&policy, &Ok(200)), Outcome::Success);
/// assert_eq!(RetryPolicy::<(), _, _>::classify(&policy, &Ok(503)), Outcome::Failure);
/// assert_eq!(policy.decide(&(), &Ok(503)), RetryDecision::Retry);
/// ```
///
/// A policy of your own, retrying only requests marked safe:
///
/// ```
/// use seawall::classify::{Classify, FailOnError, Outcome};
/// use seawall::retry::{RetryDecision, RetryPolicy};
///
/// struct Job { safe_to_repeat: bool }
/// struct RetrySafeJobs;
///
/// impl<E: 'static> RetryPolicy<Job, (), E> for RetrySafeJobs {
///     fn classify(&self, result: &Result<(), E>) -> Outcome {
///         FailOnError.classify(result)
///     }
///
///     fn decide(&self, job: &Job, _failure: &Result<(), E>) -> RetryDecision {
///         if job.safe_to_repeat { RetryDecision::Retry } else { RetryDecision::Accept }
///     }
/// }
///
/// let failed: Result<(), std::io::Error> = Err(std::io::ErrorKind::ConnectionReset.into());
/// assert_eq!(RetrySafeJobs.classify(&failed), Outcome::Failure);
/// assert_eq!(RetrySafeJobs.decide(&Job { safe_to_repeat: false }, &failed), RetryDecision::Accept);
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot decide retries of `{Request}` answered with `Result<{Response}, {Error}>`",
    label = "this does not implement `RetryPolicy<{Request}, {Response}, {Error}>`",
    note = "choose the retry policy with `.with_retry_policy(..)` (preset) or `.with_policy(..)` (retry layer):",
    note = "`RetryOnError` retries every `Err`; `RetryOnFailure::new(classifier)` what a classifier calls a failure; `HttpRetry` for `http` and `reqwest` requests (feature `http`); `GrpcRetry` for gRPC (feature `grpc`)"
)]
pub trait RetryPolicy<Request, Response, Error> {
    /// Whether the attempt failed, said nothing, or succeeded: usually what a
    /// [`Classify`] says.
    fn classify(&self, result: &Result<Response, Error>) -> Outcome;

    /// What to do after an attempt of `request` ended with `failure`, a
    /// result [`classify`](Self::classify) judged a failure. `request` is the
    /// request as the inner service received it.
    fn decide(&self, request: &Request, failure: &Result<Response, Error>) -> RetryDecision;

    /// How an attempt that [`classify`](Self::classify) did *not* judge a
    /// failure counts for the [budget](super::RetryBudget), if at all;
    /// `outcome` is what `classify` said. By default a success is
    /// [`AttemptEnd::Succeeded`] and a result the classifier ignores counts
    /// for nothing.
    ///
    /// [`GrpcRetry`](super::GrpcRetry) overrides it: only status `OK` is a
    /// success for gRPC's throttling, another status counts for nothing,
    /// and "do not retry" pushback counts as a failure whatever the status
    /// (proposal A6).
    #[inline]
    fn budget_end(&self, result: &Result<Response, Error>, outcome: Outcome) -> Option<AttemptEnd> {
        let _ = result;
        match outcome {
            Outcome::Success => Some(AttemptEnd::Succeeded),
            Outcome::Failure | Outcome::Ignored => None,
        }
    }
}

impl<F, Request, Response, Error> RetryPolicy<Request, Response, Error> for F
where
    F: Fn(&Result<Response, Error>) -> bool,
{
    fn classify(&self, result: &Result<Response, Error>) -> Outcome {
        if self(result) {
            Outcome::Failure
        } else {
            Outcome::Success
        }
    }

    fn decide(&self, _: &Request, _: &Result<Response, Error>) -> RetryDecision {
        RetryDecision::Retry
    }
}

/// The default policy: every `Err` is a failure and is retried; every `Ok`
/// stands.
///
/// It judges every result it is given as [`FailOnError`](crate::classify::FailOnError)
/// does; the one difference, seawall's rejections, never reaches it unless
/// [`retry_rejections`](super::RetryConfigBuilder::retry_rejections) asks for
/// them to be retried.
///
/// ```
/// use seawall::retry::{RetryDecision, RetryOnError, RetryPolicy};
///
/// let failed: Result<(), std::io::Error> = Err(std::io::ErrorKind::ConnectionReset.into());
/// assert_eq!(RetryOnError.decide(&(), &failed), RetryDecision::Retry);
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct RetryOnError;

impl<Request, Response, Error> RetryPolicy<Request, Response, Error> for RetryOnError {
    #[inline]
    fn classify(&self, result: &Result<Response, Error>) -> Outcome {
        match result {
            Ok(_) => Outcome::Success,
            Err(_) => Outcome::Failure,
        }
    }

    fn decide(&self, _: &Request, _: &Result<Response, Error>) -> RetryDecision {
        RetryDecision::Retry
    }
}

/// Retries every failure a classifier finds, whatever the request.
///
/// Give it the classifier the circuit breaker uses, and the two count the
/// same failures: what trips the breaker is what gets retried.
///
/// ```
/// use seawall::classify::{HttpStatus, Outcome};
/// use seawall::retry::{RetryDecision, RetryOnFailure, RetryPolicy};
///
/// let policy = RetryOnFailure::new(HttpStatus::server_errors());
/// let busy = http::Response::builder().status(503).body(()).unwrap();
/// let result: Result<_, std::io::Error> = Ok(busy);
/// assert_eq!(RetryPolicy::<(), _, _>::classify(&policy, &result), Outcome::Failure);
/// assert_eq!(policy.decide(&(), &result), RetryDecision::Retry);
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct RetryOnFailure<C> {
    classifier: C,
}

impl<C> RetryOnFailure<C> {
    /// Retries what `classifier` judges a failure.
    pub fn new(classifier: C) -> Self {
        Self { classifier }
    }

    /// The classifier.
    pub fn classifier(&self) -> &C {
        &self.classifier
    }
}

impl<C, Request, Response, Error> RetryPolicy<Request, Response, Error> for RetryOnFailure<C>
where
    C: Classify<Response, Error>,
{
    #[inline]
    fn classify(&self, result: &Result<Response, Error>) -> Outcome {
        self.classifier.classify(result)
    }

    fn decide(&self, _: &Request, _: &Result<Response, Error>) -> RetryDecision {
        RetryDecision::Retry
    }
}

/// Whether `err` is a seawall rejection that is not retried by default.
pub(crate) fn is_rejection<E: 'static>(err: &E) -> bool {
    matches!(
        ErrorKind::of_any(err),
        ErrorKind::BreakerOpen | ErrorKind::BudgetExhausted | ErrorKind::BulkheadFull
    )
}
