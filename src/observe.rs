//! What seawall tells the outside world: metric names, events and (feature
//! `tracing`) `tracing` events.
//!
//! # Metrics
//!
//! Recorded through the [`metrics`] crate, so any exporter (Prometheus,
//! StatsD, OpenTelemetry) picks them up. Every series carries a `name` label:
//! the name given to the breaker (or other layer) in its config. Handles are
//! resolved when the breaker is built, so install the recorder first (the
//! transitions counter, rare and labelled by its two states, is looked up at
//! each transition).
//!
//! | name | kind | labels | meaning |
//! |---|---|---|---|
//! | `seawall_breaker_calls_total` | counter | `name`, `outcome` (`success`, `failure`, `slow_success`, `slow_failure`, `ignored`) | calls recorded by the breaker |
//! | `seawall_breaker_rejections_total` | counter | `name` | calls refused while open, forced open or half-open and full |
//! | `seawall_breaker_state` | gauge | `name` | the state: 0 closed, 1 open, 2 half-open, 3 forced open, 4 disabled, 5 metrics only |
//! | `seawall_breaker_transitions_total` | counter | `name`, `from`, `to` | state transitions |
//! | `seawall_breaker_failure_rate` | gauge | `name` | failure rate of the window, 0 to 1, whenever the window is evaluated |
//! | `seawall_breaker_slow_call_rate` | gauge | `name` | slow-call rate of the window, 0 to 1, likewise |
//! | `seawall_bulkhead_in_flight` | gauge | `name` | slots of a bulkhead taken now |
//! | `seawall_bulkhead_rejections_total` | counter | `name` | calls a bulkhead refused (full, queue full, or wait ran out) |
//! | `seawall_bulkhead_wait_seconds` | histogram | `name` | how long callers queued for a slot, whether they got one or not (callers that did not queue are not recorded) |
//! | `seawall_fallback_taken_total` | counter | `name`, `cause` (an [`ErrorKind`](crate::ErrorKind) name or `response`) | degraded answers a fallback produced |
//! | `seawall_fallback_failed_total` | counter | `name`, `cause` | fallbacks that themselves failed |
//! | `seawall_retry_attempts_total` | counter | `name` | attempts sent by a retry layer, first attempts included |
//! | `seawall_retry_retries_total` | counter | `name`, `reason` (`error`, `response`) | retries, by what was retried: an `Err` or a retryable response |
//! | `seawall_retry_budget_refusals_total` | counter | `name` | retries the budget refused |
//! | `seawall_retry_give_ups_total` | counter | `name`, `reason` (`max_attempts`, `deadline`, `not_replayable`, `pushback`) | requests that still failed and were not retried further (budget refusals are counted above) |
//! | `seawall_retry_budget_level` | gauge | `name` | the budget after the last retry decision: retries available (ratio) or tokens (token bucket) |
//! | `seawall_chaos_injected_total` | counter | `name`, `fault` (a [`FaultKind`](crate::chaos::FaultKind) name: `latency`, `error`, `response`, `latency_error`, `latency_response`) | faults a chaos layer injected (feature `chaos`) |
//! | `seawall_canary_weight` | gauge | `name` | a canary's weight: the candidate's share of requests, 0 to 1 |
//! | `seawall_canary_decisions_total` | counter | `name`, `decision` (`promote`, `roll_back`, `pause`, `resume`) | decisions a canary made |
//!
//!
//! With the `health` feature, the health registry adds:
//!
//! | name | kind | labels | meaning |
//! |---|---|---|---|
//! | `seawall_health_status` | gauge | `component` | a component's own status: 0 up, 1 degraded, 2 down |
//! | `seawall_health_overall_status` | gauge | | the overall status after criticality: 0 up, 1 degraded, 2 down |
//! | `seawall_health_ready` | gauge | | 1 when ready, 0 when not (starting, draining or down) |
//! | `seawall_health_in_flight` | gauge | | requests counted by the in-flight layer |
//!
//! Successes are counted on per-thread stripes and published to
//! `seawall_breaker_calls_total{outcome="success"}` every 1024 successes per
//! stripe and whenever anything else is recorded, so a quiet success path
//! never touches the recorder.
//!
//! A keyed breaker or bulkhead (one per host, tenant...) names every key's
//! component after its config by default, so keys chosen by callers cannot
//! create series: the counters and histograms add up over all keys, and the
//! gauges (state, rates, in flight), which the keys' components would
//! overwrite, are not published. Asked for (`KeyedBreaker::with_key_labels`),
//! the first 1,000 distinct keys are labelled `"{name}/{key}"` and later ones
//! `"{name}/other"`; the component shared by keys that find the map full of
//! protected entries is `"{name}/overflow"`.
//!
//! A retry layer's handles are resolved when it is built ([`RetryLayer::new`](crate::retry::RetryLayer::new)).
//!
//! # Events
//!
//! Each layer reports what happens to it as its own event type, to the
//! listeners registered with its `on_event`:
//!
//! | layer | event | when |
//! |---|---|---|
//! | [`Breaker`](crate::breaker::Breaker) | [`BreakerEvent`](crate::breaker::BreakerEvent) | every transition, rejection and recorded call (`on_state_transition`: transitions only) |
//! | `Bulkhead` | `BulkheadEvent` | every refusal and every wait for a slot |
//! | `RetryConfigBuilder` | `RetryEvent` | every retry scheduled, budget refusal and give-up (a first attempt that succeeds sends none) |
//! | `FallbackLayer` | `FallbackEvent` | every fallback taken or failed |
//! | `Chaos` | `ChaosEvent` | every fault injected |
//! | `Canary` | `CanaryEvent` | every decision, with the numbers it was made on |
//!
//! With no listener registered, none is built and the success path does not
//! look for one; with listeners, notifying them takes no lock. A listener that
//! panics is caught; the layer carries on.
//!
//! # Tracing
//!
//! With the `tracing` feature, each layer also reports as [`tracing`] events,
//! where it counts the same thing in its metrics and whether or not anyone
//! listens with `on_event`. Each layer has a fixed target, so a filter like
//! `seawall=info` or `seawall::retry=debug` picks them. Fields follow the
//! OpenTelemetry semantic conventions where one exists (`error.type`,
//! `http.request.resend_count`); the rest are under `seawall.<layer>.`.
//! Durations are in seconds (`f64`, as in the metrics), and a field whose
//! value is unknown is left out.
//!
//! | target | level | message | fields | when |
//! |---|---|---|---|---|
//! | `seawall::breaker` | `WARN` into open or forced open, `INFO` otherwise | `circuit breaker changed state` | `seawall.breaker.name`, `seawall.breaker.state.from`, `seawall.breaker.state.to` (a [`State`](crate::breaker::State) name) | every transition, once, by the thread that made it |
//! | `seawall::breaker` | `INFO` | `circuit breaker rejected a call` | `seawall.breaker.name`, `seawall.breaker.state` (the state that refused), `seawall.breaker.retry_after_seconds` (when known), `error.type` = `breaker_open` | every call refused |
//! | `seawall::bulkhead` | `INFO` | `bulkhead rejected a call` | `seawall.bulkhead.name`, `error.type` = `bulkhead_full` | every call refused (full, queue full, or wait ran out) |
//! | `seawall::bulkhead` | `DEBUG` | `bulkhead wait ended` | `seawall.bulkhead.name`, `seawall.bulkhead.wait_seconds`, `seawall.bulkhead.acquired` | every caller that queued for a slot, got one or not |
//! | `seawall::retry` | `DEBUG` | `retry scheduled` | `seawall.retry.name`, `http.request.resend_count` (the retry's number: 1 for the first), `seawall.retry.delay_seconds`, `seawall.retry.reason` (`error`, `response`), `seawall.retry.pushback` (whether the server chose the delay), `error.type` (the [`ErrorKind`](crate::ErrorKind) name of a retried error; none for a response) | every retry |
//! | `seawall::retry` | `INFO` | `retry budget refused a retry` | `seawall.retry.name`, `seawall.retry.attempts`, `error.type` = `budget_exhausted` | every retry the budget refused |
//! | `seawall::retry` | `INFO` | `retry gave up` | `seawall.retry.name`, `seawall.retry.attempts`, `seawall.retry.give_up.reason` (`max_attempts`, `deadline`, `not_replayable`, `pushback`), `error.type` (as above) | every request that failed in a retryable way and was not retried further |
//! | `seawall::fallback` | `INFO` | `fallback answered` | `seawall.fallback.name`, `error.type` (what it covered: an `ErrorKind` name or `response`) | every degraded answer |
//! | `seawall::fallback` | `WARN` | `fallback failed` | `seawall.fallback.name`, `error.type` (as above) | every fallback that failed itself |
//! | `seawall::chaos` | `DEBUG` | `chaos injected a fault` | `seawall.chaos.name`, `seawall.chaos.fault` (a [`FaultKind`](crate::chaos::FaultKind) name) | every fault injected (feature `chaos`) |
//! | `seawall::canary` | `WARN` for a roll-back, `INFO` otherwise | `canary decided` | `seawall.canary.name`, `seawall.canary.decision`, `seawall.canary.reason`, `seawall.canary.weight.from` and `.to` (0 to 1), `seawall.canary.phase`, `seawall.canary.step`, `seawall.canary.step.elapsed_seconds`, `seawall.canary.percentile`, and for `stable` and `candidate`: `seawall.canary.<side>.calls`, `.failures`, `.failure_rate`, `.latency_seconds` | every decision (feature `canary`) |
//!
//! The levels follow one rule: a change of state an operator should see
//! (a breaker opening, a rollout rolled back, a recovery that failed) is
//! `WARN`; what happens to one request while the layer does its job (a
//! refusal, a give-up, a degraded answer) is `INFO`, so a `WARN` filter shows
//! an outage's turning points and not each of its calls; retries, waits and
//! injected faults, routine by design, are `DEBUG`.
//!
//! Nothing is emitted for a call that succeeds: the events sit beside the
//! metrics the layers count off the success path, and a `tracing` event whose
//! level or target no subscriber wants costs a check of tracing's cached
//! interest. Every event is emitted, none sampled: a flood of refusals is a
//! flood of events, for the subscriber's filter to thin out; a breaker or a
//! bulkhead allocates nothing to emit one.
//!
//! [`RetryConfigBuilder::attempt_spans`](crate::retry::RetryConfigBuilder::attempt_spans)
//! adds a span per attempt (`retry attempt`, target `seawall::retry`, `INFO`,
//! with `seawall.retry.name`, `seawall.retry.attempt` and, on a resend,
//! `http.request.resend_count`): off by default, it is the one `tracing` cost a
//! successful call can be asked to pay.
//!
//! A subscriber that panics in `event` (or while making an attempt span) is
//! caught like a listener, and the layer carries on; one that panics while an
//! attempt span is entered or exited is not, and the panic reaches whoever
//! polls the response future. With `panic = "abort"`, nothing is caught.
//!
//! HTTP and gRPC status codes (`http.response.status_code`,
//! `rpc.grpc.status_code`) are not among the fields: the layers are generic
//! over the response, and the response a retry or fallback judged a failure is
//! reported as `seawall.retry.reason` = `response` or `error.type` =
//! `response`.
//!
//! [`tracing`]: https://docs.rs/tracing

use crate::sync::OnceSlot;

/// Calls recorded by a breaker, by outcome.
pub const BREAKER_CALLS_TOTAL: &str = "seawall_breaker_calls_total";
/// Calls a breaker refused.
pub const BREAKER_REJECTIONS_TOTAL: &str = "seawall_breaker_rejections_total";
/// A breaker's current state as a number (see [`State::as_gauge`](crate::breaker::State::as_gauge)).
pub const BREAKER_STATE: &str = "seawall_breaker_state";
/// A breaker's state transitions, by `from` and `to`.
pub const BREAKER_TRANSITIONS_TOTAL: &str = "seawall_breaker_transitions_total";
/// A breaker's failure rate, 0 to 1.
pub const BREAKER_FAILURE_RATE: &str = "seawall_breaker_failure_rate";
/// A breaker's slow-call rate, 0 to 1.
pub const BREAKER_SLOW_CALL_RATE: &str = "seawall_breaker_slow_call_rate";

/// A canary's weight: the candidate's share of requests, 0 to 1.
pub const CANARY_WEIGHT: &str = "seawall_canary_weight";
/// A canary's decisions, by `decision`.
pub const CANARY_DECISIONS_TOTAL: &str = "seawall_canary_decisions_total";

/// A health component's own status: 0 up, 1 degraded, 2 down.
pub const HEALTH_STATUS: &str = "seawall_health_status";
/// The overall health status, after criticality: 0 up, 1 degraded, 2 down.
pub const HEALTH_OVERALL_STATUS: &str = "seawall_health_overall_status";
/// 1 when the service is ready, 0 when not.
pub const HEALTH_READY: &str = "seawall_health_ready";
/// Requests in flight, as counted by the health registry's in-flight layer.
pub const HEALTH_IN_FLIGHT: &str = "seawall_health_in_flight";
/// Slots of a bulkhead taken now.
pub const BULKHEAD_IN_FLIGHT: &str = "seawall_bulkhead_in_flight";
/// Calls a bulkhead refused.
pub const BULKHEAD_REJECTIONS_TOTAL: &str = "seawall_bulkhead_rejections_total";
/// How long callers waited for a bulkhead slot, in seconds.
pub const BULKHEAD_WAIT_SECONDS: &str = "seawall_bulkhead_wait_seconds";
/// Degraded answers produced by a fallback, by `cause`.
pub const FALLBACK_TAKEN_TOTAL: &str = "seawall_fallback_taken_total";
/// Fallbacks that failed themselves, by `cause`.
pub const FALLBACK_FAILED_TOTAL: &str = "seawall_fallback_failed_total";
/// Attempts sent by a retry layer.
pub const RETRY_ATTEMPTS_TOTAL: &str = "seawall_retry_attempts_total";
/// Retries, by `reason`.
pub const RETRY_RETRIES_TOTAL: &str = "seawall_retry_retries_total";
/// Retries the budget refused.
pub const RETRY_BUDGET_REFUSALS_TOTAL: &str = "seawall_retry_budget_refusals_total";
/// Requests given up on, by `reason`.
pub const RETRY_GIVE_UPS_TOTAL: &str = "seawall_retry_give_ups_total";
/// The retry budget's level.
pub const RETRY_BUDGET_LEVEL: &str = "seawall_retry_budget_level";
/// Faults injected by a chaos layer, by `fault` kind.
pub const CHAOS_INJECTED_TOTAL: &str = "seawall_chaos_injected_total";

/// The listeners registered on one component, for one kind of event.
///
/// Every layer keeps its listeners in one of these, with `F` the listener's
/// function type (for example `dyn Fn(&BreakerEvent<'_>) + Send + Sync`).
/// Listeners are only ever added, never removed, so the list is a chain of
/// write-once slots: reading it ([`is_empty`](Self::is_empty),
/// [`notify`](Self::notify)) takes no lock and allocates nothing, one
/// acquire load per listener; adding one walks to the end and claims the
/// first free slot, and a racing add simply claims the next.
pub(crate) struct Listeners<F: ?Sized + 'static> {
    head: OnceSlot<Box<Node<F>>>,
}

struct Node<F: ?Sized + 'static> {
    listener: Box<F>,
    next: OnceSlot<Box<Node<F>>>,
}

impl<F: ?Sized + 'static> Listeners<F> {
    /// No listeners.
    pub(crate) fn new() -> Self {
        Self {
            head: OnceSlot::new(),
        }
    }

    /// Whether no listener is registered: one acquire load, so a component
    /// can skip building an event nobody listens to.
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.head.get().is_none()
    }

    /// Registers `listener` after those already registered.
    pub(crate) fn add(&self, listener: Box<F>) {
        let mut node = Box::new(Node {
            listener,
            next: OnceSlot::new(),
        });
        let mut slot = &self.head;
        loop {
            match slot.set(node) {
                Ok(()) => return,
                Err(lost) => {
                    node = lost;
                    // Set: either before this call or by a racing add; go past it.
                    slot = match slot.get() {
                        Some(taken) => &taken.next,
                        None => unreachable!("a slot that refused a value holds one"),
                    };
                }
            }
        }
    }

    /// Calls `call` with each listener, in the order they were added. A
    /// listener that panics is caught and skipped: a bug in an observer must
    /// never fail the call being observed.
    pub(crate) fn notify(&self, call: impl Fn(&F)) {
        let mut next = self.head.get();
        while let Some(node) = next {
            let listener = &*node.listener;
            contain_panic(|| call(listener));
            next = node.next.get();
        }
    }

    /// How many listeners are registered.
    pub(crate) fn len(&self) -> usize {
        let mut count = 0;
        let mut next = self.head.get();
        while let Some(node) = next {
            count += 1;
            next = node.next.get();
        }
        count
    }
}

/// Runs `report`, an observer's code (a listener, a `tracing` subscriber),
/// catching a panic in it: a bug in an observer must never fail the call
/// being observed. Free when nothing panics; with `panic = "abort"` nothing
/// can be caught.
#[inline]
pub(crate) fn contain_panic(report: impl FnOnce()) {
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(report));
}

/// Emits one `tracing` event with `target`, at a `level` chosen at run time
/// (`WARN`, `INFO` or `DEBUG`; tracing fixes each call site's level, so this
/// expands to one call site per level), a subscriber's panic contained.
/// Every layer's `trace.rs` emits through it; the events are listed in the
/// module docs.
#[cfg(feature = "tracing")]
macro_rules! trace_event {
    ($target:expr, $level:expr, $($fields_and_message:tt)+) => {{
        let level: ::tracing::Level = $level;
        $crate::observe::contain_panic(|| {
            if level == ::tracing::Level::WARN {
                ::tracing::event!(target: $target, ::tracing::Level::WARN, $($fields_and_message)+)
            } else if level == ::tracing::Level::INFO {
                ::tracing::event!(target: $target, ::tracing::Level::INFO, $($fields_and_message)+)
            } else {
                ::tracing::event!(target: $target, ::tracing::Level::DEBUG, $($fields_and_message)+)
            }
        })
    }};
}
#[cfg(feature = "tracing")]
pub(crate) use trace_event;

impl<F: ?Sized + 'static> Default for Listeners<F> {
    fn default() -> Self {
        Self::new()
    }
}

impl<F: ?Sized + 'static> std::fmt::Debug for Listeners<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listeners")
            .field("len", &self.len())
            .finish()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::Listeners;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    type Counter = dyn Fn(&usize) + Send + Sync;

    #[test]
    fn listeners_are_called_in_order_and_a_panic_is_contained() {
        let listeners: Listeners<Counter> = Listeners::new();
        assert!(listeners.is_empty());
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        for id in 0..3 {
            let seen = seen.clone();
            listeners.add(Box::new(move |event: &usize| {
                seen.lock().unwrap().push((id, *event));
                if id == 1 {
                    panic!("a listener's bug");
                }
            }));
        }
        assert!(!listeners.is_empty());
        assert_eq!(listeners.len(), 3);
        listeners.notify(|listener| listener(&7));
        assert_eq!(*seen.lock().unwrap(), vec![(0, 7), (1, 7), (2, 7)]);
    }

    #[test]
    fn racing_adds_lose_no_listener() {
        let listeners: Arc<Listeners<Counter>> = Arc::new(Listeners::new());
        let calls = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let listeners = listeners.clone();
                let calls = calls.clone();
                std::thread::spawn(move || {
                    for _ in 0..50 {
                        let calls = calls.clone();
                        listeners.add(Box::new(move |_: &usize| {
                            calls.fetch_add(1, Ordering::Relaxed);
                        }));
                        listeners.notify(|listener| listener(&0));
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        assert_eq!(listeners.len(), 200);
        calls.store(0, Ordering::Relaxed);
        listeners.notify(|listener| listener(&0));
        assert_eq!(calls.load(Ordering::Relaxed), 200);
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::Listeners;
    use loom::sync::atomic::{AtomicUsize, Ordering};
    use loom::sync::Arc;

    #[test]
    fn a_listener_added_concurrently_is_seen_whole_or_not_at_all() {
        loom::model(|| {
            let listeners: Arc<Listeners<dyn Fn(&()) + Send + Sync>> = Arc::new(Listeners::new());
            let calls = Arc::new(AtomicUsize::new(0));
            let adder = {
                let listeners = listeners.clone();
                let calls = calls.clone();
                loom::thread::spawn(move || {
                    listeners.add(Box::new(move |_: &()| {
                        calls.fetch_add(1, Ordering::Relaxed);
                    }));
                })
            };
            listeners.add(Box::new(|_: &()| {}));
            listeners.notify(|listener| listener(&()));
            adder.join().unwrap();
            let before = calls.load(Ordering::Relaxed);
            assert!(before <= 1);
            listeners.notify(|listener| listener(&()));
            assert_eq!(calls.load(Ordering::Relaxed), before + 1);
            assert_eq!(listeners.len(), 2);
        });
    }
}
