//! The detailed report: every component looked at, as served in JSON.

use std::sync::Arc;

use super::component::{panic_message, AbortOnDrop};
use super::entry::Entry;
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
    /// panics is reported down and the others are unaffected; one that
    /// panicked is reported down with the same message, without being looked
    /// at, for the next 30 seconds. Also refreshes the summary with what it
    /// found.
    pub async fn report(&self) -> HealthReport {
        let entries = self.entries();
        let looked = self.look_at(&entries).await;
        let mut components = Vec::with_capacity(entries.len());
        let mut status = Status::Up;
        for (entry, details) in entries.iter().zip(looked) {
            let impact = entry.criticality.impact(details.status);
            status = status.max(impact);
            components.push(ComponentReport {
                name: entry.component.name().to_owned(),
                kind: entry.component.kind().to_owned(),
                impact,
                critical: entry.criticality.is_critical(),
                fallback: entry.criticality.has_fallback(),
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

    /// Runs each entry's [`check`](super::Component::check) in a task of its
    /// own, all under one deadline, and returns what each said (in order).
    pub(super) async fn look_at(&self, entries: &[Arc<Entry>]) -> Vec<Details> {
        // Spawned tasks are aborted when dropped, so a report dropped half-way (a
        // client gone) leaves nothing running.
        let runtime = tokio::runtime::Handle::try_current().ok();
        let mut tasks = Vec::with_capacity(entries.len());
        for entry in entries {
            tasks.push(match (entry.paused_check(), &runtime) {
                (Some(details), _) => Look::Known(details),
                (None, Some(runtime)) => {
                    let component = entry.component.clone();
                    Look::Task(AbortOnDrop(
                        runtime.spawn(async move { component.check().await }),
                    ))
                }
                (None, None) => Look::Inline,
            });
        }
        // They run concurrently, so one deadline bounds them all; it saturates
        // (the timeout is at most 7 days, but the clock may be far along).
        let limit = self.state.component_timeout;
        let now = tokio::time::Instant::now();
        let deadline = now.checked_add(limit);
        let mut looked = Vec::with_capacity(entries.len());
        for (entry, task) in entries.iter().zip(tasks) {
            let details = match task {
                Look::Known(details) => details,
                Look::Task(task) => {
                    let joined = match deadline {
                        Some(deadline) => tokio::time::timeout_at(deadline, task).await,
                        None => Ok(task.await),
                    };
                    match joined {
                        Ok(Ok(details)) => details,
                        Ok(Err(join)) if join.is_panic() => {
                            let details = Details::down(format_args!(
                                "health check panicked: {}",
                                panic_message(join)
                            ));
                            entry.check_panicked(&details);
                            details
                        }
                        Ok(Err(_)) => Details::down("health check was cancelled"),
                        Err(_) => {
                            Details::down(format_args!("health check timed out after {limit:?}"))
                        }
                    }
                }
                Look::Inline => entry.component.check().await,
            };
            looked.push(details);
        }
        looked
    }
}

/// How one component is looked at.
enum Look {
    /// Already known: it panicked recently.
    Known(Details),
    /// In a task of its own.
    Task(AbortOnDrop<Details>),
    /// On the caller's task: there is no runtime to spawn on.
    Inline,
}
