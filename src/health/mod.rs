//! A health reporter: liveness, readiness and a detailed report, built from the
//! state of breakers and of cheap, cached checks.
//!
//! # Why
//!
//! Load balancers, orchestrators (Kubernetes probes, ECS health checks) and
//! canary releases steer traffic by what a service says about its health. Two
//! classic mistakes turn that signal against the service:
//!
//! - a **liveness** probe that fails because a dependency is down makes the
//!   orchestrator restart pods that are perfectly healthy, which fixes nothing
//!   and adds a cold start to the outage. Here liveness never looks at a
//!   dependency: [`HealthRegistry::live`] is true as long as the process
//!   answers;
//! - a health endpoint that calls the dependency it reports on turns every
//!   probe into load on something already struggling. Here breakers report
//!   what they already know (no call), and a custom [`Check`] keeps its result
//!   for a minimum interval and runs at most once at a time, however many
//!   probes arrive.
//!
//! **Readiness** (may this instance take traffic?) is where dependencies
//! count, and only as much as they matter: each component is registered with a
//! [`Criticality`]. An open breaker in front of a critical dependency without a
//! fallback makes the instance not ready; a non-critical dependency, or one the
//! service can answer without (a [`FallbackService`](Criticality::with_fallback)),
//! only marks the report [`Degraded`](Status::Degraded).
//!
//! Readiness is also false until the service says it has started
//! ([`HealthRegistry::mark_started`]) and turns false at once on
//! [`HealthRegistry::shutdown`], while liveness stays true and in-flight
//! requests, counted by the [`InFlightLayer`], finish
//! ([`HealthRegistry::drain`]): the "fast startup and graceful shutdown" of a
//! twelve-factor service.
//!
//! # How
//!
//! - [`HealthRegistry`] holds the components and the lifecycle; clones share it.
//! - [`HealthService`] answers `GET`/`HEAD` `/livez`, `/readyz` and `/health`
//!   over HTTP (JSON, or HTML for a browser), mountable in axum.
//! - With the `tonic` feature, [`grpc::spawn_bridge`] keeps tonic-health's
//!   `grpc.health.v1` statuses in step with the registry.
//! - [`HealthRegistry::subscribe`] gives a `tokio::sync::watch` receiver of the
//!   [`HealthSummary`], updated the moment a registered breaker changes state,
//!   a check finishes or the lifecycle moves.
//! - Anything else with a health (a bulkhead, a connection pool) becomes a
//!   component by implementing [`Component`].
//!
//! ```
//! use seawall::breaker::{Breaker, BreakerConfig};
//! use seawall::health::{Check, Criticality, HealthRegistry, Status};
//! use std::time::Duration;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), seawall::BoxError> {
//! let payments = Breaker::new(BreakerConfig::builder().name("payments").build()?);
//! let recommendations = Breaker::new(BreakerConfig::builder().name("recommendations").build()?);
//!
//! let health = HealthRegistry::new();
//! health.register_breaker(&payments, Criticality::critical());
//! health.register_breaker(&recommendations, Criticality::non_critical());
//! health.register_check(
//!     Check::new("database", || async { Ok::<_, std::io::Error>(()) })
//!         .timeout(Duration::from_millis(500))
//!         .min_interval(Duration::from_secs(5)),
//!     Criticality::critical(),
//! );
//! assert!(!health.report().await.ready, "not ready before start-up is done");
//! health.mark_started();
//!
//! recommendations.force_open();
//! let report = health.report().await;
//! assert_eq!(report.status, Status::Degraded);
//! assert!(report.ready);
//!
//! payments.force_open();
//! let report = health.report().await;
//! assert_eq!(report.status, Status::Down);
//! assert!(!report.ready);
//! assert!(health.live());
//! # Ok(())
//! # }
//! ```
//!
//! # Metrics
//!
//! The status gauges are set whenever the [`HealthSummary`] is recomputed, the
//! in-flight gauge on every request in and out. Handles without a component
//! label are resolved when the registry is built, so install the recorder
//! first. Names in [`observe`](crate::observe).
//!
//! | name | kind | labels | meaning |
//! |---|---|---|---|
//! | `seawall_health_status` | gauge | `component` | a component's own status (the worst of those sharing a name): 0 up, 1 degraded, 2 down |
//! | `seawall_health_overall_status` | gauge | | the overall status after criticality: 0 up, 1 degraded, 2 down |
//! | `seawall_health_ready` | gauge | | 1 when ready, 0 when not (starting, draining or down) |
//! | `seawall_health_in_flight` | gauge | | requests counted by the [`InFlightLayer`] |

mod component;
mod error;
pub mod future;
mod http;
mod layer;
mod registry;
mod report;

#[cfg(feature = "tonic")]
pub mod grpc;

use std::fmt;

#[cfg(feature = "bulkhead")]
pub use self::component::BulkheadComponent;
pub use self::component::{BreakerComponent, Check, Component, ComponentFuture, Details};
pub use self::error::DrainTimedOut;
pub use self::http::HealthService;
pub use self::layer::{InFlightLayer, InFlightService};
pub use self::registry::{HealthRegistry, HealthSummary, InFlightGuard};
pub use self::report::{ComponentReport, HealthReport};

/// How healthy a component, or the whole service, is.
///
/// Ordered from best to worst, so the overall status is the maximum.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Working normally.
    Up,
    /// Working, with less than full service (a fallback answers, a
    /// non-critical dependency is down, a breaker is probing).
    Degraded,
    /// Not working.
    Down,
}

impl Status {
    /// The status in lower case, as in the JSON report.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Up => "up",
            Self::Degraded => "degraded",
            Self::Down => "down",
        }
    }

    /// The value of the `seawall_health_status` gauges: 0 up, 1 degraded, 2 down.
    pub fn as_gauge(self) -> f64 {
        match self {
            Self::Up => 0.0,
            Self::Degraded => 1.0,
            Self::Down => 2.0,
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where the service is in its life: readiness is possible only while
/// [`Serving`](Self::Serving).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Lifecycle {
    /// Built, not yet marked started.
    Starting,
    /// Marked started and not shut down.
    Serving,
    /// Shut down: not ready, finishing what is in flight.
    Draining,
}

impl Lifecycle {
    /// The lifecycle in lower case, as in the JSON report.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Starting => "starting",
            Self::Serving => "serving",
            Self::Draining => "draining",
        }
    }

    fn from_u8(value: u8) -> Self {
        match value {
            0 => Self::Starting,
            1 => Self::Serving,
            _ => Self::Draining,
        }
    }
}

impl fmt::Display for Lifecycle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How much a component matters to readiness.
///
/// A [`Down`](Status::Down) component that is critical and has no fallback
/// makes the service down (not ready); any other down component makes it
/// [`Degraded`](Status::Degraded). A degraded component degrades the service
/// whatever its criticality.
///
/// ```
/// use seawall::health::{Criticality, Status};
///
/// assert_eq!(Criticality::critical().impact(Status::Down), Status::Down);
/// assert_eq!(Criticality::critical().with_fallback().impact(Status::Down), Status::Degraded);
/// assert_eq!(Criticality::non_critical().impact(Status::Down), Status::Degraded);
/// assert_eq!(Criticality::non_critical().impact(Status::Up), Status::Up);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Criticality {
    critical: bool,
    fallback: bool,
}

impl Criticality {
    /// The service cannot answer without this component.
    pub fn critical() -> Self {
        Self {
            critical: true,
            fallback: false,
        }
    }

    /// The service answers without this component, with less.
    pub fn non_critical() -> Self {
        Self {
            critical: false,
            fallback: false,
        }
    }

    /// The callers of this component have a fallback (a cached or default
    /// answer), so its failure degrades the service instead of taking it down.
    pub fn with_fallback(self) -> Self {
        Self {
            fallback: true,
            ..self
        }
    }

    /// Whether the component was marked critical.
    pub fn is_critical(self) -> bool {
        self.critical
    }

    /// Whether the component was marked as having a fallback.
    pub fn has_fallback(self) -> bool {
        self.fallback
    }

    /// What a component in `status` does to the overall status.
    pub fn impact(self, status: Status) -> Status {
        match status {
            Status::Down if self.critical && !self.fallback => Status::Down,
            Status::Down | Status::Degraded => Status::Degraded,
            Status::Up => Status::Up,
        }
    }
}

impl Default for Criticality {
    /// [`critical`](Self::critical): a dependency nobody classified is assumed
    /// to matter.
    fn default() -> Self {
        Self::critical()
    }
}
