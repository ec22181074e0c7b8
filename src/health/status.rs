//! How healthy something is, how much it matters, and where the service is
//! in its life.

use std::fmt;

/// How healthy a component, or the whole service, is.
///
/// Ordered from best to worst, so the overall status is the maximum.
///
/// ```
/// use seawall::health::Status;
///
/// assert_eq!(Status::Up.max(Status::Degraded), Status::Degraded);
/// assert_eq!(Status::Down.as_str(), "down");
/// ```
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

/// Where the service is in its life: readiness is possible only while
/// [`Serving`](Self::Serving).
///
/// ```
/// use seawall::health::{HealthRegistry, Lifecycle};
///
/// let health = HealthRegistry::new();
/// assert_eq!(health.lifecycle(), Lifecycle::Starting);
/// health.mark_started();
/// assert_eq!(health.lifecycle(), Lifecycle::Serving);
/// health.shutdown();
/// assert_eq!(health.lifecycle().as_str(), "draining");
/// ```
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

    pub(super) fn from_number(value: u32) -> Self {
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
