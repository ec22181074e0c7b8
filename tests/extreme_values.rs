//! Every duration seawall accepts, at its extremes: zero, one nanosecond,
//! `Duration::MAX`, the 7-day limit and either side of it, and random values.
//!
//! Each builder and setter either refuses the value with a `ConfigError`
//! naming the field and the allowed range, or accepts it (saturating where
//! documented). Whatever it accepts then runs: the built layer serves a few
//! calls on a paused clock, and nothing panics, neither at build time nor at
//! run time. Proptest reports any panic as a failure, with the value.
#![cfg(not(loom))]

use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use http::{Request, Response};
use proptest::prelude::*;
use seawall::breaker::error::BreakerOpen;
use seawall::breaker::{Breaker, BreakerConfig, BreakerLayer, HalfOpenTimeout, OpenWait};
use seawall::bulkhead::{Bulkhead, BulkheadConfig, BulkheadLayer};
use seawall::canary::{Canary, CanaryConfig, CanaryService};
use seawall::chaos::{Chaos, ChaosConfig, ChaosLayer, Fault, Latency};
use seawall::clock::Clock;
use seawall::health::{Check, Criticality, HealthRegistry, HealthService};
use seawall::resilience::ResilienceLayer;
use seawall::retry::{RatioBudget, RetryConfig, RetryLayer, StandardBackoff};
use seawall::timeout::{Deadline, TimeoutLayer};
use seawall::{BoxError, ConfigError};
use tower::{service_fn, Layer, Service, ServiceExt};

const SEVEN_DAYS: Duration = Duration::from_secs(7 * 24 * 3600);
const NS: Duration = Duration::from_nanos(1);

/// Zero, 1 ns, `MAX`, the limit and its neighbours, and random values of every
/// magnitude.
fn duration() -> impl Strategy<Value = Duration> {
    prop_oneof![
        Just(Duration::ZERO),
        Just(NS),
        Just(Duration::MAX),
        Just(SEVEN_DAYS),
        Just(SEVEN_DAYS + NS),
        Just(SEVEN_DAYS - NS),
        any::<u64>().prop_map(Duration::from_nanos),
        (any::<u64>(), 0u32..1_000_000_000).prop_map(|(secs, nanos)| Duration::new(secs, nanos)),
        (0u64..10_000_000_000).prop_map(Duration::from_nanos),
    ]
}

/// Runs `f` on a fresh runtime whose clock is paused (and so jumps ahead
/// whenever every task waits).
fn paused<F: Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap()
        .block_on(f)
}

/// A refusal is clear: it names one of `fields` and the allowed range.
fn clear(err: &ConfigError, fields: &[&str]) -> Result<(), TestCaseError> {
    prop_assert!(fields.contains(&err.field()), "unexpected field in {err}");
    prop_assert!(!err.allowed().is_empty(), "no allowed range in {err}");
    Ok(())
}

/// Lets virtual time pass, saturating far below where tokio's clock would
/// overflow.
async fn pass(duration: Duration) {
    tokio::time::advance(duration.min(SEVEN_DAYS * 2) + NS).await;
}

/// A service that fails every other call.
fn flaky() -> impl Service<u32, Response = u32, Error = BoxError, Future = impl Send> + Clone {
    let calls = Arc::new(AtomicU32::new(0));
    service_fn(move |n: u32| {
        let odd = calls.fetch_add(1, Ordering::Relaxed) % 2 == 1;
        async move {
            if odd {
                Err::<u32, BoxError>("refused".into())
            } else {
                Ok(n)
            }
        }
    })
}

/// Calls `service` a few times, letting `step` pass between calls.
async fn drive<S>(mut service: S, step: Duration)
where
    S: Service<u32>,
{
    for n in 0..6 {
        if let Ok(ready) = service.ready().await {
            let _ = ready.call(n).await;
        }
        pass(step).await;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn breaker_durations(d in duration(), buckets in 1u32..200, then_close in any::<bool>()) {
        let then = if then_close { HalfOpenTimeout::Close } else { HalfOpenTimeout::Open };
        let base = || BreakerConfig::builder().count_window(2).minimum_calls(2);
        // Each setter on its own with `d` (so that most cases build and run), then all at once.
        let configs = [
            (BreakerConfig::builder().time_window(d, buckets).minimum_calls(2).build(), "time_window.duration"),
            (base().slow_call_duration_threshold(d).build(), "slow_call_duration_threshold"),
            (base().open_wait(OpenWait::fixed(d)).build(), "open_wait.initial"),
            (base().open_wait(OpenWait::exponential(d, 2.0, SEVEN_DAYS)).build(), "open_wait.initial"),
            (base().open_wait(OpenWait::exponential(NS, 2.0, d)).build(), "open_wait.max"),
            (base().max_wait_in_half_open(d, then).build(), "max_wait_in_half_open"),
            (base().max_wait_in_half_open(d, then).open_wait(OpenWait::fixed(d)).eager_half_open(true).build(), "max_wait_in_half_open"),
            (
                BreakerConfig::builder()
                    .time_window(d, buckets)
                    .slow_call_duration_threshold(d)
                    .open_wait(OpenWait::exponential(d, 1.5, d))
                    .max_wait_in_half_open(d, then)
                    .eager_half_open(true)
                    .minimum_calls(2)
                    .build(),
                "time_window.duration",
            ),
        ];
        for (config, field) in configs {
            match config {
                Err(err) => clear(&err, &[field, "time_window.buckets", "open_wait.max", "slow_call_duration_threshold", "open_wait.initial", "max_wait_in_half_open"])?,
                Ok(config) => paused(async {
                    let breaker = Breaker::new(config);
                    drive(BreakerLayer::new(breaker.clone()).layer(flaky()), d).await;
                    drive(BreakerLayer::new(breaker.clone()).layer(flaky()), NS).await;
                    let _ = breaker.metrics();
                }),
            }
        }
    }

    #[test]
    fn breaker_on_a_manual_clock_at_its_end(wait in duration(), by in duration()) {
        let (clock, hand) = Clock::manual();
        let config = BreakerConfig::builder()
            .count_window(2)
            .minimum_calls(2)
            .open_wait(OpenWait::fixed(wait))
            .clock(clock)
            .build();
        match config {
            Err(err) => clear(&err, &["open_wait.initial", "open_wait.max"])?,
            Ok(config) => {
                let breaker = Breaker::new(config);
                for _ in 0..6 {
                    if let Ok(permit) = breaker.try_acquire() {
                        permit.failure();
                    }
                    hand.advance(by);
                    let _ = breaker.metrics();
                }
                hand.advance(Duration::MAX);
                let _ = breaker.try_acquire();
                let _ = breaker.metrics();
            }
        }
    }

    #[test]
    fn bulkhead_wait(max_wait in duration(), waiting in 0u32..4) {
        match BulkheadConfig::builder().max_concurrent_calls(1).wait_for_slot(waiting, max_wait).build() {
            Err(err) => clear(&err, &["wait_for_slot.max_wait", "wait_for_slot.max_waiting"])?,
            Ok(config) => paused(async {
                let bulkhead = Bulkhead::new(config);
                let held = bulkhead.try_acquire().unwrap();
                let waiter = tokio::spawn({
                    let service = BulkheadLayer::new(bulkhead.clone()).layer(flaky());
                    async move { drive(service, NS).await }
                });
                pass(max_wait).await;
                drop(held);
                waiter.await.unwrap();
            }),
        }
    }

    #[test]
    fn retry_durations(d in duration(), multiplier in 1.0f64..10.0) {
        let fields = ["timeout", "attempt_timeout", "max_pushback", "cap", "multiplier", "window"];
        let budget = RatioBudget::new(0.2, 10, d);
        if let Err(err) = &budget {
            clear(err, &fields)?;
        }
        let base = || RetryConfig::builder().max_attempts(3).no_budget();
        let builders = [
            base().timeout(d),
            base().attempt_timeout(d),
            base().max_pushback(d),
            base().backoff(StandardBackoff::new(d, multiplier)),
            base().backoff(StandardBackoff::new(NS, multiplier).with_cap(d)),
            base().backoff(StandardBackoff::linear(d, d)),
            base().backoff(StandardBackoff::linear(NS, d)),
            base().backoff(StandardBackoff::constant(d)),
            match &budget {
                Ok(budget) => base().budget(budget.clone()),
                Err(_) => base(),
            },
            base().timeout(d).attempt_timeout(d).max_pushback(d).backoff(StandardBackoff::new(d, multiplier).with_cap(d)),
        ];
        for builder in builders {
            match builder.build() {
                Err(err) => clear(&err, &fields)?,
                Ok(config) => paused(drive(RetryLayer::new(config).layer(flaky()), NS)),
            }
        }
    }

    #[test]
    fn timeout_and_deadline(timeout in duration(), takes in duration()) {
        let _ = Deadline::after(timeout).remaining();
        paused(async {
            let slow = service_fn(move |n: u32| async move {
                tokio::time::sleep(takes.min(SEVEN_DAYS)).await;
                Ok::<_, BoxError>(n)
            });
            drive(TimeoutLayer::new(timeout).layer(slow), NS).await;
        });
    }

    #[test]
    fn resilience_preset_timeout(timeout in duration()) {
        match ResilienceLayer::builder().timeout(timeout).build() {
            Err(err) => clear(&err, &["timeout"])?,
            Ok(layer) => paused(drive(layer.layer(flaky()), timeout)),
        }
    }

    #[test]
    fn chaos_latency(fixed in duration(), low in duration(), high in duration(), seed in any::<u64>()) {
        for latency in [Latency::fixed(fixed), Latency::between(low, high)] {
            let config = ChaosConfig::<u32>::builder()
                .seed(seed)
                .fault(Fault::latency(1.0, latency))
                .build();
            match config {
                Err(err) => clear(&err, &["fault.latency", "fault.latency.min"])?,
                Ok(config) => paused(drive(ChaosLayer::new(Chaos::new(config)).layer(flaky()), NS)),
            }
        }
    }

    #[test]
    fn canary_durations(d in duration()) {
        let base = || CanaryConfig::builder().min_requests(1);
        let configs = [
            base().hold(d).build(),
            base().analysis_interval(d).build(),
            base().min_latency_increase(d).build(),
            base().max_latency(d).build(),
            base().hold(d).analysis_interval(d).min_latency_increase(d).max_latency(d).build(),
        ];
        let fields = ["hold", "analysis_interval", "min_latency_increase", "max_latency"];
        for config in configs {
            match config {
                Err(err) => clear(&err, &fields)?,
                Ok(config) => paused(async {
                    let interval = config.analysis_interval();
                    let rollout = Canary::new(config);
                    let service = CanaryService::new(flaky(), flaky(), rollout.clone());
                    for _ in 0..4 {
                        drive(service.clone(), interval).await;
                        rollout.tick();
                    }
                    let _ = rollout.analysis();
                }),
            }
        }
    }

    #[test]
    fn health_durations(
        component_timeout in duration(),
        check_timeout in duration(),
        min_interval in duration(),
        refresh_every in duration(),
        drain in duration(),
    ) {
        paused(async {
            let health = HealthRegistry::with_component_timeout(component_timeout);
            health.register_check(
                Check::new("db", || async {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    Ok::<_, std::io::Error>(())
                })
                .timeout(check_timeout)
                .min_interval(min_interval),
                Criticality::critical(),
            );
            health.mark_started();
            let refresher = health.spawn_refresher(refresh_every);
            let endpoints = HealthService::new(health.clone());
            for path in ["/readyz", "/health", "/livez", "/readyz"] {
                let response = endpoints.clone().oneshot(Request::get(path).body(()).unwrap()).await;
                assert!(response.is_ok());
                pass(min_interval).await;
            }
            let detailed = endpoints.details(true);
            let _ = detailed.oneshot(Request::get("/health").body(()).unwrap()).await;
            let _ = health.report().await;
            assert!(!refresher.is_finished(), "the refresher lives on");
            refresher.abort();

            // Nothing in flight: done at once. One in flight: done when it leaves,
            // or timed out.
            health.drain(drain).await.unwrap();
            let guard = health.enter();
            let draining = tokio::spawn({
                let health = health.clone();
                async move { health.drain(drain).await }
            });
            tokio::time::sleep(Duration::from_secs(1)).await;
            drop(guard);
            let _ = draining.await.unwrap();
        });
    }

    #[test]
    fn error_responses_carry_a_sane_retry_after(default in duration(), carried in duration()) {
        use seawall::axum::ErrorResponseLayer;

        paused(async {
            for carried in [None, Some(carried)] {
                let failing = service_fn(move |_: Request<()>| async move {
                    Err::<Response<axum::body::Body>, BoxError>(BreakerOpen::new(carried).into())
                });
                let response = ErrorResponseLayer::new()
                    .default_retry_after(default)
                    .layer(failing)
                    .oneshot(Request::get("/").body(()).unwrap())
                    .await
                    .unwrap();
                let seconds: u64 = response.headers()["retry-after"].to_str().unwrap().parse().unwrap();
                assert!(seconds >= 1);
                if carried.is_none() {
                    assert!(seconds <= SEVEN_DAYS.as_secs(), "{seconds}");
                }
                let status = seawall::tonic::status_of(&*BoxError::from(BreakerOpen::new(carried)));
                assert_eq!(status.code(), tonic::Code::Unavailable);
            }
        });
    }
}

#[test]
fn the_reported_extremes_no_longer_panic() {
    paused(async {
        // `/readyz` and `/health` used to panic with "overflow when adding
        // duration to instant".
        let health = HealthRegistry::with_component_timeout(Duration::MAX);
        health.mark_started();
        for path in ["/readyz", "/health"] {
            for details in [false, true] {
                let response = HealthService::new(health.clone())
                    .details(details)
                    .oneshot(Request::get(path).body(()).unwrap())
                    .await
                    .unwrap();
                assert_eq!(response.status(), 200);
            }
        }
        // Panicked even with nothing in flight.
        health.drain(Duration::MAX).await.unwrap();
        // Used to end its task at once, silently.
        let refresher = health.spawn_refresher(Duration::ZERO);
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(!refresher.is_finished());
        refresher.abort();
    });
}
