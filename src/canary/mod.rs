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
//! - Each decision is a [`CanaryEvent::Decided`] to the listeners given to
//!   [`Canary::on_event`], carrying the [`Analysis`] it was made on, and
//!   counts in the metrics below.
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
//! `poll_ready` polls the candidate while its weight is above 0 and the
//! stable service while the rollout is not promoted, and is ready when the
//! stable service is (once promoted, when the candidate is). The side is
//! chosen in `call`, where the request and its sticky key are known, among
//! the sides that were polled ready; if the weight changed in between so
//! that the chosen side was not polled, the request goes to the other one.
//! So a service that was not polled ready is never called.
//!
//! A candidate that is not ready never holds the stable side up: a request
//! chosen for it goes to the stable service instead and counts as one of the
//! candidate's failures ([`SideAnalysis::not_ready`]), so a candidate that
//! cannot take its share is rolled back like one that fails it
//! ([`Reason::NotReady`] when most of its failures were such requests). A
//! candidate that stays not ready for longer than
//! [`max_not_ready`](CanaryConfigBuilder::max_not_ready) (30 s by default) in
//! a row is rolled back by the next request or analysis that sees it
//! ([`Reason::NotReadyTooLong`]). A candidate whose `poll_ready` fails rolls
//! the rollout back ([`Reason::NotReady`]) and is never polled again; its
//! error is not passed on, as the stable service can take every request
//! (once promoted, there is no going back, and the error is the caller's).
//!
//! # Sticky routing
//!
//! With [`CanaryService::sticky_by`], a key from each request (a user id, a session
//! header) is hashed into one of 10,000 buckets, and the request goes to the
//! candidate when its bucket is below the weight in basis points. A key stays
//! on its side within a step, and as the weight only grows, a key on the
//! candidate stays there through every promotion. Requests without a key, and
//! every request without `sticky_by`, are routed at random in the proportion
//! of the weight. A key's request that finds the candidate not ready goes to
//! the stable side that once.
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
mod core;
mod decision;
mod event;
mod handle;
mod judge;
mod layer;
mod quantile;
mod routing;
mod service;
mod state;
mod stats;
#[cfg(feature = "tracing")]
mod trace;
mod watch;

#[cfg(feature = "health")]
mod component;
#[cfg(test)]
mod judge_tests;

pub use self::config::{CanaryConfig, CanaryConfigBuilder};
pub use self::decision::{Analysis, CanaryDecision, Reason, SideAnalysis};
pub use self::event::CanaryEvent;
pub use self::handle::Canary;
pub use self::layer::CanaryLayer;
pub use self::routing::{bucket_of_key, NoKey, StickyKey};
pub use self::service::CanaryService;
pub use self::state::Phase;
