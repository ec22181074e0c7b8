//! The bulkhead's `tracing` events (feature `tracing`), listed with their
//! fields in [`observe`](crate::observe#tracing).

use std::time::Duration;

use tracing::Level;

use crate::observe::trace_event;

const TARGET: &str = "seawall::bulkhead";

/// A refused call, at `INFO` (one per call, like the breaker's rejections).
pub(super) fn rejected(name: &str) {
    trace_event!(
        TARGET,
        Level::INFO,
        "seawall.bulkhead.name" = name,
        "error.type" = crate::ErrorKind::BulkheadFull.as_str(),
        "bulkhead rejected a call"
    );
}

/// The end of a wait in the queue, at `DEBUG`; a wait that ran out is
/// followed by a rejection.
pub(super) fn waited(name: &str, waited: Duration, acquired: bool) {
    trace_event!(
        TARGET,
        Level::DEBUG,
        "seawall.bulkhead.name" = name,
        "seawall.bulkhead.wait_seconds" = waited.as_secs_f64(),
        "seawall.bulkhead.acquired" = acquired,
        "bulkhead wait ended"
    );
}
