//! The canary router: rollouts on a paused clock, readiness, routing
//! properties, the health registry, metrics, and two real upstreams.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use proptest::prelude::*;
use seawall::breaker::{Breaker, BreakerConfig, BreakerLayer, State};
use seawall::canary::{
    bucket_of_key, Analysis, Canary, CanaryConfig, CanaryConfigBuilder, CanaryDecision,
    CanaryEvent, CanaryLayer, CanaryService, Phase, Reason,
};
use seawall::clock::Clock;
use seawall::health::{
    Component, ComponentFuture, Criticality, Details, HealthRegistry, Status as HealthStatus,
};
use seawall::BoxError;
use tokio::time::Instant;
use tokio_test::{assert_pending, assert_ready_ok};
use tower::util::BoxCloneService;
use tower::{service_fn, Layer, Service, ServiceExt};
use tower_test::mock;

const SECOND: Duration = Duration::from_secs(1);

type Side = BoxCloneService<u64, &'static str, BoxError>;

/// A side answering `name` after `latency`, failing its `n`-th call (counted
/// from 0) when `fails(n)`.
fn side(name: &'static str, latency: Duration, fails: fn(u64) -> bool) -> (Side, Arc<AtomicU64>) {
    let served = Arc::new(AtomicU64::new(0));
    let count = served.clone();
    let service = service_fn(move |_: u64| {
        let n = count.fetch_add(1, Ordering::Relaxed);
        async move {
            tokio::time::sleep(latency).await;
            if fails(n) {
                Err::<&'static str, BoxError>(format!("{name} failed").into())
            } else {
                Ok(name)
            }
        }
    });
    (BoxCloneService::new(service), served)
}

fn never(_: u64) -> bool {
    false
}

/// One call in a hundred fails.
fn one_percent(n: u64) -> bool {
    n % 100 == 99
}

/// Six calls in a hundred fail.
fn six_percent(n: u64) -> bool {
    n % 100 < 6
}

/// Steps of 1, 5, 25, 50 and 100%, each held 60 s with 30 candidate requests,
/// analysed every 10 s.
fn config() -> CanaryConfigBuilder {
    CanaryConfig::builder()
        .name("test")
        .steps([1.0, 5.0, 25.0, 50.0, 100.0])
        .hold(60 * SECOND)
        .analysis_interval(10 * SECOND)
        .min_requests(30)
}

/// A decision as seen by a listener, with when it happened.
#[derive(Clone, Debug)]
struct Decided {
    at: Duration,
    decision: CanaryDecision,
    reason: Reason,
    from_weight: u16,
    to_weight: u16,
    phase: Phase,
    analysis: Analysis,
}

fn decisions(handle: &Canary) -> Arc<Mutex<Vec<Decided>>> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let start = Instant::now();
    handle.on_event(move |event: &CanaryEvent<'_>| {
        if let CanaryEvent::Decided {
            name,
            decision,
            reason,
            from_weight,
            to_weight,
            phase,
            analysis,
        } = event
        {
            assert_eq!(*name, "test");
            log.lock().unwrap().push(Decided {
                at: start.elapsed(),
                decision: *decision,
                reason: *reason,
                from_weight: *from_weight,
                to_weight: *to_weight,
                phase: *phase,
                analysis: (*analysis).clone(),
            });
        }
    });
    seen
}

/// Sends a request every `gap` (plus its latency) until the rollout is over or
/// `limit` has passed.
async fn drive<S>(service: &mut S, handle: &Canary, gap: Duration, limit: Duration)
where
    S: Service<u64, Response = &'static str, Error = BoxError>,
{
    let start = Instant::now();
    let mut request = 0;
    while !handle.phase().is_final() && start.elapsed() < limit {
        let _ = service.ready().await.unwrap().call(request).await;
        request += 1;
        tokio::time::sleep(gap).await;
    }
}

#[tokio::test(start_paused = true)]
async fn a_healthy_candidate_reaches_full_weight_in_the_planned_time() {
    let handle = Canary::new(config().build().unwrap());
    let seen = decisions(&handle);
    // Both sides fail 1% of calls and take 5 ms: the same, noise included.
    let (stable, _) = side("stable", 5 * MS, one_percent);
    let (candidate, _) = side("candidate", 5 * MS, one_percent);
    let mut service = CanaryService::new(stable, candidate, handle.clone());

    let start = Instant::now();
    drive(&mut service, &handle, 5 * MS, 400 * SECOND).await;
    let took = start.elapsed();

    assert_eq!(handle.phase(), Phase::Promoted);
    assert_eq!(handle.weight(), 10_000);
    // Five steps of 60 s; each promotion comes with the first request to finish
    // at or after the end of its hold.
    assert!(
        took >= 300 * SECOND && took <= 300 * SECOND + 50 * MS,
        "{took:?}"
    );
    let seen = seen.lock().unwrap().clone();
    let weights: Vec<(u16, u16)> = seen.iter().map(|d| (d.from_weight, d.to_weight)).collect();
    assert_eq!(
        weights,
        [
            (100, 500),
            (500, 2_500),
            (2_500, 5_000),
            (5_000, 10_000),
            (10_000, 10_000)
        ]
    );
    for (i, decided) in seen.iter().enumerate() {
        assert_eq!(decided.decision, CanaryDecision::Promote);
        assert_eq!(decided.reason, Reason::WithinBounds);
        assert_eq!(decided.analysis.step, i);
        assert!(decided.analysis.candidate.calls >= 30, "{decided:?}");
        let planned = 60 * SECOND * (i as u32 + 1);
        assert!(
            decided.at >= planned && decided.at <= planned + 20 * MS,
            "{decided:?}"
        );
    }
    assert_eq!(seen[4].phase, Phase::Promoted);
}

#[tokio::test(start_paused = true)]
async fn five_points_more_errors_roll_back_within_one_analysis_interval() {
    // At 25% of 100 requests a second, an interval holds some 250 candidate
    // calls: enough for 5 points over 1% to stand out from the noise at the
    // default 95% confidence.
    let handle = Canary::new(config().steps([25.0, 50.0, 100.0]).build().unwrap());
    let seen = decisions(&handle);
    let (stable, _) = side("stable", 5 * MS, one_percent);
    let (candidate, served) = side("candidate", 5 * MS, six_percent);
    let mut service = CanaryService::new(stable, candidate, handle.clone());

    drive(&mut service, &handle, 5 * MS, 60 * SECOND).await;

    assert_eq!((handle.phase(), handle.weight()), (Phase::RolledBack, 0));
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1, "{seen:?}");
    let decided = &seen[0];
    assert_eq!(decided.decision, CanaryDecision::RollBack);
    assert_eq!(decided.reason, Reason::FailureRateAboveStable);
    assert!(decided.at <= 10 * SECOND + 20 * MS, "{decided:?}");
    let candidate_rate = decided.analysis.candidate.failure_rate.unwrap();
    let stable_rate = decided.analysis.stable.failure_rate.unwrap();
    assert!((0.05..0.08).contains(&candidate_rate), "{decided:?}");
    assert!((stable_rate - 0.01).abs() < 0.005, "{decided:?}");

    // Rolled back: the candidate gets nothing more.
    let before = served.load(Ordering::Relaxed);
    for request in 0..100 {
        match service.ready().await.unwrap().call(request).await {
            Ok(side) => assert_eq!(side, "stable"),
            Err(err) => assert_eq!(err.to_string(), "stable failed"),
        }
    }
    assert_eq!(served.load(Ordering::Relaxed), before);
}

/// The first candidate call fails, then one in a hundred: as the stable side.
fn first_of_each_hundred(n: u64) -> bool {
    n.is_multiple_of(100)
}

#[tokio::test(start_paused = true)]
async fn an_early_failure_is_noise_not_a_regression() {
    let handle = Canary::new(config().build().unwrap());
    let seen = decisions(&handle);
    let (stable, _) = side("stable", 5 * MS, one_percent);
    let (candidate, _) = side("candidate", 5 * MS, first_of_each_hundred);
    let mut service = CanaryService::new(stable, candidate, handle.clone());
    // At the first analysis, 1 failure in about 10 to 20 calls reads as 5 to
    // 10%: far over 1% + 2 points as measured, but well within the noise.
    drive(&mut service, &handle, 5 * MS, 400 * SECOND).await;
    assert_eq!(
        handle.phase(),
        Phase::Promoted,
        "{:?}",
        seen.lock().unwrap()
    );
}

#[tokio::test(start_paused = true)]
async fn at_a_confidence_of_one_half_rates_are_compared_as_measured() {
    let handle = Canary::new(config().confidence(0.5).build().unwrap());
    let seen = decisions(&handle);
    let (stable, _) = side("stable", 5 * MS, one_percent);
    let (candidate, _) = side("candidate", 5 * MS, first_of_each_hundred);
    let mut service = CanaryService::new(stable, candidate, handle.clone());
    drive(&mut service, &handle, 5 * MS, 400 * SECOND).await;
    assert_eq!(handle.phase(), Phase::RolledBack);
    let seen = seen.lock().unwrap();
    assert_eq!(seen[0].reason, Reason::FailureRateAboveStable);
    // At the first analysis with 20 candidate calls, long before the step ends.
    assert!(seen[0].at < 60 * SECOND, "{seen:?}");
    assert_eq!(seen[0].analysis.candidate.failures, 1);
}

#[tokio::test(start_paused = true)]
async fn twice_the_latency_rolls_back_within_one_analysis_interval() {
    let handle = Canary::new(config().steps([10.0, 50.0, 100.0]).build().unwrap());
    let seen = decisions(&handle);
    let (stable, _) = side("stable", 20 * MS, never);
    let (candidate, _) = side("candidate", 40 * MS, never);
    let mut service = CanaryService::new(stable, candidate, handle.clone());

    drive(&mut service, &handle, 5 * MS, 60 * SECOND).await;

    assert_eq!(handle.phase(), Phase::RolledBack);
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1, "{seen:?}");
    let decided = &seen[0];
    assert_eq!(decided.reason, Reason::LatencyAboveStable);
    assert!(decided.at <= 10 * SECOND + 50 * MS, "{decided:?}");
    let ours = decided.analysis.candidate.latency.unwrap();
    let theirs = decided.analysis.stable.latency.unwrap();
    assert!(
        ours >= 40 * MS && theirs >= 20 * MS && theirs < 23 * MS,
        "{decided:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_slightly_slower_candidate_within_the_ratio_is_promoted() {
    // 20% slower, under the 1.5 ratio: the same check that rolls back twice the
    // latency lets this one through.
    let handle = Canary::new(
        config()
            .steps([10.0, 100.0])
            .hold(20 * SECOND)
            .build()
            .unwrap(),
    );
    let (stable, _) = side("stable", 20 * MS, never);
    let (candidate, _) = side("candidate", 24 * MS, never);
    let mut service = CanaryService::new(stable, candidate, handle.clone());
    drive(&mut service, &handle, 5 * MS, 60 * SECOND).await;
    assert_eq!(handle.phase(), Phase::Promoted);
}

#[tokio::test(start_paused = true)]
async fn a_candidate_whose_breaker_opens_is_rolled_back_at_once() {
    let handle = Canary::new(config().steps([50.0, 100.0]).build().unwrap());
    let seen = decisions(&handle);
    let breaker = Breaker::new(
        BreakerConfig::builder()
            .name("candidate")
            .count_window(4)
            .minimum_calls(4)
            .build()
            .unwrap(),
    );
    handle.watch_breaker(&breaker);
    let (stable, _) = side("stable", 5 * MS, never);
    let (inner, served) = side("candidate", 5 * MS, |n| n >= 10);
    let candidate: Side = BoxCloneService::new(BreakerLayer::new(breaker.clone()).layer(inner));
    let mut service = CanaryService::new(stable, candidate, handle.clone());

    let start = Instant::now();
    let mut request = 0;
    while breaker.state() == State::Closed {
        assert_eq!(handle.phase(), Phase::Running);
        let _ = service.ready().await.unwrap().call(request).await;
        request += 1;
        assert!(request < 1_000, "the breaker never opened");
    }
    // The breaker's transition rolled back before the call that opened it
    // returned: no analysis was due yet.
    assert_eq!(breaker.state(), State::Open);
    assert_eq!(handle.phase(), Phase::RolledBack);
    assert!(start.elapsed() < 10 * SECOND);
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(
        (seen[0].decision, seen[0].reason),
        (CanaryDecision::RollBack, Reason::BreakerOpen)
    );
    assert_eq!((seen[0].from_weight, seen[0].to_weight), (5_000, 0));
    let candidate_calls = served.load(Ordering::Relaxed);
    for request in 0..20 {
        let _ = service.ready().await.unwrap().call(request).await;
    }
    assert_eq!(served.load(Ordering::Relaxed), candidate_calls);
}

/// A component whose status a test sets.
struct Switch(Arc<AtomicBool>);

impl Component for Switch {
    fn name(&self) -> &str {
        "candidate-deps"
    }

    fn status(&self) -> Option<HealthStatus> {
        Some(if self.0.load(Ordering::Relaxed) {
            HealthStatus::Up
        } else {
            HealthStatus::Down
        })
    }

    fn check(&self) -> ComponentFuture<'_> {
        let status = self.status().unwrap();
        Box::pin(async move { Details::new(status) })
    }
}

#[tokio::test(start_paused = true)]
async fn a_candidate_component_going_down_rolls_back_at_the_next_analysis() {
    let handle = Canary::new(config().steps([50.0, 100.0]).build().unwrap());
    let seen = decisions(&handle);
    let up = Arc::new(AtomicBool::new(true));
    handle.watch_component(Switch(up.clone()));
    let (stable, _) = side("stable", 5 * MS, never);
    let (candidate, _) = side("candidate", 5 * MS, never);
    let mut service = CanaryService::new(stable, candidate, handle.clone());

    drive(&mut service, &handle, 5 * MS, 25 * SECOND).await;
    assert_eq!(handle.phase(), Phase::Running, "healthy so far");
    up.store(false, Ordering::Relaxed);
    let start = Instant::now();
    drive(&mut service, &handle, 5 * MS, 60 * SECOND).await;
    assert_eq!(handle.phase(), Phase::RolledBack);
    assert!(start.elapsed() <= 10 * SECOND, "{:?}", start.elapsed());
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.last().unwrap().reason, Reason::Unhealthy);
}

#[tokio::test(start_paused = true)]
async fn pause_resume_promote_and_roll_back_by_hand() {
    let handle = Canary::new(config().steps([10.0, 50.0, 100.0]).build().unwrap());
    let seen = decisions(&handle);
    let (stable, _) = side("stable", 5 * MS, never);
    let (candidate, _) = side("candidate", 5 * MS, never);
    let mut service = CanaryService::new(stable, candidate, handle.clone());

    assert!(handle.pause());
    assert!(!handle.pause(), "already paused");
    // Paused: held far beyond the hold, never promoted.
    drive(&mut service, &handle, 5 * MS, 200 * SECOND).await;
    assert_eq!((handle.phase(), handle.weight()), (Phase::Paused, 1_000));

    // Resumed: the step starts afresh, and is promoted a hold later.
    assert!(handle.resume());
    let resumed = Instant::now();
    while handle.step() == 0 {
        let _ = service.ready().await.unwrap().call(0).await;
        tokio::time::sleep(5 * MS).await;
    }
    let waited = resumed.elapsed();
    assert!(waited >= 60 * SECOND && waited < 61 * SECOND, "{waited:?}");
    assert_eq!(handle.weight(), 5_000);

    assert!(handle.promote());
    assert_eq!((handle.phase(), handle.weight()), (Phase::Running, 10_000));
    assert!(handle.roll_back());
    assert_eq!((handle.phase(), handle.weight()), (Phase::RolledBack, 0));
    // Final: nothing moves it any more.
    assert!(!handle.promote() && !handle.resume() && !handle.pause() && !handle.roll_back());
    handle.tick();
    assert_eq!(handle.phase(), Phase::RolledBack);

    let seen: Vec<(CanaryDecision, Reason)> = seen
        .lock()
        .unwrap()
        .iter()
        .map(|d| (d.decision, d.reason))
        .collect();
    assert_eq!(
        seen,
        [
            (CanaryDecision::Pause, Reason::Manual),
            (CanaryDecision::Resume, Reason::Manual),
            (CanaryDecision::Promote, Reason::WithinBounds),
            (CanaryDecision::Promote, Reason::Manual),
            (CanaryDecision::RollBack, Reason::Manual),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn the_ticker_promotes_without_traffic_only_once_requests_suffice() {
    let handle = Canary::new(
        config()
            .steps([50.0, 100.0])
            .hold(10 * SECOND)
            .analysis_interval(5 * SECOND)
            .min_requests(5)
            .min_samples(5)
            .build()
            .unwrap(),
    );
    let ticker = handle.spawn_ticker();
    let (stable, _) = side("stable", MS, never);
    let (candidate, _) = side("candidate", MS, never);
    let mut service = CanaryService::new(stable, candidate, handle.clone());
    // No traffic: the hold passes, but too few requests to promote.
    tokio::time::sleep(30 * SECOND).await;
    assert_eq!(handle.step(), 0);
    for request in 0..40 {
        let _ = service.ready().await.unwrap().call(request).await;
    }
    // The ticker decides with nobody calling.
    tokio::time::sleep(6 * SECOND).await;
    assert_eq!(handle.step(), 1, "{:?}", handle.analysis());
    drive(&mut service, &handle, 100 * MS, 5 * SECOND).await;
    tokio::time::sleep(20 * SECOND).await;
    assert_eq!(handle.phase(), Phase::Promoted);
    // Over: the ticker stops by itself.
    tokio::time::timeout(20 * SECOND, ticker)
        .await
        .expect("the ticker ends with the rollout")
        .unwrap();
}

#[tokio::test]
async fn only_sides_that_were_polled_ready_are_called() {
    let handle = Canary::new(config().steps([50.0, 100.0]).build().unwrap());
    let (stable, mut stable_handle) = mock::pair::<u64, &'static str>();
    let (candidate, mut candidate_handle) = mock::pair::<u64, &'static str>();
    let mut service = mock::Spawn::new(CanaryService::new(stable, candidate, handle.clone()));

    // At 50% both sides may be chosen, but only the stable side must be
    // ready: a request for a candidate that is not ready goes to the stable
    // side instead.
    stable_handle.allow(0);
    candidate_handle.allow(0);
    assert_pending!(service.poll_ready());
    stable_handle.allow(1);
    assert_ready_ok!(service.poll_ready());
    candidate_handle.allow(1);
    assert_ready_ok!(service.poll_ready());

    // Rolled back: the candidate is no longer polled, so its readiness does
    // not hold the stable side up.
    handle.roll_back();
    let _first = service.call(7); // uses the stable side's reservation
    let (request, _) = stable_handle.next_request().await.unwrap();
    assert_eq!(request, 7);
    stable_handle.allow(1);
    candidate_handle.allow(0);
    assert_ready_ok!(service.poll_ready());
    let _call = service.call(8);
    let (request, _) = stable_handle.next_request().await.unwrap();
    assert_eq!(request, 8);
}

#[tokio::test]
async fn a_candidate_that_fails_to_get_ready_is_rolled_back() {
    let handle = Canary::new(config().steps([50.0, 100.0]).build().unwrap());
    let seen = decisions(&handle);
    let (stable, mut stable_handle) = mock::pair::<u64, &'static str>();
    let (candidate, mut candidate_handle) = mock::pair::<u64, &'static str>();
    let mut service = mock::Spawn::new(CanaryService::new(stable, candidate, handle.clone()));
    stable_handle.allow(1);
    candidate_handle.send_error("candidate is gone");
    // The stable side takes over; the candidate's error is not the caller's.
    assert_ready_ok!(service.poll_ready());
    assert_eq!(handle.phase(), Phase::RolledBack);
    assert_eq!(seen.lock().unwrap()[0].reason, Reason::NotReady);
    let _call = service.call(1);
    let (request, _) = stable_handle.next_request().await.unwrap();
    assert_eq!(request, 1);
}

#[tokio::test]
async fn the_health_registry_reports_the_rollout() {
    let handle = Canary::new(config().steps([25.0, 100.0]).build().unwrap());
    let health = HealthRegistry::new();
    health.register_canary(&handle, Criticality::non_critical());
    health.mark_started();
    let mut summary = health.subscribe();
    summary.mark_unchanged();

    let report = health.report().await;
    assert_eq!(report.status, HealthStatus::Up);
    let component = &report.components[0];
    assert_eq!(
        (component.name.as_str(), component.kind.as_str()),
        ("test", "canary")
    );
    assert_eq!(component.details.state.as_deref(), Some("running"));
    assert_eq!(component.details.extra["weight_percent"], 25.0);

    handle.roll_back();
    // Subscribers hear of it from the decision, without a report being made (on
    // the runtime's next turn: the decision only schedules the refresh).
    summary.changed().await.unwrap();
    assert_eq!(
        summary.borrow_and_update().components,
        [("test".to_owned(), HealthStatus::Degraded)]
    );
    let report = health.report().await;
    assert_eq!(report.status, HealthStatus::Degraded);
    assert!(report.ready, "the stable side serves everything");
    assert_eq!(
        report.components[0].details.state.as_deref(),
        Some("rolled_back")
    );
}

#[test]
fn metrics_show_the_weight_and_count_decisions() {
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};

    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, || {
        let (clock, _) = Clock::manual();
        let handle = Canary::new(config().steps([5.0, 50.0]).clock(clock).build().unwrap());
        handle.promote();
        handle.pause();
        handle.resume();
        handle.roll_back();
    });
    let values: HashMap<(String, String), DebugValue> = snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(key, _, _, value)| {
            let key = key.key();
            let labels = key
                .labels()
                .map(|l| format!("{}={}", l.key(), l.value()))
                .collect::<Vec<_>>()
                .join(",");
            ((key.name().to_owned(), labels), value)
        })
        .collect();
    let get = |name: &str, labels: &str| values.get(&(name.to_owned(), labels.to_owned()));
    assert_eq!(
        get("seawall_canary_weight", "name=test"),
        Some(&DebugValue::Gauge(0.0.into()))
    );
    for decision in ["promote", "pause", "resume", "roll_back"] {
        assert_eq!(
            get(
                "seawall_canary_decisions_total",
                &format!("name=test,decision={decision}")
            ),
            Some(&DebugValue::Counter(1)),
            "{decision}"
        );
    }
}

#[test]
fn bad_configurations_are_refused() {
    let field = |builder: CanaryConfigBuilder| builder.build().unwrap_err().field();
    assert_eq!(field(config().steps([])), "steps");
    assert_eq!(field(config().steps([5.0, 5.0])), "steps");
    assert_eq!(field(config().steps([0.0, 5.0])), "steps");
    assert_eq!(field(config().steps([50.0, 100.5])), "steps");
    assert_eq!(field(config().steps([0.001])), "steps");
    assert_eq!(field(config().hold(Duration::ZERO)), "hold");
    assert_eq!(
        field(config().analysis_interval(61 * SECOND)),
        "analysis_interval"
    );
    assert_eq!(field(config().min_requests(0)), "min_requests");
    assert_eq!(field(config().min_samples(0)), "min_samples");
    assert_eq!(
        field(config().latency_percentile(0.0)),
        "latency_percentile"
    );
    assert_eq!(field(config().max_latency_ratio(0.9)), "max_latency_ratio");
    assert_eq!(field(config().max_failure_rate(1.5)), "max_failure_rate");
    assert_eq!(
        field(config().max_failure_rate_increase(-0.1)),
        "max_failure_rate_increase"
    );
    assert_eq!(field(config().max_latency(Duration::ZERO)), "max_latency");
    let week = Duration::from_secs(7 * 24 * 3600);
    assert_eq!(field(config().hold(week + MS)), "hold");
    assert_eq!(
        field(config().min_latency_increase(week + MS)),
        "min_latency_increase"
    );
    assert_eq!(field(config().max_latency(week + MS)), "max_latency");
    assert!(config()
        .hold(week)
        .min_latency_increase(week)
        .max_latency(week)
        .build()
        .is_ok());
    assert_eq!(field(config().confidence(1.0)), "confidence");
    assert_eq!(field(config().confidence(0.4)), "confidence");
    assert!(config().steps([0.01, 0.5, 100.0]).build().is_ok());
}

/// A canary held at `percent`, on a clock that never moves (so no analysis
/// ever runs), over two sides that answer their name at once.
fn held_at(percent: f64) -> (CanaryService<Side, Side>, Canary) {
    let (clock, _) = Clock::manual();
    let handle = Canary::new(config().steps([percent]).clock(clock).build().unwrap());
    let stable = BoxCloneService::new(service_fn(|_: u64| async { Ok::<_, BoxError>("stable") }));
    let candidate = BoxCloneService::new(service_fn(|_: u64| async {
        Ok::<_, BoxError>("candidate")
    }));
    (
        CanaryService::new(stable, candidate, handle.clone()),
        handle,
    )
}

fn call_now<S: Service<u64, Response = &'static str, Error = BoxError>>(
    service: &mut S,
    request: u64,
) -> &'static str {
    futures::executor::block_on(async { service.ready().await?.call(request).await }).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn the_observed_split_matches_the_weight(points in 1u16..10_000) {
        let (mut service, _handle) = held_at(f64::from(points) / 100.0);
        let n = 4_000u32;
        let to_candidate = (0..n)
            .filter(|&i| call_now(&mut service, u64::from(i)) == "candidate")
            .count() as f64;
        let p = f64::from(points) / 10_000.0;
        let expected = p * f64::from(n);
        let sigma = (f64::from(n) * p * (1.0 - p)).sqrt();
        // Five standard deviations (and one request of rounding): a fair split
        // fails this about once in 1.7 million runs.
        prop_assert!(
            (to_candidate - expected).abs() <= 5.0 * sigma + 1.0,
            "{} of {} at {} points", to_candidate, n, points
        );
    }

    #[test]
    fn sticky_keys_never_change_sides_within_a_step(
        points in 1u16..10_000,
        keys in proptest::collection::vec(0u64..500, 1..300),
    ) {
        let (service, _handle) = held_at(f64::from(points) / 100.0);
        let mut service = service.sticky_by(|request: &u64| Some(*request));
        let mut sides: HashMap<u64, &'static str> = HashMap::new();
        for &key in &keys {
            let side = call_now(&mut service, key);
            prop_assert_eq!(*sides.entry(key).or_insert(side), side, "key {}", key);
            // The side is the key's bucket against the weight.
            let expected = if bucket_of_key(&key) < points { "candidate" } else { "stable" };
            prop_assert_eq!(side, expected);
        }
    }

    #[test]
    fn a_key_on_the_candidate_stays_there_as_the_weight_grows(
        keys in proptest::collection::vec(any::<u64>(), 1..200),
        low in 1u16..10_000,
        high in 1u16..=10_000,
    ) {
        prop_assume!(low < high);
        let (service, _low) = held_at(f64::from(low) / 100.0);
        let mut at_low = service.sticky_by(|request: &u64| Some(*request));
        let (service, _high) = held_at(f64::from(high) / 100.0);
        let mut at_high = service.sticky_by(|request: &u64| Some(*request));
        for &key in &keys {
            if call_now(&mut at_low, key) == "candidate" {
                prop_assert_eq!(call_now(&mut at_high, key), "candidate", "key {}", key);
            }
        }
    }
}

mod end_to_end {
    use super::*;
    use axum::http::StatusCode;
    use axum::routing::get;
    use seawall::chaos::{Chaos, ChaosConfig, ChaosLayer, Fault};
    use seawall::classify::Outcome;

    /// Serves `app` on an ephemeral port of 127.0.0.1; its base URL.
    async fn serve(app: axum::Router) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        format!("http://{address}")
    }

    type Upstream = BoxCloneService<String, StatusCode, BoxError>;

    /// A tower service calling `base` + the request's path with `client`.
    fn upstream(client: reqwest::Client, base: String) -> Upstream {
        BoxCloneService::new(service_fn(move |path: String| {
            let request = client.get(format!("{base}{path}"));
            async move {
                let response = request.send().await?;
                Ok::<_, BoxError>(StatusCode::from_u16(response.status().as_u16())?)
            }
        }))
    }

    #[tokio::test]
    async fn a_worse_candidate_behind_real_sockets_is_rolled_back_and_the_events_say_why() {
        let stable_hits = Arc::new(AtomicU64::new(0));
        let hits = stable_hits.clone();
        let stable = serve(axum::Router::new().route(
            "/price",
            get(move || {
                hits.fetch_add(1, Ordering::Relaxed);
                async { (StatusCode::OK, "v1") }
            }),
        ))
        .await;
        // The candidate: the same handler, made worse by the chaos layer,
        // which answers 30% of its requests with a 500 (seeded, reproducible).
        let candidate_hits = Arc::new(AtomicU64::new(0));
        let hits = candidate_hits.clone();
        let chaos = Chaos::new(
            ChaosConfig::builder()
                .name("candidate")
                .seed(3)
                .fault(Fault::status(0.3, StatusCode::INTERNAL_SERVER_ERROR))
                .build()
                .unwrap(),
        );
        let candidate = serve(
            axum::Router::new()
                .route("/price", get(|| async { (StatusCode::OK, "v2") }))
                .layer(
                    tower::ServiceBuilder::new()
                        .map_request(move |request: axum::extract::Request| {
                            hits.fetch_add(1, Ordering::Relaxed);
                            request
                        })
                        .layer(seawall::axum::ErrorResponseLayer::new())
                        .layer(ChaosLayer::new(chaos)),
                ),
        )
        .await;

        let handle = Canary::new(
            CanaryConfig::builder()
                .name("test")
                .steps([50.0, 100.0])
                .hold(5 * SECOND)
                .analysis_interval(100 * MS)
                .min_samples(20)
                .min_requests(20)
                .build()
                .unwrap(),
        );
        let seen = decisions(&handle);
        let client = reqwest::Client::builder()
            .timeout(2 * SECOND)
            .build()
            .unwrap();
        let classify = |result: &Result<StatusCode, BoxError>| match result {
            Ok(status) if status.is_server_error() => Outcome::Failure,
            Ok(_) => Outcome::Success,
            Err(_) => Outcome::Failure,
        };
        let mut router = CanaryService::new(
            upstream(client.clone(), stable),
            upstream(client, candidate),
            handle.clone(),
        )
        .with_classifier(classify);

        // At most 2,000 requests or 10 s, whichever ends first.
        let rolled_back = tokio::time::timeout(10 * SECOND, async {
            for _ in 0..2_000 {
                router
                    .ready()
                    .await
                    .unwrap()
                    .call("/price".to_owned())
                    .await
                    .unwrap();
                if handle.phase() == Phase::RolledBack {
                    return true;
                }
            }
            false
        })
        .await;
        assert_eq!(rolled_back, Ok(true), "{:?}", handle.analysis());

        let seen = seen.lock().unwrap().clone();
        assert_eq!(seen.len(), 1, "{seen:?}");
        let why = &seen[0];
        assert_eq!(
            (why.decision, why.reason, why.from_weight, why.to_weight),
            (
                CanaryDecision::RollBack,
                Reason::FailureRateAboveStable,
                5_000,
                0
            )
        );
        let candidate_rate = why.analysis.candidate.failure_rate.unwrap();
        assert!((0.2..=0.4).contains(&candidate_rate), "{why:?}");
        assert_eq!(why.analysis.stable.failures, 0, "{why:?}");
        assert!(why.analysis.candidate.calls >= 20, "{why:?}");
        assert!(stable_hits.load(Ordering::Relaxed) > 0);

        // Every request from now on goes to the stable upstream.
        let candidate_before = candidate_hits.load(Ordering::Relaxed);
        for _ in 0..20 {
            let status = router
                .ready()
                .await
                .unwrap()
                .call("/price".to_owned())
                .await
                .unwrap();
            assert_eq!(status, StatusCode::OK);
        }
        assert_eq!(candidate_hits.load(Ordering::Relaxed), candidate_before);
    }
}

const MS: Duration = Duration::from_millis(1);

#[tokio::test]
async fn the_layer_wraps_the_stable_service() {
    let (clock, _) = Clock::manual();
    let handle = Canary::new(config().steps([100.0]).clock(clock).build().unwrap());
    let candidate = BoxCloneService::new(service_fn(|_: u64| async {
        Ok::<_, BoxError>("candidate")
    }));
    let mut service = tower::ServiceBuilder::new()
        .layer(
            CanaryLayer::new(candidate, handle.clone()).sticky_by(|request: &u64| Some(*request)),
        )
        .service(service_fn(|_: u64| async { Ok::<_, BoxError>("stable") }));
    for request in 0..20 {
        assert_eq!(
            service.ready().await.unwrap().call(request).await.unwrap(),
            "candidate"
        );
    }
    handle.roll_back();
    for request in 0..20 {
        assert_eq!(
            service.ready().await.unwrap().call(request).await.unwrap(),
            "stable"
        );
    }
}

#[test]
fn threads_racing_to_end_a_step_make_one_decision() {
    let (clock, hand) = Clock::manual();
    // Four threads move one manual clock, so a call's measured latency is
    // whatever the others advanced meanwhile: latency is noise here, and only
    // the race to end a step is under test.
    let handle = Canary::new(
        config()
            .steps([10.0, 50.0, 100.0])
            .hold(10 * SECOND)
            .analysis_interval(SECOND)
            .min_latency_increase(Duration::from_secs(24 * 3600))
            .clock(clock)
            .build()
            .unwrap(),
    );
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    handle.on_event(move |event: &CanaryEvent<'_>| {
        if let CanaryEvent::Decided {
            decision,
            from_weight,
            to_weight,
            ..
        } = event
        {
            log.lock()
                .unwrap()
                .push((*decision, *from_weight, *to_weight));
        }
    });
    let stable = BoxCloneService::new(service_fn(|_: u64| async { Ok::<_, BoxError>("stable") }));
    let candidate = BoxCloneService::new(service_fn(|_: u64| async {
        Ok::<_, BoxError>("candidate")
    }));
    let service = CanaryService::new(stable, candidate, handle.clone());
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let mut service = service.clone();
            let hand = hand.clone();
            let handle = handle.clone();
            std::thread::spawn(move || {
                for request in 0..50_000 {
                    if handle.phase().is_final() {
                        return;
                    }
                    call_now(&mut service, request);
                    hand.advance(MS);
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    assert_eq!(handle.phase(), Phase::Promoted);
    assert_eq!(
        *seen.lock().unwrap(),
        [
            (CanaryDecision::Promote, 1_000, 5_000),
            (CanaryDecision::Promote, 5_000, 10_000),
            (CanaryDecision::Promote, 10_000, 10_000),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_call_admitted_under_an_earlier_step_is_not_counted_in_the_next() {
    let handle = Canary::new(config().steps([100.0]).build().unwrap());
    let (stable, _) = side("stable", MS, never);
    let (candidate, _) = side("candidate", 30 * SECOND, |_| true);
    let mut service = CanaryService::new(stable, candidate, handle.clone());
    // A slow failing call starts at 100%, then the step is paused (a new
    // generation) before it ends.
    let slow = service.ready().await.unwrap().call(0);
    handle.pause();
    assert!(slow.await.is_err());
    assert_eq!(handle.analysis().candidate.calls, 0);
    // A call admitted under the paused step counts in it.
    let _ = service.ready().await.unwrap().call(1).await;
    assert_eq!(handle.analysis().candidate.calls, 1);
    assert_eq!(handle.analysis().candidate.failures, 1);
}
