use std::time::Duration;

use reqwest_middleware::ClientBuilder;
use seawall::breaker::BreakerConfig;
use seawall::reqwest_middleware::{breaker_retry_after, ResilienceMiddleware};
use seawall::retry::RetryConfig;
use seawall::{BoxError, ErrorKind};

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let resilience = ResilienceMiddleware::builder()
        .name("prices")
        // One breaker per scheme://host:port, at most 64 kept.
        .breaker_per_host(
            BreakerConfig::builder()
                .failure_rate_threshold(0.5)
                .build()?,
            64,
        )
        // 5xx but 501, 408, 429 and transient transport errors of idempotent requests.
        .retry(RetryConfig::builder().max_attempts(3).build()?)
        .attempt_timeout(Duration::from_millis(500))
        .build()?;
    let client = ClientBuilder::new(reqwest::Client::new())
        .with(resilience) // add tracing, auth, ... middleware before or after it
        .build();

    match client.get("http://127.0.0.1:8080/prices/eur").send().await {
        Ok(response) => println!("{}: {}", response.status(), response.text().await?),
        Err(err) if ErrorKind::of(&err) == ErrorKind::BreakerOpen => {
            println!(
                "prices are down; try again in {:?}",
                breaker_retry_after(&err)
            );
        }
        Err(err) => println!("no price: {err}"),
    }
    Ok(())
}
