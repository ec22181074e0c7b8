//! The fallback's futures: the service's [`ResponseFuture`], and the futures
//! of the ready-made [`Fallback`]s.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use pin_project_lite::pin_project;
use tower_service::Service;

use crate::classify::Classify;
use crate::error::BoxError;
use crate::sync::Arc;

use super::error::{FailedResponse, FallbackFailed};
use super::service::FallbackCore;
use super::{Cause, Fallback, Mark, SharedError};

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

pin_project! {
    /// The future of a [`FallbackFn`](super::FallbackFn): the closure's
    /// future, its error boxed.
    ///
    /// ```
    /// use seawall::fallback::{Fallback, FallbackFn, SharedError};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let cached = FallbackFn::new(|_: SharedError| async { Err::<u32, _>(std::io::Error::other("cold")) });
    /// let error: SharedError = std::sync::Arc::new(std::fmt::Error);
    /// let answer = Fallback::<()>::recover(&cached, (), error); // a FnFuture
    /// assert_eq!(answer.await.unwrap_err().to_string(), "cold");
    /// # }
    /// ```
    #[derive(Debug)]
    pub struct FnFuture<Fut> {
        #[pin]
        future: Fut,
    }
}

impl<Fut> FnFuture<Fut> {
    pub(crate) fn new(future: Fut) -> Self {
        Self { future }
    }
}

impl<Fut, T, E> Future for FnFuture<Fut>
where
    Fut: Future<Output = Result<T, E>>,
    E: Into<BoxError>,
{
    type Output = Result<T, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.project().future.poll(cx).map_err(Into::into)
    }
}

pin_project! {
    /// The future of a [`BackupService`](super::BackupService): waits for
    /// its clone of the backup to be ready, then calls it with the request.
    ///
    /// ```
    /// use seawall::fallback::{BackupService, Fallback, SharedError};
    /// use tower::service_fn;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let mirror = BackupService::new(service_fn(|q: u32| async move { Ok::<_, std::io::Error>(q + 1) }));
    /// let prepared = mirror.prepare(&41);
    /// let error: SharedError = std::sync::Arc::new(std::fmt::Error);
    /// let answer = mirror.recover(prepared, error); // a BackupFuture
    /// assert_eq!(answer.await.unwrap(), 42);
    /// # }
    /// ```
    pub struct BackupFuture<B, Request>
    where
        B: Service<Request>,
    {
        #[pin]
        state: BackupState<B, Request, B::Future>,
    }
}

pin_project! {
    #[project = BackupStateProj]
    #[derive(Debug)]
    enum BackupState<B, Request, F> {
        NotReady { backup: B, request: Option<Request> },
        Called { #[pin] future: F },
    }
}

impl<B, Request> BackupFuture<B, Request>
where
    B: Service<Request>,
{
    pub(crate) fn new(backup: B, request: Request) -> Self {
        Self {
            state: BackupState::NotReady {
                backup,
                request: Some(request),
            },
        }
    }
}

impl<B, Request> fmt::Debug for BackupFuture<B, Request>
where
    B: Service<Request> + fmt::Debug,
    B::Future: fmt::Debug,
    Request: fmt::Debug,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BackupFuture")
            .field("state", &self.state)
            .finish()
    }
}

impl<B, Request> Future for BackupFuture<B, Request>
where
    B: Service<Request>,
    B::Error: Into<BoxError>,
{
    type Output = Result<B::Response, BoxError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        loop {
            let future = match self.as_mut().project().state.project() {
                BackupStateProj::NotReady { backup, request } => {
                    ready!(backup.poll_ready(cx)).map_err(Into::into)?;
                    let request = request.take().expect("polled after completion");
                    backup.call(request)
                }
                BackupStateProj::Called { future } => {
                    return future.poll(cx).map_err(Into::into);
                }
            };
            self.as_mut()
                .project()
                .state
                .set(BackupState::Called { future });
        }
    }
}
