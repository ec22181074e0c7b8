//! A circuit breaker: stop calling a dependency that is failing, and find out
//! cheaply when it has recovered.
//!
//! # Why
//!
//! When a dependency fails, every caller that keeps calling it waits for its
//! timeouts, holds connections and threads, and adds load to something already
//! down: one failing service drags its callers down with it. A breaker watches
//! the outcomes of recent calls and, once too many fail (or are too slow),
//! *opens*: calls fail at once with [`BreakerOpen`] without
//! touching the dependency. After a wait it turns *half-open* and lets a few
//! probes through; if they succeed it *closes* again, if not it opens for
//! another wait.
//!
//! ```text
//!            failure or slow rate >= threshold
//!   Closed ───────────────────────────────────▶ Open ◀─────┐
//!     ▲                                          │         │ probes fail
//!     │ probes succeed         wait elapsed      ▼         │
//!     └──────────────────────────────────── HalfOpen ──────┘
//! ```
//!
//! Beside these, a handle can force the breaker open, disable it (everything
//! passes, nothing is recorded) or run it in metrics-only mode (everything
//! passes, everything is recorded, it never trips).
//!
//! # Semantics
//!
//! seawall follows resilience4j where that is precise:
//!
//! - Both thresholds trip at `>=`; a call is slow when its duration is strictly
//!   greater than the slow-call threshold; a slow failure counts as failed and
//!   as slow.
//! - Rates are undefined, not 0, until the window holds the minimum number of
//!   calls; a count window's minimum is capped at its size; half-open decides
//!   over `min(minimum calls, permitted probes)`.
//! - Thresholds are evaluated when an outcome is recorded. Reading state or
//!   metrics never changes them, except that open becomes half-open at the first
//!   admission check strictly after the open wait (or exactly at it, with
//!   [`eager_half_open`](BreakerConfigBuilder::eager_half_open)).
//! - Each state starts with fresh metrics; the window that tripped the breaker
//!   stays readable through [`Breaker::metrics`] while it is open.
//! - A time window buckets a call by when it finished and drops it once its
//!   bucket has slid out, so a call counts for between `D - D/B` and `D` after
//!   it finished (window duration `D`, `B` buckets).
//! - Open waits and half-open deadlines have millisecond resolution.
//!
//! and deliberately differs where resilience4j surprises its users:
//!
//! - Outcomes recorded under an older state (a slow call admitted before a
//!   transition, finishing after it) are dropped; resilience4j counts late
//!   half-open results into the new state.
//! - [`Breaker::reset`] and every forced transition void any pending timer;
//!   resilience4j can flip a freshly reset breaker to open from a half-open
//!   timer left running.
//! - In consecutive-failures mode the breaker also opens after N failures in a
//!   row, whatever the rates; any success ends the run.
//!
//! # Cost
//!
//! Admission in the closed state is one atomic load. A fast success adds one
//! to the calling thread's own stripe; only failures, slow calls and the
//! successes that could decide the state (those recorded while the window is
//! below its minimum number of calls, as after each reset) take the window's
//! short lock. Once the window holds its minimum: no lock, no allocation and
//! no clock read on the closed success path with the default configuration;
//! slow-call detection reads the clock at the start and end of each call, and
//! a time window at the end.
//!
//! # Without tower
//!
//! [`Breaker::try_acquire`] gives a [`BreakerPermit`] or a rejection; the permit
//! records the outcome. [`Breaker::call`] wraps any future.
//!
//! ```
//! use seawall::breaker::{Breaker, BreakerConfig};
//! use seawall::classify::Outcome;
//!
//! let breaker = Breaker::new(BreakerConfig::default());
//! match breaker.try_acquire() {
//!     Ok(permit) => {
//!         let delivered = true; // handle a message, call a dependency, ...
//!         permit.record(if delivered { Outcome::Success } else { Outcome::Failure });
//!     }
//!     Err(open) => println!("dependency is down, retry in {:?}", open.retry_after()),
//! }
//! ```

pub mod error;
pub mod future;

mod config;
mod keyed;
mod layer;
#[cfg(all(test, loom))]
mod loom_tests;
mod state;
mod window;

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tower_service::Service;

use crate::classify::{Classify, FailOnError, Outcome};
use crate::error::BoxError;
use crate::observe::Event;

pub use self::config::{
    BreakerConfig, BreakerConfigBuilder, HalfOpenTimeout, OpenWait, SlidingWindow,
};
pub use self::keyed::{KeyedBreaker, KeyedBreakerLayer, KeyedBreakerService};
pub use self::layer::BreakerLayer;

use self::error::BreakerOpen;
use self::future::ResponseFuture;
use self::state::{Admission, Core};

/// The state of a circuit breaker.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum State {
    /// Calls pass and are counted.
    Closed = 0,
    /// Calls fail fast until the open wait ends.
    Open = 1,
    /// A limited number of probes pass; their outcome decides.
    HalfOpen = 2,
    /// Calls fail fast until the breaker is reset.
    ForcedOpen = 3,
    /// Calls pass and nothing is recorded.
    Disabled = 4,
    /// Calls pass and are counted, and the breaker never trips.
    MetricsOnly = 5,
}

impl State {
    #[inline]
    pub(crate) fn from_bits(bits: u64) -> Self {
        match bits {
            0 => Self::Closed,
            1 => Self::Open,
            2 => Self::HalfOpen,
            3 => Self::ForcedOpen,
            4 => Self::Disabled,
            _ => Self::MetricsOnly,
        }
    }

    /// The value of the `seawall_breaker_state` gauge for this state.
    pub fn as_gauge(self) -> f64 {
        f64::from(self as u8)
    }

    /// The state's name in `snake_case`, as used in metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::Open => "open",
            Self::HalfOpen => "half_open",
            Self::ForcedOpen => "forced_open",
            Self::Disabled => "disabled",
            Self::MetricsOnly => "metrics_only",
        }
    }

    /// Whether calls are counted in the sliding window in this state.
    pub(crate) fn records_window(self) -> bool {
        matches!(self, Self::Closed | Self::MetricsOnly)
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A snapshot of a breaker's metrics, from [`Breaker::metrics`].
///
/// Closed or metrics-only, it describes the sliding window; open, the window
/// that tripped the breaker; half-open, the probes completed so far.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct BreakerMetrics {
    /// The state when the snapshot was taken.
    pub state: State,
    /// Calls counted.
    pub calls: u64,
    /// Of which failed.
    pub failed_calls: u64,
    /// Of which slow.
    pub slow_calls: u64,
    /// `failed_calls / calls`, once the minimum number of calls is reached.
    pub failure_rate: Option<f64>,
    /// `slow_calls / calls`, once the minimum number of calls is reached.
    pub slow_call_rate: Option<f64>,
    /// Calls refused since the breaker was built.
    pub not_permitted_calls: u64,
    /// Open: how long until the next admission check may let a probe through.
    pub time_until_probe: Option<Duration>,
}

/// A circuit breaker, shared by every clone.
///
/// This is the handle: it admits calls ([`try_acquire`](Self::try_acquire),
/// [`call`](Self::call)), reports ([`state`](Self::state),
/// [`metrics`](Self::metrics), [`on_event`](Self::on_event)) and takes manual
/// control ([`reset`](Self::reset), [`force_open`](Self::force_open),
/// [`disable`](Self::disable), [`metrics_only`](Self::metrics_only)). Wrap a
/// tower service with [`BreakerLayer`].
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
    core: Arc<Core>,
    stripes: Arc<[Arc<StripeHandle>]>,
}

/// What a permit holds: the core and which stripe to count on.
///
/// Each stripe has its own reference-counted handle on its own cache lines, so
/// the future of a call clones an `Arc` that only its own thread touches: a
/// shared reference count would itself be a cache line every core fights over.
#[repr(align(128))]
struct StripeHandle {
    core: Arc<Core>,
    index: usize,
}

impl Breaker {
    /// A breaker with `config`.
    pub fn new(config: BreakerConfig) -> Self {
        let stripe_count = crate::sync::stripe_count();
        let core = Core::new(config, stripe_count);
        let stripes = (0..stripe_count)
            .map(|index| {
                Arc::new(StripeHandle {
                    core: core.clone(),
                    index,
                })
            })
            .collect();
        Self { core, stripes }
    }

    #[inline]
    fn core(&self) -> &Core {
        &self.core
    }

    /// Asks to make a call.
    ///
    /// # Errors
    ///
    /// [`BreakerOpen`] when the breaker refuses the call.
    // Always inlined: out of line, the permit comes back through memory and is
    // copied at once with wider loads than it was stored with, which stalls.
    #[inline(always)]
    pub fn try_acquire(&self) -> Result<BreakerPermit, BreakerOpen> {
        let (admission, generation) = self.core().admit()?;
        Ok(self.permit_for(admission, generation))
    }

    /// The permit for a call admitted as `admission` under `generation`.
    #[inline(always)]
    fn permit_for(&self, admission: Admission, generation: u16) -> BreakerPermit {
        if admission == Admission::Untracked {
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
        let probe = if admission == Admission::Probe {
            PROBE
        } else {
            0
        };
        BreakerPermit {
            stripe: Some(stripe),
            ticket: u64::from(generation) | probe,
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
    pub fn state(&self) -> State {
        self.core().state()
    }

    /// The breaker's name.
    pub fn name(&self) -> &str {
        self.core().config.name()
    }

    /// The configuration the breaker was built with.
    pub fn config(&self) -> &BreakerConfig {
        &self.core().config
    }

    /// A snapshot of the breaker's metrics. Never changes the state.
    pub fn metrics(&self) -> BreakerMetrics {
        self.core().metrics()
    }

    /// Calls `listener` for every event from now on. A panicking listener is
    /// caught and does not disturb the breaker.
    pub fn on_event<F>(&self, listener: F)
    where
        F: Fn(&Event<'_>) + Send + Sync + 'static,
    {
        self.core().add_listener(Arc::new(listener));
    }

    /// Calls `listener` for every state transition from now on, and for
    /// nothing else. Unlike [`on_event`](Self::on_event) it leaves the call
    /// path as it is: no event is built per call. A panicking listener is
    /// caught.
    ///
    /// ```
    /// use seawall::breaker::{Breaker, BreakerConfig, State};
    /// use seawall::observe::Event;
    /// use std::sync::{Arc, Mutex};
    ///
    /// let breaker = Breaker::new(BreakerConfig::default());
    /// let seen = Arc::new(Mutex::new(Vec::new()));
    /// let log = seen.clone();
    /// breaker.on_state_transition(move |event: &Event<'_>| {
    ///     if let Event::StateTransition { to, .. } = event {
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
        F: Fn(&Event<'_>) + Send + Sync + 'static,
    {
        self.core().add_transition_listener(Arc::new(listener));
    }

    /// Closes the breaker with a fresh window, whatever its state, and voids
    /// any pending timer.
    pub fn reset(&self) {
        self.core().force(State::Closed);
    }

    /// Opens the breaker until [`reset`](Self::reset) or another manual change.
    pub fn force_open(&self) {
        self.core().force(State::ForcedOpen);
    }

    /// Lets every call through and records nothing.
    pub fn disable(&self) {
        self.core().force(State::Disabled);
    }

    /// Lets every call through and records it, but never trips.
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

/// Permission to make one call, from [`Breaker::try_acquire`].
///
/// Record the outcome with [`record`](Self::record) (or [`success`](Self::success)
/// / [`failure`](Self::failure)). A permit dropped without a record counts as
/// ignored and, half-open, gives its probe slot back, so a cancelled call
/// never wedges the breaker.
#[must_use = "a permit records nothing unless its outcome is recorded"]
pub struct BreakerPermit {
    /// `None` once recorded, or when the breaker is disabled.
    stripe: Option<Arc<StripeHandle>>,
    // Whole words only: a permit is written and read back at once on the hot path
    // (service, then future, then the record), and a load that spans several
    // narrower stores cannot be forwarded from them and stalls the core.
    /// The generation the call was admitted under; `PROBE` if half-open.
    ticket: u64,
    /// Start in clock nanoseconds, or `NOT_TIMED`.
    started: u64,
}

const PROBE: u64 = 1 << 16;
const NOT_TIMED: u64 = u64::MAX;

impl BreakerPermit {
    /// Records how the call went; its duration is measured when the breaker
    /// detects slow calls.
    #[inline]
    pub fn record(mut self, outcome: Outcome) {
        self.finish(outcome);
    }

    /// Records a success.
    #[inline]
    pub fn success(self) {
        self.record(Outcome::Success);
    }

    /// Records a failure.
    #[inline]
    pub fn failure(self) {
        self.record(Outcome::Failure);
    }

    pub(crate) fn admission(&self) -> Admission {
        match (self.stripe.is_some(), self.ticket & PROBE != 0) {
            (false, _) => Admission::Untracked,
            (true, false) => Admission::Window,
            (true, true) => Admission::Probe,
        }
    }

    /// The generation the call was admitted under.
    pub(crate) fn generation(&self) -> u16 {
        self.ticket as u16
    }

    #[inline(always)]
    fn finish(&mut self, outcome: Outcome) {
        if let Some(stripe) = self.stripe.take() {
            let admission = if self.ticket & PROBE != 0 {
                Admission::Probe
            } else {
                Admission::Window
            };
            stripe.core.record(
                stripe.index,
                admission,
                self.ticket as u16,
                outcome,
                (self.started != NOT_TIMED).then_some(self.started),
            );
        }
    }
}

impl Drop for BreakerPermit {
    #[inline]
    fn drop(&mut self) {
        self.finish(Outcome::Ignored);
    }
}

impl fmt::Debug for BreakerPermit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BreakerPermit")
            .field("admission", &self.admission())
            .field("generation", &self.generation())
            .finish_non_exhaustive()
    }
}

/// A tower service behind a circuit breaker.
///
/// Admission is decided in `poll_ready` and kept until `call`: an open breaker
/// reports ready at once, without polling the inner service, and the call fails
/// fast with [`BreakerOpen`]; a half-open breaker's probe slot is taken there
/// and held until the call ends. A permit is kept across repeated
/// `poll_ready`s; a refusal reserves nothing and is decided again by each. A
/// call's duration, for slow-call detection, runs from `call` to the end of its
/// future, so time spent waiting for the inner service to become ready does not
/// count. A clone starts without an admission.
///
/// # Errors
///
/// [`BreakerOpen`] or the inner service's error, boxed.
pub struct BreakerService<S, C = FailOnError> {
    inner: S,
    breaker: Breaker,
    classifier: C,
    // What `poll_ready` decided for the next `call`, in separate fields rather than
    // one enum: a permit written in `poll_ready` and copied out in `call` right
    // after is read back with wider loads than it was stored with, which stalls.
    /// A closed (or disabled) admission: it holds nothing, so it is kept as one
    /// word and the permit is made in `call`, straight into the future.
    /// `NOT_ADMITTED` when there is none.
    admitted: u64,
    /// A half-open probe's permit, which holds a probe slot until the call ends.
    probe: Option<BreakerPermit>,
    /// A rejection.
    rejected: Option<BreakerOpen>,
}

const NOT_ADMITTED: u64 = u64::MAX;
const UNTRACKED: u64 = 1 << 17;

impl<S> BreakerService<S> {
    /// Wraps `inner` in `breaker`, with the default classifier.
    pub fn new(inner: S, breaker: Breaker) -> Self {
        Self::with_classifier(inner, breaker, FailOnError)
    }
}

impl<S, C> BreakerService<S, C> {
    /// Wraps `inner` in `breaker`, classifying results with `classifier`.
    pub fn with_classifier(inner: S, breaker: Breaker, classifier: C) -> Self {
        Self {
            inner,
            breaker,
            classifier,
            admitted: NOT_ADMITTED,
            probe: None,
            rejected: None,
        }
    }

    /// The breaker this service reports to.
    pub fn breaker(&self) -> &Breaker {
        &self.breaker
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The inner service, unwrapped.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: Clone, C: Clone> Clone for BreakerService<S, C> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            breaker: self.breaker.clone(),
            classifier: self.classifier.clone(),
            admitted: NOT_ADMITTED,
            probe: None,
            rejected: None,
        }
    }
}

impl<S: fmt::Debug, C> fmt::Debug for BreakerService<S, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreaker")
            .field("inner", &self.inner)
            .field("breaker", &self.breaker)
            .finish_non_exhaustive()
    }
}

impl<S, C, Request> Service<Request> for BreakerService<S, C>
where
    S: Service<Request>,
    S::Error: Into<BoxError>,
    C: Classify<S::Response, S::Error> + Clone,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S::Future, C>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        if self.admitted == NOT_ADMITTED && self.probe.is_none() {
            // A refusal reserves nothing: decide again, so that a reset or the end
            // of the open wait since the last poll is seen, and `retry_after` is
            // current.
            self.rejected = None;
            match self.breaker.core().admit() {
                Ok((Admission::Probe, generation)) => {
                    self.probe = Some(self.breaker.permit_for(Admission::Probe, generation));
                }
                Ok((admission, generation)) => {
                    let untracked = if admission == Admission::Untracked {
                        UNTRACKED
                    } else {
                        0
                    };
                    self.admitted = u64::from(generation) | untracked;
                }
                Err(open) => {
                    // Fail fast: the call will be refused, so the inner service need not
                    // be ready.
                    self.rejected = Some(open);
                    return Poll::Ready(Ok(()));
                }
            }
        }
        match self.inner.poll_ready(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Ok(())) => Poll::Ready(Ok(())),
            Poll::Ready(Err(err)) => {
                // The dependency could not even take a call: that is its failure.
                if let Some(permit) = self.take_permit() {
                    permit.record(Outcome::Failure);
                }
                Poll::Ready(Err(err.into()))
            }
        }
    }

    #[inline]
    fn call(&mut self, request: Request) -> Self::Future {
        if let Some(permit) = self.take_permit() {
            return ResponseFuture::called(
                self.inner.call(request),
                permit,
                self.classifier.clone(),
            );
        }
        let open = self
            .rejected
            .take()
            .expect("poll_ready must be called (and return Ready(Ok)) before call");
        ResponseFuture::rejected(open)
    }
}

impl<S, C> BreakerService<S, C> {
    /// The permit for the admission `poll_ready` took, if it admitted the call.
    #[inline(always)]
    fn take_permit(&mut self) -> Option<BreakerPermit> {
        if self.admitted != NOT_ADMITTED {
            let admitted = std::mem::replace(&mut self.admitted, NOT_ADMITTED);
            let admission = if admitted & UNTRACKED != 0 {
                Admission::Untracked
            } else {
                Admission::Window
            };
            return Some(self.breaker.permit_for(admission, admitted as u16));
        }
        self.probe.take()
    }
}
