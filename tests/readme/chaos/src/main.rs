use std::time::Duration;

use http::{Response, StatusCode};
use seawall::breaker::{Breaker, BreakerConfig, BreakerLayer};
use seawall::chaos::{Chaos, ChaosConfig, ChaosLayer, Fault, Latency};
use seawall::classify::HttpStatus;
use seawall::BoxError;
use tower::{service_fn, Service, ServiceBuilder, ServiceExt};

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let chaos = Chaos::new(
        ChaosConfig::builder()
            .name("inventory")
            .seed(42) // same seed, same faults on the same calls
            .fault(Fault::error(0.10)) // 10% fail with InjectedFault
            .fault(Fault::status(0.05, StatusCode::SERVICE_UNAVAILABLE)) // a 503 (feature `http`)
            .fault(Fault::latency(
                0.20,
                Latency::between(Duration::from_millis(5), Duration::from_millis(50)),
            ))
            .enabled(false)
            .build()?,
    );
    let breaker = Breaker::new(
        BreakerConfig::builder()
            .name("inventory")
            .count_window(20)
            .minimum_calls(10)
            .build()?,
    );
    let inventory = service_fn(|sku: u32| async move {
        Ok::<_, BoxError>(Response::new(format!("sku {sku}: 3 in stock")))
    });
    let mut client = ServiceBuilder::new()
        .layer(BreakerLayer::new(breaker.clone()).with_classifier(HttpStatus::server_errors()))
        .layer(ChaosLayer::new(chaos.clone())) // innermost: plays the failing dependency
        .service(inventory);

    chaos.enable(); // every clone, at once
    let mut failed = 0;
    for sku in 0..40 {
        match client.ready().await?.call(sku).await {
            Ok(response) if response.status().is_success() => {}
            _ => failed += 1,
        }
    }
    println!(
        "flaky: {failed} of 40 calls failed, breaker {}",
        breaker.state()
    );

    chaos.set_faults([Fault::error(1.0)])?; // hard down
    for sku in 0..20 {
        let _ = client.ready().await?.call(sku).await;
    }
    println!("hard down: breaker {}", breaker.state());
    chaos.disable(); // healed
    Ok(())
}
