//! Per-call overhead of the chaos layer against a bare service, in the same
//! run: switched off (the promise is one relaxed load), switched on with
//! nothing to inject (a random draw and a read lock), and switched on failing
//! 10% of the calls.
//!
//! Every case drives a service the way tower does: `poll_ready`, `call`, then
//! one poll of the future. The inner service answers at once with
//! `std::future::Ready`. Two-thread cases run both threads' loops at once on
//! one shared handle and report the time per call each thread sees.
//!
//! Run with `cargo bench --features chaos --bench chaos -- --warm-up-time 1 --measurement-time 3`.

use std::future::{ready, Future, Ready};
use std::hint::black_box;
use std::pin::pin;
use std::sync::Barrier;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use futures::task::noop_waker_ref;
use seawall::chaos::{ChaosConfig, ChaosHandle, ChaosLayer, Fault};
use tower::{Layer, Service};

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

fn chaos(enabled: bool, faults: Vec<Fault<u64>>) -> ChaosHandle<u64> {
    ChaosHandle::new(
        ChaosConfig::builder()
            .name("bench")
            .seed(1)
            .enabled(enabled)
            .faults(faults)
            .build()
            .expect("valid config"),
    )
}

fn one_thread(c: &mut Criterion) {
    let mut group = c.benchmark_group("chaos/1-thread");
    let mut case = |name: &str, mut service: Box<dyn FnMut(u64)>| {
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                service(iters);
                start.elapsed()
            })
        });
    };
    let mut bare = Dependency;
    case("bare", Box::new(move |iters| run(&mut bare, iters)));
    let mut off = ChaosLayer::new(chaos(false, vec![Fault::error(0.1)])).layer(Dependency);
    case("chaos-off", Box::new(move |iters| run(&mut off, iters)));
    let mut idle = ChaosLayer::new(chaos(true, Vec::new())).layer(Dependency);
    case(
        "chaos-on-no-faults",
        Box::new(move |iters| run(&mut idle, iters)),
    );
    let mut failing = ChaosLayer::new(chaos(true, vec![Fault::error(0.1)])).layer(Dependency);
    case(
        "chaos-on-10%-errors",
        Box::new(move |iters| run(&mut failing, iters)),
    );
    group.finish();
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

fn two_threads(c: &mut Criterion) {
    // Both threads' services share one handle: one switch, one draw counter.
    let mut group = c.benchmark_group("chaos/2-threads");
    group.bench_function("bare", |b| {
        b.iter_custom(|iters| run_two_threads(&|| Dependency, iters))
    });
    let off = ChaosLayer::new(chaos(false, vec![Fault::error(0.1)]));
    group.bench_function("chaos-off", |b| {
        b.iter_custom(|iters| run_two_threads(&|| off.layer(Dependency), iters))
    });
    let idle = ChaosLayer::new(chaos(true, Vec::new()));
    group.bench_function("chaos-on-no-faults", |b| {
        b.iter_custom(|iters| run_two_threads(&|| idle.layer(Dependency), iters))
    });
    group.finish();
}

criterion_group!(benches, one_thread, two_threads);
criterion_main!(benches);
