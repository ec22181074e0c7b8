//! Retries with backoff and jitter, a shared budget, server pushback and an
//! overall deadline.
//!
//! # Why
//!
//! Many failures are momentary: a connection reset, a pod restarting, a
//! server shedding a burst. Sending the request again a moment later turns
//! them into successes the caller never sees. Retries are also how a small
//! outage becomes a large one, so this layer is built around what keeps them
//! safe:
//!
//! - a **[budget]** shared by every clone of the layer, so that
//!   retries stay a small fraction of the traffic and fade out when a
//!   dependency is down, whatever `max_attempts` says;
//! - **[backoff] with jitter**, so that clients which failed together
//!   do not retry together;
//! - **server pushback**: `Retry-After` and `grpc-retry-pushback-ms` replace
//!   the computed delay (clamped to a maximum), and gRPC's "do not retry" is
//!   obeyed;
//! - an **overall deadline**: an attempt that cannot finish before it is not
//!   started (with the per-attempt timeout known through
//!   [`attempt_timeout`](RetryConfigBuilder::attempt_timeout));
//! - seawall's own rejections (an open breaker, an empty budget further in)
//!   are **not retried** by default: the dependency is known to be down;
//! - **[what is retried](policy)** is a policy: a closure over the result, or
//!   the HTTP and gRPC policies that know idempotent methods and retryable
//!   statuses;
//! - requests are **[copied](clone)** by a strategy that may refuse (a
//!   streaming body over the replay limit), and then the request is simply not
//!   retried.
//!
//! Each attempt of a request the layer can retry gets an [`Attempt`] number
//! that strategies such as [`HttpReplay`](clone::HttpReplay) put into the
//! request, so layers further in can see retries made further out; a retry
//! layer that receives a request already numbered makes one attempt and
//! leaves retrying to the outer layer, so nested retries do not multiply. A
//! layer that cannot retry a request (one attempt, or no copy) leaves it
//! unnumbered, for a retry layer further in.
//!
//! ```
//! use seawall::retry::{RetryConfig, RetryLayer};
//! use std::sync::atomic::{AtomicU32, Ordering};
//! use std::sync::Arc;
//! use tower::{Service, ServiceBuilder, ServiceExt, service_fn};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), seawall::BoxError> {
//! let calls = Arc::new(AtomicU32::new(0));
//! let seen = calls.clone();
//! let flaky = service_fn(move |x: u32| {
//!     let n = seen.fetch_add(1, Ordering::Relaxed);
//!     async move {
//!         if n == 0 { Err("connection reset".into()) } else { Ok::<_, seawall::BoxError>(x) }
//!     }
//! });
//! let mut client = ServiceBuilder::new()
//!     .layer(RetryLayer::new(RetryConfig::builder().max_attempts(3).build()?))
//!     .service(flaky);
//! assert_eq!(client.ready().await?.call(7).await?, 7);
//! assert_eq!(calls.load(Ordering::Relaxed), 2);
//! # Ok(())
//! # }
//! ```
//!
//! # Order
//!
//! Retry goes outside the circuit breaker and the timeout (see the crate's
//! layer order): each attempt has its own timeout and is counted by the
//! breaker, and a breaker that opens stops the retries.

pub mod backoff;
pub mod budget;
pub mod clone;
pub mod error;
pub mod future;
pub mod policy;
pub mod pushback;

mod config;
mod layer;

use crate::sync::AtomicU64;
use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use metrics::{Counter, Gauge};
use tower_service::Service;

use crate::error::BoxError;
use crate::observe;

pub use self::config::{RetryConfig, RetryConfigBuilder};
pub use self::layer::RetryLayer;

use self::clone::{Attempt, CloneRequest, Cloned};
use self::future::ResponseFuture;
use self::policy::{RetryOnError, RetryPolicy};

/// What every service of one layer shares: the config and the metric handles.
pub(crate) struct Shared {
    pub(crate) config: RetryConfig,
    pub(crate) metrics: Metrics,
    /// Numbers the requests that need a random source, to seed each its own.
    pub(crate) rng_streams: AtomicU64,
}

pub(crate) struct Metrics {
    pub(crate) attempts: Counter,
    pub(crate) retries_error: Counter,
    pub(crate) retries_response: Counter,
    pub(crate) refusals: Counter,
    pub(crate) give_ups: [Counter; 4],
    pub(crate) budget_level: Gauge,
}

/// Why a request was given up on; the index into `Metrics::give_ups`.
#[derive(Clone, Copy, Debug)]
pub(crate) enum GiveUp {
    MaxAttempts = 0,
    Deadline = 1,
    NotReplayable = 2,
    Pushback = 3,
}

impl GiveUp {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::MaxAttempts => "max_attempts",
            Self::Deadline => "deadline",
            Self::NotReplayable => "not_replayable",
            Self::Pushback => "pushback",
        }
    }
}

impl Shared {
    fn new(config: RetryConfig) -> Self {
        let name = config.name.to_string();
        let give_up = |reason: GiveUp| metrics::counter!(observe::RETRY_GIVE_UPS_TOTAL, "name" => name.clone(), "reason" => reason.as_str());
        let metrics = Metrics {
            attempts: metrics::counter!(observe::RETRY_ATTEMPTS_TOTAL, "name" => name.clone()),
            retries_error: metrics::counter!(observe::RETRY_RETRIES_TOTAL, "name" => name.clone(), "reason" => "error"),
            retries_response: metrics::counter!(observe::RETRY_RETRIES_TOTAL, "name" => name.clone(), "reason" => "response"),
            refusals: metrics::counter!(observe::RETRY_BUDGET_REFUSALS_TOTAL, "name" => name.clone()),
            give_ups: [
                give_up(GiveUp::MaxAttempts),
                give_up(GiveUp::Deadline),
                give_up(GiveUp::NotReplayable),
                give_up(GiveUp::Pushback),
            ],
            budget_level: metrics::gauge!(observe::RETRY_BUDGET_LEVEL, "name" => name.clone()),
        };
        if let Some(budget) = &config.budget {
            metrics.budget_level.set(budget.level());
        }
        Self {
            config,
            metrics,
            rng_streams: AtomicU64::new(0),
        }
    }
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.config.fmt(f)
    }
}

/// A tower service that retries failed calls.
///
/// Built by [`RetryLayer`]. `P` decides what is retried
/// ([`policy`]), `C` copies requests ([`clone`]).
///
/// # Errors
///
/// The last attempt's error, boxed; or, when the budget refused a retry,
/// [`BudgetExhausted`](error::BudgetExhausted) with that error as its source.
/// A retryable *response* that is not retried further (out of attempts or
/// budget) is returned as the response.
///
/// # Clone
///
/// Clones share the layer's budget and metrics. The future of each call holds
/// a clone of the inner service for its retries, and polls it ready before
/// each one.
///
/// ```
/// use seawall::retry::{RetryService, RetryConfig};
/// use tower::{Service, ServiceExt, service_fn};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), seawall::BoxError> {
/// let inner = service_fn(|x: u32| async move { Ok::<_, std::io::Error>(x + 1) });
/// let mut retry = RetryService::new(inner, RetryConfig::default());
/// assert_eq!(retry.ready().await?.call(1).await?, 2);
/// # Ok(())
/// # }
/// ```
pub struct RetryService<S, P = RetryOnError, C = Cloned> {
    inner: S,
    shared: Arc<Shared>,
    policy: P,
    clone: C,
}

impl<S> RetryService<S> {
    /// Retries errors of calls to `inner` of a `Clone` request type.
    pub fn new(inner: S, config: RetryConfig) -> Self {
        Self {
            inner,
            shared: Arc::new(Shared::new(config)),
            policy: RetryOnError,
            clone: Cloned,
        }
    }
}

impl<S, P, C> RetryService<S, P, C> {
    /// The configuration.
    pub fn config(&self) -> &RetryConfig {
        &self.shared.config
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

impl<S: Clone, P: Clone, C: Clone> Clone for RetryService<S, P, C> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            shared: self.shared.clone(),
            policy: self.policy.clone(),
            clone: self.clone.clone(),
        }
    }
}

impl<S: fmt::Debug, P, C> fmt::Debug for RetryService<S, P, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Retry")
            .field("inner", &self.inner)
            .field("config", &self.shared.config)
            .finish_non_exhaustive()
    }
}

impl<S, P, C, Request> Service<Request> for RetryService<S, P, C>
where
    C: CloneRequest<Request> + Clone,
    S: Service<C::Output> + Clone,
    S::Error: Into<BoxError> + 'static,
    P: RetryPolicy<C::Output, S::Response, S::Error> + Clone,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S, Request, P, C>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let config = &self.shared.config;
        let mut request = self.clone.prepare(request);
        let deadline = future::deadline(config.timeout, self.clone.deadline_of(&request));
        if let (Some(deadline), Some(_)) = (deadline, config.timeout) {
            // Every attempt (the copies too) carries the overall deadline, for a timeout further in.
            self.clone
                .set_deadline(&mut request, crate::timeout::Deadline::at(deadline));
        }
        // Numbered by an outer retry layer: that one retries, this one must not multiply it.
        let nested = self.clone.attempt_of(&request).is_some();
        let spare = if config.max_attempts > 1 && !nested {
            self.clone.clone_request(&request)
        } else {
            None
        };
        // Only a layer holding a copy can retry. It numbers the request, so a retry
        // layer further in leaves the retrying to it (one that cannot retry leaves
        // the request unnumbered for an inner layer that can), and it earns budget;
        // a request that cannot be retried neither reads the clock for that nor
        // earns a shared budget retries it will not make.
        if spare.is_some() {
            self.clone.set_attempt(&mut request, Attempt::new(1));
            if let Some(budget) = &config.budget {
                budget.deposit();
            }
        }
        self.shared.metrics.attempts.increment(1);
        // The ready service takes this call; a clone (polled ready before use) takes
        // retries, when the request can be retried at all.
        let attempts = spare.map(|spare| {
            Box::new(future::Attempts::new(
                self.inner.clone(),
                spare,
                self.policy.clone(),
                self.clone.clone(),
                self.shared.clone(),
                deadline,
            ))
        });
        ResponseFuture::new(self.inner.call(request), attempts)
    }
}
