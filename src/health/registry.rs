//! The registry: the components, and the state every clone shares.

use std::any::Any;
use std::fmt;
use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::sync::Notify;

use crate::breaker::Breaker;
use crate::observe;
use crate::sync::{AtomicU32, AtomicUsize, Mutex};
use crate::validate::LONGEST_DURATION;

use super::entry::Entry;
use super::probe_state::ProbeState;
use super::status::Lifecycle;
use super::summary::SummaryCache;
use super::{BreakerComponent, Check, Component, Criticality};

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
    // std's `Arc`, not the sync shim's: listeners on breakers and the refresher
    // task hold the registry weakly, and loom's `Arc` has no `Weak` (nothing here
    // is loom-modelled: the registry waits on tokio's primitives).
    pub(super) state: Arc<RegistryState>,
}

/// What every clone of a registry shares.
pub(super) struct RegistryState {
    pub(super) components: Mutex<Vec<Arc<Entry>>>,
    /// A [`Lifecycle`] as a number; see [`HealthRegistry::lifecycle`].
    pub(super) lifecycle: AtomicU32,
    pub(super) in_flight: AtomicUsize,
    /// Woken when the last request in flight leaves.
    pub(super) idle: Notify,
    pub(super) summary: SummaryCache,
    pub(super) gauges: Gauges,
    pub(super) component_timeout: Duration,
    /// What keeps the answers of `/readyz` cheap and fresh.
    pub(super) probe: ProbeState,
    /// The shared state of each handle this registry listens to (breakers,
    /// bulkheads, canaries), weakly: registering a handle again adds no second
    /// listener, and a dropped handle is forgotten.
    listened: Mutex<Vec<Weak<dyn Any + Send + Sync>>>,
}

/// Handles resolved when the registry is built (install the recorder first).
pub(super) struct Gauges {
    pub(super) overall: metrics::Gauge,
    pub(super) ready: metrics::Gauge,
    pub(super) in_flight: metrics::Gauge,
}

const DEFAULT_COMPONENT_TIMEOUT: Duration = Duration::from_secs(10);

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
    ///
    /// `timeout` saturates at 7 days (`Duration::MAX` is accepted and means
    /// 7 days); zero reports every component that does not answer at once
    /// as down.
    ///
    /// ```
    /// use seawall::health::HealthRegistry;
    /// use std::time::Duration;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let health = HealthRegistry::with_component_timeout(Duration::MAX);
    /// health.mark_started();
    /// assert!(health.report().await.ready);
    /// # }
    /// ```
    pub fn with_component_timeout(timeout: Duration) -> Self {
        let this = Self {
            state: Arc::new(RegistryState {
                components: Mutex::new(Vec::new()),
                lifecycle: AtomicU32::new(Lifecycle::Starting as u32),
                in_flight: AtomicUsize::new(0),
                idle: Notify::new(),
                summary: SummaryCache::new(),
                component_timeout: timeout.min(LONGEST_DURATION),
                probe: ProbeState::new(),
                listened: Mutex::new(Vec::new()),
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
        self.insert(Entry::new(Arc::new(component), criticality, false));
    }

    /// Adds `entry`, replacing any component of the same kind and name.
    fn insert(&self, entry: Entry) {
        self.state.probe.remember_runtime();
        if entry.component.check_interval().is_some() {
            self.state.probe.checks_added();
        }
        let entry = Arc::new(entry);
        {
            let mut components = self.state.components.lock();
            match components.iter_mut().find(|e| {
                e.component.kind() == entry.component.kind()
                    && e.component.name() == entry.component.name()
            }) {
                Some(existing) => *existing = entry,
                None => components.push(entry),
            }
            self.state
                .probe
                .set_polled(components.iter().any(|e| e.polled));
        }
        self.refresh();
    }

    /// Adds `breaker` with `criticality`, and listens to its state transitions
    /// ([`Breaker::on_state_transition`], which adds nothing to the cost of a
    /// call) so that subscribers (and the gRPC bridge) hear of them at once.
    ///
    /// The listener holds the registry weakly: a breaker outliving its
    /// registry keeps nothing alive. It does not refresh the summary itself:
    /// it marks it stale and leaves the refresh to a task of its own (or to
    /// the next read, outside a runtime), so the request that tripped the
    /// breaker never runs the components' [`status`](Component::status)
    /// code. Registering the same breaker again replaces its entry and adds
    /// no second listener.
    pub fn register_breaker(&self, breaker: &Breaker, criticality: Criticality) {
        self.register(BreakerComponent::new(breaker.clone()), criticality);
        if self.listen_once(breaker.identity()) {
            // Transitions only: the breaker's call path stays free of events. The
            // event's type is left to the breaker: any transition is news.
            let refresh = self.weak_refresh();
            breaker.on_state_transition(move |_| refresh());
        }
    }

    /// Adds `bulkhead` with `criticality`: degraded while it is full (see
    /// [`BulkheadComponent`](super::BulkheadComponent)).
    ///
    /// A bulkhead announces no change of its own, so the registry looks at it
    /// again on every `/readyz` probe and [`summary`](Self::summary) read
    /// (a few atomic loads), and listens to its refusals and waits (a full
    /// bulkhead's only signs) so that subscribers hear of it filling up;
    /// they hear of it emptying at the next probe, summary read or refresh.
    /// Registering the same bulkhead again adds no second listener.
    #[cfg(feature = "bulkhead")]
    pub fn register_bulkhead(
        &self,
        bulkhead: &crate::bulkhead::Bulkhead,
        criticality: Criticality,
    ) {
        self.insert(Entry::new(
            Arc::new(super::BulkheadComponent::new(bulkhead.clone())),
            criticality,
            true,
        ));
        if self.listen_once(bulkhead.identity()) {
            let refresh = self.weak_refresh();
            bulkhead.on_event(move |_| refresh());
        }
    }

    /// Adds the canary `rollout` with `criticality` (degraded once rolled back:
    /// see [`Canary`](crate::canary::Canary)'s `Component`), and
    /// listens to its decisions so that subscribers hear of a roll-back at
    /// once. The listener holds the registry weakly; registering the same
    /// rollout again adds no second one.
    #[cfg(feature = "canary")]
    pub fn register_canary(&self, rollout: &crate::canary::Canary, criticality: Criticality) {
        self.register(rollout.clone(), criticality);
        let identity: Arc<dyn Any + Send + Sync> = rollout.core.clone();
        if self.listen_once(Arc::downgrade(&identity)) {
            // Any decision is news; the event's type is left to the canary.
            let refresh = self.weak_refresh();
            rollout.on_event(move |_| refresh());
        }
    }

    /// Whether the handle whose shared state `identity` points to is new to
    /// this registry (and now remembered). Handles that are gone are forgotten
    /// on the way, so the list stays as long as the live handles registered.
    fn listen_once(&self, identity: Weak<dyn Any + Send + Sync>) -> bool {
        let mut listened = self.state.listened.lock();
        listened.retain(|known| known.strong_count() > 0);
        // Addresses only: a `Weak` keeps its allocation, so no other handle can
        // take the address while it is in the list.
        let address = identity.as_ptr().cast::<()>();
        if listened
            .iter()
            .any(|known| std::ptr::eq(known.as_ptr().cast::<()>(), address))
        {
            return false;
        }
        listened.push(identity);
        true
    }

    /// Adds a custom `check` with `criticality`.
    pub fn register_check(&self, check: Check, criticality: Criticality) {
        self.register(check, criticality);
    }

    /// Removes every component called `name` (of any kind); whether there was
    /// one.
    pub fn deregister(&self, name: &str) -> bool {
        let removed = {
            let mut components = self.state.components.lock();
            let before = components.len();
            components.retain(|e| e.component.name() != name);
            self.state
                .probe
                .set_polled(components.iter().any(|e| e.polled));
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

    /// The components, copied out of the lock, so that looking at one (which
    /// may register, or refresh) cannot deadlock.
    pub(super) fn entries(&self) -> Vec<Arc<Entry>> {
        self.state.components.lock().clone()
    }

    /// A refresh for a component's listener: it holds the registry weakly, so
    /// a component outliving its registry keeps nothing alive, and it only
    /// schedules the refresh (see `schedule_refresh`).
    fn weak_refresh(&self) -> impl Fn() + Send + Sync + 'static {
        let registry: Weak<RegistryState> = Arc::downgrade(&self.state);
        move || HealthRegistry::schedule_refresh(&registry)
    }

    /// The registry of `state`, if any clone of it is still alive.
    pub(super) fn upgrade(state: &Weak<RegistryState>) -> Option<Self> {
        state.upgrade().map(|state| Self { state })
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
            .state
            .components
            .lock()
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
