//! Answering errors with responses: the one service behind
//! [`axum::ErrorResponseLayer`](crate::axum::ErrorResponseLayer) (HTTP status
//! codes) and [`tonic::StatusLayer`](crate::tonic::StatusLayer) (gRPC
//! statuses).
//!
//! Servers built on hyper, axum and tonic need services that never fail: an
//! error has to be a response by the time it reaches them. [`ErrorResponseService`]
//! wraps a fallible service and answers each error, including one from the
//! inner `poll_ready`, with the response an [`ErrorToResponse`] mapping makes.

use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use http::Response;
use pin_project_lite::pin_project;
use tower_service::Service;

use crate::error::BoxError;

/// Makes the response that answers an error.
pub trait ErrorToResponse<B> {
    /// The response for `err`.
    fn response(&self, err: BoxError) -> Response<B>;
}

/// A service whose errors are answered with responses (`Error = Infallible`).
///
/// An error from the inner service's `poll_ready` is kept and answered to the
/// next call, so the service itself never fails. Made by
/// [`axum::ErrorResponseLayer`](crate::axum::ErrorResponseLayer) or
/// [`tonic::StatusLayer`](crate::tonic::StatusLayer).
pub struct ErrorResponseService<S, M> {
    inner: S,
    mapping: M,
    not_ready: Option<BoxError>,
}

impl<S, M> ErrorResponseService<S, M> {
    /// Answers `inner`'s errors with `mapping`.
    pub fn new(inner: S, mapping: M) -> Self {
        Self {
            inner,
            mapping,
            not_ready: None,
        }
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The inner service, unwrapped.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: Clone, M: Clone> Clone for ErrorResponseService<S, M> {
    fn clone(&self) -> Self {
        Self::new(self.inner.clone(), self.mapping.clone())
    }
}

impl<S: fmt::Debug, M: fmt::Debug> fmt::Debug for ErrorResponseService<S, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ErrorResponse")
            .field("inner", &self.inner)
            .field("mapping", &self.mapping)
            .finish_non_exhaustive()
    }
}

impl<S, M, Request, B> Service<Request> for ErrorResponseService<S, M>
where
    S: Service<Request, Response = Response<B>>,
    S::Error: Into<BoxError>,
    M: ErrorToResponse<B> + Clone,
{
    type Response = Response<B>;
    type Error = Infallible;
    type Future = ResponseFuture<S::Future, M>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        if self.not_ready.is_none() {
            if let Err(err) = ready!(self.inner.poll_ready(cx)) {
                self.not_ready = Some(err.into());
            }
        }
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let kind = match self.not_ready.take() {
            Some(err) => Kind::NotReady { err: Some(err) },
            None => Kind::Called {
                future: self.inner.call(request),
            },
        };
        ResponseFuture {
            kind,
            mapping: self.mapping.clone(),
        }
    }
}

pin_project! {
    /// The response future of [`ErrorResponseService`].
    pub struct ResponseFuture<F, M> {
        #[pin]
        kind: Kind<F>,
        mapping: M,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<F> {
        NotReady { err: Option<BoxError> },
        Called { #[pin] future: F },
    }
}

impl<F, M> fmt::Debug for ResponseFuture<F, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

impl<F, M, B, E> Future for ResponseFuture<F, M>
where
    F: Future<Output = Result<Response<B>, E>>,
    E: Into<BoxError>,
    M: ErrorToResponse<B>,
{
    type Output = Result<Response<B>, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = match this.kind.project() {
            KindProj::NotReady { err } => Err(err.take().expect("polled after completion")),
            KindProj::Called { future } => ready!(future.poll(cx)).map_err(Into::into),
        };
        Poll::Ready(Ok(result.unwrap_or_else(|err| this.mapping.response(err))))
    }
}
