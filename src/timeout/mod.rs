//! A per-attempt timeout, and a deadline that spans every attempt of a request.
//!
//! # Why
//!
//! A call without a time limit can hold a connection, a task and a caller
//! forever when its dependency hangs instead of failing. A timeout turns a hang
//! into a failure the rest of the stack can act on: a breaker outside it counts
//! the timed-out attempt as failed, a retry outside it may try again.
//!
//! Two limits, because they answer different questions:
//!
//! - the **per-attempt timeout** of [`TimeoutService`] bounds one call to the
//!   dependency. It sits innermost (see the crate's layer order), so each retry
//!   gets a fresh one;
//! - the **[`Deadline`]** bounds the whole request, all retries and backoff
//!   waits included. It is absolute (an instant, not a duration), so it means
//!   the same thing to every layer that reads it, and it travels with the
//!   request (for `http::Request`, as an extension) so that a caller can set or
//!   override it per request. [`TimeoutService`] stops an attempt at the deadline when
//!   that comes before its own timeout; the retry layer never starts an attempt
//!   that cannot finish before it.
//!
//! On expiry the inner future is dropped (cancelled) and the call fails with
//! [`Elapsed`](error::Elapsed).
//!
//! ```
//! use seawall::timeout::{TimeoutService, error::Elapsed};
//! use seawall::ErrorKind;
//! use std::time::Duration;
//! use tower::{Service, ServiceExt, service_fn};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! let hangs = service_fn(|_: ()| std::future::pending::<Result<(), std::io::Error>>());
//! let mut service = TimeoutService::new(hangs, Duration::from_secs(1));
//! let err = service.ready().await.unwrap().call(()).await.unwrap_err();
//! assert_eq!(ErrorKind::of(&*err), ErrorKind::Elapsed);
//! # }
//! ```

pub mod error;
pub mod future;
#[cfg(feature = "grpc")]
pub mod grpc;

mod layer;

use std::fmt;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::Instant;
use tower_service::Service;

use crate::error::BoxError;

pub use self::layer::TimeoutLayer;

use self::future::ResponseFuture;

/// The instant by which a whole request, every retry included, must be done.
///
/// For an `http::Request`, insert it as an extension to set or override the
/// deadline of that one request; [`FromExtensions`] reads it back. It is a
/// [`tokio::time::Instant`], so a paused test clock drives it.
///
/// ```
/// use seawall::timeout::Deadline;
/// use std::time::Duration;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let deadline = Deadline::after(Duration::from_secs(2));
/// tokio::time::advance(Duration::from_millis(500)).await;
/// assert_eq!(deadline.remaining(), Duration::from_millis(1500));
/// assert!(!deadline.has_passed());
/// # }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Deadline(Instant);

impl Deadline {
    /// A deadline at `instant`.
    pub fn at(instant: Instant) -> Self {
        Self(instant)
    }

    /// A deadline `timeout` from now (saturating at the far future).
    pub fn after(timeout: Duration) -> Self {
        let now = Instant::now();
        Self(now.checked_add(timeout).unwrap_or_else(|| far_future(now)))
    }

    /// The instant.
    pub fn instant(&self) -> Instant {
        self.0
    }

    /// Time left until the deadline; zero once it has passed.
    pub fn remaining(&self) -> Duration {
        self.0.saturating_duration_since(Instant::now())
    }

    /// Whether the deadline has passed.
    pub fn has_passed(&self) -> bool {
        Instant::now() >= self.0
    }
}

/// About thirty years from `now`: "never", without overflowing `Instant`.
pub(crate) fn far_future(now: Instant) -> Instant {
    now + Duration::from_secs(86_400 * 365 * 30)
}

/// Reads the [`Deadline`] a request carries, if any.
///
/// Implemented by [`IgnoreDeadline`] (every request), [`FromExtensions`]
/// (`http::Request`, feature `http`) and every closure
/// `Fn(&Request) -> Option<Deadline>`, for request types of your own.
///
/// ```
/// use seawall::timeout::{Deadline, ReadDeadline};
///
/// struct Job { deadline: Option<Deadline> }
/// let read = |job: &Job| job.deadline;
/// assert_eq!(read.deadline_of(&Job { deadline: None }), None);
/// ```
pub trait ReadDeadline<Request> {
    /// The deadline `request` carries.
    fn deadline_of(&self, request: &Request) -> Option<Deadline>;

    /// The deadline `request` carries, or the error to refuse it with when
    /// what it carries does not parse. By default [`deadline_of`](Self::deadline_of),
    /// which never refuses.
    ///
    /// # Errors
    ///
    /// Whatever the reader refuses a request with, such as
    /// [`InvalidDeadline`](error::InvalidDeadline).
    fn read(&self, request: &Request) -> Result<Option<Deadline>, BoxError> {
        Ok(self.deadline_of(request))
    }
}

impl<F, Request> ReadDeadline<Request> for F
where
    F: Fn(&Request) -> Option<Deadline>,
{
    fn deadline_of(&self, request: &Request) -> Option<Deadline> {
        self(request)
    }
}

/// Reads no deadline: only the per-attempt timeout applies.
///
/// ```
/// use seawall::timeout::{IgnoreDeadline, ReadDeadline};
///
/// assert_eq!(IgnoreDeadline.deadline_of(&"any request"), None);
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct IgnoreDeadline;

impl<Request> ReadDeadline<Request> for IgnoreDeadline {
    fn deadline_of(&self, _: &Request) -> Option<Deadline> {
        None
    }
}

/// Reads the [`Deadline`] extension of an `http::Request`.
///
/// ```
/// use seawall::timeout::{Deadline, FromExtensions, ReadDeadline};
/// use std::time::Duration;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let deadline = Deadline::after(Duration::from_secs(1));
/// let mut request = http::Request::new(());
/// request.extensions_mut().insert(deadline);
/// assert_eq!(FromExtensions.deadline_of(&request), Some(deadline));
/// # }
/// ```
#[cfg(feature = "http")]
#[derive(Clone, Copy, Debug, Default)]
pub struct FromExtensions;

#[cfg(feature = "http")]
impl<B> ReadDeadline<http::Request<B>> for FromExtensions {
    fn deadline_of(&self, request: &http::Request<B>) -> Option<Deadline> {
        request.extensions().get::<Deadline>().copied()
    }
}

/// A tower service whose every call ends within a timeout, or at the request's
/// [`Deadline`] if that comes first.
///
/// The timer is armed when the service is called, so time spent waiting for
/// readiness does not count against it.
///
/// # Errors
///
/// [`Elapsed`](error::Elapsed) or the inner service's error, boxed.
///
/// ```
/// use seawall::timeout::TimeoutService;
/// use std::time::Duration;
/// use tower::{Service, ServiceExt, service_fn};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), seawall::BoxError> {
/// let quick = service_fn(|x: u32| async move { Ok::<_, std::io::Error>(x + 1) });
/// let mut service = TimeoutService::new(quick, Duration::from_secs(1));
/// assert_eq!(service.ready().await?.call(41).await?, 42);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct TimeoutService<S, D = IgnoreDeadline> {
    inner: S,
    timeout: Duration,
    deadlines: D,
}

impl<S> TimeoutService<S> {
    /// Bounds every call to `inner` by `timeout`.
    pub fn new(inner: S, timeout: Duration) -> Self {
        Self::with_deadlines(inner, timeout, IgnoreDeadline)
    }
}

impl<S, D> TimeoutService<S, D> {
    /// Bounds every call by `timeout` and by the deadline `deadlines` reads
    /// from the request, whichever comes first.
    pub fn with_deadlines(inner: S, timeout: Duration, deadlines: D) -> Self {
        Self {
            inner,
            timeout,
            deadlines,
        }
    }

    /// The per-call timeout.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The inner service, unwrapped.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: fmt::Debug, D> fmt::Debug for TimeoutService<S, D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Timeout")
            .field("inner", &self.inner)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl<S, D, Request> Service<Request> for TimeoutService<S, D>
where
    S: Service<Request>,
    S::Error: Into<BoxError>,
    D: ReadDeadline<Request>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let now = Instant::now();
        let mut until = now
            .checked_add(self.timeout)
            .unwrap_or_else(|| far_future(now));
        match self.deadlines.read(&request) {
            Ok(Some(deadline)) => until = until.min(deadline.instant()),
            Ok(None) => {}
            Err(invalid) => return ResponseFuture::refused(invalid),
        }
        ResponseFuture::new(self.inner.call(request), tokio::time::sleep_until(until))
    }
}
