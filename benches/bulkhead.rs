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

use std::future::{ready, Future, Ready};
use std::hint::black_box;
use std::pin::pin;
use std::sync::Barrier;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use futures::task::noop_waker_ref;
use seawall::bulkhead::{Bulkhead, BulkheadConfig, BulkheadLayer};
use tower::limit::ConcurrencyLimitLayer;
use tower::{Layer, Service};

/// The most calls in flight: never reached by the bench.
const CAP: u32 = 1024;

/// An in-process dependency that answers at once.
#[derive(Clone, Copy)]
struct Dependency;

impl Service<u64> for Dependency {
    type Response = u64;
    type Error = std::convert::Infallible;
    type Future = Ready<Result<u64, Self::Error>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: u64) -> Self::Future {
        ready(Ok(request))
    }
}

/// `iters` calls the way tower makes them: ready, call, poll.
fn run<S: Service<u64>>(service: &mut S, iters: u64) {
    let mut cx = Context::from_waker(noop_waker_ref());
    for i in 0..iters {
        match service.poll_ready(&mut cx) {
            Poll::Ready(Ok(())) => {}
            _ => unreachable!("the bench services are always ready"),
        }
        let future = pin!(service.call(black_box(i)));
        match future.poll(&mut cx) {
            Poll::Ready(result) => {
                black_box(result.is_ok());
            }
            Poll::Pending => unreachable!("the bench futures are ready at once"),
        }
    }
}

/// Runs `iters` calls on each of two threads at once, one service each, and
/// returns the time the measuring thread saw.
fn run_two_threads<S: Service<u64> + Send>(make: &(dyn Fn() -> S + Sync), iters: u64) -> Duration {
    let barrier = Barrier::new(2);
    let mut own = make();
    let mut other = make();
    std::thread::scope(|scope| {
        let barrier = &barrier;
        scope.spawn(move || {
            barrier.wait();
            run(&mut other, iters);
        });
        barrier.wait();
        let start = Instant::now();
        run(&mut own, iters);
        start
    })
    .elapsed()
}

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
