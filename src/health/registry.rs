//! The registry: components, lifecycle, in-flight count and change notifications.

use std::fmt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use parking_lot::{ReentrantMutex, RwLock};
use tokio::sync::{watch, Notify};

use crate::breaker::Breaker;
use crate::observe::{self, Event};

use super::component::{panic_message, AbortOnDrop, BreakerComponent, Check, Component, Details};
use super::error::DrainTimedOut;
use super::report::{ComponentReport, HealthReport};
use super::{Criticality, Lifecycle, Status};

/// The health of a service: its components, its lifecycle and its in-flight
/// requests.
///
/// See the [module docs](super) for why liveness, readiness and criticality
/// work as they do.
///
/// # Clone
///
/// Cheap; every clone is the same registry.
///
/// # Shutdown
///
/// ```no_run
/// use seawall::health::HealthRegistry;
/// use std::time::Duration;
///
/// # async fn serve() {
/// let health = HealthRegistry::new();
/// // ... wrap the application's routes in InFlightLayer::new(health.clone()),
/// //     serve HealthService::new(health.clone()) on /livez, /readyz, /health ...
/// health.mark_started();
///
/// // Given to the server as its graceful-shutdown signal: on ctrl-c or SIGTERM,
/// // readiness turns false at once; the server stops accepting only once the
/// // requests in flight are done (or after 20 s).
/// let drained = {
///     let health = health.clone();
///     async move {
///         health.shutdown_signal().await;
///         let _ = health.drain(Duration::from_secs(20)).await;
///     }
/// };
/// # drop(drained);
/// # }
/// ```
#[derive(Clone)]
pub struct HealthRegistry {
    inner: Arc<Inner>,
}

struct Entry {
    component: Arc<dyn Component>,
    criticality: Criticality,
}

pub(super) struct Inner {
    components: RwLock<Vec<Entry>>,
    lifecycle: AtomicU8,
    in_flight: AtomicUsize,
    idle: Notify,
    summary: watch::Sender<HealthSummary>,
    refreshing: ReentrantMutex<()>,
    gauges: Gauges,
    component_timeout: Duration,
}

/// Handles resolved when the registry is built (install the recorder first).
struct Gauges {
    overall: metrics::Gauge,
    ready: metrics::Gauge,
    in_flight: metrics::Gauge,
}

const DEFAULT_COMPONENT_TIMEOUT: Duration = Duration::from_secs(10);

/// The last known health, as sent to [`HealthRegistry::subscribe`]rs.
///
/// Built without running any check: breakers report their current state,
/// checks their last result (and are left out until they have one).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct HealthSummary {
    /// The overall status, after each component's criticality.
    pub status: Status,
    /// Whether the service may take traffic: serving and not down.
    pub ready: bool,
    /// Where the service is in its life.
    pub lifecycle: Lifecycle,
    /// Each component's own status, in registration order. Components of
    /// different kinds may share a name (a preset's breaker and bulkhead do):
    /// [`by_name`](Self::by_name) folds them.
    pub components: Vec<(String, Status)>,
}

impl HealthSummary {
    /// Each name once, in order of first registration, with the worst status
    /// of the components called so: what a name-keyed view (the
    /// `seawall_health_status` gauge, the gRPC bridge's services) shows.
    pub fn by_name(&self) -> Vec<(&str, Status)> {
        let mut names: Vec<(&str, Status)> = Vec::with_capacity(self.components.len());
        for (name, status) in &self.components {
            match names.iter_mut().find(|(known, _)| known == name) {
                Some((_, worst)) => *worst = (*worst).max(*status),
                None => names.push((name, *status)),
            }
        }
        names
    }
}

impl HealthRegistry {
    /// An empty registry, [`Starting`](Lifecycle::Starting).
    pub fn new() -> Self {
        Self::with_component_timeout(DEFAULT_COMPONENT_TIMEOUT)
    }

    /// An empty registry whose [`report`](Self::report) waits at most
    /// `timeout` for the components' [`check`](Component::check)s (10 s with
    /// [`new`](Self::new)); a component that takes longer is reported down.
    /// A safety net for custom components: a [`Check`] has its own, shorter
    /// timeout.
    pub fn with_component_timeout(timeout: Duration) -> Self {
        let (summary, _) = watch::channel(HealthSummary {
            status: Status::Up,
            ready: false,
            lifecycle: Lifecycle::Starting,
            components: Vec::new(),
        });
        let this = Self {
            inner: Arc::new(Inner {
                components: RwLock::new(Vec::new()),
                lifecycle: AtomicU8::new(Lifecycle::Starting as u8),
                in_flight: AtomicUsize::new(0),
                idle: Notify::new(),
                summary,
                refreshing: ReentrantMutex::new(()),
                component_timeout: timeout,
                gauges: Gauges {
                    overall: metrics::gauge!(observe::HEALTH_OVERALL_STATUS),
                    ready: metrics::gauge!(observe::HEALTH_READY),
                    in_flight: metrics::gauge!(observe::HEALTH_IN_FLIGHT),
                },
            }),
        };
        this.refresh();
        this
    }

    /// Adds `component` with `criticality`, replacing any component of the
    /// same kind and name (a breaker and a bulkhead may share a name).
    pub fn register<C: Component>(&self, component: C, criticality: Criticality) {
        self.register_arc(Arc::new(component), criticality);
    }

    fn register_arc(&self, component: Arc<dyn Component>, criticality: Criticality) {
        {
            let mut components = self.inner.components.write();
            let entry = Entry {
                component,
                criticality,
            };
            match components.iter_mut().find(|e| {
                e.component.kind() == entry.component.kind()
                    && e.component.name() == entry.component.name()
            }) {
                Some(existing) => *existing = entry,
                None => components.push(entry),
            }
        }
        self.refresh();
    }

    /// Adds `breaker` with `criticality`, and listens to its state transitions
    /// ([`Breaker::on_state_transition`], which adds nothing to the cost of a
    /// call) so that subscribers (and the gRPC bridge) hear of them at once.
    ///
    /// The listener holds the registry weakly: a breaker outliving its
    /// registry keeps nothing alive.
    pub fn register_breaker(&self, breaker: &Breaker, criticality: Criticality) {
        self.register(BreakerComponent::new(breaker.clone()), criticality);
        let registry: Weak<Inner> = Arc::downgrade(&self.inner);
        // Transitions only: the breaker's call path stays free of events.
        breaker.on_state_transition(move |_: &Event<'_>| {
            if let Some(inner) = registry.upgrade() {
                HealthRegistry { inner }.refresh();
            }
        });
    }

    /// Adds `bulkhead` with `criticality`: degraded while it is full (see
    /// [`BulkheadComponent`](super::BulkheadComponent)).
    #[cfg(feature = "bulkhead")]
    pub fn register_bulkhead(
        &self,
        bulkhead: &crate::bulkhead::Bulkhead,
        criticality: Criticality,
    ) {
        self.register(super::BulkheadComponent::new(bulkhead.clone()), criticality);
    }

    /// Adds the canary `rollout` with `criticality` (degraded once rolled back:
    /// see [`Canary`](crate::canary::Canary)'s `Component`), and
    /// listens to its decisions so that subscribers hear of a roll-back at
    /// once. The listener holds the registry weakly.
    #[cfg(feature = "canary")]
    pub fn register_canary(&self, rollout: &crate::canary::Canary, criticality: Criticality) {
        self.register(rollout.clone(), criticality);
        let registry: Weak<Inner> = Arc::downgrade(&self.inner);
        rollout.on_event(move |_: &crate::canary::CanaryEvent<'_>| {
            if let Some(inner) = registry.upgrade() {
                HealthRegistry { inner }.refresh();
            }
        });
    }

    /// Adds a custom `check` with `criticality`.
    pub fn register_check(&self, check: Check, criticality: Criticality) {
        self.register(check, criticality);
    }

    /// Removes every component called `name` (of any kind); whether there was
    /// one.
    pub fn deregister(&self, name: &str) -> bool {
        let removed = {
            let mut components = self.inner.components.write();
            let before = components.len();
            components.retain(|e| e.component.name() != name);
            components.len() != before
        };
        if removed {
            self.refresh();
        }
        removed
    }

    /// Always true: the process is alive if it can answer. Liveness never
    /// depends on a dependency, nor on the lifecycle.
    pub fn live(&self) -> bool {
        true
    }

    /// Where the service is in its life.
    pub fn lifecycle(&self) -> Lifecycle {
        // Acquire pairs with the Release stores below, so whoever sees draining
        // also sees what the shutting-down thread did before.
        Lifecycle::from_u8(self.inner.lifecycle.load(Ordering::Acquire))
    }

    /// Marks start-up done: readiness may turn true. Does nothing once shut down.
    pub fn mark_started(&self) {
        // Release: see `lifecycle`. Only Starting -> Serving; a shutdown wins.
        let _ = self.inner.lifecycle.compare_exchange(
            Lifecycle::Starting as u8,
            Lifecycle::Serving as u8,
            Ordering::Release,
            Ordering::Relaxed,
        );
        self.refresh();
    }

    /// Turns readiness false at once and for good; liveness stays true. Wait
    /// for in-flight requests with [`drain`](Self::drain).
    pub fn shutdown(&self) {
        // Release: see `lifecycle`.
        self.inner
            .lifecycle
            .store(Lifecycle::Draining as u8, Ordering::Release);
        self.refresh();
    }

    /// Waits until [`shutdown`](Self::shutdown) is called.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    pub async fn shutdown_requested(&self) {
        let mut summary = self.inner.summary.subscribe();
        // The sender lives in `self.inner`, which `self` keeps alive: this cannot fail.
        let _ = summary
            .wait_for(|s| s.lifecycle == Lifecycle::Draining)
            .await;
    }

    /// Waits for ctrl-c, SIGTERM (on Unix) or a [`shutdown`](Self::shutdown)
    /// call, whichever comes first, then shuts down. Where a signal cannot be
    /// listened to, waits for the others.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe; nothing is shut down unless it completes.
    pub async fn shutdown_signal(&self) {
        let ctrl_c = async {
            if tokio::signal::ctrl_c().await.is_err() {
                std::future::pending::<()>().await;
            }
        };
        #[cfg(unix)]
        let terminate = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut signal) => {
                    signal.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        #[cfg(not(unix))]
        let terminate = std::future::pending::<()>();
        let requested = self.shutdown_requested();
        tokio::pin!(ctrl_c, terminate, requested);
        std::future::poll_fn(|cx| {
            let any = ctrl_c.as_mut().poll(cx).is_ready()
                || terminate.as_mut().poll(cx).is_ready()
                || requested.as_mut().poll(cx).is_ready();
            if any {
                std::task::Poll::Ready(())
            } else {
                std::task::Poll::Pending
            }
        })
        .await;
        self.shutdown();
    }

    /// Counts one request in flight until the guard is dropped.
    /// [`InFlightLayer`](super::InFlightLayer) does this for a tower service.
    pub fn enter(&self) -> InFlightGuard {
        // Relaxed: a count; `drain` learns of the last exit through `idle`, and the
        // AcqRel decrement orders the request's work before that.
        self.inner.in_flight.fetch_add(1, Ordering::Relaxed);
        self.inner.gauges.in_flight.increment(1.0);
        InFlightGuard {
            inner: self.inner.clone(),
        }
    }

    /// Requests in flight, as counted by [`enter`](Self::enter).
    pub fn in_flight(&self) -> usize {
        self.inner.in_flight.load(Ordering::Acquire)
    }

    /// Waits until no request is in flight, at most `timeout`.
    ///
    /// # Errors
    ///
    /// [`DrainTimedOut`] with the number still in flight when time ran out.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    pub async fn drain(&self, timeout: Duration) -> Result<(), DrainTimedOut> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let idle = self.inner.idle.notified();
            tokio::pin!(idle);
            // Register before reading the count, so an exit between the read and the
            // wait still wakes this waiter.
            idle.as_mut().enable();
            let remaining = self.in_flight();
            if remaining == 0 {
                return Ok(());
            }
            if tokio::time::timeout_at(deadline, idle).await.is_err() {
                let remaining = self.in_flight();
                return if remaining == 0 {
                    Ok(())
                } else {
                    Err(DrainTimedOut::new(remaining))
                };
            }
        }
    }

    /// Runs a [`report`](Self::report) every `every` in a spawned task, so
    /// that checks run (within their own minimum interval) and subscribers hear
    /// of their results even when nothing probes: for a service whose health is
    /// read only through [`subscribe`](Self::subscribe) or the gRPC bridge.
    /// Breakers need none of this; they report their transitions themselves.
    ///
    /// The task holds the registry weakly and ends once every clone of it is
    /// dropped; abort the handle to end it sooner. Must be called within a
    /// tokio runtime.
    ///
    /// ```
    /// use seawall::health::{Check, Criticality, HealthRegistry, Status};
    /// use std::time::Duration;
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let health = HealthRegistry::new();
    /// health.register_check(Check::new("db", || async { Err::<(), _>("refused") }), Criticality::critical());
    /// let mut summaries = health.subscribe();
    /// let refresher = health.spawn_refresher(Duration::from_secs(5));
    /// summaries.changed().await.unwrap();
    /// assert_eq!(summaries.borrow().status, Status::Down);
    /// # refresher.abort();
    /// # }
    /// ```
    pub fn spawn_refresher(&self, every: Duration) -> tokio::task::JoinHandle<()> {
        let registry = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                let Some(inner) = registry.upgrade() else {
                    return;
                };
                let _ = HealthRegistry { inner }.report().await;
            }
        })
    }

    /// A receiver of the [`HealthSummary`], marked changed whenever it does.
    ///
    /// Breaker transitions, lifecycle changes and registrations update it at
    /// once; checks only when they run (a probe, a [`report`](Self::report),
    /// a [`spawn_refresher`](Self::spawn_refresher) tick).
    pub fn subscribe(&self) -> watch::Receiver<HealthSummary> {
        self.inner.summary.subscribe()
    }

    /// The summary as last computed.
    pub fn summary(&self) -> HealthSummary {
        self.inner.summary.borrow().clone()
    }

    /// Recomputes the summary from each component's last known status,
    /// notifies subscribers if it changed and sets the status gauges. Cheap:
    /// runs no check.
    pub fn refresh(&self) {
        // One refresh at a time, each reading the current states: the last to publish
        // has read every transition that triggered an earlier one, so a stale summary
        // never overwrites a newer one. Reentrant, for a component whose `status`
        // itself moves a breaker (and so refreshes) on this thread.
        let _serial = self.inner.refreshing.lock();
        let lifecycle = self.lifecycle();
        // Components are looked at outside the components lock, so one that
        // registers or refreshes from `status` cannot deadlock.
        let entries = self.entries();
        let mut status = Status::Up;
        let mut components = Vec::with_capacity(entries.len());
        for (component, criticality) in &entries {
            // A panicking `status` (of a custom component) counts as down; it must not
            // unwind into a breaker's transition or a probe.
            let own = std::panic::catch_unwind(AssertUnwindSafe(|| component.status()))
                .unwrap_or(Some(Status::Down));
            if let Some(own) = own {
                status = status.max(criticality.impact(own));
                components.push((component.name().to_owned(), own));
            }
        }
        self.publish(HealthSummary {
            status,
            ready: lifecycle == Lifecycle::Serving && status != Status::Down,
            lifecycle,
            components,
        });
    }

    fn entries(&self) -> Vec<(Arc<dyn Component>, Criticality)> {
        self.inner
            .components
            .read()
            .iter()
            .map(|e| (e.component.clone(), e.criticality))
            .collect()
    }

    fn publish(&self, summary: HealthSummary) {
        for (name, status) in summary.by_name() {
            metrics::gauge!(observe::HEALTH_STATUS, "component" => name.to_owned())
                .set(status.as_gauge());
        }
        self.inner.gauges.overall.set(summary.status.as_gauge());
        self.inner
            .gauges
            .ready
            .set(if summary.ready { 1.0 } else { 0.0 });
        self.inner.summary.send_if_modified(|current| {
            if *current == summary {
                false
            } else {
                *current = summary;
                true
            }
        });
    }

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
        let limit = self.inner.component_timeout;
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

impl Default for HealthRegistry {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for HealthRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<String> = self
            .inner
            .components
            .read()
            .iter()
            .map(|e| e.component.name().to_owned())
            .collect();
        f.debug_struct("HealthRegistry")
            .field("lifecycle", &self.lifecycle())
            .field("in_flight", &self.in_flight())
            .field("components", &names)
            .finish()
    }
}

/// One request in flight, from [`HealthRegistry::enter`]; counted until dropped.
#[must_use = "the request counts as in flight only while the guard lives"]
pub struct InFlightGuard {
    inner: Arc<Inner>,
}

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        // AcqRel: Release orders the request's work before the decrement a drainer
        // sees; Acquire makes the last exit see every other exit.
        self.inner.gauges.in_flight.decrement(1.0);
        if self.inner.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.inner.idle.notify_waiters();
        }
    }
}

impl fmt::Debug for InFlightGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InFlightGuard").finish_non_exhaustive()
    }
}
