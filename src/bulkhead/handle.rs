//! The bulkhead's shared handle.

use std::fmt;
use std::future::Future;

use crate::error::BoxError;
use crate::sync::Arc;

use super::config::BulkheadConfig;
use super::error::BulkheadFull;
use super::event::BulkheadEvent;
use super::future::Acquire;
use super::slots::BulkheadCore;
use super::BulkheadPermit;

/// A bulkhead, shared by every clone.
///
/// This is the handle: it hands out slots ([`try_acquire`](Self::try_acquire),
/// [`acquire`](Self::acquire), [`call`](Self::call)) and reports
/// ([`in_flight`](Self::in_flight), [`rejected`](Self::rejected),
/// [`on_event`](Self::on_event)). Wrap a tower service with
/// [`BulkheadLayer`](super::BulkheadLayer).
///
/// # Clone
///
/// Cloning is cheap and every clone is the same bulkhead, with the same slots.
///
/// ```
/// use seawall::bulkhead::{Bulkhead, BulkheadConfig};
///
/// let bulkhead = Bulkhead::new(BulkheadConfig::builder().max_concurrent_calls(1).build()?);
/// let clone = bulkhead.clone();
/// let _permit = bulkhead.try_acquire()?;
/// assert_eq!(clone.in_flight(), 1);
/// assert!(clone.try_acquire().is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Bulkhead {
    core: Arc<BulkheadCore>,
}

impl Bulkhead {
    /// This bulkhead's shared state, weakly: tells it apart from every other
    /// bulkhead without keeping it alive (a health registry listens to each
    /// bulkhead once).
    #[cfg(all(feature = "health", not(loom)))]
    pub(crate) fn identity(&self) -> std::sync::Weak<dyn std::any::Any + Send + Sync> {
        let core: Arc<dyn std::any::Any + Send + Sync> = self.core.clone();
        Arc::downgrade(&core)
    }

    /// A bulkhead with `config`.
    pub fn new(config: BulkheadConfig) -> Self {
        Self {
            core: Arc::new(BulkheadCore::new(config)),
        }
    }

    /// Takes a free slot, never waiting (and never ahead of callers already
    /// waiting).
    ///
    /// # Errors
    ///
    /// [`BulkheadFull`] when no slot is free; it counts as a rejection.
    pub fn try_acquire(&self) -> Result<BulkheadPermit, BulkheadFull> {
        match self.take_free_slot() {
            Some(permit) => Ok(permit),
            None => {
                self.core.count_rejection();
                Err(BulkheadFull::new())
            }
        }
    }

    /// A free slot, never waiting and without counting a refusal when there
    /// is none: for a caller that will wait (or be refused) through
    /// [`acquire`](Self::acquire) next.
    #[inline]
    pub(super) fn take_free_slot(&self) -> Option<BulkheadPermit> {
        if self.core.try_acquire() {
            Some(BulkheadPermit::new(self.core.clone()))
        } else {
            None
        }
    }

    /// Takes a slot, waiting for one as configured: not at all by default,
    /// or in the bounded queue of
    /// [`wait_for_slot`](super::BulkheadConfigBuilder::wait_for_slot). Waiting needs
    /// a tokio runtime with its timer enabled.
    ///
    /// # Errors
    ///
    /// The future resolves to [`BulkheadFull`] when no slot is free and it
    /// cannot wait, the queue is full, or the wait runs out.
    pub fn acquire(&self) -> Acquire {
        Acquire::new(self.core.clone())
    }

    /// Runs `future` holding a slot, waiting for one as configured.
    ///
    /// # Errors
    ///
    /// The future's own error, or [`BulkheadFull`] (both boxed; tell them
    /// apart with [`ErrorKind::of`](crate::ErrorKind::of)).
    ///
    /// ```
    /// use seawall::bulkhead::{Bulkhead, BulkheadConfig};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), seawall::BoxError> {
    /// let bulkhead = Bulkhead::new(BulkheadConfig::default());
    /// let rows = bulkhead.call(async { Ok::<_, std::io::Error>(3) }).await?;
    /// assert_eq!(rows, 3);
    /// assert_eq!(bulkhead.in_flight(), 0);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn call<F, T, E>(&self, future: F) -> Result<T, BoxError>
    where
        F: Future<Output = Result<T, E>>,
        E: Into<BoxError>,
    {
        let _permit = self.acquire().await?;
        future.await.map_err(Into::into)
    }

    /// Slots taken now.
    pub fn in_flight(&self) -> u32 {
        self.core.in_flight() as u32
    }

    /// Callers waiting for a slot now.
    pub fn waiting(&self) -> u32 {
        self.core.waiting() as u32
    }

    /// The number of slots.
    pub fn max_concurrent_calls(&self) -> u32 {
        self.core.max() as u32
    }

    /// Calls refused since the bulkhead was built.
    pub fn rejected(&self) -> u64 {
        self.core.rejected()
    }

    /// The bulkhead's name.
    pub fn name(&self) -> &str {
        self.core.config.name()
    }

    /// The configuration the bulkhead was built with.
    pub fn config(&self) -> &BulkheadConfig {
        &self.core.config
    }

    /// Calls `listener` for every refusal ([`BulkheadEvent::Rejected`]) and
    /// every wait that ended ([`BulkheadEvent::Waited`]) from now on. A
    /// panicking listener is caught and does not disturb the bulkhead. With
    /// no listener registered, no event is built.
    ///
    /// ```
    /// use seawall::bulkhead::{Bulkhead, BulkheadConfig, BulkheadEvent};
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    ///
    /// let bulkhead = Bulkhead::new(BulkheadConfig::builder().max_concurrent_calls(1).build()?);
    /// let refused = Arc::new(AtomicUsize::new(0));
    /// let count = refused.clone();
    /// bulkhead.on_event(move |event: &BulkheadEvent<'_>| {
    ///     if let BulkheadEvent::Rejected { .. } = event {
    ///         count.fetch_add(1, Ordering::Relaxed);
    ///     }
    /// });
    /// let _held = bulkhead.try_acquire()?;
    /// assert!(bulkhead.try_acquire().is_err());
    /// assert_eq!(refused.load(Ordering::Relaxed), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn on_event<F>(&self, listener: F)
    where
        F: Fn(&BulkheadEvent<'_>) + Send + Sync + 'static,
    {
        self.core.add_listener(Box::new(listener));
    }
}

impl fmt::Debug for Bulkhead {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bulkhead")
            .field("name", &self.name())
            .field("in_flight", &self.in_flight())
            .field("max_concurrent_calls", &self.max_concurrent_calls())
            .finish()
    }
}
