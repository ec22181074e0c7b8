//! The bulkhead's futures: waiting for a slot, and a call holding one.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;
use tokio::time::{Instant, Sleep};

use crate::admission::{AdmissionFuture, CallGuard};
use crate::error::BoxError;
use crate::sync::Arc;

use super::error::BulkheadFull;
use super::slots::{AcquireOrQueue, BulkheadCore, LeftQueue, QueuedCaller};
use super::BulkheadPermit;

/// Waits for a slot of a [`Bulkhead`](super::Bulkhead), from
/// [`Bulkhead::acquire`](super::Bulkhead::acquire).
///
/// It takes a free slot at its first poll. When there is none and the
/// bulkhead allows waiting, it joins the bounded queue and resolves when a
/// slot is handed to it, or with [`BulkheadFull`] when the queue is full or
/// the wait runs out.
///
/// # Cancel safety
///
/// Dropping it leaves the queue; a slot handed over in the meantime is given
/// back (to the next waiter), never lost.
///
/// ```
/// use seawall::bulkhead::{Bulkhead, BulkheadConfig};
/// use std::time::Duration;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), seawall::BoxError> {
/// let bulkhead = Bulkhead::new(
///     BulkheadConfig::builder()
///         .max_concurrent_calls(1)
///         .wait_for_slot(8, Duration::from_millis(100))
///         .build()?,
/// );
/// let first = bulkhead.acquire().await?;
/// let second = bulkhead.acquire();
/// drop(first); // hands the slot to the waiter
/// let _second = second.await?;
/// # Ok(())
/// # }
/// ```
#[must_use = "futures do nothing unless polled"]
pub struct Acquire {
    core: Option<Arc<BulkheadCore>>,
    /// Boxed: only the waiting path pays for it, and the service that keeps an
    /// `Acquire` in its reservation stays small.
    queued: Option<Pin<Box<QueuedWait>>>,
}

pin_project! {
    /// A wait in the bulkhead's queue: who waits, since when, until when.
    struct QueuedWait {
        caller: Arc<QueuedCaller>,
        since: Instant,
        #[pin]
        deadline: Sleep,
    }
}

impl Acquire {
    pub(crate) fn new(core: Arc<BulkheadCore>) -> Self {
        Self {
            core: Some(core),
            queued: None,
        }
    }

    fn finish(
        &mut self,
        core: Arc<BulkheadCore>,
        acquired: bool,
    ) -> Poll<Result<BulkheadPermit, BulkheadFull>> {
        if let Some(queued) = self.queued.take() {
            core.record_wait(queued.since.elapsed(), acquired);
        }
        if acquired {
            Poll::Ready(Ok(BulkheadPermit::new(core)))
        } else {
            core.count_rejection();
            Poll::Ready(Err(BulkheadFull::new()))
        }
    }
}

impl Future for Acquire {
    type Output = Result<BulkheadPermit, BulkheadFull>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let core = this.core.as_ref().expect("polled after completion");
        let acquired = loop {
            let Some(queued) = &mut this.queued else {
                if core.try_acquire() {
                    break true;
                }
                if !core.config.waits() {
                    break false;
                }
                match core.acquire_or_queue(cx.waker()) {
                    AcquireOrQueue::Acquired => break true,
                    AcquireOrQueue::QueueFull => break false,
                    AcquireOrQueue::Queued(caller) => {
                        this.queued = Some(Box::pin(QueuedWait {
                            caller,
                            since: Instant::now(),
                            deadline: tokio::time::sleep(core.config.max_wait),
                        }));
                        // Poll the new timer once so it is registered.
                        continue;
                    }
                }
            };
            let queued = queued.as_mut().project();
            if core.poll_granted(queued.caller, cx.waker()) {
                break true;
            }
            if queued.deadline.poll(cx).is_pending() {
                return Poll::Pending;
            }
            // Out of time; but a slot handed over meanwhile is taken, not wasted.
            break core.leave_queue(queued.caller) == LeftQueue::WithSlot;
        };
        let core = this.core.take().expect("checked above");
        this.finish(core, acquired)
    }
}

impl Drop for Acquire {
    fn drop(&mut self) {
        if let (Some(core), Some(queued)) = (self.core.take(), self.queued.take()) {
            if core.leave_queue(&queued.caller) == LeftQueue::WithSlot {
                // Handed a slot it will never use: pass it on.
                core.release();
            }
        }
    }
}

impl fmt::Debug for Acquire {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Acquire")
            .field("waiting", &self.queued.is_some())
            .finish_non_exhaustive()
    }
}

pin_project! {
    /// The response future of [`BulkheadService`](super::BulkheadService)
    /// and [`KeyedBulkheadService`](super::KeyedBulkheadService): the call
    /// holding its slot, or the refusal of a full bulkhead.
    ///
    /// # Cancel safety
    ///
    /// It holds the call's slot: the slot is given back when the call
    /// completes, fails, is dropped, or panics (unwinding drops the future).
    ///
    /// ```
    /// use seawall::bulkhead::{Bulkhead, BulkheadConfig, BulkheadLayer};
    /// use tower::{service_fn, Layer, Service, ServiceExt};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), seawall::BoxError> {
    /// let bulkhead = Bulkhead::new(BulkheadConfig::builder().max_concurrent_calls(1).build()?);
    /// let mut service = BulkheadLayer::new(bulkhead.clone())
    ///     .layer(service_fn(|n: u32| async move { Ok::<_, std::io::Error>(n) }));
    /// let future = service.ready().await?.call(7);
    /// assert_eq!(bulkhead.in_flight(), 1, "the future holds the slot");
    /// drop(future);
    /// assert_eq!(bulkhead.in_flight(), 0);
    /// # Ok(())
    /// # }
    /// ```
    #[derive(Debug)]
    pub struct ResponseFuture<F> {
        #[pin]
        inner: AdmissionFuture<F, HeldSlot, BulkheadFull>,
    }
}

/// The slot an admitted call holds, given back as soon as the call finishes
/// (or when the future is dropped unfinished).
#[derive(Debug)]
struct HeldSlot(Option<BulkheadPermit>);

impl<T, E> CallGuard<T, E> for HeldSlot {
    #[inline]
    fn finish(&mut self, _: &Result<T, E>) {
        // Give the slot back now, not when the caller gets round to dropping us.
        drop(self.0.take());
    }
}

impl<F> ResponseFuture<F> {
    pub(crate) fn rejected(error: BulkheadFull) -> Self {
        Self {
            inner: AdmissionFuture::refused(error),
        }
    }

    pub(crate) fn called(future: F, permit: BulkheadPermit) -> Self {
        Self {
            inner: AdmissionFuture::admitted(future, HeldSlot(Some(permit))),
        }
    }
}

impl<F, T, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<T, E>>,
    E: Into<BoxError>,
{
    type Output = Result<T, BoxError>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.project().inner.poll(cx)
    }
}
