//! The chaos layer's response future.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use pin_project_lite::pin_project;
use tokio::time::Sleep;

use crate::error::BoxError;

pin_project! {
    /// The response future of [`ChaosService`](super::ChaosService).
    ///
    /// It waits out an injected delay, if any, then polls the inner call or
    /// hands over the injected error or response.
    ///
    /// # Cancel safety
    ///
    /// Dropping it drops the delay and the inner call with it.
    pub struct ResponseFuture<F, Res> {
        #[pin]
        state: State<F, Res>,
    }
}

pin_project! {
    // A call without a delay has a variant of its own, so that it carries no
    // timer to check and drop. Timers are boxed: only delayed calls pay for one.
    #[project = StateProj]
    enum State<F, Res> {
        Inner { #[pin] future: F },
        Delayed {
            // `None` once the delay is over.
            sleep: Option<Pin<Box<Sleep>>>,
            #[pin]
            future: F,
        },
        Injected {
            sleep: Option<Pin<Box<Sleep>>>,
            result: Option<Result<Res, BoxError>>,
        },
    }
}

impl<F, Res> ResponseFuture<F, Res> {
    #[inline]
    pub(crate) fn inner(future: F) -> Self {
        Self {
            state: State::Inner { future },
        }
    }

    pub(crate) fn delayed(future: F, sleep: Pin<Box<Sleep>>) -> Self {
        Self {
            state: State::Delayed {
                sleep: Some(sleep),
                future,
            },
        }
    }

    pub(crate) fn injected(result: Result<Res, BoxError>, sleep: Option<Pin<Box<Sleep>>>) -> Self {
        Self {
            state: State::Injected {
                sleep,
                result: Some(result),
            },
        }
    }
}

/// Waits out `sleep`, if it is still running.
fn wait(sleep: &mut Option<Pin<Box<Sleep>>>, cx: &mut Context<'_>) -> Poll<()> {
    if let Some(running) = sleep {
        ready!(running.as_mut().poll(cx));
        *sleep = None;
    }
    Poll::Ready(())
}

impl<F, Res, E> Future for ResponseFuture<F, Res>
where
    F: Future<Output = Result<Res, E>>,
    E: Into<BoxError>,
{
    type Output = Result<Res, BoxError>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProj::Inner { future } => future.poll(cx).map_err(Into::into),
            StateProj::Delayed { sleep, future } => {
                ready!(wait(sleep, cx));
                future.poll(cx).map_err(Into::into)
            }
            StateProj::Injected { sleep, result } => {
                ready!(wait(sleep, cx));
                Poll::Ready(result.take().expect("polled after completion"))
            }
        }
    }
}

impl<F, Res> fmt::Debug for ResponseFuture<F, Res> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.state {
            State::Inner { .. } => "inner",
            State::Delayed { .. } => "delayed",
            State::Injected { .. } => "injected",
        };
        f.debug_struct("ResponseFuture")
            .field("kind", &kind)
            .finish()
    }
}
