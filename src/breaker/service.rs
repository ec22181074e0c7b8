//! The tower service behind a breaker.

use std::fmt;
use std::task::{Context, Poll};

use tower_service::Service;

use crate::classify::{Classify, FailOnError, Outcome};
use crate::error::BoxError;

use super::admit::PermitKind;
use super::error::BreakerOpen;
use super::future::ResponseFuture;
use super::handle::Breaker;
use super::permit::BreakerPermit;

/// A tower service behind a circuit breaker.
///
/// Admission is decided in `poll_ready` and kept until `call`: an open breaker
/// reports ready at once, without polling the inner service, and the call fails
/// fast with [`BreakerOpen`]; a half-open breaker's probe slot is taken there
/// and held until the call ends. A permit is kept across repeated
/// `poll_ready`s; a refusal reserves nothing and is decided again by each. A
/// call's duration, for slow-call detection, runs from `call` to the end of its
/// future, so time spent waiting for the inner service to become ready does not
/// count. A clone starts without an admission.
///
/// # Errors
///
/// [`BreakerOpen`] or the inner service's error, boxed.
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
    /// A half-open probe's permit, which holds a probe slot until the call ends.
    probe: Option<BreakerPermit>,
    /// A rejection.
    rejected: Option<BreakerOpen>,
}

/// In `admitted`: no admission is held.
const NOT_ADMITTED: u64 = u64::MAX;
/// In `admitted`, above the generation: the breaker is disabled.
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
            probe: None,
            rejected: None,
        }
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

    /// The permit for the admission `poll_ready` took, if it admitted the call.
    #[inline(always)]
    fn take_permit(&mut self) -> Option<BreakerPermit> {
        if self.admitted != NOT_ADMITTED {
            let admitted = std::mem::replace(&mut self.admitted, NOT_ADMITTED);
            let kind = if admitted & UNTRACKED != 0 {
                PermitKind::Untracked
            } else {
                PermitKind::Window
            };
            return Some(self.breaker.permit_for(kind, admitted as u16));
        }
        self.probe.take()
    }
}

impl<S: Clone, C: Clone> Clone for BreakerService<S, C> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            breaker: self.breaker.clone(),
            classifier: self.classifier.clone(),
            admitted: NOT_ADMITTED,
            probe: None,
            rejected: None,
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
        if self.admitted == NOT_ADMITTED && self.probe.is_none() {
            // A refusal reserves nothing: decide again, so that a reset or the end
            // of the open wait since the last poll is seen, and `retry_after` is
            // current.
            self.rejected = None;
            match self.breaker.core().admit() {
                Ok((PermitKind::Probe, generation)) => {
                    self.probe = Some(self.breaker.permit_for(PermitKind::Probe, generation));
                }
                Ok((kind, generation)) => {
                    let untracked = if kind == PermitKind::Untracked {
                        UNTRACKED
                    } else {
                        0
                    };
                    self.admitted = u64::from(generation) | untracked;
                }
                Err(open) => {
                    // Fail fast: the call will be refused, so the inner service need not
                    // be ready.
                    self.rejected = Some(open);
                    return Poll::Ready(Ok(()));
                }
            }
        }
        match self.inner.poll_ready(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Ok(())) => Poll::Ready(Ok(())),
            Poll::Ready(Err(err)) => {
                // The dependency could not even take a call: that is its failure.
                if let Some(permit) = self.take_permit() {
                    permit.record(Outcome::Failure);
                }
                Poll::Ready(Err(err.into()))
            }
        }
    }

    #[inline]
    fn call(&mut self, request: Request) -> Self::Future {
        if let Some(permit) = self.take_permit() {
            return ResponseFuture::called(
                self.inner.call(request),
                permit,
                self.classifier.clone(),
            );
        }
        let open = self
            .rejected
            .take()
            .expect("poll_ready must be called (and return Ready(Ok)) before call");
        ResponseFuture::rejected(open)
    }
}
