//! The response future of [`ErrorResponseService`](super::ErrorResponseService).

use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use http::Response;
use pin_project_lite::pin_project;

use crate::error::BoxError;

use super::ErrorToResponse;

pin_project! {
    /// The response future of [`ErrorResponseService`](super::ErrorResponseService):
    /// the inner response, or the response its mapping makes of the error.
    ///
    /// ```
    /// use seawall::axum::ErrorResponseLayer;
    /// use seawall::timeout::error::Elapsed;
    /// use tower::{service_fn, Layer, Service, ServiceExt};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let late = service_fn(|_: ()| async { Err::<http::Response<String>, _>(Elapsed::new()) });
    /// let mut service = ErrorResponseLayer::new().layer(late);
    /// let answer = service.ready().await.unwrap().call(()); // a respond::future::ResponseFuture
    /// assert_eq!(answer.await.unwrap().status(), http::StatusCode::GATEWAY_TIMEOUT);
    /// # }
    /// ```
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

impl<F, M> ResponseFuture<F, M> {
    /// Answers `err`, kept from the inner service's `poll_ready`.
    pub(crate) fn not_ready(err: BoxError, mapping: M) -> Self {
        Self {
            kind: Kind::NotReady { err: Some(err) },
            mapping,
        }
    }

    /// Waits for the inner call's `future`.
    pub(crate) fn called(future: F, mapping: M) -> Self {
        Self {
            kind: Kind::Called { future },
            mapping,
        }
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
