//! The deadline of a whole request, and how a layer reads it from a request.

use std::time::Duration;

use tokio::time::Instant;

use crate::error::BoxError;

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
    /// [`InvalidDeadline`](super::error::InvalidDeadline).
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
