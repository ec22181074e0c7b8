//! The bulkhead's futures: waiting for a slot, and a call holding one.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use pin_project_lite::pin_project;
use tokio::time::{Instant, Sleep};

use crate::error::BoxError;

use super::core::{Core, Enqueued, Left, Waiter};
use super::error::BulkheadFull;
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
    core: Option<Arc<Core>>,
    /// Boxed: only the waiting path pays for it, and the service that keeps an
    /// `Acquire` in its reservation stays small.
    waiting: Option<Pin<Box<Waiting>>>,
}

pin_project! {
    struct Waiting {
        waiter: Arc<Waiter>,
        since: Instant,
        #[pin]
        deadline: Sleep,
    }
}

impl Acquire {
    pub(crate) fn new(core: Arc<Core>) -> Self {
        Self {
            core: Some(core),
            waiting: None,
        }
    }

    fn finish(
        &mut self,
        core: Arc<Core>,
        acquired: bool,
    ) -> Poll<Result<BulkheadPermit, BulkheadFull>> {
        if let Some(waiting) = self.waiting.take() {
            core.waited(waiting.since.elapsed(), acquired);
        }
        if acquired {
            Poll::Ready(Ok(BulkheadPermit::new(core)))
        } else {
            core.reject();
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
            let Some(waiting) = &mut this.waiting else {
                if core.try_acquire() {
                    break true;
                }
                if !core.config.waits() {
                    break false;
                }
                match core.enqueue(cx.waker()) {
                    Enqueued::Acquired => break true,
                    Enqueued::Full => break false,
                    Enqueued::Queued(waiter) => {
                        this.waiting = Some(Box::pin(Waiting {
                            waiter,
                            since: Instant::now(),
                            deadline: tokio::time::sleep(core.config.max_wait),
                        }));
                        // Poll the new timer once so it is registered.
                        continue;
                    }
                }
            };
            let waiting = waiting.as_mut().project();
            if core.poll_granted(waiting.waiter, cx.waker()) {
                break true;
            }
            if waiting.deadline.poll(cx).is_pending() {
                return Poll::Pending;
            }
            // Out of time; but a slot handed over meanwhile is taken, not wasted.
            break core.leave(waiting.waiter) == Left::Granted;
        };
        let core = this.core.take().expect("checked above");
        this.finish(core, acquired)
    }
}

impl Drop for Acquire {
    fn drop(&mut self) {
        if let (Some(core), Some(waiting)) = (self.core.take(), self.waiting.take()) {
            if core.leave(&waiting.waiter) == Left::Granted {
                // Handed a slot it will never use: pass it on.
                core.release();
            }
        }
    }
}

impl fmt::Debug for Acquire {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Acquire")
            .field("waiting", &self.waiting.is_some())
            .finish_non_exhaustive()
    }
}

pin_project! {
    /// The response future of [`BulkheadService`](super::BulkheadService).
    ///
    /// # Cancel safety
    ///
    /// It holds the call's slot: the slot is given back when the call
    /// completes, fails, is dropped, or panics (unwinding drops the future).
    #[derive(Debug)]
    pub struct ResponseFuture<F> {
        #[pin]
        kind: Kind<F>,
    }
}

pin_project! {
    #[project = KindProj]
    #[derive(Debug)]
    enum Kind<F> {
        Rejected { error: Option<BulkheadFull> },
        Called {
            #[pin]
            future: F,
            permit: Option<BulkheadPermit>,
        },
    }
}

impl<F> ResponseFuture<F> {
    pub(crate) fn rejected(error: BulkheadFull) -> Self {
        Self {
            kind: Kind::Rejected { error: Some(error) },
        }
    }

    pub(crate) fn called(future: F, permit: BulkheadPermit) -> Self {
        Self {
            kind: Kind::Called {
                future,
                permit: Some(permit),
            },
        }
    }
}

impl<F, T, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<T, E>>,
    E: Into<BoxError>,
{
    type Output = Result<T, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProj::Rejected { error } => {
                let error = error.take().expect("polled after completion");
                Poll::Ready(Err(error.into()))
            }
            KindProj::Called { future, permit } => {
                let result = ready!(future.poll(cx));
                // Give the slot back now, not when the caller gets round to dropping us.
                drop(permit.take());
                Poll::Ready(result.map_err(Into::into))
            }
        }
    }
}
