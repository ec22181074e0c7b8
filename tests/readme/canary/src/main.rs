use std::time::Duration;

use http::{Request, Response};
use seawall::breaker::{Breaker, BreakerConfig, BreakerLayer};
use seawall::canary::{Canary, CanaryConfig, CanaryService};
use seawall::classify::HttpStatus;
use seawall::health::{Criticality, HealthRegistry};
use seawall::BoxError;
use tower::{service_fn, Service, ServiceBuilder, ServiceExt};

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    // Two versions of the pricing service; in production, two clients.
    let stable_client = service_fn(|_: Request<String>| async {
        Ok::<_, BoxError>(Response::new("price from v1".to_string()))
    });
    let candidate_breaker = Breaker::new(BreakerConfig::builder().name("pricing-v2").build()?);
    let candidate_client = ServiceBuilder::new()
        .layer(
            BreakerLayer::new(candidate_breaker.clone())
                .with_classifier(HttpStatus::server_errors()),
        )
        .service(service_fn(|_: Request<String>| async {
            Ok::<_, BoxError>(Response::new("price from v2".to_string()))
        }));
    let health = HealthRegistry::new();

    let rollout = Canary::new(
        CanaryConfig::builder()
            .name("pricing-v2")
            .steps([1.0, 5.0, 25.0, 50.0, 100.0]) // percent of requests
            .hold(Duration::from_secs(60)) // each step at least...
            .min_requests(100) // ...and this many candidate requests
            .analysis_interval(Duration::from_secs(10))
            .max_failure_rate_increase(0.02) // 2 points over the stable side
            .max_latency_ratio(1.5) // p99 over the stable side's
            .build()?,
    );
    rollout.watch_breaker(&candidate_breaker); // open: roll back at once
    health.register_canary(&rollout, Criticality::non_critical());
    let mut client = CanaryService::new(stable_client, candidate_client, rollout.clone())
        .sticky_by(|req: &Request<String>| req.headers().get("x-user-id").cloned())
        .with_classifier(HttpStatus::server_errors());

    for user in 0..200 {
        let request = Request::builder()
            .header("x-user-id", user.to_string())
            .body(String::new())?;
        client.ready().await?.call(request).await?;
    }
    println!("pricing-v2 rollout: {:?}", rollout.phase());
    Ok(())
}
