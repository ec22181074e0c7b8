//! The futures of the ready-made fallbacks ([`FallbackFn`](super::FallbackFn),
//! [`BackupService`](super::BackupService)), public as
//! `seawall::fallback::future::{FnFuture, BackupFuture}`.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use pin_project_lite::pin_project;
use tower_service::Service;

use crate::error::BoxError;

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
