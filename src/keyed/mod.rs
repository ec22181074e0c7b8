//! One component per key (a breaker or a bulkhead per host, tenant or shard),
//! written once for every layer that has a keyed variant.
//!
//! Keys come from requests, so their number is not ours to choose: a keyed
//! component keeps at most `capacity` components, and makes room for a new key
//! by dropping one it need not keep ([`LruMap`] says which). Everything a keyed
//! variant needs is here:
//!
//! - [`KeyedComponent`]: what a layer's component tells the map, namely how it
//!   is built from the shared config and a per-key name, and whether it may be
//!   dropped now;
//! - [`KeyedComponents`]: the shared handle, a config and the bounded map;
//! - [`KeyedLayer`] and [`KeyedService`]: the tower glue, which picks each
//!   request's component by a key extractor closure and lets the component
//!   decide the call ([`CallThrough`]).
//!
//! A layer's public `KeyedX`, `KeyedXLayer` and `KeyedXService` are thin
//! wrappers over these, so that a change to how keyed state is kept (sharding,
//! protecting more entries, bounding metric labels) is made here once.

mod component;
mod lru;
mod service;
#[cfg(all(test, not(loom)))]
mod tests;

use std::fmt;
use std::hash::Hash;

use crate::error::ConfigError;
use crate::sync::Arc;

pub(crate) use self::component::KeyedComponent;
pub(crate) use self::lru::LruMap;
pub(crate) use self::service::{CallThrough, KeyedHandle, KeyedLayer, KeyedService};

/// A bounded set of components, one per key, all built from one config.
///
/// Cloning is cheap: every clone shares the same components.
pub(crate) struct KeyedComponents<K, C: KeyedComponent> {
    shared: Arc<Shared<K, C>>,
}

struct Shared<K, C: KeyedComponent> {
    config: C::Config,
    components: LruMap<K, C>,
}

impl<K, C: KeyedComponent> Clone for KeyedComponents<K, C> {
    fn clone(&self) -> Self {
        Self {
            shared: self.shared.clone(),
        }
    }
}

impl<K, C: KeyedComponent> KeyedComponents<K, C> {
    /// Components built from `config`, at most `capacity` (at least 1) at a
    /// time.
    pub(crate) fn new(config: C::Config, capacity: usize) -> Result<Self, ConfigError> {
        Ok(Self {
            shared: Arc::new(Shared {
                config,
                components: LruMap::new(capacity)?,
            }),
        })
    }

    /// How many components may be kept at once.
    pub(crate) fn capacity(&self) -> usize {
        self.shared.components.capacity()
    }

    /// The name every key's name extends.
    pub(crate) fn config_name(&self) -> &str {
        C::config_name(&self.shared.config)
    }

    /// How many components are kept now.
    pub(crate) fn len(&self) -> usize {
        self.shared.components.len()
    }

    /// `Debug` for the public handle called `type_name`.
    pub(crate) fn fmt_as(&self, type_name: &str, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct(type_name)
            .field("name", &self.config_name())
            .field("capacity", &self.capacity())
            .finish_non_exhaustive()
    }
}

impl<K: Hash + Eq + Clone + fmt::Display, C: KeyedComponent> KeyedComponents<K, C> {
    /// The component for `key`, built if it is new and named
    /// `"{config name}/{key}"`.
    pub(crate) fn get(&self, key: &K) -> C {
        let config = &self.shared.config;
        self.shared.components.get_or_build(key, || {
            C::build(config, name_for_key(C::config_name(config), key))
        })
    }

    /// The component for `key` if one is kept; does not count as a use.
    pub(crate) fn peek(&self, key: &K) -> Option<C> {
        self.shared.components.peek(key)
    }
}

/// The name of the component kept for `key`: `"{base}/{key}"`.
fn name_for_key(base: &str, key: &impl fmt::Display) -> String {
    format!("{base}/{key}")
}
