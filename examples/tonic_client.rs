//! A tonic `Channel` behind seawall's retry, breaker, bulkhead and timeout,
//! talking to a local tonic server (tonic-health's `grpc.health.v1`, so no
//! protoc is needed) that fails on a script.
//!
//! 1. Healthy: `Check("inventory")` is `SERVING`.
//! 2. The server reports `inventory` as `NOT_SERVING`: an answer, not a
//!    failure; nothing is retried, the breaker stays closed.
//! 3. The server's own breaker is forced open (maintenance): every call gets
//!    `UNAVAILABLE` from the server's `ErrorResponseLayer`. The client retries it
//!    (`GrpcRetry`, replaying the request body with `HttpReplay`), its breaker
//!    counts each attempt (`GrpcStatus`), trips, and then fails calls at once
//!    with its own `UNAVAILABLE` without sending them.
//! 4. The server recovers: after the open wait one probe closes the breaker.
//!
//! ```sh
//! cargo run --example tonic_client      # about 2 s
//! ```

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use seawall::breaker::BreakerEvent;
use seawall::breaker::{Breaker, BreakerConfig, BreakerLayer, OpenWait};
use seawall::classify::GrpcStatus;
use seawall::resilience::ResilienceLayer;
use seawall::retry::{GrpcRetry, HttpReplay, ReplayBody, RetryConfig, RetryEvent, StandardBackoff};
use seawall::tonic::{status_of, ErrorResponseLayer};
use seawall::BoxError;
use tokio::time::Instant;
use tonic::body::Body;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::ServingStatus;
use tower::ServiceBuilder;

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    // The server: grpc.health.v1 behind its own breaker, errors as statuses.
    let (reporter, health_service) = tonic_health::server::health_reporter();
    reporter
        .set_service_status("inventory", ServingStatus::Serving)
        .await;
    let server_breaker = Breaker::new(BreakerConfig::builder().name("server").build()?);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let server = tokio::spawn(
        tonic::transport::Server::builder()
            .layer(
                ServiceBuilder::new()
                    .layer(ErrorResponseLayer::new())
                    .layer(BreakerLayer::new(server_breaker.clone()))
                    .into_inner(),
            )
            .add_service(health_service)
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );

    // The client: a Channel behind the preset, each attempt counted.
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))?
        .connect_timeout(Duration::from_secs(5))
        .connect()
        .await?;
    let sent = Arc::new(AtomicU32::new(0));
    let breaker = Breaker::new(
        BreakerConfig::builder()
            .name("inventory")
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
            println!("    [{at:4.1}s] client breaker: {from} -> {to}");
        }
    });
    let resilience = ResilienceLayer::builder()
        .name("inventory")
        .breaker(breaker.clone())
        .timeout(Duration::from_millis(500)) // per attempt
        .retry(
            RetryConfig::builder()
                .max_attempts(3)
                .backoff(StandardBackoff::new(Duration::from_millis(20), 2.0))
                .on_event(|event: &RetryEvent<'_>| {
                    if let RetryEvent::Scheduled { attempt, delay, .. } = event {
                        println!(
                            "    retry: attempt {attempt} got UNAVAILABLE, next in {delay:.2?}"
                        );
                    }
                }),
        )
        .build()?
        .with_request_clone(HttpReplay::new(64 * 1024)) // replays the encoded message
        .with_retry_policy(GrpcRetry::default()) // UNAVAILABLE, grpc-retry-pushback-ms
        .with_classifier(GrpcStatus::default()); // UNAVAILABLE, DEADLINE_EXCEEDED, ... fail
    let stack = ServiceBuilder::new()
        // seawall's own errors as the statuses a gRPC caller expects.
        .map_err(|err: BoxError| status_of(&*err))
        .layer(resilience)
        .map_request({
            let sent = sent.clone();
            move |request: http::Request<ReplayBody<Body>>| {
                sent.fetch_add(1, Ordering::Relaxed); // one per attempt sent
                request.map(Body::new) // the replayable body, as the Channel's body type
            }
        })
        .service(channel);
    let client = HealthClient::new(stack);

    let check = |label: &'static str| {
        let before = sent.load(Ordering::Relaxed);
        let breaker = breaker.clone();
        let sent = sent.clone();
        let mut client = client.clone();
        async move {
            let begun = Instant::now();
            let request = HealthCheckRequest {
                service: "inventory".into(),
            };
            let answer = match client.check(request).await {
                Ok(response) => format!("{:?}", response.into_inner().status()),
                Err(status) => format!("{:?} \"{}\"", status.code(), status.message()),
            };
            println!(
                "  {label}: {answer} after {} request(s) in {:.2?}, client breaker {}",
                sent.load(Ordering::Relaxed) - before,
                begun.elapsed(),
                breaker.state()
            );
        }
    };

    println!("1. the server is healthy");
    check("check 1").await;

    println!("2. the server reports inventory NOT_SERVING");
    reporter
        .set_service_status("inventory", ServingStatus::NotServing)
        .await;
    check("check 2").await;

    println!("3. the server's breaker is forced open: UNAVAILABLE");
    server_breaker.force_open();
    for label in ["check 3", "check 4", "check 5"] {
        check(label).await;
    }

    println!("4. the server recovers; the client breaker probes after its open wait");
    server_breaker.reset();
    reporter
        .set_service_status("inventory", ServingStatus::Serving)
        .await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    check("check 6").await;
    check("check 7").await;

    println!(
        "done: {} requests reached the server for 7 checks",
        sent.load(Ordering::Relaxed)
    );
    server.abort();
    Ok(())
}
