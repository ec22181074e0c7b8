use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use seawall::classify::HttpStatus;
use seawall::fallback::{FallbackLayer, FallbackOn};
use seawall::resilience::ResilienceLayer;
use seawall::retry::{HttpReplay, HttpRetry, ReplayBody};
use seawall::{BoxError, ErrorKind};
use tower::{ServiceBuilder, ServiceExt};

type Body = BoxBody<Bytes, BoxError>;

/// What the callers get when the inventory service cannot answer.
async fn cached_inventory() -> Result<http::Response<Body>, BoxError> {
    let body = Full::new(Bytes::from_static(b"[]")).map_err(BoxError::from);
    Ok(http::Response::new(body.boxed()))
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let http_client = Client::builder(TokioExecutor::new()).build_http::<ReplayBody<Full<Bytes>>>();
    let resilience = ResilienceLayer::builder()
        .name("inventory")
        .timeout(Duration::from_millis(250)) // per attempt
        .build()? // default breaker, bulkhead of 25, 3 attempts + budget
        .with_request_clone(HttpReplay::new(64 * 1024)) // retries resend a copy of the request
        .with_retry_policy(HttpRetry::default()) // 5xx but 501, 408, 429; idempotent only
        .with_classifier(HttpStatus::server_errors()); // 5xx responses count as failures
    let fallback = FallbackLayer::with_fn(|_| cached_inventory()).on(
        FallbackOn::default() // an open breaker, a full bulkhead, a timeout, an empty budget
            .kind(ErrorKind::Other) // the client's own errors (connection refused, ...)
            .responses(HttpStatus::server_errors()), // a 5xx left after the retries
    );
    let client = ServiceBuilder::new()
        .layer(resilience.fallback(fallback))
        .map_response(|response: http::Response<Incoming>| {
            response.map(|body| body.map_err(BoxError::from).boxed())
        })
        .service(http_client);

    let request =
        http::Request::get("http://127.0.0.1:8080/inventory").body(Full::new(Bytes::new()))?;
    let response = client.oneshot(request).await?;
    let body = response.into_body().collect().await?.to_bytes();
    println!("inventory: {}", String::from_utf8_lossy(&body));
    Ok(())
}
