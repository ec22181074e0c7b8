//! Retries with backoff and jitter, a shared budget, server pushback and an
//! overall deadline.
//!
//! # Why
//!
//! Many failures are momentary: a connection reset, a pod restarting, a
//! server shedding a burst. Sending the request again a moment later turns
//! them into successes the caller never sees. Retries are also how a small
//! outage becomes a large one, so this layer is built around what keeps them
//! safe:
//!
//! - a **[budget](RetryBudget)** shared by every clone of the layer, so that
//!   retries stay a small fraction of the traffic and fade out when a
//!   dependency is down, whatever `max_attempts` says;
//! - **[backoff](Backoff) with [jitter](Jitter)**, so that clients which failed together
//!   do not retry together;
//! - **server pushback**: `Retry-After` and `grpc-retry-pushback-ms` replace
//!   the computed delay (clamped to a maximum), and gRPC's "do not retry" is
//!   obeyed;
//! - an **overall deadline**: an attempt that cannot finish before it is not
//!   started (with the per-attempt timeout known through
//!   [`attempt_timeout`](RetryConfigBuilder::attempt_timeout));
//! - seawall's own rejections (an open breaker, an empty budget further in)
//!   are **not retried** by default: the dependency is known to be down;
//! - **[what is retried](RetryPolicy)** is decided on top of the same
//!   [classification](crate::classify) a circuit breaker uses: a result is
//!   first judged a success or a failure, then a failure is retried if the
//!   policy finds it worth it (an idempotent request, a transient failure, no
//!   pushback saying otherwise). [`RetryOnError`] is the default,
//!   [`RetryOnFailure`] retries what any classifier calls a failure, and
//!   [`HttpRetry`] and [`GrpcRetry`] know idempotent methods and retryable
//!   statuses;
//! - requests are **[copied](CloneRequest)** by a strategy that may refuse (a
//!   streaming body over the replay limit), and then the request is simply not
//!   retried.
//!
//! Each attempt of a request the layer can retry gets an [`Attempt`] number
//! that strategies such as [`HttpReplay`] put into the
//! request, so layers further in can see retries made further out; a retry
//! layer that receives a request already numbered makes one attempt and
//! leaves retrying to the outer layer, so nested retries do not multiply. A
//! layer that cannot retry a request (one attempt, or no copy) leaves it
//! unnumbered, for a retry layer further in.
//!
//! ```
//! use seawall::retry::{RetryConfig, RetryLayer};
//! use std::sync::atomic::{AtomicU32, Ordering};
//! use std::sync::Arc;
//! use tower::{Service, ServiceBuilder, ServiceExt, service_fn};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), seawall::BoxError> {
//! let calls = Arc::new(AtomicU32::new(0));
//! let seen = calls.clone();
//! let flaky = service_fn(move |x: u32| {
//!     let n = seen.fetch_add(1, Ordering::Relaxed);
//!     async move {
//!         if n == 0 { Err("connection reset".into()) } else { Ok::<_, seawall::BoxError>(x) }
//!     }
//! });
//! let mut client = ServiceBuilder::new()
//!     .layer(RetryLayer::new(RetryConfig::builder().max_attempts(3).build()?))
//!     .service(flaky);
//! assert_eq!(client.ready().await?.call(7).await?, 7);
//! assert_eq!(calls.load(Ordering::Relaxed), 2);
//! # Ok(())
//! # }
//! ```
//!
//! # Order
//!
//! Retry goes outside the circuit breaker and the timeout (see the crate's
//! layer order): each attempt has its own timeout and is counted by the
//! breaker, and a breaker that opens stops the retries.

pub mod error;
pub mod future;

mod aws_quota;
mod backoff;
mod budget;
mod budget_handle;
mod clone;
mod config;
mod event;
#[cfg(feature = "grpc")]
mod grpc_retry;
mod grpc_throttle;
#[cfg(feature = "http")]
mod http_retry;
mod layer;
mod metrics;
mod policy;
mod pushback;
mod ratio_budget;
#[cfg(feature = "http")]
mod replay;
mod retry_state;
mod service;
mod shared;
#[cfg(feature = "tracing")]
mod trace;

pub use self::aws_quota::AwsRetryQuota;
pub use self::backoff::{backoff_fn, Backoff, BackoffFn, Jitter, JitterRng, StandardBackoff};
pub use self::budget::{AttemptEnd, RetryBudget, Withdrawal};
#[cfg(feature = "reqwest")]
pub use self::clone::ReqwestClone;
pub use self::clone::{Attempt, CloneRequest, Cloned, NoClone};
pub use self::config::{RetryConfig, RetryConfigBuilder};
pub use self::event::RetryEvent;
#[cfg(feature = "grpc")]
pub use self::grpc_retry::GrpcRetry;
pub use self::grpc_throttle::GrpcRetryThrottle;
#[cfg(feature = "http")]
pub use self::http_retry::{HttpAttempt, HttpRetry};
pub use self::layer::RetryLayer;
pub use self::policy::{RetryDecision, RetryOnError, RetryOnFailure, RetryPolicy};
#[cfg(feature = "http")]
pub use self::pushback::{grpc_pushback_of, parse_retry_after};
pub use self::pushback::{parse_grpc_pushback, GrpcPushback};
pub use self::ratio_budget::RatioBudget;
#[cfg(feature = "http")]
pub use self::replay::{HttpReplay, ReplayBody};
pub use self::service::RetryService;
