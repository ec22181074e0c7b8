//! A circuit breaker: stop calling a dependency that is failing, and find out
//! cheaply when it has recovered.
//!
//! # Why
//!
//! When a dependency fails, every caller that keeps calling it waits for its
//! timeouts, holds connections and threads, and adds load to something already
//! down: one failing service drags its callers down with it. A breaker watches
//! the outcomes of recent calls and, once too many fail (or are too slow),
//! *opens*: calls fail at once with [`BreakerOpen`](error::BreakerOpen) without
//! touching the dependency. After a wait it turns *half-open* and lets a few
//! probes through; if they succeed it *closes* again, if not it opens for
//! another wait.
//!
//! ```text
//!            failure or slow rate >= threshold
//!   Closed ───────────────────────────────────▶ Open ◀─────┐
//!     ▲                                          │         │ probes fail
//!     │ probes succeed         wait elapsed      ▼         │
//!     └──────────────────────────────────── HalfOpen ──────┘
//! ```
//!
//! Beside these, a handle can force the breaker open, disable it (everything
//! passes, nothing is recorded) or run it in metrics-only mode (everything
//! passes, everything is recorded, it never trips).
//!
//! # Semantics
//!
//! seawall follows resilience4j where that is precise:
//!
//! - Both thresholds trip at `>=`; a call is slow when its duration is strictly
//!   greater than the slow-call threshold; a slow failure counts as failed and
//!   as slow.
//! - Rates are undefined, not 0, until the window holds the minimum number of
//!   calls; a count window's minimum is capped at its size; half-open decides
//!   over `min(minimum calls, permitted probes)`.
//! - Thresholds are evaluated when an outcome is recorded. Reading state or
//!   metrics never changes them, except that open becomes half-open at the first
//!   admission check strictly after the open wait (or exactly at it, with
//!   [`eager_half_open`](BreakerConfigBuilder::eager_half_open)).
//! - Each state starts with fresh metrics; the window that tripped the breaker
//!   stays readable through [`Breaker::metrics`] while it is open.
//! - A time window buckets a call by when it finished and drops it once its
//!   bucket has slid out, so a call counts for between `D - D/B` and `D` after
//!   it finished (window duration `D`, `B` buckets).
//! - Open waits and half-open deadlines have millisecond resolution.
//!
//! and deliberately differs where resilience4j surprises its users:
//!
//! - Outcomes recorded under an older state (a slow call admitted before a
//!   transition, finishing after it) are dropped; resilience4j counts late
//!   half-open results into the new state.
//! - [`Breaker::reset`] and every forced transition void any pending timer;
//!   resilience4j can flip a freshly reset breaker to open from a half-open
//!   timer left running.
//! - In consecutive-failures mode the breaker also opens after N failures in a
//!   row, whatever the rates; any success ends the run.
//! - Half-open waits for its probes at most twice the open wait before it,
//!   then opens again ([`HalfOpenWait`]): a probe that never finishes cannot
//!   keep the breaker half-open. resilience4j waits for ever by default, as
//!   [`unbounded_wait_in_half_open`](BreakerConfigBuilder::unbounded_wait_in_half_open)
//!   does here.
//! - [`BreakerService`]'s `poll_ready` takes no half-open probe slot: it only
//!   sees that one is free, and `call` takes it, so a caller that becomes
//!   ready and never calls holds none.
//!
//! # Cost
//!
//! Admission in the closed state is two relaxed loads: the state word, and
//! the transition count the permit keeps beside its generation (so that a
//! permit 16,384 transitions old is not taken for a current one). A fast success adds one
//! to the calling thread's own stripe; only failures, slow calls and the
//! successes that could decide the state (those recorded while the window is
//! below its minimum number of calls, as after each reset) take the window's
//! short lock. Once the window holds its minimum: no lock, no allocation and
//! no clock read on the closed success path with the default configuration;
//! slow-call detection reads the clock at the start and end of each call, and
//! a time window at the end.
//!
//! # Inside a balancer
//!
//! An open breaker reports ready and fails fast, which suits a caller that
//! has nowhere else to go. Inside tower's power-of-two-choices balancer it
//! attracts the traffic it refuses: ready, with no request pending, it looks
//! like the least-loaded endpoint. Give each endpoint's breaker
//! [`BreakerLayer::not_ready_while_open`]: it reports not ready while the
//! breaker refuses, so the balancer uses the other endpoints, and looks again
//! when the open wait ends.
//!
//! # Events
//!
//! [`Breaker::on_event`] hears every [`BreakerEvent`]: transitions, refusals
//! and recorded calls. With such a listener every call takes the recording
//! path that builds events, so a watcher that only cares about the state
//! (a health check, a canary) uses [`Breaker::on_state_transition`], which
//! leaves the call path as it is.
//!
//! # Layout
//!
//! The handle ([`Breaker`]), its [`BreakerPermit`] and the tower pieces
//! ([`BreakerLayer`], [`BreakerService`], [`future::ResponseFuture`]) are thin
//! users of one lock-free core. The core's files are split by concern: the
//! two packed words (`state_word.rs`, `probe_word.rs`), admission
//! (`admit.rs`), recording (`record.rs`), transitions (`transition.rs`),
//! metrics (`metrics.rs`), and the closed window (`window.rs`).
//!
//! # Without tower
//!
//! [`Breaker::try_acquire`] gives a [`BreakerPermit`] or a rejection; the permit
//! records the outcome. [`Breaker::call`] wraps any future.
//!
//! ```
//! use seawall::breaker::{Breaker, BreakerConfig};
//! use seawall::classify::Outcome;
//!
//! let breaker = Breaker::new(BreakerConfig::default());
//! match breaker.try_acquire() {
//!     Ok(permit) => {
//!         let delivered = true; // handle a message, call a dependency, ...
//!         permit.record(if delivered { Outcome::Success } else { Outcome::Failure });
//!     }
//!     Err(open) => println!("dependency is down, retry in {:?}", open.retry_after()),
//! }
//! ```

pub mod error;
pub mod future;

mod admit;
mod builder;
mod config;
mod core;
mod event;
mod handle;
mod keyed;
mod layer;
#[cfg(all(test, loom))]
mod loom_tests;
mod metrics;
mod permit;
mod probe_word;
mod record;
mod service;
mod state;
mod state_word;
#[cfg(feature = "tracing")]
mod trace;
mod transition;
mod window;

pub use self::builder::BreakerConfigBuilder;
pub use self::config::{BreakerConfig, HalfOpenTimeout, HalfOpenWait, OpenWait, SlidingWindow};
pub use self::event::BreakerEvent;
pub use self::handle::Breaker;
pub use self::keyed::{KeyedBreaker, KeyedBreakerLayer, KeyedBreakerService};
pub use self::layer::BreakerLayer;
pub use self::metrics::BreakerMetrics;
pub use self::permit::BreakerPermit;
pub use self::service::BreakerService;
pub use self::state::State;
