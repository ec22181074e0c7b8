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

use criterion::{criterion_group, criterion_main, Criterion};
use seawall::chaos::{Chaos, ChaosConfig, ChaosLayer, Fault};
use std::time::Instant;
use support::{run, run_two_threads, Dependency};

use tower::Layer;

mod support;

fn chaos(enabled: bool, faults: Vec<Fault<u64>>) -> Chaos<u64> {
    Chaos::new(
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
    let mut bare = Dependency::healthy();
    case("bare", Box::new(move |iters| run(&mut bare, iters)));
    let mut off =
        ChaosLayer::new(chaos(false, vec![Fault::error(0.1)])).layer(Dependency::healthy());
    case("chaos-off", Box::new(move |iters| run(&mut off, iters)));
    let mut idle = ChaosLayer::new(chaos(true, Vec::new())).layer(Dependency::healthy());
    case(
        "chaos-on-no-faults",
        Box::new(move |iters| run(&mut idle, iters)),
    );
    let mut failing =
        ChaosLayer::new(chaos(true, vec![Fault::error(0.1)])).layer(Dependency::healthy());
    case(
        "chaos-on-10%-errors",
        Box::new(move |iters| run(&mut failing, iters)),
    );
    group.finish();
}

fn two_threads(c: &mut Criterion) {
    // Both threads' services share one handle: one switch, one draw counter.
    let mut group = c.benchmark_group("chaos/2-threads");
    group.bench_function("bare", |b| {
        b.iter_custom(|iters| run_two_threads(&|| Dependency::healthy(), iters))
    });
    let off = ChaosLayer::new(chaos(false, vec![Fault::error(0.1)]));
    group.bench_function("chaos-off", |b| {
        b.iter_custom(|iters| run_two_threads(&|| off.layer(Dependency::healthy()), iters))
    });
    let idle = ChaosLayer::new(chaos(true, Vec::new()));
    group.bench_function("chaos-on-no-faults", |b| {
        b.iter_custom(|iters| run_two_threads(&|| idle.layer(Dependency::healthy()), iters))
    });
    group.finish();
}

criterion_group!(benches, one_thread, two_threads);
criterion_main!(benches);
