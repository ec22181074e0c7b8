use std::time::Duration;

use axum::routing::post;
use axum::Router;
use seawall::breaker::{Breaker, BreakerConfig};
use seawall::bulkhead::{Bulkhead, BulkheadConfig};
use seawall::health::{Check, Criticality, HealthRegistry, HealthService, InFlightLayer};
use seawall::BoxError;
use tokio::net::{TcpListener, TcpStream};

async fn create_order() -> &'static str {
    "created"
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    // The handles your clients' stacks use (a `ResilienceLayer` hands out its own).
    let payments = Breaker::new(BreakerConfig::builder().name("payments").build()?);
    let search = Breaker::new(BreakerConfig::builder().name("search").build()?);
    let db_pool = Bulkhead::new(BulkheadConfig::builder().name("db-pool").build()?);

    let health = HealthRegistry::new();
    health.register_breaker(&payments, Criticality::critical()); // down => not ready
    health.register_breaker(&search, Criticality::critical().with_fallback()); // down => degraded
    health.register_bulkhead(&db_pool, Criticality::non_critical()); // full => degraded
    health.register_check(
        // Any async closure returning a `Result`: here, the database accepts connections.
        Check::new("db", || async {
            TcpStream::connect("127.0.0.1:5432").await.map(drop)
        })
        .timeout(Duration::from_millis(500))
        .min_interval(Duration::from_secs(5)),
        Criticality::critical(),
    );
    let app = Router::new()
        .route("/orders", post(create_order))
        .layer(InFlightLayer::new(health.clone())) // counted for the drain
        .nest_service("/health", HealthService::new(health.clone()));

    let listener = TcpListener::bind("127.0.0.1:8080").await?;
    health.mark_started();
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            health.shutdown_signal().await; // ctrl-c / SIGTERM: /health/readyz says 503 at once
            let _ = health.drain(Duration::from_secs(20)).await; // in-flight requests finish
        })
        .await?;
    Ok(())
}
