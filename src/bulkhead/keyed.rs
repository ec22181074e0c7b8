//! A bulkhead per key: one per tenant, target host or shard.
//!
//! One bulkhead for a client that calls many hosts lets one slow host take
//! every slot. A [`KeyedBulkhead`] keeps a [`Bulkhead`] per key, all built
//! from one config, at most `capacity` of them. When a new key would exceed
//! it, a least recently used *idle* bulkhead (no call in flight, nobody
//! waiting) is dropped. A busy bulkhead is never dropped: a fresh one in its
//! place would let its key run more calls than its cap. A new key that finds
//! only busy bulkheads shares the handle's one overflow bulkhead with every
//! other such key.
//!
//! Looking up a key takes a short lock on one shard of the map; the bulkhead
//! it returns is lock-free as usual. A new key's bulkhead is built outside
//! that lock.
//!
//! These types are thin wrappers over the keyed machinery every keyed layer
//! shares (`crate::keyed`); this file only says how a bulkhead is built for a
//! key, when it may be dropped, and how it takes a call.

use std::fmt;
use std::hash::Hash;
use std::task::{Context, Poll};

use tower_layer::Layer;
use tower_service::Service;

use crate::error::{BoxError, ConfigError};
use crate::keyed::{
    CallThrough, KeyLabels, KeyName, KeyedComponent, KeyedComponents, KeyedHandle, KeyedLayer,
    KeyedService,
};

use super::future::ResponseFuture;
use super::{Bulkhead, BulkheadConfig};

impl KeyedComponent for Bulkhead {
    type Config = BulkheadConfig;

    fn config_name(config: &BulkheadConfig) -> &str {
        config.name()
    }

    fn build(config: &BulkheadConfig, name: KeyName) -> Self {
        let mut config = config.clone();
        if let Some(name) = name.name {
            config.name = name.into();
        }
        config.metric_scope = name.scope;
        Bulkhead::new(config)
    }

    fn is_evictable(&self) -> bool {
        // A busy bulkhead still caps its key's calls: a fresh one in its place
        // would let the key run more than its cap.
        self.in_flight() == 0 && self.waiting() == 0
    }
}

impl<S, Request> CallThrough<S, Request, ()> for Bulkhead
where
    S: Service<Request>,
    S::Error: Into<BoxError>,
{
    type Future = ResponseFuture<S::Future>;

    #[inline]
    fn call_through(&self, inner: &mut S, request: Request, _: &()) -> Self::Future {
        match self.try_acquire() {
            Ok(permit) => ResponseFuture::called(inner.call(request), permit),
            Err(full) => ResponseFuture::rejected(full),
        }
    }
}

/// A bounded set of bulkheads, one per key.
///
/// At most `capacity` bulkheads are kept. A new key beyond that drops a least
/// recently used *idle* bulkhead (nothing in flight, nobody waiting). The map
/// is sharded by the key's hash, each shard keeping its share of `capacity`;
/// a new key looks at the 16 least recently used bulkheads of its shard for an
/// idle one, and the busy ones it passes over count as used then, so the next
/// new key looks further back.
///
/// # When every bulkhead is busy
///
/// A busy bulkhead is never dropped, so a key's calls in flight never exceed
/// its cap. When a new key finds only busy bulkheads, it is not kept:
/// [`get`](Self::get) gives it the handle's one [`overflow`](Self::overflow)
/// bulkhead (named `"{name}/overflow"`, with the same cap), shared by every
/// key in that situation, until its shard has room again. Keys that keep
/// calls in flight on every kept bulkhead thus share one more cap between
/// them instead of each getting a fresh one; memory stays bounded whatever
/// the keys.
///
/// # Metrics
///
/// By default every key's bulkhead is named after the config (its `name()`,
/// its events and its metrics' `name` label), so callers choosing keys cannot
/// create series: rejections and waits add up over all keys, and the
/// in-flight gauge, which each bulkhead would overwrite, is not published.
/// [`with_key_labels`](Self::with_key_labels) names each key's bulkhead
/// `"{name}/{key}"` instead, for at most 1,000 distinct keys; later keys are
/// named `"{name}/other"`.
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
    bulkheads: KeyedComponents<K, Bulkhead>,
}

impl<K> Clone for KeyedBulkhead<K> {
    fn clone(&self) -> Self {
        Self {
            bulkheads: self.bulkheads.clone(),
        }
    }
}

impl<K> fmt::Debug for KeyedBulkhead<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.bulkheads.fmt_as("KeyedBulkhead", f)
    }
}

impl<K: Hash + Eq + Clone + fmt::Display> KeyedBulkhead<K> {
    /// Bulkheads built from `config`, at most `capacity` (at least 1) at a
    /// time, all named after the config (see [Metrics](Self#metrics)).
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] for a capacity of 0.
    pub fn new(config: BulkheadConfig, capacity: usize) -> Result<Self, ConfigError> {
        Ok(Self {
            bulkheads: KeyedComponents::new(config, capacity, KeyLabels::Shared)?,
        })
    }

    /// Bulkheads built from `config`, at most `capacity` (at least 1) at a
    /// time, each named `"{config name}/{key}"` for the first 1,000 distinct
    /// keys, then `"{config name}/other"`: a metric label per key, bounded.
    ///
    /// ```
    /// use seawall::bulkhead::{BulkheadConfig, KeyedBulkhead};
    ///
    /// let config = BulkheadConfig::builder().name("tenants").build()?;
    /// let bulkheads = KeyedBulkhead::with_key_labels(config, 1024)?;
    /// assert_eq!(bulkheads.get(&"acme").name(), "tenants/acme");
    /// # Ok::<(), seawall::ConfigError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] for a capacity of 0.
    pub fn with_key_labels(config: BulkheadConfig, capacity: usize) -> Result<Self, ConfigError> {
        Ok(Self {
            bulkheads: KeyedComponents::new(config, capacity, KeyLabels::per_key())?,
        })
    }

    /// The bulkhead for `key`, made if it is new (dropping an idle one when
    /// full, as described on [`KeyedBulkhead`]); the
    /// [`overflow`](Self::overflow) bulkhead if the key is new and every
    /// bulkhead it could drop is busy.
    pub fn get(&self, key: &K) -> Bulkhead {
        self.bulkheads.get(key)
    }

    /// The bulkhead for `key` if one is kept, without making one.
    pub fn peek(&self, key: &K) -> Option<Bulkhead> {
        self.bulkheads.peek(key)
    }

    /// The bulkhead every new key shares while its shard holds only busy
    /// bulkheads.
    ///
    /// ```
    /// use seawall::bulkhead::{BulkheadConfig, KeyedBulkhead};
    ///
    /// let bulkheads = KeyedBulkhead::new(BulkheadConfig::default(), 1)?;
    /// let _busy = bulkheads.get(&"tenant-a").try_acquire()?;
    /// let overflowing = bulkheads.get(&"tenant-b");
    /// assert_eq!(overflowing.name(), bulkheads.overflow().name());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn overflow(&self) -> &Bulkhead {
        self.bulkheads.overflow()
    }

    /// How many bulkheads are kept.
    pub fn len(&self) -> usize {
        self.bulkheads.len()
    }

    /// Whether no bulkhead is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many bulkheads may be kept.
    pub fn capacity(&self) -> usize {
        self.bulkheads.capacity()
    }
}

/// What the fuzz target compares with its model; built only under `cfg(fuzzing)`.
#[cfg(fuzzing)]
#[doc(hidden)]
impl<K: Hash + Eq + Clone + fmt::Display> KeyedBulkhead<K> {
    /// How many of a shard's least recently used entries a new key looks at.
    pub const FUZZ_EVICTION_PROBES: usize = crate::keyed::EVICTION_PROBES;

    /// Which shard holds `key`.
    pub fn fuzz_shard_of(&self, key: &K) -> usize {
        self.bulkheads.map().shard_of(key)
    }

    /// Each shard's share of the capacity.
    pub fn fuzz_shard_capacities(&self) -> Vec<usize> {
        let map = self.bulkheads.map();
        (0..map.shard_count())
            .map(|shard| map.shard_capacity(shard))
            .collect()
    }

    /// The keys of `shard`, from the most to the least recently used.
    pub fn fuzz_keys_by_recency(&self, shard: usize) -> Vec<K> {
        self.bulkheads.map().keys_by_recency(shard)
    }
}

impl<K: Hash + Eq + Clone + fmt::Display> KeyedHandle for KeyedBulkhead<K> {
    type Key = K;
    type Component = Bulkhead;

    #[inline]
    fn component_for(&self, key: &K) -> Bulkhead {
        self.get(key)
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
pub struct KeyedBulkheadLayer<K, F> {
    layer: KeyedLayer<KeyedBulkhead<K>, F, ()>,
}

impl<K, F> KeyedBulkheadLayer<K, F> {
    /// A layer that picks each request's bulkhead by `key(&request)`.
    pub fn new(bulkheads: KeyedBulkhead<K>, key: F) -> Self {
        Self {
            layer: KeyedLayer::new(bulkheads, key, ()),
        }
    }
}

impl<K, F: Clone> Clone for KeyedBulkheadLayer<K, F> {
    fn clone(&self) -> Self {
        Self {
            layer: self.layer.clone(),
        }
    }
}

impl<K, F> fmt::Debug for KeyedBulkheadLayer<K, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.layer.fmt_as("KeyedBulkheadLayer", "bulkheads", f)
    }
}

impl<S, K, F: Clone> Layer<S> for KeyedBulkheadLayer<K, F> {
    type Service = KeyedBulkheadService<S, K, F>;

    fn layer(&self, inner: S) -> Self::Service {
        KeyedBulkheadService {
            service: self.layer.layer(inner),
        }
    }
}

/// A tower service with a bulkhead per key of the request.
///
/// The key is only known in `call`, so `poll_ready` waits for the inner
/// service and `call` asks the key's bulkhead for a slot, without waiting
/// (a configured wait does not apply here): a refused call never reaches the
/// inner service and fails with [`BulkheadFull`](super::error::BulkheadFull).
///
/// # Errors
///
/// [`BulkheadFull`](super::error::BulkheadFull) or the inner service's error,
/// boxed.
///
/// ```
/// use seawall::bulkhead::{BulkheadConfig, KeyedBulkhead, KeyedBulkheadLayer};
/// use tower::{service_fn, Layer, Service, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), seawall::BoxError> {
/// let bulkheads: KeyedBulkhead<u32> = KeyedBulkhead::new(BulkheadConfig::default(), 256)?;
/// let mut service = KeyedBulkheadLayer::new(bulkheads, |tenant: &u32| *tenant)
///     .layer(service_fn(|tenant: u32| async move { Ok::<_, std::io::Error>(tenant * 2) }));
/// assert_eq!(service.ready().await?.call(21).await?, 42);
/// assert_eq!(service.bulkheads().peek(&21).unwrap().in_flight(), 0);
/// # Ok(())
/// # }
/// ```
pub struct KeyedBulkheadService<S, K, F> {
    service: KeyedService<S, KeyedBulkhead<K>, F, ()>,
}

impl<S, K, F> KeyedBulkheadService<S, K, F> {
    /// The bulkheads, one per key.
    pub fn bulkheads(&self) -> &KeyedBulkhead<K> {
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

impl<S: Clone, K, F: Clone> Clone for KeyedBulkheadService<S, K, F> {
    fn clone(&self) -> Self {
        Self {
            service: self.service.clone(),
        }
    }
}

impl<S: fmt::Debug, K, F> fmt::Debug for KeyedBulkheadService<S, K, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.service.fmt_as("KeyedBulkheadService", "bulkheads", f)
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

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.service.poll_ready(cx)
    }

    #[inline]
    fn call(&mut self, request: Request) -> Self::Future {
        self.service.call(request)
    }
}
