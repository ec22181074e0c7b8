//! What can be registered: breakers, custom checks, and anything implementing
//! [`Component`].

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::time::Instant;

use crate::breaker::{Breaker, State};
use crate::error::BoxError;

use super::Status;

/// The future of [`Component::check`].
pub type ComponentFuture<'a> = Pin<Box<dyn Future<Output = Details> + Send + 'a>>;

/// Something whose health the registry reports: a breaker, a custom check, a
/// bulkhead, a connection pool.
///
/// [`status`](Self::status) is the cheap, synchronous last-known status the
/// change notifications are built from; [`check`](Self::check) is the detailed
/// look a probe takes. The registry runs `check` in its own task, so a
/// component that panics there is reported down and never takes the health
/// endpoint with it; still, `check` should be cheap and bounded in time.
///
/// A component whose status changes on its own (as a breaker's does) should
/// call [`HealthRegistry::refresh`](super::HealthRegistry::refresh) when it
/// does, so subscribers hear of it at once.
///
/// ```
/// use seawall::health::{Component, ComponentFuture, Criticality, Details, HealthRegistry, Status};
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use std::sync::Arc;
///
/// /// A pool is degraded when it has no idle connection left.
/// struct Pool { idle: Arc<AtomicUsize> }
///
/// impl Component for Pool {
///     fn name(&self) -> &str { "db-pool" }
///     fn kind(&self) -> &str { "pool" }
///     fn status(&self) -> Option<Status> {
///         Some(if self.idle.load(Ordering::Relaxed) == 0 { Status::Degraded } else { Status::Up })
///     }
///     fn check(&self) -> ComponentFuture<'_> {
///         let status = self.status().unwrap_or(Status::Up);
///         let idle = self.idle.load(Ordering::Relaxed);
///         Box::pin(async move { Details::new(status).with_extra("idle", idle) })
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let health = HealthRegistry::new();
/// health.register(Pool { idle: Arc::new(AtomicUsize::new(0)) }, Criticality::critical());
/// health.mark_started();
/// let report = health.report().await;
/// assert_eq!(report.status, Status::Degraded);
/// assert_eq!(report.components[0].details.extra["idle"], 0);
/// # }
/// ```
pub trait Component: Send + Sync + 'static {
    /// The name it is reported under; unique within a registry.
    fn name(&self) -> &str;

    /// What sort of component it is, as shown in the report (`breaker`,
    /// `check`, `bulkhead`, ...).
    fn kind(&self) -> &str {
        "component"
    }

    /// The last known status, without waiting; `None` while unknown (a check
    /// that has not run yet). Unknown components count as up.
    fn status(&self) -> Option<Status>;

    /// A detailed look, for a probe.
    fn check(&self) -> ComponentFuture<'_>;
}

/// A component's status and what explains it.
///
/// Every field but `status` is optional and left out of the JSON report when
/// absent.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[non_exhaustive]
pub struct Details {
    /// The component's own status, before its criticality is applied.
    pub status: Status,
    /// A state name, such as a breaker's `open`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// Failed calls over calls, 0 to 1, where known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure_rate: Option<f64>,
    /// Slow calls over calls, 0 to 1, where known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slow_call_rate: Option<f64>,
    /// How long until an open breaker lets a probe through.
    #[serde(
        rename = "time_until_probe_ms",
        serialize_with = "duration_ms",
        skip_serializing_if = "Option::is_none"
    )]
    pub time_until_probe: Option<Duration>,
    /// Why the component is not up: a check's error, a timeout, a panic.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Anything else worth showing (a bulkhead's capacity and queue).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, serde_json::Value>,
}

fn duration_ms<S: serde::Serializer>(value: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match value {
        Some(duration) => s.serialize_u64(u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)),
        None => s.serialize_none(),
    }
}

impl Details {
    /// Details that say `status` and nothing else.
    pub fn new(status: Status) -> Self {
        Self {
            status,
            state: None,
            failure_rate: None,
            slow_call_rate: None,
            time_until_probe: None,
            error: None,
            extra: BTreeMap::new(),
        }
    }

    /// Down, because of `error`.
    pub fn down(error: impl fmt::Display) -> Self {
        Self {
            error: Some(error.to_string()),
            ..Self::new(Status::Down)
        }
    }

    /// Adds an entry to [`extra`](Self::extra).
    pub fn with_extra(
        mut self,
        key: impl Into<String>,
        value: impl Into<serde_json::Value>,
    ) -> Self {
        self.extra.insert(key.into(), value.into());
        self
    }
}

/// The health of a circuit breaker: what it already knows about its
/// dependency, without calling it.
///
/// Closed, disabled or metrics-only is [`Up`](Status::Up); half-open (probing)
/// is [`Degraded`](Status::Degraded); open or forced open is
/// [`Down`](Status::Down). Registered with
/// [`HealthRegistry::register_breaker`](super::HealthRegistry::register_breaker),
/// which also subscribes to its state transitions.
///
/// ```
/// use seawall::breaker::{Breaker, BreakerConfig};
/// use seawall::health::{BreakerComponent, Component, Status};
///
/// let breaker = Breaker::new(BreakerConfig::default());
/// let component = BreakerComponent::new(breaker.clone());
/// assert_eq!(component.status(), Some(Status::Up));
/// breaker.force_open();
/// assert_eq!(component.status(), Some(Status::Down));
/// ```
#[derive(Clone, Debug)]
pub struct BreakerComponent {
    breaker: Breaker,
}

impl BreakerComponent {
    /// The component for `breaker`.
    pub fn new(breaker: Breaker) -> Self {
        Self { breaker }
    }

    /// The status a breaker in `state` reports.
    pub fn status_of(state: State) -> Status {
        match state {
            State::Closed | State::Disabled | State::MetricsOnly => Status::Up,
            State::HalfOpen => Status::Degraded,
            State::Open | State::ForcedOpen => Status::Down,
        }
    }
}

impl Component for BreakerComponent {
    fn name(&self) -> &str {
        self.breaker.name()
    }

    fn kind(&self) -> &str {
        "breaker"
    }

    fn status(&self) -> Option<Status> {
        Some(Self::status_of(self.breaker.state()))
    }

    fn check(&self) -> ComponentFuture<'_> {
        let metrics = self.breaker.metrics();
        let mut details = Details::new(Self::status_of(metrics.state));
        details.state = Some(metrics.state.as_str().to_owned());
        details.failure_rate = metrics.failure_rate;
        details.slow_call_rate = metrics.slow_call_rate;
        details.time_until_probe = metrics.time_until_probe;
        details = details
            .with_extra("calls", metrics.calls)
            .with_extra("failed_calls", metrics.failed_calls)
            .with_extra("slow_calls", metrics.slow_calls)
            .with_extra("not_permitted_calls", metrics.not_permitted_calls);
        Box::pin(std::future::ready(details))
    }
}

/// A [`Bulkhead`](crate::bulkhead::Bulkhead) as a health component.
///
/// A bulkhead with a free slot is up; a full one is degraded: the service is
/// shedding or queueing load, which a load balancer may want to know, but the
/// dependency behind it is not down. (Mark it critical to make readiness
/// follow it anyway: a critical component's degraded status stays degraded;
/// only down fails readiness.) Its details carry `in_flight`,
/// `max_concurrent_calls`, `waiting` and `rejected`. A bulkhead has no
/// transitions to announce, so its status is looked at when a report is made.
///
/// ```
/// use seawall::bulkhead::{Bulkhead, BulkheadConfig};
/// use seawall::health::{BulkheadComponent, Component, Status};
///
/// let bulkhead = Bulkhead::new(BulkheadConfig::builder().max_concurrent_calls(1).build()?);
/// let component = BulkheadComponent::new(bulkhead.clone());
/// assert_eq!(component.status(), Some(Status::Up));
/// let _slot = bulkhead.try_acquire()?;
/// assert_eq!(component.status(), Some(Status::Degraded));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[cfg(feature = "bulkhead")]
#[derive(Clone, Debug)]
pub struct BulkheadComponent {
    bulkhead: crate::bulkhead::Bulkhead,
}

#[cfg(feature = "bulkhead")]
impl BulkheadComponent {
    /// The component for `bulkhead`.
    pub fn new(bulkhead: crate::bulkhead::Bulkhead) -> Self {
        Self { bulkhead }
    }

    fn current(&self) -> Status {
        if self.bulkhead.in_flight() >= self.bulkhead.max_concurrent_calls() {
            Status::Degraded
        } else {
            Status::Up
        }
    }
}

#[cfg(feature = "bulkhead")]
impl Component for BulkheadComponent {
    fn name(&self) -> &str {
        self.bulkhead.name()
    }

    fn kind(&self) -> &str {
        "bulkhead"
    }

    fn status(&self) -> Option<Status> {
        Some(self.current())
    }

    fn check(&self) -> ComponentFuture<'_> {
        let status = self.current();
        let mut details = Details::new(status);
        details.state = Some(
            if status == Status::Up {
                "available"
            } else {
                "full"
            }
            .to_owned(),
        );
        let details = details
            .with_extra("in_flight", u64::from(self.bulkhead.in_flight()))
            .with_extra(
                "max_concurrent_calls",
                u64::from(self.bulkhead.max_concurrent_calls()),
            )
            .with_extra("waiting", u64::from(self.bulkhead.waiting()))
            .with_extra("rejected", self.bulkhead.rejected());
        Box::pin(std::future::ready(details))
    }
}

type CheckFn = dyn Fn() -> Pin<Box<dyn Future<Output = Result<(), BoxError>> + Send>> + Send + Sync;

/// A custom async health check (a database ping, a disk-space look), with a
/// timeout and a cached result.
///
/// A check runs at most once at a time, and its result is kept for
/// [`min_interval`](Self::min_interval): a flood of probes never becomes a
/// flood of pings at the dependency. It runs in its own task with a
/// [`timeout`](Self::timeout): an error, a timeout or a panic reports
/// [`Down`](Status::Down) with the reason in
/// [`Details::error`], and the health endpoint keeps answering.
///
/// Error messages appear in the detailed report; turn details off
/// ([`HealthService::details`](super::HealthService::details)) on endpoints the
/// public can reach.
///
/// Defaults: a 1 s timeout and a 1 s minimum interval. Needs a tokio runtime to
/// run; without one it reports down.
///
/// ```
/// use seawall::health::{Check, Criticality, HealthRegistry, Status};
/// use std::time::Duration;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let health = HealthRegistry::new();
/// health.register_check(
///     Check::new("disk", || async {
///         let free_bytes = 10 << 20; // ask the system
///         if free_bytes < 1 << 20 { Err("less than 1 MiB free") } else { Ok(()) }
///     })
///     .timeout(Duration::from_millis(200))
///     .min_interval(Duration::from_secs(10)),
///     Criticality::non_critical(),
/// );
/// assert_eq!(health.report().await.components[0].details.status, Status::Up);
/// # }
/// ```
pub struct Check {
    name: String,
    run: Arc<CheckFn>,
    timeout: Duration,
    min_interval: Duration,
    /// The last result and when it finished. A sync lock: read by
    /// [`Component::status`], held only to copy or replace the value.
    last: Mutex<Option<(Instant, Details)>>,
    /// Held while the check runs, so concurrent probes wait for one run.
    flight: tokio::sync::Mutex<()>,
}

impl Check {
    /// A check called `name` that runs `check` and is up when it returns `Ok`.
    pub fn new<F, Fut, E>(name: impl Into<String>, check: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: Into<BoxError> + 'static,
    {
        let run = move || {
            let future = check();
            Box::pin(async move { future.await.map_err(Into::into) })
                as Pin<Box<dyn Future<Output = Result<(), BoxError>> + Send>>
        };
        Self {
            name: name.into(),
            run: Arc::new(run),
            timeout: Duration::from_secs(1),
            min_interval: Duration::from_secs(1),
            last: Mutex::new(None),
            flight: tokio::sync::Mutex::new(()),
        }
    }

    /// Reports down when a run takes longer than `timeout`.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Keeps a result for `interval` after it finished; probes within it get
    /// the cached result. Zero runs the check on every probe (still one at a
    /// time).
    pub fn min_interval(mut self, interval: Duration) -> Self {
        self.min_interval = interval;
        self
    }

    fn fresh(&self) -> Option<Details> {
        let last = self.last.lock();
        let (finished, details) = last.as_ref()?;
        (finished.elapsed() < self.min_interval).then(|| details.clone())
    }

    async fn run(&self) -> Details {
        if let Some(details) = self.fresh() {
            return details;
        }
        let _flight = self.flight.lock().await;
        // Another probe may have run it while this one waited.
        if let Some(details) = self.fresh() {
            return details;
        }
        let details = self.run_once().await;
        *self.last.lock() = Some((Instant::now(), details.clone()));
        details
    }

    async fn run_once(&self) -> Details {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return Details::down("no tokio runtime to run the check on");
        };
        let task = AbortOnDrop(runtime.spawn((self.run)()));
        match tokio::time::timeout(self.timeout, task).await {
            Ok(Ok(Ok(()))) => Details::new(Status::Up),
            Ok(Ok(Err(err))) => Details::down(err),
            Ok(Err(join)) if join.is_panic() => {
                Details::down(format_args!("check panicked: {}", panic_message(join)))
            }
            Ok(Err(_)) => Details::down("check was cancelled"),
            Err(_) => Details::down(format_args!("check timed out after {:?}", self.timeout)),
        }
    }
}

/// A spawned task, aborted when whoever waits for it goes away (a timeout, a
/// dropped request), so no run outlives its probe.
pub(super) struct AbortOnDrop<T>(pub(super) tokio::task::JoinHandle<T>);

impl<T> Future for AbortOnDrop<T> {
    type Output = Result<T, tokio::task::JoinError>;

    fn poll(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        Pin::new(&mut self.0).poll(cx)
    }
}

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

pub(super) fn panic_message(join: tokio::task::JoinError) -> String {
    let payload = join.into_panic();
    if let Some(message) = payload.downcast_ref::<&str>() {
        (*message).to_owned()
    } else if let Some(message) = payload.downcast_ref::<String>() {
        message.clone()
    } else {
        "a non-string payload".to_owned()
    }
}

impl fmt::Debug for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Check")
            .field("name", &self.name)
            .field("timeout", &self.timeout)
            .field("min_interval", &self.min_interval)
            .finish_non_exhaustive()
    }
}

impl Component for Check {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> &str {
        "check"
    }

    fn status(&self) -> Option<Status> {
        self.last.lock().as_ref().map(|(_, details)| details.status)
    }

    fn check(&self) -> ComponentFuture<'_> {
        Box::pin(self.run())
    }
}
