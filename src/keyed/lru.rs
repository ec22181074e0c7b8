//! The bounded map behind every keyed component.
//!
//! # Bounded, least recently used first out
//!
//! At most `capacity` entries are kept. A new key beyond that evicts one: the
//! least recently used entry whose component
//! [may be evicted](KeyedComponent::is_evictable), looking at no more than
//! [`EVICTION_PROBES`] of the least recently used entries; if none of them may,
//! the least recently used of all goes, so memory stays bounded whatever the
//! keys. An entry passed over because it may not be evicted counts as used
//! then (it is busy, after all), so the next new key looks further back: no
//! new key scans the whole map, yet entries that may go surface over a few
//! insertions.
//!
//! Entries sit in a slab, linked from the newest to the oldest use, so that a
//! hit, an eviction and an insertion each take constant time under the map's
//! lock.
//!
//! # Building outside the lock
//!
//! A component can be slow to build (a breaker resolves its metric handles),
//! so a new key's component is not built under the map's lock. The caller
//! that finds the key missing inserts a locked placeholder cell for it and
//! builds the component in that cell; other callers of the same key wait on
//! the cell for that one build, while callers of other keys never wait for
//! it. The builder then turns the placeholder into the component itself, so later hits
//! do not touch the cell. A build that panics takes its placeholder out again
//! (nothing half-made stays), and the callers that waited on it start over.

use std::collections::HashMap;
use std::hash::Hash;

use crate::error::ConfigError;
use crate::sync::{Arc, Mutex, MutexGuard};

use super::component::KeyedComponent;

/// How many of the least recently used entries a new key looks at for one
/// that may be evicted.
const EVICTION_PROBES: usize = 8;

/// No neighbour: the end of the recency list.
const END: usize = usize::MAX;

/// A bounded map from keys to components, least recently used first out.
pub(crate) struct LruMap<K, C> {
    capacity: usize,
    entries: Mutex<Entries<K, C>>,
}

/// The entries, in a slab linked by recency.
struct Entries<K, C> {
    /// Where each key's entry sits in `slab`.
    index: HashMap<K, usize>,
    /// Never longer than the capacity: an evicted entry's place is reused.
    slab: Vec<Entry<K, C>>,
    /// The most recently used entry, or `END`.
    newest: usize,
    /// The least recently used entry, or `END`.
    oldest: usize,
}

struct Entry<K, C> {
    key: K,
    component: Slot<C>,
    /// The next more recently used entry, or `END`.
    newer: usize,
    /// The next less recently used entry, or `END`.
    older: usize,
}

/// A kept component, or the cell it is being built in.
enum Slot<C> {
    Built(C),
    /// Held locked by the caller that inserted it until that caller has
    /// built the component into it; `None` after that only if the build
    /// panicked (and the placeholder was taken out).
    Building(Arc<Mutex<Option<C>>>),
}

impl<K, C> LruMap<K, C> {
    /// A map of at most `capacity` (at least 1) components.
    pub(crate) fn new(capacity: usize) -> Result<Self, ConfigError> {
        if capacity == 0 {
            return Err(ConfigError::new("capacity", capacity, "at least 1"));
        }
        let expected = capacity.min(4096);
        Ok(Self {
            capacity,
            entries: Mutex::new(Entries {
                index: HashMap::with_capacity(expected),
                slab: Vec::with_capacity(expected),
                newest: END,
                oldest: END,
            }),
        })
    }

    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.lock().index.len()
    }
}

impl<K: Hash + Eq + Clone, C: KeyedComponent> LruMap<K, C> {
    /// The component for `key`, built by `build` (outside the map's lock) if
    /// the key is new, evicting another entry when the map is full.
    pub(crate) fn get_or_build(&self, key: &K, build: impl FnOnce() -> C) -> C {
        loop {
            let cell = {
                let mut entries = self.entries.lock();
                let Some(at) = entries.index.get(key).copied() else {
                    return self.build_new(entries, key, build);
                };
                entries.mark_used(at);
                match &entries.slab[at].component {
                    Slot::Built(component) => return component.clone(),
                    Slot::Building(cell) => cell.clone(),
                }
            };
            // Another caller is building it: wait for that build, without the map's lock.
            let built = cell.lock().clone();
            if let Some(component) = built {
                return component;
            }
            // That build panicked and took its placeholder out: start over.
        }
    }

    /// Inserts a placeholder for the new `key`, then builds its component
    /// outside the map's lock (but holding the placeholder's, so that callers
    /// of the same key wait for this build).
    fn build_new(
        &self,
        mut entries: MutexGuard<'_, Entries<K, C>>,
        key: &K,
        build: impl FnOnce() -> C,
    ) -> C {
        let cell = Arc::new(Mutex::new(None));
        // Locked before anyone can see it. Lock order: a placeholder, then the
        // map; nobody waits for a placeholder while holding the map's lock.
        let mut built = cell.lock();
        let evicted = entries.insert(key, Slot::Building(cell.clone()), self.capacity);
        drop(entries);
        // From here on, a panic (in the build, or in an evicted component's drop)
        // takes the placeholder out, so callers waiting on it start over.
        let placeholder = Placeholder {
            map: self,
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
        component
    }

    /// The component for `key` if one is kept (and built); does not count as
    /// a use.
    pub(crate) fn peek(&self, key: &K) -> Option<C> {
        let entries = self.entries.lock();
        let at = *entries.index.get(key)?;
        match &entries.slab[at].component {
            Slot::Built(component) => Some(component.clone()),
            Slot::Building(_) => None,
        }
    }
}

/// A new key's placeholder while its component is built: replaced by the
/// component once built, or taken out if the build panics.
struct Placeholder<'a, K: Hash + Eq + Clone, C: KeyedComponent> {
    map: &'a LruMap<K, C>,
    key: &'a K,
    cell: &'a Arc<Mutex<Option<C>>>,
    built: bool,
}

impl<K: Hash + Eq + Clone, C: KeyedComponent> Placeholder<'_, K, C> {
    fn settle(mut self, component: &C) {
        self.built = true;
        let mut entries = self.map.entries.lock();
        if let Some(at) = entries.placeholder(self.key, self.cell) {
            entries.slab[at].component = Slot::Built(component.clone());
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
        let mut entries = self.map.entries.lock();
        if let Some(at) = entries.placeholder(self.key, self.cell) {
            entries.remove(at);
        }
    }
}

impl<K: Hash + Eq + Clone, C: KeyedComponent> Entries<K, C> {
    /// Adds `key` as the most recently used entry, evicting one first if the
    /// map holds `capacity` entries; gives the evicted component back, for
    /// the caller to drop outside the lock.
    #[must_use]
    fn insert(&mut self, key: &K, component: Slot<C>, capacity: usize) -> Option<Slot<C>> {
        let mut evicted = None;
        let at = if self.slab.len() < capacity {
            self.slab.push(Entry {
                key: key.clone(),
                component,
                newer: END,
                older: END,
            });
            self.slab.len() - 1
        } else {
            let at = self.victim();
            self.unlink(at);
            let old = std::mem::replace(
                &mut self.slab[at],
                Entry {
                    key: key.clone(),
                    component,
                    newer: END,
                    older: END,
                },
            );
            self.index.remove(&old.key);
            evicted = Some(old.component);
            at
        };
        self.link_newest(at);
        self.index.insert(key.clone(), at);
        evicted
    }

    /// The entry to evict from a full map (see the module docs): the least
    /// recently used that may go among the probed ones; failing that, the
    /// least recently used built one, so that a component still being built
    /// (which its callers will use) is evicted only when every probed entry
    /// is still being built.
    fn victim(&mut self) -> usize {
        let oldest = self.oldest;
        let mut oldest_built = None;
        let mut at = oldest;
        for _ in 0..EVICTION_PROBES.min(self.slab.len()) {
            let slot = &self.slab[at].component;
            if slot.is_evictable() {
                return at;
            }
            if oldest_built.is_none() && matches!(slot, Slot::Built(_)) {
                oldest_built = Some(at);
            }
            // Kept, and counted as used now, so the next new key looks past it.
            let next = self.slab[at].newer;
            self.mark_used(at);
            at = next;
        }
        oldest_built.unwrap_or(oldest)
    }

    /// Makes the entry at `at` the most recently used.
    fn mark_used(&mut self, at: usize) {
        if self.newest != at {
            self.unlink(at);
            self.link_newest(at);
        }
    }

    fn unlink(&mut self, at: usize) {
        let (newer, older) = (self.slab[at].newer, self.slab[at].older);
        match newer {
            END => self.newest = older,
            newer => self.slab[newer].older = older,
        }
        match older {
            END => self.oldest = newer,
            older => self.slab[older].newer = newer,
        }
    }

    fn link_newest(&mut self, at: usize) {
        let previous = self.newest;
        self.slab[at].newer = END;
        self.slab[at].older = previous;
        match previous {
            END => self.oldest = at,
            previous => self.slab[previous].newer = at,
        }
        self.newest = at;
    }

    /// Where `key`'s placeholder `cell` is, unless the entry was evicted (or
    /// evicted and made again) meanwhile.
    fn placeholder(&self, key: &K, cell: &Arc<Mutex<Option<C>>>) -> Option<usize> {
        let at = *self.index.get(key)?;
        match &self.slab[at].component {
            Slot::Building(kept) if Arc::ptr_eq(kept, cell) => Some(at),
            _ => None,
        }
    }

    /// Takes the entry at `at` out; the last entry of the slab moves into
    /// its place.
    fn remove(&mut self, at: usize) {
        self.unlink(at);
        let removed = self.slab.swap_remove(at);
        self.index.remove(&removed.key);
        if at == self.slab.len() {
            return;
        }
        // Whoever pointed at the moved entry's old place points here now.
        let (newer, older) = (self.slab[at].newer, self.slab[at].older);
        match newer {
            END => self.newest = at,
            newer => self.slab[newer].older = at,
        }
        match older {
            END => self.oldest = at,
            older => self.slab[older].newer = at,
        }
        if let Some(place) = self.index.get_mut(&self.slab[at].key) {
            *place = at;
        }
    }
}

impl<C: KeyedComponent> Slot<C> {
    /// A component still being built is kept: evicting it would waste the build.
    fn is_evictable(&self) -> bool {
        match self {
            Slot::Built(component) => component.is_evictable(),
            Slot::Building(_) => false,
        }
    }
}

/// The keys from the most to the least recently used, for tests.
#[cfg(test)]
impl<K: Clone, C> LruMap<K, C> {
    pub(crate) fn keys_by_recency(&self) -> Vec<K> {
        let entries = self.entries.lock();
        let mut keys = Vec::with_capacity(entries.slab.len());
        let mut at = entries.newest;
        while at != END {
            keys.push(entries.slab[at].key.clone());
            at = entries.slab[at].older;
        }
        keys
    }
}
