#![cfg(feature = "retry")]
//! The retry layer: backoff, budgets, limits, pushback, replay, metrics.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use proptest::prelude::*;
use seawall::breaker::error::BreakerOpen;
use seawall::classify::Outcome;
use seawall::retry::error::BudgetExhausted;
use seawall::retry::{
    backoff_fn, AttemptEnd, Backoff, GrpcRetryThrottle, Jitter, JitterRng, RatioBudget,
    RetryBudget, RetryConfig, RetryDecision, RetryEvent, RetryLayer, RetryPolicy, StandardBackoff,
};
use seawall::{BoxError, ErrorKind};
use tokio::time::Instant;
use tokio_test::{assert_pending, assert_ready};
use tower::{service_fn, Layer, Service, ServiceExt};

const MS: Duration = Duration::from_millis(1);

// ---------------------------------------------------------------- helpers

type Script = Arc<Mutex<Vec<Result<u32, &'static str>>>>;

/// A service that answers from `script` in order and records when it was called,
/// relative to `start`.
#[derive(Clone)]
struct Scripted {
    script: Script,
    calls: Arc<Mutex<Vec<Duration>>>,
    start: Instant,
}

impl Scripted {
    fn new(script: Vec<Result<u32, &'static str>>) -> Self {
        Self {
            script: Arc::new(Mutex::new(script.into_iter().rev().collect())),
            calls: Arc::default(),
            start: Instant::now(),
        }
    }

    fn call_times(&self) -> Vec<Duration> {
        self.calls.lock().unwrap().clone()
    }
}

impl Service<u32> for Scripted {
    type Response = u32;
    type Error = BoxError;
    type Future = std::future::Ready<Result<u32, BoxError>>;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), BoxError>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: u32) -> Self::Future {
        self.calls.lock().unwrap().push(self.start.elapsed());
        let next = self
            .script
            .lock()
            .unwrap()
            .pop()
            .unwrap_or(Err("script ran out"));
        std::future::ready(next.map_err(Into::into))
    }
}

fn constant(delay: Duration) -> StandardBackoff {
    StandardBackoff::constant(delay)
}

fn config() -> seawall::retry::RetryConfigBuilder {
    RetryConfig::builder()
        .seed(7)
        .no_budget()
        .backoff(constant(100 * MS))
}

fn events() -> (
    Arc<Mutex<Vec<String>>>,
    impl Fn(&RetryEvent<'_>) + Send + Sync + 'static,
) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    (seen, move |event: &RetryEvent<'_>| {
        let line = match event {
            RetryEvent::Scheduled {
                attempt,
                delay,
                reason,
                pushback,
                ..
            } => {
                format!(
                    "retry after attempt {attempt} in {delay:?} ({reason}, pushback {pushback})"
                )
            }
            RetryEvent::BudgetExhausted { attempt, .. } => {
                format!("budget refused after {attempt}")
            }
            RetryEvent::GaveUp {
                attempts, reason, ..
            } => format!("gave up after {attempts}: {reason}"),
            other => format!("{other:?}"),
        };
        log.lock().unwrap().push(line);
    })
}

// ---------------------------------------------------------------- backoff

fn backoff_strategy() -> impl Strategy<Value = StandardBackoff> {
    let jitter = prop_oneof![
        Just(Jitter::None),
        Just(Jitter::Full),
        Just(Jitter::Equal),
        Just(Jitter::Decorrelated)
    ];
    let base = 1u64..5_000;
    let cap_extra = 0u64..100_000;
    let growth = prop_oneof![Just(0u8), Just(1u8), Just(2u8),];
    (base, cap_extra, growth, 1.0f64..4.0, 0u64..2_000, jitter).prop_map(
        |(base, extra, growth, multiplier, step, jitter)| {
            let base = Duration::from_millis(base);
            let cap = base + Duration::from_millis(extra);
            let backoff = match growth {
                0 => StandardBackoff::constant(base),
                1 => StandardBackoff::linear(base, Duration::from_millis(step)),
                _ => StandardBackoff::new(base, multiplier),
            };
            backoff.with_cap(cap).with_jitter(jitter)
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Every delay is within its formula's bounds and never above the cap, for
    /// retries 1 to 1,000, with each retry fed the previous delay.
    #[test]
    fn every_delay_is_within_its_formula_and_the_cap(backoff in backoff_strategy(), seed in any::<u64>()) {
        prop_assert!(backoff.validate().is_ok());
        let mut rng = JitterRng::seeded(seed);
        let mut previous = None;
        for retry in 1..=1_000u32 {
            let t = backoff.unjittered(retry);
            prop_assert!(t <= backoff.cap());
            let delay = backoff.delay(retry, previous, &mut rng);
            prop_assert!(delay <= backoff.cap(), "retry {}: {:?} over the cap", retry, delay);
            match backoff.jitter() {
                Jitter::None => prop_assert_eq!(delay, t),
                Jitter::Full => prop_assert!(delay <= t),
                Jitter::Equal => prop_assert!(delay >= t / 2 && delay <= t),
                Jitter::Decorrelated => {
                    let high = previous.unwrap_or(backoff.base()) * 3;
                    prop_assert!(delay >= backoff.base().min(backoff.cap()));
                    prop_assert!(delay <= high.max(backoff.base()).min(backoff.cap()));
                }
            }
            previous = Some(delay);
        }
    }

    /// The same seed gives the same delays.
    #[test]
    fn seeded_delays_are_reproducible(backoff in backoff_strategy(), seed in any::<u64>()) {
        let run = || {
            let mut rng = JitterRng::seeded(seed);
            let mut previous = None;
            (1..=50u32).map(|retry| {
                let delay = backoff.delay(retry, previous, &mut rng);
                previous = Some(delay);
                delay
            }).collect::<Vec<_>>()
        };
        prop_assert_eq!(run(), run());
    }
}

#[test]
fn exponential_growth_is_exact_until_the_cap() {
    let backoff = StandardBackoff::new(100 * MS, 2.0)
        .with_cap(Duration::from_secs(1))
        .with_jitter(Jitter::None);
    let delays: Vec<_> = (1..=6).map(|n| backoff.unjittered(n)).collect();
    assert_eq!(
        delays,
        [100 * MS, 200 * MS, 400 * MS, 800 * MS, 1000 * MS, 1000 * MS]
    );
}

#[test]
fn huge_retry_numbers_saturate_at_the_cap() {
    let cap = Duration::from_secs(30);
    for jitter in [
        Jitter::None,
        Jitter::Full,
        Jitter::Equal,
        Jitter::Decorrelated,
    ] {
        for backoff in [
            StandardBackoff::new(Duration::from_secs(1), 10.0),
            StandardBackoff::linear(Duration::from_secs(1), Duration::MAX),
            StandardBackoff::constant(Duration::from_secs(1)),
        ] {
            let backoff = backoff.with_cap(cap).with_jitter(jitter);
            let delay = backoff.delay(u32::MAX, Some(Duration::MAX), &mut JitterRng::seeded(1));
            assert!(delay <= cap, "{backoff:?}: {delay:?}");
        }
    }
    let max = StandardBackoff::new(Duration::from_secs(1), 3.0)
        .with_cap(Duration::MAX)
        .with_jitter(Jitter::None);
    assert!(max.delay(u32::MAX, None, &mut JitterRng::seeded(1)) > Duration::from_secs(1));
}

#[test]
fn bad_backoff_settings_are_rejected_by_the_builder() {
    let err = RetryConfig::builder()
        .backoff(StandardBackoff::new(100 * MS, 0.5))
        .build()
        .unwrap_err();
    assert_eq!(err.field(), "multiplier");
    let err = RetryConfig::builder()
        .backoff(StandardBackoff::new(100 * MS, f64::NAN))
        .build()
        .unwrap_err();
    assert_eq!(err.field(), "multiplier");
    let err = RetryConfig::builder()
        .backoff(StandardBackoff::new(Duration::from_secs(2), 2.0).with_cap(Duration::from_secs(1)))
        .build()
        .unwrap_err();
    assert_eq!(err.field(), "cap");
    let err = RetryConfig::builder().max_attempts(0).build().unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid configuration: `max_attempts` is 0, allowed: from 1 to 100"
    );
    assert_eq!(
        RetryConfig::builder()
            .timeout(Duration::ZERO)
            .build()
            .unwrap_err()
            .field(),
        "timeout"
    );
    assert_eq!(
        RatioBudget::new(-0.1, 0, Duration::from_secs(10))
            .unwrap_err()
            .field(),
        "ratio"
    );
    assert_eq!(
        RatioBudget::new(0.1, 0, Duration::ZERO)
            .unwrap_err()
            .field(),
        "window"
    );
    assert_eq!(
        GrpcRetryThrottle::new(0, 0.1).unwrap_err().field(),
        "max_tokens"
    );
    assert_eq!(
        GrpcRetryThrottle::new(10, 0.0).unwrap_err().field(),
        "token_ratio"
    );
}

// ---------------------------------------------------------------- the service

#[tokio::test(start_paused = true)]
async fn errors_are_retried_after_the_backoff() {
    let inner = Scripted::new(vec![Err("reset"), Err("reset"), Ok(5)]);
    let mut service =
        RetryLayer::new(config().max_attempts(3).build().unwrap()).layer(inner.clone());
    assert_eq!(service.ready().await.unwrap().call(1).await.unwrap(), 5);
    assert_eq!(inner.call_times(), [Duration::ZERO, 100 * MS, 200 * MS]);
}

#[tokio::test(start_paused = true)]
async fn a_success_is_not_retried() {
    let inner = Scripted::new(vec![Ok(1), Ok(2)]);
    let mut service = RetryLayer::new(config().build().unwrap()).layer(inner.clone());
    assert_eq!(service.ready().await.unwrap().call(1).await.unwrap(), 1);
    assert_eq!(inner.call_times().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn max_attempts_bounds_the_attempts_and_the_last_error_is_returned() {
    let (seen, listener) = events();
    let inner = Scripted::new(vec![Err("one"), Err("two"), Err("three"), Ok(4)]);
    let mut service = RetryLayer::new(config().max_attempts(3).on_event(listener).build().unwrap())
        .layer(inner.clone());
    let err = service.ready().await.unwrap().call(1).await.unwrap_err();
    assert_eq!(err.to_string(), "three");
    assert_eq!(inner.call_times().len(), 3);
    assert_eq!(
        *seen.lock().unwrap(),
        [
            "retry after attempt 1 in 100ms (error, pushback false)",
            "retry after attempt 2 in 100ms (error, pushback false)",
            "gave up after 3: max_attempts",
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn the_wait_is_virtual_and_pending_until_the_delay_passes() {
    let (mut service, mut handle) =
        tower_test::mock::spawn_layer::<u32, u32, _>(RetryLayer::new(config().build().unwrap()));
    assert_ready!(service.poll_ready()).unwrap();
    let mut call = tokio_test::task::spawn(service.call(1));
    assert_pending!(call.poll());
    let (request, reply) = handle.next_request().await.unwrap();
    assert_eq!(request, 1);
    reply.send_error("reset");
    assert_pending!(call.poll());
    tokio::time::advance(99 * MS).await;
    assert_pending!(call.poll());
    tokio::time::advance(MS).await;
    assert_pending!(call.poll());
    let (request, reply) = handle.next_request().await.unwrap();
    assert_eq!(request, 1, "the retry sends the same request");
    reply.send_response(9);
    assert_eq!(assert_ready!(call.poll()).unwrap(), 9);
}

#[tokio::test(start_paused = true)]
async fn a_retry_waits_for_the_inner_service_to_be_ready() {
    let (mut service, mut handle) =
        tower_test::mock::spawn_layer::<u32, u32, _>(RetryLayer::new(config().build().unwrap()));
    handle.allow(1);
    assert_ready!(service.poll_ready()).unwrap();
    let mut call = tokio_test::task::spawn(service.call(1));
    assert_pending!(call.poll());
    let (_, reply) = handle.next_request().await.unwrap();
    reply.send_error("reset");
    assert_pending!(call.poll()); // the wait starts
    tokio::time::advance(100 * MS).await;
    // Not allowed yet: the retry is held back, not sent.
    assert_pending!(call.poll());
    assert!(futures::FutureExt::now_or_never(handle.next_request()).is_none());
    handle.allow(1);
    assert_pending!(call.poll());
    let (_, reply) = handle.next_request().await.unwrap();
    reply.send_response(3);
    assert_eq!(assert_ready!(call.poll()).unwrap(), 3);
}

#[tokio::test(start_paused = true)]
async fn rejections_are_not_retried_by_default() {
    let calls = Arc::new(Mutex::new(0));
    let counter = calls.clone();
    let open = service_fn(move |_: u32| {
        *counter.lock().unwrap() += 1;
        async { Err::<u32, BoxError>(BreakerOpen::new(None).into()) }
    });
    let mut service = RetryLayer::new(config().build().unwrap()).layer(open.clone());
    let err = service.ready().await.unwrap().call(1).await.unwrap_err();
    assert_eq!(ErrorKind::of(&*err), ErrorKind::BreakerOpen);
    assert_eq!(*calls.lock().unwrap(), 1);

    let exhausted = service_fn(|_: u32| async {
        Err::<u32, BoxError>(BudgetExhausted::new("inner".into()).into())
    });
    let mut service = RetryLayer::new(config().build().unwrap()).layer(exhausted);
    let err = service.ready().await.unwrap().call(1).await.unwrap_err();
    assert_eq!(ErrorKind::of(&*err), ErrorKind::BudgetExhausted);

    *calls.lock().unwrap() = 0;
    let mut service = RetryLayer::new(
        config()
            .max_attempts(3)
            .retry_rejections(true)
            .build()
            .unwrap(),
    )
    .layer(open);
    service.ready().await.unwrap().call(1).await.unwrap_err();
    assert_eq!(*calls.lock().unwrap(), 3, "retried when asked to");
}

#[tokio::test(start_paused = true)]
async fn a_closure_policy_decides_what_is_retried() {
    let inner = Scripted::new(vec![Ok(503), Ok(503), Ok(200)]);
    let mut service = RetryLayer::new(config().max_attempts(5).build().unwrap())
        .with_policy(|result: &Result<u32, BoxError>| matches!(result, Ok(503)))
        .layer(inner.clone());
    assert_eq!(service.ready().await.unwrap().call(1).await.unwrap(), 200);
    assert_eq!(inner.call_times().len(), 3);

    // Out of attempts on a retryable response: the response is returned as is.
    let inner = Scripted::new(vec![Ok(503), Ok(503)]);
    let mut service = RetryLayer::new(config().max_attempts(2).build().unwrap())
        .with_policy(|result: &Result<u32, BoxError>| matches!(result, Ok(503)))
        .layer(inner);
    assert_eq!(service.ready().await.unwrap().call(1).await.unwrap(), 503);
}

#[tokio::test(start_paused = true)]
async fn only_what_the_classifier_calls_a_failure_is_retried() {
    use seawall::classify::Classify;
    use seawall::retry::RetryOnFailure;

    // 5xx fails, other responses succeed, errors say nothing about the dependency.
    let classifier = |result: &Result<u32, BoxError>| match result {
        Ok(status) if *status >= 500 => Outcome::Failure,
        Ok(_) => Outcome::Success,
        Err(_) => Outcome::Ignored,
    };
    assert_eq!(classifier.classify(&Ok(503)), Outcome::Failure);
    let policy = RetryOnFailure::new(classifier);

    let inner = Scripted::new(vec![Ok(503), Ok(502), Ok(404)]);
    let mut service = RetryLayer::new(config().max_attempts(5).build().unwrap())
        .with_policy(policy)
        .layer(inner.clone());
    assert_eq!(service.ready().await.unwrap().call(1).await.unwrap(), 404);
    assert_eq!(
        inner.call_times().len(),
        3,
        "two failures retried, a success stands"
    );

    let inner = Scripted::new(vec![Err("cancelled"), Ok(200)]);
    let mut service = RetryLayer::new(config().max_attempts(5).build().unwrap())
        .with_policy(policy)
        .layer(inner.clone());
    service.ready().await.unwrap().call(1).await.unwrap_err();
    assert_eq!(inner.call_times().len(), 1, "an ignored result stands");
}

#[cfg(feature = "bulkhead")]
#[tokio::test(start_paused = true)]
async fn rejections_retried_on_request_count_as_failures_where_the_classifier_ignores_them() {
    use seawall::bulkhead::error::BulkheadFull;
    use seawall::classify::{Classify, FailOnError};
    use seawall::retry::RetryOnFailure;

    let full: Result<u32, BoxError> = Err(BulkheadFull::new().into());
    assert_eq!(FailOnError.classify(&full), Outcome::Ignored);
    let calls = Arc::new(Mutex::new(0));
    let counter = calls.clone();
    let full = service_fn(move |_: u32| {
        *counter.lock().unwrap() += 1;
        async { Err::<u32, BoxError>(BulkheadFull::new().into()) }
    });
    for retry_rejections in [false, true] {
        *calls.lock().unwrap() = 0;
        let mut service = RetryLayer::new(
            config()
                .max_attempts(3)
                .retry_rejections(retry_rejections)
                .build()
                .unwrap(),
        )
        .with_policy(RetryOnFailure::new(FailOnError))
        .layer(full.clone());
        let err = service.ready().await.unwrap().call(1).await.unwrap_err();
        assert_eq!(ErrorKind::of(&*err), ErrorKind::BulkheadFull);
        let expected = if retry_rejections { 3 } else { 1 };
        assert_eq!(
            *calls.lock().unwrap(),
            expected,
            "retry_rejections {retry_rejections}"
        );
    }
}

/// A policy that retries everything after a fixed pushback.
#[derive(Clone)]
struct Pushback(RetryDecision);

impl<Req, Res, E> RetryPolicy<Req, Res, E> for Pushback {
    fn classify(&self, result: &Result<Res, E>) -> Outcome {
        if result.is_ok() {
            Outcome::Success
        } else {
            Outcome::Failure
        }
    }

    fn decide(&self, _: &Req, result: &Result<Res, E>) -> RetryDecision {
        if result.is_ok() {
            RetryDecision::Accept
        } else {
            self.0
        }
    }
}

#[tokio::test(start_paused = true)]
async fn pushback_replaces_the_backoff_and_is_clamped() {
    let (seen, listener) = events();
    let inner = Scripted::new(vec![Err("busy"), Ok(1)]);
    let mut service = RetryLayer::new(config().on_event(listener).build().unwrap())
        .with_policy(Pushback(RetryDecision::RetryAfter(Duration::from_secs(3))))
        .layer(inner.clone());
    service.ready().await.unwrap().call(1).await.unwrap();
    assert_eq!(inner.call_times(), [Duration::ZERO, Duration::from_secs(3)]);
    assert_eq!(
        *seen.lock().unwrap(),
        ["retry after attempt 1 in 3s (error, pushback true)"]
    );

    let inner = Scripted::new(vec![Err("busy"), Ok(1)]);
    let mut service = RetryLayer::new(
        config()
            .max_pushback(Duration::from_secs(2))
            .build()
            .unwrap(),
    )
    .with_policy(Pushback(RetryDecision::RetryAfter(Duration::from_secs(
        3600,
    ))))
    .layer(inner.clone());
    service.ready().await.unwrap().call(1).await.unwrap();
    assert_eq!(inner.call_times(), [Duration::ZERO, Duration::from_secs(2)]);
}

#[tokio::test(start_paused = true)]
async fn do_not_retry_pushback_stops_at_once() {
    let (seen, listener) = events();
    let inner = Scripted::new(vec![Err("busy"), Ok(1)]);
    let mut service = RetryLayer::new(config().on_event(listener).build().unwrap())
        .with_policy(Pushback(RetryDecision::DoNotRetry))
        .layer(inner.clone());
    assert_eq!(
        service
            .ready()
            .await
            .unwrap()
            .call(1)
            .await
            .unwrap_err()
            .to_string(),
        "busy"
    );
    assert_eq!(inner.call_times().len(), 1);
    assert_eq!(*seen.lock().unwrap(), ["gave up after 1: pushback"]);
}

#[tokio::test(start_paused = true)]
async fn an_attempt_that_cannot_finish_before_the_deadline_is_not_started() {
    // Attempts fail at once; each retry waits 300 ms and may take up to 400 ms.
    // Retry 1 starts at 300 ms (ends by 700), retry 2 at 600 ms (ends by 1000): both fit a
    // 1 s deadline. Retry 3 would start at 900 ms and could end at 1300: not started.
    let (seen, listener) = events();
    let inner = Scripted::new(vec![Err("e"); 10]);
    let mut service = RetryLayer::new(
        config()
            .max_attempts(10)
            .backoff(constant(300 * MS))
            .timeout(Duration::from_secs(1))
            .attempt_timeout(400 * MS)
            .on_event(listener)
            .build()
            .unwrap(),
    )
    .layer(inner.clone());
    service.ready().await.unwrap().call(1).await.unwrap_err();
    assert_eq!(inner.call_times(), [Duration::ZERO, 300 * MS, 600 * MS]);
    assert_eq!(
        seen.lock().unwrap().last().unwrap(),
        "gave up after 3: deadline"
    );

    // Without an attempt timeout, only attempts that would start after the deadline are dropped.
    let inner = Scripted::new(vec![Err("e"); 10]);
    let mut service = RetryLayer::new(
        config()
            .max_attempts(10)
            .backoff(constant(300 * MS))
            .timeout(Duration::from_secs(1))
            .build()
            .unwrap(),
    )
    .layer(inner.clone());
    service.ready().await.unwrap().call(1).await.unwrap_err();
    assert_eq!(
        inner.call_times(),
        [Duration::ZERO, 300 * MS, 600 * MS, 900 * MS]
    );
}

#[tokio::test(start_paused = true)]
async fn a_custom_backoff_closure_sets_the_waits() {
    let inner = Scripted::new(vec![Err("e"), Err("e"), Err("e"), Ok(1)]);
    let mut service = RetryLayer::new(
        config()
            .max_attempts(4)
            .backoff(backoff_fn(|retry| {
                Duration::from_millis(10 * u64::from(retry))
            }))
            .build()
            .unwrap(),
    )
    .layer(inner.clone());
    service.ready().await.unwrap().call(1).await.unwrap();
    assert_eq!(
        inner.call_times(),
        [Duration::ZERO, 10 * MS, 30 * MS, 60 * MS]
    );
}

#[tokio::test(start_paused = true)]
async fn a_seeded_layer_repeats_its_jittered_waits() {
    async fn waits(seed: u64) -> Vec<Duration> {
        let inner = Scripted::new(vec![Err("e"); 5]);
        let mut service = RetryLayer::new(
            RetryConfig::builder()
                .seed(seed)
                .no_budget()
                .max_attempts(5)
                .backoff(StandardBackoff::new(100 * MS, 2.0).with_jitter(Jitter::Full))
                .build()
                .unwrap(),
        )
        .layer(inner.clone());
        for _ in 0..2 {
            service.ready().await.unwrap().call(1).await.unwrap_err();
        }
        inner.call_times()
    }
    let first = waits(42).await;
    assert_eq!(first.len(), 10);
    assert_eq!(first, waits(42).await);
    assert_ne!(first, waits(43).await);
}

// ---------------------------------------------------------------- budgets

#[tokio::test(start_paused = true)]
async fn under_total_failure_a_ratio_budget_bounds_the_attempts() {
    let ratio = 0.2;
    let floor_per_second = 2;
    let window = Duration::from_secs(10);
    let budget = RatioBudget::new(ratio, floor_per_second, window).unwrap();
    let (seen, listener) = events();
    let inner = Scripted::new(vec![Err("down"); 100_000]);
    let mut service = RetryLayer::new(
        config()
            .max_attempts(5)
            .backoff(constant(Duration::ZERO))
            .budget(budget.clone())
            .on_event(listener)
            .build()
            .unwrap(),
    )
    .layer(inner.clone());
    // 1,000 requests over 10 s of virtual time: inside one budget window.
    let requests = 1_000u32;
    let mut refused = 0;
    for _ in 0..requests {
        let err = service.ready().await.unwrap().call(1).await.unwrap_err();
        if ErrorKind::of(&*err) == ErrorKind::BudgetExhausted {
            assert_eq!(
                std::error::Error::source(&*err).unwrap().to_string(),
                "down"
            );
            refused += 1;
        }
        tokio::time::advance(9 * MS).await;
    }
    let attempts = inner.call_times().len() as f64;
    let bound =
        (1.0 + ratio) * f64::from(requests) + f64::from(floor_per_second) * window.as_secs_f64();
    assert!(
        attempts <= bound,
        "{attempts} attempts for {requests} requests, bound {bound}"
    );
    // Not a vacuous bound: retries did happen, and the budget did refuse.
    assert!(
        attempts > f64::from(requests) * (1.0 + ratio / 2.0),
        "{attempts}"
    );
    assert!(refused > requests / 2, "{refused}");
    assert!(seen
        .lock()
        .unwrap()
        .iter()
        .any(|e| e.starts_with("budget refused")));
}

#[test]
fn a_ratio_budget_refills_as_the_window_slides() {
    let (clock, hand) = seawall::clock::Clock::manual();
    let budget = RatioBudget::with_clock(0.5, 0, Duration::from_secs(10), clock).unwrap();
    for _ in 0..4 {
        budget.deposit();
    }
    assert_eq!(budget.level(), 2.0);
    assert!(budget.try_withdraw(AttemptEnd::Failed).is_some());
    assert!(budget.try_withdraw(AttemptEnd::Failed).is_some());
    assert!(budget.try_withdraw(AttemptEnd::Failed).is_none());
    // The spending ages out with the deposits: still nothing.
    hand.advance(Duration::from_secs(11));
    assert!(budget.try_withdraw(AttemptEnd::Failed).is_none());
    // New traffic earns new retries.
    budget.deposit();
    budget.deposit();
    assert!(budget.try_withdraw(AttemptEnd::Failed).is_some());
    assert!(budget.try_withdraw(AttemptEnd::Failed).is_none());
}

#[test]
fn a_ratio_budget_floor_allows_retries_without_traffic() {
    let (clock, hand) = seawall::clock::Clock::manual();
    let budget = RatioBudget::with_clock(0.0, 1, Duration::from_secs(5), clock).unwrap();
    for _ in 0..5 {
        assert!(budget.try_withdraw(AttemptEnd::Failed).is_some());
    }
    assert!(budget.try_withdraw(AttemptEnd::Failed).is_none());
    hand.advance(Duration::from_secs(6));
    assert!(
        budget.try_withdraw(AttemptEnd::Failed).is_some(),
        "the floor refills once the window has passed"
    );
}

#[tokio::test(start_paused = true)]
async fn a_token_bucket_stops_retries_under_failure_and_refills_under_success() {
    let budget = GrpcRetryThrottle::new(10, 1.0).unwrap();
    let inner = Scripted::new(
        std::iter::repeat_n(Err("down"), 20)
            .chain(std::iter::repeat_n(Ok(1), 20))
            .collect(),
    );
    let mut service = RetryLayer::new(
        config()
            .max_attempts(3)
            .backoff(constant(Duration::ZERO))
            .budget(budget.clone())
            .build()
            .unwrap(),
    )
    .layer(inner.clone());
    let first = service.ready().await.unwrap().call(1).await.unwrap_err();
    assert_eq!(first.to_string(), "down", "out of attempts, not of budget");
    assert_eq!(budget.level(), 7.0);
    let second = service.ready().await.unwrap().call(1).await.unwrap_err();
    assert_eq!(ErrorKind::of(&*second), ErrorKind::BudgetExhausted);
    // 10 tokens, one per failure, retries only above 5: six failed attempts in all.
    assert_eq!(inner.call_times().len(), 5);
    assert!(budget.level() <= 5.0);
    assert!(budget.try_withdraw(AttemptEnd::Failed).is_none());

    let inner = Scripted::new(vec![Ok(1); 10]);
    let mut service =
        RetryLayer::new(config().budget(budget.clone()).build().unwrap()).layer(inner);
    for _ in 0..3 {
        service.ready().await.unwrap().call(1).await.unwrap();
    }
    assert!(
        budget.try_withdraw(AttemptEnd::Failed).is_some(),
        "successes put tokens back"
    );
    assert_eq!(budget.level(), 8.0);
}

#[test]
fn a_shared_budget_is_shared_by_clones_and_threads() {
    let budget = RatioBudget::new(1.0, 0, Duration::from_secs(10)).unwrap();
    std::thread::scope(|scope| {
        for _ in 0..4 {
            let budget = budget.clone();
            scope.spawn(move || {
                for _ in 0..1_000 {
                    budget.deposit();
                }
            });
        }
    });
    assert_eq!(budget.level(), 4_000.0);
}

// ---------------------------------------------------------------- metrics

#[tokio::test(start_paused = true)]
async fn metrics_count_attempts_retries_refusals_and_give_ups() {
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let layer = metrics::with_local_recorder(&recorder, || {
        RetryLayer::new(
            config()
                .name("orders")
                .max_attempts(2)
                .budget(GrpcRetryThrottle::new(4, 1.0).unwrap())
                .build()
                .unwrap(),
        )
    });
    let inner = Scripted::new(vec![Err("a"), Ok(1), Err("b"), Err("c"), Err("d")]);
    let mut service = layer.layer(inner);
    service.ready().await.unwrap().call(1).await.unwrap(); // a, retried, ok
    service.ready().await.unwrap().call(1).await.unwrap_err(); // b, c: out of attempts
    service.ready().await.unwrap().call(1).await.unwrap_err(); // d: budget refuses

    let values: std::collections::HashMap<String, DebugValue> = snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(key, _, _, value)| {
            let key = key.key();
            let mut labels: Vec<String> = key
                .labels()
                .map(|l| format!("{}={}", l.key(), l.value()))
                .collect();
            labels.sort();
            (format!("{}{{{}}}", key.name(), labels.join(",")), value)
        })
        .collect();
    let counter = |name: &str| match values.get(name) {
        Some(DebugValue::Counter(n)) => *n,
        other => panic!("{name}: {other:?}"),
    };
    assert_eq!(counter("seawall_retry_attempts_total{name=orders}"), 5);
    assert_eq!(
        counter("seawall_retry_retries_total{name=orders,reason=error}"),
        2
    );
    assert_eq!(
        counter("seawall_retry_retries_total{name=orders,reason=response}"),
        0
    );
    assert_eq!(
        counter("seawall_retry_budget_refusals_total{name=orders}"),
        1
    );
    assert_eq!(
        counter("seawall_retry_give_ups_total{name=orders,reason=max_attempts}"),
        1
    );
    match values.get("seawall_retry_budget_level{name=orders}") {
        Some(DebugValue::Gauge(level)) => assert_eq!(level.into_inner(), 1.0),
        other => panic!("budget level: {other:?}"),
    }
}

// ---------------------------------------------------------------- pushback parsing

#[cfg(feature = "http")]
#[test]
fn retry_after_parsing_table() {
    use seawall::retry::parse_retry_after as retry_after;
    use std::time::UNIX_EPOCH;
    // Sun, 06 Nov 1994 08:49:37 GMT
    let now = UNIX_EPOCH + Duration::from_secs(784_111_777);
    let s = Duration::from_secs;
    let table: &[(&[u8], Option<Duration>)] = &[
        (b"0", Some(s(0))),
        (b"1", Some(s(1))),
        (b"120", Some(s(120))),
        (b"  7 ", Some(s(7))),
        (
            b"99999999999999999999999999",
            Some(Duration::from_secs(u64::MAX)),
        ),
        (b"Sun, 06 Nov 1994 08:49:47 GMT", Some(s(10))),
        (b"Sunday, 06-Nov-94 08:49:47 GMT", Some(s(10))),
        (b"Sun Nov  6 08:49:47 1994", Some(s(10))),
        (b"Sun, 06 Nov 1994 08:00:00 GMT", Some(s(0))), // in the past: no wait
        (b"", None),
        (b" ", None),
        (b"-1", None),
        (b"+5", None),
        (b"1.5", None),
        (b"5s", None),
        (b"soon", None),
        (b"Sun, 06 Nov 1994 25:49:47 GMT", None),
        (b"Sun, 32 Nov 1994 08:49:47 GMT", None),
        (b"\xff\xfe", None),
        (b"1 2", None),
    ];
    for (value, expected) in table {
        assert_eq!(
            retry_after(value, now),
            *expected,
            "{:?}",
            String::from_utf8_lossy(value)
        );
    }
}

/// `grpc-retry-pushback-ms`, decided against gRPC's retry design (A6) first,
/// then grpc-go (`strconv.Atoi`, 64-bit) and grpc-java (`Integer.valueOf`, 32-bit).
#[test]
fn grpc_pushback_parsing_table() {
    use seawall::retry::{parse_grpc_pushback as grpc_pushback, GrpcPushback};
    let after = |ms| GrpcPushback::After(Duration::from_millis(ms));
    let no = GrpcPushback::DoNotRetry;
    let table: &[(&[u8], GrpcPushback)] = &[
        // A6: "an ASCII encoded signed 32-bit integer"; all three agree.
        (b"0", after(0)),
        (b"250", after(250)),
        // A6 asks for no unnecessary leading zeros; grpc-go and grpc-java both accept them.
        (b"0010", after(10)),
        // grpc-go (Atoi) and grpc-java (Integer.valueOf) both read a plus sign: 5 ms.
        (b"+5", after(5)),
        // Both read -0 as zero, and zero is not negative (A6): retry at once.
        (b"-0", after(0)),
        // The largest signed 32-bit value (A6; grpc-java accepts it).
        (b"2147483647", after(2_147_483_647)),
        // 2^31: not a 32-bit integer, so unparseable (A6), as grpc-java refuses it;
        // grpc-go would wait 24.8 days.
        (b"2147483648", no),
        // 2^63 and beyond fit neither implementation: both do not retry.
        (b"9223372036854775808", no),
        (b"99999999999999999999999", no),
        // A6: negative or unparseable means "do not retry"; all three agree.
        (b"-1", no),
        (b"-2147483648", no),
        (b"", no),
        (b"+", no),
        (b"-", no),
        (b" 5", no),
        (b"5 ", no),
        (b"1e3", no),
        (b"ten", no),
        (b"\xff", no),
    ];
    for (value, expected) in table {
        assert_eq!(
            grpc_pushback(value),
            *expected,
            "{:?}",
            String::from_utf8_lossy(value)
        );
    }
}

/// Several values on one response. A6 defines one integer; grpc-go does not retry
/// (and counts a throttling failure), grpc-java reads the last. seawall: do not retry.
#[test]
fn several_grpc_pushback_values_mean_do_not_retry() {
    use seawall::retry::{grpc_pushback_of, GrpcPushback};
    let mut headers = http::HeaderMap::new();
    assert_eq!(grpc_pushback_of(&headers), None);
    headers.append("grpc-retry-pushback-ms", "10".parse().unwrap());
    assert_eq!(
        grpc_pushback_of(&headers),
        Some(GrpcPushback::After(Duration::from_millis(10)))
    );
    headers.append("grpc-retry-pushback-ms", "10".parse().unwrap());
    assert_eq!(grpc_pushback_of(&headers), Some(GrpcPushback::DoNotRetry));
}

proptest! {
    /// Whatever arrives from the network, parsing never panics.
    #[test]
    fn pushback_parsing_never_panics(value in proptest::collection::vec(any::<u8>(), 0..64)) {
        let _ = seawall::retry::parse_grpc_pushback(&value);
        #[cfg(feature = "http")]
        let _ = seawall::retry::parse_retry_after(&value, std::time::SystemTime::now());
    }
}

// ---------------------------------------------------------------- HTTP

#[cfg(feature = "http")]
mod http_retry {
    use super::*;
    use bytes::Bytes;
    use http::{Request, Response, StatusCode};
    use http_body_util::{BodyExt, Full, StreamBody};
    use seawall::retry::{Attempt, HttpReplay, HttpRetry, ReplayBody};
    use seawall::timeout::Deadline;

    type Body = http_body_util::combinators::BoxBody<Bytes, BoxError>;

    async fn send<S, B>(service: &mut S, request: Request<B>) -> Result<S::Response, BoxError>
    where
        S: Service<Request<B>, Error = BoxError>,
    {
        ServiceExt::<Request<B>>::ready(service)
            .await?
            .call(request)
            .await
    }

    /// A status and its headers.
    type Reply = (u16, Vec<(&'static str, &'static str)>);

    #[derive(Debug, Clone, PartialEq)]
    struct Seen {
        at: Duration,
        attempt: Option<u32>,
        /// The `grpc-previous-rpc-attempts` header, if sent.
        previous_attempts: Option<String>,
        body: Bytes,
    }

    /// An HTTP service answering from `script` (status, headers), reading up to
    /// `read_frames` frames of each request body (all when `None`).
    #[derive(Clone)]
    struct HttpScripted {
        script: Arc<Mutex<Vec<Reply>>>,
        seen: Arc<Mutex<Vec<Seen>>>,
        start: Instant,
        read_frames: Option<usize>,
    }

    impl HttpScripted {
        fn new(script: Vec<Reply>) -> Self {
            Self {
                script: Arc::new(Mutex::new(script.into_iter().rev().collect())),
                seen: Arc::default(),
                start: Instant::now(),
                read_frames: None,
            }
        }
        fn seen(&self) -> Vec<Seen> {
            self.seen.lock().unwrap().clone()
        }
    }

    impl<B> Service<Request<B>> for HttpScripted
    where
        B: http_body::Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<BoxError>,
    {
        type Response = Response<()>;
        type Error = BoxError;
        type Future = std::pin::Pin<
            Box<dyn std::future::Future<Output = Result<Response<()>, BoxError>> + Send>,
        >;

        fn poll_ready(
            &mut self,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Result<(), BoxError>> {
            std::task::Poll::Ready(Ok(()))
        }

        fn call(&mut self, request: Request<B>) -> Self::Future {
            let this = self.clone();
            Box::pin(async move {
                let at = this.start.elapsed();
                let attempt = request.extensions().get::<Attempt>().map(|a| a.get());
                let previous_attempts = request
                    .headers()
                    .get("grpc-previous-rpc-attempts")
                    .map(|v| v.to_str().unwrap().to_owned());
                let mut body = std::pin::pin!(request.into_body());
                let mut read = Vec::new();
                let mut frames = 0;
                while this.read_frames.is_none_or(|n| frames < n) {
                    match body.frame().await {
                        Some(frame) => {
                            if let Ok(mut data) = frame.map_err(Into::into)?.into_data() {
                                use bytes::Buf;
                                read.extend_from_slice(&data.copy_to_bytes(data.remaining()));
                            }
                            frames += 1;
                        }
                        None => break,
                    }
                }
                this.seen.lock().unwrap().push(Seen {
                    at,
                    attempt,
                    previous_attempts,
                    body: Bytes::from(read),
                });
                let (status, headers) = this.script.lock().unwrap().pop().unwrap_or((599, vec![]));
                let mut response = Response::builder().status(status);
                for (name, value) in headers {
                    response = response.header(name, value);
                }
                Ok(response.body(()).unwrap())
            })
        }
    }

    fn streaming(chunks: &[&'static str]) -> Body {
        let frames: Vec<Result<http_body::Frame<Bytes>, BoxError>> = chunks
            .iter()
            .map(|c| Ok(http_body::Frame::data(Bytes::from_static(c.as_bytes()))))
            .collect();
        StreamBody::new(futures::stream::iter(frames)).boxed()
    }

    fn layer(limit: usize) -> RetryLayer<HttpRetry, HttpReplay> {
        RetryLayer::new(config().max_attempts(3).build().unwrap())
            .with_policy(HttpRetry::default())
            .with_clone(HttpReplay::new(limit))
    }

    #[tokio::test(start_paused = true)]
    async fn a_streamed_body_under_the_limit_is_replayed_byte_for_byte() {
        let inner = HttpScripted::new(vec![(503, vec![]), (502, vec![]), (200, vec![])]);
        let mut service = layer(1024).layer(inner.clone());
        let request = Request::put("/items/1")
            .body(streaming(&["hel", "lo ", "world"]))
            .unwrap();
        let response = send(&mut service, request).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let seen = inner.seen();
        assert_eq!(seen.len(), 3);
        for (i, s) in seen.iter().enumerate() {
            assert_eq!(s.body, "hello world");
            assert_eq!(s.attempt, Some(i as u32 + 1));
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_501_is_a_failure_but_not_retried() {
        let not_implemented: Result<Response<()>, BoxError> = Ok(Response::builder()
            .status(StatusCode::NOT_IMPLEMENTED)
            .body(())
            .unwrap());
        assert_eq!(
            RetryPolicy::<Request<()>, _, _>::classify(&HttpRetry::default(), &not_implemented),
            Outcome::Failure
        );
        let inner = HttpScripted::new(vec![(501, vec![]), (200, vec![])]);
        let mut service = layer(1024).layer(inner.clone());
        let response = send(
            &mut service,
            Request::get("/").body(streaming(&[])).unwrap(),
        )
        .await
        .unwrap();
        assert_eq!(response.status(), StatusCode::NOT_IMPLEMENTED);
        assert_eq!(inner.seen().len(), 1);
    }

    #[cfg(feature = "grpc")]
    #[tokio::test(start_paused = true)]
    async fn retried_grpc_requests_say_how_many_attempts_came_before() {
        use seawall::retry::GrpcRetry;
        let unavailable = (200, vec![("grpc-status", "14")]);
        let inner = HttpScripted::new(vec![unavailable.clone(), unavailable, (200, vec![])]);
        let mut service = RetryLayer::new(config().max_attempts(3).build().unwrap())
            .with_policy(GrpcRetry::default())
            .with_clone(HttpReplay::new(1024))
            .layer(inner.clone());
        let request = Request::post("/pkg.Service/Method")
            .header("content-type", "application/grpc+proto")
            .body(streaming(&["msg"]))
            .unwrap();
        send(&mut service, request).await.unwrap();
        let previous: Vec<_> = inner
            .seen()
            .into_iter()
            .map(|s| s.previous_attempts)
            .collect();
        assert_eq!(previous, [None, Some("1".into()), Some("2".into())]);

        // Plain HTTP requests carry no gRPC header.
        let inner = HttpScripted::new(vec![(503, vec![]), (200, vec![])]);
        let mut service = layer(1024).layer(inner.clone());
        let request = Request::put("/").body(streaming(&["x"])).unwrap();
        send(&mut service, request).await.unwrap();
        assert!(inner.seen().iter().all(|s| s.previous_attempts.is_none()));
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_read_only_in_part_is_replayed_whole() {
        let mut inner = HttpScripted::new(vec![(503, vec![]), (200, vec![])]);
        inner.read_frames = Some(1);
        let mut service = layer(1024).layer(inner.clone());
        let request = Request::put("/")
            .body(streaming(&["ab", "cd", "ef"]))
            .unwrap();
        send(&mut service, request).await.unwrap();
        let seen = inner.seen();
        assert_eq!(seen[0].body, "ab");
        assert_eq!(seen[1].body, "ab", "the retry also read one frame");
        // A replica reads exactly what the original would have.
        let replay = HttpReplay::new(1024);
        use seawall::retry::CloneRequest;
        let first = replay.prepare(Request::new(streaming(&["ab", "cd", "ef"])));
        let second = replay.clone_request(&first).unwrap();
        let mut first_body = first.into_body();
        let frame = first_body.frame().await.unwrap().unwrap();
        assert_eq!(frame.into_data().unwrap(), "ab");
        drop(first_body);
        assert_eq!(
            second.into_body().collect().await.unwrap().to_bytes(),
            "abcdef"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_over_the_limit_streams_through_and_is_not_retried() {
        let (seen_events, listener) = events();
        let inner = HttpScripted::new(vec![(503, vec![]), (200, vec![])]);
        let layer = RetryLayer::new(config().max_attempts(3).on_event(listener).build().unwrap())
            .with_policy(HttpRetry::default())
            .with_clone(HttpReplay::new(8));
        let mut service = layer.layer(inner.clone());
        let request = Request::put("/")
            .body(streaming(&["12345", "67890", "abc"]))
            .unwrap();
        let response = send(&mut service, request).await.unwrap();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(inner.seen().len(), 1);
        assert_eq!(
            inner.seen()[0].body,
            "1234567890abc",
            "streamed through whole"
        );
        assert_eq!(
            *seen_events.lock().unwrap(),
            ["gave up after 1: not_replayable"]
        );
    }

    #[tokio::test]
    async fn replay_body_bounds_and_trailers() {
        use seawall::retry::CloneRequest;
        let replay = HttpReplay::new(4);
        // Known too large up front: never buffered, no replica.
        let big = replay.prepare(Request::new(Full::new(Bytes::from_static(b"0123456789"))));
        assert!(big.body().is_capped());
        assert!(replay.clone_request(&big).is_none());
        // Exactly at the limit: replayable.
        let exact = replay.prepare(Request::new(Full::new(Bytes::from_static(b"0123"))));
        let copy = replay.clone_request(&exact).unwrap();
        assert_eq!(
            exact.into_body().collect().await.unwrap().to_bytes(),
            "0123"
        );
        assert_eq!(copy.into_body().collect().await.unwrap().to_bytes(), "0123");
        // Trailers come back too.
        let mut trailers = http::HeaderMap::new();
        trailers.insert("grpc-status", "0".parse().unwrap());
        let frames: Vec<Result<http_body::Frame<Bytes>, BoxError>> = vec![
            Ok(http_body::Frame::data(Bytes::from_static(b"ab"))),
            Ok(http_body::Frame::trailers(trailers.clone())),
        ];
        let body = StreamBody::new(futures::stream::iter(frames));
        let first = replay.prepare(Request::new(body));
        let second = replay.clone_request(&first).unwrap();
        let collected: http_body_util::Collected<Bytes> =
            first.into_body().collect().await.unwrap();
        assert_eq!(collected.trailers(), Some(&trailers));
        let collected = second.into_body().collect().await.unwrap();
        assert_eq!(collected.trailers(), Some(&trailers));
        assert_eq!(collected.to_bytes(), "ab");
        let _: Option<&ReplayBody<Full<Bytes>>> = None;
    }

    #[tokio::test(start_paused = true)]
    async fn retry_after_sets_the_wait_and_a_malformed_one_is_ignored() {
        let inner = HttpScripted::new(vec![
            (503, vec![("retry-after", "2")]),
            (429, vec![("retry-after", "soon")]),
            (200, vec![]),
        ]);
        let mut service = layer(1024).layer(inner.clone());
        let request = Request::get("/").body(Full::new(Bytes::new())).unwrap();
        send(&mut service, request).await.unwrap();
        let at: Vec<_> = inner.seen().iter().map(|s| s.at).collect();
        // 2 s from the header, then the backoff's 100 ms.
        assert_eq!(
            at,
            [
                Duration::ZERO,
                Duration::from_secs(2),
                Duration::from_millis(2100)
            ]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn only_idempotent_requests_are_retried() {
        for (method, key, attempts) in [
            ("POST", false, 1),
            ("PATCH", false, 1),
            ("POST", true, 2),
            ("GET", false, 2),
            ("DELETE", false, 2),
        ] {
            let inner = HttpScripted::new(vec![(503, vec![]), (200, vec![])]);
            let mut service = layer(1024).layer(inner.clone());
            let mut request = Request::builder().method(method).uri("/");
            if key {
                request = request.header("idempotency-key", "k-1");
            }
            let request = request.body(Full::new(Bytes::new())).unwrap();
            send(&mut service, request).await.unwrap();
            assert_eq!(inner.seen().len(), attempts, "{method} key={key}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn nested_retry_layers_do_not_multiply_attempts() {
        let inner = HttpScripted::new(vec![(503, vec![]); 20]);
        let inner_layer = layer(1024).layer(inner.clone());
        let mut service = layer(1024).layer(inner_layer);
        let request = Request::get("/").body(Full::new(Bytes::new())).unwrap();
        let response = send(&mut service, request).await.unwrap();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        let attempts: Vec<_> = inner.seen().iter().map(|s| s.attempt).collect();
        assert_eq!(
            attempts,
            [Some(1), Some(2), Some(3)],
            "3 attempts, not 3 x 3"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_outer_layer_that_cannot_retry_leaves_retrying_to_an_inner_one() {
        let inner = HttpScripted::new(vec![(503, vec![]), (503, vec![]), (200, vec![])]);
        let retrying = layer(1024).layer(inner.clone());
        let mut service = RetryLayer::new(config().max_attempts(1).build().unwrap())
            .with_policy(HttpRetry::default())
            .with_clone(HttpReplay::new(1024))
            .layer(retrying);
        let request = Request::get("/").body(Full::new(Bytes::new())).unwrap();
        let response = send(&mut service, request).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let attempts: Vec<_> = inner.seen().iter().map(|s| s.attempt).collect();
        assert_eq!(attempts, [Some(1), Some(2), Some(3)]);
    }

    #[tokio::test(start_paused = true)]
    async fn the_overall_timeout_reaches_a_timeout_layer_further_in() {
        use seawall::timeout::{FromExtensions, TimeoutLayer};
        let hangs = tower::service_fn(|_: Request<ReplayBody<Full<Bytes>>>| {
            std::future::pending::<Result<Response<()>, BoxError>>()
        });
        let mut service = RetryLayer::new(
            config()
                .max_attempts(3)
                .timeout(Duration::from_secs(1))
                .build()
                .unwrap(),
        )
        .with_policy(HttpRetry::default())
        .with_clone(HttpReplay::new(16))
        .layer(
            TimeoutLayer::new(Duration::from_secs(30))
                .with_deadlines(FromExtensions)
                .layer(hangs),
        );
        let start = Instant::now();
        let request = Request::get("/").body(Full::new(Bytes::new())).unwrap();
        let err = send(&mut service, request).await.unwrap_err();
        assert_eq!(ErrorKind::of(&*err), ErrorKind::Elapsed);
        assert_eq!(
            start.elapsed(),
            Duration::from_secs(1),
            "cut at the deadline, not retried past it"
        );
    }

    #[test]
    fn retryable_statuses() {
        let retryable: Vec<u16> = (100..600)
            .filter(|&s| HttpRetry::is_retryable_status(StatusCode::from_u16(s).unwrap()))
            .collect();
        let mut expected = vec![408, 429, 500];
        expected.extend(502..600);
        assert_eq!(retryable, expected);
    }

    #[tokio::test(start_paused = true)]
    async fn the_deadline_extension_stops_retries() {
        let inner = HttpScripted::new(vec![(503, vec![]); 10]);
        let mut service = RetryLayer::new(
            config()
                .max_attempts(10)
                .backoff(constant(Duration::from_millis(400)))
                .build()
                .unwrap(),
        )
        .with_policy(HttpRetry::default())
        .with_clone(HttpReplay::new(16))
        .layer(inner.clone());
        let mut request = Request::get("/").body(Full::new(Bytes::new())).unwrap();
        request
            .extensions_mut()
            .insert(Deadline::after(Duration::from_secs(1)));
        send(&mut service, request).await.unwrap();
        assert_eq!(
            inner.seen().len(),
            3,
            "at 0, 400 and 800 ms; 1200 ms is past the deadline"
        );
    }

    #[cfg(feature = "grpc")]
    #[tokio::test(start_paused = true)]
    async fn grpc_pushback_sets_the_wait_and_a_bad_one_stops_retries() {
        use seawall::retry::GrpcRetry;
        let grpc = |script| {
            let inner = HttpScripted::new(script);
            let service = RetryLayer::new(config().max_attempts(3).build().unwrap())
                .with_policy(GrpcRetry::default())
                .with_clone(HttpReplay::new(16))
                .layer(inner.clone());
            (inner, service)
        };
        let request = || {
            Request::post("/svc/Method")
                .body(Full::new(Bytes::new()))
                .unwrap()
        };

        let (inner, mut service) = grpc(vec![
            (
                200,
                vec![("grpc-status", "14"), ("grpc-retry-pushback-ms", "250")],
            ),
            (200, vec![("grpc-status", "14")]),
            (200, vec![("grpc-status", "0")]),
        ]);
        send(&mut service, request()).await.unwrap();
        let at: Vec<_> = inner.seen().iter().map(|s| s.at).collect();
        assert_eq!(at, [Duration::ZERO, 250 * MS, 350 * MS]);

        for bad in ["-1", "soon"] {
            let (inner, mut service) = grpc(vec![
                (
                    200,
                    vec![("grpc-status", "14"), ("grpc-retry-pushback-ms", bad)],
                ),
                (200, vec![("grpc-status", "0")]),
            ]);
            send(&mut service, request()).await.unwrap();
            assert_eq!(inner.seen().len(), 1, "pushback {bad}");
        }

        // Not retried: a code outside the set.
        let (inner, mut service) = grpc(vec![(200, vec![("grpc-status", "3")]), (200, vec![])]);
        send(&mut service, request()).await.unwrap();
        assert_eq!(inner.seen().len(), 1);
    }
}

// ---------------------------------------------------------------- end to end

/// A real axum server on an ephemeral loopback port answers 503 with
/// `Retry-After: 1` twice, then 200; a real reqwest client behind the retry
/// layer gets the 200, and waits what the header says. Real sockets cannot run
/// on the paused clock, so this one test takes about two seconds of real time.
#[cfg(feature = "reqwest")]
#[tokio::test]
async fn reqwest_behind_the_retry_layer_follows_retry_after_from_a_real_server() {
    use axum::response::IntoResponse;
    use seawall::retry::HttpRetry;
    use seawall::retry::ReqwestClone;
    use std::sync::atomic::{AtomicUsize, Ordering};

    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    let app = axum::Router::new().route(
        "/flaky",
        axum::routing::get(move || {
            let n = counter.fetch_add(1, Ordering::SeqCst);
            async move {
                if n < 2 {
                    (
                        axum::http::StatusCode::SERVICE_UNAVAILABLE,
                        [("retry-after", "1")],
                        "busy",
                    )
                        .into_response()
                } else {
                    (axum::http::StatusCode::OK, "ok").into_response()
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    let (seen, listener) = events();
    let mut client = RetryLayer::new(
        RetryConfig::builder()
            .name("e2e")
            .max_attempts(3)
            .no_budget()
            .on_event(listener)
            .build()
            .unwrap(),
    )
    .with_policy(HttpRetry::default())
    .with_clone(ReqwestClone)
    .layer(reqwest::Client::new());

    let url = format!("http://{addr}/flaky").parse().unwrap();
    let request = reqwest::Request::new(reqwest::Method::GET, url);
    let started = std::time::Instant::now();
    let response = client.ready().await.unwrap().call(request).await.unwrap();
    let took = started.elapsed();

    assert_eq!(response.status(), reqwest::StatusCode::OK);
    assert_eq!(response.text().await.unwrap(), "ok");
    assert_eq!(hits.load(Ordering::SeqCst), 3);
    assert_eq!(
        *seen.lock().unwrap(),
        [
            "retry after attempt 1 in 1s (response, pushback true)",
            "retry after attempt 2 in 1s (response, pushback true)",
        ]
    );
    assert!(took >= Duration::from_secs(2), "waited {took:?}");
    assert!(took < Duration::from_secs(10), "waited {took:?}");
    server.abort();
}

/// Under a breaker (or the preset) a reqwest client's errors are `BoxError`s:
/// `HttpRetry` and `HttpStatus` still read its responses.
#[cfg(feature = "reqwest")]
#[test]
fn http_retry_and_http_status_read_reqwest_responses_with_boxed_errors() {
    use seawall::classify::{Classify, HttpStatus, Outcome};
    use seawall::retry::{HttpRetry, RetryDecision, RetryPolicy};

    let url: reqwest::Url = "http://127.0.0.1/".parse().unwrap();
    let get = reqwest::Request::new(reqwest::Method::GET, url.clone());
    let post = reqwest::Request::new(reqwest::Method::POST, url);
    let busy = || -> Result<reqwest::Response, seawall::BoxError> {
        Ok(reqwest::Response::from(
            http::Response::builder()
                .status(503)
                .header("retry-after", "2")
                .body("busy")
                .unwrap(),
        ))
    };
    assert_eq!(
        HttpRetry::default().decide(&get, &busy()),
        RetryDecision::RetryAfter(Duration::from_secs(2))
    );
    assert_eq!(
        HttpRetry::default().decide(&post, &busy()),
        RetryDecision::Accept
    );
    let failed: Result<reqwest::Response, seawall::BoxError> = Err("connection refused".into());
    assert_eq!(
        HttpRetry::default().decide(&get, &failed),
        RetryDecision::Retry
    );

    assert_eq!(
        HttpStatus::server_errors().classify(&busy()),
        Outcome::Failure
    );
    let ok: Result<reqwest::Response, seawall::BoxError> =
        Ok(reqwest::Response::from(http::Response::new("ok")));
    assert_eq!(HttpStatus::server_errors().classify(&ok), Outcome::Success);
    assert_eq!(
        HttpStatus::server_errors().classify(&failed),
        Outcome::Failure
    );
}

#[tokio::test(start_paused = true)]
async fn only_requests_a_layer_may_retry_earn_budget() {
    let budget = RatioBudget::new(0.5, 0, Duration::from_secs(10)).unwrap();
    let ok = || service_fn(|x: u32| async move { Ok::<_, BoxError>(x) });
    // One attempt: the layer never retries, so its requests earn nothing.
    let mut once = RetryLayer::new(
        config()
            .max_attempts(1)
            .budget(budget.clone())
            .build()
            .unwrap(),
    )
    .layer(ok());
    for i in 0..10 {
        once.ready().await.unwrap().call(i).await.unwrap();
    }
    assert_eq!(budget.level(), 0.0);
    // Three attempts: each request earns half a retry.
    let mut thrice = RetryLayer::new(
        config()
            .max_attempts(3)
            .budget(budget.clone())
            .build()
            .unwrap(),
    )
    .layer(ok());
    for i in 0..10 {
        thrice.ready().await.unwrap().call(i).await.unwrap();
    }
    assert_eq!(budget.level(), 5.0);
}
