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
//! [`FallbackEvent`]s) and can be marked with a [`Degraded`]
//! value, in the extensions of an `http::Response` ([`HttpMark`], feature
//! `http`, optionally with an `x-seawall-degraded` header) or in any response
//! type through a closure [`Mark`].
//!
//! If the fallback fails too, the caller gets [`FallbackFailed`](error::FallbackFailed),
//! whose source is the original failure: `ErrorKind::of` still reports what
//! went wrong first.
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
//!
//! # Cost
//!
//! A call that needs no fallback pays for preparing one: an `Arc` clone for
//! what the layer's services share, and nothing more for a value or a
//! closure, or a clone of the request and of the backup service (see
//! [`Fallback::prepare`]). A call that falls back also turns its error into a
//! [`SharedError`] (one allocation) and looks up its metric handles by name.
//!
//! # Your own fallback
//!
//! [`FallbackLayer::value`], [`with_fn`](FallbackLayer::with_fn) and
//! [`service`](FallbackLayer::service) cover most needs; anything else (a
//! cache keyed by the request, a second provider chosen per call) implements
//! [`Fallback`] and goes to [`FallbackLayer::new`].

pub mod error;
pub mod future;

mod core;
mod event;
mod layer;
mod mark;
mod on;
mod service;
mod source;
mod source_future;
#[cfg(feature = "tracing")]
mod trace;

pub use self::error::SharedError;
pub use self::event::FallbackEvent;
pub use self::layer::FallbackLayer;
pub use self::mark::{Cause, Degraded, Mark, NoMark};
#[cfg(feature = "http")]
pub use self::mark::{HttpMark, DEGRADED_HEADER};
pub use self::on::{AcceptResponses, FallbackOn};
pub use self::service::FallbackService;
pub use self::source::{BackupService, Fallback, FallbackFn, FallbackValue};
