//! The gRPC retry policy: [`GrpcStatus`] judges, the retryable codes and
//! `grpc-retry-pushback-ms` decide.

use crate::classify::{Classify, GrpcCode, GrpcStatus, Outcome};

use super::budget::AttemptEnd;
use super::policy::{RetryDecision, RetryPolicy};
use super::pushback::{grpc_pushback_of, GrpcPushback};

/// Retries gRPC calls by the `grpc-status` of a trailers-only response (how
/// servers send errors without a body), honouring `grpc-retry-pushback-ms`.
///
/// - A failure is what [`GrpcStatus`] says it is (by default `UNAVAILABLE`,
///   `DEADLINE_EXCEEDED`, `INTERNAL`, `UNKNOWN`, `RESOURCE_EXHAUSTED`,
///   `DATA_LOSS`, a malformed status, or a transport error), plus every code
///   this policy retries: the same classifier in a circuit breaker counts the
///   same failures.
/// - Of those, transport errors and the retryable codes are retried: by
///   default only `UNAVAILABLE`, as gRPC's retry design (A6) advises; add
///   codes with [`with`](Self::with).
/// - `grpc-retry-pushback-ms` is read on every non-`OK` status, before the
///   code, as grpc-go does: a wait replaces the backoff of a retryable code
///   (and the backoff after it starts over from its first delay); "do not
///   retry" (a negative or malformed value, or several values; see
///   [`parse_grpc_pushback`](super::parse_grpc_pushback)) stops retries
///   whatever the code.
/// - For the budget (gRPC's throttling, [`GrpcRetryThrottle`](super::GrpcRetryThrottle)),
///   as A6, grpc-go and grpc-java count: `OK` is a success; a retryable code
///   or "do not retry" pushback is a failure; any other status counts for
///   nothing.
///
/// ```
/// use seawall::classify::GrpcCode;
/// use seawall::retry::{GrpcRetry, RetryDecision, RetryPolicy};
///
/// let unavailable = http::Response::builder().header("grpc-status", "14").body(()).unwrap();
/// let result: Result<_, std::io::Error> = Ok(unavailable);
/// assert_eq!(GrpcRetry::default().decide(&(), &result), RetryDecision::Retry);
///
/// let aborted = http::Response::builder().header("grpc-status", "10").body(()).unwrap();
/// let result: Result<_, std::io::Error> = Ok(aborted);
/// assert_eq!(GrpcRetry::default().decide(&(), &result), RetryDecision::Accept);
/// assert_eq!(GrpcRetry::default().with(GrpcCode::Aborted).decide(&(), &result), RetryDecision::Retry);
/// ```
#[derive(Clone, Copy, Debug)]
pub struct GrpcRetry {
    classifier: GrpcStatus,
    /// The codes retried, one bit per code.
    retryable: u32,
}

impl Default for GrpcRetry {
    fn default() -> Self {
        Self {
            classifier: GrpcStatus::default(),
            retryable: 0,
        }
        .with(GrpcCode::Unavailable)
    }
}

impl GrpcRetry {
    /// Also retry `code`, which then counts as a failure too.
    pub fn with(mut self, code: GrpcCode) -> Self {
        self.retryable |= bit(code);
        self.classifier = self.classifier.with(code);
        self
    }

    /// Do not retry `code` (it may still count as a failure).
    pub fn without(mut self, code: GrpcCode) -> Self {
        self.retryable &= !bit(code);
        self
    }

    fn retries(&self, code: GrpcCode) -> bool {
        self.retryable & bit(code) != 0
    }
}

fn bit(code: GrpcCode) -> u32 {
    1 << (code as u32)
}

impl<Request, B, E: 'static> RetryPolicy<Request, http::Response<B>, E> for GrpcRetry {
    #[inline]
    fn classify(&self, result: &Result<http::Response<B>, E>) -> Outcome {
        self.classifier.classify(result)
    }

    fn decide(&self, _: &Request, failure: &Result<http::Response<B>, E>) -> RetryDecision {
        let response = match failure {
            Err(_) => return RetryDecision::Retry,
            Ok(response) => response,
        };
        let headers = response.headers();
        let pushback = grpc_pushback_of(headers);
        if pushback == Some(GrpcPushback::DoNotRetry) {
            return RetryDecision::DoNotRetry;
        }
        let code = headers
            .get("grpc-status")
            .and_then(|value| GrpcCode::from_header(value.as_bytes()));
        match (code, pushback) {
            (Some(code), Some(GrpcPushback::After(delay))) if self.retries(code) => {
                RetryDecision::RetryAfter(delay)
            }
            (Some(code), _) if self.retries(code) => RetryDecision::Retry,
            _ => RetryDecision::Accept,
        }
    }

    fn budget_end(
        &self,
        result: &Result<http::Response<B>, E>,
        outcome: Outcome,
    ) -> Option<AttemptEnd> {
        let status = match result {
            Ok(response) => response.headers().get("grpc-status"),
            Err(_) => None,
        };
        match status {
            // A status other than OK that the classifier does not call a failure (NOT_FOUND,
            // say): nothing for the throttle, unless the server said not to retry.
            Some(value) if value.as_bytes() != b"0" => {
                let headers = result.as_ref().ok().map(http::Response::headers)?;
                (grpc_pushback_of(headers) == Some(GrpcPushback::DoNotRetry))
                    .then_some(AttemptEnd::Failed)
            }
            _ => match outcome {
                Outcome::Success => Some(AttemptEnd::Succeeded),
                Outcome::Failure | Outcome::Ignored => None,
            },
        }
    }
}
