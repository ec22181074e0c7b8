//! The breaker's handle: admits calls, reports, and takes manual control.

use std::fmt;
use std::future::Future;

use crate::classify::{Classify, FailOnError};
use crate::error::BoxError;
use crate::sync::Arc;

use super::admit::PermitKind;
use super::config::BreakerConfig;
use super::core::BreakerCore;
use super::error::BreakerOpen;
use super::event::BreakerEvent;
use super::metrics::BreakerMetrics;
use super::permit::{BreakerPermit, StripeHandle, NOT_TIMED, PROBE};
use super::state::State;

/// A circuit breaker, shared by every clone.
///
/// This is the handle: it admits calls ([`try_acquire`](Self::try_acquire),
/// [`call`](Self::call)), reports ([`state`](Self::state),
/// [`metrics`](Self::metrics), [`on_event`](Self::on_event)) and takes manual
/// control ([`reset`](Self::reset), [`force_open`](Self::force_open),
/// [`disable`](Self::disable), [`metrics_only`](Self::metrics_only)). Wrap a
/// tower service with [`BreakerLayer`](super::BreakerLayer).
///
/// # Clone
///
/// Cloning is cheap and every clone is the same breaker.
///
/// ```
/// use seawall::breaker::{Breaker, BreakerConfig, State};
/// use seawall::classify::Outcome;
///
/// let config = BreakerConfig::builder()
///     .count_window(4)
///     .minimum_calls(4)
///     .build()?;
/// let breaker = Breaker::new(config);
/// for _ in 0..2 {
///     breaker.try_acquire()?.record(Outcome::Success);
///     breaker.try_acquire()?.record(Outcome::Failure);
/// }
/// assert_eq!(breaker.state(), State::Open);
/// assert!(breaker.try_acquire().is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Breaker {
    // Held directly rather than behind one more `Arc`: admission reads the state
    // word through `core` and picks a handle from `stripes` on every call, and each
    // extra pointer hop there is a dependent load on the hot path.
    core: Arc<BreakerCore>,
    stripes: Arc<[Arc<StripeHandle>]>,
}

impl Breaker {
    /// A breaker with `config`.
    ///
    /// ```
    /// use seawall::breaker::{Breaker, BreakerConfig};
    ///
    /// let breaker = Breaker::new(BreakerConfig::builder().name("payments").build()?);
    /// assert_eq!(breaker.name(), "payments");
    /// # Ok::<(), seawall::ConfigError>(())
    /// ```
    pub fn new(config: BreakerConfig) -> Self {
        let stripe_count = crate::sync::stripe_count();
        let core = BreakerCore::new(config, stripe_count);
        let stripes = (0..stripe_count)
            .map(|index| {
                Arc::new(StripeHandle {
                    core: core.clone(),
                    index,
                })
            })
            .collect::<Vec<_>>();
        Self {
            core,
            stripes: crate::sync::arc_from_box(stripes.into_boxed_slice()),
        }
    }

    #[inline]
    pub(super) fn core(&self) -> &BreakerCore {
        &self.core
    }

    /// Asks to make a call.
    ///
    /// # Errors
    ///
    /// [`BreakerOpen`] when the breaker refuses the call.
    ///
    /// ```
    /// use seawall::breaker::{Breaker, BreakerConfig};
    ///
    /// let breaker = Breaker::new(BreakerConfig::default());
    /// breaker.try_acquire()?.success();
    /// breaker.force_open();
    /// assert!(breaker.try_acquire().is_err());
    /// # Ok::<(), seawall::breaker::error::BreakerOpen>(())
    /// ```
    // Always inlined: out of line, the permit comes back through memory and is
    // copied at once with wider loads than it was stored with, which stalls.
    #[inline(always)]
    pub fn try_acquire(&self) -> Result<BreakerPermit, BreakerOpen> {
        let (kind, ticket) = self.core().admit()?;
        Ok(self.permit_for(kind, ticket))
    }

    /// The permit for a call admitted as `kind` with `ticket`.
    #[inline(always)]
    pub(super) fn permit_for(&self, kind: PermitKind, ticket: u64) -> BreakerPermit {
        if kind == PermitKind::Untracked {
            // Disabled: nothing will be recorded, so nothing needs to be held.
            return BreakerPermit {
                stripe: None,
                ticket: 0,
                started: NOT_TIMED,
            };
        }
        let stripes = &self.stripes;
        let stripe = stripes[crate::sync::thread_stripe(stripes.len())].clone();
        let started = if self.core().measures_duration() {
            self.core().config.clock.now_nanos().min(NOT_TIMED - 1)
        } else {
            NOT_TIMED
        };
        let probe = if kind == PermitKind::Probe { PROBE } else { 0 };
        BreakerPermit {
            stripe: Some(stripe),
            ticket: ticket | probe,
            started,
        }
    }

    /// Runs `future` if the breaker admits it, and records its outcome with the
    /// default classifier.
    ///
    /// # Errors
    ///
    /// The future's own error, or [`BreakerOpen`] (both boxed; tell them apart
    /// with [`ErrorKind::of`](crate::ErrorKind::of)).
    ///
    /// ```
    /// use seawall::breaker::{Breaker, BreakerConfig};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), seawall::BoxError> {
    /// let breaker = Breaker::new(BreakerConfig::default());
    /// let answer = breaker.call(async { Ok::<_, std::io::Error>(42) }).await?;
    /// assert_eq!(answer, 42);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn call<F, T, E>(&self, future: F) -> Result<T, BoxError>
    where
        F: Future<Output = Result<T, E>>,
        E: Into<BoxError> + 'static,
    {
        self.call_with(FailOnError, future).await
    }

    /// Like [`call`](Self::call), classifying the result with `classifier`.
    ///
    /// # Errors
    ///
    /// As [`call`](Self::call).
    ///
    /// ```
    /// use seawall::breaker::{Breaker, BreakerConfig};
    /// use seawall::classify::Outcome;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let breaker = Breaker::new(BreakerConfig::default());
    /// // A "not found" is the caller's problem, not the dependency's.
    /// let not_found = |result: &Result<u16, std::io::Error>| match result {
    ///     Ok(404) => Outcome::Ignored,
    ///     Ok(_) => Outcome::Success,
    ///     Err(_) => Outcome::Failure,
    /// };
    /// let status = breaker.call_with(not_found, async { Ok(404) }).await.unwrap();
    /// assert_eq!((status, breaker.metrics().calls), (404, 0));
    /// # }
    /// ```
    pub async fn call_with<C, F, T, E>(&self, classifier: C, future: F) -> Result<T, BoxError>
    where
        C: Classify<T, E>,
        F: Future<Output = Result<T, E>>,
        E: Into<BoxError>,
    {
        let permit = self.try_acquire()?;
        let result = future.await;
        permit.record(classifier.classify(&result));
        result.map_err(Into::into)
    }

    /// The current state.
    ///
    /// ```
    /// use seawall::breaker::{Breaker, BreakerConfig, State};
    ///
    /// let breaker = Breaker::new(BreakerConfig::default());
    /// assert_eq!(breaker.state(), State::Closed);
    /// ```
    pub fn state(&self) -> State {
        self.core().state()
    }

    /// The breaker's name.
    ///
    /// ```
    /// use seawall::breaker::{Breaker, BreakerConfig};
    ///
    /// assert_eq!(Breaker::new(BreakerConfig::default()).name(), "default");
    /// ```
    pub fn name(&self) -> &str {
        self.core().config.name()
    }

    /// The configuration the breaker was built with.
    ///
    /// ```
    /// use seawall::breaker::{Breaker, BreakerConfig, SlidingWindow};
    ///
    /// let breaker = Breaker::new(BreakerConfig::builder().count_window(20).build()?);
    /// assert_eq!(breaker.config().sliding_window(), SlidingWindow::Count { size: 20 });
    /// # Ok::<(), seawall::ConfigError>(())
    /// ```
    pub fn config(&self) -> &BreakerConfig {
        &self.core().config
    }

    /// A snapshot of the breaker's metrics. Never changes the state.
    ///
    /// ```
    /// use seawall::breaker::{Breaker, BreakerConfig};
    ///
    /// let breaker = Breaker::new(BreakerConfig::default());
    /// breaker.force_open();
    /// let _ = breaker.try_acquire();
    /// assert_eq!(breaker.metrics().not_permitted_calls, 1);
    /// ```
    pub fn metrics(&self) -> BreakerMetrics {
        self.core().metrics_snapshot()
    }

    /// Calls `listener` for every event from now on. A panicking listener is
    /// caught and does not disturb the breaker.
    ///
    /// With one registered, every call is recorded on the path that builds
    /// events, which costs more than the lock-free success path; listen to
    /// transitions alone with [`on_state_transition`](Self::on_state_transition).
    ///
    /// ```
    /// use seawall::breaker::{Breaker, BreakerConfig, BreakerEvent};
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    ///
    /// let breaker = Breaker::new(BreakerConfig::default());
    /// let recorded = Arc::new(AtomicUsize::new(0));
    /// let count = recorded.clone();
    /// breaker.on_event(move |event: &BreakerEvent<'_>| {
    ///     if let BreakerEvent::CallRecorded { .. } = event {
    ///         count.fetch_add(1, Ordering::Relaxed);
    ///     }
    /// });
    /// breaker.try_acquire().unwrap().success();
    /// assert_eq!(recorded.load(Ordering::Relaxed), 1);
    /// ```
    pub fn on_event<F>(&self, listener: F)
    where
        F: Fn(&BreakerEvent<'_>) + Send + Sync + 'static,
    {
        self.core().add_listener(Box::new(listener));
    }

    /// Calls `listener` for every state transition from now on, and for
    /// nothing else. Unlike [`on_event`](Self::on_event) it leaves the call
    /// path as it is: no event is built per call. A panicking listener is
    /// caught.
    ///
    /// ```
    /// use seawall::breaker::{Breaker, BreakerConfig, BreakerEvent, State};
    /// use std::sync::{Arc, Mutex};
    ///
    /// let breaker = Breaker::new(BreakerConfig::default());
    /// let seen = Arc::new(Mutex::new(Vec::new()));
    /// let log = seen.clone();
    /// breaker.on_state_transition(move |event: &BreakerEvent<'_>| {
    ///     if let BreakerEvent::StateTransition { to, .. } = event {
    ///         log.lock().unwrap().push(*to);
    ///     }
    /// });
    /// breaker.try_acquire().unwrap().success(); // not a transition: not seen
    /// breaker.force_open();
    /// breaker.reset();
    /// assert_eq!(*seen.lock().unwrap(), vec![State::ForcedOpen, State::Closed]);
    /// ```
    pub fn on_state_transition<F>(&self, listener: F)
    where
        F: Fn(&BreakerEvent<'_>) + Send + Sync + 'static,
    {
        self.core().add_transition_listener(Box::new(listener));
    }

    /// This breaker's shared state, weakly: tells it apart from every other
    /// breaker without keeping it alive (a health registry listens to each
    /// breaker once).
    #[cfg(all(feature = "health", not(loom)))]
    pub(crate) fn identity(&self) -> std::sync::Weak<dyn std::any::Any + Send + Sync> {
        let core: Arc<dyn std::any::Any + Send + Sync> = self.core.clone();
        Arc::downgrade(&core)
    }

    /// Closes the breaker with a fresh window, whatever its state, and voids
    /// any pending timer.
    ///
    /// ```
    /// use seawall::breaker::{Breaker, BreakerConfig, State};
    ///
    /// let breaker = Breaker::new(BreakerConfig::default());
    /// breaker.force_open();
    /// breaker.reset();
    /// assert_eq!(breaker.state(), State::Closed);
    /// ```
    pub fn reset(&self) {
        self.core().force(State::Closed);
    }

    /// Opens the breaker until [`reset`](Self::reset) or another manual change.
    ///
    /// ```
    /// use seawall::breaker::{Breaker, BreakerConfig};
    ///
    /// let breaker = Breaker::new(BreakerConfig::default());
    /// breaker.force_open();
    /// assert_eq!(breaker.try_acquire().unwrap_err().retry_after(), None);
    /// ```
    pub fn force_open(&self) {
        self.core().force(State::ForcedOpen);
    }

    /// Lets every call through and records nothing.
    ///
    /// ```
    /// use seawall::breaker::{Breaker, BreakerConfig};
    ///
    /// let breaker = Breaker::new(BreakerConfig::default());
    /// breaker.disable();
    /// breaker.try_acquire().unwrap().failure();
    /// assert_eq!(breaker.metrics().calls, 0);
    /// ```
    pub fn disable(&self) {
        self.core().force(State::Disabled);
    }

    /// Lets every call through and records it, but never trips.
    ///
    /// ```
    /// use seawall::breaker::{Breaker, BreakerConfig, State};
    ///
    /// let breaker = Breaker::new(BreakerConfig::builder().count_window(2).build()?);
    /// breaker.metrics_only();
    /// breaker.try_acquire()?.failure();
    /// breaker.try_acquire()?.failure();
    /// assert_eq!((breaker.state(), breaker.metrics().failed_calls), (State::MetricsOnly, 2));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn metrics_only(&self) {
        self.core().force(State::MetricsOnly);
    }
}

impl fmt::Debug for Breaker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Breaker")
            .field("name", &self.name())
            .field("state", &self.state())
            .finish()
    }
}
