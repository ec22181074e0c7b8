//! A breaker per key: one per target host, tenant or shard.
//!
//! A client that calls many hosts through one breaker lets one dead host trip
//! the breaker for all of them. A [`KeyedBreaker`] keeps a [`Breaker`] per key,
//! all built from one config, at most `capacity` of them: when a new key would
//! exceed it, the least recently used breaker is dropped (an evicted key starts
//! over, closed, when it is next seen).
//!
//! Looking up a key takes a short lock on the map; the breaker it returns is
//! lock-free as usual. A new key's breaker is built outside that lock.
//!
//! These types are thin wrappers over the keyed machinery every keyed layer
//! shares (`crate::keyed`); this file only says how a breaker is built for a
//! key and how it takes a call.

use std::fmt;
use std::hash::Hash;
use std::task::{Context, Poll};

use tower_layer::Layer;
use tower_service::Service;

use crate::classify::{Classify, FailOnError};
use crate::error::{BoxError, ConfigError};
use crate::keyed::{
    CallThrough, KeyedComponent, KeyedComponents, KeyedHandle, KeyedLayer, KeyedService,
};

use super::future::ResponseFuture;
use super::{Breaker, BreakerConfig};

impl KeyedComponent for Breaker {
    type Config = BreakerConfig;

    fn config_name(config: &BreakerConfig) -> &str {
        config.name()
    }

    fn build(config: &BreakerConfig, name: String) -> Self {
        let mut config = config.clone();
        config.name = name.into();
        Breaker::new(config)
    }

    fn is_evictable(&self) -> bool {
        // Any breaker may go, least recently used first, whatever its state.
        true
    }
}

impl<S, Request, C> CallThrough<S, Request, C> for Breaker
where
    S: Service<Request>,
    S::Error: Into<BoxError>,
    C: Classify<S::Response, S::Error> + Clone,
{
    type Future = ResponseFuture<S::Future, C>;

    #[inline]
    fn call_through(&self, inner: &mut S, request: Request, classifier: &C) -> Self::Future {
        match self.try_acquire() {
            Ok(permit) => ResponseFuture::called(inner.call(request), permit, classifier.clone()),
            Err(open) => ResponseFuture::rejected(open),
        }
    }
}

/// A bounded set of breakers, one per key.
///
/// ```
/// use seawall::breaker::{BreakerConfig, KeyedBreaker};
///
/// let breakers = KeyedBreaker::new(BreakerConfig::default(), 1024)?;
/// let a = breakers.get(&"api.example.com".to_string());
/// let b = breakers.get(&"cdn.example.com".to_string());
/// a.force_open();
/// assert!(b.try_acquire().is_ok(), "one host's breaker does not affect another's");
/// assert_eq!(breakers.len(), 2);
/// # Ok::<(), seawall::ConfigError>(())
/// ```
pub struct KeyedBreaker<K> {
    breakers: KeyedComponents<K, Breaker>,
}

impl<K> Clone for KeyedBreaker<K> {
    fn clone(&self) -> Self {
        Self {
            breakers: self.breakers.clone(),
        }
    }
}

impl<K> fmt::Debug for KeyedBreaker<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.breakers.fmt_as("KeyedBreaker", f)
    }
}

impl<K: Hash + Eq + Clone + fmt::Display> KeyedBreaker<K> {
    /// Breakers built from `config`, at most `capacity` (at least 1) at a time.
    /// Each is named `"{config name}/{key}"`.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] for a capacity of 0.
    pub fn new(config: BreakerConfig, capacity: usize) -> Result<Self, ConfigError> {
        Ok(Self {
            breakers: KeyedComponents::new(config, capacity)?,
        })
    }

    /// The breaker for `key`, made if it is new (evicting the least recently
    /// used one when full).
    pub fn get(&self, key: &K) -> Breaker {
        self.breakers.get(key)
    }

    /// The breaker for `key` if one is kept, without making one.
    pub fn peek(&self, key: &K) -> Option<Breaker> {
        self.breakers.peek(key)
    }

    /// How many breakers are kept.
    pub fn len(&self) -> usize {
        self.breakers.len()
    }

    /// Whether no breaker is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<K: Hash + Eq + Clone + fmt::Display> KeyedHandle for KeyedBreaker<K> {
    type Key = K;
    type Component = Breaker;

    #[inline]
    fn component_for(&self, key: &K) -> Breaker {
        self.get(key)
    }
}

/// Wraps services in a [`KeyedBreakerService`].
///
/// ```
/// use seawall::breaker::{BreakerConfig, KeyedBreaker, KeyedBreakerLayer};
/// use tower::{ServiceBuilder, service_fn};
///
/// let breakers: KeyedBreaker<String> = KeyedBreaker::new(BreakerConfig::default(), 256)?;
/// let service = ServiceBuilder::new()
///     .layer(KeyedBreakerLayer::new(breakers, |host: &String| host.clone()))
///     .service(service_fn(|host: String| async move { Ok::<_, std::io::Error>(host) }));
/// # drop(service);
/// # Ok::<(), seawall::ConfigError>(())
/// ```
pub struct KeyedBreakerLayer<K, F, C = FailOnError> {
    layer: KeyedLayer<KeyedBreaker<K>, F, C>,
}

impl<K, F> KeyedBreakerLayer<K, F> {
    /// A layer that picks each request's breaker by `key(&request)`.
    pub fn new(breakers: KeyedBreaker<K>, key: F) -> Self {
        Self {
            layer: KeyedLayer::new(breakers, key, FailOnError),
        }
    }
}

impl<K, F, C> KeyedBreakerLayer<K, F, C> {
    /// Classifies results with `classifier` instead.
    pub fn with_classifier<C2>(self, classifier: C2) -> KeyedBreakerLayer<K, F, C2> {
        KeyedBreakerLayer {
            layer: self.layer.with_policy(classifier),
        }
    }
}

impl<K, F: Clone, C: Clone> Clone for KeyedBreakerLayer<K, F, C> {
    fn clone(&self) -> Self {
        Self {
            layer: self.layer.clone(),
        }
    }
}

impl<K, F, C> fmt::Debug for KeyedBreakerLayer<K, F, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.layer.fmt_as("KeyedBreakerLayer", "breakers", f)
    }
}

impl<S, K, F: Clone, C: Clone> Layer<S> for KeyedBreakerLayer<K, F, C> {
    type Service = KeyedBreakerService<S, K, F, C>;

    fn layer(&self, inner: S) -> Self::Service {
        KeyedBreakerService {
            service: self.layer.layer(inner),
        }
    }
}

/// A tower service with a breaker per key of the request.
///
/// The key is only known in `call`, so `poll_ready` waits for the inner
/// service and `call` asks the key's breaker; a refused call never reaches the
/// inner service.
///
/// # Errors
///
/// [`BreakerOpen`](super::error::BreakerOpen) or the inner service's error,
/// boxed.
///
/// ```
/// use seawall::breaker::{BreakerConfig, KeyedBreaker, KeyedBreakerLayer};
/// use tower::{service_fn, Layer, Service, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), seawall::BoxError> {
/// let breakers: KeyedBreaker<String> = KeyedBreaker::new(BreakerConfig::default(), 256)?;
/// let mut service = KeyedBreakerLayer::new(breakers.clone(), |host: &String| host.clone())
///     .layer(service_fn(|host: String| async move { Ok::<_, std::io::Error>(host.len()) }));
/// assert_eq!(service.ready().await?.call("example.com".into()).await?, 11);
/// assert!(service.breakers().peek(&"example.com".into()).is_some());
/// # Ok(())
/// # }
/// ```
pub struct KeyedBreakerService<S, K, F, C = FailOnError> {
    service: KeyedService<S, KeyedBreaker<K>, F, C>,
}

impl<S, K, F, C> KeyedBreakerService<S, K, F, C> {
    /// The breakers, one per key.
    pub fn breakers(&self) -> &KeyedBreaker<K> {
        self.service.handle()
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        self.service.get_ref()
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        self.service.get_mut()
    }

    /// The inner service, unwrapped.
    pub fn into_inner(self) -> S {
        self.service.into_inner()
    }
}

impl<S: Clone, K, F: Clone, C: Clone> Clone for KeyedBreakerService<S, K, F, C> {
    fn clone(&self) -> Self {
        Self {
            service: self.service.clone(),
        }
    }
}

impl<S: fmt::Debug, K, F, C> fmt::Debug for KeyedBreakerService<S, K, F, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.service.fmt_as("KeyedBreakerService", "breakers", f)
    }
}

impl<S, K, F, C, Request> Service<Request> for KeyedBreakerService<S, K, F, C>
where
    S: Service<Request>,
    S::Error: Into<BoxError>,
    K: Hash + Eq + Clone + fmt::Display,
    F: Fn(&Request) -> K,
    C: Classify<S::Response, S::Error> + Clone,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S::Future, C>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.service.poll_ready(cx)
    }

    #[inline]
    fn call(&mut self, request: Request) -> Self::Future {
        self.service.call(request)
    }
}
