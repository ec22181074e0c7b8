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
//! succeeds), and behind features [`HttpStatus`] and [`GrpcStatus`].
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

/// `Failure`, unless the error is a seawall rejection raised further in.
fn outcome_of_error<E: 'static>(err: &E) -> Outcome {
    match ErrorKind::of_any(err) {
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
pub use self::http_status::HttpStatus;

#[cfg(feature = "http")]
mod http_status {
    use super::{outcome_of_error, Classify, Outcome};

    /// Classifies `http::Response`s by status code.
    ///
    /// By default a `5xx` status is a failure and everything else a success;
    /// `429 Too Many Requests` and `408 Request Timeout` can be counted as
    /// failures too. Transport errors (`Err`) are failures.
    ///
    /// ```
    /// use seawall::classify::{Classify, HttpStatus, Outcome};
    ///
    /// let classify = HttpStatus::server_errors().with_too_many_requests();
    /// let response = http::Response::builder().status(429).body(()).unwrap();
    /// let result: Result<_, std::io::Error> = Ok(response);
    /// assert_eq!(classify.classify(&result), Outcome::Failure);
    /// ```
    #[derive(Clone, Copy, Debug)]
    pub struct HttpStatus {
        too_many_requests: bool,
        request_timeout: bool,
    }

    impl HttpStatus {
        /// `5xx` fails; every other status succeeds.
        pub fn server_errors() -> Self {
            Self {
                too_many_requests: false,
                request_timeout: false,
            }
        }

        /// Also count `429 Too Many Requests` as a failure.
        pub fn with_too_many_requests(mut self) -> Self {
            self.too_many_requests = true;
            self
        }

        /// Also count `408 Request Timeout` as a failure.
        pub fn with_request_timeout(mut self) -> Self {
            self.request_timeout = true;
            self
        }

        /// The outcome of a response with this status.
        pub fn outcome_of_status(&self, status: http::StatusCode) -> Outcome {
            let failed = status.is_server_error()
                || (self.too_many_requests && status == http::StatusCode::TOO_MANY_REQUESTS)
                || (self.request_timeout && status == http::StatusCode::REQUEST_TIMEOUT);
            if failed {
                Outcome::Failure
            } else {
                Outcome::Success
            }
        }
    }

    impl Default for HttpStatus {
        fn default() -> Self {
            Self::server_errors()
        }
    }

    /// The same for a `reqwest` client's responses (feature `reqwest`).
    #[cfg(feature = "reqwest")]
    impl<E: 'static> Classify<reqwest::Response, E> for HttpStatus {
        fn classify(&self, result: &Result<reqwest::Response, E>) -> Outcome {
            match result {
                Ok(response) => self.outcome_of_status(response.status()),
                Err(err) => outcome_of_error(err),
            }
        }
    }

    impl<B, E: 'static> Classify<http::Response<B>, E> for HttpStatus {
        fn classify(&self, result: &Result<http::Response<B>, E>) -> Outcome {
            match result {
                Ok(response) => self.outcome_of_status(response.status()),
                Err(err) => outcome_of_error(err),
            }
        }
    }
}

#[cfg(feature = "grpc")]
pub use self::grpc_status::{GrpcCode, GrpcStatus};

#[cfg(feature = "grpc")]
mod grpc_status {
    use super::{outcome_of_error, Classify, Outcome};

    /// A gRPC status code, as carried by the `grpc-status` header.
    ///
    /// ```
    /// use seawall::classify::GrpcCode;
    ///
    /// assert_eq!(GrpcCode::from_header(b"14"), Some(GrpcCode::Unavailable));
    /// assert_eq!(GrpcCode::from_i32(99), None);
    /// ```
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    #[allow(missing_docs)]
    pub enum GrpcCode {
        Ok = 0,
        Cancelled = 1,
        Unknown = 2,
        InvalidArgument = 3,
        DeadlineExceeded = 4,
        NotFound = 5,
        AlreadyExists = 6,
        PermissionDenied = 7,
        ResourceExhausted = 8,
        FailedPrecondition = 9,
        Aborted = 10,
        OutOfRange = 11,
        Unimplemented = 12,
        Internal = 13,
        Unavailable = 14,
        DataLoss = 15,
        Unauthenticated = 16,
    }

    impl GrpcCode {
        const ALL: [GrpcCode; 17] = [
            Self::Ok,
            Self::Cancelled,
            Self::Unknown,
            Self::InvalidArgument,
            Self::DeadlineExceeded,
            Self::NotFound,
            Self::AlreadyExists,
            Self::PermissionDenied,
            Self::ResourceExhausted,
            Self::FailedPrecondition,
            Self::Aborted,
            Self::OutOfRange,
            Self::Unimplemented,
            Self::Internal,
            Self::Unavailable,
            Self::DataLoss,
            Self::Unauthenticated,
        ];

        /// The code with this number; `None` outside `0..=16`.
        pub fn from_i32(code: i32) -> Option<Self> {
            usize::try_from(code)
                .ok()
                .and_then(|i| Self::ALL.get(i).copied())
        }

        /// Parses a `grpc-status` header value: ASCII digits only.
        pub fn from_header(value: &[u8]) -> Option<Self> {
            if value.is_empty() || value.len() > 2 || !value.iter().all(u8::is_ascii_digit) {
                return None;
            }
            let code = value.iter().fold(0i32, |n, d| n * 10 + i32::from(d - b'0'));
            Self::from_i32(code)
        }

        fn bit(self) -> u32 {
            1 << (self as u32)
        }
    }

    /// Classifies gRPC responses by the `grpc-status` header of an
    /// `http::Response` (trailers-only responses carry it there, which is how
    /// servers send errors without a body).
    ///
    /// By default `UNAVAILABLE`, `DEADLINE_EXCEEDED`, `INTERNAL`, `UNKNOWN`,
    /// `RESOURCE_EXHAUSTED` and `DATA_LOSS` are failures; every other code, and
    /// a response without the header, is a success. Transport errors fail.
    ///
    /// ```
    /// use seawall::classify::{Classify, GrpcCode, GrpcStatus, Outcome};
    ///
    /// let classify = GrpcStatus::default().without(GrpcCode::ResourceExhausted);
    /// let response = http::Response::builder().header("grpc-status", "14").body(()).unwrap();
    /// let result: Result<_, std::io::Error> = Ok(response);
    /// assert_eq!(classify.classify(&result), Outcome::Failure);
    /// ```
    #[derive(Clone, Copy, Debug)]
    pub struct GrpcStatus {
        failures: u32,
    }

    impl GrpcStatus {
        /// No code fails; add them with [`with`](Self::with).
        pub fn none() -> Self {
            Self { failures: 0 }
        }

        /// Also count `code` as a failure.
        pub fn with(mut self, code: GrpcCode) -> Self {
            self.failures |= code.bit();
            self
        }

        /// Do not count `code` as a failure.
        pub fn without(mut self, code: GrpcCode) -> Self {
            self.failures &= !code.bit();
            self
        }

        /// The outcome of a call that ended with `code`.
        pub fn outcome_of_code(&self, code: GrpcCode) -> Outcome {
            if self.failures & code.bit() != 0 {
                Outcome::Failure
            } else {
                Outcome::Success
            }
        }
    }

    impl Default for GrpcStatus {
        fn default() -> Self {
            Self::none()
                .with(GrpcCode::Unavailable)
                .with(GrpcCode::DeadlineExceeded)
                .with(GrpcCode::Internal)
                .with(GrpcCode::Unknown)
                .with(GrpcCode::ResourceExhausted)
                .with(GrpcCode::DataLoss)
        }
    }

    impl<B, E: 'static> Classify<http::Response<B>, E> for GrpcStatus {
        fn classify(&self, result: &Result<http::Response<B>, E>) -> Outcome {
            match result {
                Ok(response) => match response.headers().get("grpc-status") {
                    Some(value) => match GrpcCode::from_header(value.as_bytes()) {
                        Some(code) => self.outcome_of_code(code),
                        // A status no gRPC peer may send: the response is broken.
                        None => Outcome::Failure,
                    },
                    None => Outcome::Success,
                },
                Err(err) => outcome_of_error(err),
            }
        }
    }
}
