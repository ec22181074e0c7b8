//! Admission: whether a call may go ahead, and as what.
//!
//! The decision from one state word is the pure function [`next_step`]: admit,
//! refuse, move the state on first (an open wait or a half-open maximum wait
//! that ran out), or take a half-open probe slot. [`BreakerCore::admit`]
//! applies it, in line for the closed state (one load) and out of line for the
//! rest, repeating with the word it finds until it admits or refuses.

use std::time::Duration;

use crate::sync::Ordering;

use super::config::HalfOpenTimeout;
use super::core::BreakerCore;
use super::error::BreakerOpen;
use super::event::BreakerEvent;
use super::probe_word::ProbeCounts;
use super::state::State;
use super::state_word::StateWord;

/// How a permit was admitted, and so how its outcome is recorded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PermitKind {
    /// Closed or metrics-only: counts in the sliding window.
    Window,
    /// A half-open probe: counts towards the probe decision.
    Probe,
    /// Disabled: nothing is recorded.
    Untracked,
}

/// What admission does next, decided from one state word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub(super) enum AdmissionStep {
    /// Let the call through, recorded as this kind.
    Admit(PermitKind),
    /// Refuse it; an open breaker says in how many nanoseconds it will probe.
    Refuse { retry_after_nanos: Option<u64> },
    /// First move the state to `to`, at `now`, then decide again.
    Move { to: State, now: u64 },
    /// Half-open: admit the call as a probe if a slot is free.
    TakeProbe,
}

/// The next admission step from `word`, where an expired half-open state moves
/// to `half_open_timeout`'s state. Reads the clock (`now`) only in the states
/// whose decision depends on it: open, and half-open with a maximum wait.
pub(super) fn next_step(
    word: StateWord,
    half_open_timeout: HalfOpenTimeout,
    now: impl FnOnce() -> u64,
) -> AdmissionStep {
    match word.state() {
        State::Closed | State::MetricsOnly => AdmissionStep::Admit(PermitKind::Window),
        State::Disabled => AdmissionStep::Admit(PermitKind::Untracked),
        State::ForcedOpen => AdmissionStep::Refuse {
            retry_after_nanos: None,
        },
        State::Open => {
            let now = now();
            let deadline = word.deadline_nanos().unwrap_or(u64::MAX);
            if now <= deadline {
                AdmissionStep::Refuse {
                    retry_after_nanos: Some(deadline - now),
                }
            } else {
                AdmissionStep::Move {
                    to: State::HalfOpen,
                    now,
                }
            }
        }
        // A half-open deadline clamped at the word's limit never expires:
        // with the clock past that limit, expiring it would open the breaker
        // with a deadline already past, half-open it again, and so on for
        // ever inside one admission.
        State::HalfOpen if word.deadline_clamped() => AdmissionStep::TakeProbe,
        State::HalfOpen => match word.deadline_nanos() {
            Some(deadline) => {
                let now = now();
                if now > deadline {
                    AdmissionStep::Move {
                        to: half_open_timeout.next_state(),
                        now,
                    }
                } else {
                    AdmissionStep::TakeProbe
                }
            }
            None => AdmissionStep::TakeProbe,
        },
    }
}

/// A refusal, before it is counted: the word it was decided on and, open,
/// how many nanoseconds until the breaker probes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Refusal {
    word: StateWord,
    retry_after_nanos: Option<u64>,
}

impl Refusal {
    /// How long until the breaker lets probes through, if it knows.
    pub(crate) fn retry_after(self) -> Option<Duration> {
        self.retry_after_nanos.map(Duration::from_nanos)
    }
}

/// Whether half-open admission takes its probe slot now or only looks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ProbeSlot {
    /// Take the slot: the caller makes the call now.
    Take,
    /// Only see that one is free: the caller takes it when it calls. What a
    /// tower service's `poll_ready` does, so that a caller that becomes ready
    /// and never calls holds no probe slot.
    Look,
}

impl BreakerCore {
    /// Decides whether a call may go ahead: the kind of permit and its ticket
    /// (the generation it is admitted under, see `state_word::ticket`), or the
    /// refusal (counted).
    ///
    /// Inlined into the caller for the closed state, which is one load; every
    /// other state is decided out of line.
    #[inline]
    pub(crate) fn admit(&self) -> Result<(PermitKind, u64), BreakerOpen> {
        let word = self.load();
        if let State::Closed | State::MetricsOnly = word.state() {
            return Ok((PermitKind::Window, self.ticket(word)));
        }
        self.admit_slow(word, ProbeSlot::Take)
            .map_err(|refusal| self.reject(refusal))
    }

    /// Like [`admit`](Self::admit), but half-open only looks for a free
    /// probe slot (a `PermitKind::Probe` answer then holds none), and a
    /// refusal is not counted: the caller counts it with
    /// [`reject`](Self::reject) if it refuses a call for it.
    #[inline]
    pub(crate) fn admit_looking(&self) -> Result<(PermitKind, u64), Refusal> {
        let word = self.load();
        if let State::Closed | State::MetricsOnly = word.state() {
            return Ok((PermitKind::Window, self.ticket(word)));
        }
        self.admit_slow(word, ProbeSlot::Look)
    }

    #[inline(never)]
    fn admit_slow(
        &self,
        mut word: StateWord,
        slot: ProbeSlot,
    ) -> Result<(PermitKind, u64), Refusal> {
        loop {
            match next_step(word, self.config.half_open_timeout, || self.now()) {
                AdmissionStep::Admit(kind) => return Ok((kind, self.ticket(word))),
                AdmissionStep::Refuse { retry_after_nanos } => {
                    return Err(Refusal {
                        word,
                        retry_after_nanos,
                    })
                }
                AdmissionStep::Move { to, now } => {
                    word = self.transition(word, to, now).current();
                }
                AdmissionStep::TakeProbe if slot == ProbeSlot::Look => {
                    if self.probe_slot_free(word) {
                        return Ok((PermitKind::Probe, self.ticket(word)));
                    }
                    return Err(Refusal {
                        word,
                        retry_after_nanos: None,
                    });
                }
                AdmissionStep::TakeProbe => match self.take_probe(word) {
                    Ok(()) => return Ok((PermitKind::Probe, self.ticket(word))),
                    Err(Some(actual)) => word = actual,
                    Err(None) => {
                        return Err(Refusal {
                            word,
                            retry_after_nanos: None,
                        })
                    }
                },
            }
        }
    }

    /// Whether half-open generation `word` has a probe slot free now.
    fn probe_slot_free(&self, word: StateWord) -> bool {
        // Acquire: pairs with the AcqRel of `take_probe` and `record_probe`, as
        // `take_probe`'s own first load. Counters of another generation read as
        // zeros: a state that has taken no probe yet.
        let raw = self.probe_word.load(Ordering::Acquire);
        ProbeCounts::unpack(raw, word.generation())
            .has_free_slot(u64::from(self.config.permitted_probes))
    }

    /// Takes a probe slot in half-open generation `word`. `Err(None)` when all
    /// are taken; `Err(Some(word))` when the state moved on meanwhile.
    fn take_probe(&self, word: StateWord) -> Result<(), Option<StateWord>> {
        let generation = word.generation();
        let permitted = u64::from(self.config.permitted_probes);
        // Acquire (here and on a failed CAS): a word tagged by a newer generation was
        // written by a thread that had loaded that generation's state word, so the check
        // below is then sure to see it too.
        let mut raw = self.probe_word.load(Ordering::Acquire);
        loop {
            if ProbeCounts::tag(raw) != generation {
                // The counters belong to another half-open generation: an older one, and
                // this is our first probe, or a newer one, and ours is over. Only the
                // current generation may claim them; a thread that read an older state
                // word would otherwise wipe the counts of the probes in flight now.
                let now_word = self.load();
                if now_word.generation() != generation {
                    return Err(Some(now_word));
                }
            }
            let mut probes = ProbeCounts::unpack(raw, generation);
            if !probes.has_free_slot(permitted) {
                let now_word = self.load();
                return Err((now_word != word).then_some(now_word));
            }
            probes.in_flight += 1;
            // AcqRel on success: the probe slot is the resource; ordering it with the
            // completion that frees it keeps "at most N in flight" true on every core.
            match self.probe_word.compare_exchange_weak(
                raw,
                probes.pack(generation),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    // The state may have moved on between reading the word and taking the
                    // slot; a slot taken in a dead generation is harmless (its tag no
                    // longer matches), but the call must then be decided again.
                    let now_word = self.load();
                    if now_word.generation() != generation {
                        return Err(Some(now_word));
                    }
                    return Ok(());
                }
                Err(actual) => raw = actual,
            }
        }
    }

    /// Counts a refusal in the state it was decided in, tells the listeners,
    /// and makes its error.
    pub(crate) fn reject(&self, refusal: Refusal) -> BreakerOpen {
        let Refusal {
            word,
            retry_after_nanos,
        } = refusal;
        // Relaxed: a statistic; nothing is published through it.
        self.rejections.fetch_add(1, Ordering::Relaxed);
        self.metrics.rejections.increment(1);
        let retry_after = retry_after_nanos.map(Duration::from_nanos);
        #[cfg(feature = "tracing")]
        super::trace::rejected(self.config.name(), word.state(), retry_after);
        if word.listening() {
            self.emit(&BreakerEvent::Rejected {
                name: self.config.name(),
                state: word.state(),
                retry_after,
            });
        }
        BreakerOpen::new(retry_after)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    const TIMEOUTS: [HalfOpenTimeout; 2] = [HalfOpenTimeout::Open, HalfOpenTimeout::Close];

    fn word(state: State, deadline_ms: Option<u64>) -> StateWord {
        StateWord::new(state, 3, 0, deadline_ms)
    }

    /// `next_step` with a clock that must not be read.
    fn without_clock(word: StateWord, timeout: HalfOpenTimeout) -> AdmissionStep {
        next_step(word, timeout, || {
            panic!("the clock was read in {}", word.state())
        })
    }

    #[test]
    fn passing_states_admit_without_reading_the_clock() {
        for timeout in TIMEOUTS {
            for state in [State::Closed, State::MetricsOnly] {
                assert_eq!(
                    without_clock(word(state, None), timeout),
                    AdmissionStep::Admit(PermitKind::Window)
                );
            }
            assert_eq!(
                without_clock(word(State::Disabled, None), timeout),
                AdmissionStep::Admit(PermitKind::Untracked)
            );
            assert_eq!(
                without_clock(word(State::ForcedOpen, None), timeout),
                AdmissionStep::Refuse {
                    retry_after_nanos: None
                }
            );
        }
    }

    #[test]
    fn open_refuses_until_strictly_after_its_deadline() {
        const MS: u64 = 1_000_000;
        let open = word(State::Open, Some(5));
        let at = |now: u64| next_step(open, HalfOpenTimeout::Open, || now);
        assert_eq!(
            at(0),
            AdmissionStep::Refuse {
                retry_after_nanos: Some(5 * MS)
            }
        );
        assert_eq!(
            at(5 * MS - 1),
            AdmissionStep::Refuse {
                retry_after_nanos: Some(1)
            }
        );
        assert_eq!(
            at(5 * MS),
            AdmissionStep::Refuse {
                retry_after_nanos: Some(0)
            }
        );
        assert_eq!(
            at(5 * MS + 1),
            AdmissionStep::Move {
                to: State::HalfOpen,
                now: 5 * MS + 1
            }
        );
        // An open word without a deadline (never made) waits for ever.
        let endless = word(State::Open, None);
        assert!(matches!(
            next_step(endless, HalfOpenTimeout::Open, || u64::MAX - 1),
            AdmissionStep::Refuse { .. }
        ));
    }

    #[test]
    fn half_open_takes_probes_until_its_maximum_wait_runs_out() {
        const MS: u64 = 1_000_000;
        for timeout in TIMEOUTS {
            assert_eq!(
                without_clock(word(State::HalfOpen, None), timeout),
                AdmissionStep::TakeProbe
            );
            let waiting = word(State::HalfOpen, Some(2));
            assert_eq!(
                next_step(waiting, timeout, || 2 * MS),
                AdmissionStep::TakeProbe
            );
            assert_eq!(
                next_step(waiting, timeout, || 2 * MS + 1),
                AdmissionStep::Move {
                    to: timeout.next_state(),
                    now: 2 * MS + 1
                }
            );
        }
        assert_eq!(HalfOpenTimeout::Open.next_state(), State::Open);
        assert_eq!(HalfOpenTimeout::Close.next_state(), State::Closed);
    }

    #[test]
    fn a_half_open_deadline_clamped_at_the_words_limit_never_expires() {
        // A clock past the word's limit: were it to expire, admission would
        // open with a deadline already past and half-open again, for ever.
        let clamped = word(State::HalfOpen, Some(u64::MAX));
        for timeout in TIMEOUTS {
            assert_eq!(
                next_step(clamped, timeout, || u64::MAX),
                AdmissionStep::TakeProbe
            );
        }
    }

    #[test]
    fn half_open_refuses_once_its_probe_slots_are_taken() {
        use std::time::Duration;

        use crate::breaker::{BreakerConfig, OpenWait};
        use crate::classify::Outcome;
        use crate::clock::Clock;

        let (clock, hand) = Clock::manual();
        let config = BreakerConfig::builder()
            .clock(clock)
            .count_window(1)
            .minimum_calls(1)
            .permitted_calls_in_half_open(2)
            .open_wait(OpenWait::fixed(Duration::from_secs(1)))
            .build()
            .unwrap();
        let core = BreakerCore::new(config, 1);
        let record = |(kind, ticket): (PermitKind, u64), outcome| {
            core.record(0, kind, ticket, outcome, None);
        };
        record(core.admit().unwrap(), Outcome::Failure);
        assert_eq!(core.state(), State::Open);
        hand.advance(Duration::from_secs(2));
        let first = core.admit().unwrap();
        let second = core.admit().unwrap();
        assert_eq!((first.0, second.0), (PermitKind::Probe, PermitKind::Probe));
        assert_eq!(core.admit().unwrap_err().retry_after(), None);
        // A probe dropped unrecorded hands its slot back.
        record(first, Outcome::Ignored);
        assert_eq!(core.admit().unwrap().0, PermitKind::Probe);
        assert_eq!(core.metrics_snapshot().not_permitted_calls, 1);
    }
}
