//! The `tracing` events and attempt spans: each event with its target, level,
//! message and fields; nothing at all on the success path; a subscriber that
//! panics; a flood of rejections.
//!
//! A small hand-written subscriber collects what each test's thread emits
//! (installed with `set_default`, so parallel tests do not see each other's).

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use seawall::breaker::{Breaker, BreakerConfig, BreakerLayer, OpenWait, State};
use seawall::bulkhead::{Bulkhead, BulkheadConfig, BulkheadLayer};
use seawall::canary::{Canary, CanaryConfig, CanaryEvent, CanaryService};
use seawall::chaos::{Chaos, ChaosConfig, ChaosService, Fault};
use seawall::classify::Outcome;
use seawall::fallback::{FallbackLayer, FallbackOn};
use seawall::retry::{
    RatioBudget, RetryConfig, RetryConfigBuilder, RetryDecision, RetryLayer, RetryPolicy,
    StandardBackoff,
};
use seawall::timeout::TimeoutLayer;
use seawall::{BoxError, ErrorKind};
use tower::{service_fn, Layer, Service, ServiceBuilder, ServiceExt};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};

#[path = "support/counting_allocator.rs"]
mod counting_allocator;

const MS: Duration = Duration::from_millis(1);

// ---------------------------------------------------------------- the subscriber

/// A field's value, as the subscriber was given it.
#[derive(Clone, Debug, PartialEq)]
enum Value {
    U64(u64),
    I64(i64),
    F64(f64),
    Bool(bool),
    Str(String),
}

impl From<&str> for Value {
    fn from(value: &str) -> Self {
        Self::Str(value.to_owned())
    }
}
impl From<u64> for Value {
    fn from(value: u64) -> Self {
        Self::U64(value)
    }
}
impl From<f64> for Value {
    fn from(value: f64) -> Self {
        Self::F64(value)
    }
}
impl From<bool> for Value {
    fn from(value: bool) -> Self {
        Self::Bool(value)
    }
}

#[derive(Default)]
struct Fields(BTreeMap<String, Value>);

impl Visit for Fields {
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().into(), Value::U64(value));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().into(), Value::I64(value));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().into(), Value::F64(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().into(), Value::Bool(value));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().into(), Value::Str(value.into()));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0
            .insert(field.name().into(), Value::Str(format!("{value:?}")));
    }
}

/// One event as emitted.
#[derive(Debug)]
struct Captured {
    target: String,
    level: Level,
    message: String,
    fields: BTreeMap<String, Value>,
    /// The `seawall.retry.attempt` of the innermost span entered, if any.
    in_attempt: Option<u64>,
}

impl Captured {
    fn field(&self, name: &str) -> Option<&Value> {
        self.fields.get(name)
    }

    /// Checks target, level, message and exactly these fields.
    fn assert_is(&self, target: &str, level: Level, message: &str, fields: &[(&str, Value)]) {
        assert_eq!(
            (self.target.as_str(), self.level, self.message.as_str()),
            (target, level, message),
            "{self:?}"
        );
        let expected: BTreeMap<String, Value> = fields
            .iter()
            .map(|(name, value)| (name.to_string(), value.clone()))
            .collect();
        assert_eq!(self.fields, expected, "{message}");
    }
}

#[derive(Default)]
struct Log {
    events: Vec<Captured>,
    /// Every span made, by id (1, 2, ...): its name and fields.
    spans: Vec<(String, BTreeMap<String, Value>)>,
    /// The spans entered now, innermost last.
    entered: Vec<u64>,
}

/// Collects events and spans; `panic_on_event` makes it a hostile one.
#[derive(Clone, Default)]
struct Collector {
    log: Arc<Mutex<Log>>,
    panic_on_event: bool,
    panic_on_new_span: bool,
}

impl Collector {
    fn hostile() -> Self {
        Self {
            panic_on_event: true,
            panic_on_new_span: true,
            ..Self::default()
        }
    }

    /// Takes the events collected so far.
    fn take(&self) -> Vec<Captured> {
        std::mem::take(&mut self.log.lock().unwrap().events)
    }

    fn spans(&self) -> Vec<(String, BTreeMap<String, Value>)> {
        self.log.lock().unwrap().spans.clone()
    }

    /// The events of `target`.
    fn take_of(&self, target: &str) -> Vec<Captured> {
        self.take()
            .into_iter()
            .filter(|event| event.target == target)
            .collect()
    }
}

impl Subscriber for Collector {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }

    fn new_span(&self, attributes: &Attributes<'_>) -> Id {
        if self.panic_on_new_span {
            panic!("a subscriber's bug in new_span");
        }
        let mut fields = Fields::default();
        attributes.record(&mut fields);
        let mut log = self.log.lock().unwrap();
        log.spans
            .push((attributes.metadata().name().to_owned(), fields.0));
        Id::from_u64(log.spans.len() as u64)
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        if self.panic_on_event {
            panic!("a subscriber's bug in event");
        }
        let mut fields = Fields::default();
        event.record(&mut fields);
        let message = match fields.0.remove("message") {
            Some(Value::Str(message)) => message,
            other => panic!("an event without a message: {other:?}"),
        };
        let mut log = self.log.lock().unwrap();
        let in_attempt = log.entered.last().and_then(|id| {
            match log.spans[*id as usize - 1].1.get("seawall.retry.attempt") {
                Some(Value::U64(attempt)) => Some(*attempt),
                _ => None,
            }
        });
        log.events.push(Captured {
            target: event.metadata().target().to_owned(),
            level: *event.metadata().level(),
            message,
            fields: fields.0,
            in_attempt,
        });
    }

    fn enter(&self, span: &Id) {
        self.log.lock().unwrap().entered.push(span.into_u64());
    }

    fn exit(&self, span: &Id) {
        let mut log = self.log.lock().unwrap();
        let top = log.entered.pop();
        assert_eq!(top, Some(span.into_u64()), "spans exit in order");
    }
}

/// Installs a fresh collector on this thread for the rest of the test.
fn collect() -> (Collector, tracing::subscriber::DefaultGuard) {
    let collector = Collector::default();
    let guard = tracing::subscriber::set_default(collector.clone());
    (collector, guard)
}

fn s(value: &str) -> Value {
    Value::from(value)
}

// ---------------------------------------------------------------- services

/// A service answering `Ok(n)` for request `n`, or failing with `boom` when
/// the request is 0.
fn zero_fails() -> impl Service<u32, Response = u32, Error = BoxError> + Clone {
    service_fn(|n: u32| async move {
        if n == 0 {
            Err::<u32, BoxError>("boom".into())
        } else {
            Ok(n)
        }
    })
}

/// Fails its first `failures` calls with `reset`, then answers 7.
fn fails_first(failures: u32) -> impl Service<u32, Response = u32, Error = BoxError> + Clone {
    let calls = Arc::new(AtomicU64::new(0));
    service_fn(move |_: u32| {
        let n = calls.fetch_add(1, Ordering::Relaxed);
        async move {
            if n < u64::from(failures) {
                Err::<u32, BoxError>("reset".into())
            } else {
                Ok(7)
            }
        }
    })
}

fn retry_config() -> RetryConfigBuilder {
    RetryConfig::builder()
        .name("orders")
        .seed(7)
        .no_budget()
        .backoff(StandardBackoff::constant(100 * MS))
}

/// Retries errors and the response 0, waiting what the server "asked" when
/// `pushback` is set.
#[derive(Clone)]
struct ZeroIsAFailure {
    pushback: Option<Duration>,
}

impl<Req> RetryPolicy<Req, u32, BoxError> for ZeroIsAFailure {
    fn classify(&self, result: &Result<u32, BoxError>) -> Outcome {
        match result {
            Ok(0) | Err(_) => Outcome::Failure,
            Ok(_) => Outcome::Success,
        }
    }

    fn decide(&self, _: &Req, _: &Result<u32, BoxError>) -> RetryDecision {
        self.pushback
            .map_or(RetryDecision::Retry, RetryDecision::RetryAfter)
    }
}

// ---------------------------------------------------------------- breaker

#[test]
fn breaker_transitions_and_rejections() {
    let (collector, _guard) = collect();
    let breaker = Breaker::new(
        BreakerConfig::builder()
            .name("payments")
            .count_window(2)
            .minimum_calls(2)
            .failure_rate_threshold(0.5)
            .open_wait(OpenWait::fixed(Duration::from_secs(10)))
            .build()
            .unwrap(),
    );
    breaker.try_acquire().unwrap().record(Outcome::Failure);
    breaker.try_acquire().unwrap().record(Outcome::Failure);
    assert_eq!(breaker.state(), State::Open);
    assert!(breaker.try_acquire().is_err());
    breaker.reset();

    let events = collector.take();
    assert_eq!(events.len(), 3, "{events:?}");
    events[0].assert_is(
        "seawall::breaker",
        Level::WARN,
        "circuit breaker changed state",
        &[
            ("seawall.breaker.name", s("payments")),
            ("seawall.breaker.state.from", s("closed")),
            ("seawall.breaker.state.to", s("open")),
        ],
    );
    // The breaker's clock is tokio's, unpaused here: the wait is about 10 s
    // (its deadline is kept in whole milliseconds, rounded up).
    let Some(Value::F64(retry_after)) = events[1].field("seawall.breaker.retry_after_seconds")
    else {
        panic!("{:?}", events[1]);
    };
    assert!((9.0..=10.001).contains(retry_after), "{retry_after}");
    events[1].assert_is(
        "seawall::breaker",
        Level::INFO,
        "circuit breaker rejected a call",
        &[
            ("seawall.breaker.name", s("payments")),
            ("seawall.breaker.state", s("open")),
            (
                "seawall.breaker.retry_after_seconds",
                Value::F64(*retry_after),
            ),
            ("error.type", s("breaker_open")),
        ],
    );
    events[2].assert_is(
        "seawall::breaker",
        Level::INFO,
        "circuit breaker changed state",
        &[
            ("seawall.breaker.name", s("payments")),
            ("seawall.breaker.state.from", s("open")),
            ("seawall.breaker.state.to", s("closed")),
        ],
    );
}

#[test]
fn a_forced_open_breaker_warns_and_its_rejections_have_no_retry_after() {
    let (collector, _guard) = collect();
    let breaker = Breaker::new(BreakerConfig::builder().name("db").build().unwrap());
    breaker.force_open();
    assert!(breaker.try_acquire().is_err());
    let events = collector.take();
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(events[0].level, Level::WARN);
    assert_eq!(
        events[0].field("seawall.breaker.state.to"),
        Some(&s("forced_open"))
    );
    events[1].assert_is(
        "seawall::breaker",
        Level::INFO,
        "circuit breaker rejected a call",
        &[
            ("seawall.breaker.name", s("db")),
            ("seawall.breaker.state", s("forced_open")),
            ("error.type", s("breaker_open")),
        ],
    );
}

// ---------------------------------------------------------------- retry

#[tokio::test(start_paused = true)]
async fn a_retried_error_is_scheduled_at_debug_with_the_resend_count() {
    let (collector, _guard) = collect();
    let mut service =
        RetryLayer::new(retry_config().max_attempts(3).build().unwrap()).layer(fails_first(2));
    assert_eq!(service.ready().await.unwrap().call(1).await.unwrap(), 7);
    let events = collector.take();
    assert_eq!(events.len(), 2, "{events:?}");
    for (event, resend) in events.iter().zip(1u64..) {
        event.assert_is(
            "seawall::retry",
            Level::DEBUG,
            "retry scheduled",
            &[
                ("seawall.retry.name", s("orders")),
                ("http.request.resend_count", Value::U64(resend)),
                ("seawall.retry.delay_seconds", Value::F64(0.1)),
                ("seawall.retry.reason", s("error")),
                ("seawall.retry.pushback", Value::Bool(false)),
                ("error.type", s("other")),
            ],
        );
    }
    assert!(
        collector.spans().is_empty(),
        "attempt spans are off by default"
    );
}

#[tokio::test(start_paused = true)]
async fn a_retried_response_has_no_error_type_and_pushback_says_who_chose_the_delay() {
    let (collector, _guard) = collect();
    let answers = Arc::new(AtomicU64::new(0));
    let zero_then_five = {
        let answers = answers.clone();
        service_fn(move |_: u32| {
            let n = answers.fetch_add(1, Ordering::Relaxed);
            async move { Ok::<u32, BoxError>(if n == 0 { 0 } else { 5 }) }
        })
    };
    let mut service = RetryLayer::new(retry_config().build().unwrap())
        .with_policy(ZeroIsAFailure {
            pushback: Some(Duration::from_secs(3)),
        })
        .layer(zero_then_five);
    assert_eq!(service.ready().await.unwrap().call(1).await.unwrap(), 5);
    let events = collector.take();
    assert_eq!(events.len(), 1, "{events:?}");
    events[0].assert_is(
        "seawall::retry",
        Level::DEBUG,
        "retry scheduled",
        &[
            ("seawall.retry.name", s("orders")),
            ("http.request.resend_count", Value::U64(1)),
            ("seawall.retry.delay_seconds", Value::F64(3.0)),
            ("seawall.retry.reason", s("response")),
            ("seawall.retry.pushback", Value::Bool(true)),
        ],
    );
}

#[tokio::test(start_paused = true)]
async fn a_timed_out_attempt_is_retried_with_its_error_type() {
    let (collector, _guard) = collect();
    let calls = Arc::new(AtomicU64::new(0));
    let slow_once = service_fn(move |_: u32| {
        let n = calls.fetch_add(1, Ordering::Relaxed);
        async move {
            if n == 0 {
                tokio::time::sleep(Duration::from_secs(60)).await;
            }
            Ok::<u32, BoxError>(3)
        }
    });
    let mut service = ServiceBuilder::new()
        .layer(RetryLayer::new(retry_config().build().unwrap()))
        .layer(TimeoutLayer::new(Duration::from_secs(1)))
        .service(slow_once);
    assert_eq!(service.ready().await.unwrap().call(1).await.unwrap(), 3);
    let events = collector.take_of("seawall::retry");
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].field("error.type"), Some(&s("elapsed")));
}

#[tokio::test(start_paused = true)]
async fn giving_up_is_info_with_the_reason_and_the_attempts() {
    let (collector, _guard) = collect();
    let mut service = RetryLayer::new(retry_config().max_attempts(2).build().unwrap())
        .layer(fails_first(u32::MAX));
    let err = service.ready().await.unwrap().call(1).await.unwrap_err();
    assert_eq!(err.to_string(), "reset");
    let events = collector.take();
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(events[0].message, "retry scheduled");
    events[1].assert_is(
        "seawall::retry",
        Level::INFO,
        "retry gave up",
        &[
            ("seawall.retry.name", s("orders")),
            ("seawall.retry.attempts", Value::U64(2)),
            ("seawall.retry.give_up.reason", s("max_attempts")),
            ("error.type", s("other")),
        ],
    );

    // A response given up on carries no error type.
    let always_zero = service_fn(|_: u32| async { Ok::<u32, BoxError>(0) });
    let mut service = RetryLayer::new(retry_config().max_attempts(2).build().unwrap())
        .with_policy(ZeroIsAFailure { pushback: None })
        .layer(always_zero);
    assert_eq!(service.ready().await.unwrap().call(1).await.unwrap(), 0);
    let events = collector.take();
    assert_eq!(events.len(), 2, "{events:?}");
    events[1].assert_is(
        "seawall::retry",
        Level::INFO,
        "retry gave up",
        &[
            ("seawall.retry.name", s("orders")),
            ("seawall.retry.attempts", Value::U64(2)),
            ("seawall.retry.give_up.reason", s("max_attempts")),
        ],
    );
}

#[tokio::test(start_paused = true)]
async fn a_budget_refusal_is_info_with_the_attempts() {
    let (collector, _guard) = collect();
    let no_retries = RatioBudget::new(0.0, 0, Duration::from_secs(10)).unwrap();
    let mut service = RetryLayer::new(retry_config().budget(no_retries).build().unwrap())
        .layer(fails_first(u32::MAX));
    let err = service.ready().await.unwrap().call(1).await.unwrap_err();
    assert_eq!(ErrorKind::of(&*err), ErrorKind::BudgetExhausted);
    let events = collector.take();
    assert_eq!(events.len(), 1, "{events:?}");
    events[0].assert_is(
        "seawall::retry",
        Level::INFO,
        "retry budget refused a retry",
        &[
            ("seawall.retry.name", s("orders")),
            ("seawall.retry.attempts", Value::U64(1)),
            ("error.type", s("budget_exhausted")),
        ],
    );
}

#[tokio::test(start_paused = true)]
async fn attempt_spans_number_each_attempt_and_hold_what_happens_inside_it() {
    let (collector, _guard) = collect();
    let breaker = Breaker::new(
        BreakerConfig::builder()
            .name("inventory")
            .count_window(2)
            .minimum_calls(2)
            .failure_rate_threshold(0.5)
            .build()
            .unwrap(),
    );
    let mut service = ServiceBuilder::new()
        .layer(RetryLayer::new(
            retry_config()
                .name("inventory")
                .max_attempts(3)
                .attempt_spans(true)
                .build()
                .unwrap(),
        ))
        .layer(BreakerLayer::new(breaker.clone()))
        .service(fails_first(u32::MAX));
    let err = service.ready().await.unwrap().call(1).await.unwrap_err();
    // The second failure opened the breaker; the third attempt was refused.
    assert_eq!(ErrorKind::of(&*err), ErrorKind::BreakerOpen);

    let spans = collector.spans();
    assert_eq!(spans.len(), 3, "{spans:?}");
    for (attempt, (name, fields)) in (1u64..).zip(&spans) {
        assert_eq!(name, "retry attempt");
        let mut expected = BTreeMap::from([
            ("seawall.retry.name".to_string(), s("inventory")),
            ("seawall.retry.attempt".to_string(), Value::U64(attempt)),
        ]);
        if attempt > 1 {
            expected.insert("http.request.resend_count".into(), Value::U64(attempt - 1));
        }
        assert_eq!(*fields, expected);
    }
    let events = collector.take();
    let placed: Vec<_> = events
        .iter()
        .map(|event| (event.message.as_str(), event.in_attempt))
        .collect();
    assert_eq!(
        placed,
        [
            ("retry scheduled", None),
            // Recorded as the second attempt's future completed, inside its span.
            ("circuit breaker changed state", Some(2)),
            ("retry scheduled", None),
            // Refused in `poll_ready`, before the third attempt's span exists.
            ("circuit breaker rejected a call", None),
        ]
    );
}

// ---------------------------------------------------------------- bulkhead

#[tokio::test(start_paused = true)]
async fn bulkhead_refusals_and_waits() {
    let (collector, _guard) = collect();
    let bulkhead = Bulkhead::new(
        BulkheadConfig::builder()
            .name("db")
            .max_concurrent_calls(1)
            .wait_for_slot(1, 50 * MS)
            .build()
            .unwrap(),
    );
    let held = bulkhead.try_acquire().unwrap();
    assert!(bulkhead.try_acquire().is_err());
    assert!(bulkhead.acquire().await.is_err(), "the wait runs out");
    let (waited, ()) = tokio::join!(bulkhead.acquire(), async move {
        tokio::time::sleep(10 * MS).await;
        drop(held);
    });
    assert!(waited.is_ok());

    let events = collector.take();
    assert_eq!(events.len(), 4, "{events:?}");
    let rejected = [
        ("seawall.bulkhead.name", s("db")),
        ("error.type", s("bulkhead_full")),
    ];
    let waited = |seconds: f64, acquired: bool| {
        [
            ("seawall.bulkhead.name", s("db")),
            ("seawall.bulkhead.wait_seconds", Value::F64(seconds)),
            ("seawall.bulkhead.acquired", Value::Bool(acquired)),
        ]
    };
    let target = "seawall::bulkhead";
    events[0].assert_is(target, Level::INFO, "bulkhead rejected a call", &rejected);
    events[1].assert_is(
        target,
        Level::DEBUG,
        "bulkhead wait ended",
        &waited(0.05, false),
    );
    events[2].assert_is(target, Level::INFO, "bulkhead rejected a call", &rejected);
    events[3].assert_is(
        target,
        Level::DEBUG,
        "bulkhead wait ended",
        &waited(0.01, true),
    );
}

// ---------------------------------------------------------------- fallback

#[tokio::test(start_paused = true)]
async fn fallbacks_taken_and_failed_carry_their_cause() {
    let (collector, _guard) = collect();
    let breaker = Breaker::new(BreakerConfig::builder().name("prices").build().unwrap());
    breaker.force_open();
    let _ = collector.take();
    let mut answered = ServiceBuilder::new()
        .layer(FallbackLayer::value(0u32).name("prices"))
        .layer(BreakerLayer::new(breaker.clone()))
        .service(zero_fails());
    assert_eq!(answered.ready().await.unwrap().call(1).await.unwrap(), 0);
    let events = collector.take_of("seawall::fallback");
    assert_eq!(events.len(), 1, "{events:?}");
    events[0].assert_is(
        "seawall::fallback",
        Level::INFO,
        "fallback answered",
        &[
            ("seawall.fallback.name", s("prices")),
            ("error.type", s("breaker_open")),
        ],
    );

    let mut failing = ServiceBuilder::new()
        .layer(
            FallbackLayer::with_fn(|_| async { Err::<u32, BoxError>("no cache either".into()) })
                .name("prices"),
        )
        .layer(BreakerLayer::new(breaker))
        .service(zero_fails());
    let err = failing.ready().await.unwrap().call(1).await.unwrap_err();
    assert_eq!(ErrorKind::of(&*err), ErrorKind::BreakerOpen);
    let events = collector.take_of("seawall::fallback");
    assert_eq!(events.len(), 1, "{events:?}");
    events[0].assert_is(
        "seawall::fallback",
        Level::WARN,
        "fallback failed",
        &[
            ("seawall.fallback.name", s("prices")),
            ("error.type", s("breaker_open")),
        ],
    );
}

// ---------------------------------------------------------------- chaos

#[tokio::test(start_paused = true)]
async fn an_injected_fault_is_debug_with_its_kind() {
    let (collector, _guard) = collect();
    let chaos = Chaos::new(
        ChaosConfig::builder()
            .name("inventory")
            .fault(Fault::error(1.0))
            .build()
            .unwrap(),
    );
    let mut service = ChaosService::new(zero_fails(), chaos.clone());
    assert!(service.ready().await.unwrap().call(1).await.is_err());
    chaos.set_enabled(false);
    assert_eq!(service.ready().await.unwrap().call(1).await.unwrap(), 1);
    let events = collector.take();
    assert_eq!(events.len(), 1, "{events:?}");
    events[0].assert_is(
        "seawall::chaos",
        Level::DEBUG,
        "chaos injected a fault",
        &[
            ("seawall.chaos.name", s("inventory")),
            ("seawall.chaos.fault", s("error")),
        ],
    );
}

// ---------------------------------------------------------------- canary

#[tokio::test(start_paused = true)]
async fn canary_decisions_carry_the_numbers_the_listeners_get() {
    let (collector, _guard) = collect();
    let rollout = Canary::new(
        CanaryConfig::builder()
            .name("checkout-v2")
            .steps([50.0, 100.0])
            .build()
            .unwrap(),
    );
    let heard = Arc::new(Mutex::new(Vec::new()));
    let log = heard.clone();
    rollout.on_event(move |event: &CanaryEvent<'_>| {
        if let CanaryEvent::Decided { analysis, .. } = event {
            log.lock().unwrap().push((*analysis).clone());
        }
    });
    let stable = service_fn(|_: u32| async { Ok::<u32, BoxError>(1) });
    let candidate = service_fn(|n: u32| async move {
        if n.is_multiple_of(4) {
            Err::<u32, BoxError>("candidate bug".into())
        } else {
            Ok(2)
        }
    });
    let mut service = CanaryService::new(stable, candidate, rollout.clone());
    for n in 0..200 {
        tokio::time::advance(MS).await;
        let _ = service.ready().await.unwrap().call(n).await;
    }
    assert!(rollout.pause());
    assert!(rollout.roll_back());

    let events = collector.take();
    assert_eq!(events.len(), 2, "{events:?}");
    let heard = heard.lock().unwrap();
    // The pause was decided on the traffic above; it started the step afresh, so
    // the roll-back that followed had no numbers yet (and no rates, no latencies).
    let traffic = &heard[0].candidate;
    assert!(traffic.calls > 0 && traffic.failures > 0, "{traffic:?}");
    assert_eq!(heard[1].candidate.calls, 0);
    let decisions = [
        ("pause", Level::INFO, "paused", 0.5),
        ("roll_back", Level::WARN, "rolled_back", 0.0),
    ];
    for ((event, analysis), (decision, level, phase, to)) in
        events.iter().zip(heard.iter()).zip(decisions)
    {
        // The numbers are the ones the decision was made on, as the listeners heard them.
        let (stable, candidate) = (&analysis.stable, &analysis.candidate);
        let seconds = |latency: Option<Duration>| latency.map(|l| Value::F64(l.as_secs_f64()));
        let fields: Vec<(&str, Value)> = [
            ("seawall.canary.name", Some(s("checkout-v2"))),
            ("seawall.canary.decision", Some(s(decision))),
            ("seawall.canary.reason", Some(s("manual"))),
            ("seawall.canary.weight.from", Some(Value::F64(0.5))),
            ("seawall.canary.weight.to", Some(Value::F64(to))),
            ("seawall.canary.phase", Some(s(phase))),
            (
                "seawall.canary.step",
                Some(Value::U64(analysis.step as u64)),
            ),
            (
                "seawall.canary.step.elapsed_seconds",
                Some(Value::F64(analysis.elapsed.as_secs_f64())),
            ),
            (
                "seawall.canary.percentile",
                Some(Value::F64(analysis.percentile)),
            ),
            (
                "seawall.canary.stable.calls",
                Some(Value::U64(stable.calls)),
            ),
            (
                "seawall.canary.stable.failures",
                Some(Value::U64(stable.failures)),
            ),
            (
                "seawall.canary.stable.failure_rate",
                stable.failure_rate.map(Value::F64),
            ),
            (
                "seawall.canary.stable.latency_seconds",
                seconds(stable.latency),
            ),
            (
                "seawall.canary.candidate.calls",
                Some(Value::U64(candidate.calls)),
            ),
            (
                "seawall.canary.candidate.failures",
                Some(Value::U64(candidate.failures)),
            ),
            (
                "seawall.canary.candidate.failure_rate",
                candidate.failure_rate.map(Value::F64),
            ),
            (
                "seawall.canary.candidate.latency_seconds",
                seconds(candidate.latency),
            ),
        ]
        .into_iter()
        .filter_map(|(name, value)| Some((name, value?)))
        .collect();
        event.assert_is("seawall::canary", level, "canary decided", &fields);
    }
}

// ---------------------------------------------------------------- the success path

/// Fallback, retry (with its budget), breaker, bulkhead and timeout around `inner`.
fn whole_stack<S>(inner: S) -> impl Service<u32, Response = u32, Error = BoxError>
where
    S: Service<u32, Response = u32, Error = BoxError> + Clone + 'static,
    S::Future: 'static,
{
    ServiceBuilder::new()
        .layer(
            FallbackLayer::value(0u32)
                .name("stack")
                .on(FallbackOn::kinds([ErrorKind::Other])),
        )
        .layer(RetryLayer::new(
            RetryConfig::builder().name("stack").build().unwrap(),
        ))
        .layer(BreakerLayer::new(Breaker::new(
            BreakerConfig::builder().name("stack").build().unwrap(),
        )))
        .layer(BulkheadLayer::new(Bulkhead::new(
            BulkheadConfig::builder()
                .name("stack")
                .max_concurrent_calls(4)
                .build()
                .unwrap(),
        )))
        .layer(TimeoutLayer::new(Duration::from_secs(1)))
        .service(inner)
}

#[tokio::test(start_paused = true)]
async fn successful_calls_through_the_whole_stack_emit_nothing() {
    let (collector, _guard) = collect();
    let mut stack = whole_stack(zero_fails());
    for n in 1..=1_000 {
        assert_eq!(stack.ready().await.unwrap().call(n).await.unwrap(), n);
    }
    assert!(collector.take().is_empty());
    assert!(collector.spans().is_empty());

    // Control: the same stack, failing, is heard by the same collector.
    assert_eq!(stack.ready().await.unwrap().call(0).await.unwrap(), 0);
    let targets: Vec<String> = collector.take().into_iter().map(|e| e.target).collect();
    assert!(
        targets.contains(&"seawall::retry".to_string()),
        "{targets:?}"
    );
    assert!(
        targets.contains(&"seawall::fallback".to_string()),
        "{targets:?}"
    );
}

// ---------------------------------------------------------------- hostile subscribers

#[tokio::test(start_paused = true)]
async fn a_subscriber_that_panics_does_not_break_the_layers() {
    let _guard = tracing::subscriber::set_default(Collector::hostile());

    // The breaker still opens, refuses and tells its listeners.
    let breaker = Breaker::new(BreakerConfig::builder().name("hostile").build().unwrap());
    let heard = Arc::new(AtomicU64::new(0));
    let count = heard.clone();
    breaker.on_event(move |_| {
        count.fetch_add(1, Ordering::Relaxed);
    });
    breaker.force_open();
    assert_eq!(breaker.state(), State::ForcedOpen);
    assert!(breaker.try_acquire().is_err());
    assert_eq!(
        heard.load(Ordering::Relaxed),
        2,
        "a transition and a rejection"
    );

    // A retry with attempt spans still retries: the span is left out, the event dropped.
    let mut service = RetryLayer::new(
        retry_config()
            .max_attempts(3)
            .attempt_spans(true)
            .build()
            .unwrap(),
    )
    .layer(fails_first(2));
    assert_eq!(service.ready().await.unwrap().call(1).await.unwrap(), 7);

    // A fallback still answers, a bulkhead still refuses.
    let mut answered = ServiceBuilder::new()
        .layer(
            FallbackLayer::value(0u32)
                .name("hostile")
                .on(FallbackOn::kinds([ErrorKind::Other])),
        )
        .service(zero_fails());
    assert_eq!(answered.ready().await.unwrap().call(0).await.unwrap(), 0);
    let bulkhead = Bulkhead::new(
        BulkheadConfig::builder()
            .max_concurrent_calls(1)
            .build()
            .unwrap(),
    );
    let _held = bulkhead.try_acquire().unwrap();
    assert!(bulkhead.try_acquire().is_err());
    assert_eq!(bulkhead.rejected(), 1);
}

// ---------------------------------------------------------------- a flood

/// Counts events and keeps nothing.
#[derive(Clone, Default)]
struct Counter(Arc<AtomicU64>);

impl Subscriber for Counter {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, _: &Event<'_>) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

#[test]
fn ten_thousand_rejections_are_ten_thousand_events_and_no_allocation() {
    // Every event is emitted: no sampling. A subscriber (or a filter in it)
    // decides what to keep.
    let counter = Counter::default();
    let _guard = tracing::subscriber::set_default(counter.clone());
    let breaker = Breaker::new(BreakerConfig::builder().name("flood").build().unwrap());
    let bulkhead = Bulkhead::new(
        BulkheadConfig::builder()
            .name("flood")
            .max_concurrent_calls(1)
            .build()
            .unwrap(),
    );
    breaker.force_open();
    let _held = bulkhead.try_acquire().unwrap();
    // Warm-up: the first event registers its call site.
    assert!(breaker.try_acquire().is_err());
    assert!(bulkhead.try_acquire().is_err());
    counter.0.store(0, Ordering::Relaxed);

    let allocations = counting_allocator::allocations_in(|| {
        for _ in 0..10_000 {
            assert!(breaker.try_acquire().is_err());
        }
    });
    assert_eq!(counter.0.load(Ordering::Relaxed), 10_000);
    assert_eq!(allocations, 0, "breaker rejections");

    let allocations = counting_allocator::allocations_in(|| {
        for _ in 0..10_000 {
            assert!(bulkhead.try_acquire().is_err());
        }
    });
    assert_eq!(counter.0.load(Ordering::Relaxed), 20_000);
    assert_eq!(allocations, 0, "bulkhead rejections");
}
