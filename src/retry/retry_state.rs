//! What a request that can be retried keeps between attempts, and the
//! decision after each one: classified, judged by the policy, then held
//! against the attempt limit, the copy, the deadline and the budget.

use std::task::{ready, Context, Poll};
use std::time::Duration;

use tokio::time::Instant;
use tower_service::Service;

use crate::classify::Outcome;
use crate::error::{BoxError, ErrorKind};
use crate::sync::{Arc, Ordering};
use crate::timeout::Deadline;

use super::backoff::JitterRng;
use super::budget::{AttemptEnd, Withdrawal};
use super::clone::{Attempt, CloneRequest};
use super::error::BudgetExhausted;
use super::event::RetryEvent;
use super::metrics::GiveUp;
use super::policy::{is_rejection, RetryDecision, RetryPolicy};
use super::shared::RetryShared;

/// What a request keeps for its retries, boxed (see the response future);
/// `None` for a request that cannot be retried.
pub(crate) type MaybeRetryState<S, Out, P, C> = Option<Box<RetryState<S, Out, P, C>>>;

/// Everything a request that can be retried needs between attempts.
pub(crate) struct RetryState<S, Out, P, C> {
    /// The service retries are made on.
    service: S,
    /// The untouched copy each retry is cloned from.
    spare: Out,
    /// The copy the next retry sends, made once the retry is decided.
    next: Option<Out>,
    policy: P,
    clone: C,
    shared: Arc<RetryShared>,
    /// Attempts made so far.
    attempt: u32,
    deadline: Option<Instant>,
    previous_delay: Option<Duration>,
    /// The attempt after which the backoff sequence last started over: 0, or
    /// the attempt answered with a pushback (A6: the retry after a pushback's
    /// retry waits the initial backoff again).
    backoff_from: u32,
    /// What the budget was paid for the attempt in flight; `None` for the first.
    paid: Option<Withdrawal>,
    rng: Option<JitterRng>,
}

/// The earlier of `now + timeout` and `carried`.
pub(crate) fn overall_deadline(
    timeout: Option<Duration>,
    carried: Option<Deadline>,
) -> Option<Instant> {
    let from_timeout = timeout.map(|timeout| Deadline::after(timeout).instant());
    match (from_timeout, carried.map(|d| d.instant())) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

impl<S, Out, P, C> RetryState<S, Out, P, C> {
    pub(crate) fn new(
        service: S,
        spare: Out,
        policy: P,
        clone: C,
        shared: Arc<RetryShared>,
        deadline: Option<Instant>,
    ) -> Self {
        Self {
            service,
            spare,
            next: None,
            policy,
            clone,
            shared,
            attempt: 1,
            deadline,
            previous_delay: None,
            backoff_from: 0,
            paid: None,
            rng: None,
        }
    }

    /// Attempts made so far.
    pub(crate) fn attempt(&self) -> u32 {
        self.attempt
    }

    /// Sends the retry [`after_attempt`](Self::after_attempt) scheduled, once
    /// the service is ready: the attempt's future, or the service's error.
    pub(crate) fn poll_send<Request>(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<S::Future, S::Error>>
    where
        S: Service<Out>,
        C: CloneRequest<Request, Output = Out>,
    {
        ready!(self.service.poll_ready(cx))?;
        let mut request = self.next.take().expect("a retry has its request");
        self.attempt += 1;
        self.clone
            .set_attempt(&mut request, Attempt::new(self.attempt));
        self.shared.metrics.attempts.increment(1);
        Poll::Ready(Ok(self.service.call(request)))
    }

    /// Counts and reports a request given up on; `result` is its last attempt's.
    #[cfg_attr(not(feature = "tracing"), allow(unused_variables))]
    /// The span of the attempt just sent, when the config asks for attempt spans.
    #[cfg(feature = "tracing")]
    pub(crate) fn attempt_span(&self) -> Option<Box<tracing::Span>> {
        let config = &self.shared.config;
        config
            .attempt_spans
            .then(|| super::trace::attempt_span(&config.name, self.attempt))
    }

    /// Counts and reports a request given up on; `result` is its last attempt's.
    #[cfg_attr(not(feature = "tracing"), allow(unused_variables))]
    fn give_up<T, E: 'static>(&self, reason: GiveUp, result: &Result<T, E>) {
        self.shared.metrics.give_up(reason);
        let attempts = self.attempt;
        #[cfg(feature = "tracing")]
        super::trace::gave_up(
            &self.shared.config.name,
            attempts,
            reason.as_str(),
            super::trace::error_type(result),
        );
        self.shared.notify(|name| RetryEvent::GaveUp {
            name,
            attempts,
            reason: reason.as_str(),
        });
    }

    /// After an attempt: the delay before the next one, or the final result.
    pub(crate) fn after_attempt<Request, T, E>(
        &mut self,
        result: Result<T, E>,
    ) -> Result<Duration, Result<T, BoxError>>
    where
        C: CloneRequest<Request, Output = Out>,
        P: RetryPolicy<Out, T, E>,
        E: Into<BoxError> + 'static,
    {
        let config = &self.shared.config;
        if let Err(err) = &result {
            if !config.retry_rejections && is_rejection(err) {
                return Err(result.map_err(Into::into));
            }
        }
        // First the classification every layer shares: only a failure may be retried.
        let outcome = self.policy.classify(&result);
        let failed = match outcome {
            Outcome::Failure => true,
            Outcome::Success => false,
            // Says nothing about the dependency, so it stands; but seawall's own
            // rejections are failures here when the config asks to retry them.
            Outcome::Ignored => {
                config.retry_rejections && matches!(&result, Err(err) if is_rejection(err))
            }
        };
        // Then the policy's own judgement of the failure.
        let decision = if failed {
            self.policy.decide(&self.spare, &result)
        } else {
            RetryDecision::Accept
        };
        let budget = config.budget.as_ref();
        // Read, not cleared: a retry overwrites it when it is paid for.
        let paid = self.paid;
        let pushback = match decision {
            RetryDecision::Accept => {
                if let Some(budget) = budget {
                    let end = if failed {
                        // Not worth retrying: says little about the server's health (A6).
                        Some(AttemptEnd::NotRetryable)
                    } else {
                        self.policy.budget_end(&result, outcome)
                    };
                    if let Some(end) = end {
                        budget.record(end, paid);
                    }
                }
                return Err(result.map_err(Into::into));
            }
            RetryDecision::Retry => None,
            RetryDecision::RetryAfter(delay) => Some(delay.min(config.max_pushback)),
            RetryDecision::DoNotRetry => {
                if let Some(budget) = budget {
                    budget.record(AttemptEnd::Failed, paid);
                }
                self.give_up(GiveUp::Pushback, &result);
                return Err(result.map_err(Into::into));
            }
        };
        let end = match &result {
            Err(err) if ErrorKind::of_any(err) == ErrorKind::Elapsed => AttemptEnd::TimedOut,
            _ => AttemptEnd::Failed,
        };
        if let Some(budget) = budget {
            budget.record(end, paid);
        }
        if self.attempt >= config.max_attempts {
            self.give_up(GiveUp::MaxAttempts, &result);
            return Err(result.map_err(Into::into));
        }
        let Some(next) = self.clone.clone_request(&self.spare) else {
            self.give_up(GiveUp::NotReplayable, &result);
            return Err(result.map_err(Into::into));
        };
        let delay = match pushback {
            Some(delay) => delay,
            None => {
                let shared = &self.shared;
                let rng = self.rng.get_or_insert_with(|| {
                    // Relaxed: only distinct numbers are needed. Each request that retries draws
                    // its own stream, so a seeded layer driven in the same order repeats itself.
                    let stream = shared.rng_streams.fetch_add(1, Ordering::Relaxed);
                    JitterRng::seeded(
                        shared.config.seed ^ stream.wrapping_mul(0xD1B5_4A32_D192_ED03),
                    )
                });
                let retry = self.attempt - self.backoff_from;
                config.backoff.delay(retry, self.previous_delay, rng)
            }
        };
        if let Some(deadline) = self.deadline {
            let start = Instant::now().checked_add(delay);
            let fits = match (start, config.attempt_timeout) {
                (Some(start), Some(timeout)) => start
                    .checked_add(timeout)
                    .is_some_and(|finish| finish <= deadline),
                (Some(start), None) => start < deadline,
                (None, _) => false,
            };
            if !fits {
                self.give_up(GiveUp::Deadline, &result);
                return Err(result.map_err(Into::into));
            }
        }
        let metrics = &self.shared.metrics;
        if let Some(budget) = budget {
            let withdrawal = budget.try_withdraw(end);
            metrics.budget_level.set(budget.level());
            self.paid = withdrawal;
            if withdrawal.is_none() {
                metrics.refusals.increment(1);
                let attempt = self.attempt;
                #[cfg(feature = "tracing")]
                super::trace::budget_refused(&config.name, attempt);
                self.shared
                    .notify(|name| RetryEvent::BudgetExhausted { name, attempt });
                return Err(result.map_err(|err| BudgetExhausted::new(err.into()).into()));
            }
        }
        let reason = if result.is_ok() {
            metrics.retries_response.increment(1);
            "response"
        } else {
            metrics.retries_error.increment(1);
            "error"
        };
        let attempt = self.attempt;
        #[cfg(feature = "tracing")]
        super::trace::scheduled(
            &config.name,
            attempt,
            delay,
            reason,
            pushback.is_some(),
            super::trace::error_type(&result),
        );
        self.shared.notify(|name| RetryEvent::Scheduled {
            name,
            attempt,
            delay,
            reason,
            pushback: pushback.is_some(),
        });
        self.next = Some(next);
        if pushback.is_some() {
            // The server chose this wait; the backoff starts over after it (A6, grpc-go and
            // grpc-java alike).
            self.backoff_from = self.attempt;
            self.previous_delay = None;
        } else {
            self.previous_delay = Some(delay);
        }
        Ok(delay)
    }
}
