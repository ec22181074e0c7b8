//! The lock-free state machine.
//!
//! # The state word
//!
//! One `AtomicU64` holds everything admission needs, so admitting a call in the
//! closed state is a single load:
//!
//! ```text
//! bit  0..3   state (Closed = 0, Open, HalfOpen, ForcedOpen, Disabled, MetricsOnly)
//! bit  3      ARMED: the closed window is below its minimum number of calls, so
//!             a success may decide the state and is recorded under the lock
//! bit  4      LISTENING: event listeners are registered
//! bit  5..19  generation, +1 on every transition (wraps after 16,384)
//! bit 19..25  consecutive reopenings, for the growing open wait (saturates at
//!             63, from where the wait is the maximum)
//! bit 25..64  deadline in ms since the clock's origin: end of the open wait, or
//!             of the half-open maximum wait; all ones when there is none
//! ```
//!
//! Every transition is one compare-and-swap from the word its maker read, to a
//! word with the next generation; only the winner emits the transition's event
//! and metrics, and a timer or a recorder holding an older word simply fails
//! its CAS. Outcomes carry the generation they were admitted under, and are
//! dropped when it is no longer current, so a slow call that straddles a
//! transition never counts in the new state's window.
//!
//! # Half-open probes
//!
//! A second word counts the probes of the current half-open generation:
//!
//! ```text
//! bit  0..16  generation tag (the half-open generation)
//! bit 16..28  probes in flight
//! bit 28..40  probes completed (counted)
//! bit 40..52  of which failed
//! bit 52..64  of which slow
//! ```
//!
//! A word whose tag is not the current generation reads as all zeros, so a new
//! half-open state needs no initialisation step that could race its first probes.

use std::sync::{Arc, Weak};
use std::time::Duration;

use crate::classify::Outcome;
use crate::observe::{self, Event, Listener};
use crate::sync::{AtomicU64, Mutex, Ordering};

use super::config::{BreakerConfig, HalfOpenTimeout, MAX_REOPENINGS};
use super::error::BreakerOpen;
use super::window::{Closed, Counts, SuccessNote};
use super::{BreakerMetrics, State};

const STATE_MASK: u64 = 0b111;
const ARMED: u64 = 1 << 3;
const LISTENING: u64 = 1 << 4;
const GEN_SHIFT: u32 = 5;
const GEN_MASK: u64 = 0x3FFF << GEN_SHIFT;
const REOPEN_SHIFT: u32 = 19;
const REOPEN_MASK: u64 = 0x3F << REOPEN_SHIFT;
const DEADLINE_SHIFT: u32 = 25;
const NO_DEADLINE: u64 = (1 << 39) - 1;
const NANOS_PER_MS: u64 = 1_000_000;

/// A snapshot of the state word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Word(u64);

impl Word {
    fn new(state: State, generation: u16, reopenings: u32, deadline_ms: Option<u64>) -> Self {
        let deadline = deadline_ms.map_or(NO_DEADLINE, |ms| ms.min(NO_DEADLINE - 1));
        Self(
            state as u64
                | ((u64::from(generation) << GEN_SHIFT) & GEN_MASK)
                | (u64::from(reopenings.min(MAX_REOPENINGS)) << REOPEN_SHIFT)
                | (deadline << DEADLINE_SHIFT),
        )
    }

    #[inline]
    pub(crate) fn state(self) -> State {
        State::from_bits(self.0 & STATE_MASK)
    }

    #[inline]
    pub(crate) fn generation(self) -> u16 {
        ((self.0 & GEN_MASK) >> GEN_SHIFT) as u16
    }

    /// The generation the next transition starts: one more, wrapping within
    /// the field's 14 bits.
    fn next_generation(self) -> u16 {
        (self.generation() + 1) & (GEN_MASK >> GEN_SHIFT) as u16
    }

    fn reopenings(self) -> u32 {
        ((self.0 & REOPEN_MASK) >> REOPEN_SHIFT) as u32
    }

    fn armed(self) -> bool {
        self.0 & ARMED != 0
    }

    fn listening(self) -> bool {
        self.0 & LISTENING != 0
    }

    /// The deadline in nanoseconds, if the state has one.
    fn deadline_nanos(self) -> Option<u64> {
        let ms = self.0 >> DEADLINE_SHIFT;
        (ms != NO_DEADLINE).then(|| ms.saturating_mul(NANOS_PER_MS))
    }

    /// Whether a closed-kind success admitted under `generation` can be counted
    /// on the stripes alone: same generation, a recording state, and nothing
    /// that needs the slow path.
    #[inline]
    fn fast_success(self, generation: u16) -> bool {
        self.0 & (STATE_MASK | ARMED | LISTENING) == State::Closed as u64
            && self.generation() == generation
    }

    fn with_flag(self, flag: u64, on: bool) -> Self {
        if on {
            Self(self.0 | flag)
        } else {
            Self(self.0 & !flag)
        }
    }
}

/// The half-open probe counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Probes {
    in_flight: u64,
    completed: u64,
    failed: u64,
    slow: u64,
}

impl Probes {
    const FIELD: u64 = 0xFFF;

    fn unpack(word: u64, generation: u16) -> Self {
        if word as u16 != generation {
            return Self::default();
        }
        Self {
            in_flight: (word >> 16) & Self::FIELD,
            completed: (word >> 28) & Self::FIELD,
            failed: (word >> 40) & Self::FIELD,
            slow: (word >> 52) & Self::FIELD,
        }
    }

    fn pack(self, generation: u16) -> u64 {
        u64::from(generation)
            | (self.in_flight << 16)
            | (self.completed << 28)
            | (self.failed << 40)
            | (self.slow << 52)
    }
}

/// How a permit was admitted, and so how its outcome is recorded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Admission {
    /// Closed or metrics-only: counts in the sliding window.
    Window,
    /// A half-open probe: counts towards the probe decision.
    Probe,
    /// Disabled: nothing is recorded.
    Untracked,
}

/// Metric handles, resolved once when the breaker is built.
struct Metrics {
    success: metrics::Counter,
    failure: metrics::Counter,
    slow_success: metrics::Counter,
    slow_failure: metrics::Counter,
    ignored: metrics::Counter,
    rejections: metrics::Counter,
    state: metrics::Gauge,
    failure_rate: metrics::Gauge,
    slow_call_rate: metrics::Gauge,
}

impl Metrics {
    fn new(name: &str) -> Self {
        let calls = |outcome: &'static str| metrics::counter!(observe::BREAKER_CALLS_TOTAL, "name" => name.to_owned(), "outcome" => outcome);
        Self {
            success: calls("success"),
            failure: calls("failure"),
            slow_success: calls("slow_success"),
            slow_failure: calls("slow_failure"),
            ignored: calls("ignored"),
            rejections: metrics::counter!(observe::BREAKER_REJECTIONS_TOTAL, "name" => name.to_owned()),
            state: metrics::gauge!(observe::BREAKER_STATE, "name" => name.to_owned()),
            failure_rate: metrics::gauge!(observe::BREAKER_FAILURE_RATE, "name" => name.to_owned()),
            slow_call_rate: metrics::gauge!(observe::BREAKER_SLOW_CALL_RATE, "name" => name.to_owned()),
        }
    }
}

/// Publish the success counter every this many successes per stripe.
const SUCCESS_PUBLISH_EVERY: u64 = 1024;

/// The shared core of one breaker.
pub(crate) struct Core {
    word: AtomicU64,
    probes: AtomicU64,
    rejections: AtomicU64,
    /// Successful half-open probes, which the window's stripes do not count.
    probe_successes: AtomicU64,
    window: Closed,
    /// The window that last tripped the breaker, readable while it is open.
    tripped_with: Mutex<Counts>,
    listeners: Mutex<Arc<[Listener]>>,
    /// Listeners to transitions only: they leave the call path untouched (no
    /// LISTENING flag), so a health registry watching a breaker costs nothing per call.
    transition_listeners: Mutex<Arc<[Listener]>>,
    metrics: Metrics,
    pub(crate) config: BreakerConfig,
    this: Weak<Core>,
}

impl std::fmt::Debug for Core {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Core")
            .field("name", &self.config.name())
            .field("state", &self.state())
            .finish_non_exhaustive()
    }
}

impl Core {
    pub(crate) fn new(config: BreakerConfig, stripes: usize) -> Arc<Self> {
        Arc::new_cyclic(|this| {
            let metrics = Metrics::new(config.name());
            metrics.state.set(State::Closed.as_gauge());
            Self {
                // A fresh window is below its minimum: armed from the start.
                word: AtomicU64::new(
                    Word::new(State::Closed, 0, 0, None)
                        .with_flag(ARMED, true)
                        .0,
                ),
                probes: AtomicU64::new(0),
                rejections: AtomicU64::new(0),
                probe_successes: AtomicU64::new(0),
                window: Closed::new(config.window, stripes),
                tripped_with: Mutex::new(Counts::default()),
                listeners: Mutex::new(Arc::from(Vec::new())),
                transition_listeners: Mutex::new(Arc::from(Vec::new())),
                metrics,
                config,
                this: this.clone(),
            }
        })
    }

    fn now(&self) -> u64 {
        self.config.clock.now_nanos()
    }

    #[inline]
    fn load(&self) -> Word {
        // Acquire pairs with the Release of the transition CAS: a caller that sees a
        // generation also sees the window reset made before it was published.
        Word(self.word.load(Ordering::Acquire))
    }

    pub(crate) fn state(&self) -> State {
        self.load().state()
    }

    /// Whether a permit must note its start time.
    #[inline]
    pub(crate) fn measures_duration(&self) -> bool {
        self.config.measures_duration()
    }

    /// Decides whether a call may go ahead.
    ///
    /// Inlined into the caller for the closed state, which is one load; every
    /// other state is decided out of line.
    #[inline]
    pub(crate) fn admit(&self) -> Result<(Admission, u16), BreakerOpen> {
        let word = self.load();
        if let State::Closed | State::MetricsOnly = word.state() {
            return Ok((Admission::Window, word.generation()));
        }
        self.admit_slow(word)
    }

    #[inline(never)]
    fn admit_slow(&self, mut word: Word) -> Result<(Admission, u16), BreakerOpen> {
        loop {
            match word.state() {
                State::Closed | State::MetricsOnly => {
                    return Ok((Admission::Window, word.generation()))
                }
                State::Disabled => return Ok((Admission::Untracked, word.generation())),
                State::ForcedOpen => return Err(self.reject(word, None)),
                State::Open => {
                    let now = self.now();
                    let deadline = word.deadline_nanos().unwrap_or(u64::MAX);
                    if now <= deadline {
                        return Err(self.reject(word, Some(deadline - now)));
                    }
                    word = match self.transition(word, State::HalfOpen, now) {
                        Ok(next) | Err(next) => next,
                    };
                }
                State::HalfOpen => {
                    if let Some(deadline) = word.deadline_nanos() {
                        let now = self.now();
                        if now > deadline {
                            let to = match self.config.half_open_timeout {
                                HalfOpenTimeout::Open => State::Open,
                                HalfOpenTimeout::Close => State::Closed,
                            };
                            word = match self.transition(word, to, now) {
                                Ok(next) | Err(next) => next,
                            };
                            continue;
                        }
                    }
                    match self.take_probe(word) {
                        Ok(()) => return Ok((Admission::Probe, word.generation())),
                        Err(Some(actual)) => word = actual,
                        Err(None) => return Err(self.reject(word, None)),
                    }
                }
            }
        }
    }

    /// Takes a probe slot in half-open generation `word`. `Err(None)` when all
    /// are taken; `Err(Some(word))` when the state moved on meanwhile.
    fn take_probe(&self, word: Word) -> Result<(), Option<Word>> {
        let generation = word.generation();
        let permitted = u64::from(self.config.permitted_probes);
        // Acquire (here and on a failed CAS): a word tagged by a newer generation was
        // written by a thread that had loaded that generation's state word, so the check
        // below is then sure to see it too.
        let mut raw = self.probes.load(Ordering::Acquire);
        loop {
            if raw as u16 != generation {
                // The counters belong to another half-open generation: an older one, and
                // this is our first probe, or a newer one, and ours is over. Only the
                // current generation may claim them; a thread that read an older state
                // word would otherwise wipe the counts of the probes in flight now.
                let now_word = self.load();
                if now_word.generation() != generation {
                    return Err(Some(now_word));
                }
            }
            let mut probes = Probes::unpack(raw, generation);
            if probes.in_flight + probes.completed >= permitted {
                let now_word = self.load();
                return Err((now_word != word).then_some(now_word));
            }
            probes.in_flight += 1;
            // AcqRel on success: the probe slot is the resource; ordering it with the
            // completion that frees it keeps "at most N in flight" true on every core.
            match self.probes.compare_exchange_weak(
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

    fn reject(&self, word: Word, retry_after_nanos: Option<u64>) -> BreakerOpen {
        // Relaxed: a statistic; nothing is published through it.
        self.rejections.fetch_add(1, Ordering::Relaxed);
        self.metrics.rejections.increment(1);
        let retry_after = retry_after_nanos.map(Duration::from_nanos);
        if word.listening() {
            self.emit(&Event::Rejected {
                name: self.config.name(),
                state: word.state(),
                retry_after,
            });
        }
        BreakerOpen::new(retry_after)
    }

    /// Records the outcome of a call admitted as `admission` under `generation`.
    ///
    /// `started` is the start time when the config measures durations.
    ///
    /// Inlined into the caller for the common case, a fast success in the closed
    /// state with nothing to time: one load and one add on the caller's stripe.
    #[inline]
    pub(crate) fn record(
        &self,
        stripe: usize,
        admission: Admission,
        generation: u16,
        outcome: Outcome,
        started: Option<u64>,
    ) {
        let mut end = None;
        if admission == Admission::Window && outcome == Outcome::Success && !self.window.is_timed()
        {
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
        self.record_slow(stripe, admission, generation, outcome, started, end);
    }

    /// Counts a success (neither failed nor slow) on `stripe` without a lock,
    /// ends any run of failures, and publishes the success total now and then.
    #[inline(always)]
    fn count_fast_success(&self, stripe: usize, now: u64) -> SuccessNote {
        let note = self.window.record_success(stripe, now);
        self.clear_failure_run();
        if note.stripe_total % SUCCESS_PUBLISH_EVERY == 0 {
            self.publish_successes();
        }
        note
    }

    #[inline(never)]
    fn record_slow(
        &self,
        stripe: usize,
        admission: Admission,
        generation: u16,
        outcome: Outcome,
        started: Option<u64>,
        end: Option<u64>,
    ) {
        if admission == Admission::Untracked {
            return;
        }
        let needs_now =
            started.is_some() || (admission == Admission::Window && self.window.is_timed());
        let now = match end {
            Some(end) => end,
            None if needs_now => self.now(),
            None => 0,
        };
        let duration = started.map(|start| now.saturating_sub(start));
        let slow = duration.is_some_and(|nanos| self.config.is_slow(nanos));
        match admission {
            Admission::Window => {
                self.record_in_window(stripe, generation, outcome, slow, now, duration)
            }
            Admission::Probe => self.record_probe(generation, outcome, slow, duration),
            Admission::Untracked => {}
        }
    }

    fn record_in_window(
        &self,
        stripe: usize,
        generation: u16,
        outcome: Outcome,
        slow: bool,
        now: u64,
        duration: Option<u64>,
    ) {
        let word = self.load();
        if outcome == Outcome::Success && !slow && word.fast_success(generation) {
            let note = self.count_fast_success(stripe, now);
            if !note.new_bucket {
                return;
            }
            // Buckets may have slid out of the window: look at it again below.
            return self.evaluate(word, self.window.counts(now));
        }
        if word.generation() != generation || !word.state().records_window() {
            return;
        }
        if word.listening() {
            self.emit(&Event::CallRecorded {
                name: self.config.name(),
                outcome,
                slow,
                duration: duration.map(Duration::from_nanos),
            });
        }
        let failed = outcome == Outcome::Failure;
        self.count_outcome(outcome, slow);
        let counts = match outcome {
            Outcome::Ignored => return,
            Outcome::Success if !slow => {
                let note = self.window.record_success(stripe, now);
                self.clear_failure_run();
                // Off the fast path already: publish every time.
                self.publish_successes();
                // Unless armed or a bucket slid, a success cannot change the decision.
                if !(word.armed() || note.new_bucket) {
                    return;
                }
                return self.evaluate(word, self.window.counts(now));
            }
            _ => match self.window.record_notable(generation, now, failed, slow) {
                Some(note) => note,
                // The state moved on since `word` was read, and its transition has
                // already reset the window: this call belongs to the state before.
                None => return,
            },
        };
        let run_trips = self
            .config
            .consecutive_failures
            .is_some_and(|n| counts.failure_run >= n);
        if run_trips && word.state() == State::Closed {
            self.trip(word, counts.counts);
            return;
        }
        self.evaluate(word, counts.counts);
    }

    /// Ends a run of consecutive failures when that mode is on.
    #[inline]
    fn clear_failure_run(&self) {
        if self.config.consecutive_failures.is_some() {
            self.window.end_failure_run();
        }
    }

    /// Counts a notable outcome, and publishes the success total with it (fast
    /// successes are counted on the stripes, and published by their callers).
    fn count_outcome(&self, outcome: Outcome, slow: bool) {
        let counter = match (outcome, slow) {
            (Outcome::Success, false) => return,
            (Outcome::Success, true) => &self.metrics.slow_success,
            (Outcome::Failure, false) => &self.metrics.failure,
            (Outcome::Failure, true) => &self.metrics.slow_failure,
            (Outcome::Ignored, _) => &self.metrics.ignored,
        };
        counter.increment(1);
        self.publish_successes();
    }

    /// Sets `seawall_breaker_calls_total{outcome="success"}` to every fast
    /// success so far: the stripes' and the probes'.
    #[cold]
    #[inline(never)]
    fn publish_successes(&self) {
        // Relaxed: a statistic; a success racing this read is published next time.
        let probes = self.probe_successes.load(Ordering::Relaxed);
        self.metrics
            .success
            .absolute(self.window.total_successes() + probes);
    }

    /// Looks at the closed window: trips when a threshold is reached, and keeps
    /// the ARMED flag true exactly while the window is below its minimum.
    fn evaluate(&self, word: Word, counts: Counts) {
        let config = &self.config;
        let minimum = config.minimum_calls_in(State::Closed);
        self.publish_rates(counts, minimum);
        if word.state() != State::Closed {
            return;
        }
        if config.rates_trip(counts.calls, counts.failures, counts.slow, minimum) {
            self.trip(word, counts);
            return;
        }
        // Once a window holds its minimum, a success can only lower the rates, so
        // successes need no look until it falls below it again (a time window
        // sliding). Below it, the success that completes the minimum may trip: all
        // of them are counted under the lock then. Arming only once the failures
        // alone would trip at the minimum is not enough: a success that read the
        // word just before the arming would be counted after the arming failure
        // looked at the window, and nobody would look at the full window.
        let armed = counts.calls < minimum;
        if armed != word.armed() {
            self.set_flag(word.generation(), ARMED, armed);
        }
    }

    fn publish_rates(&self, counts: Counts, minimum: u64) {
        if counts.calls >= minimum && counts.calls > 0 {
            let calls = counts.calls as f64;
            self.metrics
                .failure_rate
                .set(counts.failures as f64 / calls);
            self.metrics.slow_call_rate.set(counts.slow as f64 / calls);
        }
    }

    /// Opens from `word`. Reads the clock itself: the open wait starts now, and
    /// the record path reads the clock only when the window or slow-call
    /// detection needs it.
    fn trip(&self, word: Word, counts: Counts) {
        let _ = self.transition_tripped(word, State::Open, self.now(), Some(counts));
    }

    /// Sets or clears a flag bit without changing the generation. Gives up if the
    /// generation moves on (the flag belongs to the state it was computed for),
    /// except LISTENING, which survives transitions.
    fn set_flag(&self, generation: u16, flag: u64, on: bool) {
        let mut word = self.load();
        loop {
            if flag != LISTENING && word.generation() != generation {
                return;
            }
            let next = word.with_flag(flag, on);
            if next == word {
                return;
            }
            // AcqRel/Acquire: a flag change is a state-word change like any other.
            match self.word.compare_exchange_weak(
                word.0,
                next.0,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return,
                Err(actual) => word = Word(actual),
            }
        }
    }

    fn record_probe(&self, generation: u16, outcome: Outcome, slow: bool, duration: Option<u64>) {
        let counted = outcome != Outcome::Ignored;
        // Relaxed load: validated by the CAS.
        let mut raw = self.probes.load(Ordering::Relaxed);
        let probes = loop {
            if raw as u16 != generation {
                return; // A probe of a half-open state that is over.
            }
            let mut probes = Probes::unpack(raw, generation);
            probes.in_flight = probes.in_flight.saturating_sub(1);
            if counted {
                probes.completed += 1;
                probes.failed += u64::from(outcome == Outcome::Failure);
                probes.slow += u64::from(slow);
            }
            // AcqRel: see `take_probe`.
            match self.probes.compare_exchange_weak(
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
            self.emit(&Event::CallRecorded {
                name: self.config.name(),
                outcome,
                slow,
                duration: duration.map(Duration::from_nanos),
            });
        }
        if outcome == Outcome::Success && !slow {
            // Relaxed: a statistic.
            self.probe_successes.fetch_add(1, Ordering::Relaxed);
            self.publish_successes();
        }
        self.count_outcome(outcome, slow);
        let minimum = self.config.minimum_calls_in(State::HalfOpen);
        if !counted || probes.completed != minimum {
            return;
        }
        if word.generation() != generation || word.state() != State::HalfOpen {
            return;
        }
        let reopen = self
            .config
            .rates_trip(probes.completed, probes.failed, probes.slow, minimum);
        let counts = Counts {
            calls: probes.completed,
            failures: probes.failed,
            slow: probes.slow,
        };
        if reopen {
            self.trip(word, counts);
        } else {
            let _ = self.transition(word, State::Closed, self.now());
        }
    }

    /// Moves from `from` to `to` with one CAS (repeated only while nothing but a
    /// flag changed). Returns the new word, or the word found instead when
    /// another thread moved first.
    pub(crate) fn transition(&self, from: Word, to: State, now: u64) -> Result<Word, Word> {
        self.transition_tripped(from, to, now, None)
    }

    /// [`transition`](Self::transition), keeping `tripped` as the window that
    /// tripped the breaker: stored once the CAS is won and before the transition
    /// is announced, so a listener reading metrics sees it.
    fn transition_tripped(
        &self,
        from: Word,
        to: State,
        now: u64,
        tripped: Option<Counts>,
    ) -> Result<Word, Word> {
        // Consecutive reopenings carry through half-open and end when the breaker
        // leaves the open/half-open cycle.
        let reopenings = match (from.state(), to) {
            (State::Open, State::HalfOpen) => from.reopenings(),
            (State::HalfOpen, State::Open) => from.reopenings() + 1,
            _ => 0,
        };
        let deadline = match to {
            State::Open => {
                Some(now.saturating_add(self.config.open_wait.wait(reopenings).as_nanos() as u64))
            }
            State::HalfOpen => self
                .config
                .max_wait_in_half_open
                .map(|wait| now.saturating_add(wait.as_nanos() as u64)),
            _ => None,
        };
        let deadline_ms = deadline.map(|nanos| nanos.div_ceil(NANOS_PER_MS));
        if to.records_window() {
            // Fresh metrics for the new state, in place before the CAS publishes it;
            // unless another transition has already moved on from `from`, whose new
            // state's window this must not wipe (this transition's CAS will fail).
            self.window.reset(from.next_generation(), || {
                self.load().generation() == from.generation()
            });
        }
        let mut from = from;
        loop {
            let next = Word::new(to, from.next_generation(), reopenings, deadline_ms)
                .with_flag(LISTENING, from.listening())
                // A closed state starts with an empty window, below its minimum: armed
                // in the same CAS that publishes it, so no success can slip past.
                .with_flag(ARMED, to == State::Closed);
            // AcqRel: Release publishes the window reset to every thread that loads the
            // new word; Acquire orders this winner after the transition it replaced, and
            // on failure lets the retry below build on the word it found.
            match self
                .word
                .compare_exchange(from.0, next.0, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => {
                    if let Some(counts) = tripped {
                        *self.tripped_with.lock() = counts;
                    }
                    self.on_transition(from.state(), next);
                    return Ok(next);
                }
                // Only a flag moved (ARMED, or LISTENING from a new listener): flags never
                // change the generation, so this is still the state the transition was
                // decided for, and giving up would lose the decision.
                Err(actual) if Word(actual).generation() == from.generation() => {
                    from = Word(actual);
                }
                Err(actual) => return Err(Word(actual)),
            }
        }
    }

    fn on_transition(&self, from: State, next: Word) {
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
            let event = Event::StateTransition {
                name: self.config.name(),
                from,
                to,
            };
            if next.listening() {
                self.emit(&event);
            }
            // A transition is rare: looking for transition listeners costs one short lock.
            let transition_listeners = self.transition_listeners.lock().clone();
            observe::emit(&transition_listeners, &event);
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
    fn arm_timer(&self, armed_for: Word, deadline: u64) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let Some(at) = self.config.clock.tokio_instant_at(deadline) else {
            return;
        };
        let this = self.this.clone();
        runtime.spawn(async move {
            tokio::time::sleep_until(at).await;
            let Some(core) = this.upgrade() else { return };
            let to = match (armed_for.state(), core.config.half_open_timeout) {
                (State::Open, _) => State::HalfOpen,
                (_, HalfOpenTimeout::Open) => State::Open,
                (_, HalfOpenTimeout::Close) => State::Closed,
            };
            // Only flags (a listener registered meanwhile) may differ from the armed word;
            // a new generation means the state moved on and this timer is void.
            let mut current = core.load();
            while current.generation() == armed_for.generation()
                && current.state() == armed_for.state()
            {
                match core.transition(current, to, core.now()) {
                    Ok(_) => return,
                    Err(actual) => current = actual,
                }
            }
        });
    }

    #[cfg(loom)]
    fn arm_timer(&self, _armed_for: Word, _deadline: u64) {
        let _ = &self.this;
    }

    /// Moves to `to` from whatever state the breaker is in (manual control).
    pub(crate) fn force(&self, to: State) {
        let mut word = self.load();
        loop {
            let now = self.now();
            match self.transition(word, to, now) {
                Ok(_) => return,
                Err(actual) => word = actual,
            }
        }
    }

    pub(crate) fn add_listener(&self, listener: Listener) {
        {
            let mut listeners = self.listeners.lock();
            let mut all: Vec<Listener> = listeners.iter().cloned().collect();
            all.push(listener);
            *listeners = Arc::from(all);
        }
        self.set_flag(0, LISTENING, true);
    }

    pub(crate) fn add_transition_listener(&self, listener: Listener) {
        let mut listeners = self.transition_listeners.lock();
        let mut all: Vec<Listener> = listeners.iter().cloned().collect();
        all.push(listener);
        *listeners = Arc::from(all);
    }

    /// Whether any `on_event` listener is registered (the call path emits events).
    #[cfg(all(test, not(loom)))]
    pub(crate) fn listening(&self) -> bool {
        self.load().listening()
    }

    fn emit(&self, event: &Event<'_>) {
        let listeners = self.listeners.lock().clone();
        observe::emit(&listeners, event);
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
        let probes = Probes::unpack(self.probes.load(Ordering::Acquire), word.generation());
        (probes.in_flight, probes.completed)
    }

    /// A consistent-enough view for the handle. Never changes the state.
    pub(crate) fn metrics(&self) -> BreakerMetrics {
        let word = self.load();
        let state = word.state();
        let now = self.now();
        let counts = match state {
            State::Closed | State::MetricsOnly => self.window.counts(now),
            State::Open | State::ForcedOpen => *self.tripped_with.lock(),
            State::HalfOpen => {
                let probes = Probes::unpack(self.probes.load(Ordering::Acquire), word.generation());
                Counts {
                    calls: probes.completed,
                    failures: probes.failed,
                    slow: probes.slow,
                }
            }
            State::Disabled => Counts::default(),
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
}

#[cfg(all(test, not(loom)))]
mod tests {
    use std::time::Duration;

    use crate::breaker::{Breaker, BreakerConfig, OpenWait, State};
    use crate::clock::Clock;

    /// A breaker on a manual clock that trips on two failures out of two and
    /// probes once, with no slow-call detection and a count window: the
    /// configuration whose recording path never reads the clock.
    fn unclocked() -> (Breaker, crate::clock::ManualClock) {
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

#[cfg(all(test, not(loom)))]
mod transition_listener_tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering as StdOrdering};

    #[test]
    fn transition_listeners_leave_the_call_path_alone() {
        let core = Core::new(BreakerConfig::default(), 1);
        let seen = Arc::new(AtomicUsize::new(0));
        let count = seen.clone();
        core.add_transition_listener(Arc::new(move |event: &Event<'_>| {
            assert!(matches!(event, Event::StateTransition { .. }));
            count.fetch_add(1, StdOrdering::SeqCst);
        }));
        assert!(!core.listening(), "calls must keep the fast path");
        core.force(State::ForcedOpen);
        core.force(State::Closed);
        assert_eq!(seen.load(StdOrdering::SeqCst), 2);
        assert!(!core.listening());
    }
}
