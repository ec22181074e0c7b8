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
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::breaker::admit::PermitKind;
    use crate::breaker::config::MAX_REOPENINGS;
    use crate::breaker::{Breaker, BreakerConfig, HalfOpenTimeout, OpenWait};
    use crate::clock::{Clock, ManualClock};

    const SECOND: u64 = 1_000_000_000;

    #[test]
    fn reopenings_carry_through_half_open_and_end_outside_the_cycle() {
        let from = |state| StateWord::new(state, 0, 5, None);
        assert_eq!(reopenings_after(from(State::Open), State::HalfOpen), 5);
        assert_eq!(reopenings_after(from(State::HalfOpen), State::Open), 6);
        assert_eq!(reopenings_after(from(State::HalfOpen), State::Closed), 0);
        assert_eq!(reopenings_after(from(State::Closed), State::Open), 0);
        assert_eq!(reopenings_after(from(State::Open), State::ForcedOpen), 0);
        for state in State::ALL {
            assert_eq!(reopenings_after(from(state), State::Disabled), 0);
        }
    }

    #[test]
    fn deadlines_end_the_open_wait_and_the_half_open_maximum_wait() {
        let config = BreakerConfig::builder()
            .open_wait(OpenWait::exponential(
                Duration::from_secs(1),
                2.0,
                Duration::from_secs(10),
            ))
            .max_wait_in_half_open(Duration::from_secs(3), HalfOpenTimeout::Open)
            .build()
            .unwrap();
        assert_eq!(deadline_after(&config, State::Open, 0, 7), Some(7 + SECOND));
        assert_eq!(deadline_after(&config, State::Open, 2, 0), Some(4 * SECOND));
        assert_eq!(
            deadline_after(&config, State::Open, 9, 0),
            Some(10 * SECOND)
        );
        assert_eq!(
            deadline_after(&config, State::HalfOpen, 9, 1),
            Some(1 + 3 * SECOND)
        );
        assert_eq!(
            deadline_after(&config, State::Open, 0, u64::MAX),
            Some(u64::MAX)
        );
        for state in [
            State::Closed,
            State::ForcedOpen,
            State::Disabled,
            State::MetricsOnly,
        ] {
            assert_eq!(deadline_after(&config, state, 0, 0), None, "{state}");
        }
        // By default half-open waits twice the open wait before it.
        let default = BreakerConfig::default();
        assert_eq!(
            deadline_after(&default, State::HalfOpen, 0, 5),
            Some(5 + 120 * SECOND)
        );
        let growing = BreakerConfig::builder()
            .open_wait(OpenWait::exponential(
                Duration::from_secs(1),
                2.0,
                Duration::from_secs(10),
            ))
            .build()
            .unwrap();
        assert_eq!(
            deadline_after(&growing, State::HalfOpen, 2, 0),
            Some(8 * SECOND)
        );
        // The longest open wait, doubled, from the far end of the clock.
        let longest = BreakerConfig::builder()
            .open_wait(OpenWait::fixed(crate::validate::LONGEST_DURATION))
            .build()
            .unwrap();
        assert_eq!(
            deadline_after(&longest, State::HalfOpen, MAX_REOPENINGS, 0),
            Some(2 * crate::validate::LONGEST_DURATION.as_nanos() as u64)
        );
        assert_eq!(
            deadline_after(&longest, State::HalfOpen, 0, u64::MAX - 1),
            Some(u64::MAX)
        );
        let patient = BreakerConfig::builder()
            .unbounded_wait_in_half_open()
            .build()
            .unwrap();
        assert_eq!(deadline_after(&patient, State::HalfOpen, 0, 0), None);
    }

    #[test]
    fn a_stale_word_is_overtaken_but_a_flag_change_is_not() {
        let core = BreakerCore::new(BreakerConfig::default(), 1);
        let before = core.load();
        // A flag set meanwhile: the transition still goes through, keeping it.
        core.set_flag(before.generation(), Flag::Listening, true);
        let TransitionOutcome::Made(open) = core.transition(before, State::ForcedOpen, 0) else {
            panic!("a flag change must not void a transition");
        };
        assert_eq!(open.state(), State::ForcedOpen);
        assert_eq!(open.generation(), before.next_generation());
        assert!(open.listening() && !open.armed());
        // A transition from the word before it is overtaken and changes nothing.
        let stale = core.transition(before, State::Disabled, 0);
        assert_eq!(stale, TransitionOutcome::Overtaken(open));
        assert_eq!(stale.current(), core.load());
        // Closing arms the fresh window in the same CAS.
        let closed = core.transition(open, State::Closed, 0).current();
        assert!(closed.armed() && closed.listening());
    }

    #[test]
    fn an_armed_flag_of_an_old_generation_is_not_set() {
        let core = BreakerCore::new(BreakerConfig::default(), 1);
        let closed = core.load();
        assert!(closed.armed());
        core.set_flag(closed.generation(), Flag::Armed, false);
        assert!(!core.load().armed());
        core.force(State::MetricsOnly);
        core.set_flag(closed.generation(), Flag::Armed, true);
        assert!(
            !core.load().armed(),
            "the flag belonged to the state before"
        );
    }

    /// A breaker on a manual clock that trips on two failures out of two and
    /// probes once, with no slow-call detection and a count window: the
    /// configuration whose recording path never reads the clock.
    fn unclocked() -> (Breaker, ManualClock) {
        let (clock, hand) = Clock::manual();
        let config = BreakerConfig::builder()
            .clock(clock)
            .count_window(2)
            .minimum_calls(2)
            .permitted_calls_in_half_open(1)
            .open_wait(OpenWait::fixed(Duration::from_secs(1)))
            .build()
            .unwrap();
        (Breaker::new(config), hand)
    }

    #[test]
    fn open_wait_starts_at_the_trip_without_clocked_recording() {
        let (breaker, hand) = unclocked();
        hand.advance(Duration::from_secs(10));
        breaker.try_acquire().unwrap().failure();
        breaker.try_acquire().unwrap().failure();
        assert_eq!(breaker.state(), State::Open);
        let open = breaker.try_acquire().unwrap_err();
        assert_eq!(open.retry_after(), Some(Duration::from_secs(1)));
    }

    #[test]
    fn open_wait_keeps_growing_with_each_reopening() {
        let (clock, hand) = Clock::manual();
        let config = BreakerConfig::builder()
            .clock(clock)
            .count_window(1)
            .minimum_calls(1)
            .permitted_calls_in_half_open(1)
            .open_wait(OpenWait::exponential(
                Duration::from_secs(1),
                2.0,
                Duration::from_secs(60),
            ))
            .build()
            .unwrap();
        let breaker = Breaker::new(config);
        breaker.try_acquire().unwrap().failure();
        for wait in [1, 2, 4, 8, 16] {
            let open = breaker.try_acquire().unwrap_err();
            assert_eq!(open.retry_after(), Some(Duration::from_secs(wait)));
            hand.advance(Duration::from_secs(wait) + Duration::from_millis(1));
            // The probe fails: open again, for twice as long.
            breaker.try_acquire().unwrap().failure();
        }
    }

    #[test]
    fn open_wait_reaches_its_maximum_however_slowly_it_grows() {
        let (clock, hand) = Clock::manual();
        let max = Duration::from_secs(3600);
        let config = BreakerConfig::builder()
            .clock(clock)
            .count_window(1)
            .minimum_calls(1)
            .permitted_calls_in_half_open(1)
            .open_wait(OpenWait::exponential(Duration::from_millis(100), 1.01, max))
            .build()
            .unwrap();
        let breaker = Breaker::new(config);
        breaker.try_acquire().unwrap().failure();
        let mut waits = Vec::new();
        // 70 reopenings also walk the generation through 140 transitions.
        for _ in 0..70 {
            let wait = breaker.try_acquire().unwrap_err().retry_after().unwrap();
            waits.push(wait);
            hand.advance(wait + Duration::from_millis(1));
            breaker.try_acquire().unwrap().failure();
        }
        assert!(waits.windows(2).all(|pair| pair[0] <= pair[1]), "{waits:?}");
        assert!(waits[62] < Duration::from_secs(1), "{:?}", waits[62]);
        assert_eq!(waits[63], max);
        assert_eq!(waits[69], max);
    }

    #[test]
    fn generations_wrap_without_confusing_permits() {
        let (clock, _hand) = Clock::manual();
        let breaker = Breaker::new(BreakerConfig::builder().clock(clock).build().unwrap());
        // Walk the 14-bit generation past its wrap; the breaker keeps working.
        for _ in 0..(1 << 14) + 3 {
            breaker.disable();
            breaker.reset();
        }
        let stale = breaker.try_acquire().unwrap();
        breaker.force_open();
        breaker.reset();
        stale.failure(); // admitted two generations ago: dropped
        assert_eq!(breaker.metrics().calls, 0);
        breaker.try_acquire().unwrap().failure();
        assert_eq!(breaker.metrics().calls, 1);
    }

    /// A breaker on a manual clock that trips on one failure and probes once.
    fn hair_trigger() -> (Breaker, ManualClock) {
        let (clock, hand) = Clock::manual();
        let config = BreakerConfig::builder()
            .clock(clock)
            .count_window(1)
            .minimum_calls(1)
            .permitted_calls_in_half_open(1)
            .open_wait(OpenWait::fixed(Duration::from_secs(1)))
            .build()
            .unwrap();
        (Breaker::new(config), hand)
    }

    #[test]
    fn a_failure_exactly_a_generation_cycle_old_is_not_counted() {
        use crate::breaker::state_word::GENERATIONS;

        let (breaker, _hand) = hair_trigger();
        let stale = breaker.try_acquire().unwrap();
        // 16,384 transitions: closed again, in the same 14-bit generation.
        for _ in 0..GENERATIONS / 2 {
            breaker.force_open();
            breaker.reset();
        }
        assert_eq!(stale.generation(), breaker.core().load().generation());
        stale.failure();
        assert_eq!(breaker.state(), State::Closed, "a stale failure tripped it");
        assert_eq!(breaker.metrics().calls, 0);
        // A failure of the current state trips it as ever.
        breaker.try_acquire().unwrap().failure();
        assert_eq!(breaker.state(), State::Open);
    }

    #[test]
    fn a_probe_exactly_a_generation_cycle_old_frees_no_slot_and_decides_nothing() {
        use crate::breaker::state_word::GENERATIONS;
        use crate::classify::Outcome;

        let half_open = |breaker: &Breaker, hand: &ManualClock| {
            breaker.try_acquire().unwrap().failure();
            hand.advance(Duration::from_millis(1_001));
            breaker.try_acquire().unwrap()
        };
        let (breaker, hand) = hair_trigger();
        let stale = half_open(&breaker, &hand);
        assert_eq!(stale.kind(), PermitKind::Probe);
        // 16,382 transitions by hand, and two more to half-open again.
        for _ in 0..GENERATIONS / 2 - 1 {
            breaker.force_open();
            breaker.reset();
        }
        let probe = half_open(&breaker, &hand);
        assert_eq!(stale.generation(), probe.generation());
        assert_eq!(breaker.state(), State::HalfOpen);
        // The stale probe's end must not hand back the current probe's slot...
        stale.record(Outcome::Ignored);
        assert!(breaker.try_acquire().is_err(), "a second probe was let in");
        // ...nor decide the state.
        let (breaker, hand) = hair_trigger();
        let stale = half_open(&breaker, &hand);
        for _ in 0..GENERATIONS / 2 - 1 {
            breaker.force_open();
            breaker.reset();
        }
        let probe = half_open(&breaker, &hand);
        stale.failure();
        assert_eq!(
            breaker.state(),
            State::HalfOpen,
            "a stale probe reopened it"
        );
        probe.success();
        assert_eq!(breaker.state(), State::Closed);
    }

    #[test]
    fn reopen_wait_starts_at_the_failed_probe_without_clocked_recording() {
        let (breaker, hand) = unclocked();
        breaker.try_acquire().unwrap().failure();
        breaker.try_acquire().unwrap().failure();
        hand.advance(Duration::from_secs(5));
        breaker.try_acquire().unwrap().failure();
        assert_eq!(breaker.state(), State::Open);
        let open = breaker.try_acquire().unwrap_err();
        assert_eq!(open.retry_after(), Some(Duration::from_secs(1)));
    }
}
