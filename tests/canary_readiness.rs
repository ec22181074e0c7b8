//! A candidate that never gets ready: it must not hold the stable side up,
//! and a rollout must not wait for it for ever.

use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use seawall::canary::{
    Canary, CanaryConfig, CanaryDecision, CanaryEvent, CanaryService, Phase, Reason,
};
use seawall::BoxError;
use tower::{service_fn, Service, ServiceExt};

const SECOND: Duration = Duration::from_secs(1);

/// A candidate whose `poll_ready` stays `Pending` for good: a connection pool
/// that never connects, a limit that is never released.
#[derive(Clone, Debug)]
struct NeverReady;

impl Service<u64> for NeverReady {
    type Response = &'static str;
    type Error = BoxError;
    type Future = std::future::Ready<Result<&'static str, BoxError>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Pending
    }

    fn call(&mut self, _: u64) -> Self::Future {
        panic!("a service that was never ready was called");
    }
}

fn stable(
) -> impl Service<u64, Response = &'static str, Error = BoxError, Future = impl Send> + Clone {
    service_fn(|_: u64| async { Ok::<_, BoxError>("stable") })
}

/// One request a second for `seconds`, each given a second to finish:
/// how many were served.
async fn requests<S>(service: &mut S, seconds: u64) -> u64
where
    S: Service<u64, Response = &'static str, Error = BoxError>,
{
    let mut served = 0;
    for n in 0..seconds {
        let attempt = async { service.ready().await?.call(n).await };
        if let Ok(Ok(answer)) = tokio::time::timeout(SECOND, attempt).await {
            assert_eq!(answer, "stable");
            served += 1;
        }
    }
    served
}

#[tokio::test(start_paused = true)]
async fn a_candidate_that_never_gets_ready_does_not_stall_the_stable_side() {
    let rollout = Canary::new(CanaryConfig::default());
    let mut service = CanaryService::new(stable(), NeverReady, rollout.clone());
    let first_hundred = requests(&mut service, 100).await;
    let rest = requests(&mut service, 3_500).await;
    println!(
        "served {first_hundred} of the first 100, {} of 3,600; phase {}, step {}, weight {}",
        first_hundred + rest,
        rollout.phase(),
        rollout.step(),
        rollout.weight()
    );
    assert_eq!(first_hundred, 100);
    assert_eq!(first_hundred + rest, 3_600);
    assert_eq!(rollout.phase(), Phase::RolledBack);
}
