//! What a bulkhead tells its listeners.

use std::time::Duration;

/// Something that happened in a [`Bulkhead`](super::Bulkhead): a refusal, or
/// the end of a wait for a slot. Register a listener with
/// [`Bulkhead::on_event`](super::Bulkhead::on_event).
///
/// ```
/// use seawall::bulkhead::{Bulkhead, BulkheadConfig, BulkheadEvent};
/// use std::sync::{Arc, Mutex};
///
/// let bulkhead = Bulkhead::new(BulkheadConfig::builder().name("db").max_concurrent_calls(1).build()?);
/// let seen = Arc::new(Mutex::new(Vec::new()));
/// let log = seen.clone();
/// bulkhead.on_event(move |event: &BulkheadEvent<'_>| {
///     if let BulkheadEvent::Rejected { name } = event {
///         log.lock().unwrap().push(name.to_string());
///     }
/// });
/// let _held = bulkhead.try_acquire()?;
/// assert!(bulkhead.try_acquire().is_err());
/// assert_eq!(*seen.lock().unwrap(), vec!["db".to_string()]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum BulkheadEvent<'a> {
    /// The bulkhead refused a call: no free slot, and it could not wait (or
    /// the wait queue was full).
    Rejected {
        /// The bulkhead's name.
        name: &'a str,
    },
    /// A caller stopped waiting for a slot, with one or without (its wait ran
    /// out; a [`Rejected`](Self::Rejected) follows).
    Waited {
        /// The bulkhead's name.
        name: &'a str,
        /// How long it waited.
        waited: Duration,
        /// Whether it got a slot.
        acquired: bool,
    },
}

/// The listener type a bulkhead keeps.
pub(crate) type BulkheadListener = dyn Fn(&BulkheadEvent<'_>) + Send + Sync;
