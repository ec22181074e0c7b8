use std::task::{Context, Poll};

use tower_service::Service;

use super::future::InFlightFuture;
use super::HealthRegistry;

/// A service whose calls count as in flight until their response future
/// completes or is dropped. Made by [`InFlightLayer`](super::InFlightLayer).
/// Adds no failure: keeps the inner error type.
///
/// ```
/// use seawall::health::{HealthRegistry, InFlightService};
/// use tower::{service_fn, Service, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), std::convert::Infallible> {
/// let health = HealthRegistry::new();
/// let echo = service_fn(|n: u32| async move { Ok::<_, std::convert::Infallible>(n) });
/// let mut counted = InFlightService::new(echo, health.clone());
/// let call = counted.ready().await?.call(7);
/// assert_eq!(health.in_flight(), 1);
/// assert_eq!(call.await?, 7);
/// assert_eq!(health.in_flight(), 0);
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct InFlightService<S> {
    inner: S,
    registry: HealthRegistry,
}

impl<S> InFlightService<S> {
    /// Counts `inner`'s calls into `registry`.
    pub fn new(inner: S, registry: HealthRegistry) -> Self {
        Self { inner, registry }
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

impl<S, Request> Service<Request> for InFlightService<S>
where
    S: Service<Request>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = InFlightFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let guard = self.registry.enter();
        InFlightFuture::new(self.inner.call(request), guard)
    }
}
