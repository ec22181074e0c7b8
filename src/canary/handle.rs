//! The rollout: its state word, its analysis and its manual controls.

use std::fmt;
use std::sync::{Arc, Weak};
use std::time::Duration;

use parking_lot::Mutex;

use crate::breaker::{Breaker, State};
use crate::observe::{self, Event, Listener};
use crate::sync::{AtomicU64, Ordering};

use super::config::{CanaryConfig, FULL};
use super::stats::{SideSnapshot, SideStats};

// The state word, one `AtomicU64`:
//
// bit  0..14   weight: the candidate's share in basis points, 0..=10000
// bit 14..16   phase: 0 running, 1 paused, 2 promoted, 3 rolled back
// bit 16..24   step: the index of the current step
// bit 32..64   generation: one more at every change of step or phase, so a
//              call admitted under another step is not counted in this one
const WEIGHT_MASK: u64 = (1 << 14) - 1;
const PHASE_SHIFT: u32 = 14;
const STEP_SHIFT: u32 = 16;
const GENERATION_SHIFT: u32 = 32;

/// Where a rollout is.
///
/// ```
/// use seawall::canary::Phase;
///
/// assert!(Phase::RolledBack.is_final() && !Phase::Paused.is_final());
/// assert_eq!(Phase::Running.to_string(), "running");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Phase {
    /// Steps are held, analysed and promoted.
    Running = 0,
    /// The weight stays where it is and no step is analysed; an opening
    /// candidate breaker still rolls back.
    Paused = 1,
    /// Final: every request goes to the candidate.
    Promoted = 2,
    /// Final: every request goes to the stable service.
    RolledBack = 3,
}

impl Phase {
    fn from_bits(bits: u64) -> Self {
        match bits & 3 {
            0 => Self::Running,
            1 => Self::Paused,
            2 => Self::Promoted,
            _ => Self::RolledBack,
        }
    }

    /// Whether the rollout is over.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Promoted | Self::RolledBack)
    }

    /// The phase's name in `snake_case`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Paused => "paused",
            Self::Promoted => "promoted",
            Self::RolledBack => "rolled_back",
        }
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One read of the state word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Word(u64);

impl Word {
    fn new(weight: u16, phase: Phase, step: usize, generation: u32) -> Self {
        Self(
            u64::from(weight)
                | (phase as u64) << PHASE_SHIFT
                | (step as u64 & 0xFF) << STEP_SHIFT
                | u64::from(generation) << GENERATION_SHIFT,
        )
    }

    #[inline]
    pub(crate) fn weight(self) -> u16 {
        (self.0 & WEIGHT_MASK) as u16
    }

    #[inline]
    pub(crate) fn phase(self) -> Phase {
        Phase::from_bits(self.0 >> PHASE_SHIFT)
    }

    fn step(self) -> usize {
        ((self.0 >> STEP_SHIFT) & 0xFF) as usize
    }

    #[inline]
    pub(crate) fn generation(self) -> u32 {
        (self.0 >> GENERATION_SHIFT) as u32
    }
}

/// What a decision did.
///
/// ```
/// use seawall::canary::Decision;
///
/// assert_eq!(Decision::RollBack.as_str(), "roll_back");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Decision {
    /// Moved to the next step, or (after the last) to
    /// [`Promoted`](Phase::Promoted).
    Promote,
    /// Sent every request back to the stable service, for good.
    RollBack,
    /// Stopped analysing and promoting.
    Pause,
    /// Started the current step afresh after a pause.
    Resume,
}

impl Decision {
    /// The decision's name, the `decision` label of
    /// `seawall_canary_decisions_total`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Promote => "promote",
            Self::RollBack => "roll_back",
            Self::Pause => "pause",
            Self::Resume => "resume",
        }
    }
}

/// Why a decision was made.
///
/// The numbers behind it are in the [`Analysis`] of the same event.
///
/// ```
/// use seawall::canary::Reason;
///
/// assert_eq!(Reason::FailureRateAboveStable.to_string(), "failure_rate_above_stable");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Reason {
    /// The step was held long enough, with enough requests, and the
    /// candidate stayed within bounds.
    WithinBounds,
    /// Someone called the handle.
    Manual,
    /// The candidate's failure rate exceeded the stable side's by more than
    /// allowed.
    FailureRateAboveStable,
    /// The candidate's latency exceeded the stable side's by more than
    /// allowed.
    LatencyAboveStable,
    /// The candidate's failure rate exceeded the absolute limit.
    FailureRateLimit,
    /// The candidate's latency exceeded the absolute limit.
    LatencyLimit,
    /// The candidate's breaker opened.
    BreakerOpen,
    /// The candidate's health component reported down.
    Unhealthy,
    /// The candidate service failed to become ready.
    NotReady,
}

impl Reason {
    /// The reason's name in `snake_case`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::WithinBounds => "within_bounds",
            Self::Manual => "manual",
            Self::FailureRateAboveStable => "failure_rate_above_stable",
            Self::LatencyAboveStable => "latency_above_stable",
            Self::FailureRateLimit => "failure_rate_limit",
            Self::LatencyLimit => "latency_limit",
            Self::BreakerOpen => "breaker_open",
            Self::Unhealthy => "unhealthy",
            Self::NotReady => "not_ready",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One side's numbers in an [`Analysis`] (see its example).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct SideAnalysis {
    /// Calls recorded in the step (ignored outcomes are not counted).
    pub calls: u64,
    /// Of which failed.
    pub failures: u64,
    /// `failures / calls`, once there are calls.
    pub failure_rate: Option<f64>,
    /// The latency at the configured percentile, rounded up to the
    /// histogram's bucket edge (at most 12.5% above).
    pub latency: Option<Duration>,
}

impl SideAnalysis {
    fn from_snapshot(snapshot: &SideSnapshot, percentile: f64) -> Self {
        Self {
            calls: snapshot.calls,
            failures: snapshot.failures,
            failure_rate: (snapshot.calls > 0)
                .then(|| snapshot.failures as f64 / snapshot.calls as f64),
            latency: snapshot.percentile(percentile),
        }
    }
}

/// The numbers a decision was made on: both sides over the same step.
///
/// ```
/// use seawall::canary::{Canary, CanaryConfig};
///
/// let rollout = Canary::new(CanaryConfig::builder().steps([2.5, 100.0]).build()?);
/// let analysis = rollout.analysis();
/// assert_eq!((analysis.step, analysis.weight), (0, 250));
/// assert_eq!(analysis.candidate.calls, 0);
/// assert_eq!(analysis.candidate.failure_rate, None, "no call, no rate");
/// assert_eq!(analysis.stable.latency, None);
/// # Ok::<(), seawall::ConfigError>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Analysis {
    /// The step's index in the configured steps.
    pub step: usize,
    /// The candidate's weight in the step, in basis points.
    pub weight: u16,
    /// How long the step had run.
    pub elapsed: Duration,
    /// The latency percentile compared (0 to 1).
    pub percentile: f64,
    /// The stable side.
    pub stable: SideAnalysis,
    /// The candidate.
    pub candidate: SideAnalysis,
}

/// The health of the candidate, beside its numbers.
pub(crate) enum Guard {
    Breaker(Breaker),
    #[cfg(feature = "health")]
    Component(Arc<dyn crate::health::Component>),
}

/// Metric handles, resolved when the canary is built.
struct Metrics {
    weight: metrics::Gauge,
    promote: metrics::Counter,
    roll_back: metrics::Counter,
    pause: metrics::Counter,
    resume: metrics::Counter,
}

pub(crate) struct Core {
    pub(crate) config: CanaryConfig,
    /// See the bit layout above. Written only under `deciding`, read by every
    /// request.
    word: AtomicU64,
    /// When the current step started, in clock nanoseconds.
    step_started: AtomicU64,
    /// When the next analysis is due, in clock nanoseconds.
    next_analysis: AtomicU64,
    pub(crate) stable: SideStats,
    pub(crate) candidate: SideStats,
    /// Held by whoever decides; a request only ever `try_lock`s it. Never held
    /// across an await or a listener call.
    deciding: Mutex<()>,
    guards: Mutex<Vec<Guard>>,
    listeners: Mutex<Arc<[Listener]>>,
    metrics: Metrics,
}

/// What an analysis found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Verdict {
    /// Out of bounds beyond sampling noise: roll back.
    OutOfBounds(Reason),
    /// Within bounds as measured: promote once the step is complete.
    WithinBounds,
    /// Too few calls, or out of bounds within the noise: hold the step.
    Unclear,
}

/// What [`Core::decide`] did, to be announced once the lock is released.
struct Made {
    decision: Decision,
    reason: Reason,
    from: Word,
    to: Word,
    analysis: Analysis,
}

impl Core {
    #[inline]
    pub(crate) fn load(&self) -> Word {
        // Acquire: pairs with the Release store in `publish`, so whoever routes
        // by a new step also sees that step's fresh counters and start time.
        Word(self.word.load(Ordering::Acquire))
    }

    pub(crate) fn now(&self) -> u64 {
        self.config.clock.now_nanos()
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

    /// Analyses the current step if an analysis is due; with `wait`, waits
    /// for a concurrent decision instead of leaving it to that one.
    pub(crate) fn analyse(&self, now: u64, wait: bool) {
        let made = {
            let _deciding = if wait {
                self.deciding.lock()
            } else {
                match self.try_deciding() {
                    Some(guard) => guard,
                    None => return,
                }
            };
            self.analyse_locked(now)
        };
        self.announce(made);
    }

    fn try_deciding(&self) -> Option<parking_lot::MutexGuard<'_, ()>> {
        self.deciding.try_lock()
    }

    fn analyse_locked(&self, now: u64) -> Option<Made> {
        let word = self.load();
        // Relaxed: written under the lock we hold.
        if word.phase() != Phase::Running || now < self.next_analysis.load(Ordering::Relaxed) {
            return None;
        }
        let analysis = self.analysis(word, now);
        let verdict = match self.unhealthy() {
            Some(reason) => Verdict::OutOfBounds(reason),
            None => self.judge(&analysis),
        };
        if let Verdict::OutOfBounds(reason) = verdict {
            return Some(self.roll_back_locked(reason, analysis, now));
        }
        let config = &self.config;
        let held = analysis.elapsed >= config.hold;
        let enough = analysis.candidate.calls >= config.min_requests.max(config.min_samples);
        if held && enough && verdict == Verdict::WithinBounds {
            return self.promote_locked(Reason::WithinBounds, analysis, now);
        }
        // Not yet: look again after an interval, or at the end of the hold.
        let started = self.step_started.load(Ordering::Relaxed);
        let hold_ends = started.saturating_add(nanos(config.hold));
        let next = now.saturating_add(nanos(config.interval));
        let next = if now < hold_ends {
            next.min(hold_ends)
        } else {
            next
        };
        // Relaxed: read as a hint by requests; decisions read it under the lock.
        self.next_analysis.store(next, Ordering::Relaxed);
        None
    }

    /// The numbers of the step that `word` describes, at `now`.
    pub(crate) fn analysis(&self, word: Word, now: u64) -> Analysis {
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

    /// Why the candidate's own health calls for a roll-back, if it does.
    fn unhealthy(&self) -> Option<Reason> {
        for guard in self.guards.lock().iter() {
            match guard {
                Guard::Breaker(breaker) => {
                    if matches!(breaker.state(), State::Open | State::ForcedOpen) {
                        return Some(Reason::BreakerOpen);
                    }
                }
                #[cfg(feature = "health")]
                Guard::Component(component) => {
                    if component.status() == Some(crate::health::Status::Down) {
                        return Some(Reason::Unhealthy);
                    }
                }
            }
        }
        None
    }

    /// Judges the candidate's numbers: out of bounds beyond doubt, within
    /// bounds, or not yet clear.
    ///
    /// Failure rates are proportions of few calls at small weights: one
    /// failure in the first 20 candidate calls reads as 5%. So a roll-back on
    /// a failure rate needs the excess to stand out from sampling noise: the
    /// observed excess minus `z` standard errors (normal approximation; `z`
    /// from the configured confidence) must still exceed the allowance.
    /// Promotion needs the observed rates themselves within bounds; in between,
    /// the step is held and looked at again. Latencies are compared as
    /// measured, with the ratio and the minimum increase as the noise guard.
    fn judge(&self, analysis: &Analysis) -> Verdict {
        let config = &self.config;
        let candidate = &analysis.candidate;
        if candidate.calls < config.min_samples {
            return Verdict::Unclear;
        }
        let z = config.z;
        let mut clear = true;
        let rate = candidate.failure_rate.unwrap_or(0.0);
        let variance = rate * (1.0 - rate) / candidate.calls as f64;
        if let Some(max) = config.max_failure_rate {
            if rate - z * variance.sqrt() > max {
                return Verdict::OutOfBounds(Reason::FailureRateLimit);
            }
            clear &= rate <= max;
        }
        if let (Some(max), Some(latency)) = (config.max_latency, candidate.latency) {
            if latency > max {
                return Verdict::OutOfBounds(Reason::LatencyLimit);
            }
        }
        let stable = &analysis.stable;
        if stable.calls >= config.min_samples {
            let stable_rate = stable.failure_rate.unwrap_or(0.0);
            let stable_variance = stable_rate * (1.0 - stable_rate) / stable.calls as f64;
            let excess = rate - stable_rate;
            let allowed = config.max_failure_rate_increase;
            // A small epsilon so that "exactly the allowance" is within bounds
            // despite floating-point rounding.
            if excess - z * (variance + stable_variance).sqrt() > allowed + 1e-9 {
                return Verdict::OutOfBounds(Reason::FailureRateAboveStable);
            }
            clear &= excess <= allowed + 1e-9;
            if let (Some(theirs), Some(ours)) = (stable.latency, candidate.latency) {
                let ratio_limit = theirs.as_secs_f64() * config.max_latency_ratio;
                if ours.as_secs_f64() > ratio_limit
                    && ours.saturating_sub(theirs) > config.min_latency_increase
                {
                    return Verdict::OutOfBounds(Reason::LatencyAboveStable);
                }
            }
        }
        // Otherwise there is nothing to compare with (at 100%, or too little
        // stable traffic): the absolute limits alone apply.
        if clear {
            Verdict::WithinBounds
        } else {
            Verdict::Unclear
        }
    }

    fn promote_locked(&self, reason: Reason, analysis: Analysis, now: u64) -> Option<Made> {
        let from = self.load();
        if from.phase().is_final() {
            return None;
        }
        let next = from.step() + 1;
        let to = match self.config.steps.get(next) {
            Some(&weight) => Word::new(weight, Phase::Running, next, from.generation() + 1),
            None => Word::new(FULL, Phase::Promoted, from.step(), from.generation() + 1),
        };
        self.publish(to, now);
        Some(Made {
            decision: Decision::Promote,
            reason,
            from,
            to,
            analysis,
        })
    }

    fn roll_back_locked(&self, reason: Reason, analysis: Analysis, now: u64) -> Made {
        let from = self.load();
        let to = Word::new(0, Phase::RolledBack, from.step(), from.generation() + 1);
        self.publish(to, now);
        Made {
            decision: Decision::RollBack,
            reason,
            from,
            to,
            analysis,
        }
    }

    /// Starts a fresh step (or final phase) `to` at `now`. Only under the lock.
    fn publish(&self, to: Word, now: u64) {
        self.stable.reset();
        self.candidate.reset();
        // Relaxed: published by the Release store of the word below.
        self.step_started.store(now, Ordering::Relaxed);
        let hold_ends = now.saturating_add(nanos(self.config.hold));
        let first = now
            .saturating_add(nanos(self.config.interval))
            .min(hold_ends);
        self.next_analysis.store(first, Ordering::Relaxed);
        // Release: pairs with the Acquire in `load`; the resets and times above
        // happen before any request routes by the new word. A call counted
        // between the resets and this store (admitted under the old step) may
        // land in the new step's counters: at most the calls in flight.
        self.word.store(to.0, Ordering::Release);
        self.metrics
            .weight
            .set(f64::from(to.weight()) / f64::from(FULL));
    }

    /// Runs a manual or health decision under the lock and announces it.
    pub(crate) fn decide(&self, decision: Decision, reason: Reason) -> bool {
        let made = {
            let _deciding = self.deciding.lock();
            let from = self.load();
            let now = self.now();
            let analysis = self.analysis(from, now);
            match (decision, from.phase()) {
                (_, phase) if phase.is_final() => None,
                (Decision::RollBack, _) => Some(self.roll_back_locked(reason, analysis, now)),
                (Decision::Promote, _) => self.promote_locked(reason, analysis, now),
                (Decision::Pause, Phase::Running) => {
                    let to = Word::new(
                        from.weight(),
                        Phase::Paused,
                        from.step(),
                        from.generation() + 1,
                    );
                    self.publish(to, now);
                    Some(Made {
                        decision,
                        reason,
                        from,
                        to,
                        analysis,
                    })
                }
                (Decision::Resume, Phase::Paused) => {
                    let to = Word::new(
                        from.weight(),
                        Phase::Running,
                        from.step(),
                        from.generation() + 1,
                    );
                    self.publish(to, now);
                    Some(Made {
                        decision,
                        reason,
                        from,
                        to,
                        analysis,
                    })
                }
                _ => None,
            }
        };
        let made_one = made.is_some();
        self.announce(made);
        made_one
    }

    /// Counts and announces a decision, outside the lock so that a listener
    /// may call the handle.
    fn announce(&self, made: Option<Made>) {
        let Some(made) = made else { return };
        match made.decision {
            Decision::Promote => self.metrics.promote.increment(1),
            Decision::RollBack => self.metrics.roll_back.increment(1),
            Decision::Pause => self.metrics.pause.increment(1),
            Decision::Resume => self.metrics.resume.increment(1),
        }
        let listeners = self.listeners.lock().clone();
        if listeners.is_empty() {
            return;
        }
        let event = Event::CanaryDecision {
            name: self.config.name(),
            decision: made.decision,
            reason: made.reason,
            from_weight: made.from.weight(),
            to_weight: made.to.weight(),
            phase: made.to.phase(),
            analysis: &made.analysis,
        };
        observe::emit(&listeners, &event);
    }
}

fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

/// A canary rollout, shared by every clone: the weight, the analysis and the
/// manual controls.
///
/// Give it to [`CanaryService`](super::CanaryService) (or [`CanaryLayer`](super::CanaryLayer))
/// to route requests. Each step is held for the configured time and number of
/// candidate requests, and analysed every interval; the request that finds an
/// analysis due runs it (or [`tick`](Self::tick), or
/// [`spawn_ticker`](Self::spawn_ticker) when traffic is sparse).
///
/// # Clone
///
/// Cloning is cheap and every clone is the same rollout.
///
/// ```
/// use seawall::canary::{CanaryConfig, Canary, Phase};
///
/// let rollout = Canary::new(CanaryConfig::builder().steps([10.0, 100.0]).build()?);
/// assert_eq!((rollout.phase(), rollout.weight()), (Phase::Running, 1_000));
/// rollout.pause();
/// assert_eq!(rollout.phase(), Phase::Paused);
/// rollout.promote(); // to the next step, analysing again
/// assert_eq!((rollout.phase(), rollout.weight()), (Phase::Running, 10_000));
/// rollout.roll_back();
/// assert_eq!((rollout.phase(), rollout.weight()), (Phase::RolledBack, 0));
/// # Ok::<(), seawall::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct Canary {
    pub(crate) core: Arc<Core>,
}

impl Canary {
    /// A rollout with `config`, running at its first step from now.
    pub fn new(config: CanaryConfig) -> Self {
        let name = config.name.clone();
        let decisions = |decision: Decision| metrics::counter!(observe::CANARY_DECISIONS_TOTAL, "name" => name.clone(), "decision" => decision.as_str());
        let metrics = Metrics {
            weight: metrics::gauge!(observe::CANARY_WEIGHT, "name" => name.clone()),
            promote: decisions(Decision::Promote),
            roll_back: decisions(Decision::RollBack),
            pause: decisions(Decision::Pause),
            resume: decisions(Decision::Resume),
        };
        let first = Word::new(config.steps[0], Phase::Running, 0, 0);
        let core = Core {
            word: AtomicU64::new(0),
            step_started: AtomicU64::new(0),
            next_analysis: AtomicU64::new(0),
            stable: SideStats::new(),
            candidate: SideStats::new(),
            deciding: Mutex::new(()),
            guards: Mutex::new(Vec::new()),
            listeners: Mutex::new(Arc::from(Vec::new())),
            metrics,
            config,
        };
        let now = core.now();
        core.publish(first, now);
        Self {
            core: Arc::new(core),
        }
    }

    /// Watches the candidate's `breaker`: when it opens (or is forced open)
    /// the rollout rolls back at once, from the breaker's transition, without
    /// waiting for an analysis. An open breaker found at an analysis rolls
    /// back too.
    ///
    /// ```
    /// use seawall::breaker::{Breaker, BreakerConfig};
    /// use seawall::canary::{CanaryConfig, Canary, Phase};
    ///
    /// let breaker = Breaker::new(BreakerConfig::default());
    /// let rollout = Canary::new(CanaryConfig::default());
    /// rollout.watch_breaker(&breaker);
    /// breaker.force_open();
    /// assert_eq!(rollout.phase(), Phase::RolledBack);
    /// ```
    pub fn watch_breaker(&self, breaker: &Breaker) {
        self.core
            .guards
            .lock()
            .push(Guard::Breaker(breaker.clone()));
        let core: Weak<Core> = Arc::downgrade(&self.core);
        breaker.on_state_transition(move |event: &Event<'_>| {
            if let Event::StateTransition {
                to: State::Open | State::ForcedOpen,
                ..
            } = event
            {
                if let Some(core) = core.upgrade() {
                    core.decide(Decision::RollBack, Reason::BreakerOpen);
                }
            }
        });
        if matches!(breaker.state(), State::Open | State::ForcedOpen) {
            self.core.decide(Decision::RollBack, Reason::BreakerOpen);
        }
    }

    /// Watches a health `component` of the candidate: reported
    /// [`Down`](crate::health::Status::Down) at an analysis, the rollout rolls
    /// back.
    ///
    /// ```
    /// use seawall::canary::{Canary, CanaryConfig};
    /// use seawall::health::Check;
    ///
    /// let rollout = Canary::new(CanaryConfig::default());
    /// rollout.watch_component(Check::new("candidate-db", || async { Ok::<_, std::io::Error>(()) }));
    /// ```
    #[cfg(feature = "health")]
    pub fn watch_component<C: crate::health::Component>(&self, component: C) {
        self.core
            .guards
            .lock()
            .push(Guard::Component(Arc::new(component)));
    }

    /// The candidate's share of requests now, in basis points (0 to 10000).
    pub fn weight(&self) -> u16 {
        self.core.load().weight()
    }

    /// Where the rollout is.
    pub fn phase(&self) -> Phase {
        self.core.load().phase()
    }

    /// The index of the current step in the configured steps.
    pub fn step(&self) -> usize {
        self.core.load().step()
    }

    /// The numbers of the current step so far.
    pub fn analysis(&self) -> Analysis {
        self.core.analysis(self.core.load(), self.core.now())
    }

    /// The configuration the rollout was built with.
    pub fn config(&self) -> &CanaryConfig {
        &self.core.config
    }

    /// The canary's name.
    pub fn name(&self) -> &str {
        self.core.config.name()
    }

    /// Runs an analysis if one is due, as a finished request would. Needed
    /// only when requests are too sparse to run them.
    pub fn tick(&self) {
        self.core.analyse(self.core.now(), true);
    }

    /// Spawns a task that [`tick`](Self::tick)s every analysis interval
    /// until the rollout is over (or every handle is gone). Needs a tokio
    /// runtime with its timer enabled.
    pub fn spawn_ticker(&self) -> tokio::task::JoinHandle<()> {
        let core = Arc::downgrade(&self.core);
        let every = self.core.config.interval;
        tokio::spawn(async move {
            let mut interval = tokio::time::interval(every);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                interval.tick().await;
                let Some(core) = core.upgrade() else { return };
                if core.load().phase().is_final() {
                    return;
                }
                core.analyse(core.now(), true);
            }
        })
    }

    /// Stops analysing and promoting; the weight stays. Whether it paused (it
    /// was running).
    pub fn pause(&self) -> bool {
        self.core.decide(Decision::Pause, Reason::Manual)
    }

    /// Starts the current step afresh (its hold, its requests, its numbers)
    /// after a pause. Whether it resumed (it was paused).
    pub fn resume(&self) -> bool {
        self.core.decide(Decision::Resume, Reason::Manual)
    }

    /// Moves to the next step now, or after the last to
    /// [`Promoted`](Phase::Promoted), running. Whether it moved (the rollout
    /// was not over).
    pub fn promote(&self) -> bool {
        self.core.decide(Decision::Promote, Reason::Manual)
    }

    /// Sends every request to the stable service, for good. Whether it rolled
    /// back (the rollout was not over).
    pub fn roll_back(&self) -> bool {
        self.core.decide(Decision::RollBack, Reason::Manual)
    }

    /// Calls `listener` for every decision from now on, with the numbers it
    /// was made on ([`Event::CanaryDecision`]). Decisions are rare; requests
    /// never build an event. A panicking listener is caught.
    ///
    /// ```
    /// use seawall::canary::{CanaryConfig, Canary, Decision};
    /// use seawall::observe::Event;
    /// use std::sync::{Arc, Mutex};
    ///
    /// let rollout = Canary::new(CanaryConfig::default());
    /// let seen = Arc::new(Mutex::new(Vec::new()));
    /// let log = seen.clone();
    /// rollout.on_event(move |event: &Event<'_>| {
    ///     if let Event::CanaryDecision { decision, reason, .. } = event {
    ///         log.lock().unwrap().push((*decision, *reason));
    ///     }
    /// });
    /// rollout.roll_back();
    /// assert_eq!(seen.lock().unwrap()[0].0, Decision::RollBack);
    /// ```
    pub fn on_event<F>(&self, listener: F)
    where
        F: Fn(&Event<'_>) + Send + Sync + 'static,
    {
        let mut listeners = self.core.listeners.lock();
        let mut all: Vec<Listener> = listeners.iter().cloned().collect();
        all.push(Arc::new(listener));
        *listeners = Arc::from(all);
    }
}

impl fmt::Debug for Canary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let word = self.core.load();
        f.debug_struct("Canary")
            .field("name", &self.name())
            .field("phase", &word.phase())
            .field("step", &word.step())
            .field("weight", &word.weight())
            .finish()
    }
}

#[cfg(feature = "health")]
mod component {
    use crate::health::{Component, ComponentFuture, Details, Status};

    use super::{Canary, Phase};

    /// A canary in the health registry: up while it runs, is paused or has
    /// promoted; [`Degraded`](Status::Degraded) once rolled back (the stable
    /// service answers everything, but the release failed and wants a look).
    /// Its details carry the phase, the weight, the step and both sides'
    /// numbers.
    ///
    /// ```
    /// use seawall::canary::{Canary, CanaryConfig};
    /// use seawall::health::{Criticality, HealthRegistry, Status};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let rollout = Canary::new(CanaryConfig::default());
    /// let health = HealthRegistry::new();
    /// health.register_canary(&rollout, Criticality::non_critical());
    /// health.mark_started();
    /// rollout.roll_back();
    /// let report = health.report().await;
    /// assert_eq!(report.status, Status::Degraded);
    /// assert_eq!(report.components[0].details.state.as_deref(), Some("rolled_back"));
    /// # }
    /// ```
    impl Component for Canary {
        fn name(&self) -> &str {
            self.core.config.name()
        }

        fn kind(&self) -> &str {
            "canary"
        }

        fn status(&self) -> Option<Status> {
            Some(status_of(self.phase()))
        }

        fn check(&self) -> ComponentFuture<'_> {
            let word = self.core.load();
            let analysis = self.core.analysis(word, self.core.now());
            let mut details = Details::new(status_of(word.phase()));
            details.state = Some(word.phase().as_str().to_owned());
            details.failure_rate = analysis.candidate.failure_rate;
            let millis =
                |latency: Option<std::time::Duration>| latency.map(|l| l.as_secs_f64() * 1000.0);
            let details = details
                .with_extra("weight_percent", f64::from(word.weight()) / 100.0)
                .with_extra("step", word.step() as u64)
                .with_extra("candidate_calls", analysis.candidate.calls)
                .with_extra("candidate_failures", analysis.candidate.failures)
                .with_extra("candidate_latency_ms", millis(analysis.candidate.latency))
                .with_extra("stable_calls", analysis.stable.calls)
                .with_extra("stable_failures", analysis.stable.failures)
                .with_extra("stable_latency_ms", millis(analysis.stable.latency));
            Box::pin(std::future::ready(details))
        }
    }

    fn status_of(phase: Phase) -> Status {
        match phase {
            Phase::RolledBack => Status::Degraded,
            Phase::Running | Phase::Paused | Phase::Promoted => Status::Up,
        }
    }
}
