//! The registry: the components, and the state every clone shares.

use std::fmt;
use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::sync::Notify;

use crate::breaker::Breaker;
use crate::observe;
use crate::sync::{AtomicU32, AtomicUsize, Mutex};

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
    pub(super) components: Mutex<Vec<Entry>>,
    /// A [`Lifecycle`] as a number; see [`HealthRegistry::lifecycle`].
    pub(super) lifecycle: AtomicU32,
    pub(super) in_flight: AtomicUsize,
    /// Woken when the last request in flight leaves.
    pub(super) idle: Notify,
    pub(super) summary: SummaryCache,
    pub(super) gauges: Gauges,
    pub(super) component_timeout: Duration,
}

/// A registered component.
pub(super) struct Entry {
    pub(super) component: Arc<dyn Component>,
    pub(super) criticality: Criticality,
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
    pub fn with_component_timeout(timeout: Duration) -> Self {
        let this = Self {
            state: Arc::new(RegistryState {
                components: Mutex::new(Vec::new()),
                lifecycle: AtomicU32::new(Lifecycle::Starting as u32),
                in_flight: AtomicUsize::new(0),
                idle: Notify::new(),
                summary: SummaryCache::new(),
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
        let entry = Entry {
            component: Arc::new(component),
            criticality,
        };
        {
            let mut components = self.state.components.lock();
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
        // Transitions only: the breaker's call path stays free of events. The
        // event's type is left to the breaker: any transition is news.
        let refresh = self.weak_refresh();
        breaker.on_state_transition(move |_| refresh());
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
        // Any decision is news; the event's type is left to the canary.
        let refresh = self.weak_refresh();
        rollout.on_event(move |_| refresh());
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

    /// The components and their criticality, copied out of the lock, so that
    /// looking at one (which may register, or refresh) cannot deadlock.
    pub(super) fn entries(&self) -> Vec<(Arc<dyn Component>, Criticality)> {
        self.state
            .components
            .lock()
            .iter()
            .map(|e| (e.component.clone(), e.criticality))
            .collect()
    }

    /// A refresh for a component's listener: it holds the registry weakly, so
    /// a component outliving its registry keeps nothing alive.
    fn weak_refresh(&self) -> impl Fn() + Send + Sync + 'static {
        let registry: Weak<RegistryState> = Arc::downgrade(&self.state);
        move || {
            if let Some(registry) = HealthRegistry::upgrade(&registry) {
                registry.refresh();
            }
        }
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
