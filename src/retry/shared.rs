//! What every service of one retry layer shares.

use std::fmt;

use crate::sync::AtomicU64;

use super::config::RetryConfig;
use super::event::RetryEvent;
use super::metrics::RetryMetrics;

/// What every service of one layer shares: the config (with its budget and
/// listeners) and the metric handles.
pub(crate) struct RetryShared {
    pub(crate) config: RetryConfig,
    pub(crate) metrics: RetryMetrics,
    /// Numbers the requests that need a random source, to seed each its own.
    pub(crate) rng_streams: AtomicU64,
}

impl RetryShared {
    pub(crate) fn new(config: RetryConfig) -> Self {
        let metrics = RetryMetrics::new(&config.name);
        if let Some(budget) = &config.budget {
            metrics.budget_level.set(budget.level());
        }
        Self {
            config,
            metrics,
            rng_streams: AtomicU64::new(0),
        }
    }

    /// Sends the event `event` builds to the listeners; builds none when there
    /// are none.
    #[inline]
    pub(crate) fn notify<'a>(&'a self, event: impl FnOnce(&'a str) -> RetryEvent<'a>) {
        let listeners = &self.config.listeners;
        if !listeners.is_empty() {
            let event = event(&self.config.name);
            listeners.notify(|listener| listener(&event));
        }
    }
}

impl fmt::Debug for RetryShared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.config.fmt(f)
    }
}
