//! Making a second copy of a request, so that it can be sent again.
//!
//! A retry needs the request twice, and not every request can be copied: an
//! HTTP body is usually a stream, read once. [`CloneRequest`] is the strategy
//! the retry layer uses; it may say "cannot" (`None`), and then the request is
//! simply not retried.
//!
//! - [`Cloned`]: any `Clone` request.
//! - [`HttpReplay`] (feature `http`): an `http::Request` with any http-body
//!   1.0 body. The body is buffered, up to a limit, *while the first attempt
//!   streams it*, so a retry can replay it byte for byte; a body larger than
//!   the limit streams through unbuffered and that request is not retried.
//!   It also records the [`Attempt`] number and reads the request's
//!   [`Deadline`] from the extensions.
//! - [`ReqwestClone`] (feature `reqwest`): `reqwest::Request::try_clone`, which
//!   fails for streaming bodies.
//!
//! It is a strategy object rather than a trait on the request type, because a
//! blanket implementation for every `Clone` type would rule out the
//! implementations for `reqwest::Request` and for streaming HTTP bodies.

use std::fmt;

use crate::timeout::Deadline;

/// Which attempt of a request this is: 1 for the first, 2 for the first retry.
///
/// Strategies that can (such as [`HttpReplay`]) put it into the request's
/// extensions, so that layers further in can see the retries made further out.
/// A retry layer that receives a request already numbered by an outer one
/// makes a single attempt and leaves retrying to the outer layer: nested
/// retry layers would otherwise multiply (3 x 3 attempts instead of 3).
///
/// ```
/// use seawall::retry::clone::Attempt;
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
/// `prepare` turns the caller's request into what the inner service receives
/// (usually the same request); `clone_request` copies a prepared request, or
/// says it cannot.
///
/// ```
/// use seawall::retry::clone::{CloneRequest, Cloned};
///
/// let request = Cloned.prepare(String::from("GET /"));
/// assert_eq!(Cloned.clone_request(&request).as_deref(), Some("GET /"));
/// ```
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

/// Copies requests with `Clone`.
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
/// use seawall::retry::clone::{CloneRequest, NoClone};
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

#[cfg(feature = "reqwest")]
pub use self::reqwest_clone::ReqwestClone;

#[cfg(feature = "reqwest")]
mod reqwest_clone {
    use super::CloneRequest;

    /// Copies `reqwest::Request`s with `try_clone`: every request except one
    /// with a streaming body can be retried.
    ///
    /// ```
    /// use seawall::retry::clone::{CloneRequest, ReqwestClone};
    ///
    /// let url = "http://127.0.0.1/".parse().unwrap();
    /// let request = reqwest::Request::new(reqwest::Method::GET, url);
    /// assert!(ReqwestClone.clone_request(&request).is_some());
    /// ```
    #[derive(Clone, Copy, Debug, Default)]
    pub struct ReqwestClone;

    impl CloneRequest<reqwest::Request> for ReqwestClone {
        type Output = reqwest::Request;

        fn prepare(&self, request: reqwest::Request) -> reqwest::Request {
            request
        }

        fn clone_request(&self, request: &reqwest::Request) -> Option<reqwest::Request> {
            request.try_clone()
        }
    }
}

#[cfg(feature = "http")]
pub use self::replay::{HttpReplay, ReplayBody};

#[cfg(feature = "http")]
mod replay {
    use std::collections::VecDeque;
    use std::fmt;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use bytes::{Buf, Bytes};
    use http::HeaderMap;
    use http_body::{Body, Frame, SizeHint};

    use crate::error::BoxError;
    use crate::sync::{Arc, Mutex};
    use crate::timeout::Deadline;

    use super::{Attempt, CloneRequest};

    /// Retries `http::Request`s with any body, replaying up to `limit` bytes.
    ///
    /// The first attempt streams the body as usual; what it reads is kept
    /// (as shared `Bytes`, not copied twice) until the request is done. A
    /// retry replays it and, if the first attempt stopped reading early, goes
    /// on reading from the original. Once more than `limit` bytes have passed,
    /// the buffer is dropped and the request is not retried.
    ///
    /// ```
    /// use bytes::Bytes;
    /// use http_body_util::{BodyExt, Full};
    /// use seawall::retry::clone::{CloneRequest, HttpReplay};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let replay = HttpReplay::new(64 * 1024);
    /// let first = replay.prepare(http::Request::new(Full::new(Bytes::from("hello"))));
    /// let second = replay.clone_request(&first).unwrap();
    /// assert_eq!(first.into_body().collect().await.unwrap().to_bytes(), "hello");
    /// assert_eq!(second.into_body().collect().await.unwrap().to_bytes(), "hello");
    /// # }
    /// ```
    #[derive(Clone, Copy, Debug)]
    pub struct HttpReplay {
        limit: usize,
    }

    impl HttpReplay {
        /// Replays bodies of up to `limit` bytes.
        pub fn new(limit: usize) -> Self {
            Self { limit }
        }

        /// The most bytes a replayable body may have.
        pub fn limit(&self) -> usize {
            self.limit
        }
    }

    impl<B> CloneRequest<http::Request<B>> for HttpReplay
    where
        B: Body + Send + 'static,
        B::Error: Into<BoxError>,
    {
        type Output = http::Request<ReplayBody<B>>;

        fn prepare(&self, request: http::Request<B>) -> Self::Output {
            request.map(|body| ReplayBody::new(body, self.limit))
        }

        fn clone_request(&self, request: &Self::Output) -> Option<Self::Output> {
            let body = request.body().replica()?;
            let mut clone = http::Request::new(body);
            *clone.method_mut() = request.method().clone();
            *clone.uri_mut() = request.uri().clone();
            *clone.version_mut() = request.version();
            *clone.headers_mut() = request.headers().clone();
            *clone.extensions_mut() = request.extensions().clone();
            Some(clone)
        }

        fn set_attempt(&self, request: &mut Self::Output, attempt: Attempt) {
            request.extensions_mut().insert(attempt);
            #[cfg(feature = "grpc")]
            set_previous_rpc_attempts(request, attempt);
        }

        fn attempt_of(&self, request: &Self::Output) -> Option<Attempt> {
            request.extensions().get::<Attempt>().copied()
        }

        fn set_deadline(&self, request: &mut Self::Output, deadline: Deadline) {
            request.extensions_mut().insert(deadline);
        }

        fn deadline_of(&self, request: &Self::Output) -> Option<Deadline> {
            request.extensions().get::<Deadline>().copied()
        }
    }

    /// On a retried gRPC request, the `grpc-previous-rpc-attempts` header of
    /// gRPC A6: how many attempts came before, so the server (and a retry
    /// layer there) can see that this is a retry.
    #[cfg(feature = "grpc")]
    fn set_previous_rpc_attempts<B>(request: &mut http::Request<B>, attempt: Attempt) {
        const HEADER: &str = "grpc-previous-rpc-attempts";
        let is_grpc = request
            .headers()
            .get(http::header::CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"));
        if is_grpc && attempt.is_retry() {
            let previous = http::HeaderValue::from(attempt.get() - 1);
            request.headers_mut().insert(HEADER, previous);
        }
    }

    /// A body that can be read again, up to a limit. Made by [`HttpReplay`].
    ///
    /// Every replica reads the same bytes, in the same chunks, and the same
    /// trailers. A replica that needs bytes which were dropped because the
    /// body outgrew the limit fails with an error (the retry layer never makes
    /// one: it checks first).
    pub struct ReplayBody<B> {
        shared: Arc<Mutex<Shared<B>>>,
        /// How many chunks of the buffer this replica has read.
        position: usize,
        trailers_sent: bool,
        hint: SizeHint,
    }

    struct Shared<B> {
        source: Option<Pin<Box<B>>>,
        /// The chunks read from the source so far, while under the limit.
        chunks: VecDeque<Bytes>,
        /// Total chunks read from the source (dropped ones included).
        chunks_read: usize,
        bytes_read: usize,
        limit: usize,
        /// The body outgrew the limit: the buffer is gone for good.
        overflowed: bool,
        /// The source has ended; `trailers` are the last frame, if any.
        ended: bool,
        trailers: Option<HeaderMap>,
        /// The source failed; replicas that need more fail too.
        failed: bool,
    }

    impl<B: Body> ReplayBody<B> {
        fn new(body: B, limit: usize) -> Self {
            let hint = body.size_hint();
            // A body known to be too large is never buffered at all.
            let overflowed = hint.lower() > limit as u64;
            Self {
                shared: Arc::new(Mutex::new(Shared {
                    source: Some(Box::pin(body)),
                    chunks: VecDeque::new(),
                    chunks_read: 0,
                    bytes_read: 0,
                    limit,
                    overflowed,
                    ended: false,
                    trailers: None,
                    failed: false,
                })),
                position: 0,
                trailers_sent: false,
                hint,
            }
        }
    }

    impl<B> ReplayBody<B> {
        /// Another replica, reading from the start; `None` once the body has
        /// outgrown the limit or failed.
        pub fn replica(&self) -> Option<Self> {
            let shared = self.shared.lock();
            if shared.overflowed || shared.failed {
                return None;
            }
            drop(shared);
            Some(Self {
                shared: self.shared.clone(),
                position: 0,
                trailers_sent: false,
                hint: self.hint,
            })
        }

        /// Whether the body has outgrown the limit (and cannot be replayed).
        pub fn is_capped(&self) -> bool {
            self.shared.lock().overflowed
        }
    }

    impl<B> fmt::Debug for ReplayBody<B> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.debug_struct("ReplayBody")
                .field("position", &self.position)
                .finish_non_exhaustive()
        }
    }

    impl<B> Body for ReplayBody<B>
    where
        B: Body,
        B::Error: Into<BoxError>,
    {
        type Data = Bytes;
        type Error = BoxError;

        fn poll_frame(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
            let this = self.get_mut();
            // Attempts run one after another, so the lock is uncontended in practice.
            let mut shared = this.shared.lock();
            let shared = &mut *shared;
            if this.position < shared.chunks_read {
                // Replay: the chunk at `position` is still buffered unless the body overflowed.
                let dropped = shared.chunks_read - shared.chunks.len();
                let Some(index) = this.position.checked_sub(dropped) else {
                    return Poll::Ready(Some(Err("replay body exceeded its buffer limit".into())));
                };
                let chunk = shared.chunks[index].clone();
                this.position += 1;
                return Poll::Ready(Some(Ok(Frame::data(chunk))));
            }
            if shared.ended {
                if !this.trailers_sent {
                    this.trailers_sent = true;
                    if let Some(trailers) = &shared.trailers {
                        return Poll::Ready(Some(Ok(Frame::trailers(trailers.clone()))));
                    }
                }
                return Poll::Ready(None);
            }
            if shared.failed {
                return Poll::Ready(Some(Err("replayed body's source failed".into())));
            }
            let Some(source) = shared.source.as_mut() else {
                return Poll::Ready(None);
            };
            match source.as_mut().poll_frame(cx) {
                Poll::Pending => Poll::Pending,
                Poll::Ready(None) => {
                    shared.ended = true;
                    shared.source = None;
                    this.trailers_sent = true;
                    Poll::Ready(None)
                }
                Poll::Ready(Some(Err(err))) => {
                    shared.failed = true;
                    shared.source = None;
                    Poll::Ready(Some(Err(err.into())))
                }
                Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                    Ok(mut data) => {
                        let chunk = data.copy_to_bytes(data.remaining());
                        shared.chunks_read += 1;
                        shared.bytes_read = shared.bytes_read.saturating_add(chunk.len());
                        if shared.bytes_read > shared.limit {
                            shared.overflowed = true;
                        }
                        if shared.overflowed {
                            shared.chunks.clear();
                        } else {
                            shared.chunks.push_back(chunk.clone());
                        }
                        this.position += 1;
                        Poll::Ready(Some(Ok(Frame::data(chunk))))
                    }
                    Err(frame) => {
                        // Trailers end the body.
                        let trailers = frame.into_trailers().ok();
                        shared.ended = true;
                        shared.source = None;
                        shared.trailers = trailers.clone();
                        this.trailers_sent = true;
                        match trailers {
                            Some(trailers) => Poll::Ready(Some(Ok(Frame::trailers(trailers)))),
                            None => Poll::Ready(None),
                        }
                    }
                },
            }
        }

        fn size_hint(&self) -> SizeHint {
            self.hint
        }
    }
}

impl fmt::Display for Attempt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "attempt {}", self.0)
    }
}
