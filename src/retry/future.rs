//! The retry layer's response future.

use crate::sync::Ordering;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use pin_project_lite::pin_project;
use tokio::time::{Instant, Sleep};
use tower_service::Service;

use crate::classify::Outcome;
use crate::error::BoxError;
use crate::observe::{self, Event};
use crate::timeout::Deadline;

use super::backoff::Rng;
use super::clone::{Attempt, CloneRequest};
use super::error::BudgetExhausted;
use super::policy::{is_rejection, Decision, RetryPolicy};
use super::{GiveUp, Shared};

pin_project! {
    /// The response future of [`RetryService`](super::RetryService).
    ///
    /// # Cancel safety
    ///
    /// Dropping it drops the attempt in flight (or the wait before the next
    /// one) and the copy of the request kept for retries.
    pub struct ResponseFuture<S, Request, P, C>
    where
        C: CloneRequest<Request>,
        S: Service<C::Output>,
    {
        #[pin]
        state: State<S::Future>,
        // Boxed, and only for a request that can be retried (one with a copy):
        // the future of every other request stays as small as its first
        // attempt's, which each layer outside it moves when it wraps it.
        attempts: RetryState<S, C::Output, P, C>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F> {
        Called { #[pin] future: F },
        // Boxed: only requests that retry pay for a timer.
        Waiting { sleep: Pin<Box<Sleep>> },
        Readying,
        Done,
    }
}

/// What a request that can be retried keeps between attempts; `None` for one
/// that cannot.
pub(crate) type RetryState<S, Out, P, C> = Option<Box<Attempts<S, Out, P, C>>>;

/// Everything a request needs between attempts.
pub(crate) struct Attempts<S, Out, P, C> {
    /// The service retries are made on.
    service: S,
    /// The untouched copy each retry is cloned from.
    spare: Out,
    next: Option<Out>,
    policy: P,
    clone: C,
    shared: Arc<Shared>,
    /// Attempts made so far.
    attempt: u32,
    deadline: Option<Instant>,
    previous_delay: Option<Duration>,
    rng: Option<Rng>,
}

/// The earlier of `now + timeout` and `carried`.
pub(crate) fn deadline(timeout: Option<Duration>, carried: Option<Deadline>) -> Option<Instant> {
    let from_timeout = timeout.map(|timeout| Deadline::after(timeout).instant());
    match (from_timeout, carried.map(|d| d.instant())) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

impl<S, Out, P, C> Attempts<S, Out, P, C> {
    pub(crate) fn new(
        service: S,
        spare: Out,
        policy: P,
        clone: C,
        shared: Arc<Shared>,
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
            rng: None,
        }
    }

    fn give_up(&self, reason: GiveUp) {
        self.shared.metrics.give_ups[reason as usize].increment(1);
        let listeners = &self.shared.config.listeners;
        if !listeners.is_empty() {
            observe::emit(
                listeners,
                &Event::RetryGaveUp {
                    name: &self.shared.config.name,
                    attempts: self.attempt,
                    reason: reason.as_str(),
                },
            );
        }
    }

    /// After an attempt: the delay before the next one, or the final result.
    fn after_attempt<Request, T, E>(
        &mut self,
        result: Result<T, E>,
    ) -> Result<Duration, Result<T, BoxError>>
    where
        C: CloneRequest<Request, Output = Out>,
        P: RetryPolicy<Out, T, E>,
        E: Into<BoxError> + 'static,
    {
        let spare = &self.spare;
        let config = &self.shared.config;
        if let Err(err) = &result {
            if !config.retry_rejections && is_rejection(err) {
                return Err(result.map_err(Into::into));
            }
        }
        let budget = config.budget.as_ref();
        let pushback = match self.policy.decide(spare, &result) {
            Decision::Accept => {
                if let Some(budget) = budget {
                    budget.record(Outcome::Success);
                }
                return Err(result.map_err(Into::into));
            }
            Decision::Retry => None,
            Decision::RetryAfter(delay) => Some(delay.min(config.max_pushback)),
            Decision::DoNotRetry => {
                if let Some(budget) = budget {
                    budget.record(Outcome::Failure);
                }
                self.give_up(GiveUp::Pushback);
                return Err(result.map_err(Into::into));
            }
        };
        if let Some(budget) = budget {
            budget.record(Outcome::Failure);
        }
        if self.attempt >= config.max_attempts {
            self.give_up(GiveUp::MaxAttempts);
            return Err(result.map_err(Into::into));
        }
        let Some(next) = self.clone.clone_request(spare) else {
            self.give_up(GiveUp::NotReplayable);
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
                    Rng::seeded(shared.config.seed ^ stream.wrapping_mul(0xD1B5_4A32_D192_ED03))
                });
                config.backoff.delay(self.attempt, self.previous_delay, rng)
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
                self.give_up(GiveUp::Deadline);
                return Err(result.map_err(Into::into));
            }
        }
        if let Some(budget) = budget {
            let allowed = budget.try_withdraw();
            self.shared.metrics.budget_level.set(budget.level());
            if !allowed {
                self.shared.metrics.refusals.increment(1);
                let listeners = &config.listeners;
                if !listeners.is_empty() {
                    observe::emit(
                        listeners,
                        &Event::RetryBudgetExhausted {
                            name: &config.name,
                            attempt: self.attempt,
                        },
                    );
                }
                return Err(result.map_err(|err| BudgetExhausted::new(err.into()).into()));
            }
        }
        let reason = if result.is_ok() {
            self.shared.metrics.retries_response.increment(1);
            "response"
        } else {
            self.shared.metrics.retries_error.increment(1);
            "error"
        };
        if !config.listeners.is_empty() {
            observe::emit(
                &config.listeners,
                &Event::RetryScheduled {
                    name: &config.name,
                    attempt: self.attempt,
                    delay,
                    reason,
                    pushback: pushback.is_some(),
                },
            );
        }
        self.next = Some(next);
        self.previous_delay = Some(delay);
        Ok(delay)
    }
}

impl<S, Request, P, C> ResponseFuture<S, Request, P, C>
where
    C: CloneRequest<Request>,
    S: Service<C::Output>,
{
    /// The future of a request whose first attempt is `first`; `attempts`
    /// when it can be retried.
    pub(crate) fn new(first: S::Future, attempts: RetryState<S, C::Output, P, C>) -> Self {
        Self {
            state: State::Called { future: first },
            attempts,
        }
    }
}

impl<S, Request, P, C> Future for ResponseFuture<S, Request, P, C>
where
    C: CloneRequest<Request>,
    S: Service<C::Output>,
    S::Error: Into<BoxError> + 'static,
    P: RetryPolicy<C::Output, S::Response, S::Error>,
{
    type Output = Result<S::Response, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Called { future } => {
                    let result = ready!(future.poll(cx));
                    let Some(attempts) = this.attempts.as_mut() else {
                        this.state.set(State::Done);
                        return Poll::Ready(result.map_err(Into::into));
                    };
                    match attempts.after_attempt::<Request, _, _>(result) {
                        Err(done) => {
                            this.state.set(State::Done);
                            return Poll::Ready(done);
                        }
                        Ok(delay) if delay.is_zero() => this.state.set(State::Readying),
                        Ok(delay) => this.state.set(State::Waiting {
                            sleep: Box::pin(tokio::time::sleep(delay)),
                        }),
                    }
                }
                StateProj::Waiting { sleep } => {
                    ready!(sleep.as_mut().poll(cx));
                    this.state.set(State::Readying);
                }
                StateProj::Readying => {
                    let attempts = this
                        .attempts
                        .as_mut()
                        .expect("only a request that can be retried waits for a retry");
                    if let Err(err) = ready!(attempts.service.poll_ready(cx)) {
                        this.state.set(State::Done);
                        return Poll::Ready(Err(err.into()));
                    }
                    let mut request = attempts.next.take().expect("a retry has its request");
                    attempts.attempt += 1;
                    attempts
                        .clone
                        .set_attempt(&mut request, Attempt::new(attempts.attempt));
                    attempts.shared.metrics.attempts.increment(1);
                    let future = attempts.service.call(request);
                    this.state.set(State::Called { future });
                }
                StateProj::Done => panic!("retry future polled after completion"),
            }
        }
    }
}

impl<S, Request, P, C> fmt::Debug for ResponseFuture<S, Request, P, C>
where
    C: CloneRequest<Request>,
    S: Service<C::Output>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("attempt", &self.attempts.as_ref().map_or(1, |a| a.attempt))
            .field("can_retry", &self.attempts.is_some())
            .finish_non_exhaustive()
    }
}
