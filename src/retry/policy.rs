//! Deciding whether a result is worth another attempt.
//!
//! A [`RetryPolicy`] looks at the request and the result of one attempt and
//! returns a [`Decision`]. Any closure `Fn(&Result<Response, Error>) -> bool`
//! is one (`true` means retry). The ready-made ones are [`RetryOnError`] (the
//! default), and behind features [`HttpRetry`] and [`GrpcRetry`], which also
//! read the server's pushback.
//!
//! Whatever the policy says, the retry layer does not retry seawall's own
//! rejections ([`BreakerOpen`](crate::breaker::error::BreakerOpen),
//! [`BudgetExhausted`](super::error::BudgetExhausted), `BulkheadFull`) unless
//! told to with
//! [`RetryConfigBuilder::retry_rejections`](super::RetryConfigBuilder::retry_rejections):
//! a dependency known to be down is not helped by being asked again at once.
//!
//! ```
//! use seawall::retry::policy::{Decision, RetryPolicy};
//!
//! let policy = |result: &Result<u16, std::io::Error>| matches!(result, Ok(503) | Err(_));
//! assert_eq!(policy.decide(&(), &Ok(503)), Decision::Retry);
//! assert_eq!(policy.decide(&(), &Ok(200)), Decision::Accept);
//! ```

use std::time::Duration;

use crate::error::ErrorKind;

/// What to do after an attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Decision {
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

/// Decides whether to retry after one attempt.
///
/// `request` is the request as the inner service received it (for
/// idempotency checks).
pub trait RetryPolicy<Request, Response, Error> {
    /// The decision after an attempt of `request` ended with `result`.
    fn decide(&self, request: &Request, result: &Result<Response, Error>) -> Decision;
}

impl<F, Request, Response, Error> RetryPolicy<Request, Response, Error> for F
where
    F: Fn(&Result<Response, Error>) -> bool,
{
    fn decide(&self, _: &Request, result: &Result<Response, Error>) -> Decision {
        if self(result) {
            Decision::Retry
        } else {
            Decision::Accept
        }
    }
}

/// The default policy: retry every error, accept every response.
///
/// ```
/// use seawall::retry::policy::{Decision, RetryOnError, RetryPolicy};
///
/// let failed: Result<(), std::io::Error> = Err(std::io::ErrorKind::ConnectionReset.into());
/// assert_eq!(RetryOnError.decide(&(), &failed), Decision::Retry);
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct RetryOnError;

impl<Request, Response, Error> RetryPolicy<Request, Response, Error> for RetryOnError {
    fn decide(&self, _: &Request, result: &Result<Response, Error>) -> Decision {
        match result {
            Ok(_) => Decision::Accept,
            Err(_) => Decision::Retry,
        }
    }
}

/// Whether `err` is a seawall rejection that is not retried by default.
pub(crate) fn is_rejection<E: 'static>(err: &E) -> bool {
    matches!(
        ErrorKind::of_any(err),
        ErrorKind::BreakerOpen | ErrorKind::BudgetExhausted | ErrorKind::BulkheadFull
    )
}

#[cfg(feature = "http")]
pub use self::http_policy::HttpRetry;

#[cfg(feature = "http")]
mod http_policy {
    use std::time::SystemTime;

    use http::{Method, StatusCode};

    use super::{Decision, RetryPolicy};

    /// Retries HTTP requests the way most servers expect.
    ///
    /// - Retried: `5xx` except `501 Not Implemented`, `408 Request TimeoutService`,
    ///   `429 Too Many Requests`, and transport errors.
    /// - Only idempotent requests by default: `GET`, `HEAD`, `OPTIONS`, `PUT`,
    ///   `DELETE`, `TRACE`, or any request with an `Idempotency-Key` header.
    /// - A valid `Retry-After` replaces the backoff's delay; a malformed one is
    ///   ignored.
    ///
    /// ```
    /// use seawall::retry::policy::{Decision, HttpRetry, RetryPolicy};
    /// use std::time::Duration;
    ///
    /// let get = http::Request::get("/").body(()).unwrap();
    /// let busy = http::Response::builder().status(503).header("retry-after", "2").body(()).unwrap();
    /// let result: Result<_, std::io::Error> = Ok(busy);
    /// assert_eq!(HttpRetry::default().decide(&get, &result), Decision::RetryAfter(Duration::from_secs(2)));
    ///
    /// let post = http::Request::post("/").body(()).unwrap();
    /// assert_eq!(HttpRetry::default().decide(&post, &result), Decision::Accept);
    /// ```
    #[derive(Clone, Copy, Debug)]
    pub struct HttpRetry {
        any_method: bool,
        honour_retry_after: bool,
    }

    impl Default for HttpRetry {
        fn default() -> Self {
            Self {
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

        /// Whether a response with `status` is worth retrying.
        pub fn is_retryable_status(status: StatusCode) -> bool {
            (status.is_server_error() && status != StatusCode::NOT_IMPLEMENTED)
                || status == StatusCode::REQUEST_TIMEOUT
                || status == StatusCode::TOO_MANY_REQUESTS
        }
    }

    impl HttpRetry {
        /// The decision for a request (`method`, `request_headers`) that ended
        /// with a response (`status`, `response_headers`), or with an error
        /// (`None`).
        fn decide_parts(
            &self,
            method: &Method,
            request_headers: &http::HeaderMap,
            response: Option<(StatusCode, &http::HeaderMap)>,
        ) -> Decision {
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
                return Decision::Accept;
            }
            match response {
                None => Decision::Retry,
                Some((status, headers)) if Self::is_retryable_status(status) => {
                    let pushback = self
                        .honour_retry_after
                        .then(|| headers.get(http::header::RETRY_AFTER))
                        .flatten()
                        .and_then(|value| {
                            super::super::pushback::retry_after(value.as_bytes(), SystemTime::now())
                        });
                    match pushback {
                        Some(delay) => Decision::RetryAfter(delay),
                        None => Decision::Retry,
                    }
                }
                Some(_) => Decision::Accept,
            }
        }
    }

    impl<B, R, E> RetryPolicy<http::Request<B>, http::Response<R>, E> for HttpRetry {
        fn decide(
            &self,
            request: &http::Request<B>,
            result: &Result<http::Response<R>, E>,
        ) -> Decision {
            let response = result.as_ref().ok().map(|r| (r.status(), r.headers()));
            self.decide_parts(request.method(), request.headers(), response)
        }
    }

    /// The same rules for `reqwest` (feature `reqwest`), whatever the error
    /// type: a bare client's `reqwest::Error`, or the `BoxError` a client
    /// wrapped in seawall's timeout and breaker returns.
    #[cfg(feature = "reqwest")]
    impl<E> RetryPolicy<reqwest::Request, reqwest::Response, E> for HttpRetry {
        fn decide(
            &self,
            request: &reqwest::Request,
            result: &Result<reqwest::Response, E>,
        ) -> Decision {
            let response = result.as_ref().ok().map(|r| (r.status(), r.headers()));
            self.decide_parts(request.method(), request.headers(), response)
        }
    }
}

#[cfg(feature = "grpc")]
pub use self::grpc_policy::GrpcRetry;

#[cfg(feature = "grpc")]
mod grpc_policy {
    use crate::classify::GrpcCode;

    use super::super::pushback::{grpc_pushback, GrpcPushback};
    use super::{Decision, RetryPolicy};

    /// Retries gRPC calls by the `grpc-status` of a trailers-only response
    /// (how servers send errors without a body), honouring
    /// `grpc-retry-pushback-ms`.
    ///
    /// `UNAVAILABLE` is retried by default; add codes with [`with`](Self::with).
    /// Transport errors are retried. A negative or malformed pushback means
    /// "do not retry", as gRPC's retry design (A6) says.
    ///
    /// ```
    /// use seawall::classify::GrpcCode;
    /// use seawall::retry::policy::{Decision, GrpcRetry, RetryPolicy};
    ///
    /// let unavailable = http::Response::builder().header("grpc-status", "14").body(()).unwrap();
    /// let result: Result<_, std::io::Error> = Ok(unavailable);
    /// assert_eq!(GrpcRetry::default().decide(&(), &result), Decision::Retry);
    ///
    /// let aborted = http::Response::builder().header("grpc-status", "10").body(()).unwrap();
    /// let result: Result<_, std::io::Error> = Ok(aborted);
    /// assert_eq!(GrpcRetry::default().decide(&(), &result), Decision::Accept);
    /// assert_eq!(GrpcRetry::default().with(GrpcCode::Aborted).decide(&(), &result), Decision::Retry);
    /// ```
    #[derive(Clone, Copy, Debug)]
    pub struct GrpcRetry {
        codes: u32,
    }

    impl Default for GrpcRetry {
        fn default() -> Self {
            Self { codes: 0 }.with(GrpcCode::Unavailable)
        }
    }

    impl GrpcRetry {
        /// Also retry `code`.
        pub fn with(mut self, code: GrpcCode) -> Self {
            self.codes |= 1 << (code as u32);
            self
        }

        /// Do not retry `code`.
        pub fn without(mut self, code: GrpcCode) -> Self {
            self.codes &= !(1 << (code as u32));
            self
        }

        fn retries(&self, code: GrpcCode) -> bool {
            self.codes & (1 << (code as u32)) != 0
        }
    }

    impl<Request, B, E> RetryPolicy<Request, http::Response<B>, E> for GrpcRetry {
        fn decide(&self, _: &Request, result: &Result<http::Response<B>, E>) -> Decision {
            let response = match result {
                Err(_) => return Decision::Retry,
                Ok(response) => response,
            };
            let headers = response.headers();
            let code = headers
                .get("grpc-status")
                .and_then(|value| GrpcCode::from_header(value.as_bytes()));
            match code {
                Some(code) if self.retries(code) => match headers.get("grpc-retry-pushback-ms") {
                    None => Decision::Retry,
                    Some(value) => match grpc_pushback(value.as_bytes()) {
                        GrpcPushback::After(delay) => Decision::RetryAfter(delay),
                        GrpcPushback::DoNotRetry => Decision::DoNotRetry,
                    },
                },
                _ => Decision::Accept,
            }
        }
    }
}
