//! Where a degraded answer comes from: a value, a closure or a backup service.
//!
//! A [`Recover`] is asked, for every call, to [`prepare`](Recover::prepare) a
//! [`Recovery`] before the request goes to the inner service (a backup
//! service needs its own copy of the request); the recovery is used only if
//! the call fails, and dropped otherwise. The three ready-made ones cost one
//! `Arc` clone per call ([`FallbackValue`], [`FallbackFn`]) or a clone of the
//! request and of the backup service ([`BackupService`]).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use pin_project_lite::pin_project;
use tower_service::Service;

use crate::error::BoxError;

use super::SharedError;

/// Makes, per call, the [`Recovery`] used if the call fails.
///
/// Implemented by [`FallbackValue`], [`FallbackFn`] and [`BackupService`];
/// implement it for a fallback of your own.
///
/// ```
/// use seawall::fallback::recover::{Recover, Recovery};
/// use seawall::fallback::SharedError;
/// use seawall::BoxError;
///
/// /// Answers with the request's own id, marked as a placeholder.
/// #[derive(Clone)]
/// struct Placeholder;
///
/// struct PlaceholderFor(u64);
///
/// impl Recover<u64> for Placeholder {
///     type Recovery = PlaceholderFor;
///     fn prepare(&self, id: &u64) -> PlaceholderFor {
///         PlaceholderFor(*id)
///     }
/// }
///
/// impl Recovery for PlaceholderFor {
///     type Response = String;
///     type Future = std::future::Ready<Result<String, BoxError>>;
///     fn recover(self, _error: SharedError) -> Self::Future {
///         std::future::ready(Ok(format!("placeholder #{}", self.0)))
///     }
/// }
/// # let _ = Placeholder.prepare(&7).recover(std::sync::Arc::new(std::fmt::Error));
/// ```
pub trait Recover<Request> {
    /// What is kept of this call to recover from its failure.
    type Recovery: Recovery;

    /// Prepares the recovery of the call about to be made with `request`.
    fn prepare(&self, request: &Request) -> Self::Recovery;
}

/// Produces the degraded answer for one failed call.
pub trait Recovery {
    /// The answer: the inner service's response type.
    type Response;
    /// The future of the answer.
    type Future: Future<Output = Result<Self::Response, BoxError>>;

    /// Recovers from `error`, the failure the fallback covers for.
    fn recover(self, error: SharedError) -> Self::Future;
}

/// Falls back to a clone of a fixed value. See
/// [`FallbackLayer::value`](super::FallbackLayer::value).
#[derive(Debug)]
pub struct FallbackValue<T> {
    value: Arc<T>,
}

impl<T> FallbackValue<T> {
    pub(crate) fn new(value: T) -> Self {
        Self {
            value: Arc::new(value),
        }
    }
}

impl<T> Clone for FallbackValue<T> {
    fn clone(&self) -> Self {
        Self {
            value: self.value.clone(),
        }
    }
}

impl<T: Clone, Request> Recover<Request> for FallbackValue<T> {
    type Recovery = ValueRecovery<T>;

    fn prepare(&self, _request: &Request) -> ValueRecovery<T> {
        ValueRecovery {
            value: self.value.clone(),
        }
    }
}

/// The [`Recovery`] of a [`FallbackValue`].
#[derive(Debug)]
pub struct ValueRecovery<T> {
    value: Arc<T>,
}

impl<T: Clone> Recovery for ValueRecovery<T> {
    type Response = T;
    type Future = std::future::Ready<Result<T, BoxError>>;

    fn recover(self, _error: SharedError) -> Self::Future {
        std::future::ready(Ok(T::clone(&self.value)))
    }
}

/// Falls back to what an async closure makes of the error. See
/// [`FallbackLayer::with_fn`](super::FallbackLayer::with_fn).
pub struct FallbackFn<F> {
    f: Arc<F>,
}

impl<F> FallbackFn<F> {
    pub(crate) fn new(f: F) -> Self {
        Self { f: Arc::new(f) }
    }
}

impl<F> Clone for FallbackFn<F> {
    fn clone(&self) -> Self {
        Self { f: self.f.clone() }
    }
}

impl<F> fmt::Debug for FallbackFn<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FallbackFn").finish_non_exhaustive()
    }
}

impl<F, Request> Recover<Request> for FallbackFn<F>
where
    FnRecovery<F>: Recovery,
{
    type Recovery = FnRecovery<F>;

    fn prepare(&self, _request: &Request) -> FnRecovery<F> {
        FnRecovery { f: self.f.clone() }
    }
}

/// The [`Recovery`] of a [`FallbackFn`].
pub struct FnRecovery<F> {
    f: Arc<F>,
}

impl<F> fmt::Debug for FnRecovery<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FnRecovery").finish_non_exhaustive()
    }
}

impl<F, Fut, T, E> Recovery for FnRecovery<F>
where
    F: Fn(SharedError) -> Fut,
    Fut: Future<Output = Result<T, E>>,
    E: Into<BoxError>,
{
    type Response = T;
    type Future = FnFuture<Fut>;

    fn recover(self, error: SharedError) -> Self::Future {
        FnFuture {
            future: (self.f)(error),
        }
    }
}

pin_project! {
    /// The future of a [`FnRecovery`]: the closure's future, its error boxed.
    #[derive(Debug)]
    pub struct FnFuture<Fut> {
        #[pin]
        future: Fut,
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

/// Falls back to a backup tower service, called with a clone of the request.
/// See [`FallbackLayer::service`](super::FallbackLayer::service).
///
/// Each call keeps a clone of the request and of the backup service; the
/// clone is polled ready before it is called, and only if the call fails.
#[derive(Clone, Debug)]
pub struct BackupService<B> {
    backup: B,
}

impl<B> BackupService<B> {
    pub(crate) fn new(backup: B) -> Self {
        Self { backup }
    }
}

impl<B, Request> Recover<Request> for BackupService<B>
where
    B: Service<Request> + Clone,
    B::Error: Into<BoxError>,
    Request: Clone,
{
    type Recovery = ServiceRecovery<B, Request>;

    fn prepare(&self, request: &Request) -> Self::Recovery {
        ServiceRecovery {
            backup: self.backup.clone(),
            request: request.clone(),
        }
    }
}

/// The [`Recovery`] of a [`BackupService`]: the backup and the request.
#[derive(Debug)]
pub struct ServiceRecovery<B, Request> {
    backup: B,
    request: Request,
}

impl<B, Request> Recovery for ServiceRecovery<B, Request>
where
    B: Service<Request>,
    B::Error: Into<BoxError>,
{
    type Response = B::Response;
    type Future = BackupFuture<B, Request, B::Future>;

    fn recover(self, _error: SharedError) -> Self::Future {
        BackupFuture {
            state: BackupState::NotReady {
                backup: self.backup,
                request: Some(self.request),
            },
        }
    }
}

pin_project! {
    /// The future of a [`ServiceRecovery`]: waits for the backup to be ready,
    /// then calls it.
    #[derive(Debug)]
    pub struct BackupFuture<B, Request, F> {
        #[pin]
        state: BackupState<B, Request, F>,
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

impl<B, Request> Future for BackupFuture<B, Request, B::Future>
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
