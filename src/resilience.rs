//! The whole stack for one dependency, in the one order that works, in one
//! line.
//!
//! # Why a preset
//!
//! Each layer is only right in its place:
//!
//! ```text
//! Fallback -> Retry (budget, backoff, pushback) -> CircuitBreaker -> Bulkhead -> Timeout -> client
//! ```
//!
//! - **Timeout innermost**, so each *attempt* has its own deadline, and a
//!   timed-out attempt reaches the breaker as a failure. A timeout outside the
//!   retry would cut the retries short instead; outside the breaker, the
//!   breaker would never see a slow dependency fail.
//! - **Bulkhead inside the breaker**, so its refusals (this process's own
//!   overload) never count against the dependency, and an open breaker stops
//!   calls before they queue for a slot.
//! - **Breaker inside the retry**, so it sees every real attempt (its failure
//!   rate is the dependency's) and, once open, stops the retries at once: a
//!   `BreakerOpen` is never retried. With the retry inside the breaker, one
//!   request's three failed attempts would count as one failure, and the
//!   breaker would trip late (resilience4j#920); with the timeout around the
//!   breaker, slow calls are never recorded as failures (resilience4j#2383).
//! - **Retry outside**, drawing on one shared budget, never starting an
//!   attempt that cannot finish before the deadline.
//! - **Fallback outermost**, turning whatever is left (an open breaker, an
//!   exhausted budget, a timeout) into a degraded answer.
//!
//! [`ResilienceLayer`] composes exactly this; the fallback, whose type depends
//! on the response, is added with [`ResilienceLayer::fallback`], which puts it
//! outermost. All services made by one layer (and their clones) share one
//! breaker, one bulkhead and one retry budget.
//!
//! ```
//! use seawall::resilience::ResilienceLayer;
//! use seawall::ErrorKind;
//! use std::time::Duration;
//! use tower::{Service, ServiceBuilder, ServiceExt, service_fn};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), seawall::BoxError> {
//! let resilience = ResilienceLayer::builder()
//!     .name("inventory")
//!     .timeout(Duration::from_millis(250))
//!     .build()?;
//! let breaker = resilience.breaker().clone();
//! let mut client = ServiceBuilder::new()
//!     .layer(resilience)
//!     .service(service_fn(|sku: u32| async move { Ok::<_, std::io::Error>(sku * 2) }));
//! assert_eq!(client.ready().await?.call(21).await?, 42);
//!
//! breaker.force_open();
//! let err = client.ready().await?.call(21).await.unwrap_err();
//! assert_eq!(ErrorKind::of(&*err), ErrorKind::BreakerOpen);
//! # Ok(())
//! # }
//! ```

use std::borrow::Cow;
use std::time::Duration;

use tower::layer::util::Stack;
use tower_layer::Layer;

use crate::breaker::{Breaker, BreakerConfig, BreakerLayer, BreakerService};
use crate::bulkhead::{Bulkhead, BulkheadConfig, BulkheadLayer, BulkheadService};
use crate::classify::FailOnError;
use crate::error::ConfigError;
use crate::retry::{
    Cloned, RetryConfig, RetryConfigBuilder, RetryLayer, RetryOnError, RetryService,
};
use crate::timeout::{TimeoutLayer, TimeoutService};
use crate::validate::positive_duration;

/// The per-attempt timeout when none is given: every call has a deadline.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Retry, circuit breaker, bulkhead and timeout, composed in the documented
/// order (see the [module docs](self)); add a fallback outermost with
/// [`fallback`](Self::fallback).
///
/// `P` decides what the retry retries, `R` copies requests for it, `C`
/// classifies results for the breaker.
///
/// ```
/// use seawall::classify::HttpStatus;
/// use seawall::resilience::ResilienceLayer;
/// use seawall::retry::{HttpReplay, HttpRetry};
///
/// let layer = ResilienceLayer::builder()
///     .name("catalog")
///     .build()?
///     .with_retry_policy(HttpRetry::default())
///     .with_request_clone(HttpReplay::new(64 * 1024))
///     .with_classifier(HttpStatus::server_errors());
/// assert_eq!(layer.retry_config().name(), "catalog");
/// # Ok::<(), seawall::ConfigError>(())
/// ```
#[derive(Clone, Debug)]
pub struct ResilienceLayer<P = RetryOnError, R = Cloned, C = FailOnError> {
    retry: RetryLayer<P, R>,
    breaker: BreakerLayer<C>,
    bulkhead: BulkheadLayer,
    timeout: TimeoutLayer,
}

/// The service a [`ResilienceLayer`] makes around `S`.
///
/// ```
/// use seawall::resilience::{ResilienceLayer, ResilienceService};
/// use tower::{Layer, service_fn};
///
/// # fn main() -> Result<(), seawall::ConfigError> {
/// let inner = service_fn(|x: u32| async move { Ok::<_, std::io::Error>(x) });
/// let service: ResilienceService<_> = ResilienceLayer::builder().build()?.layer(inner);
/// # drop(service);
/// # Ok(())
/// # }
/// ```
pub type ResilienceService<S, P = RetryOnError, R = Cloned, C = FailOnError> =
    RetryService<BreakerService<BulkheadService<TimeoutService<S>>, C>, P, R>;

impl ResilienceLayer {
    /// A builder starting from the defaults: a default breaker, a bulkhead of
    /// 25 calls, three attempts with jittered exponential backoff drawing on a
    /// retry budget, and a 10 s timeout per attempt.
    pub fn builder() -> ResilienceBuilder {
        ResilienceBuilder::default()
    }
}

impl<P, R, C> ResilienceLayer<P, R, C> {
    /// The circuit breaker every service of this layer shares.
    pub fn breaker(&self) -> &Breaker {
        self.breaker.breaker()
    }

    /// The bulkhead every service of this layer shares.
    pub fn bulkhead(&self) -> &Bulkhead {
        self.bulkhead.bulkhead()
    }

    /// The retry configuration (and so the shared budget).
    pub fn retry_config(&self) -> &RetryConfig {
        self.retry.config()
    }

    /// The per-attempt timeout.
    pub fn timeout(&self) -> Duration {
        self.timeout.timeout()
    }

    /// Decides what to retry with `policy` (for example
    /// [`HttpRetry`](crate::retry::HttpRetry)).
    pub fn with_retry_policy<P2>(self, policy: P2) -> ResilienceLayer<P2, R, C> {
        ResilienceLayer {
            retry: self.retry.with_policy(policy),
            breaker: self.breaker,
            bulkhead: self.bulkhead,
            timeout: self.timeout,
        }
    }

    /// Copies requests for retries with `clone` (for example
    /// [`HttpReplay`](crate::retry::HttpReplay) for streaming bodies).
    pub fn with_request_clone<R2>(self, clone: R2) -> ResilienceLayer<P, R2, C> {
        ResilienceLayer {
            retry: self.retry.with_clone(clone),
            breaker: self.breaker,
            bulkhead: self.bulkhead,
            timeout: self.timeout,
        }
    }

    /// Classifies results for the breaker with `classifier` (for example
    /// [`HttpStatus`](crate::classify::HttpStatus), so a `503` counts).
    pub fn with_classifier<C2>(self, classifier: C2) -> ResilienceLayer<P, R, C2> {
        ResilienceLayer {
            retry: self.retry,
            breaker: self.breaker.with_classifier(classifier),
            bulkhead: self.bulkhead,
            timeout: self.timeout,
        }
    }

    /// Puts `fallback` (a [`FallbackLayer`](crate::fallback::FallbackLayer),
    /// or any layer) outermost, where it sees what the stack could not save.
    pub fn fallback<F>(self, fallback: F) -> Stack<Self, F> {
        Stack::new(self, fallback)
    }
}

impl<S, P: Clone, R: Clone, C: Clone> Layer<S> for ResilienceLayer<P, R, C> {
    type Service = ResilienceService<S, P, R, C>;

    fn layer(&self, inner: S) -> Self::Service {
        let attempt = self.timeout.layer(inner);
        let guarded = self.bulkhead.layer(attempt);
        let counted = self.breaker.layer(guarded);
        self.retry.layer(counted)
    }
}

/// Builds a [`ResilienceLayer`]; [`build`](Self::build) checks every value.
///
/// ```
/// use seawall::resilience::ResilienceLayer;
/// use seawall::retry::RetryConfig;
/// use std::time::Duration;
///
/// let layer = ResilienceLayer::builder()
///     .name("payments")
///     .timeout(Duration::from_secs(2))
///     .retry(RetryConfig::builder().max_attempts(2))
///     .build()?;
/// assert_eq!(layer.timeout(), Duration::from_secs(2));
///
/// let err = ResilienceLayer::builder().timeout(Duration::ZERO).build().unwrap_err();
/// assert_eq!(err.field(), "timeout");
/// # Ok::<(), seawall::ConfigError>(())
/// ```
#[derive(Debug, Default)]
#[must_use]
pub struct ResilienceBuilder {
    name: Option<Cow<'static, str>>,
    breaker: Option<Breaker>,
    bulkhead: Option<Bulkhead>,
    retry: Option<RetryConfigBuilder>,
    timeout: Option<Duration>,
}

impl ResilienceBuilder {
    /// The name (the `name` label of metrics) of the retry layer, and of the
    /// breaker and bulkhead the builder makes; a breaker or bulkhead passed in
    /// keeps its own.
    pub fn name(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Use `breaker` (to share it with other stacks, or a health registry).
    pub fn breaker(mut self, breaker: Breaker) -> Self {
        self.breaker = Some(breaker);
        self
    }

    /// Use `bulkhead`.
    pub fn bulkhead(mut self, bulkhead: Bulkhead) -> Self {
        self.bulkhead = Some(bulkhead);
        self
    }

    /// Retry as `retry` says. Its per-attempt timeout is set to this stack's
    /// [`timeout`](Self::timeout), so that no retry starts that could not
    /// finish before the overall deadline. `max_attempts(1)` turns retries off.
    pub fn retry(mut self, retry: RetryConfigBuilder) -> Self {
        self.retry = Some(retry);
        self
    }

    /// Each attempt's deadline (default 10 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Checks every value and builds the layer.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the first value out of range.
    pub fn build(self) -> Result<ResilienceLayer, ConfigError> {
        let timeout = self.timeout.unwrap_or(DEFAULT_TIMEOUT);
        positive_duration("timeout", timeout)?;
        let named = self.name.is_some();
        let name = self.name.unwrap_or(Cow::Borrowed("default"));
        let breaker = match self.breaker {
            Some(breaker) => breaker,
            None => Breaker::new(BreakerConfig::builder().name(name.clone()).build()?),
        };
        let bulkhead = match self.bulkhead {
            Some(bulkhead) => bulkhead,
            None => Bulkhead::new(BulkheadConfig::builder().name(name.clone()).build()?),
        };
        let mut retry = self.retry.unwrap_or_else(RetryConfig::builder);
        if named {
            retry = retry.name(name);
        }
        let retry = retry.attempt_timeout(timeout).build()?;
        Ok(ResilienceLayer {
            retry: RetryLayer::new(retry),
            breaker: BreakerLayer::new(breaker),
            bulkhead: BulkheadLayer::new(bulkhead),
            timeout: TimeoutLayer::new(timeout),
        })
    }
}
