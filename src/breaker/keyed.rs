//! A breaker per key: one per target host, tenant or shard.
//!
//! A client that calls many hosts through one breaker lets one dead host trip
//! the breaker for all of them. A [`KeyedBreaker`] keeps a [`Breaker`] per key,
//! all built from one config, at most `capacity` of them: when a new key would
//! exceed it, a least recently used *closed* breaker is dropped (an evicted key
//! starts over, closed, when it is next seen). A breaker that still protects
//! its dependency (open and waiting, half-open, forced open) is never dropped.
//!
//! Looking up a key takes a short lock on one shard of the map; the breaker it
//! returns is lock-free as usual. A new key's breaker is built outside that
//! lock.
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
    CallThrough, KeyLabels, KeyName, KeyedComponent, KeyedComponents, KeyedHandle, KeyedLayer,
    KeyedService,
};

use super::future::ResponseFuture;
use super::{Breaker, BreakerConfig, State};

impl KeyedComponent for Breaker {
    type Config = BreakerConfig;

    fn config_name(config: &BreakerConfig) -> &str {
        config.name()
    }

    fn build(config: &BreakerConfig, name: KeyName) -> Self {
        let mut config = config.clone();
        if let Some(name) = name.name {
            config.name = name.into();
        }
        config.metric_scope = name.scope;
        Breaker::new(config)
    }

    fn is_evictable(&self) -> bool {
        let word = self.core().load();
        match word.state() {
            // Still waiting: dropped, the key would start over closed and let
            // calls through to the dependency that tripped it. Once the wait
            // is over the next call would probe anyway; until someone calls,
            // nothing is lost by dropping it.
            State::Open => word
                .deadline_nanos()
                .is_some_and(|deadline| self.core().now() >= deadline),
            // Probing, or held open by hand: what it knows is not to be lost.
            State::HalfOpen | State::ForcedOpen => false,
            State::Closed | State::Disabled | State::MetricsOnly => true,
        }
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
/// At most `capacity` breakers are kept. A new key beyond that drops a least
/// recently used breaker that protects nothing now (closed, disabled, metrics
/// only, or open with its wait over). The map is sharded by the key's hash,
/// each shard keeping its share of `capacity`; a new key looks at the 16
/// least recently used breakers of its shard for one to drop, and the
/// protected ones it passes over count as used then, so the next new key
/// looks further back.
///
/// # When nothing may be dropped
///
/// An open, half-open or forced-open breaker is never dropped: the dependency
/// it stands for stays protected however many other keys pass. When a new
/// key finds only protected breakers, it is not kept: [`get`](Self::get) gives
/// it the handle's one [`overflow`](Self::overflow) breaker, shared by every
/// key in that situation (named `"{name}/overflow"`), until its shard has room
/// again. A key therefore never gets a fresh, closed breaker in place of one
/// that is open, and memory stays bounded whatever the keys.
///
/// # Metrics
///
/// By default every key's breaker is named after the config (its `name()`,
/// its events and its metrics' `name` label), so callers choosing keys cannot
/// create series: counters add up over all keys, and the gauges (state and
/// rates), which would overwrite each other, are not published.
/// [`with_key_labels`](Self::with_key_labels) names each key's breaker
/// `"{name}/{key}"` instead, for at most 1,000 distinct keys; later keys are
/// named `"{name}/other"` and share its counters.
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
    /// Breakers built from `config`, at most `capacity` (at least 1) at a time,
    /// all named after the config (see [Metrics](Self#metrics)).
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] for a capacity of 0.
    pub fn new(config: BreakerConfig, capacity: usize) -> Result<Self, ConfigError> {
        Ok(Self {
            breakers: KeyedComponents::new(config, capacity, KeyLabels::Shared)?,
        })
    }

    /// Breakers built from `config`, at most `capacity` (at least 1) at a time,
    /// each named `"{config name}/{key}"` for the first 1,000 distinct keys,
    /// then `"{config name}/other"`: a metric label per key, bounded.
    ///
    /// ```
    /// use seawall::breaker::{BreakerConfig, KeyedBreaker};
    ///
    /// let config = BreakerConfig::builder().name("hosts").build()?;
    /// let breakers: KeyedBreaker<String> = KeyedBreaker::with_key_labels(config, 1024)?;
    /// assert_eq!(breakers.get(&"api.example.com".into()).name(), "hosts/api.example.com");
    /// for host in 0..1_000 {
    ///     breakers.get(&format!("{host}.example.com"));
    /// }
    /// assert_eq!(breakers.get(&"one-too-many.example.com".into()).name(), "hosts/other");
    /// # Ok::<(), seawall::ConfigError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] for a capacity of 0.
    pub fn with_key_labels(config: BreakerConfig, capacity: usize) -> Result<Self, ConfigError> {
        Ok(Self {
            breakers: KeyedComponents::new(config, capacity, KeyLabels::per_key())?,
        })
    }

    /// The breaker for `key`, made if it is new (dropping another when full,
    /// as described on [`KeyedBreaker`]); the [`overflow`](Self::overflow)
    /// breaker if the key is new and nothing may be dropped for it.
    pub fn get(&self, key: &K) -> Breaker {
        self.breakers.get(key)
    }

    /// The breaker for `key` if one is kept, without making one.
    pub fn peek(&self, key: &K) -> Option<Breaker> {
        self.breakers.peek(key)
    }

    /// The breaker every new key shares while its shard holds only breakers
    /// that may not be dropped.
    ///
    /// ```
    /// use seawall::breaker::{BreakerConfig, KeyedBreaker};
    ///
    /// let breakers = KeyedBreaker::new(BreakerConfig::default(), 1)?;
    /// breakers.get(&"dead.example.com").force_open();
    /// let overflowing = breakers.get(&"new.example.com");
    /// assert_eq!(overflowing.name(), breakers.overflow().name());
    /// assert!(breakers.peek(&"new.example.com").is_none(), "not kept");
    /// # Ok::<(), seawall::ConfigError>(())
    /// ```
    pub fn overflow(&self) -> &Breaker {
        self.breakers.overflow()
    }

    /// How many breakers are kept.
    pub fn len(&self) -> usize {
        self.breakers.len()
    }

    /// Whether no breaker is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many breakers may be kept.
    pub fn capacity(&self) -> usize {
        self.breakers.capacity()
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
