//! reqwest 0.13's real errors, judged as users of reqwest-retry expect: a
//! refused connection, a timeout and an answer cut short are transient and
//! retried; a request that cannot be built and a redirect loop are permanent
//! and not. Every server here is on 127.0.0.1 and every step is bounded.
#![cfg(not(loom))]

use std::future::Future;
use std::time::Duration;

use axum::http::header::LOCATION;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use http::{HeaderMap, Method, StatusCode};
use seawall::classify::{Classify, HttpStatus, Outcome, Transience};
use seawall::retry::{HttpRetry, RetryDecision, RetryPolicy};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;

async fn within<T>(what: &str, future: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(10), future)
        .await
        .unwrap_or_else(|_| panic!("{what} took longer than 10 s"))
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_millis(300))
        .redirect(reqwest::redirect::Policy::limited(3))
        .build()
        .unwrap()
}

/// The error of a GET to `url`, and what seawall makes of it.
async fn judged(url: &str) -> (reqwest::Error, Transience, RetryDecision) {
    let request = reqwest::Request::new(Method::GET, url.parse().unwrap());
    let copy = request.try_clone().unwrap();
    let err = within(url, client().execute(request))
        .await
        .expect_err("the request should fail");
    let transience = Transience::of_error(&err);
    let result: Result<reqwest::Response, reqwest::Error> = Err(err);
    let decision = HttpRetry::default().decide(&copy, &result);
    let Err(err) = result else { unreachable!() };
    (err, transience, decision)
}

/// A listener that accepts each connection and runs `answer` on it.
async fn raw_server<F, Fut>(answer: F) -> std::net::SocketAddr
where
    F: Fn(tokio::net::TcpStream) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(answer(stream));
        }
    });
    addr
}

#[tokio::test]
async fn a_refused_connection_is_transient_and_retried() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let (err, transience, decision) = judged(&format!("http://{addr}/")).await;
    assert!(err.is_connect(), "{err:?}");
    assert_eq!(transience, Transience::Transient);
    assert_eq!(decision, RetryDecision::Retry);
}

#[tokio::test]
async fn a_timeout_is_transient_and_retried() {
    let addr = raw_server(|stream| async move {
        // Reads nothing, answers nothing, holds the connection a while.
        tokio::time::sleep(Duration::from_secs(3)).await;
        drop(stream);
    })
    .await;
    let (err, transience, decision) = judged(&format!("http://{addr}/")).await;
    assert!(err.is_timeout(), "{err:?}");
    assert_eq!(transience, Transience::Transient);
    assert_eq!(decision, RetryDecision::Retry);
}

#[tokio::test]
async fn an_answer_cut_short_is_transient_and_retried() {
    let addr = raw_server(|mut stream| async move {
        let mut buf = [0u8; 1024];
        let _ = tokio::io::AsyncReadExt::read(&mut stream, &mut buf).await;
        let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Le").await;
        // Closed mid-header: hyper's "incomplete message".
    })
    .await;
    let (err, transience, decision) = judged(&format!("http://{addr}/")).await;
    assert!(err.is_request(), "{err:?}");
    assert_eq!(transience, Transience::Transient, "{err:?}");
    assert_eq!(decision, RetryDecision::Retry);
}

#[tokio::test]
async fn a_connection_closed_before_any_answer_is_transient() {
    let addr = raw_server(|mut stream| async move {
        let mut buf = [0u8; 1024];
        let _ = tokio::io::AsyncReadExt::read(&mut stream, &mut buf).await;
        // Closed without a byte of answer.
    })
    .await;
    let (err, transience, _) = judged(&format!("http://{addr}/")).await;
    assert_eq!(transience, Transience::Transient, "{err:?}");
}

#[tokio::test]
async fn a_redirect_loop_is_permanent_and_not_retried() {
    let app = Router::new().route(
        "/loop",
        get(|| async { (StatusCode::FOUND, [(LOCATION, "/loop")]).into_response() }),
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let (err, transience, decision) = judged(&format!("http://{addr}/loop")).await;
    assert!(err.is_redirect(), "{err:?}");
    assert_eq!(transience, Transience::Permanent);
    assert_eq!(decision, RetryDecision::Accept);
    server.abort();
}

#[tokio::test]
async fn a_request_that_cannot_be_built_is_permanent() {
    let err = client()
        .get("http://127.0.0.1:1/")
        .header("bad header name", "x")
        .build()
        .expect_err("an invalid header name");
    assert!(err.is_builder(), "{err:?}");
    assert_eq!(Transience::of_error(&err), Transience::Permanent);
}

#[tokio::test]
async fn responses_are_classified_by_status_for_the_breaker_and_the_retry() {
    let app = Router::new()
        .route(
            "/busy",
            get(|| async { (StatusCode::SERVICE_UNAVAILABLE, [("retry-after", "2")]) }),
        )
        .route("/missing", get(|| async { StatusCode::NOT_FOUND }));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    for (path, outcome, decision) in [
        (
            "busy",
            Outcome::Failure,
            RetryDecision::RetryAfter(Duration::from_secs(2)),
        ),
        ("missing", Outcome::Success, RetryDecision::Accept),
    ] {
        let request = reqwest::Request::new(
            Method::GET,
            format!("http://{addr}/{path}").parse().unwrap(),
        );
        let copy = request.try_clone().unwrap();
        let result: Result<_, reqwest::Error> = within(path, client().execute(request)).await;
        assert_eq!(
            HttpStatus::server_errors().classify(&result),
            outcome,
            "{path}"
        );
        assert_eq!(
            RetryPolicy::classify(&HttpRetry::default(), &result),
            outcome,
            "{path}"
        );
        assert_eq!(
            HttpRetry::default().decide(&copy, &result),
            decision,
            "{path}"
        );
    }
    server.abort();
}

#[test]
fn the_building_blocks_need_no_reqwest_types() {
    // What a client other than reqwest does with a 503 and a reset connection.
    let policy = HttpRetry::default();
    let none = HeaderMap::new();
    let mut retry_after = HeaderMap::new();
    retry_after.insert("retry-after", "1".parse().unwrap());
    let busy = seawall::retry::HttpAttempt::Response {
        status: StatusCode::SERVICE_UNAVAILABLE,
        headers: &retry_after,
    };
    assert_eq!(
        policy.decide_attempt(&Method::GET, &none, busy),
        RetryDecision::RetryAfter(Duration::from_secs(1))
    );
    let reset = std::io::Error::from(std::io::ErrorKind::ConnectionReset);
    let failed = seawall::retry::HttpAttempt::Failed(Transience::of_error(&reset));
    assert_eq!(
        policy.decide_attempt(&Method::PUT, &none, failed),
        RetryDecision::Retry
    );
    assert_eq!(
        policy.decide_attempt(&Method::POST, &none, failed),
        RetryDecision::Accept
    );
    let mut idempotent = HeaderMap::new();
    idempotent.insert("idempotency-key", "k-1".parse().unwrap());
    assert_eq!(
        policy.decide_attempt(&Method::POST, &idempotent, failed),
        RetryDecision::Retry
    );
    let denied = std::io::Error::from(std::io::ErrorKind::PermissionDenied);
    let permanent = seawall::retry::HttpAttempt::Failed(Transience::of_error(&denied));
    assert_eq!(
        policy.decide_attempt(&Method::GET, &none, permanent),
        RetryDecision::Accept
    );
}
