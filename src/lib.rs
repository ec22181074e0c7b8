//! seawall keeps a service standing when the things it calls fail.
//!
//! It is a set of [tower] middleware layers, composed in-process around any
//! client or server that is a `tower::Service` (reqwest, tonic, hyper, axum):
//!
//! - [`breaker`]: a circuit breaker with a lock-free state machine, count and
//!   time windows, slow-call detection, half-open probing and manual control,
//!   usable with or without tower.
//! - [`resilience`]: the whole stack for one dependency (fallback, retry,
//!   breaker, bulkhead, timeout) in the one order that works, in one line.
//! - [`retry`]: retries with backoff and jitter, a shared retry budget, server
//!   pushback and an overall deadline.
//! - [`timeout`]: a per-attempt timeout and a request deadline.
//! - [`health`] (feature `health`): liveness, readiness and a detailed report
//!   from breakers and cached checks, a drain for graceful shutdown, an HTTP
//!   service and (feature `tonic`) a `grpc.health.v1` bridge.
//! - [`bulkhead`]: a lock-free concurrency cap shared across clones, failing
//!   fast or waiting in a bounded queue.
//! - [`canary`] (feature `canary`): a canary router that ramps a candidate
//!   service up in weight steps while it does as well as the stable one, and
//!   rolls it back by itself when it does not.
//! - [`fallback`]: a degraded answer (a value, a closure or a backup service)
//!   on chosen failures, marked so callers can tell it apart.
//! - [`chaos`] (feature `chaos`): errors, responses and latency injected at a
//!   seeded rate and switched at run time, to test all of the above on purpose.
//! - [`axum`] and [`tonic`] (features of the same names): seawall's errors as
//!   HTTP responses (`503` + `Retry-After`, `504`) and gRPC statuses
//!   (`UNAVAILABLE`, `RESOURCE_EXHAUSTED`, `DEADLINE_EXCEEDED`), so a stack fits
//!   a server without glue.
//!
//! Shared mechanics live once: the [`clock`] every time-based decision reads
//! (tokio's, so `tokio::time::pause` drives tests), [`classify`]ing results
//! into successes and failures, the error kinds ([`ErrorKind`]), and what
//! seawall reports to the outside world ([`observe`]). [`prelude`] brings in
//! what a quick start needs in one `use`.
//!
//! # Quick start
//!
//! ```
//! use seawall::breaker::{Breaker, BreakerConfig, BreakerLayer};
//! use seawall::ErrorKind;
//! use tower::{Service, ServiceBuilder, ServiceExt, service_fn};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), seawall::BoxError> {
//! let breaker = Breaker::new(BreakerConfig::builder().name("inventory").build()?);
//! let mut client = ServiceBuilder::new()
//!     .layer(BreakerLayer::new(breaker.clone()))
//!     .service(service_fn(|sku: u32| async move {
//!         Ok::<_, std::io::Error>(sku * 2)
//!     }));
//!
//! match client.ready().await?.call(21).await {
//!     Ok(answer) => assert_eq!(answer, 42),
//!     Err(err) if ErrorKind::of(&*err) == ErrorKind::BreakerOpen => { /* degrade */ }
//!     Err(err) => return Err(err),
//! }
//! # Ok(())
//! # }
//! ```
//!
//! # Features
//!
//! The circuit breaker is the crate's core and always built.
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `timeout` | yes | [`timeout`]: per-attempt [`TimeoutService`](timeout::TimeoutService), request [`Deadline`](timeout::Deadline) |
//! | `retry` | yes | [`retry`]: backoff, jitter, budgets, pushback (implies `timeout`) |
//! | `bulkhead` | yes | [`bulkhead`] |
//! | `fallback` | yes | [`fallback`] |
//! | `canary` | no | [`canary`] |
//! | `http` | no | [`classify::HttpStatus`], [`fallback::HttpMark`], the HTTP retry policy and replay body, hyper's errors judged by [`classify::Transience`] |
//! | `grpc` | no | [`classify::GrpcStatus`], the gRPC retry policy |
//! | `reqwest` | no | reqwest 0.13: its responses classified, its errors judged, its requests retried through `try_clone` |
//! | `reqwest-middleware` | no | [`reqwest_middleware::ResilienceMiddleware`]: retry, breaker and timeout in a `ClientWithMiddleware` (reqwest-middleware 0.5) |
//! | `health` | no | [`health`]: the registry, the in-flight layer and the HTTP endpoints |
//! | `tonic` | no | (implies `grpc`) [`tonic::ErrorResponseLayer`] and [`tonic::status_of`]: seawall errors as gRPC statuses; `health::grpc`: the tonic-health bridge |
//! | `axum` | no | [`axum::ErrorResponseLayer`]: seawall errors as `503`/`504`/`500` responses |
//! | `chaos` | no | [`chaos`]: seeded fault injection (errors, responses, latency), switchable at run time |
//! | `quanta` | no | [`clock::Clock::quanta`], a cheaper clock for slow-call detection |
//! | `tracing` | no | `tracing` events from every layer and optional retry attempt spans (listed in [`observe`](observe#tracing)) |
//! | `full` | no | everything |
//!
//! [tower]: https://docs.rs/tower

#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![warn(missing_debug_implementations, unreachable_pub, rust_2018_idioms)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "axum")]
pub mod axum;
pub mod breaker;
#[cfg(feature = "bulkhead")]
pub mod bulkhead;
#[cfg(feature = "canary")]
pub mod canary;
#[cfg(feature = "chaos")]
pub mod chaos;
pub mod classify;
pub mod clock;
mod error;
#[cfg(feature = "fallback")]
pub mod fallback;
#[cfg(feature = "health")]
pub mod health;
pub mod observe;
pub mod prelude;
#[cfg(feature = "reqwest-middleware")]
pub mod reqwest_middleware;
#[cfg(all(feature = "retry", feature = "bulkhead"))]
pub mod resilience;
#[cfg(feature = "http")]
pub mod respond;
#[cfg(feature = "retry")]
pub mod retry;
#[cfg(feature = "timeout")]
pub mod timeout;
#[cfg(feature = "tonic")]
pub mod tonic;

mod admission;
mod keyed;
#[cfg(feature = "reqwest")]
mod reqwest_impls;
mod sync;
mod validate;

pub use crate::error::{BoxError, ConfigError, ErrorKind};
