//! The circuit breaker's response future.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;

use crate::admission::{AdmissionFuture, CallGuard};
use crate::classify::Classify;
use crate::error::BoxError;

use super::error::BreakerOpen;
use super::permit::BreakerPermit;

pin_project! {
    /// The response future of [`BreakerService`](super::BreakerService).
    ///
    /// Either a call the breaker refused, which fails with
    /// [`BreakerOpen`] at its first poll, or an admitted call, whose outcome is
    /// classified and recorded as soon as the inner future finishes.
    ///
    /// # Cancel safety
    ///
    /// Dropping it before it completes drops the permit, which counts the call
    /// as ignored and, half-open, hands the probe slot back.
    ///
    /// ```
    /// use seawall::breaker::{Breaker, BreakerConfig, BreakerLayer};
    /// use tower::{service_fn, Service, ServiceExt, Layer};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), seawall::BoxError> {
    /// let breaker = Breaker::new(BreakerConfig::default());
    /// let mut service = BreakerLayer::new(breaker.clone())
    ///     .layer(service_fn(|n: u32| async move { Ok::<_, std::io::Error>(n * 2) }));
    /// let future = service.ready().await?.call(21); // a breaker::future::ResponseFuture
    /// assert_eq!(future.await?, 42);
    /// assert_eq!(breaker.metrics().calls, 1);
    /// # Ok(())
    /// # }
    /// ```
    pub struct ResponseFuture<F, C> {
        #[pin]
        inner: AdmissionFuture<F, RecordOutcome<C>, BreakerOpen>,
    }
}

/// An admitted call's guard: its permit, and the classifier that judges its
/// result.
pub(crate) struct RecordOutcome<C> {
    // Recorded in place (`BreakerPermit::finish`) rather than taken out of an
    // `Option`: the permit was written just before in `call`, and copying it out
    // whole right away reads it back with wider loads than it was stored with,
    // which stalls.
    permit: BreakerPermit,
    classifier: C,
}

impl<C, T, E> CallGuard<T, E> for RecordOutcome<C>
where
    C: Classify<T, E>,
{
    #[inline]
    fn finish(&mut self, result: &Result<T, E>) {
        // A no-op if already recorded (polled after completion).
        self.permit.finish(self.classifier.classify(result));
    }
}

impl<C> fmt::Debug for RecordOutcome<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecordOutcome")
            .field("permit", &self.permit)
            .finish_non_exhaustive()
    }
}

impl<F, C> ResponseFuture<F, C> {
    /// A call the breaker refused with `error`.
    #[inline]
    pub(crate) fn rejected(error: BreakerOpen) -> Self {
        Self {
            inner: AdmissionFuture::refused(error),
        }
    }

    /// A call the breaker admitted with `permit`; `classifier` judges its result.
    #[inline]
    pub(crate) fn called(future: F, permit: BreakerPermit, classifier: C) -> Self {
        Self {
            inner: AdmissionFuture::admitted(future, RecordOutcome { permit, classifier }),
        }
    }
}

impl<F, C, T, E> Future for ResponseFuture<F, C>
where
    F: Future<Output = Result<T, E>>,
    C: Classify<T, E>,
    E: Into<BoxError>,
{
    type Output = Result<T, BoxError>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.project().inner.poll(cx)
    }
}

impl<F: fmt::Debug, C> fmt::Debug for ResponseFuture<F, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("inner", &self.inner)
            .finish()
    }
}
