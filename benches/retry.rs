//! Per-call overhead of `Retry` (first attempt succeeds) and `Timeout`, against
//! the bare service and tower's own `retry` and `timeout`, in the same run.
//!
//! Every service answers at once, so each iteration is `poll_ready`, `call`
//! and one poll of the response future: what the layer adds to a call.

use std::convert::Infallible;
use std::future::{ready, Future, Ready};
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll};
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use futures::task::noop_waker_ref;
use seawall::retry::{Retry, RetryConfig};
use seawall::timeout::Timeout;
use tower::{service_fn, Service};

fn bare(
) -> impl Service<u64, Response = u64, Error = Infallible, Future = Ready<Result<u64, Infallible>>> + Clone
{
    service_fn(|x: u64| ready(Ok::<_, Infallible>(x)))
}

/// The smallest tower retry policy: never retries, clones the request.
#[derive(Clone)]
struct NoRetry;

impl<E> tower::retry::Policy<u64, u64, E> for NoRetry {
    type Future = Ready<()>;

    fn retry(&mut self, _: &mut u64, _: &mut Result<u64, E>) -> Option<Self::Future> {
        None
    }

    fn clone_request(&mut self, req: &u64) -> Option<u64> {
        Some(*req)
    }
}

fn one_call<S>(service: &mut S, cx: &mut Context<'_>) -> u64
where
    S: Service<u64, Response = u64>,
    S::Error: std::fmt::Debug,
{
    match service.poll_ready(cx) {
        Poll::Ready(Ok(())) => {}
        _ => unreachable!("always ready"),
    }
    let future = pin!(service.call(black_box(1)));
    match future.poll(cx) {
        Poll::Ready(Ok(x)) => x,
        _ => unreachable!("answers at once"),
    }
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let _guard = runtime.enter();
    let mut cx = Context::from_waker(noop_waker_ref());

    let mut group = c.benchmark_group("retry");
    let mut service = bare();
    group.bench_function("bare", |b| b.iter(|| one_call(&mut service, &mut cx)));
    let mut service = Retry::new(bare(), RetryConfig::builder().no_budget().build().unwrap());
    group.bench_function("seawall_retry_no_budget", |b| {
        b.iter(|| one_call(&mut service, &mut cx))
    });
    let mut service = Retry::new(bare(), RetryConfig::default());
    group.bench_function("seawall_retry_ratio_budget", |b| {
        b.iter(|| one_call(&mut service, &mut cx))
    });
    let mut service = tower::retry::Retry::new(NoRetry, bare());
    group.bench_function("tower_retry", |b| {
        b.iter(|| one_call(&mut service, &mut cx))
    });
    group.finish();

    let mut group = c.benchmark_group("timeout");
    let mut service = bare();
    group.bench_function("bare", |b| b.iter(|| one_call(&mut service, &mut cx)));
    let mut service = Timeout::new(bare(), Duration::from_secs(1));
    group.bench_function("seawall_timeout", |b| {
        b.iter(|| one_call(&mut service, &mut cx))
    });
    let mut service = tower::timeout::Timeout::new(bare(), Duration::from_secs(1));
    group.bench_function("tower_timeout", |b| {
        b.iter(|| one_call(&mut service, &mut cx))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
