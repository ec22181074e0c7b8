use std::time::Duration;

use seawall::classify::GrpcStatus;
use seawall::resilience::ResilienceLayer;
use seawall::retry::{GrpcRetry, HttpReplay, ReplayBody};
use seawall::BoxError;
use tonic::body::Body;
use tonic::transport::Endpoint;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;
use tower::ServiceBuilder;

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let channel = Endpoint::from_static("http://inventory.internal:50051")
        .connect()
        .await?;
    let resilience = ResilienceLayer::builder()
        .name("inventory")
        .timeout(Duration::from_millis(500))
        .build()?
        .with_request_clone(HttpReplay::new(64 * 1024)) // replays the encoded message
        .with_retry_policy(GrpcRetry::default()) // UNAVAILABLE; grpc-retry-pushback-ms
        .with_classifier(GrpcStatus::default()); // UNAVAILABLE, DEADLINE_EXCEEDED, ... fail
    let stack = ServiceBuilder::new()
        .map_err(|err: BoxError| seawall::tonic::status_of(&*err)) // an open breaker is UNAVAILABLE
        .layer(resilience)
        .map_request(|req: http::Request<ReplayBody<Body>>| req.map(Body::new))
        .service(channel);
    let mut client = HealthClient::new(stack); // any generated client takes the stack
    let request = HealthCheckRequest {
        service: "inventory".into(),
    };
    let response = client.check(request).await?;
    println!("inventory: {:?}", response.into_inner().status());
    Ok(())
}
