//! Per-call overhead of the bulkhead against a bare service and against
//! tower's `ConcurrencyLimit`, measured in the same run.
//!
//! Every case drives a service the way tower does: `poll_ready`, `call`, then
//! one poll of the future. The inner service answers at once with
//! `std::future::Ready`, and the cap is never reached, so what is left over
//! the bare case is the cost of taking and giving back a slot. Two-thread
//! cases run both threads' loops at once on one shared cap and report the
//! time per call each thread sees.
//!
//! Run with `cargo bench --bench bulkhead -- --warm-up-time 1 --measurement-time 3`.

use std::hint::black_box;
use std::time::Instant;

use criterion::{criterion_group, criterion_main, Criterion};
use seawall::bulkhead::{Bulkhead, BulkheadConfig, BulkheadLayer};
use support::{run, run_two_threads, Dependency};
use tower::limit::ConcurrencyLimitLayer;
use tower::Layer;

mod support;

/// The most calls in flight: never reached by the bench.
const CAP: u32 = 1024;

fn bulkhead() -> Bulkhead {
    Bulkhead::new(
        BulkheadConfig::builder()
            .name("bench")
            .max_concurrent_calls(CAP)
            .build()
            .expect("valid config"),
    )
}

fn one_thread(c: &mut Criterion) {
    let mut group = c.benchmark_group("bulkhead/1-thread");
    group.bench_function("bare", |b| {
        let mut service = Dependency;
        b.iter_custom(|iters| {
            let start = Instant::now();
            run(&mut service, iters);
            start.elapsed()
        })
    });
    group.bench_function("seawall-bulkhead", |b| {
        let mut service = BulkheadLayer::new(bulkhead()).layer(Dependency);
        b.iter_custom(|iters| {
            let start = Instant::now();
            run(&mut service, iters);
            start.elapsed()
        })
    });
    group.bench_function("tower-concurrency-limit", |b| {
        let mut service = ConcurrencyLimitLayer::new(CAP as usize).layer(Dependency);
        b.iter_custom(|iters| {
            let start = Instant::now();
            run(&mut service, iters);
            start.elapsed()
        })
    });
    group.bench_function("seawall-try-acquire", |b| {
        let bulkhead = bulkhead();
        b.iter(|| black_box(bulkhead.try_acquire().is_ok()))
    });
    group.finish();
}

fn two_threads(c: &mut Criterion) {
    let mut group = c.benchmark_group("bulkhead/2-threads");
    group.bench_function("bare", |b| {
        b.iter_custom(|iters| run_two_threads(&|| Dependency, iters))
    });
    group.bench_function("seawall-bulkhead", |b| {
        let layer = BulkheadLayer::new(bulkhead());
        b.iter_custom(|iters| run_two_threads(&|| layer.layer(Dependency), iters))
    });
    group.bench_function("tower-concurrency-limit", |b| {
        // One layered service cloned: clones share the semaphore.
        let shared = ConcurrencyLimitLayer::new(CAP as usize).layer(Dependency);
        b.iter_custom(|iters| run_two_threads(&|| shared.clone(), iters))
    });
    group.finish();
}

criterion_group!(benches, one_thread, two_threads);
criterion_main!(benches);
