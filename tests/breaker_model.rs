//! The circuit breaker against a plain sequential model of its specification.
//!
//! The real breaker is built for speed under contention: striped success
//! counters, an ARMED flag that lets most successes skip evaluation, packed
//! state and probe words, generations that void late outcomes. Each of those
//! tricks is a claim that it changes nothing a single caller can observe. This
//! file checks the claim: a model that keeps every call in a list, re-reads the
//! whole window after every outcome and holds its state in ordinary fields is
//! driven through the same random operations as a real [`Breaker`] on a manual
//! clock, and both must agree at every step on the state, on every admission
//! and every rejection's `retry_after`, and on the metrics snapshot.
//!
//! The model and the harness live in `tests/support/breaker_model.rs`, shared
//! with the fuzz target `breaker_ops`; this file chooses the configurations and
//! the operations.

use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use seawall::breaker::HalfOpenTimeout;
use seawall::classify::Outcome;

#[path = "support/breaker_model.rs"]
mod model;

use model::{Divergence, Edge, HalfOpenWaitSpec, Op, Spec, WaitSpec, WindowSpec, MS, SECOND};

/// Runs one case through [`model::run`], as a proptest result.
fn run(spec: Spec, start: u64, ops: &[Op]) -> Result<(), TestCaseError> {
    model::run(spec, start, ops).map_err(|Divergence(message)| TestCaseError::fail(message))
}

// ---------------------------------------------------------------------------
// Operations
// ---------------------------------------------------------------------------

/// How one case weighs its operations (and its outcomes).
///
/// Operations are decoded from random `u64`s rather than drawn from composed
/// strategies: in a debug build, proptest's composed strategies spent twenty
/// times longer generating operations than the breaker and the model spent
/// running them. Shrinking still drops operations one by one, and a failure
/// prints the decoded operations.
#[derive(Clone, Copy, Debug)]
struct Mix {
    acquire: u64,
    calls: u64,
    record: u64,
    drop: u64,
    advance: u64,
    edge: u64,
    /// Weights of the deadline, bucket and slow-call edges.
    edges: [u64; 3],
    manual: u64,
    success: u64,
    failure: u64,
    ignored: u64,
}

/// The index of the weight `roll % total` falls under.
fn weighted(roll: u64, weights: &[u64]) -> usize {
    let mut roll = roll % weights.iter().sum::<u64>();
    for (i, &weight) in weights.iter().enumerate() {
        if roll < weight {
            return i;
        }
        roll -= weight;
    }
    unreachable!("roll is below the total")
}

impl Mix {
    /// Bits 0..16 choose the kind of operation, 16..32 its outcome or
    /// variant, 32..64 its argument.
    fn decode(&self, raw: u64) -> Op {
        let kind = raw & 0xFFFF;
        let variant = (raw >> 16) & 0xFFFF;
        let argument = raw >> 32;
        let pick = argument as u32;
        let outcome = [Outcome::Success, Outcome::Failure, Outcome::Ignored]
            [weighted(variant, &[self.success, self.failure, self.ignored])];
        let kinds = [
            self.acquire,
            self.calls,
            self.record,
            self.drop,
            self.advance,
            self.edge,
            self.manual,
        ];
        match weighted(kind, &kinds) {
            0 => Op::Acquire,
            1 => Op::Calls(1 + (argument % 8) as u8, outcome),
            2 => Op::Record(pick, outcome),
            3 => Op::Drop(pick),
            4 => Op::Advance(match variant % 5 {
                0 => argument % 4,
                1 => 1 + argument % 1_000,
                2 => 1 + argument % (5 * MS),
                3 => (1 + argument % 60) * MS,
                _ => 1 + argument % (3 * SECOND),
            }),
            5 => {
                let edge = match weighted(variant, &self.edges) {
                    0 => Edge::Deadline,
                    1 => Edge::Bucket,
                    _ => Edge::Slow(pick >> 2),
                };
                Op::ToEdge(edge, (argument % 3) as i8 - 1)
            }
            _ => match weighted(variant, &[3, 2, 1, 1]) {
                0 => Op::Reset,
                1 => Op::MetricsOnly,
                2 => Op::Disable,
                _ => Op::ForceOpen,
            },
        }
    }
}

/// Nanoseconds from 1 ns to about 2 s, often a whole number of milliseconds.
fn wait_ns() -> impl Strategy<Value = u64> {
    prop_oneof![
        1u64..=10 * MS,
        (1u64..=2_000).prop_map(|ms| ms * MS),
        1u64..=2 * SECOND,
    ]
}

fn threshold() -> impl Strategy<Value = f64> {
    prop::sample::select(vec![1e-7, 0.1, 0.25, 1.0 / 3.0, 0.5, 0.6, 0.75, 1.0])
}

fn spec(time_windows: bool) -> impl Strategy<Value = Spec> {
    let count = prop_oneof![1u64..=6, 1u64..=20].prop_map(|size| WindowSpec::Count { size });
    let time = (1u64..=10)
        .prop_flat_map(|buckets| (Just(buckets), buckets..=buckets * 40))
        .prop_map(|(buckets, duration_ms)| WindowSpec::Time {
            duration_ms,
            buckets,
        });
    let window = if time_windows {
        time.boxed()
    } else {
        prop_oneof![count, time].boxed()
    };
    let slow_call_ns = prop::option::weighted(
        0.6,
        prop_oneof![
            1u64..=1_000,
            1u64..=20 * MS,
            (1u64..=50).prop_map(|ms| ms * MS)
        ],
    );
    let wait = prop_oneof![
        wait_ns().prop_map(|initial_ns| WaitSpec {
            initial_ns,
            multiplier: 1,
            max_ns: initial_ns,
            exponential: false,
        }),
        (wait_ns(), 1u32..=3, 0u64..=10 * SECOND).prop_map(|(initial_ns, multiplier, extra)| {
            WaitSpec {
                initial_ns,
                multiplier,
                max_ns: initial_ns + extra,
                exponential: true,
            }
        }),
    ];
    let timeout = prop_oneof![Just(HalfOpenTimeout::Open), Just(HalfOpenTimeout::Close)];
    // Small minimums trip (and cycle) often; large ones keep rates undefined for long.
    let minimum_calls = prop_oneof![2 => 1u64..=5, 1 => 1u64..=25];
    (
        window,
        minimum_calls,
        threshold(),
        threshold(),
        slow_call_ns,
        prop::option::of(1u32..=6),
        wait,
        1u64..=5,
        prop_oneof![
            Just(HalfOpenWaitSpec::TwiceOpenWait),
            Just(HalfOpenWaitSpec::Unbounded),
            (wait_ns(), timeout).prop_map(|(ns, then)| HalfOpenWaitSpec::At(ns, then)),
        ],
    )
        .prop_map(
            |(
                window,
                minimum_calls,
                failure_threshold,
                slow_threshold,
                slow_call_ns,
                consecutive_failures,
                wait,
                permitted,
                half_open_wait,
            )| Spec {
                window,
                minimum_calls,
                failure_threshold,
                slow_threshold,
                slow_call_ns,
                consecutive_failures,
                wait,
                permitted,
                half_open_wait,
            },
        )
}

fn start() -> impl Strategy<Value = u64> {
    prop_oneof![Just(0u64), 1u64..=10 * SECOND, Just(1_000_000 * SECOND)]
}

fn mixed() -> impl Strategy<Value = Mix> {
    (1u64..=10, 1u64..=10, 0u64..=3, 1u64..=3).prop_map(|(success, failure, ignored, manual)| Mix {
        acquire: 30,
        calls: 6,
        record: 26,
        drop: 4,
        advance: 14,
        edge: 8,
        edges: [3, 2, 2],
        manual,
        success,
        failure,
        ignored: ignored.max(1),
    })
}

/// Mostly failures, few manual changes, many jumps to deadlines: the breaker
/// cycles through open, half-open and growing waits.
fn cycling() -> impl Strategy<Value = Mix> {
    (1u64..=4, 4u64..=12).prop_map(|(success, failure)| Mix {
        acquire: 30,
        calls: 6,
        record: 30,
        drop: 2,
        advance: 6,
        edge: 14,
        edges: [5, 1, 1],
        manual: 1,
        success,
        failure,
        ignored: 1,
    })
}

/// Many small steps and bucket edges, for time windows.
fn sliding() -> impl Strategy<Value = Mix> {
    (1u64..=10, 1u64..=6).prop_map(|(success, failure)| Mix {
        acquire: 30,
        calls: 10,
        record: 28,
        drop: 2,
        advance: 16,
        edge: 14,
        edges: [1, 4, 1],
        manual: 1,
        success,
        failure,
        ignored: 1,
    })
}

/// A configuration, a start time and up to `max_ops` operations in `mix`.
fn case(
    spec: impl Strategy<Value = Spec>,
    mix: impl Strategy<Value = Mix>,
    max_ops: usize,
) -> impl Strategy<Value = (Spec, u64, Vec<Op>)> {
    (
        spec,
        start(),
        mix,
        prop::collection::vec(any::<u64>(), 1..=max_ops),
    )
        .prop_map(|(spec, start, mix, raw)| {
            let ops = raw.iter().map(|&raw| mix.decode(raw)).collect();
            (spec, start, ops)
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3_000))]

    /// Any configuration, any mix of operations.
    #[test]
    fn breaker_matches_model((spec, start, ops) in case(spec(false), mixed(), 120)) {
        run(spec, start, &ops)?;
    }

    /// Failure-heavy runs through open, half-open and reopening.
    #[test]
    fn breaker_matches_model_while_cycling((spec, start, ops) in case(spec(false), cycling(), 160)) {
        run(spec, start, &ops)?;
    }
}

proptest! {
    // The rarest divergences need a time window, a particular order of calls and
    // a bucket edge at the right moment: give them more cases.
    #![proptest_config(ProptestConfig::with_cases(5_000))]

    /// Time windows sliding bucket by bucket.
    #[test]
    fn time_window_matches_model((spec, start, ops) in case(spec(true), sliding(), 160)) {
        run(spec, start, &ops)?;
    }
}

// ---------------------------------------------------------------------------
// Named cases: divergences the properties found, kept as plain tests
// ---------------------------------------------------------------------------

fn named_spec(window: WindowSpec, minimum_calls: u64, failure_threshold: f64) -> Spec {
    Spec {
        window,
        minimum_calls,
        failure_threshold,
        slow_threshold: 1.0,
        slow_call_ns: None,
        consecutive_failures: None,
        wait: WaitSpec {
            initial_ns: SECOND,
            multiplier: 1,
            max_ns: SECOND,
            exponential: false,
        },
        permitted: 1,
        half_open_wait: HalfOpenWaitSpec::Unbounded,
    }
}

/// Old successes sliding out of a time window raise the failure rate: the
/// success that finds them gone must trip the breaker.
#[test]
fn success_that_slides_out_old_successes_trips() {
    let spec = named_spec(
        WindowSpec::Time {
            duration_ms: 2,
            buckets: 2,
        },
        1,
        0.5,
    );
    let ops = [
        Op::Calls(3, Outcome::Success),
        Op::Advance(MS),
        Op::Calls(1, Outcome::Failure),
        Op::Advance(MS),
        Op::Calls(1, Outcome::Success),
    ];
    run(spec, 0, &ops).unwrap();
}

/// Regression: with a count window and no slow-call detection the recording
/// path does not read the clock, and the open wait used to start at the
/// clock's origin instead of at the trip.
#[test]
fn open_wait_is_timed_from_the_trip() {
    let spec = named_spec(WindowSpec::Count { size: 2 }, 2, 0.5);
    let ops = [
        Op::Calls(2, Outcome::Failure),
        Op::Acquire,
        Op::ToEdge(Edge::Deadline, 1),
        Op::Calls(1, Outcome::Failure),
        Op::Acquire,
    ];
    run(spec, 10 * SECOND, &ops).unwrap();
}

/// Regression: the count of consecutive reopenings used to restart at every
/// half-open state, so an exponential wait never grew past its second step.
#[test]
fn open_wait_grows_with_every_reopening() {
    let mut spec = named_spec(WindowSpec::Count { size: 1 }, 1, 0.5);
    spec.wait = WaitSpec {
        initial_ns: MS,
        multiplier: 3,
        max_ns: SECOND,
        exponential: true,
    };
    let mut ops = vec![Op::Calls(1, Outcome::Failure)];
    for _ in 0..8 {
        ops.extend([
            Op::Acquire,
            Op::ToEdge(Edge::Deadline, 0),
            Op::Acquire,
            Op::Advance(1),
            Op::Calls(1, Outcome::Failure),
        ]);
    }
    run(spec, 0, &ops).unwrap();
}
