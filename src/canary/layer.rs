use tower_layer::Layer;

use crate::classify::FailOnError;

use super::{Canary, CanaryService, NoKey};

/// Wraps a stable service in a [`CanaryService`] beside a clone of `candidate`.
///
/// The wrapped service is the stable one: the layer slots a rollout into an
/// existing stack without changing what it wraps. Every service the layer
/// makes shares the same [`Canary`].
///
/// ```
/// use seawall::canary::{CanaryConfig, Canary, CanaryLayer};
/// use tower::{service_fn, ServiceBuilder};
///
/// let rollout = Canary::new(CanaryConfig::default());
/// let candidate = service_fn(|q: String| async move { Ok::<_, std::io::Error>(q.len() as u64) });
/// let service = ServiceBuilder::new()
///     .layer(CanaryLayer::new(candidate, rollout.clone()).sticky_by(|q: &String| Some(q.clone())))
///     .service(service_fn(|q: String| async move { Ok::<_, std::io::Error>(q.len() as u64) }));
/// # drop(service);
/// ```
#[derive(Clone, Debug)]
pub struct CanaryLayer<C, K = NoKey, Cl = FailOnError> {
    candidate: C,
    handle: Canary,
    key: K,
    classifier: Cl,
}

impl<C> CanaryLayer<C> {
    /// A layer routing between the wrapped service and `candidate` as
    /// `handle` decides.
    pub fn new(candidate: C, handle: Canary) -> Self {
        Self {
            candidate,
            handle,
            key: NoKey,
            classifier: FailOnError,
        }
    }
}

impl<C, K, Cl> CanaryLayer<C, K, Cl> {
    /// Routes by a key of each request; see [`CanaryService::sticky_by`].
    pub fn sticky_by<K2>(self, key: K2) -> CanaryLayer<C, K2, Cl> {
        CanaryLayer {
            candidate: self.candidate,
            handle: self.handle,
            key,
            classifier: self.classifier,
        }
    }

    /// Classifies results with `classifier`; see [`CanaryService::with_classifier`].
    pub fn with_classifier<Cl2>(self, classifier: Cl2) -> CanaryLayer<C, K, Cl2> {
        CanaryLayer {
            candidate: self.candidate,
            handle: self.handle,
            key: self.key,
            classifier,
        }
    }

    /// The rollout the layer's services share.
    pub fn handle(&self) -> &Canary {
        &self.handle
    }
}

impl<S, C: Clone, K: Clone, Cl: Clone> Layer<S> for CanaryLayer<C, K, Cl> {
    type Service = CanaryService<S, C, K, Cl>;

    fn layer(&self, stable: S) -> Self::Service {
        CanaryService::new(stable, self.candidate.clone(), self.handle.clone())
            .sticky_by(self.key.clone())
            .with_classifier(self.classifier.clone())
    }
}
