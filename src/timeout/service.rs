//! The per-attempt timeout service.

use std::fmt;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::Instant;
use tower_service::Service;

use crate::error::BoxError;

use super::deadline::{far_future, IgnoreDeadline, ReadDeadline};
use super::future::ResponseFuture;

/// A tower service whose every call ends within a timeout, or at the request's
/// [`Deadline`](super::Deadline) if that comes first.
///
/// The timer is armed when the service is called, so time spent waiting for
/// readiness does not count against it.
///
/// # Errors
///
/// [`Elapsed`](super::error::Elapsed) or the inner service's error, boxed.
///
/// ```
/// use seawall::timeout::TimeoutService;
/// use std::time::Duration;
/// use tower::{Service, ServiceExt, service_fn};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), seawall::BoxError> {
/// let quick = service_fn(|x: u32| async move { Ok::<_, std::io::Error>(x + 1) });
/// let mut service = TimeoutService::new(quick, Duration::from_secs(1));
/// assert_eq!(service.ready().await?.call(41).await?, 42);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct TimeoutService<S, D = IgnoreDeadline> {
    inner: S,
    timeout: Duration,
    deadlines: D,
}

impl<S> TimeoutService<S> {
    /// Bounds every call to `inner` by `timeout`.
    pub fn new(inner: S, timeout: Duration) -> Self {
        Self::with_deadlines(inner, timeout, IgnoreDeadline)
    }
}

impl<S, D> TimeoutService<S, D> {
    /// Bounds every call by `timeout` and by the deadline `deadlines` reads
    /// from the request, whichever comes first.
    pub fn with_deadlines(inner: S, timeout: Duration, deadlines: D) -> Self {
        Self {
            inner,
            timeout,
            deadlines,
        }
    }

    /// The per-call timeout.
    pub fn timeout(&self) -> Duration {
        self.timeout
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

impl<S: fmt::Debug, D> fmt::Debug for TimeoutService<S, D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Timeout")
            .field("inner", &self.inner)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl<S, D, Request> Service<Request> for TimeoutService<S, D>
where
    S: Service<Request>,
    S::Error: Into<BoxError>,
    D: ReadDeadline<Request>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let now = Instant::now();
        let mut until = now
            .checked_add(self.timeout)
            .unwrap_or_else(|| far_future(now));
        match self.deadlines.read(&request) {
            Ok(Some(deadline)) => until = until.min(deadline.instant()),
            Ok(None) => {}
            Err(invalid) => return ResponseFuture::refused(invalid),
        }
        ResponseFuture::new(self.inner.call(request), tokio::time::sleep_until(until))
    }
}
