//! The tower service behind a breaker.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tower_service::Service;

use crate::classify::{Classify, FailOnError, Outcome};
use crate::error::BoxError;

use super::admit::{PermitKind, Refusal};
use super::future::ResponseFuture;
use super::handle::Breaker;
use super::permit::BreakerPermit;

/// A tower service behind a circuit breaker.
///
/// Admission is decided in `poll_ready` and kept until `call`: an open breaker
/// reports ready at once, without polling the inner service, and the call fails
/// fast with [`BreakerOpen`](super::error::BreakerOpen). A closed admission holds nothing. Half-open,
/// `poll_ready` only sees that a probe slot is free and `call` takes it (or,
/// if others took them all meanwhile, fails fast), so a caller that becomes
/// ready and never calls (a balancer's ready cache, a `select!` after
/// `ready()`, a buffer's worker) holds no probe slot: it cannot wedge the
/// breaker half-open. A refusal reserves nothing and is decided again by each
/// `poll_ready`. A call's duration, for slow-call detection, runs from `call`
/// to the end of its future, so time spent waiting for the inner service to
/// become ready does not count. A clone starts without an admission.
///
/// # Inside a balancer
///
/// By default an open breaker reports *ready* and fails fast. tower's
/// power-of-two-choices balancer (`tower::balance::p2c`) picks the ready
/// endpoint with the lower load, and an open endpoint answers at once with
/// no request pending: it looks like the best endpoint, and attracts the
/// traffic it refuses. Behind a balancer, use
/// [`not_ready_while_open`](Self::not_ready_while_open): the service then
/// reports *not ready* while the breaker refuses, so the balancer sends the
/// traffic to the other endpoints, and wakes itself to look again when the
/// open wait ends (and at least every 250 ms, for a breaker forced open or
/// half-open with every probe slot taken).
///
/// # Errors
///
/// [`BreakerOpen`](super::error::BreakerOpen) or the inner service's error, boxed.
///
/// ```
/// use seawall::breaker::{Breaker, BreakerConfig, BreakerService};
/// use tower::{service_fn, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), seawall::BoxError> {
/// let breaker = Breaker::new(BreakerConfig::default());
/// let echo = service_fn(|name: &'static str| async move { Ok::<_, std::io::Error>(name) });
/// let service = BreakerService::new(echo, breaker.clone());
/// assert_eq!(service.clone().oneshot("hello").await?, "hello");
/// breaker.force_open();
/// assert!(service.oneshot("hello").await.is_err());
/// # Ok(())
/// # }
/// ```
pub struct BreakerService<S, C = FailOnError> {
    inner: S,
    breaker: Breaker,
    classifier: C,
    // What `poll_ready` decided for the next `call`, in separate fields rather than
    // one enum: a permit written in `poll_ready` and copied out in `call` right
    // after is read back with wider loads than it was stored with, which stalls.
    /// A closed (or disabled) admission: it holds nothing, so it is kept as one
    /// word and the permit is made in `call`, straight into the future.
    /// `NOT_ADMITTED` when there is none.
    admitted: u64,
    /// Half-open with a probe slot free: `call` takes one (or fails fast).
    probe_at_call: bool,
    /// A refusal, counted when `call` refuses the call (a balancer may poll
    /// readiness more than once per call).
    rejected: Option<Refusal>,
    /// Whether a refusal makes `poll_ready` pending instead of ready.
    not_ready_while_open: bool,
    /// With `not_ready_while_open`: the timer that wakes a refused
    /// `poll_ready` to look again. Made at the first refusal, then reused.
    recheck: Option<Pin<Box<tokio::time::Sleep>>>,
}

/// With `not_ready_while_open`, the longest a refused `poll_ready` waits
/// before it looks again (a breaker forced open has no wait to end).
const RECHECK_AT_MOST: Duration = Duration::from_millis(250);

/// In `admitted`: no admission is held.
const NOT_ADMITTED: u64 = u64::MAX;
/// In `admitted`, beside the ticket (in a bit tickets leave free): the
/// breaker is disabled.
const UNTRACKED: u64 = 1 << 17;

impl<S> BreakerService<S> {
    /// Wraps `inner` in `breaker`, with the default classifier.
    ///
    /// ```
    /// use seawall::breaker::{Breaker, BreakerConfig, BreakerService};
    /// use tower::service_fn;
    ///
    /// let echo = service_fn(|n: u32| async move { Ok::<_, std::io::Error>(n) });
    /// let service = BreakerService::new(echo, Breaker::new(BreakerConfig::default()));
    /// assert_eq!(service.breaker().name(), "default");
    /// ```
    pub fn new(inner: S, breaker: Breaker) -> Self {
        Self::with_classifier(inner, breaker, FailOnError)
    }
}

impl<S, C> BreakerService<S, C> {
    /// Wraps `inner` in `breaker`, classifying results with `classifier`.
    ///
    /// ```
    /// use seawall::breaker::{Breaker, BreakerConfig, BreakerService};
    /// use seawall::classify::Outcome;
    /// use tower::service_fn;
    ///
    /// let status = service_fn(|code: u16| async move { Ok::<_, std::io::Error>(code) });
    /// let server_errors = |result: &Result<u16, std::io::Error>| match result {
    ///     Ok(code) if *code >= 500 => Outcome::Failure,
    ///     Ok(_) => Outcome::Success,
    ///     Err(_) => Outcome::Failure,
    /// };
    /// let breaker = Breaker::new(BreakerConfig::default());
    /// let _service = BreakerService::with_classifier(status, breaker, server_errors);
    /// ```
    pub fn with_classifier(inner: S, breaker: Breaker, classifier: C) -> Self {
        Self {
            inner,
            breaker,
            classifier,
            admitted: NOT_ADMITTED,
            probe_at_call: false,
            rejected: None,
            not_ready_while_open: false,
            recheck: None,
        }
    }

    /// Reports *not ready* while the breaker refuses calls (open, forced
    /// open, or half-open with every probe slot taken), instead of ready with
    /// calls that fail fast: what a load balancer needs to steer traffic away
    /// from an endpoint whose breaker is open (see "Inside a balancer" above).
    ///
    /// The service wakes its task to look again when the open wait ends, and
    /// at least every 250 ms. Needs a tokio runtime with its timer; without a
    /// runtime it fails fast as by default. A caller that waits for
    /// readiness waits as long as the breaker refuses: give it a timeout.
    ///
    /// ```
    /// use seawall::breaker::{Breaker, BreakerConfig, BreakerService};
    /// use std::time::Duration;
    /// use tower::{service_fn, ServiceExt};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let breaker = Breaker::new(BreakerConfig::default());
    /// let echo = service_fn(|n: u32| async move { Ok::<_, std::io::Error>(n) });
    /// let mut service = BreakerService::new(echo, breaker.clone()).not_ready_while_open();
    /// breaker.force_open();
    /// let waited = tokio::time::timeout(Duration::from_secs(1), service.ready()).await;
    /// assert!(waited.is_err(), "not ready while forced open");
    /// breaker.reset();
    /// assert!(service.ready().await.is_ok());
    /// # }
    /// ```
    pub fn not_ready_while_open(mut self) -> Self {
        self.not_ready_while_open = true;
        self
    }

    /// The breaker this service reports to.
    ///
    /// ```
    /// # use seawall::breaker::{Breaker, BreakerConfig, BreakerService, State};
    /// # let inner = tower::service_fn(|n: u32| async move { Ok::<_, std::io::Error>(n) });
    /// let service = BreakerService::new(inner, Breaker::new(BreakerConfig::default()));
    /// assert_eq!(service.breaker().state(), State::Closed);
    /// ```
    pub fn breaker(&self) -> &Breaker {
        &self.breaker
    }

    /// The inner service.
    ///
    /// ```
    /// # use seawall::breaker::{Breaker, BreakerConfig, BreakerService};
    /// let service = BreakerService::new("inner", Breaker::new(BreakerConfig::default()));
    /// assert_eq!(*service.get_ref(), "inner");
    /// ```
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    ///
    /// ```
    /// # use seawall::breaker::{Breaker, BreakerConfig, BreakerService};
    /// let mut service = BreakerService::new(1, Breaker::new(BreakerConfig::default()));
    /// *service.get_mut() += 1;
    /// assert_eq!(*service.get_ref(), 2);
    /// ```
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The inner service, unwrapped.
    ///
    /// ```
    /// # use seawall::breaker::{Breaker, BreakerConfig, BreakerService};
    /// let service = BreakerService::new("inner", Breaker::new(BreakerConfig::default()));
    /// assert_eq!(service.into_inner(), "inner");
    /// ```
    pub fn into_inner(self) -> S {
        self.inner
    }

    /// The permit for a closed (or disabled) admission `poll_ready` decided.
    #[inline(always)]
    fn take_admitted(&mut self) -> Option<BreakerPermit> {
        if self.admitted == NOT_ADMITTED {
            return None;
        }
        let admitted = std::mem::replace(&mut self.admitted, NOT_ADMITTED);
        let kind = if admitted & UNTRACKED != 0 {
            PermitKind::Untracked
        } else {
            PermitKind::Window
        };
        Some(self.breaker.permit_for(kind, admitted & !UNTRACKED))
    }

    /// With `not_ready_while_open`: arms the timer that wakes `cx` to look
    /// again after `refusal`. `Poll::Ready` when it has already run out (look
    /// again now); `None` without a tokio runtime.
    fn wait_after(&mut self, refusal: Refusal, cx: &mut Context<'_>) -> Option<Poll<()>> {
        tokio::runtime::Handle::try_current().ok()?;
        // Just past the end of the open wait (kept to the millisecond), or the
        // longest wait between looks.
        let wait = refusal.retry_after().map_or(RECHECK_AT_MOST, |wait| {
            wait.saturating_add(Duration::from_millis(1))
                .min(RECHECK_AT_MOST)
        });
        let deadline = tokio::time::Instant::now() + wait;
        let sleep = match &mut self.recheck {
            Some(sleep) => {
                sleep.as_mut().reset(deadline);
                sleep
            }
            None => self
                .recheck
                .insert(Box::pin(tokio::time::sleep_until(deadline))),
        };
        Some(sleep.as_mut().poll(cx))
    }
}

impl<S: Clone, C: Clone> Clone for BreakerService<S, C> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            breaker: self.breaker.clone(),
            classifier: self.classifier.clone(),
            admitted: NOT_ADMITTED,
            probe_at_call: false,
            rejected: None,
            not_ready_while_open: self.not_ready_while_open,
            recheck: None,
        }
    }
}

impl<S: fmt::Debug, C> fmt::Debug for BreakerService<S, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BreakerService")
            .field("inner", &self.inner)
            .field("breaker", &self.breaker)
            .finish_non_exhaustive()
    }
}

impl<S, C, Request> Service<Request> for BreakerService<S, C>
where
    S: Service<Request>,
    S::Error: Into<BoxError>,
    C: Classify<S::Response, S::Error> + Clone,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S::Future, C>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        while self.admitted == NOT_ADMITTED && !self.probe_at_call {
            // A refusal reserves nothing: decide again, so that a reset or the end
            // of the open wait since the last poll is seen, and `retry_after` is
            // current.
            self.rejected = None;
            match self.breaker.core().admit_looking() {
                // Half-open: a slot is free now; `call` takes it.
                Ok((PermitKind::Probe, _)) => self.probe_at_call = true,
                Ok((kind, ticket)) => {
                    let untracked = if kind == PermitKind::Untracked {
                        UNTRACKED
                    } else {
                        0
                    };
                    self.admitted = ticket | untracked;
                }
                Err(refusal) => {
                    if self.not_ready_while_open {
                        match self.wait_after(refusal, cx) {
                            Some(Poll::Pending) => return Poll::Pending,
                            // The wait ran out already: look again.
                            Some(Poll::Ready(())) => continue,
                            None => {}
                        }
                    }
                    // Fail fast: the call will be refused, so the inner service need not
                    // be ready.
                    self.rejected = Some(refusal);
                    return Poll::Ready(Ok(()));
                }
            }
        }
        match self.inner.poll_ready(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Ok(())) => Poll::Ready(Ok(())),
            Poll::Ready(Err(err)) => {
                // The dependency could not even take a call: that is its failure.
                let permit = match self.take_admitted() {
                    Some(permit) => Some(permit),
                    None if std::mem::take(&mut self.probe_at_call) => {
                        self.breaker.try_acquire().ok()
                    }
                    None => None,
                };
                if let Some(permit) = permit {
                    permit.record(Outcome::Failure);
                }
                Poll::Ready(Err(err.into()))
            }
        }
    }

    #[inline]
    fn call(&mut self, request: Request) -> Self::Future {
        if let Some(permit) = self.take_admitted() {
            return ResponseFuture::called(
                self.inner.call(request),
                permit,
                self.classifier.clone(),
            );
        }
        if std::mem::take(&mut self.probe_at_call) {
            // The probe slot is taken now, as the call starts. If others took every
            // slot since `poll_ready`, the call fails fast; the inner service keeps
            // the readiness it reported for this service's next call.
            return match self.breaker.try_acquire() {
                Ok(permit) => ResponseFuture::called(
                    self.inner.call(request),
                    permit,
                    self.classifier.clone(),
                ),
                Err(open) => ResponseFuture::rejected(open),
            };
        }
        let refusal = self
            .rejected
            .take()
            .expect("poll_ready must be called (and return Ready(Ok)) before call");
        ResponseFuture::rejected(self.breaker.core().reject(refusal))
    }
}
