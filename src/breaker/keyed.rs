//! A breaker per key: one per target host, tenant or shard.
//!
//! A client that calls many hosts through one breaker lets one dead host trip
//! the breaker for all of them. A [`KeyedBreaker`] keeps a [`Breaker`] per key,
//! all built from one config, at most `capacity` of them: when a new key would
//! exceed it, the least recently used breaker is dropped (an evicted key starts
//! over, closed, when it is next seen).
//!
//! Looking up a key takes a short lock on the map; the breaker it returns is
//! lock-free as usual.

use std::fmt;
use std::hash::Hash;
use std::task::{Context, Poll};

use tower_layer::Layer;
use tower_service::Service;

use crate::classify::{Classify, FailOnError};
use crate::error::{BoxError, ConfigError};
use crate::keyed::{name_for_key, LruMap};
use crate::sync::Arc;

use super::future::ResponseFuture;
use super::{Breaker, BreakerConfig};

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
    shared: Arc<Keyed<K>>,
}

struct Keyed<K> {
    config: BreakerConfig,
    breakers: LruMap<K, Breaker>,
}

impl<K> Clone for KeyedBreaker<K> {
    fn clone(&self) -> Self {
        Self {
            shared: self.shared.clone(),
        }
    }
}

impl<K> fmt::Debug for KeyedBreaker<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedBreaker")
            .field("name", &self.shared.config.name())
            .field("capacity", &self.shared.breakers.capacity())
            .finish_non_exhaustive()
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
            shared: Arc::new(Keyed {
                config,
                breakers: LruMap::new(capacity)?,
            }),
        })
    }

    /// The breaker for `key`, made if it is new (evicting the least recently
    /// used one when full).
    pub fn get(&self, key: &K) -> Breaker {
        let shared = &self.shared;
        shared.breakers.get_or_insert_with(
            key,
            || {
                let mut config = shared.config.clone();
                config.name = name_for_key(shared.config.name(), key).into();
                Breaker::new(config)
            },
            |_| true,
        )
    }

    /// The breaker for `key` if one is kept, without making one.
    pub fn peek(&self, key: &K) -> Option<Breaker> {
        self.shared.breakers.peek(key)
    }

    /// How many breakers are kept.
    pub fn len(&self) -> usize {
        self.shared.breakers.len()
    }

    /// Whether no breaker is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
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
#[derive(Clone, Debug)]
pub struct KeyedBreakerLayer<K, F, C = FailOnError> {
    breakers: KeyedBreaker<K>,
    key: F,
    classifier: C,
}

impl<K, F> KeyedBreakerLayer<K, F> {
    /// A layer that picks each request's breaker by `key(&request)`.
    pub fn new(breakers: KeyedBreaker<K>, key: F) -> Self {
        Self {
            breakers,
            key,
            classifier: FailOnError,
        }
    }
}

impl<K, F, C> KeyedBreakerLayer<K, F, C> {
    /// Classifies results with `classifier` instead.
    pub fn with_classifier<C2>(self, classifier: C2) -> KeyedBreakerLayer<K, F, C2> {
        KeyedBreakerLayer {
            breakers: self.breakers,
            key: self.key,
            classifier,
        }
    }
}

impl<S, K, F: Clone, C: Clone> Layer<S> for KeyedBreakerLayer<K, F, C> {
    type Service = KeyedBreakerService<S, K, F, C>;

    fn layer(&self, inner: S) -> Self::Service {
        KeyedBreakerService {
            inner,
            breakers: self.breakers.clone(),
            key: self.key.clone(),
            classifier: self.classifier.clone(),
        }
    }
}

/// A tower service with a breaker per key of the request.
///
/// The key is only known in `call`, so `poll_ready` waits for the inner
/// service and `call` asks the key's breaker; a refused call never reaches the
/// inner service.
#[derive(Clone, Debug)]
pub struct KeyedBreakerService<S, K, F, C = FailOnError> {
    inner: S,
    breakers: KeyedBreaker<K>,
    key: F,
    classifier: C,
}

impl<S, K, F, C> KeyedBreakerService<S, K, F, C> {
    /// The breakers, one per key.
    pub fn breakers(&self) -> &KeyedBreaker<K> {
        &self.breakers
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

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let breaker = self.breakers.get(&(self.key)(&request));
        match breaker.try_acquire() {
            Ok(permit) => {
                ResponseFuture::called(self.inner.call(request), permit, self.classifier.clone())
            }
            Err(open) => ResponseFuture::rejected(open),
        }
    }
}
