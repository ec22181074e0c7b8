//! The chaos layer's `tracing` event (feature `tracing`), listed with its
//! fields in [`observe`](crate::observe#tracing).

use tracing::Level;

use crate::observe::trace_event;

use super::fault::FaultKind;

const TARGET: &str = "seawall::chaos";

/// A fault injected, at `DEBUG`: faults are asked for, and come at a rate.
pub(super) fn injected(name: &str, fault: FaultKind) {
    trace_event!(
        TARGET,
        Level::DEBUG,
        "seawall.chaos.name" = name,
        "seawall.chaos.fault" = fault.as_str(),
        "chaos injected a fault"
    );
}
