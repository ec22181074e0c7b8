//! The rollout shared by every handle, service and response future: its
//! state word, both sides' numbers, and the controller that promotes and
//! rolls back.
//!
//! Requests only read the word and add to their side's counters. Every
//! change of step or phase is made under `decision_lock` (a request only
//! ever `try_lock`s it), published by one Release store of the word, and
//! announced to listeners after the lock is released.

use std::time::Duration;

use crate::observe::{self, Listeners};
use crate::sync::{AtomicU64, Mutex, Ordering};

use super::config::{CanaryConfig, FULL_WEIGHT};
use super::decision::{Analysis, CanaryDecision, Reason, SideAnalysis};
use super::event::CanaryEvent;
use super::judge::{judge, Verdict};
use super::state::{Phase, StateWord};
use super::stats::SideStats;
use super::watch::{unhealthy, HealthWatch};

/// A listener registered with [`Canary::on_event`](super::Canary::on_event).
pub(crate) type CanaryListener = dyn Fn(&CanaryEvent<'_>) + Send + Sync;

/// Metric handles, resolved when the canary is built.
struct DecisionMetrics {
    weight: metrics::Gauge,
    promote: metrics::Counter,
    roll_back: metrics::Counter,
    pause: metrics::Counter,
    resume: metrics::Counter,
}

impl DecisionMetrics {
    fn new(name: &str) -> Self {
        let decisions = |decision: CanaryDecision| {
            metrics::counter!(
                observe::CANARY_DECISIONS_TOTAL,
                "name" => name.to_owned(),
                "decision" => decision.as_str(),
            )
        };
        Self {
            weight: metrics::gauge!(observe::CANARY_WEIGHT, "name" => name.to_owned()),
            promote: decisions(CanaryDecision::Promote),
            roll_back: decisions(CanaryDecision::RollBack),
            pause: decisions(CanaryDecision::Pause),
            resume: decisions(CanaryDecision::Resume),
        }
    }

    fn count(&self, decision: CanaryDecision) {
        match decision {
            CanaryDecision::Promote => self.promote.increment(1),
            CanaryDecision::RollBack => self.roll_back.increment(1),
            CanaryDecision::Pause => self.pause.increment(1),
            CanaryDecision::Resume => self.resume.increment(1),
        }
    }
}

/// One rollout's state, shared by the clones of its handle, its services and
/// their response futures.
pub(crate) struct CanaryCore {
    pub(crate) config: CanaryConfig,
    /// The [`StateWord`]. Written only under `decision_lock`, read by every
    /// request.
    word: AtomicU64,
    /// When the current step started, in clock nanoseconds.
    step_started: AtomicU64,
    /// When the next analysis is due, in clock nanoseconds.
    next_analysis: AtomicU64,
    /// Since when the candidate has been not ready, in clock nanoseconds;
    /// `READY` while it is ready (or nobody has polled it yet).
    candidate_not_ready_since: AtomicU64,
    stable: SideStats,
    candidate: SideStats,
    /// Held by whoever decides; a request only ever `try_lock`s it. Never held
    /// across an await or a listener call.
    decision_lock: Mutex<()>,
    health: Mutex<Vec<HealthWatch>>,
    pub(crate) listeners: Listeners<CanaryListener>,
    /// Seeds for each service's random stream, so that clones do not repeat
    /// each other.
    seeds: AtomicU64,
    metrics: DecisionMetrics,
}

/// In `candidate_not_ready_since`: the candidate was ready when last polled.
const READY: u64 = u64::MAX;

/// What a decision did, to be counted and announced once the lock is
/// released.
struct DecisionMade {
    decision: CanaryDecision,
    reason: Reason,
    from: StateWord,
    to: StateWord,
    analysis: Analysis,
}

impl CanaryCore {
    /// A rollout with `config`, running at its first step from now.
    pub(crate) fn new(config: CanaryConfig) -> Self {
        let first = StateWord::new(config.steps[0], Phase::Running, 0, 0);
        // A start of its own for each rollout (std's hasher keys differ per
        // instance), so that services of two rollouts draw different streams.
        let seed =
            std::hash::BuildHasher::hash_one(&std::collections::hash_map::RandomState::new(), 0_u8);
        let core = Self {
            word: AtomicU64::new(0),
            step_started: AtomicU64::new(0),
            next_analysis: AtomicU64::new(0),
            candidate_not_ready_since: AtomicU64::new(READY),
            stable: SideStats::new(),
            candidate: SideStats::new(),
            decision_lock: Mutex::new(()),
            health: Mutex::new(Vec::new()),
            listeners: Listeners::new(),
            seeds: AtomicU64::new(seed),
            metrics: DecisionMetrics::new(config.name()),
            config,
        };
        let now = core.now();
        core.publish(first, now);
        core
    }

    #[inline]
    pub(crate) fn load(&self) -> StateWord {
        // Acquire: pairs with the Release store in `publish`, so whoever routes
        // by a new step also sees that step's fresh counters and start time.
        StateWord::from_bits(self.word.load(Ordering::Acquire))
    }

    pub(crate) fn now(&self) -> u64 {
        self.config.clock.now_nanos()
    }

    /// A seed for a new service's random stream: a draw from the canary's own
    /// stream, not the next counter value. Streams seeded one step apart would
    /// be the same sequence shifted by one, so clones that each route a few
    /// requests would all land on the same low draws and send the candidate
    /// far more than its weight.
    pub(crate) fn next_seed(&self) -> u64 {
        // Relaxed: any distinct value will do; nothing is published through it.
        let mut counter = self.seeds.fetch_add(1, Ordering::Relaxed);
        super::routing::splitmix(&mut counter)
    }

    /// Watches `source` from the next analysis on.
    pub(crate) fn watch(&self, source: HealthWatch) {
        self.health.lock().push(source);
    }

    /// Counts a finished call admitted under `generation`, and analyses the
    /// step if an analysis is due.
    #[inline]
    pub(crate) fn record(
        &self,
        candidate: bool,
        generation: u32,
        failed: bool,
        took: Duration,
        now: u64,
    ) {
        let word = self.load();
        if word.generation() != generation || word.phase().is_final() {
            // Admitted under another step: it says nothing about this one.
            return;
        }
        let side = if candidate {
            &self.candidate
        } else {
            &self.stable
        };
        side.record(failed, took);
        // Relaxed: a hint; `analyse_locked` checks again under the lock.
        if word.phase() == Phase::Running && now >= self.next_analysis.load(Ordering::Relaxed) {
            self.analyse(now, false);
        }
    }

    /// Counts a request that would have gone to the candidate under
    /// `generation`, had it been ready, as one of its failures.
    pub(crate) fn record_not_ready(&self, generation: u32, now: u64) {
        let word = self.load();
        if word.generation() != generation || word.phase().is_final() {
            return;
        }
        self.candidate.record_not_ready();
        // Relaxed: a hint, as in `record`.
        if word.phase() == Phase::Running && now >= self.next_analysis.load(Ordering::Relaxed) {
            self.analyse(now, false);
        }
    }

    /// Notes that the candidate was polled ready.
    #[inline]
    pub(crate) fn candidate_ready(&self) {
        // Relaxed, load first: a plain time stamp, written only on a change, so
        // that a ready candidate costs its pollers no shared write.
        if self.candidate_not_ready_since.load(Ordering::Relaxed) != READY {
            self.candidate_not_ready_since
                .store(READY, Ordering::Relaxed);
        }
    }

    /// Notes that the candidate was polled not ready at `now`, and rolls the
    /// rollout back once it has been so for longer than `max_not_ready`.
    pub(crate) fn candidate_not_ready(&self, now: u64) {
        // Relaxed: a plain time stamp; the first poller to find the candidate not
        // ready sets it, and whoever finds it too old decides under the lock.
        let since = self.candidate_not_ready_since.load(Ordering::Relaxed);
        if since == READY {
            let _ = self.candidate_not_ready_since.compare_exchange(
                READY,
                now,
                Ordering::Relaxed,
                Ordering::Relaxed,
            );
        } else if self.not_ready_too_long(since, now) {
            self.decide(CanaryDecision::RollBack, Reason::NotReadyTooLong);
        }
    }

    /// Whether a candidate not ready since `since` has been so too long at `now`.
    fn not_ready_too_long(&self, since: u64, now: u64) -> bool {
        since != READY && now.saturating_sub(since) > nanos(self.config.max_not_ready)
    }

    /// Analyses the current step if an analysis is due; with `wait`, waits
    /// for a concurrent decision instead of leaving it to that one.
    pub(crate) fn analyse(&self, now: u64, wait: bool) {
        let made = {
            let _decision_lock = if wait {
                self.decision_lock.lock()
            } else {
                match self.decision_lock.try_lock() {
                    Some(guard) => guard,
                    None => return,
                }
            };
            self.analyse_locked(now)
        };
        self.announce(made);
    }

    fn analyse_locked(&self, now: u64) -> Option<DecisionMade> {
        let word = self.load();
        // Relaxed: written under the lock we hold.
        if word.phase() != Phase::Running || now < self.next_analysis.load(Ordering::Relaxed) {
            return None;
        }
        let analysis = self.analysis(word, now);
        // Relaxed: a time stamp; see `candidate_not_ready`.
        let not_ready_since = self.candidate_not_ready_since.load(Ordering::Relaxed);
        let health = unhealthy(&self.health.lock());
        let verdict = match health {
            Some(reason) => Verdict::RollBack(reason),
            None if self.not_ready_too_long(not_ready_since, now) => {
                Verdict::RollBack(Reason::NotReadyTooLong)
            }
            None => judge(&analysis, &self.config),
        };
        match verdict {
            Verdict::RollBack(reason) => Some(self.roll_back_locked(reason, analysis, now)),
            Verdict::Promote => self.promote_locked(Reason::WithinBounds, analysis, now),
            Verdict::Hold(_) => {
                // Relaxed: written before the word that published the step.
                let started = self.step_started.load(Ordering::Relaxed);
                let next = next_analysis_after(now, started, &self.config);
                // Relaxed: read as a hint by requests; decisions read it under the lock.
                self.next_analysis.store(next, Ordering::Relaxed);
                None
            }
        }
    }

    /// The numbers of the step that `word` describes, at `now`.
    pub(crate) fn analysis(&self, word: StateWord, now: u64) -> Analysis {
        let percentile = self.config.percentile;
        // Relaxed: written before the word that published the step.
        let started = self.step_started.load(Ordering::Relaxed);
        Analysis {
            step: word.step(),
            weight: word.weight(),
            elapsed: Duration::from_nanos(now.saturating_sub(started)),
            percentile,
            stable: SideAnalysis::from_snapshot(&self.stable.snapshot(), percentile),
            candidate: SideAnalysis::from_snapshot(&self.candidate.snapshot(), percentile),
        }
    }

    fn promote_locked(&self, reason: Reason, analysis: Analysis, now: u64) -> Option<DecisionMade> {
        let from = self.load();
        if from.phase().is_final() {
            return None;
        }
        let next = from.step() + 1;
        let to = match self.config.steps.get(next) {
            Some(&weight) => StateWord::new(weight, Phase::Running, next, from.next_generation()),
            None => StateWord::new(
                FULL_WEIGHT,
                Phase::Promoted,
                from.step(),
                from.next_generation(),
            ),
        };
        self.publish(to, now);
        Some(DecisionMade {
            decision: CanaryDecision::Promote,
            reason,
            from,
            to,
            analysis,
        })
    }

    fn roll_back_locked(&self, reason: Reason, analysis: Analysis, now: u64) -> DecisionMade {
        let from = self.load();
        let to = StateWord::new(0, Phase::RolledBack, from.step(), from.next_generation());
        self.publish(to, now);
        DecisionMade {
            decision: CanaryDecision::RollBack,
            reason,
            from,
            to,
            analysis,
        }
    }

    /// Keeps the step and its weight in `phase`, with fresh numbers. Only
    /// under the lock.
    fn pause_or_resume_locked(
        &self,
        decision: CanaryDecision,
        reason: Reason,
        phase: Phase,
        analysis: Analysis,
        now: u64,
    ) -> DecisionMade {
        let from = self.load();
        let to = from.with_phase(phase);
        self.publish(to, now);
        DecisionMade {
            decision,
            reason,
            from,
            to,
            analysis,
        }
    }

    /// Starts a fresh step (or final phase) `to` at `now`. Only under the lock.
    fn publish(&self, to: StateWord, now: u64) {
        self.stable.reset();
        self.candidate.reset();
        // Relaxed: published by the Release store of the word below.
        self.step_started.store(now, Ordering::Relaxed);
        self.next_analysis
            .store(first_analysis(now, &self.config), Ordering::Relaxed);
        // Release: pairs with the Acquire in `load`; the resets and times above
        // happen before any request routes by the new word. A call counted
        // between the resets and this store (admitted under the old step) may
        // land in the new step's counters: at most the calls in flight.
        self.word.store(to.bits(), Ordering::Release);
        self.metrics
            .weight
            .set(f64::from(to.weight()) / f64::from(FULL_WEIGHT));
    }

    /// Runs a manual or health decision under the lock and announces it;
    /// whether it changed anything.
    pub(crate) fn decide(&self, decision: CanaryDecision, reason: Reason) -> bool {
        let made = {
            let _decision_lock = self.decision_lock.lock();
            let from = self.load();
            let now = self.now();
            let analysis = self.analysis(from, now);
            match (decision, from.phase()) {
                (_, phase) if phase.is_final() => None,
                (CanaryDecision::RollBack, _) => Some(self.roll_back_locked(reason, analysis, now)),
                (CanaryDecision::Promote, _) => self.promote_locked(reason, analysis, now),
                (CanaryDecision::Pause, Phase::Running) => Some(self.pause_or_resume_locked(
                    decision,
                    reason,
                    Phase::Paused,
                    analysis,
                    now,
                )),
                (CanaryDecision::Resume, Phase::Paused) => Some(self.pause_or_resume_locked(
                    decision,
                    reason,
                    Phase::Running,
                    analysis,
                    now,
                )),
                _ => None,
            }
        };
        let changed = made.is_some();
        self.announce(made);
        changed
    }

    /// Counts and announces a decision, outside the lock so that a listener
    /// may call the handle.
    fn announce(&self, made: Option<DecisionMade>) {
        let Some(made) = made else { return };
        self.metrics.count(made.decision);
        #[cfg(feature = "tracing")]
        super::trace::decided(
            self.config.name(),
            made.decision,
            made.reason,
            (made.from.weight(), made.to.weight()),
            made.to.phase(),
            &made.analysis,
        );
        if self.listeners.is_empty() {
            return;
        }
        let event = CanaryEvent::Decided {
            name: self.config.name(),
            decision: made.decision,
            reason: made.reason,
            from_weight: made.from.weight(),
            to_weight: made.to.weight(),
            phase: made.to.phase(),
            analysis: &made.analysis,
        };
        self.listeners.notify(|listener| listener(&event));
    }
}

/// When a step that starts at `now` is first analysed: an interval later, or
/// at the end of its hold if that comes first.
fn first_analysis(now: u64, config: &CanaryConfig) -> u64 {
    let hold_ends = now.saturating_add(nanos(config.hold));
    now.saturating_add(nanos(config.interval)).min(hold_ends)
}

/// When a step that started at `started` and was held at `now` is analysed
/// next: an interval later, or at the end of its hold if that comes first.
fn next_analysis_after(now: u64, started: u64, config: &CanaryConfig) -> u64 {
    let hold_ends = started.saturating_add(nanos(config.hold));
    let next = now.saturating_add(nanos(config.interval));
    if now < hold_ends {
        next.min(hold_ends)
    } else {
        next
    }
}

fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}
