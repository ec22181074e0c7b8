//! The service that routes each request to one side and measures it.

use std::fmt;
use std::task::{Context, Poll};

use tower_service::Service;

use crate::classify::{Classify, FailOnError};

use super::config::FULL_WEIGHT;
use super::decision::{CanaryDecision, Reason};
use super::future::ResponseFuture;
use super::handle::Canary;
use super::routing::{random_bucket, NoKey, StickyKey};
use super::state::{Phase, StateWord};

/// A tower service routing each request between a stable and a candidate
/// service, as its [`Canary`] decides. See the [module docs](super).
///
/// Both services must answer with the same response and error types; the
/// canary adds no error of its own.
///
/// # Clone
///
/// A clone routes by the same rollout and starts without a readiness
/// reservation, with its own random stream.
///
/// ```
/// use seawall::canary::{Canary, CanaryConfig, CanaryService};
/// use tower::{service_fn, Service, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), seawall::BoxError> {
/// let rollout = Canary::new(CanaryConfig::builder().steps([50.0, 100.0]).build()?);
/// let stable = service_fn(|user: &'static str| async move { Ok::<_, std::io::Error>("v1") });
/// let candidate = service_fn(|user: &'static str| async move { Ok::<_, std::io::Error>("v2") });
/// let mut service = CanaryService::new(stable, candidate, rollout).sticky_by(|user: &&'static str| Some(*user));
///
/// let first = service.ready().await?.call("ada").await?;
/// for _ in 0..10 {
///     assert_eq!(service.ready().await?.call("ada").await?, first, "ada stays on her side");
/// }
/// # Ok(())
/// # }
/// ```
pub struct CanaryService<S, C, K = NoKey, Cl = FailOnError> {
    stable: S,
    candidate: C,
    handle: Canary,
    key: K,
    classifier: Cl,
    stable_ready: bool,
    candidate_ready: bool,
    /// This service's random stream, for requests without a sticky key.
    rng: u64,
}

impl<S, C> CanaryService<S, C> {
    /// Routes between `stable` and `candidate` as `handle` decides, at random
    /// in the proportion of the weight, classifying results with
    /// [`FailOnError`].
    pub fn new(stable: S, candidate: C, handle: Canary) -> Self {
        let rng = handle.core.next_seed();
        Self {
            stable,
            candidate,
            handle,
            key: NoKey,
            classifier: FailOnError,
            stable_ready: false,
            candidate_ready: false,
            rng,
        }
    }
}

impl<S, C, K, Cl> CanaryService<S, C, K, Cl> {
    /// Routes by `key`, a function of the request returning a hashable key
    /// (or `None` to route that request at random): one key stays on one
    /// side within a step.
    pub fn sticky_by<K2>(self, key: K2) -> CanaryService<S, C, K2, Cl> {
        CanaryService {
            stable: self.stable,
            candidate: self.candidate,
            handle: self.handle,
            key,
            classifier: self.classifier,
            stable_ready: self.stable_ready,
            candidate_ready: self.candidate_ready,
            rng: self.rng,
        }
    }

    /// Classifies results with `classifier` (for example
    /// [`HttpStatus`](crate::classify::HttpStatus), so that a `500` counts as
    /// a failure). Ignored outcomes are not counted on either side.
    pub fn with_classifier<Cl2>(self, classifier: Cl2) -> CanaryService<S, C, K, Cl2> {
        CanaryService {
            stable: self.stable,
            candidate: self.candidate,
            handle: self.handle,
            key: self.key,
            classifier,
            stable_ready: self.stable_ready,
            candidate_ready: self.candidate_ready,
            rng: self.rng,
        }
    }

    /// The rollout this service routes by.
    pub fn handle(&self) -> &Canary {
        &self.handle
    }

    /// The stable service.
    pub fn get_ref(&self) -> &S {
        &self.stable
    }

    /// The stable service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.stable
    }

    /// The candidate service.
    pub fn candidate(&self) -> &C {
        &self.candidate
    }

    /// The stable and the candidate services, unwrapped.
    pub fn into_inner(self) -> (S, C) {
        (self.stable, self.candidate)
    }

    /// Whether `request` goes to the candidate under `word`: by its sticky
    /// key's bucket, or at random. The key is looked at only when the weight
    /// leaves a choice.
    #[inline]
    fn goes_to_candidate<Request>(&mut self, request: &Request, word: StateWord) -> bool
    where
        K: StickyKey<Request>,
    {
        let weight = word.weight();
        if weight == 0 {
            return false;
        }
        if weight >= FULL_WEIGHT {
            return true;
        }
        let bucket = self
            .key
            .bucket(request)
            .unwrap_or_else(|| random_bucket(&mut self.rng));
        bucket < weight
    }
}

impl<S: Clone, C: Clone, K: Clone, Cl: Clone> Clone for CanaryService<S, C, K, Cl> {
    fn clone(&self) -> Self {
        Self {
            stable: self.stable.clone(),
            candidate: self.candidate.clone(),
            handle: self.handle.clone(),
            key: self.key.clone(),
            classifier: self.classifier.clone(),
            stable_ready: false,
            candidate_ready: false,
            rng: self.handle.core.next_seed(),
        }
    }
}

impl<S: fmt::Debug, C: fmt::Debug, K, Cl> fmt::Debug for CanaryService<S, C, K, Cl> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CanaryService")
            .field("stable", &self.stable)
            .field("candidate", &self.candidate)
            .field("handle", &self.handle)
            .finish_non_exhaustive()
    }
}

impl<S, C, K, Cl, Request> Service<Request> for CanaryService<S, C, K, Cl>
where
    S: Service<Request>,
    C: Service<Request, Response = S::Response, Error = S::Error>,
    K: StickyKey<Request>,
    Cl: Classify<S::Response, S::Error> + Clone,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, C::Future, Cl>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        let core = &self.handle.core;
        let word = core.load();
        if word.weight() > 0 && !self.candidate_ready {
            match self.candidate.poll_ready(cx) {
                Poll::Ready(Ok(())) => {
                    self.candidate_ready = true;
                    core.candidate_ready();
                }
                Poll::Ready(Err(err)) => {
                    // The stable service can take everything: roll back, and never
                    // poll the broken candidate again (the weight is now 0).
                    core.decide(CanaryDecision::RollBack, Reason::NotReady);
                    if core.load().weight() > 0 {
                        // Promoted already: there is nothing to fall back to.
                        return Poll::Ready(Err(err));
                    }
                }
                // Promoted: the candidate is the service now, and its backpressure
                // the caller's.
                Poll::Pending if word.phase() == Phase::Promoted => return Poll::Pending,
                // Not ready: the stable side takes its requests meanwhile (counted
                // against it), and the rollout rolls back if this lasts too long.
                Poll::Pending => core.candidate_not_ready(core.now()),
            }
        }
        // The stable side serves every request below 100%, and the candidate's
        // while it is not ready, until the rollout is promoted.
        let word = core.load();
        let stable_needed = word.phase() != Phase::Promoted
            && (word.weight() < FULL_WEIGHT || !self.candidate_ready);
        if stable_needed && !self.stable_ready {
            match self.stable.poll_ready(cx) {
                Poll::Ready(Ok(())) => self.stable_ready = true,
                Poll::Ready(Err(err)) => return Poll::Ready(Err(err)),
                Poll::Pending => return Poll::Pending,
            }
        }
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let word = self.handle.core.load();
        let mut candidate = self.goes_to_candidate(&request, word);
        let core = self.handle.core.clone();
        let started = core.now();
        // Only ever call a side that was polled ready.
        if candidate && !self.candidate_ready {
            // The candidate was not ready for its request: the stable side serves
            // it, and the candidate is charged with a failure.
            candidate = false;
            core.record_not_ready(word.generation(), started);
        } else if !candidate && !self.stable_ready {
            candidate = true;
        }
        if candidate {
            assert!(
                self.candidate_ready,
                "poll_ready must be called (and return Ready(Ok)) before call"
            );
            self.candidate_ready = false;
            ResponseFuture::candidate(
                self.candidate.call(request),
                core,
                self.classifier.clone(),
                word.generation(),
                started,
            )
        } else {
            assert!(
                self.stable_ready,
                "poll_ready must be called (and return Ready(Ok)) before call"
            );
            self.stable_ready = false;
            ResponseFuture::stable(
                self.stable.call(request),
                core,
                self.classifier.clone(),
                word.generation(),
                started,
            )
        }
    }
}
