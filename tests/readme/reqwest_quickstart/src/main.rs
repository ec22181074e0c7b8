use std::time::Duration;

use seawall::classify::HttpStatus;
use seawall::fallback::{FallbackLayer, FallbackOn};
use seawall::resilience::ResilienceLayer;
use seawall::retry::{HttpRetry, ReqwestClone};
use seawall::{BoxError, ErrorKind};
use tower::{Service, ServiceBuilder, ServiceExt};

/// What the callers get when the price service cannot answer.
async fn cached_price() -> Result<reqwest::Response, BoxError> {
    Ok(reqwest::Response::from(http::Response::new(
        "EUR 9.99 (cached)",
    )))
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let resilience = ResilienceLayer::builder()
        .name("prices")
        .timeout(Duration::from_millis(500)) // per attempt
        .build()? // default breaker, bulkhead of 25, 3 attempts + budget
        .with_request_clone(ReqwestClone) // retries resend the request (`try_clone`)
        .with_retry_policy(HttpRetry::default()) // 5xx but 501, 408, 429; idempotent; Retry-After
        .with_classifier(HttpStatus::server_errors()); // a 5xx counts against the breaker
    let fallback = FallbackLayer::with_fn(|_| cached_price()).on(
        FallbackOn::default() // an open breaker, a full bulkhead, a timeout, an empty budget
            .kind(ErrorKind::Other) // reqwest's own errors (connection refused, ...)
            .responses(HttpStatus::server_errors()), // a 5xx left after the retries
    );
    let mut prices = ServiceBuilder::new()
        .layer(resilience.fallback(fallback))
        .service(reqwest::Client::new());

    let url = "http://127.0.0.1:8080/prices/eur".parse()?;
    let request = reqwest::Request::new(reqwest::Method::GET, url);
    let response = prices.ready().await?.call(request).await?;
    println!("{}: {}", response.status(), response.text().await?);
    Ok(())
}
