//! Model checks of the breaker's state machine under every interleaving loom
//! explores.
//!
//! ```text
//! LOOM_MAX_PREEMPTIONS=3 RUSTFLAGS="--cfg loom" cargo test --release --lib loom
//! ```
//!
//! Each model runs on a [`Clock::manual`] (there is no tokio runtime under
//! loom) with `eager_half_open` off, so every transition is made by a thread of
//! the model. Threads are named "1", "2", ... so that `sync::thread_stripe`
//! spreads them over the stripes as it spreads real threads.

use std::sync::Arc;
use std::time::Duration;

use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::thread::{self, JoinHandle};

use super::admit::PermitKind;
use super::{
    Breaker, BreakerConfig, BreakerConfigBuilder, BreakerEvent, BreakerPermit, OpenWait, State,
};
use crate::classify::Outcome;
use crate::clock::{Clock, ManualClock};

const OPEN_WAIT: Duration = Duration::from_secs(1);

/// A breaker on a manual clock that trips on 2 failures out of a count window
/// of 2 calls, adjusted by `adjust`.
fn breaker(
    adjust: impl FnOnce(BreakerConfigBuilder) -> BreakerConfigBuilder,
) -> (Breaker, ManualClock) {
    let (clock, hand) = Clock::manual();
    let builder = BreakerConfig::builder()
        .count_window(2)
        .minimum_calls(2)
        .failure_rate_threshold(0.5)
        .open_wait(OpenWait::fixed(OPEN_WAIT))
        .eager_half_open(false)
        .clock(clock);
    let config = adjust(builder).build().expect("a valid model config");
    (Breaker::new(config), hand)
}

/// Spawns a model thread named `number`, which `sync::thread_stripe` maps to
/// its stripe.
fn spawn<T: Send + 'static>(
    number: usize,
    f: impl FnOnce() -> T + Send + 'static,
) -> JoinHandle<T> {
    thread::Builder::new()
        .name(number.to_string())
        .spawn(f)
        .expect("loom spawns threads")
}

/// Trips the breaker from the model's main thread and lets the open wait run
/// out, so the next admission check moves it to half-open.
fn open_and_expire(breaker: &Breaker, hand: &ManualClock) {
    breaker.try_acquire().expect("closed").failure();
    breaker.try_acquire().expect("closed").failure();
    assert_eq!(breaker.state(), State::Open);
    hand.advance(OPEN_WAIT * 2);
}

/// Counts `StateTransition` events by (from, to).
#[derive(Clone, Default)]
struct Transitions(Arc<std::sync::Mutex<Vec<(State, State)>>>);

impl Transitions {
    fn listen(breaker: &Breaker) -> Self {
        let this = Self::default();
        let log = this.clone();
        breaker.on_event(move |event: &BreakerEvent<'_>| {
            if let BreakerEvent::StateTransition { from, to, .. } = event {
                log.0.lock().unwrap().push((*from, *to));
            }
        });
        this
    }

    fn count(&self, from: State, to: Option<State>) -> usize {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|(f, t)| *f == from && to.map_or(true, |to| *t == to))
            .count()
    }
}

/// Probes held at this moment, per half-open generation (generations in these
/// models stay far below the length).
#[derive(Clone)]
struct ProbesHeld(loom::sync::Arc<[AtomicUsize; 8]>);

impl ProbesHeld {
    fn new() -> Self {
        Self(loom::sync::Arc::new(std::array::from_fn(|_| {
            AtomicUsize::new(0)
        })))
    }

    /// Holds `permit` for a moment if it is a probe, checking that no more than
    /// `permitted` probes of its generation are held at once.
    fn hold(&self, permit: &BreakerPermit, permitted: usize) {
        if permit.kind() != PermitKind::Probe {
            return;
        }
        let slot = &self.0[usize::from(permit.generation()) % self.0.len()];
        // Relaxed: a read-modify-write always sees the latest count. Whether a
        // probe slot handed over from one holder to the next is ordered after the
        // first holder's decrement is exactly the breaker's synchronisation under
        // test, so the counter must not add any of its own.
        let held = slot.fetch_add(1, Ordering::Relaxed) + 1;
        assert!(
            held <= permitted,
            "{held} probes of generation {} in flight, {permitted} permitted",
            permit.generation()
        );
        // Relaxed: as above.
        slot.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Asks for a permit; a probe is held while its in-flight count is checked,
/// then `outcome` is recorded, or the permit is dropped (cancelled) for `None`.
fn attempt(breaker: &Breaker, in_flight: &ProbesHeld, permitted: usize, outcome: Option<Outcome>) {
    if let Ok(permit) = breaker.try_acquire() {
        in_flight.hold(&permit, permitted);
        match outcome {
            Some(outcome) => permit.record(outcome),
            None => drop(permit),
        }
    }
}

/// After every thread of a model has finished: the breaker is not wedged.
/// Half-open, no probe is still counted in flight and exactly the remaining
/// probes can be taken, and their successes close it; in any state some call
/// is admitted.
fn assert_not_wedged(breaker: &Breaker, permitted: u64) {
    if breaker.state() == State::HalfOpen {
        let (in_flight, completed) = breaker.core().probe_counts();
        assert_eq!(in_flight, 0, "a probe permit was lost");
        assert!(completed < permitted, "half-open decided nothing");
        let probes: Vec<BreakerPermit> = (completed..permitted)
            .map(|_| breaker.try_acquire().expect("a free probe slot"))
            .collect();
        assert!(
            probes.iter().all(|p| p.kind() == PermitKind::Probe),
            "half-open admitted a non-probe"
        );
        assert!(breaker.try_acquire().is_err(), "more probes than permitted");
        probes.into_iter().for_each(BreakerPermit::success);
        assert_eq!(
            breaker.state(),
            State::Closed,
            "successful probes must close"
        );
    }
    if breaker.state() == State::Open {
        breaker.reset();
    }
    assert!(breaker.try_acquire().is_ok(), "the breaker admits nothing");
}

/// A model for three threads racing a transition and the probe slots. With
/// admission reading two words (the state, then the transition count), such a
/// search at three preemptions ran for over half an hour; two preemptions
/// still let any thread be cut off between its two loads, and between taking
/// a slot and recording.
fn three_racing_threads() -> loom::model::Builder {
    let mut model = loom::model::Builder::new();
    model.preemption_bound = Some(model.preemption_bound.map_or(2, |bound| bound.min(2)));
    model
}

/// Threads race for `permitted` probes, each then recording its outcome (or
/// cancelling for `None`). With `race_the_move`, they also race the move from
/// open to half-open; otherwise the main thread makes it first, which keeps
/// the model small enough for three threads and two probes.
fn half_open_race(permitted: u32, race_the_move: bool, outcomes: &'static [Option<Outcome>]) {
    let model = if race_the_move {
        three_racing_threads()
    } else {
        loom::model::Builder::new()
    };
    model.check(move || {
        let (breaker, hand) = breaker(|b| b.permitted_calls_in_half_open(permitted));
        open_and_expire(&breaker, &hand);
        if !race_the_move {
            drop(breaker.try_acquire().expect("half-open"));
            assert_eq!(breaker.state(), State::HalfOpen);
        }
        let in_flight = ProbesHeld::new();
        let threads: Vec<_> = outcomes
            .iter()
            .enumerate()
            .map(|(i, &outcome)| {
                let (breaker, in_flight) = (breaker.clone(), in_flight.clone());
                spawn(i + 1, move || {
                    attempt(&breaker, &in_flight, permitted as usize, outcome)
                })
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
        assert_not_wedged(&breaker, u64::from(permitted));
    });
}

/// One probe permitted: of three threads racing the open-to-half-open move and
/// the probe slot, at most one holds a probe at a time, whether the holder
/// succeeds, fails or is cancelled.
#[test]
fn loom_half_open_one_probe() {
    half_open_race(
        1,
        true,
        &[Some(Outcome::Success), None, Some(Outcome::Failure)],
    );
}

/// Two probes permitted: three threads never hold more than two at a time.
#[test]
fn loom_half_open_two_probes() {
    half_open_race(
        2,
        false,
        &[Some(Outcome::Success), Some(Outcome::Success), None],
    );
}

/// A probe slot taken by a thread that read an old half-open generation never
/// lands in a later half-open generation: while one thread waits to take its
/// slot, another fails its probe, waits out the open state and probes again.
#[test]
fn loom_half_open_probe_slots_stay_in_their_generation() {
    loom::model(|| {
        let (breaker, hand) = breaker(|b| b.permitted_calls_in_half_open(1));
        open_and_expire(&breaker, &hand);
        let in_flight = ProbesHeld::new();
        let again = {
            let (breaker, in_flight) = (breaker.clone(), in_flight.clone());
            spawn(1, move || {
                attempt(&breaker, &in_flight, 1, Some(Outcome::Failure));
                hand.advance(OPEN_WAIT * 2);
                attempt(&breaker, &in_flight, 1, None);
            })
        };
        let other = {
            let (breaker, in_flight) = (breaker.clone(), in_flight.clone());
            spawn(2, move || attempt(&breaker, &in_flight, 1, None))
        };
        again.join().unwrap();
        other.join().unwrap();
        assert_not_wedged(&breaker, 1);
    });
}

/// A tower service's `poll_ready` only looks for a free probe slot and its
/// `call` takes one: a look racing a prober (and the move to half-open)
/// holds nothing, the call after it takes a slot or is refused, and the
/// breaker is never wedged, whichever thread gets the slot.
#[test]
fn loom_looking_for_a_probe_slot_holds_none() {
    loom::model(|| {
        let (breaker, hand) = breaker(|b| b.permitted_calls_in_half_open(1));
        open_and_expire(&breaker, &hand);
        let in_flight = ProbesHeld::new();
        let looker = {
            let (breaker, in_flight) = (breaker.clone(), in_flight.clone());
            spawn(1, move || {
                if breaker.core().admit_looking().is_ok() {
                    attempt(&breaker, &in_flight, 1, Some(Outcome::Success));
                }
            })
        };
        let prober = {
            let (breaker, in_flight) = (breaker.clone(), in_flight.clone());
            spawn(2, move || attempt(&breaker, &in_flight, 1, None))
        };
        looker.join().unwrap();
        prober.join().unwrap();
        assert_not_wedged(&breaker, 1);
    });
}

/// Two threads each record a failure in the closed state: whatever the
/// interleaving, the breaker opens, and exactly once.
#[test]
fn loom_concurrent_failures_trip_once() {
    loom::model(|| {
        let (breaker, _hand) = breaker(|b| b);
        let transitions = Transitions::listen(&breaker);
        let threads: Vec<_> = (1..=2)
            .map(|i| {
                let breaker = breaker.clone();
                spawn(i, move || {
                    if let Ok(permit) = breaker.try_acquire() {
                        permit.failure();
                    }
                })
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
        assert_eq!(transitions.count(State::Closed, Some(State::Open)), 1);
        assert_eq!(transitions.count(State::Closed, None), 1);
        assert_eq!(breaker.state(), State::Open);
    });
}

/// Two threads each record a success and a failure in a window of 4 calls
/// with a minimum of 4: the window ends at 2 failures out of 4, which reaches
/// the threshold, so the breaker must open (once), even though the call that
/// completes the minimum may be a success on the lock-free path.
#[test]
fn loom_armed_success_trips_once() {
    loom::model(|| {
        let (breaker, _hand) = breaker(|b| b.count_window(4).minimum_calls(4));
        let transitions = Transitions::listen(&breaker);
        let threads: Vec<_> = [[Outcome::Failure, Outcome::Success]; 2]
            .into_iter()
            .enumerate()
            .map(|(i, outcomes)| {
                let breaker = breaker.clone();
                spawn(i + 1, move || {
                    for outcome in outcomes {
                        if let Ok(permit) = breaker.try_acquire() {
                            permit.record(outcome);
                        }
                    }
                })
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
        assert_eq!(transitions.count(State::Closed, None), 1);
        assert_eq!(breaker.state(), State::Open);
    });
}

/// A listener registered while the last probe decides does not void the
/// decision: half-open closes (it would otherwise wait for probes forever).
#[test]
fn loom_listener_does_not_void_a_decision() {
    loom::model(|| {
        let (breaker, hand) = breaker(|b| b.permitted_calls_in_half_open(1));
        open_and_expire(&breaker, &hand);
        let probe = breaker.try_acquire().expect("half-open");
        let decide = spawn(1, move || probe.success());
        let listen = {
            let breaker = breaker.clone();
            spawn(2, move || breaker.on_event(|_: &BreakerEvent<'_>| {}))
        };
        decide.join().unwrap();
        listen.join().unwrap();
        assert_eq!(breaker.state(), State::Closed);
    });
}

/// Two probes permitted: one probe is cancelled while another succeeds and a
/// third thread resets the breaker. Afterwards half-open has either been left
/// exactly once (by the reset or by its probes' decision), or it can still take
/// exactly its remaining probes: no permit is lost or returned twice.
#[test]
fn loom_cancelled_probes_race_success_and_reset() {
    three_racing_threads().check(|| {
        let (breaker, hand) = breaker(|b| b.permitted_calls_in_half_open(2));
        let transitions = Transitions::listen(&breaker);
        open_and_expire(&breaker, &hand);
        // Enter half-open from the main thread, so the model's threads race over
        // the probes rather than over the move to half-open.
        drop(breaker.try_acquire().expect("half-open"));
        assert_eq!(breaker.state(), State::HalfOpen);
        let in_flight = ProbesHeld::new();
        let cancel = {
            let (breaker, in_flight) = (breaker.clone(), in_flight.clone());
            spawn(1, move || attempt(&breaker, &in_flight, 2, None))
        };
        let succeed = {
            let (breaker, in_flight) = (breaker.clone(), in_flight.clone());
            spawn(2, move || {
                attempt(&breaker, &in_flight, 2, Some(Outcome::Success))
            })
        };
        let reset = {
            let breaker = breaker.clone();
            spawn(3, move || breaker.reset())
        };
        for t in [cancel, succeed, reset] {
            t.join().unwrap();
        }
        let left = transitions.count(State::HalfOpen, None);
        if breaker.state() == State::HalfOpen {
            assert_eq!(left, 0);
        } else {
            assert_eq!(left, 1, "half-open was left more than once");
        }
        assert_not_wedged(&breaker, 2);
    });
}

/// A closed call admitted before a `reset()` fails after it: its failure must
/// not count in the fresh window. With a window of 2 calls and a minimum of 2,
/// the one failure recorded after the reset cannot trip the breaker.
#[test]
fn loom_stale_failure_does_not_land_after_reset() {
    loom::model(|| {
        let (breaker, _hand) = breaker(|b| b);
        let stale = breaker.try_acquire().expect("closed");
        let late = spawn(1, move || stale.failure());
        let reset = {
            let breaker = breaker.clone();
            spawn(2, move || {
                breaker.reset();
                breaker.try_acquire().expect("closed after reset").failure();
            })
        };
        late.join().unwrap();
        reset.join().unwrap();
        assert_eq!(breaker.state(), State::Closed, "a stale failure tripped");
        let metrics = breaker.metrics();
        assert_eq!((metrics.calls, metrics.failed_calls), (1, 1));
    });
}

/// As above in consecutive-failures mode: a stale failure must not extend the
/// fresh state's run of failures.
#[test]
fn loom_stale_failure_does_not_extend_the_run() {
    loom::model(|| {
        let (breaker, _hand) =
            breaker(|b| b.count_window(10).minimum_calls(10).consecutive_failures(2));
        let stale = breaker.try_acquire().expect("closed");
        let late = spawn(1, move || stale.failure());
        let reset = {
            let breaker = breaker.clone();
            spawn(2, move || {
                breaker.reset();
                breaker.try_acquire().expect("closed after reset").failure();
            })
        };
        late.join().unwrap();
        reset.join().unwrap();
        assert_eq!(breaker.state(), State::Closed, "a stale failure tripped");
    });
}

/// Named model threads count on their own stripes, as real threads do.
#[test]
fn loom_threads_have_their_stripes() {
    loom::model(|| {
        let stripes = crate::sync::stripe_count();
        assert_eq!(crate::sync::thread_stripe(stripes), 0);
        let one = spawn(1, move || crate::sync::thread_stripe(stripes));
        let two = spawn(2, move || crate::sync::thread_stripe(stripes));
        let (one, two) = (one.join().unwrap(), two.join().unwrap());
        assert_ne!(one, two);
    });
}
