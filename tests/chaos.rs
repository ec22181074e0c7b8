//! The chaos layer: rates for a fixed seed, reproducibility, injected latency
//! in virtual time, the run-time switch, pass-through when off, a breaker
//! tripped by injected errors, and a real server answering injected 503s.

#![cfg(feature = "chaos")]

use std::future::Future;
use std::time::Duration;

use seawall::breaker::{Breaker, BreakerConfig, BreakerLayer, State};
use seawall::chaos::error::InjectedFault;
use seawall::chaos::{Chaos, ChaosConfig, ChaosLayer, ChaosService, Fault, Latency};
use seawall::{BoxError, ErrorKind};
use tokio::time::Instant;
use tokio_test::{assert_pending, assert_ready_err, assert_ready_ok};
use tower::{service_fn, Layer, Service, ServiceBuilder, ServiceExt};
use tower_test::mock;

const MS: Duration = Duration::from_millis(1);

/// What one call through chaos came back with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Seen {
    /// The real answer, after this long.
    Real(Duration),
    /// The canned answer.
    Canned,
    /// `InjectedFault`.
    Injected,
}

type Echo = tower::util::BoxCloneService<u64, &'static str, std::io::Error>;

/// A dependency that answers at once.
fn dependency() -> Echo {
    tower::util::BoxCloneService::new(service_fn(|_: u64| async {
        Ok::<_, std::io::Error>("real")
    }))
}

fn handle(seed: u64, faults: Vec<Fault<&'static str>>) -> Chaos<&'static str> {
    Chaos::new(
        ChaosConfig::builder()
            .name("test")
            .seed(seed)
            .faults(faults)
            .build()
            .expect("valid config"),
    )
}

/// One call, classified.
async fn call<S>(service: &mut S, request: u64) -> Seen
where
    S: Service<u64, Response = &'static str, Error = BoxError>,
{
    let started = Instant::now();
    match service.ready().await.unwrap().call(request).await {
        Ok("real") => Seen::Real(started.elapsed()),
        Ok("canned") => Seen::Canned,
        Ok(other) => panic!("unexpected answer {other}"),
        Err(err) => {
            assert!(err.is::<InjectedFault>(), "unexpected error {err}");
            Seen::Injected
        }
    }
}

async fn run(chaos: &Chaos<&'static str>, calls: u64) -> Vec<Seen> {
    let mut service = ChaosLayer::new(chaos.clone()).layer(dependency());
    let mut seen = Vec::with_capacity(calls as usize);
    for request in 0..calls {
        seen.push(call(&mut service, request).await);
    }
    seen
}

fn mixed_faults() -> Vec<Fault<&'static str>> {
    vec![
        Fault::error(0.10),
        Fault::response(0.20, || "canned"),
        Fault::latency(0.05, Latency::fixed(MS)),
    ]
}

#[test]
fn the_builder_and_the_handle_reject_bad_faults() {
    let field = |faults: Vec<Fault<()>>| {
        ChaosConfig::builder()
            .faults(faults)
            .build()
            .unwrap_err()
            .field()
    };
    assert_eq!(field(vec![Fault::error(-0.1)]), "fault.rate");
    assert_eq!(field(vec![Fault::error(1.5)]), "fault.rate");
    assert_eq!(field(vec![Fault::error(f64::NAN)]), "fault.rate");
    assert_eq!(
        field(vec![Fault::error(0.6), Fault::response(0.5, || ())]),
        "faults"
    );
    assert_eq!(
        field(vec![Fault::latency(0.1, Latency::between(2 * MS, MS))]),
        "fault.latency"
    );
    let week = Duration::from_secs(7 * 24 * 60 * 60);
    assert_eq!(
        field(vec![Fault::latency(0.1, Latency::fixed(week + MS))]),
        "fault.latency"
    );
    assert!(ChaosConfig::<()>::builder()
        .fault(Fault::latency(0.1, Latency::between(MS, week)))
        .build()
        .is_ok());
    // Float slack: 0.1 + 0.2 + 0.7 is a little over 1 in floats, and allowed.
    assert!(ChaosConfig::<()>::builder()
        .faults([Fault::error(0.1), Fault::error(0.2), Fault::error(0.7)])
        .build()
        .is_ok());

    let chaos = handle(0, vec![Fault::error(0.5)]);
    assert!(chaos.set_faults([Fault::error(1.01)]).is_err());
    let kept = chaos.faults();
    assert_eq!((kept.len(), kept[0].rate()), (1, 0.5), "left as they were");
}

#[tokio::test(start_paused = true)]
async fn each_fault_gets_its_share_of_the_calls() {
    const CALLS: u64 = 20_000;
    for seed in [0, 1, 42, 0xdead_beef, u64::MAX] {
        let seen = run(&handle(seed, mixed_faults()), CALLS).await;
        let count = |wanted: fn(&Seen) -> bool| seen.iter().filter(|s| wanted(s)).count();
        let shares = [
            (0.10, count(|s| *s == Seen::Injected)),
            (0.20, count(|s| *s == Seen::Canned)),
            (0.05, count(|s| *s == Seen::Real(MS))),
            (0.65, count(|s| *s == Seen::Real(Duration::ZERO))),
        ];
        assert_eq!(shares.iter().map(|(_, n)| n).sum::<usize>(), CALLS as usize);
        for (rate, got) in shares {
            // Four standard deviations of a binomial count.
            let n = CALLS as f64;
            let tolerance = 4.0 * (n * rate * (1.0 - rate)).sqrt();
            assert!(
                (got as f64 - n * rate).abs() <= tolerance,
                "seed {seed}: rate {rate} gave {got} of {CALLS} calls (tolerance {tolerance:.0})"
            );
        }
    }
}

#[tokio::test(start_paused = true)]
async fn rates_of_zero_and_one_are_exact() {
    let never = run(&handle(3, vec![Fault::error(0.0)]), 2_000).await;
    assert!(never.iter().all(|s| *s == Seen::Real(Duration::ZERO)));
    let always = run(&handle(3, vec![Fault::error(1.0)]), 2_000).await;
    assert!(always.iter().all(|s| *s == Seen::Injected));
    let split = run(
        &handle(
            3,
            vec![Fault::error(0.0), Fault::response(1.0, || "canned")],
        ),
        2_000,
    )
    .await;
    assert!(split.iter().all(|s| *s == Seen::Canned));
}

#[tokio::test(start_paused = true)]
async fn the_same_seed_gives_the_same_faults_on_the_same_calls() {
    let first = run(&handle(42, mixed_faults()), 500).await;
    let again = run(&handle(42, mixed_faults()), 500).await;
    assert_eq!(first, again);
    let other = run(&handle(43, mixed_faults()), 500).await;
    assert_ne!(first, other);
}

#[tokio::test(start_paused = true)]
async fn injected_latency_is_exact_in_virtual_time() {
    let chaos = handle(
        0,
        vec![Fault::latency(
            1.0,
            Latency::fixed(Duration::from_millis(250)),
        )],
    );
    let mut service = ChaosLayer::new(chaos.clone()).layer(dependency());
    assert_ready_ok!(tokio_test::task::spawn(service.ready()).poll());
    let mut future = tokio_test::task::spawn(service.call(1));
    assert_pending!(future.poll());
    tokio::time::advance(Duration::from_millis(249)).await;
    assert_pending!(future.poll(), "not before the delay is over");
    tokio::time::advance(MS).await;
    assert_eq!(assert_ready_ok!(future.poll()), "real");

    // A slow failure: the error comes after the delay.
    chaos
        .set_faults([Fault::error(1.0).with_latency(Latency::fixed(100 * MS))])
        .unwrap();
    let started = Instant::now();
    let err = service.ready().await.unwrap().call(2).await.unwrap_err();
    assert!(err.is::<InjectedFault>());
    assert_eq!(started.elapsed(), 100 * MS);

    // A range: every delay within it, and not all the same.
    chaos
        .set_faults([Fault::latency(1.0, Latency::between(10 * MS, 20 * MS))])
        .unwrap();
    let mut delays = Vec::new();
    for request in 0..200 {
        match call(&mut service, request).await {
            Seen::Real(took) => delays.push(took),
            other => panic!("{other:?}"),
        }
    }
    // The timer rounds up to the next millisecond.
    assert!(
        delays.iter().all(|d| (10 * MS..=21 * MS).contains(d)),
        "{delays:?}"
    );
    let (min, max) = (delays.iter().min().unwrap(), delays.iter().max().unwrap());
    assert!(
        *min <= 12 * MS && *max >= 19 * MS,
        "spread over the range: {min:?}..{max:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn the_handle_switches_and_reconfigures_every_clone() {
    let chaos = Chaos::new(
        ChaosConfig::builder()
            .fault(Fault::error(1.0))
            .enabled(false)
            .build()
            .unwrap(),
    );
    let service = ChaosLayer::new(chaos.clone()).layer(dependency());
    let mut clones = [service.clone(), service.clone(), service];
    for clone in &mut clones {
        assert_eq!(call(clone, 0).await, Seen::Real(Duration::ZERO));
    }
    chaos.enable();
    for clone in &mut clones {
        assert_eq!(call(clone, 0).await, Seen::Injected);
    }
    chaos
        .set_faults([Fault::response(1.0, || "canned")])
        .unwrap();
    for clone in &mut clones {
        assert_eq!(call(clone, 0).await, Seen::Canned);
    }
    chaos.set_faults([]).unwrap();
    for clone in &mut clones {
        assert_eq!(call(clone, 0).await, Seen::Real(Duration::ZERO));
    }
    chaos.set_faults([Fault::error(1.0)]).unwrap();
    chaos.disable();
    for clone in &mut clones {
        assert_eq!(call(clone, 0).await, Seen::Real(Duration::ZERO));
    }
}

#[tokio::test(start_paused = true)]
async fn switched_off_it_passes_everything_through_untouched() {
    let chaos = Chaos::new(
        ChaosConfig::builder()
            .fault(Fault::error(0.5))
            .fault(Fault::response(0.5, || "canned"))
            .enabled(false)
            .build()
            .unwrap(),
    );
    let (mut service, mut inner) =
        mock::spawn_layer::<&'static str, &'static str, _>(ChaosLayer::new(chaos.clone()));

    // The inner service's readiness is its own.
    inner.allow(0);
    assert_pending!(service.poll_ready());
    inner.allow(2);
    assert_ready_ok!(service.poll_ready());

    let mut answered = tokio_test::task::spawn(service.call("hello"));
    let (request, respond) = inner.next_request().await.unwrap();
    assert_eq!(request, "hello");
    respond.send_response("world");
    assert_eq!(assert_ready_ok!(answered.poll()), "world");

    assert_ready_ok!(service.poll_ready());
    let mut failed = tokio_test::task::spawn(service.call("again"));
    let (request, respond) = inner.next_request().await.unwrap();
    assert_eq!(request, "again");
    respond.send_error(std::io::Error::other("inner failure"));
    let err = assert_ready_err!(failed.poll());
    assert_eq!(err.to_string(), "inner failure");
    assert_eq!(ErrorKind::of(&*err), ErrorKind::Other);
}

#[tokio::test(start_paused = true)]
async fn an_injected_fault_neither_waits_for_nor_reaches_the_inner_service() {
    let chaos = handle(0, vec![Fault::error(1.0)]);
    let (mut service, mut inner) =
        mock::spawn_layer::<&'static str, &'static str, _>(ChaosLayer::new(chaos.clone()));
    inner.allow(0);
    assert_ready_ok!(service.poll_ready(), "ready without the inner service");
    let mut future = tokio_test::task::spawn(service.call("lost"));
    let err = assert_ready_err!(future.poll());
    assert!(err.is::<InjectedFault>());
    assert_pending!(inner.poll_request(), "nothing reached the inner service");

    // A canned response, likewise.
    chaos
        .set_faults([Fault::response(1.0, || "canned")])
        .unwrap();
    assert_ready_ok!(service.poll_ready());
    assert_eq!(
        assert_ready_ok!(tokio_test::task::spawn(service.call("lost")).poll()),
        "canned"
    );
    assert_pending!(inner.poll_request());

    // A custom error keeps its type.
    chaos
        .set_faults([Fault::error_with(1.0, || {
            std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset by chaos")
        })])
        .unwrap();
    assert_ready_ok!(service.poll_ready());
    let err = assert_ready_err!(tokio_test::task::spawn(service.call("lost")).poll());
    let io = err.downcast_ref::<std::io::Error>().expect("an io::Error");
    assert_eq!(io.kind(), std::io::ErrorKind::ConnectionReset);
}

#[tokio::test(start_paused = true)]
async fn injected_errors_trip_a_breaker_at_the_configured_rate() {
    // Chaos fails 30% of the calls. A breaker that trips at 25% opens once its
    // window is full; one that trips at 40% never does, and sees about 30%.
    let breaker = |threshold: f64| {
        Breaker::new(
            BreakerConfig::builder()
                .name("dependency")
                .count_window(200)
                .minimum_calls(200)
                .failure_rate_threshold(threshold)
                .build()
                .unwrap(),
        )
    };
    for (threshold, opens) in [(0.25, true), (0.40, false)] {
        let breaker = breaker(threshold);
        let mut client = ServiceBuilder::new()
            .layer(BreakerLayer::new(breaker.clone()))
            .layer(ChaosLayer::new(handle(9, vec![Fault::error(0.30)])))
            .service(dependency());
        let mut calls = 0;
        while calls < 2_000 && breaker.state() == State::Closed {
            let _ = client.ready().await.unwrap().call(calls).await;
            calls += 1;
        }
        if opens {
            assert_eq!(breaker.state(), State::Open);
            assert_eq!(calls, 200, "open as soon as the window is full");
            let rate = breaker.metrics().failure_rate.unwrap();
            assert!((0.25..0.36).contains(&rate), "tripped at {rate}");
        } else {
            assert_eq!(breaker.state(), State::Closed);
            let rate = breaker.metrics().failure_rate.unwrap();
            assert!((0.24..0.36).contains(&rate), "window at {rate}");
        }
    }
}

#[test]
fn injected_faults_are_counted_by_kind() {
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};

    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, || {
        let chaos = handle(
            5,
            vec![Fault::error(0.5), Fault::response(0.5, || "canned")],
        );
        let (mut service, _inner) =
            mock::spawn_layer::<&'static str, &'static str, _>(ChaosLayer::new(chaos));
        let mut by_kind = [0u64; 2];
        for _ in 0..100 {
            assert_ready_ok!(service.poll_ready());
            match tokio_test::task::spawn(service.call("req")).poll() {
                std::task::Poll::Ready(Err(_)) => by_kind[0] += 1,
                std::task::Poll::Ready(Ok(_)) => by_kind[1] += 1,
                std::task::Poll::Pending => panic!("injected faults answer at once"),
            }
        }
        let mut counted = snapshotter
            .snapshot()
            .into_vec()
            .into_iter()
            .map(|(key, _, _, value)| {
                let key = key.key();
                let labels: Vec<String> = key
                    .labels()
                    .map(|l| format!("{}={}", l.key(), l.value()))
                    .collect();
                (key.name().to_string(), labels.join(","), value)
            })
            .collect::<Vec<_>>();
        counted.sort_by(|a, b| a.1.cmp(&b.1));
        assert_eq!(
            counted,
            vec![
                (
                    "seawall_chaos_injected_total".to_string(),
                    "name=test,fault=error".to_string(),
                    DebugValue::Counter(by_kind[0])
                ),
                (
                    "seawall_chaos_injected_total".to_string(),
                    "name=test,fault=response".to_string(),
                    DebugValue::Counter(by_kind[1])
                ),
            ]
        );
        assert!(by_kind[0] > 0 && by_kind[1] > 0);
    });
}

/// Bounds every network step: a hung server fails the test instead of the run.
async fn within<T>(what: &str, future: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(10), future)
        .await
        .unwrap_or_else(|_| panic!("{what} took longer than 10 s"))
}

#[tokio::test]
async fn a_real_axum_server_answers_injected_503s() {
    use axum::body::Body;
    use axum::response::Response;
    use axum::routing::get;
    use axum::Router;

    const REQUESTS: usize = 40;
    let config = || {
        ChaosConfig::builder()
            .name("server")
            .seed(11)
            .fault(Fault::response(0.5, || {
                Response::builder()
                    .status(503)
                    .body(Body::from("injected"))
                    .unwrap()
            }))
            .build()
            .unwrap()
    };
    let chaos = Chaos::new(config());
    let app = Router::new()
        .route("/orders", get(|| async { "orders" }))
        .layer(
            ServiceBuilder::new()
                .layer(seawall::axum::ErrorResponseLayer::new())
                .layer(ChaosLayer::new(chaos.clone())),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let url = format!("http://{addr}/orders");

    let mut statuses = Vec::with_capacity(REQUESTS);
    for _ in 0..REQUESTS {
        let response = within("a request", client.get(&url).send()).await.unwrap();
        let status = response.status().as_u16();
        let body = within("a body", response.text()).await.unwrap();
        match status {
            200 => assert_eq!(body, "orders"),
            503 => assert_eq!(body, "injected"),
            other => panic!("unexpected status {other}: {body}"),
        }
        statuses.push(status);
    }
    // One draw per request, in order: the same seed replayed in-process
    // predicts exactly which requests were refused.
    let replay = Chaos::new(config());
    let mut local = ChaosService::new(
        service_fn(|_: ()| async {
            Ok::<_, std::convert::Infallible>(Response::new(Body::from("orders")))
        }),
        replay,
    );
    let mut expected = Vec::with_capacity(REQUESTS);
    for _ in 0..REQUESTS {
        let response = local.ready().await.unwrap().call(()).await.unwrap();
        expected.push(response.status().as_u16());
    }
    assert_eq!(statuses, expected);
    let refused = statuses.iter().filter(|s| **s == 503).count();
    assert!(
        (8..=32).contains(&refused),
        "{refused} of {REQUESTS} refused"
    );

    chaos.disable();
    for _ in 0..5 {
        let response = within("a request", client.get(&url).send()).await.unwrap();
        assert_eq!(response.status(), reqwest::StatusCode::OK);
    }

    // Hard down, with the ready-made status fault.
    chaos
        .set_faults([Fault::status(1.0, http::StatusCode::SERVICE_UNAVAILABLE)])
        .unwrap();
    chaos.enable();
    for _ in 0..5 {
        let response = within("a request", client.get(&url).send()).await.unwrap();
        assert_eq!(response.status(), reqwest::StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(within("a body", response.text()).await.unwrap(), "");
    }
    server.abort();
}

#[tokio::test(start_paused = true)]
async fn listeners_hear_every_injected_fault_and_may_reconfigure() {
    use seawall::chaos::{ChaosEvent, FaultKind};
    use std::sync::{Arc, Mutex};

    let chaos = handle(8, mixed_faults());
    let heard = Arc::new(Mutex::new(Vec::new()));
    let log = heard.clone();
    chaos.on_event(move |event: &ChaosEvent<'_>| {
        if let ChaosEvent::Injected { name, fault } = event {
            log.lock().unwrap().push((name.to_string(), *fault));
        }
    });
    let seen = run(&chaos, 1_000).await;
    let heard = std::mem::take(&mut *heard.lock().unwrap());
    let expected: Vec<(String, FaultKind)> = seen
        .iter()
        .filter_map(|s| match s {
            Seen::Injected => Some(FaultKind::Error),
            Seen::Canned => Some(FaultKind::Response),
            Seen::Real(took) if *took == MS => Some(FaultKind::Latency),
            Seen::Real(_) => None,
        })
        .map(|kind| ("test".to_string(), kind))
        .collect();
    assert_eq!(heard, expected);
    assert!(!heard.is_empty());

    // Listeners survive a reconfiguration and run outside the lock: one that
    // heals the dependency at the first fault does not deadlock.
    let healer = chaos.clone();
    chaos.on_event(move |_: &ChaosEvent<'_>| healer.set_faults([]).unwrap());
    chaos.set_faults([Fault::error(1.0)]).unwrap();
    let seen = run(&chaos, 3).await;
    assert_eq!(
        seen,
        vec![
            Seen::Injected,
            Seen::Real(Duration::ZERO),
            Seen::Real(Duration::ZERO)
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn switched_off_it_draws_nothing_from_the_sequence() {
    let paused = handle(21, mixed_faults());
    paused.disable();
    let off = run(&paused, 300).await;
    assert!(off.iter().all(|s| *s == Seen::Real(Duration::ZERO)));
    paused.enable();
    // The same faults as a fresh handle with the same seed: the calls made
    // while switched off took no values.
    assert_eq!(
        run(&paused, 300).await,
        run(&handle(21, mixed_faults()), 300).await
    );
}
