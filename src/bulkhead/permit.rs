//! A slot of a bulkhead, held until dropped.

use std::fmt;

use crate::sync::Arc;

use super::slots::BulkheadCore;

/// One slot of a [`Bulkhead`](super::Bulkhead), held until dropped.
///
/// Dropping it, however that happens (the call finished, failed, was
/// cancelled, or panicked and unwound), gives the slot back, to the first
/// waiter if anyone waits.
///
/// ```
/// use seawall::bulkhead::{Bulkhead, BulkheadConfig};
///
/// let bulkhead = Bulkhead::new(BulkheadConfig::builder().max_concurrent_calls(1).build()?);
/// let permit = bulkhead.try_acquire()?;
/// assert_eq!(bulkhead.in_flight(), 1);
/// drop(permit);
/// assert_eq!(bulkhead.in_flight(), 0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "the slot is given back as soon as the permit is dropped"]
pub struct BulkheadPermit {
    core: Arc<BulkheadCore>,
}

impl BulkheadPermit {
    #[inline]
    pub(crate) fn new(core: Arc<BulkheadCore>) -> Self {
        Self { core }
    }
}

impl Drop for BulkheadPermit {
    #[inline]
    fn drop(&mut self) {
        self.core.release();
    }
}

impl fmt::Debug for BulkheadPermit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BulkheadPermit")
            .field("bulkhead", &self.core.config.name())
            .finish()
    }
}
