//! A custom async health check, with a timeout and a cached result.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::error::BoxError;
use crate::sync::Mutex;
use crate::validate::LONGEST_DURATION;

use super::component::{panic_message, AbortOnDrop};
use super::{Component, ComponentFuture, Details, Status};

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
/// Error messages appear in the detailed report, which
/// [`HealthService`](super::HealthService) serves only when asked to
/// ([`details(true)`](super::HealthService::details)): never on an endpoint
/// the public can reach.
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
    // std's `Arc`: it holds a `dyn` closure, which loom's cannot.
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

    /// Reports down when a run takes longer than `timeout`. Saturates at 7
    /// days.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout.min(LONGEST_DURATION);
        self
    }

    /// Keeps a result for `interval` after it finished; probes within it get
    /// the cached result. Zero runs the check on every probe that finds no
    /// run in progress (still one at a time). Saturates at 7 days.
    pub fn min_interval(mut self, interval: Duration) -> Self {
        self.min_interval = interval.min(LONGEST_DURATION);
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

    fn check_interval(&self) -> Option<Duration> {
        Some(self.min_interval)
    }
}
