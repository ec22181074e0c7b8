//! The fallback service, and what every service made by one layer shares.

use std::fmt;
use std::task::{Context, Poll};

use tower_service::Service;

use crate::classify::Classify;
use crate::error::BoxError;
use crate::sync::Arc;

use super::core::FallbackCore;
use super::future::ResponseFuture;
use super::{AcceptResponses, Fallback, Mark, NoMark};

/// A tower service that answers chosen failures of its inner service with a
/// fallback. Made by [`FallbackLayer`](super::FallbackLayer).
///
/// `poll_ready` is the inner service's: an inner service that cannot take a
/// request has no request to fall back for, so its readiness error passes
/// through. A backup service is polled ready inside the response future,
/// on its own clone, only when a fallback is needed.
///
/// # Errors
///
/// Failures that are not covered, boxed as they are;
/// [`FallbackFailed`](super::error::FallbackFailed) when the fallback fails.
///
/// # Clone
///
/// Clones share the fallback, its policy, its mark and its listeners.
///
/// ```
/// use seawall::fallback::{FallbackLayer, FallbackOn};
/// use tower::{service_fn, Layer, Service, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), seawall::BoxError> {
/// let primary = service_fn(|q: String| async move {
///     Err::<String, _>(std::io::Error::other(format!("primary down for {q}")))
/// });
/// let backup = service_fn(|q: String| async move { Ok::<_, std::io::Error>(format!("backup: {q}")) });
/// let mut search = FallbackLayer::service(backup)
///     .on(FallbackOn::default().any_error())
///     .layer(primary);
/// assert_eq!(search.name(), "default");
/// assert_eq!(search.ready().await?.call("rust".into()).await?, "backup: rust");
/// # Ok(())
/// # }
/// ```
pub struct FallbackService<S, B, C = AcceptResponses, M = NoMark> {
    inner: S,
    core: Arc<FallbackCore<B, C, M>>,
}

impl<S, B, C, M> FallbackService<S, B, C, M> {
    pub(super) fn from_parts(inner: S, core: Arc<FallbackCore<B, C, M>>) -> Self {
        Self { inner, core }
    }

    /// The fallback's name.
    pub fn name(&self) -> &str {
        &self.core.name
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The inner service, unwrapped.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: Clone, B, C, M> Clone for FallbackService<S, B, C, M> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            core: self.core.clone(),
        }
    }
}

impl<S: fmt::Debug, B: fmt::Debug, C: fmt::Debug, M: fmt::Debug> fmt::Debug
    for FallbackService<S, B, C, M>
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FallbackService")
            .field("inner", &self.inner)
            .field("core", &self.core)
            .finish()
    }
}

impl<S, B, C, M, Request> Service<Request> for FallbackService<S, B, C, M>
where
    S: Service<Request>,
    S::Error: Into<BoxError>,
    B: Fallback<Request, Response = S::Response>,
    C: Classify<S::Response, S::Error>,
    M: Mark<S::Response>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S::Future, B, Request, C, M>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let prepared = self.core.fallback.prepare(&request);
        ResponseFuture::new(self.inner.call(request), prepared, self.core.clone())
    }
}
