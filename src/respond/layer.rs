use tower_layer::Layer;

use super::ErrorResponseService;

/// Wraps services in an [`ErrorResponseService`], whose errors are answered
/// with the responses `M` makes.
///
/// Usually named through an integration, with its mapping filled in:
/// [`axum::ErrorResponseLayer`](crate::axum::ErrorResponseLayer) for HTTP
/// status codes, [`tonic::ErrorResponseLayer`](crate::tonic::ErrorResponseLayer)
/// for gRPC statuses; each has a `new()`. A mapping of your own goes to
/// [`with_mapping`](Self::with_mapping) (see the [module docs](super)).
///
/// ```
/// use seawall::axum::ErrorResponseLayer;
/// use seawall::breaker::{Breaker, BreakerConfig, BreakerLayer};
/// use tower::ServiceBuilder;
///
/// let layers = ServiceBuilder::new()
///     .layer(ErrorResponseLayer::new())
///     .layer(BreakerLayer::new(Breaker::new(BreakerConfig::default())));
/// # drop(layers);
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct ErrorResponseLayer<M> {
    pub(crate) mapping: M,
}

impl<M> ErrorResponseLayer<M> {
    /// Answers errors with the responses `mapping` makes.
    pub fn with_mapping(mapping: M) -> Self {
        Self { mapping }
    }

    /// The mapping.
    pub fn mapping(&self) -> &M {
        &self.mapping
    }
}

impl<S, M: Clone> Layer<S> for ErrorResponseLayer<M> {
    type Service = ErrorResponseService<S, M>;

    fn layer(&self, inner: S) -> Self::Service {
        ErrorResponseService::new(inner, self.mapping.clone())
    }
}
