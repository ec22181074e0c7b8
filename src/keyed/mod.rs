//! One component per key (a breaker or a bulkhead per host, tenant or shard),
//! written once for every layer that has a keyed variant.
//!
//! Keys come from requests, so their number and their values are not ours to
//! choose, and whoever chooses them may be hostile. A keyed handle therefore:
//!
//! - keeps at most `capacity` components, in a map sharded by the key's hash
//!   so that a thread taking new keys hardly slows one serving kept keys
//!   ([`KeyedMap`]); a new key's component is built outside every lock;
//! - never evicts a component that still protects something (an open breaker,
//!   a busy bulkhead): a new key whose shard holds nothing else to evict gets
//!   the handle's one *overflow* component, shared by every such key, so the
//!   limit it enforces is never bypassed by a fresh component;
//! - names the components' metrics after the config, not the key, unless per-key
//!   labels are asked for, and then for at most 1,000 keys ([`KeyLabels`]).
//!
//! What each piece is:
//!
//! - [`KeyedComponent`]: what a layer's component tells the map, namely how it
//!   is built from the shared config and a name, and whether it may be dropped
//!   now;
//! - [`KeyedComponents`]: the shared handle, a config, the bounded map, the
//!   overflow component and the labels;
//! - [`KeyedLayer`] and [`KeyedService`]: the tower glue, which picks each
//!   request's component by a key extractor closure and lets the component
//!   decide the call ([`CallThrough`]).
//!
//! A layer's public `KeyedX`, `KeyedXLayer` and `KeyedXService` are thin
//! wrappers over these, so that a change to how keyed state is kept is made
//! here once.

mod component;
mod labels;
mod lru;
mod map;
mod service;
#[cfg(all(test, not(loom)))]
mod tests;

use std::fmt;
use std::hash::Hash;

use crate::error::ConfigError;
use crate::sync::Arc;

pub(crate) use self::component::KeyedComponent;
pub(crate) use self::labels::{KeyLabels, KeyName, MetricScope};
#[cfg(fuzzing)]
pub(crate) use self::lru::EVICTION_PROBES;
pub(crate) use self::map::{Found, KeyedMap};
pub(crate) use self::service::{CallThrough, KeyedHandle, KeyedLayer, KeyedService};

/// A bounded set of components, one per key, all built from one config.
///
/// Cloning is cheap: every clone shares the same components.
pub(crate) struct KeyedComponents<K, C: KeyedComponent> {
    shared: Arc<Shared<K, C>>,
}

struct Shared<K, C: KeyedComponent> {
    config: C::Config,
    components: KeyedMap<K, C>,
    /// What a new key gets when its shard holds nothing it may evict.
    overflow: C,
    labels: KeyLabels,
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
    /// time, their metrics labelled as `labels` says.
    pub(crate) fn new(
        config: C::Config,
        capacity: usize,
        labels: KeyLabels,
    ) -> Result<Self, ConfigError> {
        let components = KeyedMap::new(capacity)?;
        let overflow = C::build(
            &config,
            KeyName {
                name: Some(labels::overflow_name(C::config_name(&config))),
                scope: MetricScope::Own,
            },
        );
        Ok(Self {
            shared: Arc::new(Shared {
                config,
                components,
                overflow,
                labels,
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

    /// The component every key shares while its shard holds nothing it may
    /// evict.
    pub(crate) fn overflow(&self) -> &C {
        &self.shared.overflow
    }

    /// The map itself, for the fuzz target.
    #[cfg(fuzzing)]
    pub(crate) fn map(&self) -> &KeyedMap<K, C> {
        &self.shared.components
    }

    /// How many keys have a metric label of their own so far.
    // Only the keyed tests read it, and they are not built under loom.
    #[cfg(all(test, not(loom)))]
    pub(crate) fn labelled_keys(&self) -> usize {
        self.shared.labels.labelled()
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
    /// The component for `key`, built if it is new (named as the labels
    /// say); the overflow component if the key is new and its shard holds
    /// nothing it may evict.
    pub(crate) fn get(&self, key: &K) -> C {
        let Shared {
            config,
            components,
            overflow,
            labels,
        } = &*self.shared;
        let found = components.get_or_build(key, || {
            C::build(config, labels.name_for(C::config_name(config), key))
        });
        match found {
            Found::Kept(component) => component,
            Found::Full => overflow.clone(),
        }
    }

    /// The component for `key` if one is kept; does not count as a use.
    pub(crate) fn peek(&self, key: &K) -> Option<C> {
        self.shared.components.peek(key)
    }
}
