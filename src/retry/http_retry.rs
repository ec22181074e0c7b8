//! The HTTP retry policy: [`HttpStatus`] judges, idempotency and
//! `Retry-After` decide.

use std::time::SystemTime;

use http::{HeaderMap, Method, StatusCode};

use crate::classify::{HttpStatus, Outcome, Transience};

use super::policy::{RetryDecision, RetryPolicy};
use super::pushback::parse_retry_after;

/// Retries HTTP requests the way most servers expect.
///
/// - A failure is what [`HttpStatus`] with `408 Request Timeout` and
///   `429 Too Many Requests` says it is: a `5xx`, a `408`, a `429`, or a
///   transport error (`Err`). The same classifier in a circuit breaker counts
///   the same failures.
/// - Of those, all are retried but `501 Not Implemented`, which fails the
///   same way every time, and transport errors that [`Transience`] judges
///   permanent (a request that could not be built, an answer that could not
///   be decoded).
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

    /// The decision for one attempt of a request (`method`,
    /// `request_headers`) that ended as `attempt`, for any HTTP client: the
    /// whole policy, classification included, on plain `http` types.
    ///
    /// A success is accepted; so is a failure of a request that is not
    /// idempotent, a status that fails the same way every time, and a
    /// [permanent](Transience::Permanent) transport error. A retryable
    /// response with a valid `Retry-After` is retried after it.
    ///
    /// ```
    /// use http::{HeaderMap, Method, StatusCode};
    /// use seawall::classify::Transience;
    /// use seawall::retry::{HttpAttempt, HttpRetry, RetryDecision};
    ///
    /// let policy = HttpRetry::default();
    /// let none = HeaderMap::new();
    /// let busy = HttpAttempt::Response { status: StatusCode::SERVICE_UNAVAILABLE, headers: &none };
    /// assert_eq!(policy.decide_attempt(&Method::GET, &none, busy), RetryDecision::Retry);
    /// assert_eq!(policy.decide_attempt(&Method::POST, &none, busy), RetryDecision::Accept);
    ///
    /// let reset = HttpAttempt::Failed(Transience::of_error(&std::io::Error::from(
    ///     std::io::ErrorKind::ConnectionReset,
    /// )));
    /// assert_eq!(policy.decide_attempt(&Method::GET, &none, reset), RetryDecision::Retry);
    /// ```
    pub fn decide_attempt(
        &self,
        method: &Method,
        request_headers: &HeaderMap,
        attempt: HttpAttempt<'_>,
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
        match attempt {
            HttpAttempt::Failed(Transience::Transient) => RetryDecision::Retry,
            HttpAttempt::Failed(Transience::Permanent) => RetryDecision::Accept,
            HttpAttempt::Response { status, headers } if self.retries(status) => {
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
            HttpAttempt::Response { .. } => RetryDecision::Accept,
        }
    }

    /// The outcome of a result whose response has `status`, or whose error
    /// is `err`.
    pub(crate) fn classify_result<E: 'static>(&self, result: Result<StatusCode, &E>) -> Outcome {
        self.classifier.outcome_of_result(result)
    }

    /// The decision for a result whose response is `response` (status and
    /// headers) or whose error is `err`.
    pub(crate) fn decide_result<E: 'static>(
        &self,
        method: &Method,
        request_headers: &HeaderMap,
        result: Result<(StatusCode, &HeaderMap), &E>,
    ) -> RetryDecision {
        let attempt = match result {
            Ok((status, headers)) => HttpAttempt::Response { status, headers },
            Err(err) => HttpAttempt::Failed(Transience::of_any(err)),
        };
        self.decide_attempt(method, request_headers, attempt)
    }
}

/// How one attempt of an HTTP request ended, in terms any client can give
/// ([`HttpRetry::decide_attempt`]).
#[derive(Clone, Copy, Debug)]
pub enum HttpAttempt<'a> {
    /// A response arrived.
    Response {
        /// Its status.
        status: StatusCode,
        /// Its headers (`Retry-After` is read from them).
        headers: &'a HeaderMap,
    },
    /// No response: a transport error, judged by [`Transience`].
    Failed(Transience),
}

impl<B, R, E: 'static> RetryPolicy<http::Request<B>, http::Response<R>, E> for HttpRetry {
    #[inline]
    fn classify(&self, result: &Result<http::Response<R>, E>) -> Outcome {
        self.classify_result(result.as_ref().map(http::Response::status))
    }

    fn decide(
        &self,
        request: &http::Request<B>,
        failure: &Result<http::Response<R>, E>,
    ) -> RetryDecision {
        let result = failure.as_ref().map(|r| (r.status(), r.headers()));
        self.decide_result(request.method(), request.headers(), result)
    }
}
