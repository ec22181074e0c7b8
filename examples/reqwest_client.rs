//! A `reqwest::Client` behind the whole seawall stack: fallback -> retry ->
//! breaker -> bulkhead -> timeout, against a local axum server that fails on
//! a script.
//!
//! 1. The server is busy once (`503`, `Retry-After: 1`): the retry waits the
//!    second the server asked for and the second attempt gets the answer.
//! 2. The server breaks (`500` on every request): each call is tried three
//!    times, the breaker trips, and from then on the fallback answers at once
//!    without a request reaching the server.
//! 3. The server heals: after the open wait one probe closes the breaker.
//!
//! ```sh
//! cargo run --example reqwest_client      # about 3 s
//! ```

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderValue, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use seawall::breaker::BreakerEvent;
use seawall::breaker::{Breaker, BreakerConfig, OpenWait};
use seawall::classify::{Classify, HttpStatus, Outcome};
use seawall::fallback::{FallbackLayer, FallbackOn};
use seawall::resilience::ResilienceLayer;
use seawall::retry::{HttpRetry, ReqwestClone, RetryConfig, RetryEvent, StandardBackoff};
use seawall::{BoxError, ErrorKind};
use tokio::time::Instant;
use tower::{Service, ServiceBuilder, ServiceExt};

/// How the server answers its next requests.
const HEALTHY: u32 = 0;
const BUSY_ONCE: u32 = 1;
const BROKEN: u32 = 2;

/// The server: `GET /price` answers by the current mode and counts requests.
#[derive(Clone, Default)]
struct Upstream {
    mode: Arc<AtomicU32>,
    requests: Arc<AtomicU32>,
}

impl Upstream {
    async fn price(&self) -> axum::response::Response {
        let n = self.requests.fetch_add(1, Ordering::Relaxed) + 1;
        match self.mode.load(Ordering::Relaxed) {
            BUSY_ONCE => {
                self.mode.store(HEALTHY, Ordering::Relaxed);
                println!("    server: request {n} -> 503, Retry-After: 1");
                let mut response = StatusCode::SERVICE_UNAVAILABLE.into_response();
                response
                    .headers_mut()
                    .insert("retry-after", HeaderValue::from_static("1"));
                response
            }
            BROKEN => {
                println!("    server: request {n} -> 500");
                (StatusCode::INTERNAL_SERVER_ERROR, "database down").into_response()
            }
            _ => {
                println!("    server: request {n} -> 200");
                "12.50 EUR".into_response()
            }
        }
    }
}

/// What a caller gets: the server's answer, or the cached one.
#[derive(Clone, Debug)]
enum Price {
    Live(StatusCode),
    Cached,
}

/// A `5xx` that is left after the retries is answered from the cache too.
#[derive(Clone, Copy)]
struct ServerError;

impl Classify<Price, BoxError> for ServerError {
    fn classify(&self, result: &Result<Price, BoxError>) -> Outcome {
        match result {
            Ok(Price::Live(status)) if status.is_server_error() => Outcome::Failure,
            _ => Outcome::Success,
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let upstream = Upstream::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url: reqwest::Url = format!("http://{}/price", listener.local_addr()?).parse()?;
    let app = Router::new().route(
        "/price",
        get({
            let upstream = upstream.clone();
            move || async move { upstream.price().await }
        }),
    );
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    // The stack. One breaker, bulkhead and retry budget, shared by every clone.
    let breaker = Breaker::new(
        BreakerConfig::builder()
            .name("prices")
            .count_window(4)
            .minimum_calls(4)
            .failure_rate_threshold(0.5)
            .open_wait(OpenWait::fixed(Duration::from_secs(1)))
            .permitted_calls_in_half_open(1)
            .build()?,
    );
    let started = Instant::now();
    breaker.on_state_transition(move |event: &BreakerEvent<'_>| {
        if let BreakerEvent::StateTransition { from, to, .. } = event {
            let at = started.elapsed().as_secs_f64();
            println!("    [{at:4.1}s] breaker: {from} -> {to}");
        }
    });
    let resilience = ResilienceLayer::builder()
        .name("prices")
        .breaker(breaker.clone())
        .timeout(Duration::from_millis(500)) // per attempt
        .retry(
            RetryConfig::builder()
                .max_attempts(3)
                .backoff(StandardBackoff::new(Duration::from_millis(20), 2.0))
                .on_event(|event: &RetryEvent<'_>| {
                    if let RetryEvent::Scheduled {
                        attempt,
                        delay,
                        pushback,
                        ..
                    } = event
                    {
                        let why = if *pushback {
                            " (server's Retry-After)"
                        } else {
                            ""
                        };
                        println!("    retry: attempt {attempt} failed, next in {delay:.2?}{why}");
                    }
                }),
        )
        .build()?
        .with_request_clone(ReqwestClone) // `try_clone`: retries resend the request
        .with_retry_policy(HttpRetry::default()) // 5xx, 408, 429; idempotent methods; Retry-After
        .with_classifier(HttpStatus::server_errors()); // the breaker counts 5xx as failures
    let fallback = FallbackLayer::value(Price::Cached)
        .name("prices")
        .on(FallbackOn::default()
            .kind(ErrorKind::Other)
            .responses(ServerError));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()?;
    let mut prices = ServiceBuilder::new()
        .layer(fallback)
        .map_response(|response: reqwest::Response| Price::Live(response.status()))
        .layer(resilience)
        .service(client);

    println!("1. the server is busy once");
    upstream.mode.store(BUSY_ONCE, Ordering::Relaxed);
    call(&mut prices, &url, &upstream, &breaker, "call 1").await;

    println!("2. the server breaks");
    upstream.mode.store(BROKEN, Ordering::Relaxed);
    for label in ["call 2", "call 3", "call 4", "call 5"] {
        call(&mut prices, &url, &upstream, &breaker, label).await;
    }

    println!("3. the server heals; the breaker probes after its open wait");
    upstream.mode.store(HEALTHY, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    call(&mut prices, &url, &upstream, &breaker, "call 6").await;
    call(&mut prices, &url, &upstream, &breaker, "call 7").await;

    println!(
        "done: {} requests reached the server for 7 calls",
        upstream.requests.load(Ordering::Relaxed)
    );
    server.abort();
    Ok(())
}

/// One call through the stack, and what it took.
async fn call<S>(
    prices: &mut S,
    url: &reqwest::Url,
    upstream: &Upstream,
    breaker: &Breaker,
    label: &str,
) where
    S: Service<reqwest::Request, Response = Price, Error = BoxError>,
{
    let request = reqwest::Request::new(reqwest::Method::GET, url.clone());
    let before = upstream.requests.load(Ordering::Relaxed);
    let begun = Instant::now();
    let answer = match prices.ready().await {
        Ok(service) => service.call(request).await,
        Err(err) => Err(err),
    };
    let sent = upstream.requests.load(Ordering::Relaxed) - before;
    let answer = match answer {
        Ok(Price::Live(status)) => format!("live answer {status}"),
        Ok(Price::Cached) => "fallback answer (cached price)".to_owned(),
        Err(err) => format!("error: {err}"),
    };
    println!(
        "  {label}: {answer} after {sent} request(s) in {:.2?}, breaker {}",
        begun.elapsed(),
        breaker.state()
    );
}
