//! Two canary rollouts on a paused clock: a healthy candidate ramped up to
//! 100%, and a worse one rolled back by itself, with the numbers that decided.
//!
//! ```sh
//! cargo run --example canary --features canary
//! ```

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use seawall::canary::{Canary, CanaryConfig, CanaryEvent, CanaryService};
use tower::{service_fn, Service, ServiceExt};

#[tokio::main(flavor = "current_thread", start_paused = true)]
async fn main() -> Result<(), seawall::BoxError> {
    println!("== a healthy candidate ==");
    rollout("search-v2", 0).await?;
    println!();
    println!("== a candidate failing 1 request in 10 ==");
    rollout("search-v3", 10).await?;
    Ok(())
}

/// Runs a rollout against a candidate failing one request in `fail_every`
/// (never with 0), with 100 requests a (paused-clock) second.
async fn rollout(name: &'static str, fail_every: u64) -> Result<(), seawall::BoxError> {
    let handle = Canary::new(
        CanaryConfig::builder()
            .name(name)
            .steps([1.0, 5.0, 25.0, 50.0, 100.0])
            .hold(Duration::from_secs(60))
            .analysis_interval(Duration::from_secs(10))
            .min_requests(30)
            .build()?,
    );
    let start = tokio::time::Instant::now();
    handle.on_event(move |event: &CanaryEvent<'_>| {
        if let CanaryEvent::Decided {
            decision,
            reason,
            from_weight,
            to_weight,
            phase,
            analysis,
            ..
        } = event
        {
            let c = &analysis.candidate;
            let s = &analysis.stable;
            println!(
                "t={:>4}s {:<9} ({reason}): {:>5.1}% -> {:>5.1}% [{phase}]  candidate {} calls, {:.1}% failed, p99 {:?} | stable {} calls, {:.1}% failed, p99 {:?}",
                start.elapsed().as_secs(),
                decision.as_str(),
                f64::from(*from_weight) / 100.0,
                f64::from(*to_weight) / 100.0,
                c.calls,
                c.failure_rate.unwrap_or(0.0) * 100.0,
                c.latency.unwrap_or_default(),
                s.calls,
                s.failure_rate.unwrap_or(0.0) * 100.0,
                s.latency.unwrap_or_default(),
            );
        }
    });

    let stable = service_fn(|_: u64| async {
        tokio::time::sleep(Duration::from_millis(4)).await;
        Ok::<_, &'static str>("v1")
    });
    let served = Arc::new(AtomicU64::new(0));
    let candidate = service_fn(move |_: u64| {
        let n = served.fetch_add(1, Ordering::Relaxed);
        async move {
            tokio::time::sleep(Duration::from_millis(4)).await;
            if fail_every != 0 && n.is_multiple_of(fail_every) {
                Err("candidate failed")
            } else {
                Ok("v2")
            }
        }
    });
    let mut service = CanaryService::new(stable, candidate, handle.clone());
    for request in 0.. {
        if handle.phase().is_final() || request > 60_000 {
            break;
        }
        let _ = service.ready().await?.call(request).await;
        tokio::time::sleep(Duration::from_millis(6)).await;
    }
    println!(
        "{name}: {} after {:?} (simulated)",
        handle.phase(),
        start.elapsed()
    );
    Ok(())
}
