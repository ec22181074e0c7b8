//! seawall's HTTP classifier, retry policy and request copying for
//! reqwest 0.13's types (feature `reqwest`). The rules themselves live in
//! [`HttpStatus`], [`HttpRetry`] and [`Transience`](crate::classify::Transience).

use reqwest::{Request, Response};

use crate::classify::{Classify, HttpStatus, Outcome};
use crate::retry::{CloneRequest, HttpRetry, ReqwestClone, RetryDecision, RetryPolicy};

impl<E: 'static> Classify<Response, E> for HttpStatus {
    fn classify(&self, result: &Result<Response, E>) -> Outcome {
        self.outcome_of_result(result.as_ref().map(Response::status))
    }
}

/// Whatever the error type: a bare client's `reqwest::Error`, or the
/// `BoxError` a client wrapped in seawall's timeout and breaker returns.
impl<E: 'static> RetryPolicy<Request, Response, E> for HttpRetry {
    #[inline]
    fn classify(&self, result: &Result<Response, E>) -> Outcome {
        self.classify_result(result.as_ref().map(Response::status))
    }

    fn decide(&self, request: &Request, failure: &Result<Response, E>) -> RetryDecision {
        let result = failure.as_ref().map(|r| (r.status(), r.headers()));
        self.decide_result(request.method(), request.headers(), result)
    }
}

impl CloneRequest<Request> for ReqwestClone {
    type Output = Request;

    fn prepare(&self, request: Request) -> Request {
        request
    }

    fn clone_request(&self, request: &Request) -> Option<Request> {
        request.try_clone()
    }
}
