//! The retry service.

use std::fmt;
use std::task::{Context, Poll};

use tower_service::Service;

use crate::error::BoxError;
use crate::sync::Arc;
use crate::timeout::Deadline;

use super::clone::{Attempt, CloneRequest, Cloned};
use super::config::RetryConfig;
use super::future::ResponseFuture;
use super::policy::{RetryOnError, RetryPolicy};
use super::retry_state::{overall_deadline, RetryState};
use super::shared::RetryShared;

/// A tower service that retries failed calls.
///
/// Built by [`RetryLayer`](super::RetryLayer). `P` decides what is retried
/// (a [`RetryPolicy`]), `C` copies requests (a [`CloneRequest`]).
///
/// # Errors
///
/// The last attempt's error, boxed; or, when the budget refused a retry,
/// [`BudgetExhausted`](super::error::BudgetExhausted) with that error as its source.
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
    shared: Arc<RetryShared>,
    policy: P,
    clone: C,
}

impl<S> RetryService<S> {
    /// Retries errors of calls to `inner` of a `Clone` request type.
    pub fn new(inner: S, config: RetryConfig) -> Self {
        Self {
            inner,
            shared: Arc::new(RetryShared::new(config)),
            policy: RetryOnError,
            clone: Cloned,
        }
    }
}

impl<S, P, C> RetryService<S, P, C> {
    /// A service of a layer: it shares `shared` with the layer's other services.
    pub(crate) fn with_shared(inner: S, shared: Arc<RetryShared>, policy: P, clone: C) -> Self {
        Self {
            inner,
            shared,
            policy,
            clone,
        }
    }

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
        f.debug_struct("RetryService")
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
        let deadline = overall_deadline(config.timeout, self.clone.deadline_of(&request));
        if let (Some(deadline), Some(_)) = (deadline, config.timeout) {
            // Every attempt (the copies too) carries the overall deadline, for a timeout further in.
            self.clone
                .set_deadline(&mut request, Deadline::at(deadline));
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
        let retry_state = spare.map(|spare| {
            Box::new(RetryState::new(
                self.inner.clone(),
                spare,
                self.policy.clone(),
                self.clone.clone(),
                self.shared.clone(),
                deadline,
            ))
        });
        let first = self.inner.call(request);
        #[cfg(feature = "tracing")]
        if config.attempt_spans {
            let span = super::trace::attempt_span(&config.name, 1);
            return ResponseFuture::in_span(first, retry_state, span);
        }
        ResponseFuture::new(first, retry_state)
    }
}
