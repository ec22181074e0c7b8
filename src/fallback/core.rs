//! What every service made by one fallback layer shares.

use std::fmt;

use crate::observe;
use crate::sync::Arc;

use super::event::{FallbackEvent, FallbackListeners};
use super::{Cause, Degraded, FallbackOn, Mark};

/// What every service made by one `layer` call shares: where the answer comes
/// from, which failures it covers, the mark and who listens.
pub(crate) struct FallbackCore<B, C, M> {
    /// std's `Arc`, as every [`Degraded`] mark carries a clone of it.
    pub(super) name: std::sync::Arc<str>,
    pub(super) fallback: B,
    pub(super) on: FallbackOn<C>,
    mark: M,
    listeners: Arc<FallbackListeners>,
}

impl<B, C, M> FallbackCore<B, C, M> {
    pub(super) fn new(
        name: &str,
        fallback: B,
        on: FallbackOn<C>,
        mark: M,
        listeners: Arc<FallbackListeners>,
    ) -> Self {
        Self {
            name: std::sync::Arc::from(name),
            fallback,
            on,
            mark,
            listeners,
        }
    }

    /// Counts, reports and marks a degraded answer.
    pub(super) fn taken<T>(&self, cause: Cause, response: &mut T)
    where
        M: Mark<T>,
    {
        metrics::counter!(observe::FALLBACK_TAKEN_TOTAL, "name" => self.name.to_string(), "cause" => cause.as_str())
            .increment(1);
        #[cfg(feature = "tracing")]
        super::trace::taken(&self.name, cause);
        self.notify(FallbackEvent::Taken {
            name: &self.name,
            cause,
        });
        self.mark
            .mark(response, &Degraded::new(self.name.clone(), cause));
    }

    /// Counts and reports a fallback that failed.
    pub(super) fn failed(&self, cause: Cause) {
        metrics::counter!(observe::FALLBACK_FAILED_TOTAL, "name" => self.name.to_string(), "cause" => cause.as_str())
            .increment(1);
        #[cfg(feature = "tracing")]
        super::trace::failed(&self.name, cause);
        self.notify(FallbackEvent::Failed {
            name: &self.name,
            cause,
        });
    }

    fn notify(&self, event: FallbackEvent<'_>) {
        if !self.listeners.is_empty() {
            self.listeners.notify(|listener| listener(&event));
        }
    }
}

impl<B: fmt::Debug, C: fmt::Debug, M: fmt::Debug> fmt::Debug for FallbackCore<B, C, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FallbackCore")
            .field("name", &self.name)
            .field("fallback", &self.fallback)
            .field("on", &self.on)
            .field("mark", &self.mark)
            .field("listeners", &self.listeners.len())
            .finish()
    }
}
