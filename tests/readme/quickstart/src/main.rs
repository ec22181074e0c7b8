use seawall::breaker::{Breaker, BreakerConfig, BreakerLayer};
use seawall::{BoxError, ErrorKind};
use tower::{service_fn, Service, ServiceBuilder, ServiceExt};

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let breaker = Breaker::new(
        BreakerConfig::builder()
            .name("inventory")
            .count_window(100)
            .failure_rate_threshold(0.5)
            .build()?,
    );
    let mut client = ServiceBuilder::new()
        .layer(BreakerLayer::new(breaker.clone()))
        .service(service_fn(|sku: u32| async move {
            Ok::<_, std::io::Error>(sku * 2)
        }));

    match client.ready().await?.call(21).await {
        Ok(answer) => println!("{answer}"),
        Err(err) if ErrorKind::of(&*err) == ErrorKind::BreakerOpen => { /* degrade */ }
        Err(err) => return Err(err),
    }
    Ok(())
}
