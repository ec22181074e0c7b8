//! The fallback's `tracing` events (feature `tracing`), listed with their
//! fields in [`observe`](crate::observe#tracing).

use tracing::Level;

use crate::observe::trace_event;

use super::Cause;

const TARGET: &str = "seawall::fallback";

/// A degraded answer, at `INFO`.
pub(super) fn taken(name: &str, cause: Cause) {
    trace_event!(
        TARGET,
        Level::INFO,
        "seawall.fallback.name" = name,
        "error.type" = cause.as_str(),
        "fallback answered"
    );
}

/// A fallback that failed itself, at `WARN`: the recovery did not recover,
/// and the caller gets an error.
pub(super) fn failed(name: &str, cause: Cause) {
    trace_event!(
        TARGET,
        Level::WARN,
        "seawall.fallback.name" = name,
        "error.type" = cause.as_str(),
        "fallback failed"
    );
}
