//! The detailed report, as served in JSON.

use super::{Details, Lifecycle, Status};

/// The health of the service, from [`HealthRegistry::report`](super::HealthRegistry::report).
///
/// Serialized as the JSON body of `/health` (schema in the README).
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[non_exhaustive]
pub struct HealthReport {
    /// The overall status, after each component's criticality.
    pub status: Status,
    /// Always true: whoever reads this, the process answered.
    pub live: bool,
    /// Whether the service may take traffic: serving and not down.
    pub ready: bool,
    /// Where the service is in its life.
    pub lifecycle: Lifecycle,
    /// Requests in flight, as counted by the [`InFlightLayer`](super::InFlightLayer).
    pub in_flight: usize,
    /// Each component, in registration order.
    pub components: Vec<ComponentReport>,
}

/// One component in a [`HealthReport`].
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[non_exhaustive]
pub struct ComponentReport {
    /// Its name.
    pub name: String,
    /// What sort of component it is (`breaker`, `check`, ...).
    pub kind: String,
    /// What it does to the overall status: its own status after its criticality.
    pub impact: Status,
    /// Whether it was registered as critical.
    pub critical: bool,
    /// Whether it was registered as having a fallback.
    pub fallback: bool,
    /// Its own status and what explains it.
    #[serde(flatten)]
    pub details: Details,
}
