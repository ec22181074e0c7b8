//! The health reporter's response futures.

use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body_util::Full;
use pin_project_lite::pin_project;

use super::InFlightGuard;

pin_project! {
    /// The response future of [`InFlightService`](super::InFlightService).
    ///
    /// # Cancel safety
    ///
    /// The request counts as in flight until this future completes or is
    /// dropped.
    ///
    /// ```
    /// use seawall::health::future::InFlightFuture;
    /// use seawall::health::{HealthRegistry, InFlightService};
    /// use tower::{service_fn, Service};
    ///
    /// let health = HealthRegistry::new();
    /// let echo = service_fn(|n: u32| async move { Ok::<_, std::convert::Infallible>(n) });
    /// let mut counted = InFlightService::new(echo, health.clone());
    /// let call: InFlightFuture<_> = counted.call(7);
    /// assert_eq!(health.in_flight(), 1);
    /// drop(call);
    /// assert_eq!(health.in_flight(), 0, "a dropped call is counted out");
    /// ```
    #[derive(Debug)]
    pub struct InFlightFuture<F> {
        #[pin]
        inner: F,
        guard: Option<InFlightGuard>,
    }
}

impl<F> InFlightFuture<F> {
    pub(crate) fn new(inner: F, guard: InFlightGuard) -> Self {
        Self {
            inner,
            guard: Some(guard),
        }
    }
}

impl<F: Future> Future for InFlightFuture<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let output = std::task::ready!(this.inner.poll(cx));
        // Counted out as soon as the answer exists, not when the future is dropped.
        this.guard.take();
        Poll::Ready(output)
    }
}

type BoxResponse =
    Pin<Box<dyn Future<Output = Result<http::Response<Full<Bytes>>, Infallible>> + Send>>;

/// The response future of [`HealthService`](super::HealthService).
///
/// ```
/// use seawall::health::future::ResponseFuture;
/// use seawall::health::{HealthRegistry, HealthService};
/// use tower::Service;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let mut service = HealthService::new(HealthRegistry::new());
/// let livez: ResponseFuture = service.call(http::Request::get("/livez").body(()).unwrap());
/// assert_eq!(livez.await.unwrap().status(), http::StatusCode::OK);
/// # }
/// ```
pub struct ResponseFuture {
    inner: BoxResponse,
}

impl ResponseFuture {
    pub(crate) fn new(inner: BoxResponse) -> Self {
        Self { inner }
    }
}

impl Future for ResponseFuture {
    type Output = Result<http::Response<Full<Bytes>>, Infallible>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.inner.as_mut().poll(cx)
    }
}

impl fmt::Debug for ResponseFuture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}
