//! The shared core of one breaker: the lock-free state machine's data.
//!
//! Every handle, permit and service of one breaker points at one
//! [`BreakerCore`]. What the core does is spread over the files beside this
//! one, a concern each:
//!
//! - `admit.rs`: whether a call may go ahead (and half-open probe slots);
//! - `record.rs`: counting an outcome (the fast success, the window, probes);
//! - `transition.rs`: the one compare-and-swap every state change goes
//!   through, the trip, the eager timer, manual control;
//! - `metrics.rs`: the metric handles, and the [`BreakerMetrics`] snapshot
//!   this file fills in.
//!
//! The two atomic words are packed and unpacked by `state_word.rs` and
//! `probe_word.rs`; the closed window lives in `window.rs`.
//!
//! [`BreakerMetrics`]: super::BreakerMetrics

use std::fmt;
use std::time::Duration;

use crate::observe::Listeners;
#[cfg(not(loom))]
use crate::sync::Weak;
use crate::sync::{Arc, AtomicU64, Mutex, Ordering};

use super::config::BreakerConfig;
use super::event::{BreakerEvent, BreakerListener};
use super::metrics::{BreakerMetrics, MetricHandles};
use super::probe_word::ProbeCounts;
use super::state::State;
use super::state_word::{ticket, Flag, StateWord};
use super::window::{ClosedWindow, WindowCounts};

/// The shared core of one breaker.
pub(crate) struct BreakerCore {
    /// The [`StateWord`]: state, flags, generation, reopenings, deadline.
    pub(super) state_word: AtomicU64,
    /// Transition attempts since the breaker was built: one more before every
    /// transition's compare-and-swap (see `state_word::ticket`). Beside the
    /// state word, on its read-mostly cache line.
    pub(super) transitions: AtomicU64,
    /// The half-open probe counters (see `probe_word.rs`).
    pub(super) probe_word: AtomicU64,
    /// Calls refused since the breaker was built.
    pub(super) rejections: AtomicU64,
    /// Successful half-open probes, which the window's stripes do not count.
    pub(super) probe_successes: AtomicU64,
    /// The closed (and metrics-only) state's sliding window.
    pub(super) window: ClosedWindow,
    /// The window that last tripped the breaker, readable while it is open.
    pub(super) tripped_window: Mutex<WindowCounts>,
    /// `on_event` listeners; the state word's LISTENING flag mirrors whether
    /// there are any, so the success path learns it from the load it makes
    /// anyway.
    pub(super) listeners: Listeners<BreakerListener>,
    /// `on_state_transition` listeners. They leave the call path untouched (no
    /// LISTENING flag), so a health registry watching a breaker costs nothing
    /// per call.
    pub(super) transition_listeners: Listeners<BreakerListener>,
    pub(super) metrics: MetricHandles,
    pub(crate) config: BreakerConfig,
    /// For the eager timer, which must not keep the breaker alive.
    #[cfg(not(loom))]
    pub(super) weak_self: Weak<BreakerCore>,
}

impl fmt::Debug for BreakerCore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BreakerCore")
            .field("name", &self.config.name())
            .field("state", &self.state())
            .finish_non_exhaustive()
    }
}

impl BreakerCore {
    /// A closed breaker with `config`, counting successes on `stripes` stripes.
    pub(crate) fn new(config: BreakerConfig, stripes: usize) -> Arc<Self> {
        #[cfg(not(loom))]
        {
            Arc::new_cyclic(|weak_self| Self::build(config, stripes, weak_self.clone()))
        }
        #[cfg(loom)]
        {
            Arc::new(Self::build(config, stripes))
        }
    }

    fn build(
        config: BreakerConfig,
        stripes: usize,
        #[cfg(not(loom))] weak_self: Weak<BreakerCore>,
    ) -> Self {
        let metrics = MetricHandles::new(config.name(), config.metric_scope);
        metrics.state.set(State::Closed.as_gauge());
        // A fresh window is below its minimum: armed from the start.
        let word = StateWord::new(State::Closed, 0, 0, None).with_flag(Flag::Armed, true);
        Self {
            state_word: AtomicU64::new(word.raw()),
            transitions: AtomicU64::new(0),
            probe_word: AtomicU64::new(0),
            rejections: AtomicU64::new(0),
            probe_successes: AtomicU64::new(0),
            window: ClosedWindow::new(config.window, stripes),
            tripped_window: Mutex::new(WindowCounts::default()),
            listeners: Listeners::new(),
            transition_listeners: Listeners::new(),
            metrics,
            config,
            #[cfg(not(loom))]
            weak_self,
        }
    }

    /// The breaker's clock, in nanoseconds.
    pub(super) fn now(&self) -> u64 {
        self.config.clock.now_nanos()
    }

    /// The current state word.
    #[inline]
    pub(super) fn load(&self) -> StateWord {
        // Acquire pairs with the Release of the transition CAS: a caller that sees a
        // generation also sees the window reset made before it was published.
        StateWord::from_raw(self.state_word.load(Ordering::Acquire))
    }

    pub(crate) fn state(&self) -> State {
        self.load().state()
    }

    /// The ticket of an admission decided on `word`: its generation, and the
    /// transition count now.
    #[inline]
    pub(super) fn ticket(&self, word: StateWord) -> u64 {
        // Relaxed: any count read after `word` will do. It is at most the attempts
        // made so far, so it never runs ahead of the ticket's generation by more
        // than the transitions racing this admission.
        ticket::new(word.generation(), self.transitions.load(Ordering::Relaxed))
    }

    /// Whether a permit with `ticket` has outlived the state it was admitted
    /// in, whatever its generation says: at least half a generation cycle
    /// (8,192) of transition attempts have been made since. Call it after
    /// loading the state word.
    ///
    /// Sound as long as fewer than 8,192 threads race one transition: a
    /// permit of the current state has seen at most one failed attempt per
    /// racing thread since, and one of a state 16,384 x k transitions old has
    /// seen all of them (each attempt's add is ordered before its CAS, which
    /// the caller's Acquire load of the word is ordered after).
    pub(super) fn outlived(&self, ticket: u64) -> bool {
        // Relaxed: ordered after the caller's Acquire load of the state word; see
        // above.
        let now = self.transitions.load(Ordering::Relaxed);
        let since = now.wrapping_sub(ticket::count(ticket)) & ticket::COUNT_MASK;
        since >= u64::from(super::state_word::GENERATIONS / 2)
    }

    /// Whether a permit must note its start time.
    #[inline]
    pub(crate) fn measures_duration(&self) -> bool {
        self.config.measures_duration()
    }

    /// A consistent-enough view for the handle. Never changes the state.
    pub(crate) fn metrics_snapshot(&self) -> BreakerMetrics {
        let word = self.load();
        let state = word.state();
        let now = self.now();
        let counts = match state {
            State::Closed | State::MetricsOnly => self.window.counts(now),
            State::Open | State::ForcedOpen => *self.tripped_window.lock(),
            State::HalfOpen => {
                // Acquire: pairs with the AcqRel of the probe updates.
                let raw = self.probe_word.load(Ordering::Acquire);
                ProbeCounts::unpack(raw, word.generation()).completed_counts()
            }
            State::Disabled => WindowCounts::default(),
        };
        let minimum = self.config.minimum_calls_in(state);
        let rate = |part: u64| {
            (counts.calls >= minimum && counts.calls > 0).then(|| part as f64 / counts.calls as f64)
        };
        let time_until_probe = match state {
            State::Open => word
                .deadline_nanos()
                .map(|deadline| Duration::from_nanos(deadline.saturating_sub(now))),
            _ => None,
        };
        BreakerMetrics {
            state,
            calls: counts.calls,
            failed_calls: counts.failures,
            slow_calls: counts.slow,
            failure_rate: rate(counts.failures),
            slow_call_rate: rate(counts.slow),
            // Relaxed: a statistic.
            not_permitted_calls: self.rejections.load(Ordering::Relaxed),
            time_until_probe,
        }
    }

    /// Registers an `on_event` listener, and turns the call path's events on.
    pub(crate) fn add_listener(&self, listener: Box<BreakerListener>) {
        self.listeners.add(listener);
        self.set_flag(0, Flag::Listening, true);
    }

    /// Registers an `on_state_transition` listener.
    pub(crate) fn add_transition_listener(&self, listener: Box<BreakerListener>) {
        self.transition_listeners.add(listener);
    }

    /// Tells the `on_event` listeners of `event`. Callers build the event only
    /// when the word they read has the LISTENING flag.
    pub(super) fn emit(&self, event: &BreakerEvent<'_>) {
        self.listeners.notify(|listener| listener(event));
    }

    /// Whether the call path emits events (an `on_event` listener is registered).
    #[cfg(all(test, not(loom)))]
    pub(crate) fn listening(&self) -> bool {
        self.load().listening()
    }

    /// The current half-open generation's probes as (in flight, completed),
    /// for the model checks; zeros outside half-open.
    #[cfg(all(test, loom))]
    pub(crate) fn probe_counts(&self) -> (u64, u64) {
        let word = self.load();
        if word.state() != State::HalfOpen {
            return (0, 0);
        }
        // Acquire: pairs with the AcqRel of `take_probe` and `record_probe`.
        let raw = self.probe_word.load(Ordering::Acquire);
        let probes = ProbeCounts::unpack(raw, word.generation());
        (probes.in_flight, probes.completed)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::sync::AtomicUsize;

    #[test]
    fn transition_listeners_leave_the_call_path_alone() {
        let core = BreakerCore::new(BreakerConfig::default(), 1);
        let seen = Arc::new(AtomicUsize::new(0));
        let count = seen.clone();
        core.add_transition_listener(Box::new(move |event: &BreakerEvent<'_>| {
            assert!(matches!(event, BreakerEvent::StateTransition { .. }));
            count.fetch_add(1, Ordering::SeqCst);
        }));
        assert!(!core.listening(), "calls must keep the fast path");
        core.force(State::ForcedOpen);
        core.force(State::Closed);
        assert_eq!(seen.load(Ordering::SeqCst), 2);
        assert!(!core.listening());
    }

    #[test]
    fn an_event_listener_turns_the_call_path_events_on_for_good() {
        let core = BreakerCore::new(BreakerConfig::default(), 1);
        let seen = Arc::new(AtomicUsize::new(0));
        let count = seen.clone();
        core.add_listener(Box::new(move |_: &BreakerEvent<'_>| {
            count.fetch_add(1, Ordering::SeqCst);
        }));
        assert!(core.listening());
        core.force(State::ForcedOpen);
        core.force(State::Closed);
        // The flag survives transitions.
        assert!(core.listening());
        assert_eq!(seen.load(Ordering::SeqCst), 2);
    }
}
