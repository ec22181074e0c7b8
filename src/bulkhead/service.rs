//! The bulkhead's tower service.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tower_service::Service;

use crate::error::BoxError;

use super::error::BulkheadFull;
use super::future::{Acquire, ResponseFuture};
use super::{Bulkhead, BulkheadPermit};

/// A tower service behind a [`Bulkhead`].
///
/// The slot is taken in `poll_ready` (waiting there, if the bulkhead allows
/// it) and kept in the service until `call`, which moves it into the response
/// future: the slot is held exactly as long as the call. A full bulkhead
/// reports ready at once, without polling the inner service, and the call
/// fails fast with [`BulkheadFull`]. A clone starts without a slot.
///
/// # Errors
///
/// [`BulkheadFull`] or the inner service's error, boxed.
///
/// ```
/// use seawall::bulkhead::{Bulkhead, BulkheadConfig, BulkheadService};
/// use tower::{service_fn, Service, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), seawall::BoxError> {
/// let bulkhead = Bulkhead::new(BulkheadConfig::builder().max_concurrent_calls(8).build()?);
/// let mut service = BulkheadService::new(
///     service_fn(|n: u32| async move { Ok::<_, std::io::Error>(n + 1) }),
///     bulkhead,
/// );
/// assert_eq!(service.ready().await?.call(1).await?, 2);
/// # Ok(())
/// # }
/// ```
pub struct BulkheadService<S> {
    inner: S,
    bulkhead: Bulkhead,
    reservation: Reservation,
}

enum Reservation {
    None,
    Waiting(Acquire),
    Held(BulkheadPermit),
    Full(BulkheadFull),
}

impl<S> BulkheadService<S> {
    /// Wraps `inner` in `bulkhead`.
    pub fn new(inner: S, bulkhead: Bulkhead) -> Self {
        Self {
            inner,
            bulkhead,
            reservation: Reservation::None,
        }
    }

    /// The bulkhead this service takes slots from.
    pub fn bulkhead(&self) -> &Bulkhead {
        &self.bulkhead
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The inner service, unwrapped. A slot reserved by `poll_ready` is given
    /// back.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: Clone> Clone for BulkheadService<S> {
    fn clone(&self) -> Self {
        Self::new(self.inner.clone(), self.bulkhead.clone())
    }
}

impl<S: fmt::Debug> fmt::Debug for BulkheadService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let reservation = match self.reservation {
            Reservation::None => "none",
            Reservation::Waiting(_) => "waiting",
            Reservation::Held(_) => "held",
            Reservation::Full(_) => "full",
        };
        f.debug_struct("BulkheadService")
            .field("inner", &self.inner)
            .field("bulkhead", &self.bulkhead)
            .field("reservation", &reservation)
            .finish()
    }
}

impl<S, Request> Service<Request> for BulkheadService<S>
where
    S: Service<Request>,
    S::Error: Into<BoxError>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        loop {
            match &mut self.reservation {
                Reservation::None => {
                    // The common case, a free slot, without the waiting machinery.
                    self.reservation = match self.bulkhead.take_free_slot() {
                        Some(permit) => Reservation::Held(permit),
                        None => Reservation::Waiting(self.bulkhead.acquire()),
                    };
                }
                Reservation::Waiting(acquire) => {
                    self.reservation = match Pin::new(acquire).poll(cx) {
                        Poll::Pending => return Poll::Pending,
                        Poll::Ready(Ok(permit)) => Reservation::Held(permit),
                        Poll::Ready(Err(full)) => Reservation::Full(full),
                    };
                }
                // Fail fast: the call will be refused, so the inner service need not be ready.
                Reservation::Full(_) => return Poll::Ready(Ok(())),
                Reservation::Held(_) => {
                    return match self.inner.poll_ready(cx) {
                        Poll::Pending => Poll::Pending,
                        Poll::Ready(Ok(())) => Poll::Ready(Ok(())),
                        Poll::Ready(Err(err)) => {
                            self.reservation = Reservation::None;
                            Poll::Ready(Err(err.into()))
                        }
                    };
                }
            }
        }
    }

    fn call(&mut self, request: Request) -> Self::Future {
        match std::mem::replace(&mut self.reservation, Reservation::None) {
            Reservation::Held(permit) => ResponseFuture::called(self.inner.call(request), permit),
            Reservation::Full(full) => ResponseFuture::rejected(full),
            Reservation::None | Reservation::Waiting(_) => {
                panic!("poll_ready must be called (and return Ready(Ok)) before call")
            }
        }
    }
}
