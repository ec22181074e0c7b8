//! A candidate that never gets ready: it must not hold the stable side up,
//! and a rollout must not wait for it for ever.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use seawall::canary::{
    Analysis, Canary, CanaryConfig, CanaryDecision, CanaryEvent, CanaryService, Phase, Reason,
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

fn stable() -> impl Service<
    u64,
    Response = &'static str,
    Error = BoxError,
    Future = impl std::future::Future<Output = Result<&'static str, BoxError>> + Send,
> + Clone {
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
            tokio::time::sleep(SECOND).await;
        }
    }
    served
}

/// Every decision: when (since `start`), what, why, and on which numbers.
type Decisions = Arc<Mutex<Vec<(Duration, CanaryDecision, Reason, Analysis)>>>;

fn decisions(rollout: &Canary) -> Decisions {
    let seen: Decisions = Arc::default();
    let log = seen.clone();
    let start = tokio::time::Instant::now();
    rollout.on_event(move |event: &CanaryEvent<'_>| {
        if let CanaryEvent::Decided {
            decision,
            reason,
            analysis,
            ..
        } = event
        {
            let at = start.elapsed();
            log.lock()
                .unwrap()
                .push((at, *decision, *reason, (*analysis).clone()));
        }
    });
    seen
}

#[tokio::test(start_paused = true)]
async fn a_candidate_that_never_gets_ready_does_not_stall_the_stable_side() {
    let rollout = Canary::new(CanaryConfig::default());
    let seen = decisions(&rollout);
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
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1, "{seen:?}");
    let (at, decision, reason, _) = &seen[0];
    assert_eq!(
        (*decision, *reason),
        (CanaryDecision::RollBack, Reason::NotReadyTooLong)
    );
    // Not ready since the first request: rolled back by the first request
    // more than 30 s later.
    assert!(*at > 30 * SECOND && *at <= 32 * SECOND, "{at:?}");
}

#[tokio::test(start_paused = true)]
async fn requests_a_candidate_was_not_ready_for_count_as_its_failures() {
    let rollout = Canary::new(
        CanaryConfig::builder()
            .steps([50.0, 100.0])
            .hold(60 * SECOND)
            .analysis_interval(10 * SECOND)
            .max_not_ready(Duration::from_secs(7 * 24 * 3600))
            .build()
            .unwrap(),
    );
    let seen = decisions(&rollout);
    let mut service = CanaryService::new(stable(), NeverReady, rollout.clone());
    assert_eq!(requests(&mut service, 120).await, 120);
    assert_eq!(
        rollout.phase(),
        Phase::RolledBack,
        "{:?}",
        rollout.analysis()
    );
    let seen = seen.lock().unwrap();
    let (at, decision, reason, analysis) = &seen[0];
    assert_eq!(
        (*decision, *reason),
        (CanaryDecision::RollBack, Reason::NotReady)
    );
    // Half of a request a second: 20 samples after about 40 s, and the
    // first analysis after that rolls back.
    assert!(*at <= 120 * SECOND, "{at:?}");
    let candidate = analysis.candidate;
    assert!(candidate.calls >= 20, "{candidate:?}");
    assert_eq!(
        (candidate.failures, candidate.not_ready),
        (candidate.calls, candidate.calls)
    );
    assert_eq!(candidate.latency, None, "no call, no latency");
    assert!(analysis.stable.calls >= 20 && analysis.stable.failures == 0);
}

/// A candidate that is ready while `ready` is set, and answers "candidate".
#[derive(Clone, Debug)]
struct Switched {
    ready: Arc<AtomicBool>,
}

impl Service<u64> for Switched {
    type Response = &'static str;
    type Error = BoxError;
    type Future = std::future::Ready<Result<&'static str, BoxError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        if self.ready.load(Ordering::SeqCst) {
            Poll::Ready(Ok(()))
        } else {
            // Every request polls again; a real service would keep the waker.
            let _ = cx;
            Poll::Pending
        }
    }

    fn call(&mut self, _: u64) -> Self::Future {
        // A readiness reported before the switch still holds for one call.
        std::future::ready(Ok("candidate"))
    }
}

#[tokio::test(start_paused = true)]
async fn a_candidate_ready_again_in_time_is_not_rolled_back() {
    let rollout = Canary::new(
        CanaryConfig::builder()
            .steps([1.0, 100.0])
            .hold(3_600 * SECOND)
            .analysis_interval(10 * SECOND)
            .build()
            .unwrap(),
    );
    let seen = decisions(&rollout);
    let ready = Arc::new(AtomicBool::new(true));
    let candidate = Switched {
        ready: ready.clone(),
    };
    let base = CanaryService::new(stable(), candidate, rollout.clone());
    // 25 s not ready, 5 s ready, ten times over: never 30 s in a row. Each
    // phase through a fresh clone, which holds no readiness from before.
    for _ in 0..10 {
        ready.store(false, Ordering::SeqCst);
        let mut service = base.clone();
        for n in 0..25 {
            service.ready().await.unwrap().call(n).await.unwrap();
            tokio::time::sleep(SECOND).await;
        }
        ready.store(true, Ordering::SeqCst);
        let mut service = base.clone();
        for n in 0..5 {
            service.ready().await.unwrap().call(n).await.unwrap();
            tokio::time::sleep(SECOND).await;
        }
    }
    assert_eq!(
        rollout.phase(),
        Phase::Running,
        "{:?}",
        seen.lock().unwrap()
    );
    // Once it stays not ready, the rollout goes back.
    ready.store(false, Ordering::SeqCst);
    let mut service = base.clone();
    for n in 0..40 {
        service.ready().await.unwrap().call(n).await.unwrap();
        tokio::time::sleep(SECOND).await;
    }
    assert_eq!(rollout.phase(), Phase::RolledBack);
}

#[tokio::test(start_paused = true)]
async fn the_ticker_rolls_back_a_candidate_stuck_not_ready_without_traffic() {
    let rollout = Canary::new(CanaryConfig::default());
    let seen = decisions(&rollout);
    let mut service = CanaryService::new(stable(), NeverReady, rollout.clone());
    // One request finds the candidate not ready; then nothing.
    assert_eq!(requests(&mut service, 1).await, 1);
    let ticker = rollout.spawn_ticker();
    tokio::time::sleep(60 * SECOND).await;
    assert_eq!(rollout.phase(), Phase::RolledBack);
    assert_eq!(seen.lock().unwrap()[0].2, Reason::NotReadyTooLong);
    ticker.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_promoted_candidate_that_is_not_ready_holds_its_callers() {
    let rollout = Canary::new(CanaryConfig::builder().steps([100.0]).build().unwrap());
    assert!(rollout.promote());
    assert_eq!(rollout.phase(), Phase::Promoted);
    let mut service = CanaryService::new(stable(), NeverReady, rollout.clone());
    let waited = tokio::time::timeout(SECOND, service.ready()).await;
    assert!(
        waited.is_err(),
        "promoted, there is no stable side to send it to"
    );
    assert_eq!(rollout.phase(), Phase::Promoted);
}

#[test]
fn a_not_ready_limit_out_of_range_is_refused() {
    for wait in [
        Duration::ZERO,
        Duration::MAX,
        Duration::from_secs(7 * 24 * 3600 + 1),
    ] {
        let err = CanaryConfig::builder()
            .max_not_ready(wait)
            .build()
            .unwrap_err();
        assert_eq!(err.field(), "max_not_ready");
    }
    for wait in [Duration::from_nanos(1), Duration::from_secs(7 * 24 * 3600)] {
        let config = CanaryConfig::builder().max_not_ready(wait).build().unwrap();
        assert_eq!(config.max_not_ready(), wait);
    }
}

/// Clones of a service each draw their own random stream. Clones seeded one
/// counter step apart drew the same sequence shifted by one, so many clones
/// routing a few requests each landed on the same draws: at 1% weight a
/// candidate saw 20 of 300 requests, 17 of them failures, and was rolled back.
#[tokio::test(start_paused = true)]
async fn clones_route_by_streams_of_their_own() {
    let rollout = Canary::new(
        CanaryConfig::builder()
            .steps([50.0, 100.0])
            .hold(3_600 * SECOND)
            .build()
            .unwrap(),
    );
    let candidate = service_fn(|_: u64| async { Ok::<_, BoxError>("candidate") });
    let base = CanaryService::new(stable(), candidate, rollout.clone());
    let mut routes = Vec::new();
    for _ in 0..8 {
        let mut clone = base.clone();
        let mut sides = Vec::new();
        for n in 0..64 {
            sides.push(clone.ready().await.unwrap().call(n).await.unwrap() == "candidate");
        }
        routes.push(sides);
    }
    for pair in routes.windows(2) {
        assert_ne!(
            pair[0][1..],
            pair[1][..63],
            "one clone's draws are the other's, shifted"
        );
        assert_ne!(pair[0], pair[1], "two clones drew the same sequence");
    }
    let to_candidate = routes.iter().flatten().filter(|&&c| c).count();
    assert!(
        (160..=352).contains(&to_candidate),
        "{to_candidate} of 512 at 50%"
    );
}
