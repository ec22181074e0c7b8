use std::time::Duration;

use tower_layer::Layer;

use super::deadline::IgnoreDeadline;
use super::service::TimeoutService;

/// Wraps services in a per-attempt [`TimeoutService`].
///
/// ```
/// use seawall::timeout::TimeoutLayer;
/// use std::time::Duration;
/// use tower::{ServiceBuilder, service_fn};
///
/// let service = ServiceBuilder::new()
///     .layer(TimeoutLayer::new(Duration::from_millis(250)))
///     .service(service_fn(|x: u32| async move { Ok::<_, std::io::Error>(x) }));
/// # drop(service);
/// ```
#[derive(Clone, Copy, Debug)]
pub struct TimeoutLayer<D = IgnoreDeadline> {
    timeout: Duration,
    deadlines: D,
}

impl TimeoutLayer {
    /// Every call gets at most `timeout`.
    pub fn new(timeout: Duration) -> Self {
        Self {
            timeout,
            deadlines: IgnoreDeadline,
        }
    }
}

impl<D> TimeoutLayer<D> {
    /// Also stops each call at the request's own [`Deadline`](super::Deadline),
    /// as `deadlines` reads it, when that comes first.
    pub fn with_deadlines<D2>(self, deadlines: D2) -> TimeoutLayer<D2> {
        TimeoutLayer {
            timeout: self.timeout,
            deadlines,
        }
    }

    /// The per-call timeout.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }
}

impl<S, D: Clone> Layer<S> for TimeoutLayer<D> {
    type Service = TimeoutService<S, D>;

    fn layer(&self, inner: S) -> Self::Service {
        TimeoutService::with_deadlines(inner, self.timeout, self.deadlines.clone())
    }
}
