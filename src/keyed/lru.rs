//! One shard of the keyed map: a bounded least-recently-used list of entries
//! under its own short lock.
//!
//! # Least recently used first out, protected entries never
//!
//! A shard keeps at most its `capacity` entries. A new key beyond that evicts
//! the least recently used entry whose component
//! [may be evicted](KeyedComponent::is_evictable), looking at no more than
//! [`EVICTION_PROBES`] entries from the least recently used end. An entry
//! passed over because it is protected (an open breaker, a busy bulkhead, a
//! component still being built) counts as used then, so the next new key looks
//! further back: no new key scans the whole shard, yet entries that may go
//! surface over a few insertions, and the order among entries that may be
//! evicted is never changed by the search. If every entry looked at is
//! protected, nothing is evicted and the new key is not kept
//! ([`Inserted::Full`]): the map's caller decides what such a key gets.
//!
//! Entries sit in a slab, linked from the newest to the oldest use, so a hit,
//! an eviction and an insertion each take constant time under the lock.

use std::collections::HashMap;
use std::hash::Hash;

use crate::sync::{Arc, Mutex, MutexGuard};

use super::component::KeyedComponent;

/// How many entries, from the least recently used end, a new key looks at for
/// one that may be evicted.
pub(crate) const EVICTION_PROBES: usize = 16;

/// No neighbour: the end of the recency list.
const END: usize = usize::MAX;

/// One shard: at most `capacity` entries under one lock.
pub(super) struct Shard<K, C> {
    capacity: usize,
    entries: Mutex<Entries<K, C>>,
}

/// The entries, in a slab linked by recency.
pub(super) struct Entries<K, C> {
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
pub(super) enum Slot<C> {
    Built(C),
    /// Held locked by the caller that inserted it until that caller has
    /// built the component into it; `None` after that only if the build
    /// panicked (and the placeholder was taken out).
    Building(Arc<Mutex<Option<C>>>),
}

/// What [`Entries::insert`] did with a new key.
#[must_use]
pub(super) enum Inserted<C> {
    /// Kept, evicting the component given back (if the shard was full), for
    /// the caller to drop outside the lock.
    Kept(Option<Slot<C>>),
    /// Not kept: every entry looked at is protected.
    Full,
}

impl<K, C> Shard<K, C> {
    /// A shard of at most `capacity` (at least 1) entries, with room for
    /// `expected` before its first growth.
    pub(super) fn new(capacity: usize, expected: usize) -> Self {
        let expected = expected.min(capacity);
        Self {
            capacity,
            entries: Mutex::new(Entries {
                index: HashMap::with_capacity(expected),
                slab: Vec::with_capacity(expected),
                newest: END,
                oldest: END,
            }),
        }
    }

    pub(super) fn capacity(&self) -> usize {
        self.capacity
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, Entries<K, C>> {
        self.entries.lock()
    }

    pub(super) fn len(&self) -> usize {
        self.entries.lock().index.len()
    }
}

impl<K: Hash + Eq + Clone, C: KeyedComponent> Entries<K, C> {
    /// Where `key`'s entry is.
    pub(super) fn find(&self, key: &K) -> Option<usize> {
        self.index.get(key).copied()
    }

    pub(super) fn slot(&self, at: usize) -> &Slot<C> {
        &self.slab[at].component
    }

    /// Replaces the placeholder at `at` with the component built in it.
    pub(super) fn settle(&mut self, at: usize, component: C) {
        self.slab[at].component = Slot::Built(component);
    }

    /// Adds `key` as the most recently used entry, evicting one first if the
    /// shard holds `capacity` entries; when every entry looked at is
    /// protected, adds nothing.
    pub(super) fn insert(&mut self, key: &K, component: Slot<C>, capacity: usize) -> Inserted<C> {
        if self.slab.len() < capacity {
            self.slab.push(Entry {
                key: key.clone(),
                component,
                newer: END,
                older: END,
            });
            let at = self.slab.len() - 1;
            self.link_newest(at);
            self.index.insert(key.clone(), at);
            return Inserted::Kept(None);
        }
        let Some(at) = self.victim() else {
            return Inserted::Full;
        };
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
        self.link_newest(at);
        self.index.insert(key.clone(), at);
        Inserted::Kept(Some(old.component))
    }

    /// The entry to evict from a full shard (see the module docs): the least
    /// recently used that may go among the [`EVICTION_PROBES`] oldest; the
    /// protected ones passed over count as used now.
    fn victim(&mut self) -> Option<usize> {
        let mut at = self.oldest;
        for _ in 0..EVICTION_PROBES.min(self.slab.len()) {
            if self.slab[at].component.is_evictable() {
                return Some(at);
            }
            let next = self.slab[at].newer;
            self.mark_used(at);
            at = next;
        }
        None
    }

    /// Makes the entry at `at` the most recently used.
    pub(super) fn mark_used(&mut self, at: usize) {
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

    /// Where `key`'s placeholder `cell` is, unless the entry was taken out
    /// (or taken out and made again) meanwhile.
    pub(super) fn placeholder(&self, key: &K, cell: &Arc<Mutex<Option<C>>>) -> Option<usize> {
        let at = *self.index.get(key)?;
        match &self.slab[at].component {
            Slot::Building(kept) if Arc::ptr_eq(kept, cell) => Some(at),
            _ => None,
        }
    }

    /// Takes the entry at `at` out; the last entry of the slab moves into
    /// its place.
    pub(super) fn remove(&mut self, at: usize) {
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

#[cfg(any(all(test, not(loom)), fuzzing))]
impl<K: Clone, C> Entries<K, C> {
    /// The keys from the most to the least recently used.
    pub(super) fn keys_by_recency(&self) -> Vec<K> {
        let mut keys = Vec::with_capacity(self.slab.len());
        let mut at = self.newest;
        while at != END {
            keys.push(self.slab[at].key.clone());
            at = self.slab[at].older;
        }
        keys
    }
}

impl<C: KeyedComponent> Slot<C> {
    /// A component still being built is kept: its callers are about to use it.
    fn is_evictable(&self) -> bool {
        match self {
            Slot::Built(component) => component.is_evictable(),
            Slot::Building(_) => false,
        }
    }
}
