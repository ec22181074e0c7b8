//! What the registry reports on: the [`Component`] trait and the [`Details`]
//! of a component's health.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use super::Status;

/// The future of [`Component::check`]: boxed, so that `Component` can be a
/// trait object.
///
/// ```
/// use seawall::health::{ComponentFuture, Details, Status};
///
/// let up: ComponentFuture<'static> = Box::pin(std::future::ready(Details::new(Status::Up)));
/// # drop(up);
/// ```
pub type ComponentFuture<'a> = Pin<Box<dyn Future<Output = Details> + Send + 'a>>;

/// Something whose health the registry reports: a breaker, a custom check, a
/// bulkhead, a connection pool.
///
/// [`status`](Self::status) is the cheap, synchronous last-known status the
/// summary and the `/readyz` probes are built from; [`check`](Self::check) is
/// the detailed look a report takes. The registry runs `check` in its own
/// task, so a component that panics there is reported down and never takes
/// the health endpoint with it; still, `check` should be cheap and bounded in
/// time. A component that panics (in `status` or in `check`) is reported
/// down, and that method is not called again for 30 seconds: its next chance
/// comes with the first refresh or report after that.
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

    /// A detailed look, for a report (`/health` with details,
    /// [`HealthRegistry::report`](super::HealthRegistry::report), a
    /// refresher's tick).
    fn check(&self) -> ComponentFuture<'_>;

    /// How long what [`check`](Self::check) found stays good: `Some` for a
    /// component whose [`status`](Self::status) only learns something new
    /// when `check` runs (as a [`Check`](super::Check)'s does). `/readyz`
    /// probes then run `check` once this has passed since the last run, in
    /// one probe at a time, and answer from the cached summary otherwise.
    ///
    /// `None` (the default): `status` is always current, and probes never
    /// run `check`. Read once, when the component is registered.
    fn check_interval(&self) -> Option<Duration> {
        None
    }
}

/// A component's status and what explains it.
///
/// Every field but `status` is optional and left out of the JSON report when
/// absent.
///
/// ```
/// use seawall::health::{Details, Status};
///
/// let details = Details::down("connection refused").with_extra("attempts", 3);
/// assert_eq!(details.status, Status::Down);
/// assert_eq!(details.error.as_deref(), Some("connection refused"));
/// assert_eq!(details.extra["attempts"], 3);
/// ```
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
