//! `ResilienceMiddleware` in a real `reqwest_middleware::ClientWithMiddleware`
//! against real axum servers on 127.0.0.1: retries with `Retry-After`, a
//! breaker per host, a deadline per attempt, non-idempotent requests sent
//! once, extensions kept across attempts, and a flood against a dead host
//! that the breaker and the budget keep small. Every step is bounded.
#![cfg(not(loom))]

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::routing::{any, get};
use axum::Router;
use http::{Extensions, StatusCode};
use reqwest::{Request, Response};
use reqwest_middleware::{ClientBuilder, ClientWithMiddleware, Middleware, Next};
use seawall::breaker::{BreakerConfig, OpenWait};
use seawall::reqwest_middleware::{breaker_retry_after, ResilienceMiddleware};
use seawall::retry::{GrpcRetryThrottle, RetryConfig, StandardBackoff};
use seawall::ErrorKind;

async fn within<T>(what: &str, future: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(10), future)
        .await
        .unwrap_or_else(|_| panic!("{what} took longer than 10 s"))
}

/// How a test server answers its n-th request (from 0): a status and a
/// `Retry-After`.
type Answer = fn(u32) -> (StatusCode, &'static str);
/// A test server's request count and answers.
type Script = (Arc<AtomicU32>, Answer);

/// A server whose `/` answers with `answer(n)` for its n-th request (from 0),
/// and the count of requests it received.
async fn server(answer: Answer) -> (SocketAddr, Arc<AtomicU32>) {
    let hits = Arc::new(AtomicU32::new(0));
    let app = Router::new()
        .route(
            "/",
            any(|State((hits, answer)): State<Script>| async move {
                let n = hits.fetch_add(1, Ordering::SeqCst);
                let (status, retry_after) = answer(n);
                (status, [("retry-after", retry_after)])
            }),
        )
        .route(
            "/slow",
            get(|State((hits, _)): State<Script>| async move {
                hits.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_secs(5)).await;
                "late"
            }),
        )
        .with_state((hits.clone(), answer));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, hits)
}

fn retry(attempts: u32) -> RetryConfig {
    RetryConfig::builder()
        .max_attempts(attempts)
        .backoff(StandardBackoff::constant(Duration::from_millis(1)))
        // Retry-After is in whole seconds; a test does not wait them.
        .max_pushback(Duration::from_millis(5))
        .build()
        .unwrap()
}

fn breaker_config() -> BreakerConfig {
    BreakerConfig::builder()
        .count_window(4)
        .minimum_calls(4)
        .failure_rate_threshold(0.5)
        .open_wait(OpenWait::fixed(Duration::from_secs(30)))
        .build()
        .unwrap()
}

/// Counts, in the request's extensions, the attempts that reached it: a
/// middleware further in the chain, run once per attempt.
#[derive(Clone, Default)]
struct AttemptsSeen(u32);

struct CountAttempts;

#[async_trait::async_trait]
impl Middleware for CountAttempts {
    async fn handle(
        &self,
        request: Request,
        extensions: &mut Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<Response> {
        let seen = extensions
            .get::<AttemptsSeen>()
            .cloned()
            .unwrap_or_default();
        extensions.insert(AttemptsSeen(seen.0 + 1));
        next.run(request, extensions).await
    }
}

fn client(resilience: ResilienceMiddleware) -> ClientWithMiddleware {
    ClientBuilder::new(reqwest::Client::new())
        .with(resilience)
        .with(CountAttempts)
        .build()
}

#[tokio::test]
async fn a_busy_server_is_retried_after_its_retry_after_and_extensions_survive_each_attempt() {
    let (addr, hits) = server(|n| match n {
        0 | 1 => (StatusCode::SERVICE_UNAVAILABLE, "1"),
        _ => (StatusCode::OK, "0"),
    })
    .await;
    let resilience = ResilienceMiddleware::builder()
        .retry(retry(3))
        .build()
        .unwrap();
    let client = client(resilience);

    let mut extensions = Extensions::new();
    let request = client.get(format!("http://{addr}/")).build().unwrap();
    let response = within(
        "a retried request",
        client.execute_with_extensions(request, &mut extensions),
    )
    .await
    .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(hits.load(Ordering::SeqCst), 3);
    assert_eq!(
        extensions.get::<AttemptsSeen>().map(|seen| seen.0),
        Some(3),
        "each attempt saw the extensions the one before left"
    );
}

#[tokio::test]
async fn a_post_is_sent_once_and_its_503_reaches_the_caller() {
    let (addr, hits) = server(|_| (StatusCode::SERVICE_UNAVAILABLE, "1")).await;
    let client = client(
        ResilienceMiddleware::builder()
            .retry(retry(3))
            .build()
            .unwrap(),
    );
    let response = within("a post", client.post(format!("http://{addr}/")).send())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        hits.load(Ordering::SeqCst),
        1,
        "not idempotent: not retried"
    );
}

#[tokio::test]
async fn a_failing_host_trips_its_own_breaker_and_leaves_the_others_alone() {
    let (dead, dead_hits) = server(|_| (StatusCode::INTERNAL_SERVER_ERROR, "0")).await;
    let (healthy, healthy_hits) = server(|_| (StatusCode::OK, "0")).await;
    let resilience = ResilienceMiddleware::builder()
        .breaker_per_host(breaker_config(), 16)
        .retry(retry(1))
        .build()
        .unwrap();
    let breakers = resilience.breakers_per_host().unwrap().clone();
    let client = client(resilience);

    for _ in 0..4 {
        let response = within(
            "a failing call",
            client.get(format!("http://{dead}/")).send(),
        )
        .await
        .unwrap();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }
    let refused = within(
        "a refused call",
        client.get(format!("http://{dead}/")).send(),
    )
    .await
    .expect_err("the dead host's breaker is open");
    assert_eq!(ErrorKind::of(&refused), ErrorKind::BreakerOpen);
    let wait = breaker_retry_after(&refused).expect("an open breaker says when to come back");
    assert!(
        wait > Duration::from_secs(25) && wait < Duration::from_secs(31),
        "{wait:?}"
    );
    assert_eq!(
        dead_hits.load(Ordering::SeqCst),
        4,
        "the refused call never left the process"
    );

    let ok = within(
        "a call to another host",
        client.get(format!("http://{healthy}/")).send(),
    )
    .await
    .unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    assert_eq!(healthy_hits.load(Ordering::SeqCst), 1);
    assert_eq!(breakers.len(), 2);
    let key = format!("http://127.0.0.1:{}", dead.port());
    assert!(
        breakers.peek(&key).is_some(),
        "keyed by scheme, host and port: {key}"
    );
}

#[tokio::test]
async fn every_attempt_has_a_deadline_and_running_out_is_retried_then_reported() {
    let (addr, hits) = server(|_| (StatusCode::OK, "0")).await;
    let resilience = ResilienceMiddleware::builder()
        .retry(retry(2))
        .attempt_timeout(Duration::from_millis(100))
        .build()
        .unwrap();
    let client = client(resilience);
    let started = std::time::Instant::now();
    let err = within(
        "a slow call",
        client.get(format!("http://{addr}/slow")).send(),
    )
    .await
    .expect_err("both attempts run out of time");
    assert_eq!(ErrorKind::of(&err), ErrorKind::Elapsed);
    assert_eq!(hits.load(Ordering::SeqCst), 2);
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_transport_error_comes_back_as_reqwests_own_after_the_retries() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let resilience = ResilienceMiddleware::builder()
        .retry(retry(3))
        .build()
        .unwrap();
    let client = client(resilience);
    let mut extensions = Extensions::new();
    let request = client.get(format!("http://{addr}/")).build().unwrap();
    let err = within(
        "a refused connection",
        client.execute_with_extensions(request, &mut extensions),
    )
    .await
    .expect_err("nothing listens there");
    assert!(
        matches!(&err, reqwest_middleware::Error::Reqwest(e) if e.is_connect()),
        "{err:?}"
    );
    assert_eq!(
        extensions.get::<AttemptsSeen>().map(|seen| seen.0),
        Some(3),
        "retried as transient"
    );
}

/// Hostile: 200 callers at once against a host that fails every request.
/// Without seawall that is 600 requests (3 attempts each); with the breaker
/// and the retry budget, the dead host sees a small fraction.
#[tokio::test]
async fn a_flood_against_a_dead_host_is_held_back_by_the_breaker_and_the_budget() {
    let (dead, hits) = server(|_| (StatusCode::SERVICE_UNAVAILABLE, "0")).await;
    let retry = RetryConfig::builder()
        .max_attempts(3)
        .backoff(StandardBackoff::constant(Duration::from_millis(1)))
        .budget(GrpcRetryThrottle::new(10, 0.1).unwrap())
        .build()
        .unwrap();
    let resilience = ResilienceMiddleware::builder()
        .breaker_per_host(breaker_config(), 4)
        .retry(retry)
        .build()
        .unwrap();
    let client = client(resilience);
    let calls = (0..200).map(|_| {
        let client = client.clone();
        let url = format!("http://{dead}/");
        tokio::spawn(async move { client.get(url).send().await })
    });
    let mut refused = 0;
    for call in calls {
        match within("a flooded call", call).await.unwrap() {
            Ok(response) => assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE),
            Err(err) => {
                let kind = ErrorKind::of(&err);
                assert!(
                    matches!(kind, ErrorKind::BreakerOpen | ErrorKind::BudgetExhausted),
                    "{err:?}"
                );
                refused += 1;
            }
        }
    }
    let sent = hits.load(Ordering::SeqCst);
    println!("200 calls: the dead host saw {sent} requests; {refused} calls were refused");
    assert!(refused > 0, "the breaker or the budget refused some calls");
    assert!(
        sent < 300,
        "the dead host saw {sent} requests of the 600 a bare retry would send"
    );
}

#[test]
fn bad_settings_are_errors_that_name_the_field() {
    let err = ResilienceMiddleware::builder()
        .breaker_per_host(BreakerConfig::default(), 0)
        .build()
        .unwrap_err();
    assert_eq!(err.field(), "capacity");
    let err = ResilienceMiddleware::builder()
        .attempt_timeout(Duration::from_secs(8 * 24 * 3600))
        .build()
        .unwrap_err();
    assert_eq!(err.field(), "attempt_timeout");
}
