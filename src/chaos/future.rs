//! The chaos layer's response future.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use pin_project_lite::pin_project;
use tokio::time::Sleep;

use crate::error::BoxError;

pin_project! {
    /// The response future of [`Chaos`](super::Chaos).
    ///
    /// It waits out an injected delay, if any, then polls the inner call or
    /// hands over the injected error or response.
    ///
    /// # Cancel safety
    ///
    /// Dropping it drops the delay and the inner call with it.
    pub struct ResponseFuture<F, Res> {
        // Boxed: only delayed calls pay for a timer, and the future of a call
        // without one stays the size of the inner future and a word.
        sleep: Option<Pin<Box<Sleep>>>,
        #[pin]
        kind: Kind<F, Res>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<F, Res> {
        Inner { #[pin] future: F },
        Injected { result: Option<Result<Res, BoxError>> },
    }
}

impl<F, Res> ResponseFuture<F, Res> {
    #[inline]
    pub(crate) fn inner(future: F, sleep: Option<Pin<Box<Sleep>>>) -> Self {
        Self {
            sleep,
            kind: Kind::Inner { future },
        }
    }

    pub(crate) fn injected(result: Result<Res, BoxError>, sleep: Option<Pin<Box<Sleep>>>) -> Self {
        Self {
            sleep,
            kind: Kind::Injected {
                result: Some(result),
            },
        }
    }
}

impl<F, Res, E> Future for ResponseFuture<F, Res>
where
    F: Future<Output = Result<Res, E>>,
    E: Into<BoxError>,
{
    type Output = Result<Res, BoxError>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Some(sleep) = this.sleep {
            ready!(sleep.as_mut().poll(cx));
            *this.sleep = None;
        }
        match this.kind.project() {
            KindProj::Inner { future } => future.poll(cx).map_err(Into::into),
            KindProj::Injected { result } => {
                Poll::Ready(result.take().expect("polled after completion"))
            }
        }
    }
}

impl<F, Res> fmt::Debug for ResponseFuture<F, Res> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind {
            Kind::Inner { .. } => "inner",
            Kind::Injected { .. } => "injected",
        };
        f.debug_struct("ResponseFuture")
            .field("delayed", &self.sleep.is_some())
            .field("kind", &kind)
            .finish()
    }
}
