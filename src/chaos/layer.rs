use std::fmt;

use tower_layer::Layer;

use super::{Chaos, ChaosService};

/// Wraps services in [`ChaosService`] driven by one [`Chaos`].
///
/// Every service the layer makes, and every clone of those, draws from the
/// same random sequence and follows the same switch and faults.
///
/// ```
/// use seawall::chaos::{ChaosConfig, Chaos, ChaosLayer, Fault};
/// use tower::{service_fn, Service, ServiceBuilder, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), seawall::BoxError> {
/// // The response type is inferred from the service the layer wraps.
/// let chaos = Chaos::new(ChaosConfig::builder().fault(Fault::error(0.1)).build()?);
/// let mut service = ServiceBuilder::new()
///     .layer(ChaosLayer::new(chaos.clone()))
///     .service(service_fn(|n: u32| async move { Ok::<_, std::io::Error>(n) }));
/// let mut failed = 0;
/// for n in 0..100 {
///     if service.ready().await?.call(n).await.is_err() {
///         failed += 1;
///     }
/// }
/// assert!((1..30).contains(&failed), "about 10 of 100");
/// # Ok(())
/// # }
/// ```
pub struct ChaosLayer<Res> {
    handle: Chaos<Res>,
}

impl<Res> ChaosLayer<Res> {
    /// A layer driven by `handle`.
    pub fn new(handle: Chaos<Res>) -> Self {
        Self { handle }
    }

    /// The handle the layer's services share.
    pub fn handle(&self) -> &Chaos<Res> {
        &self.handle
    }
}

impl<Res> Clone for ChaosLayer<Res> {
    fn clone(&self) -> Self {
        Self {
            handle: self.handle.clone(),
        }
    }
}

impl<Res> fmt::Debug for ChaosLayer<Res> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChaosLayer")
            .field("handle", &self.handle)
            .finish()
    }
}

impl<S, Res> Layer<S> for ChaosLayer<Res> {
    type Service = ChaosService<S, Res>;

    fn layer(&self, inner: S) -> Self::Service {
        ChaosService::new(inner, self.handle.clone())
    }
}
