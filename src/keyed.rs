//! The bounded, least-recently-used map behind every keyed component (a
//! breaker or a bulkhead per host, tenant or shard).
//!
//! Keys come from requests, so their number is not ours to choose: the map
//! keeps at most `capacity` values and, to admit a new key, drops the least
//! recently used value that the component says may go (falling back to the
//! least recently used of all, so memory stays bounded whatever the keys).
//! Looking up a key takes a short lock on the map; the value it returns is a
//! cheap clone of a lock-free component.

use std::collections::HashMap;
use std::fmt;
use std::hash::Hash;

use crate::error::ConfigError;
use crate::sync::{AtomicU64, Mutex, Ordering};

pub(crate) struct LruMap<K, V> {
    capacity: usize,
    /// A logical clock for recency.
    clock: AtomicU64,
    entries: Mutex<HashMap<K, Entry<V>>>,
}

struct Entry<V> {
    value: V,
    last_used: u64,
}

impl<K, V> LruMap<K, V> {
    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }
}

impl<K: Hash + Eq + Clone, V: Clone> LruMap<K, V> {
    /// A map of at most `capacity` (at least 1) values.
    pub(crate) fn new(capacity: usize) -> Result<Self, ConfigError> {
        if capacity == 0 {
            return Err(ConfigError::new("capacity", capacity, "at least 1"));
        }
        Ok(Self {
            capacity,
            clock: AtomicU64::new(0),
            entries: Mutex::new(HashMap::with_capacity(capacity.min(4096))),
        })
    }

    /// The value for `key`, made by `make` if it is new. When full, the least
    /// recently used value for which `evictable` holds is dropped first, or
    /// the least recently used of all if none does.
    pub(crate) fn get_or_insert_with(
        &self,
        key: &K,
        make: impl FnOnce() -> V,
        evictable: impl Fn(&V) -> bool,
    ) -> V {
        // Relaxed: a logical clock for recency; ties and reorderings only blur LRU order.
        let now = self.clock.fetch_add(1, Ordering::Relaxed);
        let mut entries = self.entries.lock();
        if let Some(entry) = entries.get_mut(key) {
            entry.last_used = now;
            return entry.value.clone();
        }
        if entries.len() >= self.capacity {
            let victim = entries
                .iter()
                .filter(|(_, entry)| evictable(&entry.value))
                .min_by_key(|(_, entry)| entry.last_used)
                .or_else(|| entries.iter().min_by_key(|(_, entry)| entry.last_used))
                .map(|(key, _)| key.clone());
            if let Some(victim) = victim {
                entries.remove(&victim);
            }
        }
        let value = make();
        entries.insert(
            key.clone(),
            Entry {
                value: value.clone(),
                last_used: now,
            },
        );
        value
    }

    /// The value for `key` if one is kept; does not count as a use.
    pub(crate) fn peek(&self, key: &K) -> Option<V> {
        self.entries
            .lock()
            .get(key)
            .map(|entry| entry.value.clone())
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.lock().len()
    }
}

/// The name of the component kept for `key`: `"{base}/{key}"`.
pub(crate) fn name_for_key(base: &str, key: &impl fmt::Display) -> String {
    format!("{base}/{key}")
}
