//! The detailed report: every component looked at, as served in JSON.

use super::component::{panic_message, AbortOnDrop};
use super::{Details, HealthRegistry, Lifecycle, Status};

/// The health of the service, from [`HealthRegistry::report`](super::HealthRegistry::report).
///
/// Serialized as the JSON body of `/health` (schema in the README).
///
/// ```
/// use seawall::health::{Criticality, HealthRegistry, Status};
/// use seawall::breaker::{Breaker, BreakerConfig};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let health = HealthRegistry::new();
/// health.register_breaker(&Breaker::new(BreakerConfig::default()), Criticality::critical());
/// health.mark_started();
/// let report = health.report().await;
/// assert_eq!((report.status, report.live, report.ready), (Status::Up, true, true));
/// assert_eq!(report.components[0].kind, "breaker");
/// # }
/// ```
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
///
/// ```
/// use seawall::health::{Check, Criticality, HealthRegistry, Status};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let health = HealthRegistry::new();
/// health.register_check(Check::new("cache", || async { Err::<(), _>("refused") }), Criticality::non_critical());
/// let cache = &health.report().await.components[0];
/// assert_eq!((cache.details.status, cache.impact), (Status::Down, Status::Degraded));
/// assert!(!cache.critical);
/// # }
/// ```
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

impl HealthRegistry {
    /// Looks at every component (running checks whose cached result is stale)
    /// and reports. Each component is looked at in its own task, so one that
    /// panics is reported down and the others are unaffected. Also refreshes
    /// the summary with what it found.
    pub async fn report(&self) -> HealthReport {
        let entries = self.entries();
        // Spawned tasks are aborted when dropped, so a report dropped half-way (a
        // client gone) leaves nothing running.
        let mut tasks = Vec::with_capacity(entries.len());
        let runtime = tokio::runtime::Handle::try_current().ok();
        for (component, _) in &entries {
            let component = component.clone();
            tasks.push(
                runtime.as_ref().map(|runtime| {
                    AbortOnDrop(runtime.spawn(async move { component.check().await }))
                }),
            );
        }
        // They run concurrently, so one deadline bounds them all.
        let limit = self.state.component_timeout;
        let deadline = tokio::time::Instant::now() + limit;
        let mut components = Vec::with_capacity(entries.len());
        let mut status = Status::Up;
        for ((component, criticality), task) in entries.iter().zip(tasks) {
            let details = match task {
                Some(task) => match tokio::time::timeout_at(deadline, task).await {
                    Ok(Ok(details)) => details,
                    Ok(Err(join)) if join.is_panic() => Details::down(format_args!(
                        "health check panicked: {}",
                        panic_message(join)
                    )),
                    Ok(Err(_)) => Details::down("health check was cancelled"),
                    Err(_) => Details::down(format_args!("health check timed out after {limit:?}")),
                },
                None => component.check().await,
            };
            let impact = criticality.impact(details.status);
            status = status.max(impact);
            components.push(ComponentReport {
                name: component.name().to_owned(),
                kind: component.kind().to_owned(),
                impact,
                critical: criticality.is_critical(),
                fallback: criticality.has_fallback(),
                details,
            });
        }
        let lifecycle = self.lifecycle();
        let ready = lifecycle == Lifecycle::Serving && status != Status::Down;
        self.refresh();
        HealthReport {
            status,
            live: true,
            ready,
            lifecycle,
            in_flight: self.in_flight(),
            components,
        }
    }
}
