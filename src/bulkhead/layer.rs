use tower_layer::Layer;

use super::{Bulkhead, BulkheadService};

/// Wraps services in a [`BulkheadService`] that shares one [`Bulkhead`].
///
/// Every service the layer makes, and every clone of those, takes slots from
/// the same bulkhead: the cap is on calls to the dependency, whoever makes
/// them.
///
/// ```
/// use seawall::bulkhead::{Bulkhead, BulkheadConfig, BulkheadLayer};
/// use tower::{service_fn, ServiceBuilder};
///
/// let bulkhead = Bulkhead::new(BulkheadConfig::builder().name("search").max_concurrent_calls(32).build()?);
/// let service = ServiceBuilder::new()
///     .layer(BulkheadLayer::new(bulkhead.clone()))
///     .service(service_fn(|q: String| async move { Ok::<_, std::io::Error>(q.len()) }));
/// # drop(service);
/// # Ok::<(), seawall::ConfigError>(())
/// ```
#[derive(Clone, Debug)]
pub struct BulkheadLayer {
    bulkhead: Bulkhead,
}

impl BulkheadLayer {
    /// A layer over `bulkhead`.
    pub fn new(bulkhead: Bulkhead) -> Self {
        Self { bulkhead }
    }

    /// The bulkhead the layer's services share.
    pub fn bulkhead(&self) -> &Bulkhead {
        &self.bulkhead
    }
}

impl<S> Layer<S> for BulkheadLayer {
    type Service = BulkheadService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        BulkheadService::new(inner, self.bulkhead.clone())
    }
}
