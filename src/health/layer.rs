//! Counting requests in flight, for the drain.

use std::task::{Context, Poll};

use tower_layer::Layer;
use tower_service::Service;

use super::future::InFlightFuture;
use super::HealthRegistry;

/// Counts the requests in flight through its services in a
/// [`HealthRegistry`], so [`HealthRegistry::drain`] can wait for them.
///
/// Put it around the application's routes, not around the health endpoints
/// (a probe waiting for its own drain would never see zero).
///
/// ```
/// use seawall::health::{HealthRegistry, InFlightLayer};
/// use tower::{Service, ServiceBuilder, ServiceExt, service_fn};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), std::convert::Infallible> {
/// let health = HealthRegistry::new();
/// let mut app = ServiceBuilder::new()
///     .layer(InFlightLayer::new(health.clone()))
///     .service(service_fn(|n: u32| async move { Ok::<_, std::convert::Infallible>(n + 1) }));
///
/// let call = app.ready().await?.call(1);
/// assert_eq!(health.in_flight(), 1);
/// assert_eq!(call.await?, 2);
/// assert_eq!(health.in_flight(), 0);
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct InFlightLayer {
    registry: HealthRegistry,
}

impl InFlightLayer {
    /// A layer counting into `registry`.
    pub fn new(registry: HealthRegistry) -> Self {
        Self { registry }
    }
}

impl<S> Layer<S> for InFlightLayer {
    type Service = InFlightService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        InFlightService::new(inner, self.registry.clone())
    }
}

/// A service whose calls count as in flight until their response future
/// completes or is dropped. Adds no failure: keeps the inner error type.
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
