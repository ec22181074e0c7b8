use tower_layer::Layer;

use super::{HealthRegistry, InFlightService};

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
