//! A bulkhead per key: one per tenant, target host or shard.
//!
//! One bulkhead for a client that calls many hosts lets one slow host take
//! every slot. A [`KeyedBulkhead`] keeps a [`Bulkhead`] per key, all built
//! from one config, at most `capacity` of them. When a new key would exceed
//! it, the least recently used *idle* bulkhead (no call in flight, nobody
//! waiting) is dropped; only if every kept bulkhead is busy is the least
//! recently used busy one dropped. Its calls in flight keep their slots in the
//! dropped bulkhead, so until they finish that key may briefly run more calls
//! than its cap: memory stays bounded whatever the keys.
//!
//! Looking up a key takes a short lock on the map; the bulkhead it returns is
//! lock-free as usual.

use std::fmt;
use std::hash::Hash;
use std::task::{Context, Poll};

use tower_layer::Layer;
use tower_service::Service;

use crate::error::{BoxError, ConfigError};
use crate::keyed::{name_for_key, LruMap};
use crate::sync::Arc;

use super::future::ResponseFuture;
use super::{Bulkhead, BulkheadConfig};

/// A bounded set of bulkheads, one per key.
///
/// At most `capacity` bulkheads are kept. A new key beyond that drops the
/// least recently used *idle* bulkhead (nothing in flight, nobody waiting),
/// or, if every kept one is busy, the least recently used busy one, whose
/// calls in flight keep their slots: until they finish, that key may run more
/// calls than its cap. Memory stays bounded whatever the keys.
///
/// ```
/// use seawall::bulkhead::{BulkheadConfig, KeyedBulkhead};
///
/// let config = BulkheadConfig::builder().max_concurrent_calls(1).build()?;
/// let bulkheads = KeyedBulkhead::new(config, 1024)?;
/// let _busy = bulkheads.get(&"tenant-a").try_acquire()?;
/// assert!(bulkheads.get(&"tenant-a").try_acquire().is_err());
/// assert!(bulkheads.get(&"tenant-b").try_acquire().is_ok(), "one tenant cannot starve another");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct KeyedBulkhead<K> {
    shared: Arc<Keyed<K>>,
}

struct Keyed<K> {
    config: BulkheadConfig,
    bulkheads: LruMap<K, Bulkhead>,
}

impl<K> Clone for KeyedBulkhead<K> {
    fn clone(&self) -> Self {
        Self {
            shared: self.shared.clone(),
        }
    }
}

impl<K> fmt::Debug for KeyedBulkhead<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedBulkhead")
            .field("name", &self.shared.config.name())
            .field("capacity", &self.shared.bulkheads.capacity())
            .finish_non_exhaustive()
    }
}

impl<K: Hash + Eq + Clone + fmt::Display> KeyedBulkhead<K> {
    /// Bulkheads built from `config`, at most `capacity` (at least 1) at a
    /// time. Each is named `"{config name}/{key}"`.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] for a capacity of 0.
    pub fn new(config: BulkheadConfig, capacity: usize) -> Result<Self, ConfigError> {
        Ok(Self {
            shared: Arc::new(Keyed {
                config,
                bulkheads: LruMap::new(capacity)?,
            }),
        })
    }

    /// The bulkhead for `key`, made if it is new (dropping another when full,
    /// as described on [`KeyedBulkhead`]).
    pub fn get(&self, key: &K) -> Bulkhead {
        let shared = &self.shared;
        shared.bulkheads.get_or_insert_with(
            key,
            || {
                let mut config = shared.config.clone();
                config.name = name_for_key(shared.config.name(), key).into();
                Bulkhead::new(config)
            },
            |bulkhead: &Bulkhead| bulkhead.in_flight() == 0 && bulkhead.waiting() == 0,
        )
    }

    /// The bulkhead for `key` if one is kept, without making one.
    pub fn peek(&self, key: &K) -> Option<Bulkhead> {
        self.shared.bulkheads.peek(key)
    }

    /// How many bulkheads are kept.
    pub fn len(&self) -> usize {
        self.shared.bulkheads.len()
    }

    /// Whether no bulkhead is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Wraps services in a [`KeyedBulkheadService`].
///
/// ```
/// use seawall::bulkhead::{BulkheadConfig, KeyedBulkhead, KeyedBulkheadLayer};
/// use tower::{service_fn, ServiceBuilder};
///
/// let bulkheads: KeyedBulkhead<String> = KeyedBulkhead::new(BulkheadConfig::default(), 256)?;
/// let service = ServiceBuilder::new()
///     .layer(KeyedBulkheadLayer::new(bulkheads, |host: &String| host.clone()))
///     .service(service_fn(|host: String| async move { Ok::<_, std::io::Error>(host) }));
/// # drop(service);
/// # Ok::<(), seawall::ConfigError>(())
/// ```
#[derive(Clone, Debug)]
pub struct KeyedBulkheadLayer<K, F> {
    bulkheads: KeyedBulkhead<K>,
    key: F,
}

impl<K, F> KeyedBulkheadLayer<K, F> {
    /// A layer that picks each request's bulkhead by `key(&request)`.
    pub fn new(bulkheads: KeyedBulkhead<K>, key: F) -> Self {
        Self { bulkheads, key }
    }
}

impl<S, K, F: Clone> Layer<S> for KeyedBulkheadLayer<K, F> {
    type Service = KeyedBulkheadService<S, K, F>;

    fn layer(&self, inner: S) -> Self::Service {
        KeyedBulkheadService {
            inner,
            bulkheads: self.bulkheads.clone(),
            key: self.key.clone(),
        }
    }
}

/// A tower service with a bulkhead per key of the request.
///
/// The key is only known in `call`, so `poll_ready` waits for the inner
/// service and `call` asks the key's bulkhead for a slot, without waiting
/// (a configured wait does not apply here): a refused call never reaches the
/// inner service and fails with [`BulkheadFull`](super::error::BulkheadFull).
#[derive(Clone, Debug)]
pub struct KeyedBulkheadService<S, K, F> {
    inner: S,
    bulkheads: KeyedBulkhead<K>,
    key: F,
}

impl<S, K, F> KeyedBulkheadService<S, K, F> {
    /// The bulkheads, one per key.
    pub fn bulkheads(&self) -> &KeyedBulkhead<K> {
        &self.bulkheads
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The inner service, unwrapped.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, K, F, Request> Service<Request> for KeyedBulkheadService<S, K, F>
where
    S: Service<Request>,
    S::Error: Into<BoxError>,
    K: Hash + Eq + Clone + fmt::Display,
    F: Fn(&Request) -> K,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let bulkhead = self.bulkheads.get(&(self.key)(&request));
        match bulkhead.try_acquire() {
            Ok(permit) => ResponseFuture::called(self.inner.call(request), permit),
            Err(full) => ResponseFuture::rejected(full),
        }
    }
}
