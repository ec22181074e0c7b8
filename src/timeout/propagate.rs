//! Deadline propagation: a client-side layer that writes the time left
//! before a request's [`Deadline`] into the request it sends, so the next hop
//! gives up when the caller does.

use std::task::{Context, Poll};
use std::time::Duration;

use http::header::{HeaderName, HeaderValue};
use tower_layer::Layer;
use tower_service::Service;

use super::deadline::{FromExtensions, ReadDeadline};
use super::grpc::{encode_grpc_timeout, parse_grpc_timeout, GRPC_TIMEOUT};

/// Where the time left is written.
#[derive(Clone, Debug)]
enum Target {
    /// `grpc-timeout`, as the gRPC over HTTP/2 protocol writes it.
    GrpcTimeout,
    /// A header the user names, in whole milliseconds.
    Millis(HeaderName),
}

/// Writes the time left before each request's [`Deadline`](super::Deadline)
/// into the request, as `grpc-timeout` or as whole milliseconds in a header
/// you name, so that the server gives up when the caller does.
///
/// # Why
///
/// A deadline set at the edge means nothing to a server two hops away unless
/// each hop passes on what is left of it. The server then stops work whose
/// answer nobody will read, and its own calls inherit a deadline in turn.
/// Put this layer innermost on the client (inside the retry layer and its
/// [`TimeoutService`](super::TimeoutService)): each attempt then carries the
/// time left *when it is sent*, so a retry never promises the server more
/// time than the caller still has.
///
/// The value is never shorter than the time left (rounded up to the unit it
/// is written in; see [`encode_grpc_timeout`](super::encode_grpc_timeout)),
/// so the server never gives up before the caller. A request that already
/// carries a shorter value (tonic's `Request::set_timeout`, say) keeps it. A
/// request without a deadline is sent as it is.
///
/// # Cost
///
/// Nothing for a request without a deadline. One with a deadline reads the
/// clock once and stores one short header value (the `http` crate keeps
/// header values in `Bytes`, so that is one small allocation: the price of
/// the header itself).
///
/// ```
/// use seawall::timeout::{Deadline, PropagateDeadlineLayer, GRPC_TIMEOUT};
/// use std::time::Duration;
/// use tower::{Layer, Service, ServiceExt, service_fn};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), std::convert::Infallible> {
/// let echo_timeout = service_fn(|request: http::Request<()>| async move {
///     Ok::<_, std::convert::Infallible>(request.headers().get(GRPC_TIMEOUT).cloned())
/// });
/// let mut client = PropagateDeadlineLayer::grpc_timeout().layer(echo_timeout);
///
/// let mut request = http::Request::new(());
/// request.extensions_mut().insert(Deadline::after(Duration::from_millis(250)));
/// let sent = client.ready().await?.call(request).await?;
/// assert_eq!(sent.unwrap(), "250000u");
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct PropagateDeadlineLayer<R = FromExtensions> {
    target: Target,
    read: R,
}

impl PropagateDeadlineLayer {
    /// Writes `grpc-timeout`, reading the [`Deadline`](super::Deadline)
    /// extension of each request.
    pub fn grpc_timeout() -> Self {
        Self {
            target: Target::GrpcTimeout,
            read: FromExtensions,
        }
    }

    /// Writes the time left in whole milliseconds (rounded up) into `header`,
    /// such as `x-request-timeout-ms`, reading the
    /// [`Deadline`](super::Deadline) extension of each request.
    ///
    /// ```
    /// use seawall::timeout::PropagateDeadlineLayer;
    ///
    /// let layer = PropagateDeadlineLayer::millis_header(http::HeaderName::from_static("x-request-timeout-ms"));
    /// # drop(layer);
    /// ```
    pub fn millis_header(header: HeaderName) -> Self {
        Self {
            target: Target::Millis(header),
            read: FromExtensions,
        }
    }
}

impl<R> PropagateDeadlineLayer<R> {
    /// Reads each request's deadline with `read` (a [`ReadDeadline`]) instead
    /// of from its extensions.
    pub fn with_reader<R2>(self, read: R2) -> PropagateDeadlineLayer<R2> {
        PropagateDeadlineLayer {
            target: self.target,
            read,
        }
    }
}

impl<S, R: Clone> Layer<S> for PropagateDeadlineLayer<R> {
    type Service = PropagateDeadlineService<S, R>;

    fn layer(&self, inner: S) -> Self::Service {
        PropagateDeadlineService {
            inner,
            target: self.target.clone(),
            read: self.read.clone(),
        }
    }
}

/// The service [`PropagateDeadlineLayer`] makes. It adds no failure: its
/// error and future are the inner service's.
///
/// ```
/// use seawall::timeout::{PropagateDeadlineLayer, PropagateDeadlineService};
/// use tower::{Layer, service_fn};
///
/// let inner = service_fn(|_: http::Request<()>| async { Ok::<_, std::convert::Infallible>(()) });
/// let service: PropagateDeadlineService<_> = PropagateDeadlineLayer::grpc_timeout().layer(inner);
/// assert!(format!("{service:?}").contains("GrpcTimeout"));
/// ```
#[derive(Clone, Debug)]
pub struct PropagateDeadlineService<S, R = FromExtensions> {
    inner: S,
    target: Target,
    read: R,
}

impl<S, R> PropagateDeadlineService<S, R> {
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

impl<S, R, B> Service<http::Request<B>> for PropagateDeadlineService<S, R>
where
    S: Service<http::Request<B>>,
    R: ReadDeadline<http::Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        if let Some(deadline) = self.read.deadline_of(&request) {
            write_time_left(&self.target, request.headers_mut(), deadline.remaining());
        }
        self.inner.call(request)
    }
}

/// Writes `left` into `headers` as `target` says, unless they already carry
/// a value at least as short.
fn write_time_left(target: &Target, headers: &mut http::HeaderMap, left: Duration) {
    match target {
        Target::GrpcTimeout => {
            let Some(value) = encode_grpc_timeout(left) else {
                return; // Longer than any grpc-timeout: no deadline to send.
            };
            let sent = parse_grpc_timeout(value.as_bytes());
            let carried = headers
                .get(GRPC_TIMEOUT)
                .and_then(|value| parse_grpc_timeout(value.as_bytes()));
            if carried.is_some_and(|carried| Some(carried) <= sent) {
                return;
            }
            if let Ok(value) = HeaderValue::from_bytes(value.as_bytes()) {
                headers.insert(GRPC_TIMEOUT, value);
            }
        }
        Target::Millis(name) => {
            let millis = left.as_nanos().div_ceil(1_000_000);
            let millis = u64::try_from(millis).unwrap_or(u64::MAX);
            let carried = headers
                .get(name)
                .and_then(|value| value.to_str().ok())
                .and_then(|value| value.parse::<u64>().ok());
            if carried.is_some_and(|carried| carried <= millis) {
                return;
            }
            headers.insert(name.clone(), HeaderValue::from(millis));
        }
    }
}
