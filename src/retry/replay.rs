//! Replaying a streaming HTTP body, so that a request can be sent again.

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

use super::clone::{Attempt, CloneRequest};

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
/// use seawall::retry::{CloneRequest, HttpReplay};
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
///
/// ```
/// use bytes::Bytes;
/// use http_body_util::{BodyExt, Full};
/// use seawall::retry::{CloneRequest, HttpReplay, ReplayBody};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let request = HttpReplay::new(4).prepare(http::Request::new(Full::new(Bytes::from("too long"))));
/// let body: &ReplayBody<_> = request.body();
/// assert!(body.is_capped(), "known from its size to be over the limit");
/// assert!(body.replica().is_none());
/// # }
/// ```
pub struct ReplayBody<B> {
    buffer: Arc<Mutex<ReplayBuffer<B>>>,
    /// How many chunks of the buffer this replica has read.
    position: usize,
    trailers_sent: bool,
    hint: SizeHint,
}

/// What every replica of one body shares: the source and what was read from it.
struct ReplayBuffer<B> {
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
            buffer: Arc::new(Mutex::new(ReplayBuffer {
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
        let buffer = self.buffer.lock();
        if buffer.overflowed || buffer.failed {
            return None;
        }
        drop(buffer);
        Some(Self {
            buffer: self.buffer.clone(),
            position: 0,
            trailers_sent: false,
            hint: self.hint,
        })
    }

    /// Whether the body has outgrown the limit (and cannot be replayed).
    pub fn is_capped(&self) -> bool {
        self.buffer.lock().overflowed
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
        let mut buffer = this.buffer.lock();
        let buffer = &mut *buffer;
        if this.position < buffer.chunks_read {
            // Replay: the chunk at `position` is still buffered unless the body overflowed.
            let dropped = buffer.chunks_read - buffer.chunks.len();
            let Some(index) = this.position.checked_sub(dropped) else {
                return Poll::Ready(Some(Err("replay body exceeded its buffer limit".into())));
            };
            let chunk = buffer.chunks[index].clone();
            this.position += 1;
            return Poll::Ready(Some(Ok(Frame::data(chunk))));
        }
        if buffer.ended {
            if !this.trailers_sent {
                this.trailers_sent = true;
                if let Some(trailers) = &buffer.trailers {
                    return Poll::Ready(Some(Ok(Frame::trailers(trailers.clone()))));
                }
            }
            return Poll::Ready(None);
        }
        if buffer.failed {
            return Poll::Ready(Some(Err("replayed body's source failed".into())));
        }
        let Some(source) = buffer.source.as_mut() else {
            return Poll::Ready(None);
        };
        match source.as_mut().poll_frame(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(None) => {
                buffer.ended = true;
                buffer.source = None;
                this.trailers_sent = true;
                Poll::Ready(None)
            }
            Poll::Ready(Some(Err(err))) => {
                buffer.failed = true;
                buffer.source = None;
                Poll::Ready(Some(Err(err.into())))
            }
            Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                Ok(mut data) => {
                    let chunk = data.copy_to_bytes(data.remaining());
                    buffer.chunks_read += 1;
                    buffer.bytes_read = buffer.bytes_read.saturating_add(chunk.len());
                    if buffer.bytes_read > buffer.limit {
                        buffer.overflowed = true;
                    }
                    if buffer.overflowed {
                        buffer.chunks.clear();
                    } else {
                        buffer.chunks.push_back(chunk.clone());
                    }
                    this.position += 1;
                    Poll::Ready(Some(Ok(Frame::data(chunk))))
                }
                Err(frame) => {
                    // Trailers end the body.
                    let trailers = frame.into_trailers().ok();
                    buffer.ended = true;
                    buffer.source = None;
                    buffer.trailers = trailers.clone();
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
