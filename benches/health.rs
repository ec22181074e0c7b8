//! What a flood of health probes costs, per probe, in one run: `/livez`
//! (answered at once), `/readyz` and `/health` without details (the cached
//! summary), and `/health` with details (a full report: a task per
//! component). The promise: a `/readyz` probe costs at most twice a `/livez`
//! probe.
//!
//! Five components are registered, as a service might: two breakers, a
//! bulkhead (looked at on every probe), a custom component and a check with
//! the default 1 s minimum interval (so a probe runs it about once a second,
//! the others answer from the cache).
//!
//! Each iteration sends one `GET` through the service on a current-thread
//! runtime and drops the response, as a server would after writing it.
//!
//! Run with `cargo bench --bench health -- --warm-up-time 1 --measurement-time 3`.

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use http::Request;
use seawall::breaker::{Breaker, BreakerConfig};
use seawall::bulkhead::{Bulkhead, BulkheadConfig};
use seawall::health::{
    Check, Component, ComponentFuture, Criticality, Details, HealthRegistry, HealthService, Status,
};
use tower::ServiceExt;

/// A component with nothing to say: its `status` is always current.
struct Pool;

impl Component for Pool {
    fn name(&self) -> &str {
        "pool"
    }
    fn status(&self) -> Option<Status> {
        Some(Status::Up)
    }
    fn check(&self) -> ComponentFuture<'_> {
        Box::pin(std::future::ready(Details::new(Status::Up)))
    }
}

fn registry() -> HealthRegistry {
    let health = HealthRegistry::new();
    for name in ["payments", "search"] {
        let breaker = Breaker::new(
            BreakerConfig::builder()
                .name(name)
                .build()
                .expect("valid config"),
        );
        health.register_breaker(&breaker, Criticality::critical());
    }
    let bulkhead = Bulkhead::new(
        BulkheadConfig::builder()
            .name("db")
            .build()
            .expect("valid config"),
    );
    health.register_bulkhead(&bulkhead, Criticality::non_critical());
    health.register(Pool, Criticality::critical());
    health.register_check(
        Check::new("db", || async { Ok::<_, std::io::Error>(()) }),
        Criticality::critical(),
    );
    health.mark_started();
    health
}

fn probes(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let health = runtime.block_on(async { registry() });
    let public = HealthService::new(health.clone());
    let detailed = HealthService::new(health).details(true);
    let mut group = c.benchmark_group("health/probe");
    let cases = [
        ("livez", &public, "/livez"),
        ("readyz", &public, "/readyz"),
        ("health", &public, "/health"),
        ("health-details", &detailed, "/health"),
    ];
    for (name, service, path) in cases {
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                runtime.block_on(async {
                    let start = Instant::now();
                    for _ in 0..iters {
                        let request = Request::get(path).body(()).expect("a request");
                        let response = service.clone().oneshot(request).await.expect("infallible");
                        std::hint::black_box(response);
                    }
                    start.elapsed()
                })
            })
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = probes
}
criterion_main!(benches);
