//! Half-open under hostile callers: a caller that polls a breaker service
//! ready and never calls must not wedge the probes, and the breaker's
//! readiness inside a balancer.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use seawall::breaker::{Breaker, BreakerConfig, BreakerService, State};
use seawall::BoxError;
use tower::balance::p2c::Balance;
use tower::discover::ServiceList;
use tower::load::{CompleteOnResponse, PendingRequests};
use tower::{service_fn, Service, ServiceExt};

const SECOND: Duration = Duration::from_secs(1);

/// Trips `breaker` with failures recorded by hand.
fn trip(breaker: &Breaker) {
    while breaker.state() != State::Open {
        breaker.try_acquire().unwrap().failure();
    }
}

/// A healthy dependency counting the calls it serves.
fn healthy() -> (
    impl Service<
            u64,
            Response = u64,
            Error = BoxError,
            Future = impl std::future::Future<Output = Result<u64, BoxError>> + Send,
        > + Clone,
    Arc<AtomicU64>,
) {
    let served = Arc::new(AtomicU64::new(0));
    let count = served.clone();
    let service = service_fn(move |n: u64| {
        count.fetch_add(1, Ordering::Relaxed);
        async move { Ok::<_, BoxError>(n) }
    });
    (service, served)
}

/// One request a second for an hour through a clone of `service`, after a
/// holder polled another clone ready and kept it: (admitted, refused).
async fn an_hour_beside_a_holder(breaker: Breaker) -> (u64, u64) {
    trip(&breaker);
    tokio::time::sleep(breaker.metrics().time_until_probe.unwrap() + SECOND).await;
    let (dependency, _) = healthy();
    let service = BreakerService::new(dependency, breaker.clone());
    // Polled ready, then neither called nor dropped: a balancer's ready cache,
    // a `select!` after `ready()`, a buffer worker waiting for a request.
    let mut holder = service.clone();
    holder.ready().await.unwrap();
    let (mut admitted, mut refused) = (0, 0);
    for n in 0..3_600 {
        match service.clone().oneshot(n).await {
            Ok(_) => admitted += 1,
            Err(_) => refused += 1,
        }
        tokio::time::sleep(SECOND).await;
    }
    drop(holder);
    (admitted, refused)
}

#[tokio::test(start_paused = true)]
async fn a_caller_that_polls_ready_and_never_calls_does_not_wedge_half_open() {
    let (admitted, refused) = an_hour_beside_a_holder(Breaker::new(BreakerConfig::default())).await;
    println!("default config: admitted {admitted}, refused {refused}");
    let one_probe = BreakerConfig::builder()
        .permitted_calls_in_half_open(1)
        .build()
        .unwrap();
    let (admitted_one, refused_one) = an_hour_beside_a_holder(Breaker::new(one_probe)).await;
    println!("one probe: admitted {admitted_one}, refused {refused_one}");
    assert_eq!((admitted, refused), (3_600, 0));
    assert_eq!((admitted_one, refused_one), (3_600, 0));
}

/// A permit taken by hand and never recorded nor dropped: the default
/// half-open maximum wait (twice the open wait) still ends the half-open state.
async fn an_hour_beside_a_held_permit(breaker: Breaker) -> u64 {
    trip(&breaker);
    tokio::time::sleep(breaker.metrics().time_until_probe.unwrap() + SECOND).await;
    let held = breaker.try_acquire().unwrap();
    let mut admitted = 0;
    for _ in 0..3_600 {
        if let Ok(permit) = breaker.try_acquire() {
            permit.success();
            admitted += 1;
        }
        tokio::time::sleep(SECOND).await;
    }
    drop(held);
    admitted
}

#[tokio::test(start_paused = true)]
async fn a_probe_held_for_ever_keeps_half_open_for_twice_the_open_wait_at_most() {
    let bounded = an_hour_beside_a_held_permit(Breaker::new(BreakerConfig::default())).await;
    let unbounded = an_hour_beside_a_held_permit(Breaker::new(
        BreakerConfig::builder()
            .unbounded_wait_in_half_open()
            .build()
            .unwrap(),
    ))
    .await;
    println!("held permit: admitted {bounded} by default, {unbounded} unbounded");
    // 9 probes, then half-open until its 120 s run out, open for 60 s, and
    // closed on the next 10 probes: everything after about 3 minutes passes.
    assert!((3_400..3_600).contains(&bounded), "{bounded}");
    // resilience4j's unbounded wait: the 9 other probes, then nothing.
    assert_eq!(unbounded, 9);
}

/// A dependency behind a balancer's endpoint.
type Dependency = tower::util::BoxCloneService<u64, u64, BoxError>;

/// An endpoint for a balancer: a dependency answering after 10 ms behind
/// `breaker`, counted by its pending requests.
fn endpoint(
    breaker: &Breaker,
    not_ready_while_open: bool,
) -> (PendingRequests<BreakerService<Dependency>>, Arc<AtomicU64>) {
    let served = Arc::new(AtomicU64::new(0));
    let count = served.clone();
    let dependency = service_fn(move |n: u64| {
        count.fetch_add(1, Ordering::Relaxed);
        async move {
            tokio::time::sleep(Duration::from_millis(10)).await;
            Ok::<_, BoxError>(n)
        }
    });
    let mut service = BreakerService::new(Dependency::new(dependency), breaker.clone());
    if not_ready_while_open {
        service = service.not_ready_while_open();
    }
    (
        PendingRequests::new(service, CompleteOnResponse::default()),
        served,
    )
}

/// 200 requests through a p2c balancer over two endpoints, one behind an
/// open breaker: (refused, served by the healthy endpoint, refusals the open
/// breaker counted).
async fn through_p2c(not_ready_while_open: bool) -> (u64, u64, u64) {
    let open = Breaker::new(BreakerConfig::default());
    trip(&open);
    let healthy = Breaker::new(BreakerConfig::default());
    let (to_open, reached_open) = endpoint(&open, not_ready_while_open);
    let (to_healthy, served) = endpoint(&healthy, not_ready_while_open);
    let mut balancer = Balance::new(ServiceList::new(vec![to_open, to_healthy]));
    let mut calls = Vec::new();
    for n in 0..200 {
        let call = balancer.ready().await.unwrap().call(n);
        calls.push(tokio::spawn(call));
        // Let the calls so far run: the open endpoint's fail at once, the
        // healthy one's stay pending for their 10 ms.
        tokio::task::yield_now().await;
    }
    let mut refused = 0;
    for call in calls {
        if call.await.unwrap().is_err() {
            refused += 1;
        }
    }
    assert_eq!(reached_open.load(Ordering::Relaxed), 0);
    (
        refused,
        served.load(Ordering::Relaxed),
        open.metrics().not_permitted_calls,
    )
}

#[tokio::test(start_paused = true)]
async fn an_open_endpoint_attracts_a_p2c_balancer_unless_it_reports_not_ready() {
    let (refused, served, counted) = through_p2c(false).await;
    println!("ready while open: {refused} of 200 refused, {served} served");
    // No request pending: the open endpoint looks like the least loaded one.
    assert!(refused > 150, "{refused}");
    assert_eq!(refused + served, 200);
    assert_eq!(counted, refused);
    let (refused, served, counted) = through_p2c(true).await;
    println!("not ready while open: {refused} of 200 refused, {served} served");
    assert_eq!((refused, served, counted), (0, 200, 0));
}

#[tokio::test(start_paused = true)]
async fn not_ready_while_open_wakes_when_the_open_wait_ends() {
    let breaker = Breaker::new(
        BreakerConfig::builder()
            .open_wait(seawall::breaker::OpenWait::fixed(10 * SECOND))
            .build()
            .unwrap(),
    );
    trip(&breaker);
    let (dependency, served) = healthy();
    let mut service = BreakerService::new(dependency, breaker.clone()).not_ready_while_open();
    let start = tokio::time::Instant::now();
    // Waits, without a refusal, until the open wait is over; then probes.
    let answer = service.ready().await.unwrap().call(7).await.unwrap();
    let waited = start.elapsed();
    assert_eq!(answer, 7);
    assert!(
        waited > 10 * SECOND && waited <= 10 * SECOND + Duration::from_millis(2),
        "{waited:?}"
    );
    assert_eq!(served.load(Ordering::Relaxed), 1);
    assert_eq!(breaker.metrics().not_permitted_calls, 0);
    // Forced open there is no wait to end: it looks again every 250 ms, and
    // is ready within 250 ms of a reset.
    breaker.force_open();
    let reset = breaker.clone();
    tokio::spawn(async move {
        tokio::time::sleep(3 * SECOND + Duration::from_millis(10)).await;
        reset.reset();
    });
    let start = tokio::time::Instant::now();
    service.ready().await.unwrap();
    let waited = start.elapsed();
    assert!(
        waited > 3 * SECOND && waited <= 3 * SECOND + Duration::from_millis(260),
        "{waited:?}"
    );
}

#[test]
fn not_ready_while_open_without_a_runtime_fails_fast() {
    let breaker = Breaker::new(BreakerConfig::default());
    breaker.force_open();
    let (dependency, _) = healthy();
    let mut service = BreakerService::new(dependency, breaker.clone()).not_ready_while_open();
    let waker = futures::task::noop_waker();
    let mut cx = std::task::Context::from_waker(&waker);
    assert!(matches!(
        service.poll_ready(&mut cx),
        std::task::Poll::Ready(Ok(()))
    ));
    let refused = futures::executor::block_on(service.call(1)).unwrap_err();
    assert!(refused.is::<seawall::breaker::error::BreakerOpen>());
}

#[test]
fn a_breaker_service_stays_send_and_sync() {
    fn send_sync<T: Send + Sync>(_: &T) {}
    let (dependency, _) = healthy();
    let service = BreakerService::new(dependency, Breaker::new(BreakerConfig::default()))
        .not_ready_while_open();
    send_sync(&service);
}
