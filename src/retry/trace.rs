//! The retry layer's `tracing` events and attempt spans (feature `tracing`),
//! listed with their fields in [`observe`](crate::observe#tracing).

use std::time::Duration;

use tracing::{Level, Span};

use crate::error::ErrorKind;
use crate::observe::{contain_panic, trace_event};

const TARGET: &str = "seawall::retry";

/// The `error.type` of an attempt's result: the [`ErrorKind`] name of an
/// error (`other` for the inner service's own), none for a response.
pub(super) fn error_type<T, E: 'static>(result: &Result<T, E>) -> Option<&'static str> {
    result
        .as_ref()
        .err()
        .map(|err| ErrorKind::of_any(err).as_str())
}

/// A retry scheduled, at `DEBUG`: retries are the layer doing its job.
/// `attempt` is the attempt that failed, so the retry is resend number
/// `attempt` (`http.request.resend_count`).
pub(super) fn scheduled(
    name: &str,
    attempt: u32,
    delay: Duration,
    reason: &'static str,
    pushback: bool,
    error_type: Option<&'static str>,
) {
    trace_event!(
        TARGET,
        Level::DEBUG,
        "seawall.retry.name" = name,
        "http.request.resend_count" = attempt,
        "seawall.retry.delay_seconds" = delay.as_secs_f64(),
        "seawall.retry.reason" = reason,
        "seawall.retry.pushback" = pushback,
        "error.type" = error_type,
        "retry scheduled"
    );
}

/// A retry the budget refused, at `INFO`; the caller gets `BudgetExhausted`.
pub(super) fn budget_refused(name: &str, attempts: u32) {
    trace_event!(
        TARGET,
        Level::INFO,
        "seawall.retry.name" = name,
        "seawall.retry.attempts" = attempts,
        "error.type" = ErrorKind::BudgetExhausted.as_str(),
        "retry budget refused a retry"
    );
}

/// A request given up on, at `INFO` (one per failed request, like the
/// breaker's rejections).
pub(super) fn gave_up(
    name: &str,
    attempts: u32,
    reason: &'static str,
    error_type: Option<&'static str>,
) {
    trace_event!(
        TARGET,
        Level::INFO,
        "seawall.retry.name" = name,
        "seawall.retry.attempts" = attempts,
        "seawall.retry.give_up.reason" = reason,
        "error.type" = error_type,
        "retry gave up"
    );
}

/// The span of attempt `attempt` (1 for the first), made only when the
/// config asks for attempt spans. Boxed: the response future carries it, and
/// a response future that never makes one stays small. A subscriber's panic
/// while making it is contained (the attempt then has no span).
pub(super) fn attempt_span(name: &str, attempt: u32) -> Box<Span> {
    let mut span = Span::none();
    contain_panic(|| {
        span = tracing::info_span!(
            target: TARGET,
            "retry attempt",
            "seawall.retry.name" = name,
            "seawall.retry.attempt" = attempt,
            "http.request.resend_count" = (attempt > 1).then(|| attempt - 1),
        );
    });
    Box::new(span)
}
