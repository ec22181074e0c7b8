//! Which `name` label a key's component registers its metrics under.
//!
//! Keys come from requests, and a metrics recorder keeps every series it was
//! ever asked for: a label per key would let whoever chooses the keys grow the
//! recorder without bound (and eviction cannot take a series back). So by
//! default every key's component is named after the config and registers
//! under that one name ([`KeyLabels::Shared`]); its counters add up over all
//! keys, and its gauges, which would overwrite each other, are not published
//! ([`MetricScope::SharedByKeys`]). Asked for ([`KeyLabels::per_key`]), the
//! first [`MAX_KEY_LABELS`] distinct keys are named `"{name}/{key}"` and every
//! later one `"{name}/other"`.

use std::collections::HashSet;
use std::fmt;
use std::hash::{BuildHasher, Hash, RandomState};

use crate::sync::Mutex;

/// The most distinct keys that get a label of their own.
pub(crate) const MAX_KEY_LABELS: usize = 1_000;

/// The label value after [`MAX_KEY_LABELS`] keys: `"{name}/other"`.
pub(crate) const OTHER_KEYS: &str = "other";

/// Whose series a component's metric handles are.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum MetricScope {
    /// The component's own: every metric is published.
    #[default]
    Own,
    /// Shared with other keys' components under one name: counters and
    /// histograms add up; gauges are not published (each component would
    /// overwrite the others').
    SharedByKeys,
}

/// The name (and scope) a new key's component is built with.
#[derive(Debug)]
pub(crate) struct KeyName {
    /// `None`: the config's own name.
    pub(crate) name: Option<String>,
    pub(crate) scope: MetricScope,
}

/// How a keyed handle labels its components' metrics.
pub(crate) enum KeyLabels {
    /// Every key under the config's name.
    Shared,
    /// The first [`MAX_KEY_LABELS`] keys under their own, then `other`.
    PerKey {
        /// Hashes of the keys labelled so far (a hash rather than the key, so
        /// that long keys cost no memory here).
        labelled: Mutex<HashSet<u64>>,
        hasher: RandomState,
    },
}

impl KeyLabels {
    pub(crate) fn per_key() -> Self {
        Self::PerKey {
            labelled: Mutex::new(HashSet::new()),
            hasher: RandomState::new(),
        }
    }

    /// The name of `key`'s component, whose config is named `base`.
    pub(crate) fn name_for<K: Hash + fmt::Display>(&self, base: &str, key: &K) -> KeyName {
        let Self::PerKey { labelled, hasher } = self else {
            return KeyName {
                name: None,
                scope: MetricScope::SharedByKeys,
            };
        };
        let hash = hasher.hash_one(key);
        let own = {
            let mut labelled = labelled.lock();
            labelled.contains(&hash) || (labelled.len() < MAX_KEY_LABELS && labelled.insert(hash))
        };
        if own {
            KeyName {
                name: Some(format!("{base}/{key}")),
                scope: MetricScope::Own,
            }
        } else {
            KeyName {
                name: Some(format!("{base}/{OTHER_KEYS}")),
                scope: MetricScope::SharedByKeys,
            }
        }
    }

    /// How many keys have a label of their own so far.
    // Only the keyed tests read it, and they are not built under loom.
    #[cfg(all(test, not(loom)))]
    pub(crate) fn labelled(&self) -> usize {
        match self {
            Self::Shared => 0,
            Self::PerKey { labelled, .. } => labelled.lock().len(),
        }
    }
}

/// The name of the component every key shares when the map is full of
/// protected entries: `"{name}/overflow"`.
pub(crate) fn overflow_name(base: &str) -> String {
    format!("{base}/overflow")
}
