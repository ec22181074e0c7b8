//! The fallback's futures: the service's [`ResponseFuture`], and the futures
//! of the ready-made [`Fallback`]s.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use pin_project_lite::pin_project;

use crate::classify::Classify;
use crate::error::BoxError;
use crate::sync::Arc;

use super::core::FallbackCore;
use super::error::SharedError;
use super::error::{FailedResponse, FallbackFailed};
use super::{Cause, Fallback, Mark};

pub use super::source_future::{BackupFuture, FnFuture};

pin_project! {
    /// The response future of [`FallbackService`](super::FallbackService).
    ///
    /// It runs the inner call and, if that fails in a covered way, the
    /// fallback. Dropping it drops whichever is running.
    ///
    /// ```
    /// use seawall::fallback::FallbackLayer;
    /// use tower::{service_fn, Layer, Service, ServiceExt};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), seawall::BoxError> {
    /// let inner = service_fn(|n: u32| async move { Ok::<_, std::io::Error>(n) });
    /// let mut service = FallbackLayer::value(0u32).layer(inner);
    /// let answer = service.ready().await?.call(7); // a fallback::future::ResponseFuture
    /// assert_eq!(answer.await?, 7);
    /// # Ok(())
    /// # }
    /// ```
    pub struct ResponseFuture<F, B, Request, C, M>
    where
        B: Fallback<Request>,
    {
        #[pin]
        state: State<F, B::Prepared, B::Future>,
        core: Arc<FallbackCore<B, C, M>>,
    }
}

pin_project! {
    #[project = StateProj]
    #[derive(Debug)]
    enum State<F, P, G> {
        Primary {
            #[pin]
            future: F,
            prepared: Option<P>,
        },
        Recovering {
            #[pin]
            future: G,
            original: Option<SharedError>,
            cause: Cause,
        },
    }
}

impl<F, B, Request, C, M> ResponseFuture<F, B, Request, C, M>
where
    B: Fallback<Request>,
{
    pub(crate) fn new(future: F, prepared: B::Prepared, core: Arc<FallbackCore<B, C, M>>) -> Self {
        Self {
            state: State::Primary {
                future,
                prepared: Some(prepared),
            },
            core,
        }
    }
}

impl<F, B, Request, C, M> fmt::Debug for ResponseFuture<F, B, Request, C, M>
where
    F: fmt::Debug,
    B: Fallback<Request>,
    B::Prepared: fmt::Debug,
    B::Future: fmt::Debug,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

impl<F, B, Request, C, M, T, E> Future for ResponseFuture<F, B, Request, C, M>
where
    F: Future<Output = Result<T, E>>,
    E: Into<BoxError>,
    B: Fallback<Request, Response = T>,
    C: Classify<T, E>,
    M: Mark<T>,
{
    type Output = Result<T, BoxError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        loop {
            let this = self.as_mut().project();
            let core = &**this.core;
            let next = match this.state.project() {
                StateProj::Primary { future, prepared } => {
                    let result = ready!(future.poll(cx));
                    let (original, cause): (SharedError, Cause) = match result {
                        Ok(_) if core.on.covers_response(&result) => {
                            (std::sync::Arc::new(FailedResponse::new()), Cause::Response)
                        }
                        Ok(response) => return Poll::Ready(Ok(response)),
                        Err(err) => {
                            let err: BoxError = err.into();
                            match core.on.covers_error(&*err) {
                                Some(cause) => (SharedError::from(err), cause),
                                None => return Poll::Ready(Err(err)),
                            }
                        }
                    };
                    let prepared = prepared.take().expect("polled after completion");
                    State::Recovering {
                        future: core.fallback.recover(prepared, original.clone()),
                        original: Some(original),
                        cause,
                    }
                }
                StateProj::Recovering {
                    future,
                    original,
                    cause,
                } => {
                    let result = ready!(future.poll(cx));
                    let original = original.take().expect("polled after completion");
                    return Poll::Ready(match result {
                        Ok(mut response) => {
                            core.taken(*cause, &mut response);
                            Ok(response)
                        }
                        Err(err) => {
                            core.failed(*cause);
                            Err(FallbackFailed::new(original, err).into())
                        }
                    });
                }
            };
            self.as_mut().project().state.set(next);
        }
    }
}
