//! A fallback: answer with something degraded instead of an error.
//!
//! # Why
//!
//! The layers further in fail fast on purpose: an open breaker, a full
//! bulkhead, a timeout or an exhausted retry budget each turn a slow or
//! failing dependency into a quick error. Quick is good; an error page is not
//! always. Often a stale price, an empty recommendation list, a cached profile
//! or a second provider is a better answer than none. A fallback sits
//! outermost (`Fallback -> Retry -> CircuitBreaker -> Bulkhead -> Timeout`)
//! and turns chosen failures into such an answer.
//!
//! Which failures matter: by default only seawall's own rejections
//! ([`FallbackOn::DEFAULT_KINDS`]), because they say the call was refused or
//! cut short, not that the request was wrong. A `404` or a validation error
//! from the dependency usually should reach the caller as it is; add
//! [`ErrorKind::Other`](crate::ErrorKind::Other), a predicate, or a response
//! classifier (a `503` response is a failure too) with [`FallbackOn`].
//!
//! Retries that were given up reach the fallback as what ended them: a
//! timeout (`Elapsed`), an empty budget (`BudgetExhausted`) or a breaker that
//! opened meanwhile (`BreakerOpen`) are covered by default; a retry that ran
//! out of attempts returns the dependency's own last error unchanged (as
//! tower's retry and resilience4j do, so callers can still match on it), which
//! [`ErrorKind::Other`](crate::ErrorKind::Other) covers when added.
//!
//! A degraded answer must not pass for a real one: it is counted (metrics and
//! [events](crate::observe::Event)) and can be marked with a [`Degraded`]
//! value, in the extensions of an `http::Response` ([`HttpMark`], feature
//! `http`, optionally with an `x-seawall-degraded` header) or in any response
//! type through a closure [`Mark`].
//!
//! If the fallback fails too, the caller gets [`FallbackFailed`](error::FallbackFailed),
//! whose source is the original failure: `ErrorKind::of` still reports what
//! went wrong first.
//!
//! # Cost
//!
//! A call that needs no fallback pays for preparing one: an `Arc` clone for
//! the shared policy and one for a value or closure source, or a clone of the
//! request and of the backup service (see [`recover`]). A call that falls
//! back also turns its error into a [`SharedError`] (one allocation) and looks
//! up its metric handles by name.
//!
//! ```
//! use seawall::breaker::{Breaker, BreakerConfig, BreakerLayer};
//! use seawall::fallback::FallbackLayer;
//! use tower::{service_fn, Service, ServiceBuilder, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), seawall::BoxError> {
//! let breaker = Breaker::new(BreakerConfig::default());
//! let mut recommendations = ServiceBuilder::new()
//!     .layer(FallbackLayer::value(Vec::<String>::new()).name("recommendations"))
//!     .layer(BreakerLayer::new(breaker.clone()))
//!     .service(service_fn(|user: u64| async move {
//!         Ok::<_, std::io::Error>(vec![format!("book for {user}")])
//!     }));
//!
//! breaker.force_open();
//! let answer = recommendations.ready().await?.call(42).await?;
//! assert!(answer.is_empty(), "the degraded answer");
//! # Ok(())
//! # }
//! ```

pub mod error;
pub mod future;
pub mod recover;

mod layer;
mod mark;
mod on;

use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use tower_service::Service;

use crate::classify::Classify;
use crate::error::BoxError;
use crate::observe::{self, Event, Listener};

pub use self::layer::FallbackLayer;
pub use self::mark::{Cause, Degraded, Mark, NoMark};
#[cfg(feature = "http")]
pub use self::mark::{HttpMark, DEGRADED_HEADER};
pub use self::on::{AcceptResponses, FallbackOn};

use self::future::ResponseFuture;
use self::recover::{Recover, Recovery};

/// An error shared between the fallback that receives it and the
/// [`FallbackFailed`](error::FallbackFailed) that keeps it as its source.
pub type SharedError = Arc<dyn StdError + Send + Sync + 'static>;

/// What every service made by one layer shares: the policy, the mark and who
/// listens.
pub(crate) struct Shared<C, M> {
    name: Arc<str>,
    on: FallbackOn<C>,
    mark: M,
    listeners: Arc<[Listener]>,
}

impl<C, M> Shared<C, M> {
    pub(crate) fn new(name: &str, on: FallbackOn<C>, mark: M, listeners: Vec<Listener>) -> Self {
        Self {
            name: Arc::from(name),
            on,
            mark,
            listeners: Arc::from(listeners),
        }
    }

    /// Counts, reports and marks a degraded answer.
    fn taken<T>(&self, cause: Cause, response: &mut T)
    where
        M: Mark<T>,
    {
        metrics::counter!(observe::FALLBACK_TAKEN_TOTAL, "name" => self.name.to_string(), "cause" => cause.as_str())
            .increment(1);
        if !self.listeners.is_empty() {
            observe::emit(
                &self.listeners,
                &Event::FallbackTaken {
                    name: &self.name,
                    cause,
                },
            );
        }
        self.mark
            .mark(response, &Degraded::new(self.name.clone(), cause));
    }

    /// Counts and reports a fallback that failed.
    fn failed(&self, cause: Cause) {
        metrics::counter!(observe::FALLBACK_FAILED_TOTAL, "name" => self.name.to_string(), "cause" => cause.as_str())
            .increment(1);
        if !self.listeners.is_empty() {
            observe::emit(
                &self.listeners,
                &Event::FallbackFailed {
                    name: &self.name,
                    cause,
                },
            );
        }
    }
}

impl<C: fmt::Debug, M: fmt::Debug> fmt::Debug for Shared<C, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shared")
            .field("name", &self.name)
            .field("on", &self.on)
            .field("mark", &self.mark)
            .finish_non_exhaustive()
    }
}

/// A tower service that answers chosen failures of its inner service with a
/// fallback. Made by [`FallbackLayer`].
///
/// `poll_ready` is the inner service's: an inner service that cannot take a
/// request has no request to fall back for, so its readiness error passes
/// through. A backup service is polled ready inside the response future,
/// on its own clone, only when a fallback is needed.
///
/// # Errors
///
/// Failures that are not covered, boxed as they are;
/// [`FallbackFailed`](error::FallbackFailed) when the fallback fails.
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
/// assert_eq!(search.ready().await?.call("rust".into()).await?, "backup: rust");
/// # Ok(())
/// # }
/// ```
pub struct FallbackService<S, R, C = AcceptResponses, M = NoMark> {
    inner: S,
    recover: R,
    shared: Arc<Shared<C, M>>,
}

impl<S, R, C, M> FallbackService<S, R, C, M> {
    pub(crate) fn from_parts(inner: S, recover: R, shared: Arc<Shared<C, M>>) -> Self {
        Self {
            inner,
            recover,
            shared,
        }
    }

    /// The fallback's name.
    pub fn name(&self) -> &str {
        &self.shared.name
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

impl<S: Clone, R: Clone, C, M> Clone for FallbackService<S, R, C, M> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            recover: self.recover.clone(),
            shared: self.shared.clone(),
        }
    }
}

impl<S: fmt::Debug, R: fmt::Debug, C: fmt::Debug, M: fmt::Debug> fmt::Debug
    for FallbackService<S, R, C, M>
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fallback")
            .field("inner", &self.inner)
            .field("recover", &self.recover)
            .field("shared", &self.shared)
            .finish()
    }
}

impl<S, R, C, M, Request> Service<Request> for FallbackService<S, R, C, M>
where
    S: Service<Request>,
    S::Error: Into<BoxError>,
    R: Recover<Request>,
    R::Recovery: Recovery<Response = S::Response>,
    C: Classify<S::Response, S::Error>,
    M: Mark<S::Response>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S::Future, R::Recovery, <R::Recovery as Recovery>::Future, C, M>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let recovery = self.recover.prepare(&request);
        ResponseFuture::new(self.inner.call(request), recovery, self.shared.clone())
    }
}
