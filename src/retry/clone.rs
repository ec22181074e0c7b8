//! Making a second copy of a request, so that it can be sent again: the
//! strategy trait, the attempt number it carries, and the strategies for
//! `Clone` requests, for requests that cannot be copied and for `reqwest`.

use std::fmt;

use crate::timeout::Deadline;

/// Which attempt of a request this is: 1 for the first, 2 for the first retry.
///
/// Strategies that can (such as [`HttpReplay`](super::HttpReplay)) put it into the request's
/// extensions, so that layers further in can see the retries made further out.
/// A retry layer that receives a request already numbered by an outer one
/// makes a single attempt and leaves retrying to the outer layer: nested
/// retry layers would otherwise multiply (3 x 3 attempts instead of 3).
///
/// ```
/// use seawall::retry::Attempt;
///
/// let attempt = Attempt::new(2);
/// assert_eq!(attempt.get(), 2);
/// assert!(attempt.is_retry());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Attempt(u32);

impl Attempt {
    /// Attempt number `n` (1 for the first).
    pub fn new(n: u32) -> Self {
        Self(n)
    }

    /// The number.
    pub fn get(self) -> u32 {
        self.0
    }

    /// Whether this is a retry rather than the first attempt.
    pub fn is_retry(self) -> bool {
        self.0 > 1
    }
}

/// How the retry layer copies requests.
///
/// A retry needs the request twice, and not every request can be copied: an
/// HTTP body is usually a stream, read once. A `CloneRequest` may say
/// "cannot" (`None`), and then the request is simply not retried.
///
/// - [`Cloned`]: any `Clone` request.
/// - [`NoClone`]: never; every request gets one attempt.
/// - [`HttpReplay`](super::HttpReplay) (feature `http`): an `http::Request`
///   with any http-body 1.0 body. The body is buffered, up to a limit, *while
///   the first attempt streams it*, so a retry can replay it byte for byte; a
///   body larger than the limit streams through unbuffered and that request
///   is not retried. It also records the [`Attempt`] number and reads the
///   request's [`Deadline`] from the extensions.
/// - [`ReqwestClone`](super::ReqwestClone) (feature `reqwest`):
///   `reqwest::Request::try_clone`, which fails for streaming bodies.
///
/// It is a strategy object rather than a trait on the request type, because a
/// blanket implementation for every `Clone` type would rule out the
/// implementations for `reqwest::Request` and for streaming HTTP bodies.
///
/// `prepare` turns the caller's request into what the inner service receives
/// (usually the same request); `clone_request` copies a prepared request, or
/// says it cannot.
///
/// ```
/// use seawall::retry::{CloneRequest, Cloned};
///
/// let request = Cloned.prepare(String::from("GET /"));
/// assert_eq!(Cloned.clone_request(&request).as_deref(), Some("GET /"));
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot copy a `{Request}` for a retry",
    label = "this does not implement `CloneRequest<{Request}>`",
    note = "choose the request copying with `.with_request_clone(..)` (preset) or `.with_clone(..)` (retry layer):",
    note = "`Cloned` for requests that are `Clone`; `HttpReplay::new(limit)` for `http::Request<B>` (feature `http`); `ReqwestClone` for `reqwest::Request` (feature `reqwest`); `NoClone` to send every request once"
)]
pub trait CloneRequest<Request> {
    /// The request the inner service receives.
    type Output;

    /// Readies `request` for its first attempt.
    fn prepare(&self, request: Request) -> Self::Output;

    /// A copy of `request` for another attempt; `None` if there cannot be one.
    fn clone_request(&self, request: &Self::Output) -> Option<Self::Output>;

    /// Records on `request` which attempt it is. Does nothing by default.
    fn set_attempt(&self, request: &mut Self::Output, attempt: Attempt) {
        let _ = (request, attempt);
    }

    /// The attempt number an outer retry layer put on `request`, if any.
    /// `None` by default.
    fn attempt_of(&self, request: &Self::Output) -> Option<Attempt> {
        let _ = request;
        None
    }

    /// Puts the request's overall `deadline` on `request`, so that a
    /// [`TimeoutService`](crate::timeout::TimeoutService) further in can cut an attempt short
    /// at it. Does nothing by default.
    fn set_deadline(&self, request: &mut Self::Output, deadline: Deadline) {
        let _ = (request, deadline);
    }

    /// The deadline `request` carries, if any. `None` by default.
    fn deadline_of(&self, request: &Self::Output) -> Option<Deadline> {
        let _ = request;
        None
    }
}

/// Copies requests with `Clone`: every request can be retried. The default.
///
/// ```
/// use seawall::retry::{CloneRequest, Cloned};
///
/// let request = Cloned.prepare(vec![1, 2, 3]);
/// assert_eq!(Cloned.clone_request(&request), Some(vec![1, 2, 3]));
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct Cloned;

impl<Request: Clone> CloneRequest<Request> for Cloned {
    type Output = Request;

    fn prepare(&self, request: Request) -> Request {
        request
    }

    fn clone_request(&self, request: &Request) -> Option<Request> {
        Some(request.clone())
    }
}

/// Never copies: every request gets exactly one attempt. For requests that
/// cannot be copied, such as a server's incoming `http::Request<Body>` under a
/// [`ResilienceLayer`](crate::resilience::ResilienceLayer), where retrying is
/// the client's business.
///
/// ```
/// use seawall::retry::{CloneRequest, NoClone};
///
/// assert!(NoClone.clone_request(&"anything").is_none());
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct NoClone;

impl<Request> CloneRequest<Request> for NoClone {
    type Output = Request;

    fn prepare(&self, request: Request) -> Request {
        request
    }

    fn clone_request(&self, _: &Request) -> Option<Request> {
        None
    }
}

/// Copies `reqwest::Request`s with `try_clone`: every request except one
/// with a streaming body can be retried (feature `reqwest`, reqwest 0.13).
///
/// ```
/// use seawall::retry::{CloneRequest, ReqwestClone};
///
/// let url = "http://127.0.0.1/".parse().unwrap();
/// let request = reqwest::Request::new(reqwest::Method::GET, url);
/// assert!(ReqwestClone.clone_request(&request).is_some());
/// ```
#[cfg(feature = "reqwest")]
#[derive(Clone, Copy, Debug, Default)]
pub struct ReqwestClone;

impl fmt::Display for Attempt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "attempt {}", self.0)
    }
}
