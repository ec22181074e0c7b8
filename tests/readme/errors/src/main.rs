use axum::routing::get;
use axum::Router;
use seawall::breaker::{Breaker, BreakerConfig, BreakerLayer};
use seawall::bulkhead::{Bulkhead, BulkheadConfig, BulkheadLayer};
use seawall::classify::HttpStatus;
use seawall::BoxError;
use tower::ServiceBuilder;

async fn list_orders() -> &'static str {
    "[]"
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let breaker = Breaker::new(BreakerConfig::builder().name("orders").build()?);
    let bulkhead = Bulkhead::new(BulkheadConfig::builder().name("orders").build()?);
    let app = Router::new().route("/orders", get(list_orders)).layer(
        ServiceBuilder::new()
            .layer(seawall::axum::ErrorResponseLayer::new()) // Error = Infallible
            .layer(BreakerLayer::new(breaker).with_classifier(HttpStatus::server_errors()))
            .layer(BulkheadLayer::new(bulkhead)),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
    axum::serve(listener, app).await?;
    Ok(())
}
