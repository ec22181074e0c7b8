//! The circuit breaker's response future.

use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use pin_project_lite::pin_project;

use crate::classify::Classify;
use crate::error::BoxError;

use super::error::BreakerOpen;
use super::BreakerPermit;

pin_project! {
    /// The response future of [`BreakerService`](super::BreakerService).
    ///
    /// # Cancel safety
    ///
    /// Dropping it before it completes drops the permit, which counts the call
    /// as ignored and, half-open, hands the probe slot back.
    #[derive(Debug)]
    pub struct ResponseFuture<F, C> {
        #[pin]
        kind: Kind<F, C>,
    }
}

pin_project! {
    #[project = KindProj]
    #[derive(Debug)]
    enum Kind<F, C> {
        Rejected { error: Option<BreakerOpen> },
        Called {
            #[pin]
            future: F,
            // Recorded in place (`BreakerPermit::finish`) rather than taken out of an
            // `Option`: the permit was written just before in `call`, and copying
            // it out whole right away reads it back with wider loads than it was
            // stored with, which stalls.
            permit: BreakerPermit,
            classifier: C,
        },
    }
}

impl<F, C> ResponseFuture<F, C> {
    pub(crate) fn rejected(error: BreakerOpen) -> Self {
        Self {
            kind: Kind::Rejected { error: Some(error) },
        }
    }

    pub(crate) fn called(future: F, permit: BreakerPermit, classifier: C) -> Self {
        Self {
            kind: Kind::Called {
                future,
                permit,
                classifier,
            },
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
        match self.project().kind.project() {
            KindProj::Rejected { error } => {
                let error = error.take().expect("polled after completion");
                Poll::Ready(Err(error.into()))
            }
            KindProj::Called {
                future,
                permit,
                classifier,
            } => {
                let result = ready!(future.poll(cx));
                // A no-op if already recorded (polled after completion).
                permit.finish(classifier.classify(&result));
                Poll::Ready(result.map_err(Into::into))
            }
        }
    }
}
