use std::future::ready;
use std::time::Duration;

use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use metrics_exporter_prometheus::PrometheusBuilder;
use seawall::axum::ErrorResponseLayer;
use seawall::breaker::{Breaker, BreakerConfig};
use seawall::classify::HttpStatus;
use seawall::health::{Criticality, HealthRegistry, HealthService, InFlightLayer};
use seawall::resilience::ResilienceLayer;
use seawall::retry::{NoClone, RetryConfig};
use seawall::BoxError;
use tower::ServiceBuilder;

async fn list_orders() -> Result<&'static str, StatusCode> {
    Err(StatusCode::INTERNAL_SERVER_ERROR) // the database is down
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    // The recorder first: seawall resolves its metric handles when a layer is built.
    let prometheus = PrometheusBuilder::new().install_recorder()?;
    let breaker = Breaker::new(
        BreakerConfig::builder()
            .name("api")
            .count_window(20)
            .minimum_calls(10) // the default waits for 100 calls before judging
            .build()?,
    );
    let resilience = ResilienceLayer::builder()
        .name("api")
        .breaker(breaker)
        .timeout(Duration::from_secs(1)) // a handler's deadline: 504 after it
        .retry(RetryConfig::builder().max_attempts(1)) // retrying is the client's business
        .build()?
        .with_request_clone(NoClone)
        .with_classifier(HttpStatus::server_errors()); // a handler's 5xx counts as a failure
    let health = HealthRegistry::new();
    health.register_breaker(resilience.breaker(), Criticality::critical()); // open => /readyz 503
    let app = Router::new()
        .route("/orders", get(list_orders))
        .layer(
            ServiceBuilder::new()
                .layer(InFlightLayer::new(health.clone())) // counted for the drain
                .layer(ErrorResponseLayer::new()) // full or open: 503 + Retry-After
                .layer(resilience),
        )
        .route_service("/readyz", HealthService::new(health.clone()))
        .route("/metrics", get(move || ready(prometheus.render())));

    let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
    health.mark_started();
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            health.shutdown_signal().await; // ctrl-c / SIGTERM: /readyz says 503 at once
            let _ = health.drain(Duration::from_secs(10)).await; // in-flight requests finish
        })
        .await?;
    Ok(())
}
