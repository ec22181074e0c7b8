//! A bulkhead: cap how many calls to one dependency are in flight at once.
//!
//! # Why
//!
//! A slow dependency does not fail; it holds on. Every call to it keeps a
//! connection, a buffer and a task busy, and with no cap a burst of slow calls
//! to *one* dependency takes all of them, so calls to healthy dependencies
//! starve too. A bulkhead (named after the walls that keep one flooded
//! compartment from sinking a ship) gives each dependency a fixed number of
//! slots: when they are all taken, further calls are refused at once with
//! [`BulkheadFull`] instead of piling up.
//!
//! Refusing is usually better than queueing: a queue only hides overload until
//! it turns into latency for everyone. Where a short burst is expected, a
//! bulkhead may let a *bounded* number of callers wait a *bounded* time for a
//! slot ([`wait_for_slot`](BulkheadConfigBuilder::wait_for_slot)); freed slots
//! go to them in arrival order. There is no unbounded queue.
//!
//! # Placement
//!
//! Inside the circuit breaker, outside the timeout:
//! `Fallback -> Retry -> CircuitBreaker -> Bulkhead -> Timeout -> client`. A
//! full bulkhead is local overload, not a fault of the dependency, so the
//! breaker's default classifier ignores it.
//!
//! # Cost
//!
//! Taking a slot is one CAS on a shared counter and giving it back one
//! `fetch_sub`; no lock is taken unless callers are waiting. Each call clones
//! one `Arc`.
//!
//! # Without tower
//!
//! [`Bulkhead::try_acquire`] gives a [`BulkheadPermit`] or a refusal;
//! [`Bulkhead::acquire`] waits as configured. The slot is held until the
//! permit is dropped.
//!
//! ```
//! use seawall::bulkhead::{Bulkhead, BulkheadConfig};
//!
//! let bulkhead = Bulkhead::new(BulkheadConfig::builder().max_concurrent_calls(2).build()?);
//! let a = bulkhead.try_acquire()?;
//! let _b = bulkhead.try_acquire()?;
//! assert!(bulkhead.try_acquire().is_err(), "full");
//! drop(a);
//! assert!(bulkhead.try_acquire().is_ok(), "a slot was given back");
//! assert_eq!(bulkhead.rejected(), 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod error;
pub mod future;

mod config;
mod core;
mod keyed;
mod layer;

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::task::{Context, Poll};

use tower_service::Service;

use crate::error::BoxError;
use crate::observe::Event;

pub use self::config::{BulkheadConfig, BulkheadConfigBuilder};
pub use self::keyed::{KeyedBulkhead, KeyedBulkheadLayer, KeyedBulkheadService};
pub use self::layer::BulkheadLayer;

use self::core::Core;
use self::error::BulkheadFull;
use self::future::{Acquire, ResponseFuture};

/// A bulkhead, shared by every clone.
///
/// This is the handle: it hands out slots ([`try_acquire`](Self::try_acquire),
/// [`acquire`](Self::acquire), [`call`](Self::call)) and reports
/// ([`in_flight`](Self::in_flight), [`rejected`](Self::rejected),
/// [`on_event`](Self::on_event)). Wrap a tower service with
/// [`BulkheadLayer`].
///
/// # Clone
///
/// Cloning is cheap and every clone is the same bulkhead, with the same slots.
///
/// ```
/// use seawall::bulkhead::{Bulkhead, BulkheadConfig};
///
/// let bulkhead = Bulkhead::new(BulkheadConfig::builder().max_concurrent_calls(1).build()?);
/// let clone = bulkhead.clone();
/// let _permit = bulkhead.try_acquire()?;
/// assert_eq!(clone.in_flight(), 1);
/// assert!(clone.try_acquire().is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Bulkhead {
    core: Arc<Core>,
}

impl Bulkhead {
    /// A bulkhead with `config`.
    pub fn new(config: BulkheadConfig) -> Self {
        Self {
            core: Arc::new(Core::new(config)),
        }
    }

    /// Takes a free slot, never waiting (and never ahead of callers already
    /// waiting).
    ///
    /// # Errors
    ///
    /// [`BulkheadFull`] when no slot is free; it counts as a rejection.
    pub fn try_acquire(&self) -> Result<BulkheadPermit, BulkheadFull> {
        if self.core.try_acquire() {
            Ok(BulkheadPermit::new(self.core.clone()))
        } else {
            self.core.reject();
            Err(BulkheadFull::new())
        }
    }

    /// Takes a slot, waiting for one as configured: not at all by default,
    /// or in the bounded queue of
    /// [`wait_for_slot`](BulkheadConfigBuilder::wait_for_slot). Waiting needs
    /// a tokio runtime with its timer enabled.
    ///
    /// # Errors
    ///
    /// The future resolves to [`BulkheadFull`] when no slot is free and it
    /// cannot wait, the queue is full, or the wait runs out.
    pub fn acquire(&self) -> Acquire {
        Acquire::new(self.core.clone())
    }

    /// Runs `future` holding a slot, waiting for one as configured.
    ///
    /// # Errors
    ///
    /// The future's own error, or [`BulkheadFull`] (both boxed; tell them
    /// apart with [`ErrorKind::of`](crate::ErrorKind::of)).
    ///
    /// ```
    /// use seawall::bulkhead::{Bulkhead, BulkheadConfig};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), seawall::BoxError> {
    /// let bulkhead = Bulkhead::new(BulkheadConfig::default());
    /// let rows = bulkhead.call(async { Ok::<_, std::io::Error>(3) }).await?;
    /// assert_eq!(rows, 3);
    /// assert_eq!(bulkhead.in_flight(), 0);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn call<F, T, E>(&self, future: F) -> Result<T, BoxError>
    where
        F: Future<Output = Result<T, E>>,
        E: Into<BoxError>,
    {
        let _permit = self.acquire().await?;
        future.await.map_err(Into::into)
    }

    /// Slots taken now.
    pub fn in_flight(&self) -> u32 {
        self.core.in_flight() as u32
    }

    /// Callers waiting for a slot now.
    pub fn waiting(&self) -> u32 {
        self.core.waiting() as u32
    }

    /// The number of slots.
    pub fn max_concurrent_calls(&self) -> u32 {
        self.core.max() as u32
    }

    /// Calls refused since the bulkhead was built.
    pub fn rejected(&self) -> u64 {
        self.core.rejected()
    }

    /// The bulkhead's name.
    pub fn name(&self) -> &str {
        self.core.config.name()
    }

    /// The configuration the bulkhead was built with.
    pub fn config(&self) -> &BulkheadConfig {
        &self.core.config
    }

    /// Calls `listener` for every refusal ([`Event::BulkheadRejected`]) and
    /// every wait that ended ([`Event::BulkheadWaited`]) from now on. A
    /// panicking listener is caught and does not disturb the bulkhead.
    ///
    /// ```
    /// use seawall::bulkhead::{Bulkhead, BulkheadConfig};
    /// use seawall::observe::Event;
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    ///
    /// let bulkhead = Bulkhead::new(BulkheadConfig::builder().max_concurrent_calls(1).build()?);
    /// let refused = Arc::new(AtomicUsize::new(0));
    /// let count = refused.clone();
    /// bulkhead.on_event(move |event: &Event<'_>| {
    ///     if let Event::BulkheadRejected { .. } = event {
    ///         count.fetch_add(1, Ordering::Relaxed);
    ///     }
    /// });
    /// let _held = bulkhead.try_acquire()?;
    /// assert!(bulkhead.try_acquire().is_err());
    /// assert_eq!(refused.load(Ordering::Relaxed), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn on_event<F>(&self, listener: F)
    where
        F: Fn(&Event<'_>) + Send + Sync + 'static,
    {
        self.core.add_listener(Arc::new(listener));
    }
}

impl fmt::Debug for Bulkhead {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bulkhead")
            .field("name", &self.name())
            .field("in_flight", &self.in_flight())
            .field("max_concurrent_calls", &self.max_concurrent_calls())
            .finish()
    }
}

/// One slot of a [`Bulkhead`], held until dropped.
///
/// Dropping it, however that happens (the call finished, failed, was
/// cancelled, or panicked and unwound), gives the slot back, to the first
/// waiter if anyone waits.
#[must_use = "the slot is given back as soon as the permit is dropped"]
pub struct BulkheadPermit {
    core: Arc<Core>,
}

impl BulkheadPermit {
    #[inline]
    pub(crate) fn new(core: Arc<Core>) -> Self {
        Self { core }
    }
}

impl Drop for BulkheadPermit {
    #[inline]
    fn drop(&mut self) {
        self.core.release();
    }
}

impl fmt::Debug for BulkheadPermit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BulkheadPermit")
            .field("bulkhead", &self.core.config.name())
            .finish()
    }
}

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
                    self.reservation = if self.bulkhead.core.try_acquire() {
                        Reservation::Held(BulkheadPermit::new(self.bulkhead.core.clone()))
                    } else {
                        Reservation::Waiting(self.bulkhead.acquire())
                    };
                }
                Reservation::Waiting(acquire) => {
                    self.reservation = match std::pin::Pin::new(acquire).poll(cx) {
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
