//! The HTTP retry policy: [`HttpStatus`] judges, idempotency and
//! `Retry-After` decide.

use std::time::SystemTime;

use http::{Method, StatusCode};

use crate::classify::{Classify, HttpStatus, Outcome};

use super::policy::{RetryDecision, RetryPolicy};
use super::pushback::parse_retry_after;

/// Retries HTTP requests the way most servers expect.
///
/// - A failure is what [`HttpStatus`] with `408 Request Timeout` and
///   `429 Too Many Requests` says it is: a `5xx`, a `408`, a `429`, or a
///   transport error (`Err`). The same classifier in a circuit breaker counts
///   the same failures.
/// - Of those, all are retried but `501 Not Implemented`, which fails the
///   same way every time.
/// - Only idempotent requests by default: `GET`, `HEAD`, `OPTIONS`, `PUT`,
///   `DELETE`, `TRACE`, or any request with an `Idempotency-Key` header.
/// - A valid `Retry-After` replaces the backoff's delay; a malformed one is
///   ignored.
///
/// ```
/// use seawall::retry::{HttpRetry, RetryDecision, RetryPolicy};
/// use std::time::Duration;
///
/// let get = http::Request::get("/").body(()).unwrap();
/// let busy = http::Response::builder().status(503).header("retry-after", "2").body(()).unwrap();
/// let result: Result<_, std::io::Error> = Ok(busy);
/// assert_eq!(HttpRetry::default().decide(&get, &result), RetryDecision::RetryAfter(Duration::from_secs(2)));
///
/// let post = http::Request::post("/").body(()).unwrap();
/// assert_eq!(HttpRetry::default().decide(&post, &result), RetryDecision::Accept);
/// ```
#[derive(Clone, Copy, Debug)]
pub struct HttpRetry {
    classifier: HttpStatus,
    any_method: bool,
    honour_retry_after: bool,
}

impl Default for HttpRetry {
    fn default() -> Self {
        Self {
            classifier: HttpStatus::server_errors()
                .with_request_timeout()
                .with_too_many_requests(),
            any_method: false,
            honour_retry_after: true,
        }
    }
}

impl HttpRetry {
    /// Retries requests whatever their method (for APIs known to be safe).
    pub fn any_method(mut self) -> Self {
        self.any_method = true;
        self
    }

    /// Ignores `Retry-After`: always use the backoff's delay.
    pub fn ignore_retry_after(mut self) -> Self {
        self.honour_retry_after = false;
        self
    }

    /// Whether a response with `status` is worth retrying: a failure that is
    /// not `501 Not Implemented`.
    ///
    /// ```
    /// use seawall::retry::HttpRetry;
    ///
    /// assert!(HttpRetry::is_retryable_status(http::StatusCode::BAD_GATEWAY));
    /// assert!(!HttpRetry::is_retryable_status(http::StatusCode::NOT_IMPLEMENTED));
    /// ```
    pub fn is_retryable_status(status: StatusCode) -> bool {
        Self::default().retries(status)
    }

    fn retries(&self, status: StatusCode) -> bool {
        self.classifier.outcome_of_status(status) == Outcome::Failure
            && status != StatusCode::NOT_IMPLEMENTED
    }

    /// The decision for a request (`method`, `request_headers`) that failed
    /// with a response (`status`, `response_headers`), or with an error
    /// (`None`).
    fn decide_parts(
        &self,
        method: &Method,
        request_headers: &http::HeaderMap,
        response: Option<(StatusCode, &http::HeaderMap)>,
    ) -> RetryDecision {
        let idempotent = matches!(
            *method,
            Method::GET
                | Method::HEAD
                | Method::OPTIONS
                | Method::PUT
                | Method::DELETE
                | Method::TRACE
        ) || request_headers.contains_key("idempotency-key");
        if !self.any_method && !idempotent {
            return RetryDecision::Accept;
        }
        match response {
            None => RetryDecision::Retry,
            Some((status, headers)) if self.retries(status) => {
                let pushback = self
                    .honour_retry_after
                    .then(|| headers.get(http::header::RETRY_AFTER))
                    .flatten()
                    .and_then(|value| parse_retry_after(value.as_bytes(), SystemTime::now()));
                match pushback {
                    Some(delay) => RetryDecision::RetryAfter(delay),
                    None => RetryDecision::Retry,
                }
            }
            Some(_) => RetryDecision::Accept,
        }
    }
}

impl<B, R, E: 'static> RetryPolicy<http::Request<B>, http::Response<R>, E> for HttpRetry {
    #[inline]
    fn classify(&self, result: &Result<http::Response<R>, E>) -> Outcome {
        self.classifier.classify(result)
    }

    fn decide(
        &self,
        request: &http::Request<B>,
        failure: &Result<http::Response<R>, E>,
    ) -> RetryDecision {
        let response = failure.as_ref().ok().map(|r| (r.status(), r.headers()));
        self.decide_parts(request.method(), request.headers(), response)
    }
}

/// The same rules for `reqwest` (feature `reqwest`), whatever the error
/// type: a bare client's `reqwest::Error`, or the `BoxError` a client
/// wrapped in seawall's timeout and breaker returns.
#[cfg(feature = "reqwest")]
impl<E: 'static> RetryPolicy<reqwest::Request, reqwest::Response, E> for HttpRetry {
    #[inline]
    fn classify(&self, result: &Result<reqwest::Response, E>) -> Outcome {
        self.classifier.classify(result)
    }

    fn decide(
        &self,
        request: &reqwest::Request,
        failure: &Result<reqwest::Response, E>,
    ) -> RetryDecision {
        let response = failure.as_ref().ok().map(|r| (r.status(), r.headers()));
        self.decide_parts(request.method(), request.headers(), response)
    }
}
