//! Where a degraded answer comes from: the [`Fallback`] trait and the three
//! ready-made sources, a value, a closure and a backup service.

use std::fmt;
use std::future::Future;

use tower_service::Service;

use crate::error::BoxError;
use crate::sync::Arc;

use super::error::SharedError;
use super::source_future::{BackupFuture, FnFuture};

/// Where a [`FallbackService`](super::FallbackService) gets its degraded
/// answer: implement it for a fallback of your own.
///
/// A fallback works in two steps, because the request is gone (moved into the
/// inner service) by the time the call fails:
///
/// 1. [`prepare`](Self::prepare), before every call: keep what the fallback
///    will need of the request (a backup service keeps a copy of it; most
///    fallbacks keep nothing, `()`);
/// 2. [`recover`](Self::recover), only if the call fails in a covered way:
///    make the answer from what was kept and the error.
///
/// The ready-made ones are [`FallbackValue`] ([`FallbackLayer::value`](super::FallbackLayer::value)),
/// [`FallbackFn`] ([`FallbackLayer::with_fn`](super::FallbackLayer::with_fn)) and
/// [`BackupService`] ([`FallbackLayer::service`](super::FallbackLayer::service));
/// [`FallbackLayer::new`](super::FallbackLayer::new) takes your own.
///
/// ```
/// use seawall::fallback::{Fallback, FallbackLayer, FallbackOn, SharedError};
/// use seawall::BoxError;
/// use std::future::{ready, Ready};
/// use tower::{service_fn, Layer, Service, ServiceExt};
///
/// /// Answers with a placeholder naming the item that could not be loaded.
/// #[derive(Clone)]
/// struct Placeholder;
///
/// impl Fallback<u64> for Placeholder {
///     type Response = String;
///     type Prepared = u64;
///     type Future = Ready<Result<String, BoxError>>;
///
///     fn prepare(&self, id: &u64) -> u64 {
///         *id
///     }
///
///     fn recover(&self, id: u64, _error: SharedError) -> Self::Future {
///         ready(Ok(format!("placeholder #{id}")))
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), BoxError> {
/// let items = service_fn(|_: u64| async { Err::<String, _>(std::io::Error::other("down")) });
/// let mut items = FallbackLayer::new(Placeholder)
///     .on(FallbackOn::default().any_error())
///     .layer(items);
/// assert_eq!(items.ready().await?.call(7).await?, "placeholder #7");
/// # Ok(())
/// # }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot answer a `{Request}` in place of the service",
    label = "this does not implement `Fallback<{Request}>`",
    note = "`FallbackLayer::value(v)` needs a `Clone` response; `FallbackLayer::with_fn(f)` builds one per call; `FallbackLayer::service(s)` asks a backup service"
)]
pub trait Fallback<Request> {
    /// The answer: the inner service's response type.
    type Response;
    /// What one call keeps of its request for the fallback.
    type Prepared;
    /// The future of the answer.
    type Future: Future<Output = Result<Self::Response, BoxError>>;

    /// Keeps what a fallback for `request` would need. Called for every
    /// call, before the request goes to the inner service, so it should be
    /// cheap; dropped unused when the call succeeds.
    fn prepare(&self, request: &Request) -> Self::Prepared;

    /// The answer for a call that failed with `error` (for a covered
    /// response, a [`FailedResponse`](super::error::FailedResponse)).
    fn recover(&self, prepared: Self::Prepared, error: SharedError) -> Self::Future;
}

/// Falls back to a clone of a fixed value. Made by
/// [`FallbackLayer::value`](super::FallbackLayer::value).
///
/// Prepares nothing; a fallback clones the value.
///
/// ```
/// use seawall::fallback::{Fallback, FallbackValue};
///
/// let empty = FallbackValue::new(Vec::<String>::new());
/// # let _ = Fallback::<u32>::prepare(&empty, &1);
/// # drop(empty);
/// ```
#[derive(Clone, Debug)]
pub struct FallbackValue<T> {
    value: T,
}

impl<T> FallbackValue<T> {
    /// Falls back to clones of `value`.
    pub fn new(value: T) -> Self {
        Self { value }
    }
}

impl<T: Clone, Request> Fallback<Request> for FallbackValue<T> {
    type Response = T;
    type Prepared = ();
    type Future = std::future::Ready<Result<T, BoxError>>;

    #[inline]
    fn prepare(&self, _request: &Request) {}

    fn recover(&self, _prepared: (), _error: SharedError) -> Self::Future {
        std::future::ready(Ok(self.value.clone()))
    }
}

/// Falls back to what an async closure makes of the error. Made by
/// [`FallbackLayer::with_fn`](super::FallbackLayer::with_fn).
///
/// Prepares nothing; a fallback calls the closure with the error.
///
/// ```
/// use seawall::fallback::{FallbackFn, SharedError};
///
/// let cached = FallbackFn::new(|_: SharedError| async { Ok::<_, std::io::Error>("cached") });
/// # drop(cached);
/// ```
pub struct FallbackFn<F> {
    // Shared by every service the layer makes, so the closure need not be `Clone`.
    f: Arc<F>,
}

impl<F> FallbackFn<F> {
    /// Falls back to what `f` answers.
    pub fn new(f: F) -> Self {
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

impl<F, Fut, T, E, Request> Fallback<Request> for FallbackFn<F>
where
    F: Fn(SharedError) -> Fut,
    Fut: Future<Output = Result<T, E>>,
    E: Into<BoxError>,
{
    type Response = T;
    type Prepared = ();
    type Future = FnFuture<Fut>;

    #[inline]
    fn prepare(&self, _request: &Request) {}

    fn recover(&self, _prepared: (), error: SharedError) -> Self::Future {
        FnFuture::new((self.f)(error))
    }
}

/// Falls back to a backup tower service, called with a copy of the request.
/// Made by [`FallbackLayer::service`](super::FallbackLayer::service).
///
/// Prepares a clone of the request and of the backup for every call (the
/// request is gone once the inner service has it); a fallback polls that
/// clone of the backup ready, then calls it.
///
/// ```
/// use seawall::fallback::BackupService;
/// use tower::service_fn;
///
/// let mirror = BackupService::new(service_fn(|q: String| async move {
///     Ok::<_, std::io::Error>(format!("mirror: {q}"))
/// }));
/// # drop(mirror);
/// ```
#[derive(Clone, Debug)]
pub struct BackupService<B> {
    backup: B,
}

impl<B> BackupService<B> {
    /// Falls back to calling `backup`.
    pub fn new(backup: B) -> Self {
        Self { backup }
    }
}

impl<B, Request> Fallback<Request> for BackupService<B>
where
    B: Service<Request> + Clone,
    B::Error: Into<BoxError>,
    Request: Clone,
{
    type Response = B::Response;
    type Prepared = (B, Request);
    type Future = BackupFuture<B, Request>;

    fn prepare(&self, request: &Request) -> (B, Request) {
        (self.backup.clone(), request.clone())
    }

    fn recover(&self, (backup, request): (B, Request), _error: SharedError) -> Self::Future {
        BackupFuture::new(backup, request)
    }
}
