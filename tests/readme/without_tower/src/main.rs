use std::time::Duration;

use seawall::breaker::{Breaker, BreakerConfig};
use seawall::{BoxError, ErrorKind};

/// The work a message needs; here the downstream is down from the fifth message on.
async fn handle(message: u32) -> Result<(), std::io::Error> {
    if message >= 5 {
        return Err(std::io::Error::other("downstream refused"));
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let breaker = Breaker::new(
        BreakerConfig::builder()
            .name("orders-consumer")
            .count_window(10)
            .minimum_calls(5)
            .failure_rate_threshold(0.3)
            .build()?,
    );
    let mut requeued: Vec<(u32, Duration)> = Vec::new();
    for message in 0..20 {
        match breaker.try_acquire() {
            Ok(permit) => match handle(message).await {
                Ok(()) => permit.success(),
                Err(_) => {
                    permit.failure();
                    requeued.push((message, Duration::ZERO));
                }
            },
            // Open: hand the message back until the breaker lets a probe through.
            Err(open) => requeued.push((message, open.retry_after().unwrap_or_default())),
        }
    }
    println!(
        "breaker {}, {} messages requeued",
        breaker.state(),
        requeued.len()
    );

    // Or in one call: the future runs only if admitted, and an `Err` counts as a failure.
    match breaker.call(handle(1)).await {
        Ok(()) => println!("handled"),
        Err(err) if ErrorKind::of(&*err) == ErrorKind::BreakerOpen => println!("refused: {err}"),
        Err(err) => return Err(err),
    }
    Ok(())
}
