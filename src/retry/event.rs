//! What a retry layer tells its listeners.

use std::time::Duration;

use crate::observe::Listeners;

/// Something a retry layer did with a request that failed in a retryable way.
///
/// Sent to the listeners given to the layer's config with
/// [`RetryConfigBuilder::on_event`](super::RetryConfigBuilder::on_event). A
/// first attempt that is accepted sends none, and with no listener registered
/// no event is built.
///
/// ```
/// use seawall::retry::{RetryConfig, RetryEvent};
/// use std::sync::{Arc, Mutex};
///
/// let scheduled = Arc::new(Mutex::new(Vec::new()));
/// let log = scheduled.clone();
/// let config = RetryConfig::builder()
///     .on_event(move |event: &RetryEvent<'_>| {
///         if let RetryEvent::Scheduled { attempt, delay, .. } = event {
///             log.lock().unwrap().push((*attempt, *delay));
///         }
///     })
///     .build()?;
/// # drop(config);
/// # Ok::<(), seawall::ConfigError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RetryEvent<'a> {
    /// The layer will retry a request after `delay`.
    Scheduled {
        /// The retry layer's name.
        name: &'a str,
        /// The attempt that failed (1 for the first).
        attempt: u32,
        /// The wait before the next attempt.
        delay: Duration,
        /// `"error"` or `"response"`: what was retried.
        reason: &'static str,
        /// Whether the server chose the delay (`Retry-After`, gRPC pushback).
        pushback: bool,
    },
    /// The layer's budget refused a retry; the caller gets
    /// [`BudgetExhausted`](super::error::BudgetExhausted).
    BudgetExhausted {
        /// The retry layer's name.
        name: &'a str,
        /// The attempt that failed.
        attempt: u32,
    },
    /// The layer gave up on a request that failed in a retryable way.
    GaveUp {
        /// The retry layer's name.
        name: &'a str,
        /// Attempts made.
        attempts: u32,
        /// `"max_attempts"`, `"deadline"`, `"not_replayable"` or `"pushback"`.
        reason: &'static str,
    },
}

/// The listeners of one retry layer (shared by its config's clones).
pub(crate) type RetryListeners = Listeners<dyn Fn(&RetryEvent<'_>) + Send + Sync>;
