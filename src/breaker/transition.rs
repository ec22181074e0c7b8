//! Transitions: the one compare-and-swap every state change goes through.
//!
//! Every transition is one CAS from the word its maker read to a word with
//! the next generation; only the winner emits the transition's event and
//! metrics, and a timer or a recorder holding an older word simply loses its
//! CAS. Outcomes carry the generation they were admitted under and are dropped
//! when it is no longer current, so a slow call that straddles a transition
//! never counts in the new state's window.
//!
//! What the next word holds (reopenings, deadline) is decided by the pure
//! functions [`reopenings_after`] and [`deadline_after`]; the flags change
//! through [`BreakerCore::set_flag`], the same CAS without a new generation.

use crate::observe;
use crate::sync::Ordering;

use super::config::BreakerConfig;
use super::core::BreakerCore;
use super::event::BreakerEvent;
use super::probe_word::ProbeCounts;
use super::state::State;
use super::state_word::{Flag, StateWord, NANOS_PER_MS};
use super::window::WindowCounts;

/// How a transition went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub(super) enum TransitionOutcome {
    /// This thread made it: the word it published.
    Made(StateWord),
    /// Another thread changed the state first: the word found instead.
    Overtaken(StateWord),
}

impl TransitionOutcome {
    /// The state word as it now is, whoever made it.
    pub(super) fn current(self) -> StateWord {
        match self {
            Self::Made(word) | Self::Overtaken(word) => word,
        }
    }
}

/// Consecutive reopenings after moving from `from` to `to`: they carry
/// through half-open, count one more when a half-open state opens again, and
/// end when the breaker leaves the open/half-open cycle.
pub(super) fn reopenings_after(from: StateWord, to: State) -> u32 {
    match (from.state(), to) {
        (State::Open, State::HalfOpen) => from.reopenings(),
        (State::HalfOpen, State::Open) => from.reopenings() + 1,
        _ => 0,
    }
}

/// The deadline, in clock nanoseconds, of state `to` entered at `now` after
/// `reopenings`: the end of the open wait, or of the half-open maximum wait.
pub(super) fn deadline_after(
    config: &BreakerConfig,
    to: State,
    reopenings: u32,
    now: u64,
) -> Option<u64> {
    match to {
        State::Open => {
            Some(now.saturating_add(config.open_wait.wait(reopenings).as_nanos() as u64))
        }
        State::HalfOpen => config
            .half_open_wait
            .after(config.open_wait.wait(reopenings))
            .map(|wait| now.saturating_add(u64::try_from(wait.as_nanos()).unwrap_or(u64::MAX))),
        _ => None,
    }
}

impl BreakerCore {
    /// Moves from `from` to `to` with one CAS (repeated only while nothing but a
    /// flag changed).
    pub(super) fn transition(&self, from: StateWord, to: State, now: u64) -> TransitionOutcome {
        self.transition_tripped(from, to, now, None)
    }

    /// Opens from `word`, keeping `counts` as the window that tripped it. Reads
    /// the clock itself: the open wait starts now, and the record path reads
    /// the clock only when the window or slow-call detection needs it.
    pub(super) fn trip(&self, word: StateWord, counts: WindowCounts) {
        let _ = self.transition_tripped(word, State::Open, self.now(), Some(counts));
    }

    /// [`transition`](Self::transition), keeping `tripped` as the window that
    /// tripped the breaker: stored once the CAS is won and before the transition
    /// is announced, so a listener reading metrics sees it.
    fn transition_tripped(
        &self,
        from: StateWord,
        to: State,
        now: u64,
        tripped: Option<WindowCounts>,
    ) -> TransitionOutcome {
        let reopenings = reopenings_after(from, to);
        let deadline = deadline_after(&self.config, to, reopenings, now);
        let deadline_ms = deadline.map(|nanos| nanos.div_ceil(NANOS_PER_MS));
        if to.records_window() {
            // Fresh metrics for the new state, in place before the CAS publishes it;
            // unless another transition has already moved on from `from`, whose new
            // state's window this must not wipe (this transition's CAS will fail).
            self.window.reset(from.next_generation(), || {
                self.load().generation() == from.generation()
            });
        }
        if to == State::HalfOpen {
            self.reset_probes(from);
        }
        // One more attempt, counted before the CAS that may publish it: every
        // thread that loads the word this CAS writes (Acquire, from its Release)
        // also sees this count (see `state_word::ticket`). Relaxed: ordered by
        // that CAS.
        self.transitions.fetch_add(1, Ordering::Relaxed);
        let mut from = from;
        loop {
            let next = StateWord::new(to, from.next_generation(), reopenings, deadline_ms)
                .with_flag(Flag::Listening, from.listening())
                // A closed state starts with an empty window, below its minimum: armed
                // in the same CAS that publishes it, so no success can slip past.
                .with_flag(Flag::Armed, to == State::Closed);
            // AcqRel: Release publishes the window reset to every thread that loads the
            // new word; Acquire orders this winner after the transition it replaced, and
            // on failure lets the retry below build on the word it found.
            match self.state_word.compare_exchange(
                from.raw(),
                next.raw(),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    if let Some(counts) = tripped {
                        *self.tripped_window.lock() = counts;
                    }
                    self.on_transition(from.state(), next);
                    return TransitionOutcome::Made(next);
                }
                // Only a flag moved (ARMED, or LISTENING from a new listener): flags never
                // change the generation, so this is still the state the transition was
                // decided for, and giving up would lose the decision.
                Err(actual) if StateWord::from_raw(actual).generation() == from.generation() => {
                    from = StateWord::from_raw(actual);
                }
                Err(actual) => return TransitionOutcome::Overtaken(StateWord::from_raw(actual)),
            }
        }
    }

    /// Zeroes the probe counters for the half-open state that follows `from`,
    /// before the CAS that publishes it, unless another transition has moved
    /// on from `from` already.
    ///
    /// A word tagged by another generation reads as zeros anyway; this is for
    /// the word tagged by the very generation starting now, 16,384 x k
    /// transitions ago, whose old counts would otherwise be taken for this
    /// state's. A loser of the race to publish cannot wipe the winner's probes:
    /// it gives up once the state word has moved on, and a probe taken meanwhile
    /// changed the word its CAS expects.
    fn reset_probes(&self, from: StateWord) {
        let fresh = ProbeCounts::default().pack(from.next_generation());
        // Acquire (and AcqRel below): as every update of the probe word, see
        // `take_probe`. The CAS that publishes the state follows, with Release.
        let mut raw = self.probe_word.load(Ordering::Acquire);
        while raw != fresh && self.load().generation() == from.generation() {
            match self.probe_word.compare_exchange_weak(
                raw,
                fresh,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return,
                Err(actual) => raw = actual,
            }
        }
    }

    /// What the winner of a transition does: metrics, events, the eager timer.
    fn on_transition(&self, from: State, next: StateWord) {
        let to = next.state();
        self.metrics.state.set(to.as_gauge());
        // A manual change to the state the breaker is already in (a reset of a
        // closed breaker) still starts a new generation, but changes no state.
        if from != to {
            metrics::counter!(
                observe::BREAKER_TRANSITIONS_TOTAL,
                "name" => self.config.name().to_owned(),
                "from" => from.as_str(),
                "to" => to.as_str(),
            )
            .increment(1);
            #[cfg(feature = "tracing")]
            super::trace::transition(self.config.name(), from, to);
            let listening = next.listening();
            let watched = !self.transition_listeners.is_empty();
            if listening || watched {
                let event = BreakerEvent::StateTransition {
                    name: self.config.name(),
                    from,
                    to,
                };
                if listening {
                    self.emit(&event);
                }
                if watched {
                    self.transition_listeners
                        .notify(|listener| listener(&event));
                }
            }
        }
        if self.config.eager_half_open {
            if let Some(deadline) = next.deadline_nanos() {
                self.arm_timer(next, deadline);
            }
        }
    }

    /// Moves an open (or expired half-open) state on exactly at its deadline.
    /// The timer holds only a weak reference and the word it was armed for: a
    /// reset or any other transition makes its CAS fail, which cancels it.
    #[cfg(not(loom))]
    fn arm_timer(&self, armed_for: StateWord, deadline: u64) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let Some(at) = self.config.clock.tokio_instant_at(deadline) else {
            return;
        };
        let weak_core = self.weak_self.clone();
        runtime.spawn(async move {
            tokio::time::sleep_until(at).await;
            let Some(core) = weak_core.upgrade() else {
                return;
            };
            let to = match armed_for.state() {
                State::Open => State::HalfOpen,
                _ => core.config.half_open_timeout.next_state(),
            };
            // Only flags (a listener registered meanwhile) may differ from the armed word;
            // a new generation means the state moved on and this timer is void.
            let mut current = core.load();
            while current.generation() == armed_for.generation()
                && current.state() == armed_for.state()
            {
                match core.transition(current, to, core.now()) {
                    TransitionOutcome::Made(_) => return,
                    TransitionOutcome::Overtaken(actual) => current = actual,
                }
            }
        });
    }

    /// No timers under loom: every transition of a model is made by its threads.
    #[cfg(loom)]
    fn arm_timer(&self, _armed_for: StateWord, _deadline: u64) {}

    /// Moves to `to` from whatever state the breaker is in (manual control).
    pub(crate) fn force(&self, to: State) {
        let mut word = self.load();
        loop {
            match self.transition(word, to, self.now()) {
                TransitionOutcome::Made(_) => return,
                TransitionOutcome::Overtaken(actual) => word = actual,
            }
        }
    }

    /// Sets or clears a flag without changing the generation. Gives up if the
    /// generation moves on (the flag belongs to the state it was computed for),
    /// except LISTENING, which survives transitions.
    pub(super) fn set_flag(&self, generation: u16, flag: Flag, on: bool) {
        let mut word = self.load();
        loop {
            if flag != Flag::Listening && word.generation() != generation {
                return;
            }
            let next = word.with_flag(flag, on);
            if next == word {
                return;
            }
            // AcqRel/Acquire: a flag change is a state-word change like any other.
            match self.state_word.compare_exchange_weak(
                word.raw(),
                next.raw(),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return,
                Err(actual) => word = StateWord::from_raw(actual),
            }
        }
    }
}

#[cfg(all(test, not(loom)))]
#[path = "transition_tests.rs"]
mod tests;
