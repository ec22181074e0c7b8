//! The retry layer.

use tower_layer::Layer;

use crate::sync::Arc;

use super::clone::Cloned;
use super::config::RetryConfig;
use super::policy::RetryOnError;
use super::service::RetryService;
use super::shared::RetryShared;

/// Wraps services in a [`RetryService`]; every service it makes shares one budget
/// and one set of metrics.
///
/// ```
/// use seawall::retry::{RetryConfig, RetryLayer};
/// use tower::{ServiceBuilder, service_fn};
///
/// let layer = RetryLayer::new(RetryConfig::builder().name("search").max_attempts(2).build()?)
///     .with_policy(|result: &Result<u32, std::io::Error>| result.is_err());
/// let service = ServiceBuilder::new()
///     .layer(layer)
///     .service(service_fn(|x: u32| async move { Ok::<_, std::io::Error>(x) }));
/// # drop(service);
/// # Ok::<(), seawall::ConfigError>(())
/// ```
#[derive(Clone, Debug)]
pub struct RetryLayer<P = RetryOnError, C = Cloned> {
    shared: Arc<RetryShared>,
    policy: P,
    clone: C,
}

impl RetryLayer {
    /// A layer with `config`, retrying every error of a `Clone` request.
    pub fn new(config: RetryConfig) -> Self {
        Self {
            shared: Arc::new(RetryShared::new(config)),
            policy: RetryOnError,
            clone: Cloned,
        }
    }
}

impl<P, C> RetryLayer<P, C> {
    /// Decides what to retry with `policy` (a [`RetryPolicy`](super::RetryPolicy)).
    pub fn with_policy<P2>(self, policy: P2) -> RetryLayer<P2, C> {
        RetryLayer {
            shared: self.shared,
            policy,
            clone: self.clone,
        }
    }

    /// Copies requests with `clone` (a [`CloneRequest`](super::CloneRequest)).
    pub fn with_clone<C2>(self, clone: C2) -> RetryLayer<P, C2> {
        RetryLayer {
            shared: self.shared,
            policy: self.policy,
            clone,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &RetryConfig {
        &self.shared.config
    }
}

impl<S, P: Clone, C: Clone> Layer<S> for RetryLayer<P, C> {
    type Service = RetryService<S, P, C>;

    fn layer(&self, inner: S) -> Self::Service {
        RetryService::with_shared(
            inner,
            self.shared.clone(),
            self.policy.clone(),
            self.clone.clone(),
        )
    }
}
