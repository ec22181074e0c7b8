//! What a layer's component tells the keyed map.

use super::labels::KeyName;

/// A component kept per key: a breaker, a bulkhead.
pub(crate) trait KeyedComponent: Clone {
    /// What every key's component is built from.
    type Config;

    /// The name in `config`, which each key's name extends.
    fn config_name(config: &Self::Config) -> &str;

    /// The component for one key, built from `config` and named as `name`
    /// says (the config's own name when it gives none), registering its
    /// metrics in `name`'s scope.
    fn build(config: &Self::Config, name: KeyName) -> Self;

    /// Whether dropping the component now loses nothing that still protects
    /// a caller (a breaker: not open, half-open or forced open; a bulkhead:
    /// nothing in flight, nobody waiting). The map never evicts one that may
    /// not go.
    fn is_evictable(&self) -> bool;
}
