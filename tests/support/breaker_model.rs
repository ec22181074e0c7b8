//! The sequential reference model of the circuit breaker, and a harness that
//! drives it and a real [`Breaker`] through the same operations.
//!
//! Shared by the property tests (`tests/breaker_model.rs`) and the fuzz target
//! `fuzz/fuzz_targets/breaker_ops.rs`, which include this file by path. It uses
//! nothing but `seawall` and `std`, so both can build it.
//!
//! The model is written from the specification (the module docs of
//! `seawall::breaker`), not from the implementation: where the two disagree the
//! specification decides which one is wrong.

#![allow(dead_code)] // Each user drives its own subset.

use std::collections::VecDeque;
use std::fmt;
use std::time::Duration;

use seawall::breaker::{Breaker, BreakerConfig, BreakerPermit, HalfOpenTimeout, OpenWait, State};
use seawall::classify::Outcome;
use seawall::clock::{Clock, ManualClock};

pub const MS: u64 = 1_000_000;
pub const SECOND: u64 = 1_000 * MS;
/// Rates are compared in millionths.
const SCALE: u64 = 1_000_000;

/// Where and how the breaker and the model disagreed, with the steps that led there.
#[derive(Debug)]
pub struct Divergence(pub String);

impl fmt::Display for Divergence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `assert_eq!` that returns a [`Divergence`] instead of panicking.
macro_rules! ensure_eq {
    ($real:expr, $model:expr, $($context:tt)+) => {{
        let (real, model) = (&$real, &$model);
        if real != model {
            return Err(Divergence(format!(
                "{}: breaker {:?}, model {:?}",
                format_args!($($context)+),
                real,
                model
            )));
        }
    }};
}

// ---------------------------------------------------------------------------
// The configuration under test
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, Debug)]
pub enum WindowSpec {
    Count { size: u64 },
    Time { duration_ms: u64, buckets: u64 },
}

#[derive(Clone, Copy, Debug)]
pub struct WaitSpec {
    pub initial_ns: u64,
    /// 1 for a fixed wait. Whole multipliers keep `initial * multiplier^n` a
    /// whole number of nanoseconds, so the model needs no rounding rule.
    pub multiplier: u32,
    pub max_ns: u64,
    pub exponential: bool,
}

#[derive(Clone, Copy, Debug)]
pub struct Spec {
    pub window: WindowSpec,
    pub minimum_calls: u64,
    pub failure_threshold: f64,
    pub slow_threshold: f64,
    pub slow_call_ns: Option<u64>,
    pub consecutive_failures: Option<u32>,
    pub wait: WaitSpec,
    pub permitted: u64,
    pub half_open_wait: HalfOpenWaitSpec,
}

/// How long half-open waits for its probes.
#[derive(Clone, Copy, Debug)]
pub enum HalfOpenWaitSpec {
    /// The default: twice the open wait before it, then open again.
    TwiceOpenWait,
    /// At most this many nanoseconds, then the given state.
    At(u64, HalfOpenTimeout),
    /// For ever.
    Unbounded,
}

impl Spec {
    fn config(&self, clock: Clock) -> BreakerConfig {
        let wait = &self.wait;
        let open_wait = if wait.exponential {
            OpenWait::exponential(
                Duration::from_nanos(wait.initial_ns),
                f64::from(wait.multiplier),
                Duration::from_nanos(wait.max_ns),
            )
        } else {
            OpenWait::fixed(Duration::from_nanos(wait.initial_ns))
        };
        let mut builder = BreakerConfig::builder()
            .name("model")
            .clock(clock)
            .minimum_calls(self.minimum_calls as u32)
            .failure_rate_threshold(self.failure_threshold)
            .slow_call_rate_threshold(self.slow_threshold)
            .open_wait(open_wait)
            .permitted_calls_in_half_open(self.permitted as u32);
        builder = match self.window {
            WindowSpec::Count { size } => builder.count_window(size as u32),
            WindowSpec::Time {
                duration_ms,
                buckets,
            } => builder.time_window(Duration::from_millis(duration_ms), buckets as u32),
        };
        if let Some(ns) = self.slow_call_ns {
            builder = builder.slow_call_duration_threshold(Duration::from_nanos(ns));
        }
        if let Some(n) = self.consecutive_failures {
            builder = builder.consecutive_failures(n);
        }
        match self.half_open_wait {
            HalfOpenWaitSpec::TwiceOpenWait => {}
            HalfOpenWaitSpec::At(ns, then) => {
                builder = builder.max_wait_in_half_open(Duration::from_nanos(ns), then);
            }
            HalfOpenWaitSpec::Unbounded => builder = builder.unbounded_wait_in_half_open(),
        }
        builder
            .build()
            .expect("the generated configuration is valid")
    }

    /// `round(threshold * 1e6)`, at least 1.
    fn ppm(threshold: f64) -> u64 {
        ((threshold * SCALE as f64).round() as u64).max(1)
    }

    /// The minimum number of calls before the closed window has rates.
    fn closed_minimum(&self) -> u64 {
        match self.window {
            WindowSpec::Count { size } => self.minimum_calls.min(size),
            WindowSpec::Time { .. } => self.minimum_calls,
        }
    }

    /// The number of completed probes that decides half-open.
    fn half_open_minimum(&self) -> u64 {
        self.minimum_calls.min(self.permitted)
    }

    fn trips(&self, counts: Counts, minimum: u64) -> bool {
        counts.calls >= minimum
            && (counts.failed * SCALE >= Self::ppm(self.failure_threshold) * counts.calls
                || counts.slow * SCALE >= Self::ppm(self.slow_threshold) * counts.calls)
    }

    /// The wait of an opening after `reopenings` consecutive reopenings:
    /// `min(max, initial * multiplier^n)`, exactly, and `max` from the 63rd
    /// reopening on.
    fn open_wait(&self, reopenings: u32) -> u64 {
        let wait = &self.wait;
        if !wait.exponential {
            return wait.initial_ns;
        }
        if reopenings >= 63 {
            return wait.max_ns;
        }
        let mut ns = u128::from(wait.initial_ns);
        for _ in 0..reopenings {
            if ns >= u128::from(wait.max_ns) {
                break;
            }
            ns *= u128::from(wait.multiplier);
        }
        ns.min(u128::from(wait.max_ns)) as u64
    }
}

// ---------------------------------------------------------------------------
// The model
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub calls: u64,
    pub failed: u64,
    pub slow: u64,
}

impl Counts {
    fn add(&mut self, failed: bool, slow: bool) {
        self.calls += 1;
        self.failed += u64::from(failed);
        self.slow += u64::from(slow);
    }
}

/// A counted call in the closed (or metrics-only) window.
#[derive(Clone, Copy, Debug)]
struct Call {
    finished: u64,
    failed: bool,
    slow: bool,
}

#[derive(Clone, Copy, Debug)]
struct ModelPermit {
    generation: u64,
    started: u64,
}

/// The breaker of the specification, one plain field per fact.
#[derive(Debug)]
pub struct Model {
    spec: Spec,
    now: u64,
    state: State,
    generation: u64,
    /// Closed and metrics-only: counted calls, oldest first (pruned of calls
    /// that can never be in the window again).
    window: VecDeque<Call>,
    /// Failures in a row in the closed state.
    run: u32,
    /// Consecutive reopenings from half-open, for the growing open wait.
    reopenings: u32,
    /// Open: end of the wait; half-open: end of the maximum wait. Whole ms.
    deadline_ms: Option<u64>,
    /// Open after a trip: the counts that tripped it.
    tripped: Option<Counts>,
    /// Half-open: probes admitted and not yet finished.
    in_flight: u64,
    /// Half-open: probes completed with a counted outcome.
    probes: Counts,
    rejections: u64,
}

impl Model {
    fn new(spec: Spec) -> Self {
        Self {
            spec,
            now: 0,
            state: State::Closed,
            generation: 0,
            window: VecDeque::new(),
            run: 0,
            reopenings: 0,
            deadline_ms: None,
            tripped: None,
            in_flight: 0,
            probes: Counts::default(),
            rejections: 0,
        }
    }

    fn bucket(&self, at: u64) -> Option<(u64, u64)> {
        match self.spec.window {
            WindowSpec::Count { .. } => None,
            WindowSpec::Time {
                duration_ms,
                buckets,
            } => {
                let width = duration_ms * MS / buckets;
                Some((at / width, buckets))
            }
        }
    }

    /// The closed window at the current time.
    fn window_counts(&mut self) -> Counts {
        match self.spec.window {
            WindowSpec::Count { size } => {
                while self.window.len() as u64 > size {
                    self.window.pop_front();
                }
            }
            WindowSpec::Time { .. } => {
                let (current, buckets) = self.bucket(self.now).expect("a time window");
                while let Some(call) = self.window.front() {
                    let (bucket, _) = self.bucket(call.finished).expect("a time window");
                    if current - bucket < buckets {
                        break;
                    }
                    self.window.pop_front();
                }
            }
        }
        let mut counts = Counts::default();
        for call in &self.window {
            counts.add(call.failed, call.slow);
        }
        counts
    }

    fn deadline(ms: u64) -> u64 {
        ms * MS
    }

    fn ceil_ms(nanos: u64) -> u64 {
        nanos.div_ceil(MS)
    }

    /// Every transition: a new generation, and nothing of the old state kept
    /// but what the new state's entry says.
    fn enter(&mut self, state: State) {
        self.generation += 1;
        self.state = state;
        self.deadline_ms = None;
        self.tripped = None;
        self.in_flight = 0;
        self.probes = Counts::default();
        if matches!(state, State::Closed | State::MetricsOnly) {
            self.window.clear();
            self.run = 0;
        }
    }

    fn enter_open(&mut self, from_half_open: bool, tripped: Option<Counts>) {
        self.reopenings = if from_half_open {
            self.reopenings + 1
        } else {
            0
        };
        let wait = self.spec.open_wait(self.reopenings);
        self.enter(State::Open);
        self.deadline_ms = Some(Self::ceil_ms(self.now + wait));
        self.tripped = tripped;
    }

    fn enter_half_open(&mut self) {
        self.enter(State::HalfOpen);
        let wait = match self.spec.half_open_wait {
            HalfOpenWaitSpec::TwiceOpenWait => Some(2 * self.spec.open_wait(self.reopenings)),
            HalfOpenWaitSpec::At(wait, _) => Some(wait),
            HalfOpenWaitSpec::Unbounded => None,
        };
        self.deadline_ms = wait.map(|wait| Self::ceil_ms(self.now + wait));
    }

    fn reject(&mut self, retry_after: Option<u64>) -> Result<ModelPermit, Option<u64>> {
        self.rejections += 1;
        Err(retry_after)
    }

    fn acquire(&mut self) -> Result<ModelPermit, Option<u64>> {
        loop {
            let permit = ModelPermit {
                generation: self.generation,
                started: self.now,
            };
            match self.state {
                State::Closed | State::MetricsOnly | State::Disabled => return Ok(permit),
                State::ForcedOpen => return self.reject(None),
                State::Open => {
                    let deadline = Self::deadline(self.deadline_ms.expect("open has a deadline"));
                    if self.now <= deadline {
                        return self.reject(Some(deadline - self.now));
                    }
                    self.enter_half_open();
                }
                State::HalfOpen => {
                    if let Some(ms) = self.deadline_ms {
                        if self.now > Self::deadline(ms) {
                            let then = match self.spec.half_open_wait {
                                HalfOpenWaitSpec::At(_, then) => then,
                                _ => HalfOpenTimeout::Open,
                            };
                            match then {
                                HalfOpenTimeout::Open => self.enter_open(true, None),
                                HalfOpenTimeout::Close => self.enter(State::Closed),
                            }
                            continue;
                        }
                    }
                    if self.in_flight + self.probes.calls >= self.spec.permitted {
                        return self.reject(None);
                    }
                    self.in_flight += 1;
                    return Ok(permit);
                }
            }
        }
    }

    fn record(&mut self, permit: ModelPermit, outcome: Outcome) {
        if permit.generation != self.generation {
            return;
        }
        let counted = outcome != Outcome::Ignored;
        let failed = outcome == Outcome::Failure;
        let slow = counted
            && self
                .spec
                .slow_call_ns
                .is_some_and(|threshold| self.now - permit.started > threshold);
        match self.state {
            State::Closed | State::MetricsOnly => {
                if !counted {
                    return;
                }
                self.window.push_back(Call {
                    finished: self.now,
                    failed,
                    slow,
                });
                self.run = if failed { self.run + 1 } else { 0 };
                if self.state != State::Closed {
                    return;
                }
                let counts = self.window_counts();
                let run_trips = self
                    .spec
                    .consecutive_failures
                    .is_some_and(|n| self.run >= n);
                if run_trips || self.spec.trips(counts, self.spec.closed_minimum()) {
                    self.enter_open(false, Some(counts));
                }
            }
            State::HalfOpen => {
                self.in_flight -= 1;
                if !counted {
                    return;
                }
                self.probes.add(failed, slow);
                let minimum = self.spec.half_open_minimum();
                if self.probes.calls == minimum {
                    let probes = self.probes;
                    if self.spec.trips(probes, minimum) {
                        self.enter_open(true, Some(probes));
                    } else {
                        self.enter(State::Closed);
                    }
                }
            }
            // Disabled records nothing; open states admit nothing of their generation.
            State::Disabled | State::Open | State::ForcedOpen => {}
        }
    }
}

// ---------------------------------------------------------------------------
// Operations
// ---------------------------------------------------------------------------

/// A moment the clock can be moved to exactly, give or take a nanosecond.
#[derive(Clone, Copy, Debug)]
pub enum Edge {
    /// The open wait's end, or half-open's maximum wait's end.
    Deadline,
    /// The next bucket boundary of a time window.
    Bucket,
    /// The slow-call threshold of the held permit `pick % held`.
    Slow(u32),
}

/// One step. A `pick` chooses the held permit `pick % held` (none held: no-op).
#[derive(Clone, Debug)]
pub enum Op {
    Acquire,
    /// A burst of quick calls: each is admitted (or not) and recorded at once.
    Calls(u8, Outcome),
    Record(u32, Outcome),
    Drop(u32),
    Advance(u64),
    ToEdge(Edge, i8),
    Reset,
    ForceOpen,
    Disable,
    MetricsOnly,
}

// ---------------------------------------------------------------------------
// Driving both
// ---------------------------------------------------------------------------

pub struct Harness {
    breaker: Breaker,
    hand: ManualClock,
    model: Model,
    held: Vec<(BreakerPermit, ModelPermit)>,
}

/// Where a step failed, for the failure message.
struct At<'a> {
    step: usize,
    op: &'a Op,
}

impl fmt::Display for At<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "step {} ({:?})", self.step, self.op)
    }
}

impl Harness {
    fn new(spec: Spec) -> Self {
        let (clock, hand) = Clock::manual();
        Self {
            breaker: Breaker::new(spec.config(clock)),
            hand,
            model: Model::new(spec),
            held: Vec::new(),
        }
    }

    fn advance(&mut self, by: u64) {
        self.hand.advance(Duration::from_nanos(by));
        self.model.now += by;
    }

    fn advance_to(&mut self, target: u64) {
        if target > self.model.now {
            self.advance(target - self.model.now);
        }
    }

    fn edge(&self, edge: Edge) -> Option<u64> {
        let model = &self.model;
        match edge {
            Edge::Deadline => model.deadline_ms.map(Model::deadline),
            Edge::Bucket => {
                let WindowSpec::Time {
                    duration_ms,
                    buckets,
                } = model.spec.window
                else {
                    return None;
                };
                let width = duration_ms * MS / buckets;
                Some((model.now / width + 1) * width)
            }
            Edge::Slow(pick) => {
                let threshold = model.spec.slow_call_ns?;
                if self.held.is_empty() {
                    return None;
                }
                Some(self.held[pick as usize % self.held.len()].1.started + threshold)
            }
        }
    }

    /// One admission decision of both, which must agree.
    fn acquire(&mut self, at: &At<'_>) -> Result<Option<(BreakerPermit, ModelPermit)>, Divergence> {
        let real = self.breaker.try_acquire();
        let model = self.model.acquire();
        match (real, model) {
            (Ok(permit), Ok(model_permit)) => Ok(Some((permit, model_permit))),
            (Err(open), Err(retry_after)) => {
                ensure_eq!(
                    open.retry_after(),
                    retry_after.map(Duration::from_nanos),
                    "retry_after at {}",
                    at
                );
                Ok(None)
            }
            (real, model) => Err(Divergence(format!(
                "admission at {at}: breaker {:?}, model {model:?}",
                real.map(|_| "admitted")
            ))),
        }
    }

    fn apply(&mut self, step: usize, op: &Op) -> Result<(), Divergence> {
        let at = At { step, op };
        match *op {
            Op::Acquire => {
                if let Some(permits) = self.acquire(&at)? {
                    self.held.push(permits);
                }
            }
            Op::Calls(n, outcome) => {
                for _ in 0..n {
                    if let Some((permit, model_permit)) = self.acquire(&at)? {
                        permit.record(outcome);
                        self.model.record(model_permit, outcome);
                    }
                }
            }
            Op::Record(pick, outcome) => {
                if !self.held.is_empty() {
                    let (permit, model_permit) = self.held.remove(pick as usize % self.held.len());
                    permit.record(outcome);
                    self.model.record(model_permit, outcome);
                }
            }
            Op::Drop(pick) => {
                if !self.held.is_empty() {
                    let (permit, model_permit) = self.held.remove(pick as usize % self.held.len());
                    drop(permit);
                    self.model.record(model_permit, Outcome::Ignored);
                }
            }
            Op::Advance(by) => self.advance(by),
            Op::ToEdge(edge, offset) => {
                if let Some(target) = self.edge(edge) {
                    self.advance_to(target.saturating_add_signed(i64::from(offset)));
                }
            }
            Op::Reset => {
                self.breaker.reset();
                self.model.enter(State::Closed);
            }
            Op::ForceOpen => {
                self.breaker.force_open();
                self.model.enter(State::ForcedOpen);
            }
            Op::Disable => {
                self.breaker.disable();
                self.model.enter(State::Disabled);
            }
            Op::MetricsOnly => {
                self.breaker.metrics_only();
                self.model.enter(State::MetricsOnly);
            }
        }
        self.check(&at)
    }

    /// The state and the metrics snapshot, where the specification defines them.
    fn check(&mut self, at: &At<'_>) -> Result<(), Divergence> {
        let state = self.model.state;
        ensure_eq!(self.breaker.state(), state, "state after {}", at);
        let metrics = self.breaker.metrics();
        ensure_eq!(metrics.state, state, "metrics.state after {}", at);
        ensure_eq!(
            metrics.not_permitted_calls,
            self.model.rejections,
            "rejections after {}",
            at
        );
        let (counts, minimum) = match state {
            State::Closed | State::MetricsOnly => (
                Some(self.model.window_counts()),
                self.model.spec.closed_minimum(),
            ),
            State::HalfOpen => (Some(self.model.probes), self.model.spec.half_open_minimum()),
            State::Open => {
                let deadline = Model::deadline(self.model.deadline_ms.expect("a deadline"));
                ensure_eq!(
                    metrics.time_until_probe,
                    Some(Duration::from_nanos(
                        deadline.saturating_sub(self.model.now)
                    )),
                    "time_until_probe after {}",
                    at
                );
                // Only an open state entered by a trip says which counts it holds.
                (self.model.tripped, 0)
            }
            State::ForcedOpen | State::Disabled => (None, 0),
        };
        let Some(counts) = counts else {
            return Ok(());
        };
        let real = Counts {
            calls: metrics.calls,
            failed: metrics.failed_calls,
            slow: metrics.slow_calls,
        };
        ensure_eq!(real, counts, "metrics counts after {}", at);
        if state != State::Open {
            let rate =
                |part: u64| (counts.calls >= minimum).then(|| part as f64 / counts.calls as f64);
            ensure_eq!(
                metrics.failure_rate,
                rate(counts.failed),
                "failure rate after {}",
                at
            );
            ensure_eq!(
                metrics.slow_call_rate,
                rate(counts.slow),
                "slow-call rate after {}",
                at
            );
        }
        Ok(())
    }
}

/// Runs `ops` through a breaker and the model built from `spec`, after moving
/// the clock `start` nanoseconds away from its origin.
pub fn run(spec: Spec, start: u64, ops: &[Op]) -> Result<(), Divergence> {
    let mut harness = Harness::new(spec);
    harness.advance(start);
    harness.check(&At {
        step: 0,
        op: &Op::Advance(start),
    })?;
    for (step, op) in ops.iter().enumerate() {
        if let Err(failure) = harness.apply(step + 1, op) {
            return Err(Divergence(format!(
                "{failure}\nspec: {spec:?}\nstart: {start}\nops: {:?}",
                &ops[..=step]
            )));
        }
    }
    Ok(())
}
