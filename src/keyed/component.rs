//! What a layer's component tells the keyed map.

/// A component kept per key: a breaker, a bulkhead.
pub(crate) trait KeyedComponent: Clone {
    /// What every key's component is built from.
    type Config;

    /// The name in `config`, which each key's name extends.
    fn config_name(config: &Self::Config) -> &str;

    /// The component for one key, built from `config` and named `name`.
    fn build(config: &Self::Config, name: String) -> Self;

    /// Whether dropping the component now loses nothing that still protects
    /// a caller (for a bulkhead: nothing in flight, nobody waiting). The map
    /// drops such components first.
    fn is_evictable(&self) -> bool;
}
