//! The service that injects what its [`Chaos`] picks.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tower_service::Service;

use crate::error::BoxError;

use super::future::ResponseFuture;
use super::handle::{Chaos, Injection, NextCall, Replacement};

/// `ChaosService::passing` when no call has been decided, or the last was used.
const UNDECIDED: u64 = u64::MAX;

/// A tower service that injects faults into a share of its calls. Made by
/// [`ChaosLayer`](super::ChaosLayer).
///
/// Which fault a call gets is decided in `poll_ready` and kept until `call`.
/// A call that gets an error or a response never reaches the inner service:
/// `poll_ready` reports ready at once without polling it, so nothing is
/// reserved in it (a breaker's probe slot, a bulkhead's slot). A delayed call
/// that goes through calls the inner service in `call` and polls its future
/// once the delay is over (a lazy client future sends the request then). A
/// clone starts undecided.
///
/// # Errors
///
/// An injected error, or the inner service's error, boxed.
///
/// ```
/// use seawall::chaos::{ChaosService, ChaosConfig, Chaos, Fault};
/// use seawall::chaos::error::InjectedFault;
/// use tower::{service_fn, Service, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), seawall::BoxError> {
/// let chaos = Chaos::new(ChaosConfig::builder().fault(Fault::error(1.0)).build()?);
/// let mut service = ChaosService::new(
///     service_fn(|n: u32| async move { Ok::<_, std::io::Error>(n) }),
///     chaos.clone(),
/// );
/// let err = service.ready().await?.call(1).await.unwrap_err();
/// assert!(err.is::<InjectedFault>());
/// chaos.disable();
/// assert_eq!(service.ready().await?.call(1).await?, 1);
/// # Ok(())
/// # }
/// ```
pub struct ChaosService<S, Res> {
    inner: S,
    handle: Chaos<Res>,
    // What `poll_ready` decided for the next `call`, in two fields rather than one
    // `NextCall`: a pass kept as one whole word is written and read back at once on
    // the hot path, where an enum's narrower stores followed by a wider load stall
    // store forwarding (about 15 ns a call, measured).
    /// A pass: its delay in nanoseconds (0 for none), or `UNDECIDED`.
    passing: u64,
    /// An injected error or response.
    injection: Option<Injection<Res>>,
}

impl<S, Res> ChaosService<S, Res> {
    /// Wraps `inner`, injecting what `handle` says.
    pub fn new(inner: S, handle: Chaos<Res>) -> Self {
        Self {
            inner,
            handle,
            passing: UNDECIDED,
            injection: None,
        }
    }

    /// The handle this service follows.
    pub fn handle(&self) -> &Chaos<Res> {
        &self.handle
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

impl<S: Clone, Res> Clone for ChaosService<S, Res> {
    fn clone(&self) -> Self {
        Self::new(self.inner.clone(), self.handle.clone())
    }
}

impl<S: fmt::Debug, Res> fmt::Debug for ChaosService<S, Res> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChaosService")
            .field("inner", &self.inner)
            .field("handle", &self.handle)
            .finish_non_exhaustive()
    }
}

impl<S, Res, Request> Service<Request> for ChaosService<S, Res>
where
    S: Service<Request, Response = Res>,
    S::Error: Into<BoxError>,
{
    type Response = Res;
    type Error = BoxError;
    type Future = ResponseFuture<S::Future, Res>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        if self.passing == UNDECIDED && self.injection.is_none() {
            match self.handle.next_call() {
                NextCall::Pass { delay } => self.passing = delay.map_or(0, nanos),
                NextCall::Inject(injection) => self.injection = Some(injection),
            }
        }
        if self.injection.is_some() {
            // The inner service will not be called, so it need not be ready.
            return Poll::Ready(Ok(()));
        }
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    #[inline]
    fn call(&mut self, request: Request) -> Self::Future {
        if self.passing != UNDECIDED {
            let delay = std::mem::replace(&mut self.passing, UNDECIDED);
            let future = self.inner.call(request);
            if delay == 0 {
                return ResponseFuture::inner(future);
            }
            return ResponseFuture::delayed(future, sleep(Duration::from_nanos(delay)));
        }
        let Injection { delay, replacement } = self
            .injection
            .take()
            .expect("poll_ready must be called (and return Ready(Ok)) before call");
        let result = match replacement {
            Replacement::Error(make) => Err(make()),
            Replacement::Response(make) => Ok(make()),
        };
        ResponseFuture::injected(result, delay.map(sleep))
    }
}

/// `delay` in whole nanoseconds, short of `UNDECIDED` (584 years).
fn nanos(delay: Duration) -> u64 {
    u64::try_from(delay.as_nanos())
        .unwrap_or(u64::MAX)
        .min(UNDECIDED - 1)
}

fn sleep(delay: Duration) -> Pin<Box<tokio::time::Sleep>> {
    Box::pin(tokio::time::sleep(delay))
}
