//! The `grpc.health.v1` bridge, against a real tonic server on 127.0.0.1 and
//! tonic-health's generated client.
#![cfg(not(loom))]

use std::future::Future;
use std::time::Duration;

use seawall::breaker::{Breaker, BreakerConfig};
use seawall::health::{grpc, Criticality, HealthRegistry};
use tokio_stream::StreamExt;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

/// Bounds every network step: a hung server fails the test instead of the run.
async fn within<T>(what: &str, future: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(10), future)
        .await
        .unwrap_or_else(|_| panic!("{what} took longer than 10 s"))
}

fn request(service: &str) -> HealthCheckRequest {
    HealthCheckRequest {
        service: service.to_owned(),
    }
}

async fn check(
    mut client: HealthClient<tonic::transport::Channel>,
    service: &str,
) -> ServingStatus {
    within("Check", client.check(request(service)))
        .await
        .unwrap()
        .into_inner()
        .status()
}

async fn next(
    watch: &mut tonic::Streaming<tonic_health::pb::HealthCheckResponse>,
) -> ServingStatus {
    within("a Watch update", watch.next())
        .await
        .expect("the stream ended")
        .unwrap()
        .status()
}

#[tokio::test]
async fn check_and_watch_follow_a_critical_breaker() {
    let payments = Breaker::new(BreakerConfig::builder().name("payments").build().unwrap());
    let avatars = Breaker::new(BreakerConfig::builder().name("avatars").build().unwrap());
    let health = HealthRegistry::new();
    health.register_breaker(&payments, Criticality::critical());
    health.register_breaker(&avatars, Criticality::non_critical());

    let (reporter, service) = tonic_health::server::health_reporter();
    let bridge = grpc::spawn_bridge(&health, reporter);

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming_shutdown(
                tokio_stream::wrappers::TcpListenerStream::new(listener),
                async {
                    let _ = stop_rx.await;
                },
            ),
    );
    let channel = within(
        "connecting",
        tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect_timeout(Duration::from_secs(5))
            .connect(),
    )
    .await
    .unwrap();
    let client = HealthClient::new(channel);
    let check = |service: &'static str| check(client.clone(), service);

    // Not started yet: the overall service is not serving, the dependencies are.
    assert_eq!(check("").await, ServingStatus::NotServing);
    assert_eq!(check("payments").await, ServingStatus::Serving);
    health.mark_started();

    let mut watch = within("Watch", client.clone().watch(request("")))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(next(&mut watch).await, ServingStatus::Serving);

    payments.force_open();
    assert_eq!(next(&mut watch).await, ServingStatus::NotServing);
    assert_eq!(check("").await, ServingStatus::NotServing);
    assert_eq!(check("payments").await, ServingStatus::NotServing);

    payments.reset();
    assert_eq!(next(&mut watch).await, ServingStatus::Serving);
    assert_eq!(check("").await, ServingStatus::Serving);
    assert_eq!(check("payments").await, ServingStatus::Serving);

    // A non-critical dependency down is down under its own name only.
    avatars.force_open();
    within("the bridge to catch up", async {
        while check("avatars").await != ServingStatus::NotServing {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    assert_eq!(check("").await, ServingStatus::Serving);

    // A deregistered component is unknown again.
    health.deregister("avatars");
    within("the bridge to clear it", async {
        loop {
            let answer = client.clone().check(request("avatars")).await;
            match answer {
                Err(status) if status.code() == tonic::Code::NotFound => break,
                _ => tokio::time::sleep(Duration::from_millis(5)).await,
            }
        }
    })
    .await;

    // Draining: the overall service stops serving at once.
    health.shutdown();
    assert_eq!(next(&mut watch).await, ServingStatus::NotServing);

    // Unknown services are NOT_FOUND, as the protocol says.
    let status = within("Check", client.clone().check(request("nope")))
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::NotFound);

    drop(health);
    within("the bridge to end with the registry", bridge)
        .await
        .unwrap();
    // Graceful: the server waits for open streams, so the client goes first.
    drop(watch);
    drop(client);
    stop_tx.send(()).unwrap();
    within("the server to exit", server).await.unwrap().unwrap();
}
