//! Recording: counting the outcome of an admitted call.
//!
//! Three paths, cheapest first:
//!
//! - the fast success: closed, not slow, nothing armed or listening, so one
//!   add on the caller's stripe (inlined into the permit);
//! - the window: a failure, a slow call, or a success that may decide the
//!   state, counted under the window's short lock, then judged
//!   ([`judge_window`]);
//! - the probes: a half-open probe's outcome goes into the probe word, and the
//!   probe that completes the minimum decides ([`judge_probes`]).
//!
//! The judging is pure; the transitions it calls for are `transition.rs`'s.

use std::time::Duration;

use crate::classify::Outcome;
use crate::sync::Ordering;

use super::admit::PermitKind;
use super::config::BreakerConfig;
use super::core::BreakerCore;
use super::event::BreakerEvent;
use super::metrics::SUCCESS_PUBLISH_EVERY;
use super::probe_word::ProbeCounts;
use super::state::State;
use super::state_word::{ticket, Flag, StateWord};
use super::window::{SuccessRecorded, WindowCounts};

/// What the closed window's numbers call for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub(super) enum WindowVerdict {
    /// A threshold is reached: open.
    Trip,
    /// Stay closed; `armed` while the window is below its minimum number of calls.
    Stay { armed: bool },
}

/// Judges the closed window as it stands.
///
/// Once a window holds its minimum, a success can only lower the rates, so
/// successes need no look until it falls below it again (a time window
/// sliding). Below it, the success that completes the minimum may trip: all of
/// them are counted under the lock then (the ARMED flag). Arming only once the
/// failures alone would trip at the minimum is not enough: a success that read
/// the word just before the arming would be counted after the arming failure
/// looked at the window, and nobody would look at the full window.
pub(super) fn judge_window(config: &BreakerConfig, counts: WindowCounts) -> WindowVerdict {
    let minimum = config.minimum_calls_in(State::Closed);
    if config.rates_trip(counts.calls, counts.failures, counts.slow, minimum) {
        WindowVerdict::Trip
    } else {
        WindowVerdict::Stay {
            armed: counts.calls < minimum,
        }
    }
}

/// Whether a run of `failure_run` failures in a row opens the breaker.
pub(super) fn failure_run_trips(config: &BreakerConfig, failure_run: u32) -> bool {
    config
        .consecutive_failures
        .is_some_and(|n| failure_run >= n)
}

/// What the half-open probes decide.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub(super) enum ProbeVerdict {
    /// Not yet: fewer probes than the minimum have completed (or more: the
    /// probe that completed the minimum decided).
    Undecided,
    /// A threshold is reached over the probes: open again.
    Reopen,
    /// The probes went well: close.
    Close,
}

/// Judges the probes of a half-open state after one more completed.
pub(super) fn judge_probes(config: &BreakerConfig, probes: ProbeCounts) -> ProbeVerdict {
    let minimum = config.minimum_calls_in(State::HalfOpen);
    if probes.completed != minimum {
        ProbeVerdict::Undecided
    } else if config.rates_trip(probes.completed, probes.failed, probes.slow, minimum) {
        ProbeVerdict::Reopen
    } else {
        ProbeVerdict::Close
    }
}

impl BreakerCore {
    /// Records the outcome of a call admitted as `kind` with `ticket` (see
    /// `state_word::ticket`).
    ///
    /// `started` is the start time when the config measures durations.
    ///
    /// Inlined into the caller for the common case, a fast success in the closed
    /// state with nothing to time: one load and one add on the caller's stripe.
    #[inline]
    pub(crate) fn record(
        &self,
        stripe: usize,
        kind: PermitKind,
        ticket: u64,
        outcome: Outcome,
        started: Option<u64>,
    ) {
        let generation = ticket::generation(ticket);
        let mut end = None;
        if kind == PermitKind::Window && outcome == Outcome::Success && !self.window.is_timed() {
            // With slow-call detection, a success that was not slow is still a fast
            // success; the end time is read once and handed on if it was slow.
            let slow = started.is_some_and(|start| {
                let now = self.now();
                end = Some(now);
                self.config.is_slow(now.saturating_sub(start))
            });
            if !slow && self.load().fast_success(generation) {
                self.count_fast_success(stripe, 0);
                return;
            }
        }
        self.record_slow(stripe, kind, ticket, outcome, started, end);
    }

    /// Counts a success (neither failed nor slow) on `stripe` without a lock,
    /// ends any run of failures, and publishes the success total now and then.
    #[inline(always)]
    fn count_fast_success(&self, stripe: usize, now: u64) -> SuccessRecorded {
        let recorded = self.window.record_success(stripe, now);
        self.clear_failure_run();
        if recorded.stripe_total.is_multiple_of(SUCCESS_PUBLISH_EVERY) {
            self.publish_successes();
        }
        recorded
    }

    #[inline(never)]
    fn record_slow(
        &self,
        stripe: usize,
        kind: PermitKind,
        ticket: u64,
        outcome: Outcome,
        started: Option<u64>,
        end: Option<u64>,
    ) {
        if kind == PermitKind::Untracked {
            return;
        }
        let needs_now = started.is_some() || (kind == PermitKind::Window && self.window.is_timed());
        let now = match end {
            Some(end) => end,
            None if needs_now => self.now(),
            None => 0,
        };
        let duration = started.map(|start| now.saturating_sub(start));
        let slow = duration.is_some_and(|nanos| self.config.is_slow(nanos));
        match kind {
            PermitKind::Window => {
                self.record_in_window(stripe, ticket, outcome, slow, now, duration)
            }
            PermitKind::Probe => self.record_probe(ticket, outcome, slow, duration),
            PermitKind::Untracked => {}
        }
    }

    fn record_in_window(
        &self,
        stripe: usize,
        ticket: u64,
        outcome: Outcome,
        slow: bool,
        now: u64,
        duration: Option<u64>,
    ) {
        let generation = ticket::generation(ticket);
        let word = self.load();
        if outcome == Outcome::Success && !slow && word.fast_success(generation) {
            if !self.count_fast_success(stripe, now).new_bucket {
                return;
            }
            // Buckets may have slid out of the window: look at it again below.
            return self.evaluate(word, self.window.counts(now));
        }
        if word.generation() != generation
            || !word.state().records_window()
            || self.outlived(ticket)
        {
            return;
        }
        if word.listening() {
            self.emit_recorded(outcome, slow, duration);
        }
        self.count_outcome(outcome, slow);
        let recorded = match outcome {
            Outcome::Ignored => return,
            Outcome::Success if !slow => {
                let recorded = self.window.record_success(stripe, now);
                self.clear_failure_run();
                // Off the fast path already: publish every time.
                self.publish_successes();
                // Unless armed or a bucket slid, a success cannot change the decision.
                if !(word.armed() || recorded.new_bucket) {
                    return;
                }
                return self.evaluate(word, self.window.counts(now));
            }
            _ => {
                let failed = outcome == Outcome::Failure;
                match self.window.record_notable(generation, now, failed, slow) {
                    Some(recorded) => recorded,
                    // The state moved on since `word` was read, and its transition has
                    // already reset the window: this call belongs to the state before.
                    None => return,
                }
            }
        };
        if word.state() == State::Closed && failure_run_trips(&self.config, recorded.failure_run) {
            self.trip(word, recorded.counts);
            return;
        }
        self.evaluate(word, recorded.counts);
    }

    /// Ends a run of consecutive failures when that mode is on.
    #[inline]
    fn clear_failure_run(&self) {
        if self.config.consecutive_failures.is_some() {
            self.window.end_failure_run();
        }
    }

    /// Publishes the window's rates and, closed, acts on [`judge_window`]:
    /// trips, or keeps the ARMED flag true exactly while the window is below
    /// its minimum.
    fn evaluate(&self, word: StateWord, counts: WindowCounts) {
        let minimum = self.config.minimum_calls_in(State::Closed);
        self.metrics.publish_rates(counts, minimum);
        if word.state() != State::Closed {
            return;
        }
        match judge_window(&self.config, counts) {
            WindowVerdict::Trip => self.trip(word, counts),
            WindowVerdict::Stay { armed } => {
                if armed != word.armed() {
                    self.set_flag(word.generation(), Flag::Armed, armed);
                }
            }
        }
    }

    fn record_probe(&self, ticket: u64, outcome: Outcome, slow: bool, duration: Option<u64>) {
        let generation = ticket::generation(ticket);
        // A probe of a half-open state 16,384 x k transitions old carries the
        // current generation, but took no slot in it.
        let _ = self.load();
        if self.outlived(ticket) {
            return;
        }
        // Relaxed load: validated by the CAS.
        let mut raw = self.probe_word.load(Ordering::Relaxed);
        let probes = loop {
            if ProbeCounts::tag(raw) != generation {
                return; // A probe of a half-open state that is over.
            }
            let probes = ProbeCounts::unpack(raw, generation).finish(outcome, slow);
            // AcqRel: see `take_probe`.
            match self.probe_word.compare_exchange_weak(
                raw,
                probes.pack(generation),
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => break probes,
                Err(actual) => raw = actual,
            }
        };
        let word = self.load();
        if word.listening() && word.generation() == generation {
            self.emit_recorded(outcome, slow, duration);
        }
        if outcome == Outcome::Success && !slow {
            // Relaxed: a statistic.
            self.probe_successes.fetch_add(1, Ordering::Relaxed);
            self.publish_successes();
        }
        self.count_outcome(outcome, slow);
        // An ignored probe decides nothing; nor does one of a half-open state that is over.
        if outcome == Outcome::Ignored
            || word.generation() != generation
            || word.state() != State::HalfOpen
        {
            return;
        }
        match judge_probes(&self.config, probes) {
            ProbeVerdict::Undecided => {}
            ProbeVerdict::Reopen => self.trip(word, probes.completed_counts()),
            ProbeVerdict::Close => {
                let _ = self.transition(word, State::Closed, self.now());
            }
        }
    }

    /// Counts a notable outcome, and publishes the success total with it (fast
    /// successes are counted on the stripes, and published by their callers).
    pub(super) fn count_outcome(&self, outcome: Outcome, slow: bool) {
        if let Some(counter) = self.metrics.counter_for(outcome, slow) {
            counter.increment(1);
            self.publish_successes();
        }
    }

    /// Sets `seawall_breaker_calls_total{outcome="success"}` to every fast
    /// success so far: the stripes' and the probes'.
    #[cold]
    #[inline(never)]
    pub(super) fn publish_successes(&self) {
        // Relaxed: a statistic; a success racing this read is published next time.
        let probes = self.probe_successes.load(Ordering::Relaxed);
        self.metrics
            .success
            .absolute(self.window.total_successes() + probes);
    }

    /// Tells the `on_event` listeners of a recorded call.
    fn emit_recorded(&self, outcome: Outcome, slow: bool, duration: Option<u64>) {
        self.emit(&BreakerEvent::CallRecorded {
            name: self.config.name(),
            outcome,
            slow,
            duration: duration.map(Duration::from_nanos),
        });
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn configured(minimum: u32, probes: u32) -> BreakerConfig {
        BreakerConfig::builder()
            .count_window(10)
            .minimum_calls(minimum)
            .failure_rate_threshold(0.5)
            .slow_call_rate_threshold(0.5)
            .permitted_calls_in_half_open(probes)
            .consecutive_failures(3)
            .build()
            .unwrap()
    }

    fn counts(calls: u64, failures: u64, slow: u64) -> WindowCounts {
        WindowCounts {
            calls,
            failures,
            slow,
        }
    }

    #[test]
    fn the_window_trips_at_a_threshold_once_the_minimum_is_in() {
        let config = configured(4, 2);
        let judge = |c| judge_window(&config, c);
        assert_eq!(judge(counts(0, 0, 0)), WindowVerdict::Stay { armed: true });
        assert_eq!(judge(counts(3, 3, 3)), WindowVerdict::Stay { armed: true });
        assert_eq!(judge(counts(4, 1, 1)), WindowVerdict::Stay { armed: false });
        assert_eq!(judge(counts(4, 2, 0)), WindowVerdict::Trip);
        assert_eq!(judge(counts(4, 0, 2)), WindowVerdict::Trip);
        assert_eq!(judge(counts(9, 4, 4)), WindowVerdict::Stay { armed: false });
        assert_eq!(judge(counts(10, 5, 0)), WindowVerdict::Trip);
    }

    #[test]
    fn a_run_of_failures_trips_at_its_length() {
        let config = configured(4, 2);
        assert!(!failure_run_trips(&config, 0));
        assert!(!failure_run_trips(&config, 2));
        assert!(failure_run_trips(&config, 3));
        assert!(failure_run_trips(&config, 4));
        assert!(!failure_run_trips(&BreakerConfig::default(), u32::MAX));
    }

    #[test]
    fn the_probe_that_completes_the_minimum_decides() {
        let probes = |completed, failed, slow| ProbeCounts {
            in_flight: 0,
            completed,
            failed,
            slow,
        };
        // Half-open decides over min(minimum calls, permitted probes) = 2.
        let config = configured(4, 2);
        let judge = |p| judge_probes(&config, p);
        assert_eq!(judge(probes(1, 1, 1)), ProbeVerdict::Undecided);
        assert_eq!(judge(probes(2, 0, 0)), ProbeVerdict::Close);
        assert_eq!(judge(probes(2, 1, 0)), ProbeVerdict::Reopen);
        assert_eq!(judge(probes(2, 0, 1)), ProbeVerdict::Reopen);
        assert_eq!(
            judge(probes(3, 3, 3)),
            ProbeVerdict::Undecided,
            "decided already"
        );
        // Fewer probes than the minimum calls: the minimum is the probes.
        let three = configured(2, 3);
        assert_eq!(judge_probes(&three, probes(2, 1, 0)), ProbeVerdict::Reopen);
        assert_eq!(
            judge_probes(&three, probes(1, 0, 0)),
            ProbeVerdict::Undecided
        );
    }

    #[test]
    fn a_stale_outcome_is_dropped_and_a_fresh_one_counted() {
        use crate::breaker::Breaker;

        let breaker = Breaker::new(configured(4, 2));
        let stale = breaker.try_acquire().unwrap();
        breaker.reset();
        stale.failure();
        assert_eq!(breaker.metrics().calls, 0, "admitted before the reset");
        for _ in 0..3 {
            breaker.try_acquire().unwrap().failure();
        }
        // Three failures in a row: the run trips before the rates are looked at.
        assert_eq!(breaker.state(), State::Open);
        assert_eq!(breaker.metrics().failed_calls, 3);
    }
}
