//! The keyed map under hostile keys: how fast a full map takes new keys, and
//! what a thread serving a few steady keys sees while another thread churns
//! new ones.
//!
//! criterion measures the time to take one new key into a full map of 65,536
//! breakers (and bulkheads), and a hit on a kept key. After criterion's own
//! output the bench measures, outside criterion:
//!
//! - new keys per second into a full map of 65,536 (200,000 keys, or as many
//!   as fit in `--measurement-time`), with each insertion's latency;
//! - a thread calling 64 steady keys (get the key's breaker, take a permit,
//!   record a success), alone, then beside a thread building and dropping
//!   breakers without the map (the control: what the shared machine takes),
//!   then beside a thread taking a new key in a loop: calls made in the same
//!   time and the steady thread's latency percentiles (every call timed,
//!   percentiles from all samples);
//! - heap bytes per kept entry, counted by the counting allocator.
//!
//! Run with `cargo bench --bench keyed -- --warm-up-time 1 --measurement-time 3`;
//! the steady-thread phases last as long as `--measurement-time` (3 s unless
//! given).

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion};
use seawall::breaker::{Breaker, BreakerConfig, KeyedBreaker};
use seawall::bulkhead::{BulkheadConfig, KeyedBulkhead};
use support::{count_allocations, listing_or_testing};

mod support;

/// The map's capacity in every case.
const CAPACITY: u64 = 65_536;

/// Keys the steady thread serves.
const STEADY_KEYS: u64 = 64;

/// Where churned keys start: far from the keys that fill the map.
const FRESH_KEYS: u64 = 1 << 40;

fn full_breakers() -> KeyedBreaker<u64> {
    let breakers = KeyedBreaker::new(BreakerConfig::default(), CAPACITY as usize).expect("valid");
    for key in 0..CAPACITY {
        breakers.get(&key);
    }
    breakers
}

fn full_bulkheads() -> KeyedBulkhead<u64> {
    let bulkheads =
        KeyedBulkhead::new(BulkheadConfig::default(), CAPACITY as usize).expect("valid");
    for key in 0..CAPACITY {
        bulkheads.get(&key);
    }
    bulkheads
}

fn criterion_cases(criterion: &mut Criterion) {
    let mut group = criterion.benchmark_group("seawall-keyed");
    let breakers = full_breakers();
    let mut next = FRESH_KEYS;
    group.bench_function("breaker/new-key-into-full-65536", |b| {
        b.iter_batched(
            || {
                next += 1;
                next
            },
            |key| black_box(breakers.get(&key)),
            BatchSize::SmallInput,
        );
    });
    let mut hit = 0;
    group.bench_function("breaker/hit", |b| {
        b.iter(|| {
            hit = (hit + 1) % STEADY_KEYS;
            black_box(breakers.get(&(FRESH_KEYS + 1 + hit)))
        });
    });
    drop(breakers);
    let bulkheads = full_bulkheads();
    let mut next = FRESH_KEYS;
    group.bench_function("bulkhead/new-key-into-full-65536", |b| {
        b.iter_batched(
            || {
                next += 1;
                next
            },
            |key| black_box(bulkheads.get(&key)),
            BatchSize::SmallInput,
        );
    });
    group.finish();
}

/// Latency samples in nanoseconds, kept in a buffer allocated up front so that
/// recording never allocates while timed.
struct Samples {
    nanos: Vec<u32>,
}

impl Samples {
    fn with_room(room: usize) -> Self {
        Self {
            nanos: Vec::with_capacity(room),
        }
    }

    fn record(&mut self, elapsed: Duration) {
        if self.nanos.len() < self.nanos.capacity() {
            self.nanos
                .push(u32::try_from(elapsed.as_nanos()).unwrap_or(u32::MAX));
        }
    }

    fn summary(mut self) -> String {
        self.nanos.sort_unstable();
        let at = |quantile: f64| {
            let n = self.nanos.len();
            if n == 0 {
                return Duration::ZERO;
            }
            let index = ((n as f64 * quantile) as usize).min(n - 1);
            Duration::from_nanos(u64::from(self.nanos[index]))
        };
        format!(
            "p50 {:?}, p99 {:?}, p99.99 {:?}, max {:?}",
            at(0.5),
            at(0.99),
            at(0.9999),
            at(1.0)
        )
    }
}

/// Takes up to `most` new keys into a full map through `get`, for at most
/// `run`, timing each.
fn new_keys(name: &str, most: u64, run: Duration, get: impl Fn(u64)) {
    let mut samples = Samples::with_room(most as usize);
    let started = Instant::now();
    let mut count = 0;
    while count < most && (!count.is_multiple_of(64) || started.elapsed() < run) {
        let at = Instant::now();
        get(FRESH_KEYS + count);
        samples.record(at.elapsed());
        count += 1;
    }
    let elapsed = started.elapsed();
    println!(
        "{name}: {count} new keys into a full map of {CAPACITY}: {:.0} keys/s; {}",
        count as f64 / elapsed.as_secs_f64(),
        samples.summary()
    );
}

/// Calls the steady keys for `run`, timing each call; returns the number of
/// calls and their latencies.
fn steady(breakers: &KeyedBreaker<u64>, run: Duration) -> (u64, Samples) {
    let mut samples = Samples::with_room(40_000_000);
    let mut calls = 0u64;
    let deadline = Instant::now() + run;
    let mut key = 0;
    while !calls.is_multiple_of(1024) || Instant::now() < deadline {
        key = (key + 1) % STEADY_KEYS;
        let at = Instant::now();
        if let Ok(permit) = breakers.get(&key).try_acquire() {
            permit.success();
        }
        samples.record(at.elapsed());
        calls += 1;
    }
    (calls, samples)
}

/// Runs the steady thread for `run` while `beside` loops on another thread
/// (until told to stop); gives the steady thread's calls and latencies and
/// how many loops `beside` made.
fn steady_beside(
    breakers: &KeyedBreaker<u64>,
    run: Duration,
    beside: impl Fn(u64) + Send + Sync + 'static,
) -> (u64, Samples, u64) {
    let stop = Arc::new(AtomicBool::new(false));
    let other = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut loops = 0;
            while !stop.load(Ordering::Relaxed) {
                beside(FRESH_KEYS + loops);
                loops += 1;
            }
            loops
        })
    };
    let (calls, samples) = steady(breakers, run);
    stop.store(true, Ordering::Relaxed);
    (calls, samples, other.join().expect("the other thread"))
}

fn steady_beside_churn(run: Duration) {
    let breakers = full_breakers();
    let (alone, alone_samples) = steady(&breakers, run);
    println!(
        "steady thread, {STEADY_KEYS} keys, {run:?} alone: {alone} calls; {}",
        alone_samples.summary()
    );
    // The control: a thread that builds and drops breakers as fast as the
    // churning one, without the map. What the steady thread loses to it is
    // the machine's (two cores, shared), not the map's.
    let (control, control_samples, built) = steady_beside(&breakers, run, |_| {
        drop(black_box(Breaker::new(BreakerConfig::default())));
    });
    println!(
        "steady thread beside a thread building breakers outside the map ({:.0}/s): {control} \
         calls ({:.1}% of alone); {}",
        built as f64 / run.as_secs_f64(),
        100.0 * control as f64 / alone as f64,
        control_samples.summary()
    );
    let churning = breakers.clone();
    let (beside, beside_samples, churned) = steady_beside(&breakers, run, move |key| {
        drop(black_box(churning.get(&key)));
    });
    println!(
        "steady thread beside a churning thread ({:.0} new keys/s): {beside} calls ({:.1}% of \
         alone, {:.1}% of the control); {}",
        churned as f64 / run.as_secs_f64(),
        100.0 * beside as f64 / alone as f64,
        100.0 * beside as f64 / control as f64,
        beside_samples.summary()
    );
}

fn bytes_per_entry() {
    const ENTRIES: u64 = 10_000;
    let breakers =
        KeyedBreaker::<u64>::new(BreakerConfig::default(), CAPACITY as usize).expect("valid");
    breakers.get(&0);
    let (_, heap, ()) = count_allocations(|| {
        for key in 1..=ENTRIES {
            breakers.get(&key);
        }
    });
    println!(
        "heap per keyed breaker entry (default config): {} bytes",
        heap / ENTRIES as i64
    );
    let bulkheads =
        KeyedBulkhead::<u64>::new(BulkheadConfig::default(), CAPACITY as usize).expect("valid");
    bulkheads.get(&0);
    let (_, heap, ()) = count_allocations(|| {
        for key in 1..=ENTRIES {
            bulkheads.get(&key);
        }
    });
    println!(
        "heap per keyed bulkhead entry (default config): {} bytes",
        heap / ENTRIES as i64
    );
}

/// `--measurement-time` from the command line, 3 s otherwise.
fn measurement_time() -> Duration {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|arg| arg == "--measurement-time")
        .and_then(|at| args.get(at + 1))
        .and_then(|secs| secs.parse::<f64>().ok())
        .map_or(Duration::from_secs(3), Duration::from_secs_f64)
}

fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    criterion_cases(&mut criterion);
    criterion.final_summary();
    if listing_or_testing() {
        return;
    }
    let run = measurement_time();
    let breakers = full_breakers();
    new_keys("breaker", 200_000, run, |key| {
        drop(black_box(breakers.get(&key)));
    });
    drop(breakers);
    let bulkheads = full_bulkheads();
    new_keys("bulkhead", 200_000, run, |key| {
        drop(black_box(bulkheads.get(&key)));
    });
    drop(bulkheads);
    steady_beside_churn(run);
    bytes_per_entry();
}
