//! Classifying HTTP responses by status code.

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

impl HttpStatus {
    /// The outcome of a call that ended with a response of this status, or
    /// with `err`: what every client's response type is classified by.
    pub(crate) fn outcome_of_result<E: 'static>(
        &self,
        result: Result<http::StatusCode, &E>,
    ) -> Outcome {
        match result {
            Ok(status) => self.outcome_of_status(status),
            Err(err) => outcome_of_error(err),
        }
    }
}

impl<B, E: 'static> Classify<http::Response<B>, E> for HttpStatus {
    fn classify(&self, result: &Result<http::Response<B>, E>) -> Outcome {
        self.outcome_of_result(result.as_ref().map(http::Response::status))
    }
}
