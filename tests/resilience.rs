//! The preset: the layers in the documented order, sharing one breaker,
//! bulkhead and budget; and the whole stack on a real axum server.
#![cfg(not(loom))]

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use seawall::breaker::{Breaker, BreakerConfig, OpenWait, State};
use seawall::bulkhead::{Bulkhead, BulkheadConfig};
use seawall::fallback::FallbackLayer;
use seawall::resilience::ResilienceLayer;
use seawall::retry::{RetryConfig, StandardBackoff};
use seawall::{BoxError, ErrorKind};
use tower::{service_fn, Layer, Service, ServiceBuilder, ServiceExt};

fn breaker(window: u32) -> Breaker {
    Breaker::new(
        BreakerConfig::builder()
            .name("dependency")
            .count_window(window)
            .minimum_calls(window)
            .open_wait(OpenWait::fixed(Duration::from_secs(30)))
            .build()
            .unwrap(),
    )
}

fn three_quick_attempts() -> seawall::retry::RetryConfigBuilder {
    RetryConfig::builder()
        .max_attempts(3)
        .backoff(StandardBackoff::constant(Duration::from_millis(10)))
        .no_budget()
}

#[tokio::test(start_paused = true)]
async fn timed_out_attempts_trip_the_breaker_which_stops_the_retries() {
    let reached = Arc::new(AtomicU32::new(0));
    let seen = reached.clone();
    let hangs = service_fn(move |_: ()| {
        seen.fetch_add(1, Ordering::SeqCst);
        async {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            Ok::<_, BoxError>("never")
        }
    });
    let resilience = ResilienceLayer::builder()
        .breaker(breaker(4))
        .retry(three_quick_attempts())
        .timeout(Duration::from_millis(100))
        .build()
        .unwrap();
    let shared = resilience.breaker().clone();
    let mut client = ServiceBuilder::new().layer(resilience).service(hangs);

    // Three attempts, each cut at 100 ms and counted by the breaker as a failure.
    let err = client.ready().await.unwrap().call(()).await.unwrap_err();
    assert_eq!(ErrorKind::of(&*err), ErrorKind::Elapsed);
    assert_eq!(reached.load(Ordering::SeqCst), 3);
    assert_eq!(shared.metrics().failed_calls, 3);

    // The fourth failed attempt trips the breaker; the retry sees BreakerOpen and stops.
    let err = client.ready().await.unwrap().call(()).await.unwrap_err();
    assert_eq!(ErrorKind::of(&*err), ErrorKind::BreakerOpen);
    assert_eq!(
        reached.load(Ordering::SeqCst),
        4,
        "no attempt past the trip"
    );
    assert_eq!(shared.state(), State::Open);

    // Open: refused at once, the dependency spared, nothing retried.
    let err = client.ready().await.unwrap().call(()).await.unwrap_err();
    assert_eq!(ErrorKind::of(&*err), ErrorKind::BreakerOpen);
    assert_eq!(reached.load(Ordering::SeqCst), 4);
}

#[tokio::test(start_paused = true)]
async fn a_full_bulkhead_is_neither_retried_nor_counted_against_the_dependency() {
    let pool = Bulkhead::new(
        BulkheadConfig::builder()
            .max_concurrent_calls(1)
            .build()
            .unwrap(),
    );
    let resilience = ResilienceLayer::builder()
        .breaker(breaker(2))
        .bulkhead(pool.clone())
        .retry(three_quick_attempts())
        .build()
        .unwrap();
    let shared = resilience.breaker().clone();
    let reached = Arc::new(AtomicU32::new(0));
    let seen = reached.clone();
    let mut client = ServiceBuilder::new()
        .layer(resilience)
        .service(service_fn(move |x: u32| {
            seen.fetch_add(1, Ordering::SeqCst);
            async move { Ok::<_, BoxError>(x) }
        }));

    let held = pool.try_acquire().unwrap();
    for _ in 0..5 {
        let err = client.ready().await.unwrap().call(1).await.unwrap_err();
        assert_eq!(ErrorKind::of(&*err), ErrorKind::BulkheadFull);
    }
    assert_eq!(pool.rejected(), 5, "one refusal per call: none retried");
    assert_eq!(reached.load(Ordering::SeqCst), 0);
    assert_eq!(
        shared.metrics().calls,
        0,
        "local overload is not the dependency's failure"
    );
    assert_eq!(shared.state(), State::Closed);

    drop(held);
    assert_eq!(client.ready().await.unwrap().call(7).await.unwrap(), 7);
}

#[tokio::test(start_paused = true)]
async fn the_fallback_goes_outermost_and_clones_share_everything() {
    let resilience = ResilienceLayer::builder()
        .name("prices")
        .breaker(breaker(2))
        .retry(three_quick_attempts())
        .build()
        .unwrap();
    let shared = resilience.breaker().clone();
    assert_eq!(resilience.retry_config().name(), "prices");
    assert_eq!(resilience.bulkhead().name(), "prices");
    let reached = Arc::new(AtomicU32::new(0));
    let seen = reached.clone();
    let failing = service_fn(move |_: u32| {
        seen.fetch_add(1, Ordering::SeqCst);
        async { Err::<u32, BoxError>("connection refused".into()) }
    });
    let stack = resilience.fallback(FallbackLayer::value(0u32));
    let mut first = ServiceBuilder::new()
        .layer(stack.clone())
        .service(failing.clone());
    let mut second = ServiceBuilder::new().layer(stack).service(failing);

    // Two failed attempts trip the shared breaker; the third is refused, and the
    // fallback answers the refusal.
    assert_eq!(first.ready().await.unwrap().call(1).await.unwrap(), 0);
    assert_eq!(reached.load(Ordering::SeqCst), 2);
    assert_eq!(shared.state(), State::Open);
    // The other service shares the open breaker: answered at once, dependency spared.
    assert_eq!(second.ready().await.unwrap().call(1).await.unwrap(), 0);
    assert_eq!(reached.load(Ordering::SeqCst), 2);
}

#[test]
fn a_zero_timeout_is_rejected_by_name() {
    let err = ResilienceLayer::builder()
        .timeout(Duration::ZERO)
        .build()
        .unwrap_err();
    assert_eq!(err.field(), "timeout");
    let err = ResilienceLayer::builder()
        .retry(RetryConfig::builder().max_attempts(0))
        .build()
        .unwrap_err();
    assert_eq!(err.field(), "max_attempts");
}

/// Bounds every network step: a hung request fails the test instead of the run.
async fn within<T>(what: &str, future: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(10), future)
        .await
        .unwrap_or_else(|_| panic!("{what} took longer than 10 s"))
}

/// The whole stack on a real axum server on 127.0.0.1, driven by concurrent
/// reqwest calls: excess load gets 503 at once, slow handlers 504, a failing
/// dependency trips the breaker and the fallback answers; every request is
/// answered within its bound.
#[tokio::test]
async fn an_axum_server_behind_the_preset_sheds_times_out_and_degrades() {
    use axum::body::Body;
    use axum::routing::get;
    use axum::Router;
    use http::{Response, StatusCode};
    use seawall::axum::ErrorResponseLayer;
    use seawall::classify::HttpStatus;
    use seawall::fallback::{FallbackOn, HttpMark};
    use seawall::retry::NoClone;

    let pool = Bulkhead::new(
        BulkheadConfig::builder()
            .name("orders")
            .max_concurrent_calls(4)
            .build()
            .unwrap(),
    );
    let resilience = ResilienceLayer::builder()
        .name("orders")
        .breaker(breaker(6))
        .bulkhead(pool.clone())
        .timeout(Duration::from_millis(200))
        .build()
        .unwrap()
        .with_request_clone(NoClone)
        .with_classifier(HttpStatus::server_errors());
    let shared = resilience.breaker().clone();
    // Degrade only when the dependency is known to be down; shed load and
    // timeouts reach the client as 503 and 504.
    let degraded = FallbackLayer::with_fn(|_| async {
        Ok::<_, BoxError>(Response::new(Body::from("cached orders")))
    })
    .on(FallbackOn::kinds([ErrorKind::BreakerOpen]))
    .marked(HttpMark::with_header());

    let release = Arc::new(tokio::sync::Semaphore::new(0));
    let gate = release.clone();
    let app = Router::new()
        .route(
            "/hold",
            get(move || {
                let gate = gate.clone();
                async move {
                    let _permit = gate.acquire().await;
                    "held"
                }
            }),
        )
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(2)).await;
                "too late"
            }),
        )
        .route(
            "/broken",
            get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "database down") }),
        )
        .layer(
            ServiceBuilder::new()
                .layer(ErrorResponseLayer::new())
                .layer(resilience.fallback(degraded)),
        );

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let get = |path: &'static str| {
        let client = client.clone();
        async move {
            within(path, client.get(format!("http://{addr}{path}")).send())
                .await
                .unwrap()
        }
    };

    // Four requests take every bulkhead slot; three more are shed at once.
    let held: Vec<_> = (0..4).map(|_| tokio::spawn(get("/hold"))).collect();
    within("four requests holding the slots", async {
        while pool.in_flight() < 4 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    let shed = futures::future::join_all((0..3).map(|_| get("/hold"))).await;
    for response in shed {
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()["retry-after"], "1");
    }
    release.add_permits(4);
    for handle in held {
        let response = handle.await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.text().await.unwrap(), "held");
    }
    assert_eq!(
        shared.metrics().calls,
        4,
        "shed requests are not the dependency's doing"
    );

    // A slow handler is cut at 200 ms: 504, and a failure for the breaker.
    assert_eq!(get("/slow").await.status(), StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(shared.metrics().failed_calls, 1);

    // A failing dependency: its 500s count until the breaker opens (50% of
    // the last 6 calls), then the fallback answers, marked as degraded.
    let mut failures = 0;
    while shared.state() == State::Closed {
        assert!(
            failures < 6,
            "the breaker never opened: {:?}",
            shared.metrics()
        );
        assert_eq!(
            get("/broken").await.status(),
            StatusCode::INTERNAL_SERVER_ERROR
        );
        failures += 1;
    }
    assert_eq!(failures, 2);
    let degraded = get("/broken").await;
    assert_eq!(degraded.status(), StatusCode::OK);
    assert_eq!(degraded.headers()["x-seawall-degraded"], "fallback");
    assert_eq!(degraded.text().await.unwrap(), "cached orders");

    server.abort();
}

/// The size of the futures `service` returns.
fn future_size<S: Service<R>, R>(_: &S) -> usize {
    std::mem::size_of::<S::Future>()
}

#[test]
fn the_preset_adds_little_to_the_future_it_wraps() {
    // Every layer outside the preset (a fallback, axum's route box) moves its
    // future; a request that cannot be retried must not carry retry state in it.
    type Request = http::Request<String>;
    let handler = service_fn(|request: Request| async move {
        Ok::<_, BoxError>(http::Response::new(request.into_body()))
    });
    let preset = ResilienceLayer::builder()
        .build()
        .unwrap()
        .with_request_clone(seawall::retry::NoClone);
    let wrapped = preset.layer(handler);
    let added = future_size::<_, Request>(&wrapped) - future_size::<_, Request>(&handler);
    println!("the preset adds {added} bytes to the handler's future");
    assert!(added <= 256, "the preset adds {added} bytes");
}

/// The README's whole stack over `http::Request`: a 5xx that is still there
/// after the retries gets the fallback's answer, as does a client error; other
/// answers pass through untouched, and each request is sent at most three times.
#[tokio::test(start_paused = true)]
async fn a_5xx_left_after_the_retries_gets_the_fallback_answer() {
    use bytes::Bytes;
    use http::{Request, Response, StatusCode};
    use http_body_util::{BodyExt, Full};
    use seawall::classify::HttpStatus;
    use seawall::fallback::FallbackOn;
    use seawall::retry::{HttpReplay, HttpRetry, ReplayBody};

    // The upstream answers with the status the request's path names
    // (`/503`), and fails outright for `/refused`, as a client does when it
    // cannot connect.
    let sent = Arc::new(AtomicU32::new(0));
    let counter = sent.clone();
    let upstream = service_fn(move |request: Request<ReplayBody<Full<Bytes>>>| {
        counter.fetch_add(1, Ordering::Relaxed);
        async move {
            let path = request.uri().path().trim_start_matches('/').to_owned();
            let body = request.into_body().collect().await?.to_bytes();
            assert_eq!(body, "order 7", "every attempt sends the whole body");
            if path == "refused" {
                return Err::<Response<String>, BoxError>("connection refused".into());
            }
            let mut response = Response::new(format!("live {path}"));
            *response.status_mut() = StatusCode::from_bytes(path.as_bytes())?;
            Ok(response)
        }
    });
    let resilience = ResilienceLayer::builder()
        .name("inventory")
        .breaker(breaker(100))
        .retry(three_quick_attempts())
        .timeout(Duration::from_millis(250))
        .build()
        .unwrap()
        .with_request_clone(HttpReplay::new(64 * 1024))
        .with_retry_policy(HttpRetry::default())
        .with_classifier(HttpStatus::server_errors());
    let fallback =
        FallbackLayer::with_fn(|_| async { Ok::<_, BoxError>(Response::new("cached".to_owned())) })
            .on(FallbackOn::default()
                .kind(ErrorKind::Other)
                .responses(HttpStatus::server_errors()));
    let mut client = ServiceBuilder::new()
        .layer(resilience.fallback(fallback))
        .service(upstream);

    async fn call<S>(client: &mut S, sent: &AtomicU32, path: &str) -> (StatusCode, String, u32)
    where
        S: Service<Request<Full<Bytes>>, Response = Response<String>, Error = BoxError>,
    {
        let request = Request::get(format!("http://inventory.test/{path}"))
            .body(Full::new(Bytes::from_static(b"order 7")))
            .unwrap();
        let before = sent.load(Ordering::Relaxed);
        let response = client.ready().await.unwrap().call(request).await.unwrap();
        let attempts = sent.load(Ordering::Relaxed) - before;
        (response.status(), response.into_body(), attempts)
    }
    assert_eq!(
        call(&mut client, &sent, "200").await,
        (StatusCode::OK, "live 200".into(), 1)
    );
    // Not the upstream's failure: no retry, no fallback.
    assert_eq!(
        call(&mut client, &sent, "404").await,
        (StatusCode::NOT_FOUND, "live 404".into(), 1)
    );
    // Retried up to the limit, then the fallback answers for what is left.
    assert_eq!(
        call(&mut client, &sent, "503").await,
        (StatusCode::OK, "cached".into(), 3)
    );
    assert_eq!(
        call(&mut client, &sent, "refused").await,
        (StatusCode::OK, "cached".into(), 3)
    );
    // 501 says the upstream will never do it: not retried, but still a 5xx.
    assert_eq!(
        call(&mut client, &sent, "501").await,
        (StatusCode::OK, "cached".into(), 1)
    );
}
