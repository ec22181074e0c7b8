//! The health reporter: registry logic on a paused clock, the HTTP service
//! request by request, and a real axum server on 127.0.0.1.
#![cfg(not(loom))]

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use seawall::breaker::{Breaker, BreakerConfig, State};
use seawall::health::{
    Check, Component, ComponentFuture, Criticality, Details, HealthRegistry, HealthService,
    InFlightLayer, Lifecycle, Status,
};
use serde_json::Value;
use tower::{Service, ServiceBuilder, ServiceExt};

fn breaker(name: &'static str) -> Breaker {
    Breaker::new(
        BreakerConfig::builder()
            .name(name)
            .count_window(4)
            .minimum_calls(4)
            .build()
            .unwrap(),
    )
}

fn started() -> HealthRegistry {
    let health = HealthRegistry::new();
    health.mark_started();
    health
}

/// A check that counts its runs, sleeps `takes`, and fails while `failing`.
fn counting_check(
    name: &'static str,
    runs: Arc<AtomicUsize>,
    failing: Arc<AtomicBool>,
    takes: Duration,
) -> Check {
    Check::new(name, move || {
        let runs = runs.clone();
        let failing = failing.clone();
        async move {
            runs.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(takes).await;
            if failing.load(Ordering::SeqCst) {
                Err("connection refused")
            } else {
                Ok(())
            }
        }
    })
}

// ---------------------------------------------------------------- registry

#[tokio::test(start_paused = true)]
async fn open_critical_breaker_takes_readiness_down() {
    let payments = breaker("payments");
    let health = started();
    health.register_breaker(&payments, Criticality::critical());
    assert_eq!(health.report().await.status, Status::Up);

    // Tripped by real failures, not by the handle.
    for _ in 0..4 {
        payments.try_acquire().unwrap().failure();
    }
    assert_eq!(payments.state(), State::Open);
    let report = health.report().await;
    assert_eq!(report.status, Status::Down);
    assert!(!report.ready);
    assert!(report.live && health.live());
    let component = &report.components[0];
    assert_eq!(component.name, "payments");
    assert_eq!(component.kind, "breaker");
    assert_eq!(component.details.status, Status::Down);
    assert_eq!(component.impact, Status::Down);
    assert_eq!(component.details.state.as_deref(), Some("open"));
    assert_eq!(component.details.failure_rate, Some(1.0));
    assert!(component.details.time_until_probe.is_some());
}

#[tokio::test(start_paused = true)]
async fn fallback_and_non_critical_only_degrade() {
    let search = breaker("search");
    let avatars = breaker("avatars");
    let health = started();
    health.register_breaker(&search, Criticality::critical().with_fallback());
    health.register_breaker(&avatars, Criticality::non_critical());

    search.force_open();
    let report = health.report().await;
    assert_eq!(report.status, Status::Degraded);
    assert!(report.ready);
    assert_eq!(report.components[0].details.status, Status::Down);
    assert_eq!(report.components[0].impact, Status::Degraded);
    assert!(report.components[0].fallback);

    avatars.force_open();
    let report = health.report().await;
    assert_eq!(report.status, Status::Degraded);
    assert!(report.ready);

    search.reset();
    avatars.reset();
    assert_eq!(health.report().await.status, Status::Up);
}

#[tokio::test(start_paused = true)]
async fn a_full_bulkhead_degrades_the_report_but_not_readiness() {
    use seawall::bulkhead::{Bulkhead, BulkheadConfig};

    let pool = Bulkhead::new(
        BulkheadConfig::builder()
            .name("db-pool")
            .max_concurrent_calls(2)
            .build()
            .unwrap(),
    );
    let health = started();
    health.register_bulkhead(&pool, Criticality::critical());
    assert_eq!(health.report().await.status, Status::Up);

    let first = pool.try_acquire().unwrap();
    let second = pool.try_acquire().unwrap();
    assert!(pool.try_acquire().is_err());
    let report = health.report().await;
    assert_eq!(report.status, Status::Degraded);
    assert!(report.ready, "a busy service still takes traffic");
    let details = &report.components[0].details;
    assert_eq!(details.state.as_deref(), Some("full"));
    assert_eq!(details.extra["in_flight"], 2);
    assert_eq!(details.extra["max_concurrent_calls"], 2);
    assert_eq!(details.extra["rejected"], 1);

    drop((first, second));
    assert_eq!(health.report().await.status, Status::Up);
}

#[tokio::test(start_paused = true)]
async fn half_open_breaker_is_degraded() {
    let payments = Breaker::new(
        BreakerConfig::builder()
            .name("payments")
            .count_window(2)
            .minimum_calls(2)
            .build()
            .unwrap(),
    );
    let health = started();
    health.register_breaker(&payments, Criticality::critical());
    payments.try_acquire().unwrap().failure();
    payments.try_acquire().unwrap().failure();
    let wait = health.report().await.components[0]
        .details
        .time_until_probe
        .unwrap();
    tokio::time::advance(wait + Duration::from_millis(1)).await;
    let probe = payments.try_acquire().unwrap();
    assert_eq!(payments.state(), State::HalfOpen);
    let report = health.report().await;
    assert_eq!(report.status, Status::Degraded);
    assert!(report.ready);
    probe.success();
}

#[tokio::test(start_paused = true)]
async fn readiness_follows_the_lifecycle_and_liveness_does_not() {
    let health = HealthRegistry::new();
    assert_eq!(health.lifecycle(), Lifecycle::Starting);
    assert!(!health.report().await.ready);
    assert!(health.live());

    health.mark_started();
    assert_eq!(health.lifecycle(), Lifecycle::Serving);
    assert!(health.report().await.ready);

    health.shutdown();
    assert_eq!(health.lifecycle(), Lifecycle::Draining);
    let report = health.report().await;
    assert!(!report.ready);
    assert!(report.live);
    assert_eq!(report.status, Status::Up, "components are still fine");

    health.mark_started();
    assert_eq!(
        health.lifecycle(),
        Lifecycle::Draining,
        "a shutdown is final"
    );
    // Resolves at once now that it was requested.
    health.shutdown_requested().await;
}

#[tokio::test(start_paused = true)]
async fn check_results_are_cached_for_the_minimum_interval() {
    let runs = Arc::new(AtomicUsize::new(0));
    let failing = Arc::new(AtomicBool::new(false));
    let health = started();
    health.register_check(
        counting_check("db", runs.clone(), failing.clone(), Duration::ZERO)
            .min_interval(Duration::from_secs(5)),
        Criticality::critical(),
    );

    for _ in 0..10 {
        assert!(health.report().await.ready);
    }
    assert_eq!(runs.load(Ordering::SeqCst), 1);

    failing.store(true, Ordering::SeqCst);
    tokio::time::advance(Duration::from_secs(4)).await;
    assert!(health.report().await.ready, "still the cached success");
    assert_eq!(runs.load(Ordering::SeqCst), 1);

    tokio::time::advance(Duration::from_secs(1)).await;
    let report = health.report().await;
    assert_eq!(runs.load(Ordering::SeqCst), 2);
    assert!(!report.ready);
    assert_eq!(
        report.components[0].details.error.as_deref(),
        Some("connection refused")
    );
}

#[tokio::test(start_paused = true)]
async fn concurrent_probes_share_one_run() {
    let runs = Arc::new(AtomicUsize::new(0));
    let health = started();
    health.register_check(
        counting_check(
            "db",
            runs.clone(),
            Arc::new(AtomicBool::new(false)),
            Duration::from_millis(300),
        ),
        Criticality::critical(),
    );
    let probes: Vec<_> = (0..20)
        .map(|_| {
            let health = health.clone();
            tokio::spawn(async move { health.report().await.ready })
        })
        .collect();
    for probe in probes {
        assert!(probe.await.unwrap());
    }
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn a_check_that_hangs_times_out_down() {
    let health = started();
    health.register_check(
        Check::new("slow", || async {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            Ok::<_, Infallible>(())
        })
        .timeout(Duration::from_millis(250)),
        Criticality::critical(),
    );
    let started_at = tokio::time::Instant::now();
    let report = health.report().await;
    assert_eq!(started_at.elapsed(), Duration::from_millis(250));
    assert_eq!(report.status, Status::Down);
    assert_eq!(
        report.components[0].details.error.as_deref(),
        Some("check timed out after 250ms")
    );
}

#[tokio::test(start_paused = true)]
async fn a_check_that_panics_is_down_and_the_rest_still_reports() {
    let health = started();
    health.register_check(
        Check::new("flaky", || async {
            if true {
                panic!("boom");
            }
            Ok::<_, Infallible>(())
        }),
        Criticality::non_critical(),
    );
    let payments = breaker("payments");
    health.register_breaker(&payments, Criticality::critical());

    let report = health.report().await;
    assert_eq!(report.status, Status::Degraded);
    assert!(report.ready);
    let flaky = &report.components[0];
    assert_eq!(flaky.details.status, Status::Down);
    assert_eq!(flaky.details.error.as_deref(), Some("check panicked: boom"));
    assert_eq!(report.components[1].details.status, Status::Up);

    // And again: a panic is a result like any other, and does not poison anything.
    tokio::time::advance(Duration::from_secs(2)).await;
    assert_eq!(health.report().await.status, Status::Degraded);

    // The endpoint keeps answering.
    let mut service = HealthService::new(health.clone()).details(true);
    let response = send(&mut service, Method::GET, "/health", "*/*").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        json(response).await["components"][0]["error"],
        "check panicked: boom"
    );
}

/// A component whose own `check` panics, as a badly written extension might.
struct Exploding;

impl Component for Exploding {
    fn name(&self) -> &str {
        "exploding"
    }
    fn status(&self) -> Option<Status> {
        None
    }
    fn check(&self) -> ComponentFuture<'_> {
        Box::pin(async { panic!("kaboom") })
    }
}

/// A component whose `check` never ends and whose `status` panics.
struct Stuck;

impl Component for Stuck {
    fn name(&self) -> &str {
        "stuck"
    }
    fn status(&self) -> Option<Status> {
        panic!("no status")
    }
    fn check(&self) -> ComponentFuture<'_> {
        Box::pin(std::future::pending())
    }
}

#[tokio::test(start_paused = true)]
async fn a_component_that_hangs_or_panics_in_status_is_bounded_and_down() {
    let health = HealthRegistry::with_component_timeout(Duration::from_secs(2));
    health.mark_started();
    health.register(Stuck, Criticality::non_critical());
    assert_eq!(health.summary().status, Status::Degraded, "status panicked");
    let started_at = tokio::time::Instant::now();
    let report = health.report().await;
    assert_eq!(started_at.elapsed(), Duration::from_secs(2));
    assert_eq!(report.status, Status::Degraded);
    assert_eq!(
        report.components[0].details.error.as_deref(),
        Some("health check timed out after 2s")
    );
}

#[tokio::test(start_paused = true)]
async fn a_component_that_panics_is_down_with_the_reason() {
    let health = started();
    health.register(Exploding, Criticality::critical());
    let report = health.report().await;
    assert_eq!(report.status, Status::Down);
    assert_eq!(report.components[0].kind, "component");
    assert_eq!(
        report.components[0].details.error.as_deref(),
        Some("health check panicked: kaboom")
    );
}

#[tokio::test(start_paused = true)]
async fn subscribers_hear_breaker_transitions_without_a_probe() {
    let payments = breaker("payments");
    let health = started();
    health.register_breaker(&payments, Criticality::critical());
    let mut summaries = health.subscribe();
    assert!(summaries.borrow_and_update().ready);

    payments.force_open();
    // Refreshed by a task of its own, off the path of whatever moved the breaker.
    summaries.changed().await.unwrap();
    let summary = summaries.borrow_and_update().clone();
    assert!(!summary.ready);
    assert_eq!(summary.status, Status::Down);
    assert_eq!(
        summary.components,
        vec![("payments".to_owned(), Status::Down)]
    );

    payments.reset();
    summaries.changed().await.unwrap();
    assert!(summaries.borrow_and_update().ready);

    // A change that changes nothing is not news.
    health.refresh();
    assert!(!summaries.has_changed().unwrap());

    health.shutdown();
    assert!(summaries.has_changed().unwrap());
    assert_eq!(summaries.borrow_and_update().lifecycle, Lifecycle::Draining);
}

/// A component whose `status` trips a breaker the registry also watches, as
/// a custom component wrapping a breaker might: the breaker's transition
/// refreshes the registry from inside the registry's own refresh.
struct Tripping {
    breaker: Breaker,
}

impl Component for Tripping {
    fn name(&self) -> &str {
        "tripping"
    }
    fn status(&self) -> Option<Status> {
        if self.breaker.state() == State::Closed {
            self.breaker.force_open();
        }
        Some(Status::Up)
    }
    fn check(&self) -> ComponentFuture<'_> {
        Box::pin(std::future::ready(Details::new(Status::Up)))
    }
}

#[tokio::test(start_paused = true)]
async fn a_refresh_from_inside_a_refresh_neither_deadlocks_nor_goes_stale() {
    let payments = breaker("payments");
    let health = started();
    health.register_breaker(&payments, Criticality::critical());
    assert!(health.summary().ready);
    // Registering refreshes, which asks `Tripping` for its status, which opens
    // the breaker, which refreshes again on this thread.
    health.register(
        Tripping {
            breaker: payments.clone(),
        },
        Criticality::non_critical(),
    );
    assert_eq!(payments.state(), State::ForcedOpen);
    let summary = health.summary();
    assert_eq!(
        summary.status,
        Status::Down,
        "the breaker's opening is not lost"
    );
    assert!(!summary.ready);
}

#[test]
fn racing_transitions_leave_the_latest_summary() {
    let health = HealthRegistry::new();
    health.mark_started();
    let breakers: Vec<Breaker> = ["a", "b", "c", "d"].into_iter().map(breaker).collect();
    for b in &breakers {
        health.register_breaker(b, Criticality::critical());
    }
    std::thread::scope(|scope| {
        for (i, b) in breakers.iter().enumerate() {
            scope.spawn(move || {
                for _ in 0..200 {
                    b.force_open();
                    b.reset();
                }
                // Even ones end open, odd ones closed.
                if i % 2 == 0 {
                    b.force_open();
                }
            });
        }
    });
    // No refresh after the threads: what the last transitions published stands.
    let summary = health.summary();
    let expected: Vec<(String, Status)> = ["a", "b", "c", "d"]
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let status = if i % 2 == 0 { Status::Down } else { Status::Up };
            (name.to_string(), status)
        })
        .collect();
    assert_eq!(summary.components, expected);
    assert!(!summary.ready);
}

#[tokio::test(start_paused = true)]
async fn a_refresher_runs_checks_for_subscribers_without_probes() {
    let runs = Arc::new(AtomicUsize::new(0));
    let failing = Arc::new(AtomicBool::new(false));
    let health = started();
    health.register_check(
        counting_check("db", runs.clone(), failing.clone(), Duration::ZERO)
            .min_interval(Duration::from_secs(1)),
        Criticality::critical(),
    );
    let mut summaries = health.subscribe();
    let refresher = health.spawn_refresher(Duration::from_secs(10));

    summaries.changed().await.unwrap();
    assert_eq!(
        summaries.borrow_and_update().components,
        vec![("db".to_owned(), Status::Up)]
    );
    failing.store(true, Ordering::SeqCst);
    let started_at = tokio::time::Instant::now();
    summaries.changed().await.unwrap();
    assert_eq!(started_at.elapsed(), Duration::from_secs(10));
    assert!(!summaries.borrow_and_update().ready);
    assert_eq!(runs.load(Ordering::SeqCst), 2);

    // It ends with the registry.
    drop(summaries);
    drop(health);
    tokio::time::timeout(Duration::from_secs(30), refresher)
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test(start_paused = true)]
async fn drain_waits_for_in_flight_requests_up_to_its_timeout() {
    let health = started();
    let guard = health.enter();
    let second = health.enter();
    assert_eq!(health.in_flight(), 2);
    drop(second);

    let err = health.drain(Duration::from_secs(1)).await.unwrap_err();
    assert_eq!(err.remaining(), 1);

    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        drop(guard);
    });
    let started_at = tokio::time::Instant::now();
    health.drain(Duration::from_secs(10)).await.unwrap();
    assert_eq!(started_at.elapsed(), Duration::from_millis(300));
    assert_eq!(health.in_flight(), 0);
    health.drain(Duration::ZERO).await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn in_flight_layer_counts_until_the_response() {
    let health = started();
    let (gate_tx, gate_rx) = tokio::sync::oneshot::channel::<()>();
    let gate = Arc::new(tokio::sync::Mutex::new(Some(gate_rx)));
    let mut service = ServiceBuilder::new()
        .layer(InFlightLayer::new(health.clone()))
        .service(tower::service_fn(move |()| {
            let gate = gate.clone();
            async move {
                if let Some(rx) = gate.lock().await.take() {
                    let _ = rx.await;
                }
                Ok::<_, Infallible>("done")
            }
        }));
    let call = tokio::spawn(service.ready().await.unwrap().call(()));
    assert_eq!(health.in_flight(), 1);
    let drained = tokio::spawn({
        let health = health.clone();
        async move { health.drain(Duration::from_secs(5)).await }
    });
    tokio::task::yield_now().await;
    assert!(!drained.is_finished());
    gate_tx.send(()).unwrap();
    assert_eq!(call.await.unwrap().unwrap(), "done");
    drained.await.unwrap().unwrap();

    // A dropped call stops counting too.
    let call = service.ready().await.unwrap().call(());
    assert_eq!(health.in_flight(), 1);
    drop(call);
    assert_eq!(health.in_flight(), 0);
}

#[tokio::test(start_paused = true)]
async fn status_gauges_follow_the_summary() {
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};

    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let payments = breaker("payments");
    let (health, guard) = metrics::with_local_recorder(&recorder, || {
        let health = started();
        health.register_breaker(&payments, Criticality::critical());
        payments.force_open();
        // Brings the transition into the summary now, under this recorder,
        // rather than in the refresh task.
        let _ = health.summary();
        let guard = health.enter();
        (health, guard)
    });
    let _ = health.enter();
    type Labels = Vec<(String, String)>;
    let gauges: Vec<(String, Labels, f64)> = snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .filter_map(|(key, _, _, value)| match value {
            DebugValue::Gauge(v) => Some((
                key.key().name().to_owned(),
                key.key()
                    .labels()
                    .map(|l| (l.key().to_owned(), l.value().to_owned()))
                    .collect(),
                v.0,
            )),
            _ => None,
        })
        .collect();
    let gauge = |name: &str, labels: &[(&str, &str)]| {
        gauges
            .iter()
            .find(|(n, l, _)| {
                n == name
                    && l.len() == labels.len()
                    && labels
                        .iter()
                        .all(|(k, v)| l.contains(&((*k).to_owned(), (*v).to_owned())))
            })
            .map(|(_, _, v)| *v)
    };
    assert_eq!(
        gauge("seawall_health_status", &[("component", "payments")]),
        Some(2.0)
    );
    assert_eq!(gauge("seawall_health_overall_status", &[]), Some(2.0));
    assert_eq!(gauge("seawall_health_ready", &[]), Some(0.0));
    assert_eq!(gauge("seawall_health_in_flight", &[]), Some(1.0));
    drop(guard);
    drop(health);
}

#[tokio::test(start_paused = true)]
async fn registering_a_name_again_replaces_it_and_deregister_removes_it() {
    let health = started();
    let first = breaker("payments");
    let second = breaker("payments");
    health.register_breaker(&first, Criticality::critical());
    health.register_breaker(&second, Criticality::non_critical());
    second.force_open();
    let report = health.report().await;
    assert_eq!(report.components.len(), 1);
    assert_eq!(report.status, Status::Degraded);
    assert!(health.deregister("payments"));
    assert!(!health.deregister("payments"));
    assert_eq!(health.report().await.status, Status::Up);
}

#[tokio::test(start_paused = true)]
async fn a_breaker_and_a_bulkhead_may_share_a_name() {
    use seawall::bulkhead::{Bulkhead, BulkheadConfig};

    // The preset names its breaker and its bulkhead alike.
    let health = started();
    let api = breaker("api");
    let pool = Bulkhead::new(
        BulkheadConfig::builder()
            .name("api")
            .max_concurrent_calls(1)
            .build()
            .unwrap(),
    );
    health.register_breaker(&api, Criticality::critical());
    health.register_bulkhead(&pool, Criticality::critical());
    let report = health.report().await;
    let kinds: Vec<&str> = report.components.iter().map(|c| c.kind.as_str()).collect();
    assert_eq!(kinds, ["breaker", "bulkhead"]);

    // A name-keyed view shows the worse of the two.
    let _held = pool.try_acquire().unwrap();
    assert_eq!(health.report().await.status, Status::Degraded);
    assert_eq!(health.summary().by_name(), [("api", Status::Degraded)]);
    api.force_open();
    assert_eq!(health.summary().by_name(), [("api", Status::Down)]);
    assert!(health.deregister("api"));
    assert!(health.summary().components.is_empty());
}

// ---------------------------------------------------------------- HTTP service

type Response = http::Response<http_body_util::Full<bytes::Bytes>>;

async fn send(service: &mut HealthService, method: Method, path: &str, accept: &str) -> Response {
    let request = Request::builder()
        .method(method)
        .uri(path)
        .header(http::header::ACCEPT, accept)
        .body(())
        .unwrap();
    ServiceExt::<Request<()>>::ready(service)
        .await
        .unwrap()
        .call(request)
        .await
        .unwrap()
}

async fn body(response: Response) -> String {
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(bytes.to_vec()).unwrap()
}

async fn json(response: Response) -> Value {
    serde_json::from_str(&body(response).await).unwrap()
}

#[tokio::test(start_paused = true)]
async fn endpoints_answer_with_the_documented_schema() {
    let payments = breaker("payments");
    let health = started();
    health.register_breaker(&payments, Criticality::critical());
    health.register_check(
        Check::new("db", || async { Err::<(), _>("connection refused") }),
        Criticality::non_critical(),
    );
    let mut service = HealthService::new(health.clone()).details(true);

    let response = send(&mut service, Method::GET, "/health", "*/*").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/json");
    assert_eq!(response.headers()["cache-control"], "no-store");
    let report = json(response).await;
    assert_eq!(
        report,
        serde_json::json!({
            "status": "degraded",
            "live": true,
            "ready": true,
            "lifecycle": "serving",
            "in_flight": 0,
            "components": [
                {
                    "name": "payments", "kind": "breaker", "impact": "up",
                    "critical": true, "fallback": false, "status": "up", "state": "closed",
                    "extra": {"calls": 0, "failed_calls": 0, "slow_calls": 0, "not_permitted_calls": 0}
                },
                {
                    "name": "db", "kind": "check", "impact": "degraded",
                    "critical": false, "fallback": false, "status": "down",
                    "error": "connection refused"
                }
            ]
        })
    );

    let response = send(&mut service, Method::GET, "/readyz", "*/*").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        json(response).await,
        serde_json::json!({"status": "degraded", "live": true, "ready": true, "lifecycle": "serving"})
    );

    payments.force_open();
    let response = send(&mut service, Method::GET, "/readyz", "*/*").await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(json(response).await["status"], "down");
    let response = send(&mut service, Method::GET, "/health", "*/*").await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        json(response).await["components"][0]["state"],
        "forced_open"
    );

    let response = send(&mut service, Method::GET, "/livez", "*/*").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(body(response).await, r#"{"status":"up"}"#);
}

#[tokio::test(start_paused = true)]
async fn details_are_off_by_default() {
    let health = started();
    health.register_check(
        Check::new("db", || async { Err::<(), _>("password=hunter2 rejected") }),
        Criticality::critical(),
    );
    let mut service = HealthService::new(health);
    let response = send(&mut service, Method::GET, "/health", "*/*").await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let text = body(response).await;
    assert!(!text.contains("hunter2"));
    assert_eq!(
        serde_json::from_str::<Value>(&text).unwrap(),
        serde_json::json!({"status": "down", "live": true, "ready": false, "lifecycle": "serving"})
    );
    let response = send(&mut service, Method::GET, "/health", "text/html").await;
    assert!(!body(response).await.contains("hunter2"));
}

#[tokio::test(start_paused = true)]
async fn unknown_paths_other_methods_and_head() {
    let health = HealthRegistry::new();
    let mut service = HealthService::new(health.clone());

    let response = send(&mut service, Method::GET, "/metrics", "*/*").await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let response = send(&mut service, Method::POST, "/readyz", "*/*").await;
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(response.headers()["allow"], "GET, HEAD");
    let response = send(&mut service, Method::DELETE, "/nowhere", "*/*").await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);

    let response = send(&mut service, Method::HEAD, "/readyz", "*/*").await;
    assert_eq!(
        response.status(),
        StatusCode::SERVICE_UNAVAILABLE,
        "starting"
    );
    assert_ne!(response.headers()["content-length"], "0");
    assert_eq!(body(response).await, "");

    health.mark_started();
    let response = send(&mut service, Method::HEAD, "/health/", "*/*").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(body(response).await, "");

    // Draining: readiness and the report say 503, liveness stays 200.
    health.shutdown();
    let response = send(&mut service, Method::GET, "/health", "*/*").await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(json(response).await["lifecycle"], "draining");
    let response = send(&mut service, Method::GET, "/livez", "*/*").await;
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test(start_paused = true)]
async fn browsers_get_an_escaped_html_view() {
    let health = started();
    health.register_check(
        Check::new("<script>", || async { Err::<(), _>("a < b & c") }),
        Criticality::non_critical(),
    );
    let mut service = HealthService::new(health).details(true);
    let response = send(
        &mut service,
        Method::GET,
        "/health",
        "text/html,application/xhtml+xml",
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["content-type"],
        "text/html; charset=utf-8"
    );
    let html = body(response).await;
    assert!(html.starts_with("<!doctype html>"));
    assert!(html.contains("health: <span class=\"degraded\">degraded</span>"));
    assert!(html.contains("&lt;script&gt;"));
    assert!(html.contains("a &lt; b &amp; c"));
    assert!(!html.contains("<script>"));
}

// ---------------------------------------------------------------- real server

/// Bounds every network step: a hung server fails the test instead of the run.
async fn within<T>(what: &str, future: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(10), future)
        .await
        .unwrap_or_else(|_| panic!("{what} took longer than 10 s"))
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap()
}

async fn from_json(response: reqwest::Response) -> Value {
    serde_json::from_str(&response.text().await.unwrap()).unwrap()
}

type Handler = Pin<Box<dyn Future<Output = Result<&'static str, seawall::BoxError>> + Send>>;

#[tokio::test]
async fn axum_server_reports_a_breaker_tripping_recovering_and_a_graceful_shutdown() {
    use axum::routing::get;

    let dependency = breaker("inventory");
    let health = HealthRegistry::new();
    health.register_breaker(&dependency, Criticality::critical());

    // `/stock` calls the dependency through the breaker; it fails while `failing`.
    let failing = Arc::new(AtomicBool::new(false));
    // `/slow` waits for the test to let it finish, to be in flight during shutdown.
    let (release_tx, release_rx) = tokio::sync::watch::channel(false);
    let stock = {
        let dependency = dependency.clone();
        let failing = failing.clone();
        move || -> Handler {
            let dependency = dependency.clone();
            let failing = failing.clone();
            Box::pin(async move {
                dependency
                    .call(async move {
                        if failing.load(Ordering::SeqCst) {
                            Err("inventory is down")
                        } else {
                            Ok("in stock")
                        }
                    })
                    .await
            })
        }
    };
    let app = axum::Router::new()
        .route(
            "/stock",
            get(move || {
                let call = stock();
                async move {
                    match call.await {
                        Ok(text) => (StatusCode::OK, text),
                        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
                    }
                }
            }),
        )
        .route(
            "/slow",
            get(move || {
                let mut release = release_rx.clone();
                async move {
                    let _ = release.wait_for(|go| *go).await;
                    "finished"
                }
            }),
        )
        .layer(InFlightLayer::new(health.clone()))
        .nest_service("/health", HealthService::new(health.clone()).details(true))
        .route_service("/readyz", HealthService::new(health.clone()).details(false));

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn({
        let health = health.clone();
        async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    health.shutdown_requested().await;
                    health.drain(Duration::from_secs(5)).await.unwrap();
                })
                .await
        }
    });
    let client = client();
    let url = |path: &str| format!("http://{addr}{path}");
    let get = |path: &str| {
        let request = client.get(url(path));
        async move { within("a request", request.send()).await.unwrap() }
    };

    // Starting: not ready, yet alive.
    assert_eq!(get("/readyz").await.status(), 503);
    assert_eq!(get("/health/livez").await.status(), 200);
    health.mark_started();
    assert_eq!(get("/readyz").await.status(), 200);
    assert_eq!(get("/health/readyz").await.status(), 200);
    let report: Value = from_json(get("/health").await).await;
    assert_eq!(report["status"], "up");
    assert_eq!(report["components"][0]["name"], "inventory");
    assert_eq!(report["components"][0]["state"], "closed");

    // The dependency fails; four failures trip the breaker.
    assert_eq!(get("/stock").await.status(), 200);
    failing.store(true, Ordering::SeqCst);
    for _ in 0..3 {
        assert_eq!(get("/stock").await.status(), 503);
    }
    assert_eq!(dependency.state(), State::Open);
    let response = get("/health").await;
    assert_eq!(response.status(), 503);
    let report: Value = from_json(response).await;
    assert_eq!(report["status"], "down");
    assert_eq!(report["ready"], false);
    assert_eq!(report["components"][0]["state"], "open");
    assert_eq!(report["components"][0]["failure_rate"], 0.75);
    assert!(
        report["components"][0]["time_until_probe_ms"]
            .as_u64()
            .unwrap()
            > 0
    );
    let public: Value = from_json(get("/readyz").await).await;
    assert_eq!(public.get("components"), None, "details are off there");
    assert_eq!(get("/health/livez").await.status(), 200);
    assert_eq!(
        client.head(url("/health")).send().await.unwrap().status(),
        503
    );

    // It recovers.
    failing.store(false, Ordering::SeqCst);
    dependency.reset();
    assert_eq!(get("/readyz").await.status(), 200);
    assert_eq!(get("/stock").await.status(), 200);
    assert_eq!(get("/health/nope").await.status(), 404);
    assert_eq!(
        client
            .post(url("/health/readyz"))
            .send()
            .await
            .unwrap()
            .status(),
        405
    );

    // Shutdown with a request in flight.
    let slow = tokio::spawn(client.get(url("/slow")).send());
    within("the slow request to arrive", async {
        while health.in_flight() == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    health.shutdown();
    assert_eq!(get("/readyz").await.status(), 503, "at once");
    assert_eq!(get("/health/livez").await.status(), 200);
    assert!(!server.is_finished(), "still draining");
    release_tx.send(true).unwrap();
    let slow = within("the slow request", slow).await.unwrap().unwrap();
    assert_eq!(slow.status(), 200);
    assert_eq!(slow.text().await.unwrap(), "finished");
    drop(client);
    within("the server to exit", server).await.unwrap().unwrap();
    assert_eq!(health.in_flight(), 0);
}
