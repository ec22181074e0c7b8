use tower_layer::Layer;

use crate::classify::FailOnError;

use super::{Breaker, BreakerService};

/// Wraps services in a [`BreakerService`] that shares one [`Breaker`].
///
/// Every service the layer makes, and every clone of those, shares the same
/// breaker: the failure rate is the dependency's, whoever calls it.
///
/// ```
/// use seawall::breaker::{Breaker, BreakerConfig, BreakerLayer};
/// use tower::{ServiceBuilder, service_fn};
///
/// let breaker = Breaker::new(BreakerConfig::default());
/// let service = ServiceBuilder::new()
///     .layer(BreakerLayer::new(breaker.clone()))
///     .service(service_fn(|name: String| async move {
///         Ok::<_, std::io::Error>(format!("hello, {name}"))
///     }));
/// # drop(service);
/// ```
#[derive(Clone, Debug)]
pub struct BreakerLayer<C = FailOnError> {
    breaker: Breaker,
    classifier: C,
    not_ready_while_open: bool,
}

impl BreakerLayer {
    /// A layer over `breaker` with the default classifier ([`FailOnError`]).
    ///
    /// ```
    /// use seawall::breaker::{Breaker, BreakerConfig, BreakerLayer};
    ///
    /// let layer = BreakerLayer::new(Breaker::new(BreakerConfig::default()));
    /// # drop(layer);
    /// ```
    pub fn new(breaker: Breaker) -> Self {
        Self {
            breaker,
            classifier: FailOnError,
            not_ready_while_open: false,
        }
    }
}

impl<C> BreakerLayer<C> {
    /// Classifies results with `classifier` instead.
    ///
    /// ```
    /// use seawall::breaker::{Breaker, BreakerConfig, BreakerLayer};
    /// use seawall::classify::Outcome;
    ///
    /// // Timeouts are the dependency's fault; every other error is the caller's.
    /// let timeouts = |result: &Result<String, std::io::Error>| match result {
    ///     Err(err) if err.kind() == std::io::ErrorKind::TimedOut => Outcome::Failure,
    ///     Err(_) => Outcome::Ignored,
    ///     Ok(_) => Outcome::Success,
    /// };
    /// let breaker = Breaker::new(BreakerConfig::default());
    /// let layer = BreakerLayer::new(breaker).with_classifier(timeouts);
    /// # drop(layer);
    /// ```
    pub fn with_classifier<C2>(self, classifier: C2) -> BreakerLayer<C2> {
        BreakerLayer {
            breaker: self.breaker,
            classifier,
            not_ready_while_open: self.not_ready_while_open,
        }
    }

    /// Makes services that report *not ready* while the breaker refuses
    /// calls: for endpoints behind a load balancer. See
    /// [`BreakerService::not_ready_while_open`].
    ///
    /// ```
    /// use seawall::breaker::{Breaker, BreakerConfig, BreakerLayer};
    ///
    /// let layer = BreakerLayer::new(Breaker::new(BreakerConfig::default())).not_ready_while_open();
    /// # drop(layer);
    /// ```
    pub fn not_ready_while_open(mut self) -> Self {
        self.not_ready_while_open = true;
        self
    }

    /// The breaker the layer's services share.
    ///
    /// ```
    /// use seawall::breaker::{Breaker, BreakerConfig, BreakerLayer};
    ///
    /// let layer = BreakerLayer::new(Breaker::new(BreakerConfig::default()));
    /// assert_eq!(layer.breaker().name(), "default");
    /// ```
    pub fn breaker(&self) -> &Breaker {
        &self.breaker
    }
}

impl<S, C: Clone> Layer<S> for BreakerLayer<C> {
    type Service = BreakerService<S, C>;

    fn layer(&self, inner: S) -> Self::Service {
        let service =
            BreakerService::with_classifier(inner, self.breaker.clone(), self.classifier.clone());
        if self.not_ready_while_open {
            service.not_ready_while_open()
        } else {
            service
        }
    }
}
