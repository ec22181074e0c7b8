use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use seawall::retry::{AwsRetryQuota, HttpReplay, HttpRetry, ReplayBody, RetryConfig, RetryLayer};
use seawall::timeout::{Deadline, FromExtensions, PropagateDeadlineLayer, TimeoutLayer};
use seawall::BoxError;
use tower::{ServiceBuilder, ServiceExt};

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let http_client = Client::builder(TokioExecutor::new()).build_http::<ReplayBody<Full<Bytes>>>();
    let client = ServiceBuilder::new()
        .layer(
            RetryLayer::new(
                RetryConfig::builder()
                    .name("inventory")
                    .max_attempts(3)
                    .timeout(Duration::from_secs(5)) // across all attempts
                    .attempt_timeout(Duration::from_secs(1)) // to skip attempts that cannot finish
                    .budget(AwsRetryQuota::standard()) // any RetryBudget; the default is a ratio
                    .build()?,
            )
            .with_policy(HttpRetry::default()) // 5xx but 501, 408, 429; idempotent only; Retry-After
            .with_clone(HttpReplay::new(64 * 1024)), // replay bodies up to 64 KiB
        )
        .layer(TimeoutLayer::new(Duration::from_secs(1)).with_deadlines(FromExtensions))
        // Each attempt tells the server how long is left, rounded up to whole milliseconds.
        .layer(PropagateDeadlineLayer::millis_header(
            http::HeaderName::from_static("x-request-timeout-ms"),
        ))
        .service(http_client);

    let mut request =
        http::Request::get("http://127.0.0.1:8080/inventory/42").body(Full::new(Bytes::new()))?;
    // A caller's own deadline, honoured by every attempt's timeout.
    request
        .extensions_mut()
        .insert(Deadline::after(Duration::from_secs(2)));
    match client.oneshot(request).await {
        Ok(response) => println!("inventory answered {}", response.status()),
        Err(err) => println!("inventory: {err}"),
    }
    Ok(())
}
