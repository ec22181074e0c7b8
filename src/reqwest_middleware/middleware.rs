//! The middleware and its builder.

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use http::Extensions;
use reqwest::{Request, Response};
use reqwest_middleware::{Middleware, Next};
use tower_layer::Layer;
use tower_service::Service;

use crate::breaker::{Breaker, BreakerConfig, BreakerLayer, KeyedBreaker, KeyedBreakerLayer};
use crate::classify::HttpStatus;
use crate::error::{BoxError, ConfigError};
use crate::retry::{HttpRetry, ReqwestClone, RetryConfig, RetryLayer};
use crate::sync::{Arc, Mutex};
use crate::timeout::TimeoutLayer;
use crate::validate::positive_duration;

use super::error::into_middleware_error;
use super::next::NextService;

/// The breaker, retry and timeout for every request of a
/// `reqwest_middleware::ClientWithMiddleware` (see [the module](super)).
///
/// Clones share the breakers and the retry budget.
#[derive(Clone)]
pub struct ResilienceMiddleware {
    retry: RetryLayer<HttpRetry, ReqwestClone>,
    breakers: Breakers,
    classifier: HttpStatus,
    attempt_timeout: TimeoutLayer,
}

#[derive(Clone)]
enum Breakers {
    One(Breaker),
    PerHost(KeyedBreaker<String>),
}

impl ResilienceMiddleware {
    /// A builder, with a breaker of the default config, three attempts with
    /// the default budget, and a 30 s deadline per attempt.
    pub fn builder() -> ResilienceMiddlewareBuilder {
        ResilienceMiddlewareBuilder::default()
    }

    /// The breaker every host shares; `None` with one breaker per host.
    pub fn breaker(&self) -> Option<&Breaker> {
        match &self.breakers {
            Breakers::One(breaker) => Some(breaker),
            Breakers::PerHost(_) => None,
        }
    }

    /// The breakers, one per `scheme://host:port`; `None` with one breaker
    /// for every host.
    pub fn breakers_per_host(&self) -> Option<&KeyedBreaker<String>> {
        match &self.breakers {
            Breakers::One(_) => None,
            Breakers::PerHost(breakers) => Some(breakers),
        }
    }

    /// Runs `request` through retry, breaker and timeout, with each attempt
    /// sent down the rest of the chain.
    async fn run(
        &self,
        request: Request,
        extensions: &mut Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<Response> {
        let shared = Arc::new(Mutex::new(std::mem::take(extensions)));
        let chain = self
            .attempt_timeout
            .layer(NextService::new(next, shared.clone()));
        let result = match &self.breakers {
            Breakers::One(breaker) => {
                let breaker = BreakerLayer::new(breaker.clone()).with_classifier(self.classifier);
                call(self.retry.layer(breaker.layer(chain)), request).await
            }
            Breakers::PerHost(breakers) => {
                let breaker = KeyedBreakerLayer::new(breakers.clone(), host_of)
                    .with_classifier(self.classifier);
                call(self.retry.layer(breaker.layer(chain)), request).await
            }
        };
        *extensions = std::mem::take(&mut *shared.lock());
        result.map_err(into_middleware_error)
    }
}

/// The key of a request's breaker: `scheme://host:port`.
fn host_of(request: &Request) -> String {
    let url = request.url();
    format!(
        "{}://{}:{}",
        url.scheme(),
        url.host_str().unwrap_or(""),
        url.port_or_known_default().unwrap_or(0)
    )
}

async fn call<S>(mut service: S, request: Request) -> Result<Response, BoxError>
where
    S: Service<Request, Response = Response, Error = BoxError>,
{
    std::future::poll_fn(|cx| service.poll_ready(cx)).await?;
    service.call(request).await
}

impl Middleware for ResilienceMiddleware {
    // What `#[async_trait]` writes for the trait's `async fn handle`, spelled
    // out so seawall needs no macro crate for it.
    fn handle<'this, 'ext, 'next, 'call>(
        &'this self,
        request: Request,
        extensions: &'ext mut Extensions,
        next: Next<'next>,
    ) -> Pin<Box<dyn Future<Output = reqwest_middleware::Result<Response>> + Send + 'call>>
    where
        'this: 'call,
        'ext: 'call,
        'next: 'call,
        Self: 'call,
    {
        Box::pin(self.run(request, extensions, next))
    }
}

impl fmt::Debug for ResilienceMiddleware {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut debug = f.debug_struct("ResilienceMiddleware");
        match &self.breakers {
            Breakers::One(breaker) => debug.field("breaker", breaker),
            Breakers::PerHost(breakers) => debug.field("breakers_per_host", breakers),
        };
        debug
            .field("retry", self.retry.config())
            .field("attempt_timeout", &self.attempt_timeout.timeout())
            .finish()
    }
}

/// Builds a [`ResilienceMiddleware`].
///
/// ```
/// use seawall::reqwest_middleware::ResilienceMiddleware;
/// use std::time::Duration;
///
/// let err = ResilienceMiddleware::builder().attempt_timeout(Duration::ZERO).build().unwrap_err();
/// assert_eq!(err.field(), "attempt_timeout");
/// ```
#[derive(Debug, Default)]
pub struct ResilienceMiddlewareBuilder {
    name: Option<Cow<'static, str>>,
    breaker: Option<Breaker>,
    per_host: Option<(BreakerConfig, usize)>,
    retry: Option<RetryConfig>,
    policy: HttpRetry,
    classifier: Option<HttpStatus>,
    attempt_timeout: Option<Duration>,
}

impl ResilienceMiddlewareBuilder {
    /// Names the default breaker (when none is given) and the default retry
    /// config (when none is given), for their metrics and events.
    pub fn name(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// One breaker for every host, shared with whoever else holds it (a
    /// health registry, another client).
    pub fn breaker(mut self, breaker: Breaker) -> Self {
        self.breaker = Some(breaker);
        self.per_host = None;
        self
    }

    /// A breaker per `scheme://host:port`, built from `config`, at most
    /// `capacity` kept (the least recently used closed one goes first; see
    /// [`KeyedBreaker`] for open breakers and metric names).
    pub fn breaker_per_host(mut self, config: BreakerConfig, capacity: usize) -> Self {
        self.per_host = Some((config, capacity));
        self.breaker = None;
        self
    }

    /// The retry config: attempts, backoff, budget, overall deadline.
    pub fn retry(mut self, config: RetryConfig) -> Self {
        self.retry = Some(config);
        self
    }

    /// What is retried (default: [`HttpRetry::default`]).
    pub fn retry_policy(mut self, policy: HttpRetry) -> Self {
        self.policy = policy;
        self
    }

    /// What the breaker counts as a failure (default:
    /// [`HttpStatus::server_errors`]).
    pub fn classifier(mut self, classifier: HttpStatus) -> Self {
        self.classifier = Some(classifier);
        self
    }

    /// The deadline of each attempt (default 30 s; greater than 0 and at
    /// most 7 days). An attempt that runs out fails with
    /// [`Elapsed`](crate::timeout::error::Elapsed), counts against the
    /// breaker and is retried.
    pub fn attempt_timeout(mut self, timeout: Duration) -> Self {
        self.attempt_timeout = Some(timeout);
        self
    }

    /// The middleware.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the field for an attempt timeout out of
    /// range, a per-host capacity of 0, or a default config that does not
    /// build.
    pub fn build(self) -> Result<ResilienceMiddleware, ConfigError> {
        let attempt_timeout = positive_duration(
            "attempt_timeout",
            self.attempt_timeout.unwrap_or(Duration::from_secs(30)),
        )?;
        let name = self.name.unwrap_or(Cow::Borrowed("reqwest"));
        let breakers = match (self.breaker, self.per_host) {
            (_, Some((config, capacity))) => {
                Breakers::PerHost(KeyedBreaker::new(config, capacity)?)
            }
            (Some(breaker), None) => Breakers::One(breaker),
            (None, None) => Breakers::One(Breaker::new(
                BreakerConfig::builder().name(name.clone()).build()?,
            )),
        };
        let retry = match self.retry {
            Some(config) => config,
            None => RetryConfig::builder().name(name).build()?,
        };
        Ok(ResilienceMiddleware {
            retry: RetryLayer::new(retry)
                .with_policy(self.policy)
                .with_clone(ReqwestClone),
            breakers,
            classifier: self.classifier.unwrap_or_else(HttpStatus::server_errors),
            attempt_timeout: TimeoutLayer::new(attempt_timeout),
        })
    }
}
