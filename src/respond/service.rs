use std::convert::Infallible;
use std::fmt;
use std::task::{ready, Context, Poll};

use http::Response;
use tower_service::Service;

use crate::error::BoxError;

use super::future::ResponseFuture;
use super::ErrorToResponse;

/// A service whose errors are answered with responses (`Error = Infallible`).
/// Made by [`ErrorResponseLayer`](super::ErrorResponseLayer).
///
/// An error from the inner service's `poll_ready` is kept and answered to the
/// next call, so the service itself never fails.
///
/// # Clone
///
/// A clone starts without a kept readiness error.
///
/// ```
/// use seawall::axum::HttpMapping;
/// use seawall::bulkhead::error::BulkheadFull;
/// use seawall::respond::ErrorResponseService;
/// use tower::{service_fn, Service, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let full = service_fn(|_: ()| async {
///     Err::<http::Response<String>, _>(BulkheadFull::new())
/// });
/// let mut service = ErrorResponseService::new(full, HttpMapping::default());
/// let response = service.ready().await.unwrap().call(()).await.unwrap();
/// assert_eq!(response.status(), http::StatusCode::SERVICE_UNAVAILABLE);
/// # }
/// ```
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
        f.debug_struct("ErrorResponseService")
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
        match self.not_ready.take() {
            Some(err) => ResponseFuture::not_ready(err, self.mapping.clone()),
            None => ResponseFuture::called(self.inner.call(request), self.mapping.clone()),
        }
    }
}
