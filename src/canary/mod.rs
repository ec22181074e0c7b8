//! A canary router: release a new version of a dependency to a growing share
//! of requests, and take it back by itself when it does worse than the old one.
//!
//! # Why in the process
//!
//! A release that passes its tests can still fail on real traffic. A canary
//! sends a small share of requests to the new version (the *candidate*) and the
//! rest to the old one (the *stable* service), compares the two, and grows the
//! share only while the candidate does as well. Service meshes and rollout
//! controllers (Envoy, Flagger, Argo Rollouts) do this from outside, by
//! scraping metrics every so often. Inside the process the comparison is
//! exact and immediate: both sides are measured on the same requests, over the
//! same window, and a candidate whose breaker opens is taken out before the
//! next request.
//!
//! # How
//!
//! - A [`Canary`] holds the rollout: weight steps (say 1%, 5%, 25%, 50%,
//!   100%), each held for a minimum time and a minimum number of candidate
//!   requests, and analysed every interval.
//! - An analysis compares the candidate's failure rate and its latency at a
//!   chosen percentile with the stable side's over the current step, checks
//!   absolute limits, and asks the candidate's own health (a watched
//!   [`Breaker`](crate::breaker::Breaker) or health component). Out of bounds:
//!   roll back to 0% at once, for good ([`Phase::RolledBack`]). Within bounds
//!   at the end of a step: promote to the next one; after the last,
//!   [`Phase::Promoted`].
//! - A failure rate is out of bounds only beyond sampling noise, at a
//!   [`confidence`](CanaryConfigBuilder::confidence) of 95% by default: at 1%
//!   of traffic the first 20 candidate calls are all there is, and one failure
//!   among them reads as 5%. A measured rate out of bounds but within the
//!   noise holds the step until more calls decide.
//! - Each decision is an
//!   [`Event::CanaryDecision`](crate::observe::Event::CanaryDecision) carrying
//!   the [`Analysis`] it was made on, and counts in the metrics below.
//! - A [`CanaryService`] service routes each request, by a sticky key or at random,
//!   and times and classifies it into its side's numbers.
//! - The handle pauses, resumes, promotes and rolls back by hand.
//!
//! ```
//! use seawall::canary::{CanaryService, CanaryConfig, Canary, Phase};
//! use std::time::Duration;
//! use tower::{service_fn, Service, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), seawall::BoxError> {
//! let rollout = Canary::new(
//!     CanaryConfig::builder()
//!         .name("pricing-v2")
//!         .steps([10.0, 50.0, 100.0])
//!         .hold(Duration::from_secs(30))
//!         .min_requests(20)
//!         .build()?,
//! );
//! let stable = service_fn(|sku: u32| async move { Ok::<_, std::io::Error>(sku * 2) });
//! let candidate = service_fn(|sku: u32| async move { Ok::<_, std::io::Error>(sku + sku) });
//! let mut pricing = CanaryService::new(stable, candidate, rollout.clone());
//!
//! // A healthy candidate: a request every 50 ms for 3 steps of 30 s.
//! for sku in 0..2_000 {
//!     assert_eq!(pricing.ready().await?.call(sku).await?, sku * 2);
//!     tokio::time::sleep(Duration::from_millis(50)).await;
//! }
//! assert_eq!(rollout.phase(), Phase::Promoted);
//! # Ok(())
//! # }
//! ```
//!
//! # Readiness
//!
//! `poll_ready` polls every side that may be chosen: the stable service while
//! the weight is below 100%, the candidate while it is above 0%, and is ready
//! when they all are (as tower's `Steer` does). The side is chosen in `call`,
//! where the request and its sticky key are known, among the sides that were
//! polled ready; if the weight changed in between so that the chosen side was
//! not polled, the request goes to the other one. So a service that was not
//! polled ready is never called. A candidate whose `poll_ready` fails rolls the
//! rollout back ([`Reason::NotReady`]) and is never polled again; its error is
//! not passed on, as the stable service can take every request (once
//! promoted, there is no going back, and the error is the caller's).
//!
//! A candidate that is not ready holds up the stable side's requests too
//! while its weight is above 0, as any backpressure does in tower's `Steer`;
//! put a buffer or a load-shedding layer in front of it where that matters.
//!
//! # Sticky routing
//!
//! With [`CanaryService::sticky_by`], a key from each request (a user id, a session
//! header) is hashed into one of 10,000 buckets, and the request goes to the
//! candidate when its bucket is below the weight in basis points. A key stays
//! on its side within a step, and as the weight only grows, a key on the
//! candidate stays there through every promotion. Requests without a key, and
//! every request without `sticky_by`, are routed at random in the proportion
//! of the weight.
//!
//! # Cost
//!
//! Routing is one atomic load of the state word and a hash or a few
//! arithmetic operations; no lock, no allocation. Each call clones one `Arc`
//! (the rollout, for its future), reads the clock twice (start and end) and
//! adds to two or three shared counters of its side (the calls, a latency
//! bucket, the failures when it failed). The request that finds an analysis
//! due runs it after its response, under a `try_lock` that no other request
//! waits for; decisions, metrics and events happen there, at most once per
//! interval.
//!
//! # Exactness
//!
//! Counters are reset at each step, and a call admitted under an earlier step
//! is dropped when it finishes. A call that finishes while a step ends may
//! still be counted in the next step, as one of the calls in flight.
//!
//! # Metrics
//!
//! | name | kind | labels | meaning |
//! |---|---|---|---|
//! | `seawall_canary_weight` | gauge | `name` | the candidate's share of requests, 0 to 1 |
//! | `seawall_canary_decisions_total` | counter | `name`, `decision` (`promote`, `roll_back`, `pause`, `resume`) | decisions made |

pub mod future;

mod config;
mod handle;
mod layer;
mod stats;

use std::fmt;
use std::hash::{Hash, Hasher};
use std::task::{Context, Poll};

use tower_service::Service;

use crate::classify::FailOnError;

pub use self::config::{CanaryConfig, CanaryConfigBuilder};
pub use self::handle::{Analysis, Canary, Decision, Phase, Reason, SideAnalysis};
pub use self::layer::CanaryLayer;

use self::config::FULL;
use self::future::ResponseFuture;
use self::handle::Word;

/// Where a request goes: a bucket in `0..10_000` from its sticky key, or
/// `None` to route it at random.
///
/// Implemented for [`NoKey`] and for every `Fn(&Request) -> Option<K>` with a
/// hashable `K`; a key function is usually a closure given to
/// [`CanaryService::sticky_by`]. Implement it by hand to choose buckets yourself
/// (say, to send an allow-list of testers to the candidate first).
///
/// ```
/// use seawall::canary::{bucket_of_key, StickyKey};
///
/// /// Keeps every user of a tenant on one side: routes by the part before the `/`.
/// #[derive(Clone)]
/// struct ByTenant;
///
/// impl StickyKey<String> for ByTenant {
///     fn bucket(&self, path: &String) -> Option<u16> {
///         path.split_once('/').map(|(tenant, _)| bucket_of_key(tenant))
///     }
/// }
///
/// assert_eq!(ByTenant.bucket(&"acme/ada".into()), ByTenant.bucket(&"acme/bob".into()));
/// assert_eq!(ByTenant.bucket(&"no-tenant".into()), None);
/// ```
pub trait StickyKey<Request> {
    /// The request's bucket, or `None` when it has no key.
    fn bucket(&self, request: &Request) -> Option<u16>;
}

/// No sticky key: every request is routed at random. The default of
/// [`CanaryService::new`] and [`CanaryLayer::new`].
#[derive(Clone, Copy, Debug, Default)]
pub struct NoKey;

impl<Request> StickyKey<Request> for NoKey {
    fn bucket(&self, _: &Request) -> Option<u16> {
        None
    }
}

impl<F, K, Request> StickyKey<Request> for F
where
    F: Fn(&Request) -> Option<K>,
    K: Hash,
{
    fn bucket(&self, request: &Request) -> Option<u16> {
        let key = self(request)?;
        Some(bucket_of_key(&key))
    }
}

/// The bucket of a sticky `key`, in `0..10_000`: the same key always lands in
/// the same bucket within a process.
///
/// ```
/// use seawall::canary::bucket_of_key;
///
/// let bucket = bucket_of_key(&"user-42");
/// assert!(bucket < 10_000);
/// assert_eq!(bucket, bucket_of_key(&"user-42"));
/// ```
pub fn bucket_of_key<K: Hash + ?Sized>(key: &K) -> u16 {
    // SipHash with fixed keys: stable within a process (and a Rust release),
    // well mixed, and 10,000 is small enough against 2^64 that `%` adds no
    // visible bias.
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    key.hash(&mut hasher);
    (hasher.finish() % u64::from(FULL)) as u16
}

/// Seeds for each service's random stream, so that clones do not repeat each
/// other. A std atomic, not the loom shim's: it is a static, and no decision
/// depends on it.
static SEEDS: std::sync::atomic::AtomicU64 =
    std::sync::atomic::AtomicU64::new(0x853C_49E6_748F_EA9B);

fn next_seed() -> u64 {
    // Relaxed: any distinct value will do.
    SEEDS.fetch_add(0x9E37_79B9_7F4A_7C15, std::sync::atomic::Ordering::Relaxed)
}

/// splitmix64: a fast, well-mixed stream from a counter.
fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A tower service routing each request between a stable and a candidate
/// service, as its [`Canary`] decides. See the [module docs](self).
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
    rng: u64,
}

impl<S, C> CanaryService<S, C> {
    /// Routes between `stable` and `candidate` as `handle` decides, at random
    /// in the proportion of the weight, classifying results with
    /// [`FailOnError`].
    pub fn new(stable: S, candidate: C, handle: Canary) -> Self {
        Self {
            stable,
            candidate,
            handle,
            key: NoKey,
            classifier: FailOnError,
            stable_ready: false,
            candidate_ready: false,
            rng: next_seed(),
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
    fn goes_to_candidate<Request>(&mut self, request: &Request, word: Word) -> bool
    where
        K: StickyKey<Request>,
    {
        let weight = word.weight();
        if weight == 0 {
            return false;
        }
        if weight >= FULL {
            return true;
        }
        let bucket = self
            .key
            .bucket(request)
            .unwrap_or_else(|| (splitmix(&mut self.rng) % u64::from(FULL)) as u16);
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
            rng: next_seed(),
        }
    }
}

impl<S: fmt::Debug, C: fmt::Debug, K, Cl> fmt::Debug for CanaryService<S, C, K, Cl> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Canary")
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
    Cl: crate::classify::Classify<S::Response, S::Error> + Clone,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, C::Future, Cl>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        let weight = self.handle.core.load().weight();
        let mut pending = false;
        if weight < FULL && !self.stable_ready {
            match self.stable.poll_ready(cx) {
                Poll::Ready(Ok(())) => self.stable_ready = true,
                Poll::Ready(Err(err)) => return Poll::Ready(Err(err)),
                Poll::Pending => pending = true,
            }
        }
        if weight > 0 && !self.candidate_ready {
            match self.candidate.poll_ready(cx) {
                Poll::Ready(Ok(())) => self.candidate_ready = true,
                Poll::Ready(Err(err)) => {
                    // The stable service can take everything: roll back, and never
                    // poll the broken candidate again (the weight is now 0).
                    self.handle
                        .core
                        .decide(Decision::RollBack, Reason::NotReady);
                    if self.handle.core.load().weight() > 0 {
                        // Promoted already: there is nothing to fall back to.
                        return Poll::Ready(Err(err));
                    }
                    if weight >= FULL {
                        // The stable service was not polled at 100%: it is needed now.
                        match self.stable.poll_ready(cx) {
                            Poll::Ready(Ok(())) => self.stable_ready = true,
                            Poll::Ready(Err(err)) => return Poll::Ready(Err(err)),
                            Poll::Pending => pending = true,
                        }
                    }
                }
                Poll::Pending => pending = true,
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(Ok(()))
        }
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let word = self.handle.core.load();
        let mut candidate = self.goes_to_candidate(&request, word);
        // Only ever call a side that was polled ready.
        if candidate && !self.candidate_ready {
            candidate = false;
        } else if !candidate && !self.stable_ready {
            candidate = true;
        }
        let core = self.handle.core.clone();
        let started = core.now();
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
