//! Random operation sequences through a real breaker and the sequential
//! reference model of its specification (the same model the property tests in
//! `tests/breaker_model.rs` use): any divergence in state, admission,
//! `retry_after` or metrics is a crash.
//!
//! The configuration stays inside the ranges the property tests draw from
//! (whole open-wait multipliers, bucket widths of whole milliseconds) where the
//! model needs them to stay exact; the operation sequences are longer and
//! coverage-guided.
#![no_main]

use arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use seawall::breaker::HalfOpenTimeout;
use seawall::classify::Outcome;

#[path = "../../tests/support/breaker_model.rs"]
mod model;

use model::{Edge, HalfOpenWaitSpec, Op, Spec, WaitSpec, WindowSpec, MS, SECOND};

/// The most operations one input runs.
const MAX_OPS: usize = 400;

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let Ok((spec, start)) = spec(&mut u) else {
        return;
    };
    let mut ops = Vec::new();
    while ops.len() < MAX_OPS && !u.is_empty() {
        match op(&mut u) {
            Ok(op) => ops.push(op),
            Err(_) => break,
        }
    }
    if let Err(divergence) = model::run(spec, start, &ops) {
        panic!("{divergence}");
    }
});

/// Nanoseconds from 1 ns to 2 s, often a whole number of milliseconds.
fn wait_ns(u: &mut Unstructured<'_>) -> Result<u64> {
    Ok(match u.int_in_range(0..=2u8)? {
        0 => u.int_in_range(1..=10 * MS)?,
        1 => u.int_in_range(1..=2_000u64)? * MS,
        _ => u.int_in_range(1..=2 * SECOND)?,
    })
}

/// Any rate in (0, 1], often one of the edges.
fn threshold(u: &mut Unstructured<'_>) -> Result<f64> {
    const EDGES: [f64; 8] = [1e-7, 0.1, 0.25, 1.0 / 3.0, 0.5, 0.6, 0.75, 1.0];
    Ok(if u.arbitrary()? {
        *u.choose(&EDGES)?
    } else {
        f64::from(u.int_in_range(1..=u32::MAX)?) / f64::from(u32::MAX)
    })
}

fn spec(u: &mut Unstructured<'_>) -> Result<(Spec, u64)> {
    let window = if u.arbitrary()? {
        WindowSpec::Count {
            size: u.int_in_range(1..=32)?,
        }
    } else {
        let buckets = u.int_in_range(1..=10)?;
        WindowSpec::Time {
            duration_ms: u.int_in_range(buckets..=buckets * 40)?,
            buckets,
        }
    };
    let exponential = u.arbitrary()?;
    let initial_ns = wait_ns(u)?;
    let wait = if exponential {
        WaitSpec {
            initial_ns,
            multiplier: u.int_in_range(1..=3)?,
            max_ns: initial_ns + u.int_in_range(0..=10 * SECOND)?,
            exponential,
        }
    } else {
        WaitSpec {
            initial_ns,
            multiplier: 1,
            max_ns: initial_ns,
            exponential,
        }
    };
    let slow_call_ns = if u.ratio(3, 5)? {
        Some(match u.int_in_range(0..=2u8)? {
            0 => u.int_in_range(1..=1_000)?,
            1 => u.int_in_range(1..=20 * MS)?,
            _ => u.int_in_range(1..=50u64)? * MS,
        })
    } else {
        None
    };
    let half_open_wait = match u.int_in_range(0..=2u8)? {
        0 => HalfOpenWaitSpec::TwiceOpenWait,
        1 => HalfOpenWaitSpec::Unbounded,
        _ => {
            let then = if u.arbitrary()? {
                HalfOpenTimeout::Open
            } else {
                HalfOpenTimeout::Close
            };
            HalfOpenWaitSpec::At(wait_ns(u)?, then)
        }
    };
    let spec = Spec {
        window,
        minimum_calls: u.int_in_range(1..=25)?,
        failure_threshold: threshold(u)?,
        slow_threshold: threshold(u)?,
        slow_call_ns,
        consecutive_failures: if u.arbitrary()? {
            Some(u.int_in_range(1..=6)?)
        } else {
            None
        },
        wait,
        permitted: u.int_in_range(1..=8)?,
        half_open_wait,
    };
    let start = match u.int_in_range(0..=2u8)? {
        0 => 0,
        1 => u.int_in_range(1..=10 * SECOND)?,
        _ => 1_000_000 * SECOND,
    };
    Ok((spec, start))
}

fn outcome(u: &mut Unstructured<'_>) -> Result<Outcome> {
    Ok(match u.int_in_range(0..=9u8)? {
        0..=3 => Outcome::Success,
        4..=8 => Outcome::Failure,
        _ => Outcome::Ignored,
    })
}

fn op(u: &mut Unstructured<'_>) -> Result<Op> {
    Ok(match u.int_in_range(0..=99u8)? {
        0..=24 => Op::Acquire,
        25..=32 => Op::Calls(u.int_in_range(1..=8)?, outcome(u)?),
        33..=57 => Op::Record(u.arbitrary()?, outcome(u)?),
        58..=62 => Op::Drop(u.arbitrary()?),
        63..=77 => Op::Advance(match u.int_in_range(0..=4u8)? {
            0 => u.int_in_range(0..=3)?,
            1 => u.int_in_range(1..=1_000)?,
            2 => u.int_in_range(1..=5 * MS)?,
            3 => u.int_in_range(1..=60u64)? * MS,
            _ => u.int_in_range(1..=3 * SECOND)?,
        }),
        78..=95 => {
            let edge = match u.int_in_range(0..=6u8)? {
                0..=2 => Edge::Deadline,
                3..=4 => Edge::Bucket,
                _ => Edge::Slow(u.arbitrary()?),
            };
            Op::ToEdge(edge, u.int_in_range(-1..=1)?)
        }
        96 | 97 => Op::Reset,
        98 => Op::MetricsOnly,
        _ => match u.int_in_range(0..=1u8)? {
            0 => Op::Disable,
            _ => Op::ForceOpen,
        },
    })
}
