//! The bounded map behind every keyed component: shards, each a short lock
//! over its own least-recently-used list.
//!
//! # Sharded
//!
//! Keys come from requests, and one thread taking new keys must not slow a
//! thread serving kept ones. The map is split into shards by the key's hash
//! (a hasher seeded per map, so callers cannot aim their keys at one shard);
//! each shard has its own lock, held for a hash lookup and a few list moves,
//! and its own share of the capacity. A map of `capacity` has
//! `capacity / 64` shards (at least 1, at most 64), so each shard's least
//! recently used list holds at least 64 entries; the shares add up to
//! `capacity` exactly.
//!
//! Recency is kept per shard: "least recently used" means least recently used
//! among the keys of the same shard. See [`super::lru`] for eviction, and for
//! what happens when a shard holds nothing it may evict.
//!
//! # Building outside the lock
//!
//! A component can be slow to build (a breaker resolves its metric handles),
//! so a new key's component is not built under its shard's lock. The caller
//! that finds the key missing inserts a locked placeholder cell for it and
//! builds the component in that cell; other callers of the same key wait on
//! the cell for that one build, while callers of other keys never wait for
//! it. The builder then turns the placeholder into the component itself, so
//! later hits do not touch the cell. A build that panics takes its
//! placeholder out again (nothing half-made stays), and the callers that
//! waited on it start over.

use std::hash::{BuildHasher, Hash, RandomState};

use crate::error::ConfigError;
use crate::sync::{Arc, Mutex, MutexGuard};

use super::component::KeyedComponent;
use super::lru::{Entries, Inserted, Shard, Slot};

/// The most shards a map has.
const MAX_SHARDS: usize = 64;

/// The fewest entries a shard holds (unless the whole map holds fewer).
const MIN_SHARD_CAPACITY: usize = 64;

/// Room made for entries up front, over all shards; the rest grows on use.
const EXPECTED_ENTRIES: usize = 4096;

/// A bounded, sharded map from keys to components.
pub(crate) struct KeyedMap<K, C> {
    hasher: RandomState,
    shards: Box<[Shard<K, C>]>,
    capacity: usize,
}

/// What the map has for a key.
#[must_use]
pub(crate) enum Found<C> {
    /// The key's component, kept in the map.
    Kept(C),
    /// The key is new and its shard holds nothing it may evict: it is not
    /// kept, and nothing was built.
    Full,
}

impl<K, C> KeyedMap<K, C> {
    /// A map of at most `capacity` (at least 1) components.
    pub(crate) fn new(capacity: usize) -> Result<Self, ConfigError> {
        if capacity == 0 {
            return Err(ConfigError::new("capacity", capacity, "at least 1"));
        }
        let count = (capacity / MIN_SHARD_CAPACITY).clamp(1, MAX_SHARDS);
        let expected = capacity.min(EXPECTED_ENTRIES) / count;
        let shards = (0..count)
            .map(|index| {
                // The first `capacity % count` shards take one entry more.
                let share = capacity / count + usize::from(index < capacity % count);
                Shard::new(share, expected)
            })
            .collect();
        Ok(Self {
            hasher: RandomState::new(),
            shards,
            capacity,
        })
    }

    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    /// How many entries are kept now (each shard counted in turn).
    pub(crate) fn len(&self) -> usize {
        self.shards.iter().map(Shard::len).sum()
    }

    /// How many shards the map has.
    #[cfg(any(all(test, not(loom)), fuzzing))]
    pub(crate) fn shard_count(&self) -> usize {
        self.shards.len()
    }

    /// How many entries shard `shard` may hold.
    #[cfg(any(all(test, not(loom)), fuzzing))]
    pub(crate) fn shard_capacity(&self, shard: usize) -> usize {
        self.shards[shard].capacity()
    }

    /// The keys of shard `shard`, from the most to the least recently used.
    #[cfg(any(all(test, not(loom)), fuzzing))]
    pub(crate) fn keys_by_recency(&self, shard: usize) -> Vec<K>
    where
        K: Clone,
    {
        self.shards[shard].lock().keys_by_recency()
    }
}

impl<K: Hash + Eq + Clone, C: KeyedComponent> KeyedMap<K, C> {
    /// Which shard holds `key`.
    pub(crate) fn shard_of(&self, key: &K) -> usize {
        if self.shards.len() == 1 {
            // A small map: no hash to pay for.
            return 0;
        }
        let hash = self.hasher.hash_one(key);
        // The high half of the hash scaled to the shard count: no division,
        // and every shard count (not only powers of two) is even.
        (((hash >> 32) * self.shards.len() as u64) >> 32) as usize
    }

    /// The component for `key`, built by `build` (outside any lock) if the
    /// key is new, evicting another entry of its shard when the shard is
    /// full; [`Found::Full`] if every entry it may evict is protected.
    pub(crate) fn get_or_build(&self, key: &K, build: impl FnOnce() -> C) -> Found<C> {
        let shard = &self.shards[self.shard_of(key)];
        loop {
            let cell = {
                let mut entries = shard.lock();
                let Some(at) = entries.find(key) else {
                    return build_new(shard, entries, key, build);
                };
                entries.mark_used(at);
                match entries.slot(at) {
                    Slot::Built(component) => return Found::Kept(component.clone()),
                    Slot::Building(cell) => cell.clone(),
                }
            };
            // Another caller is building it: wait for that build, without the shard's lock.
            let built = cell.lock().clone();
            if let Some(component) = built {
                return Found::Kept(component);
            }
            // That build panicked and took its placeholder out: start over.
        }
    }

    /// The component for `key` if one is kept (and built); does not count as
    /// a use.
    pub(crate) fn peek(&self, key: &K) -> Option<C> {
        let entries = self.shards[self.shard_of(key)].lock();
        match entries.slot(entries.find(key)?) {
            Slot::Built(component) => Some(component.clone()),
            Slot::Building(_) => None,
        }
    }
}

/// Inserts a placeholder for the new `key`, then builds its component outside
/// the shard's lock (but holding the placeholder's, so that callers of the
/// same key wait for this build).
fn build_new<K: Hash + Eq + Clone, C: KeyedComponent>(
    shard: &Shard<K, C>,
    mut entries: MutexGuard<'_, Entries<K, C>>,
    key: &K,
    build: impl FnOnce() -> C,
) -> Found<C> {
    let cell = Arc::new(Mutex::new(None));
    // Locked before anyone can see it. Lock order: a placeholder, then the
    // shard; nobody waits for a placeholder while holding a shard's lock.
    let mut built = cell.lock();
    let evicted = match entries.insert(key, Slot::Building(cell.clone()), shard.capacity()) {
        Inserted::Kept(evicted) => evicted,
        Inserted::Full => return Found::Full,
    };
    drop(entries);
    // From here on, a panic (in the build, or in an evicted component's drop)
    // takes the placeholder out, so callers waiting on it start over.
    let placeholder = Placeholder {
        shard,
        key,
        cell: &cell,
        built: false,
    };
    // The last handle to an evicted component may free it: not under the lock.
    drop(evicted);
    let component = build();
    *built = Some(component.clone());
    drop(built);
    placeholder.settle(&component);
    Found::Kept(component)
}

/// A new key's placeholder while its component is built: replaced by the
/// component once built, or taken out if the build panics.
struct Placeholder<'a, K: Hash + Eq + Clone, C: KeyedComponent> {
    shard: &'a Shard<K, C>,
    key: &'a K,
    cell: &'a Arc<Mutex<Option<C>>>,
    built: bool,
}

impl<K: Hash + Eq + Clone, C: KeyedComponent> Placeholder<'_, K, C> {
    fn settle(mut self, component: &C) {
        self.built = true;
        let mut entries = self.shard.lock();
        if let Some(at) = entries.placeholder(self.key, self.cell) {
            entries.settle(at, component.clone());
        }
    }
}

impl<K: Hash + Eq + Clone, C: KeyedComponent> Drop for Placeholder<'_, K, C> {
    fn drop(&mut self) {
        if self.built {
            return;
        }
        // The build panicked: nothing half-made stays, and callers waiting on
        // the placeholder start over.
        let mut entries = self.shard.lock();
        if let Some(at) = entries.placeholder(self.key, self.cell) {
            entries.remove(at);
        }
    }
}
