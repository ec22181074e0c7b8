//! Chaos: inject errors, latency and chosen responses on purpose, to see the
//! rest of the stack cope.
//!
//! # Why
//!
//! Resilience code is code that runs when things go wrong, which in tests
//! they rarely do. A circuit breaker that never opened in a test will surprise
//! you in production: its threshold is wrong, its fallback panics, the retry
//! outside it hammers the dependency, the timeout is longer than the caller's.
//! The way to know is to make things go wrong on purpose, at a known rate,
//! and watch: does the breaker open at the error rate you expect, do callers
//! get the fallback, does latency stay within the deadline?
//!
//! A [`ChaosService`] service sits where the faults should appear (innermost, just in
//! front of the client, to play a failing dependency:
//! `Fallback -> Retry -> CircuitBreaker -> Bulkhead -> Timeout -> Chaos -> client`;
//! or on a server's routes, to play a failing server) and gives a share of the
//! calls one of its [`Fault`]s: an error, a made-up response (an HTTP `503`),
//! a delay, or a delay and then an error or a response.
//!
//! - **Reproducible.** Faults are picked by a seeded random source
//!   (splitmix64), shared by every clone without a lock: the same seed gives
//!   the same faults on the same calls, so a test or a demo that found
//!   something can be run again.
//! - **Switchable.** A [`Chaos`] switches chaos on and off and replaces
//!   the faults while the service runs, for every clone at once: a game day,
//!   a demo's "now the dependency fails" phase, a test that breaks and then
//!   heals the dependency.
//! - **Free when off.** Switched off, a call costs one relaxed atomic load
//!   more than the bare service: no lock, no allocation, no random draw.
//! - **Virtual time.** Delays are `tokio::time::sleep`, so a test on a paused
//!   clock (`#[tokio::test(start_paused = true)]`) runs a 30-second outage in
//!   no time and measures the injected latency exactly.
//!
//! Every injected fault is counted in the `seawall_chaos_injected_total`
//! counter, labelled with the `name` and the `fault` kind (see
//! [`crate::observe`]), and told to the listeners given to
//! [`Chaos::on_event`] as a [`ChaosEvent::Injected`].
//!
//! # Example
//!
//! A breaker in front of a dependency that chaos makes fail half the time:
//!
//! ```
//! use seawall::breaker::{Breaker, BreakerConfig, BreakerLayer, State};
//! use seawall::chaos::{ChaosConfig, Chaos, ChaosLayer, Fault};
//! use tower::{service_fn, Service, ServiceBuilder, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), seawall::BoxError> {
//! let breaker = Breaker::new(
//!     BreakerConfig::builder()
//!         .count_window(20)
//!         .minimum_calls(20)
//!         .failure_rate_threshold(0.3)
//!         .build()?,
//! );
//! let chaos = Chaos::new(
//!     ChaosConfig::builder()
//!         .name("inventory")
//!         .seed(7)
//!         .fault(Fault::error(0.5))
//!         .enabled(false)
//!         .build()?,
//! );
//! let mut client = ServiceBuilder::new()
//!     .layer(BreakerLayer::new(breaker.clone()))
//!     .layer(ChaosLayer::new(chaos.clone()))
//!     .service(service_fn(|sku: u32| async move { Ok::<_, std::io::Error>(sku) }));
//!
//! // Off: every call reaches the dependency.
//! for sku in 0..20 {
//!     assert_eq!(client.ready().await?.call(sku).await?, sku);
//! }
//! // On: half the calls fail, and the breaker opens.
//! chaos.enable();
//! for sku in 0..40 {
//!     let _ = client.ready().await?.call(sku).await;
//! }
//! assert_eq!(breaker.state(), State::Open);
//! # Ok(())
//! # }
//! ```
//!
//! # Cost
//!
//! Switched off: one relaxed load of the switch in `poll_ready`, no lock, no
//! allocation, no draw (about 5 ns a call over a bare service's 0.3 ns in
//! `benches/chaos.rs`, most of it the wrapper's bookkeeping). Switched on:
//! one `fetch_add` on the shared draw counter and a shared read lock on the
//! faults (about 11 ns); for a call that gets a fault, a counter increment,
//! an event if anyone listens, and whatever the fault's closure does; a
//! delayed call allocates its timer.
//!
//! # Reproducibility
//!
//! Each decision takes the next value of the seeded sequence: one per
//! `poll_ready` that finds no decision pending (so a service polled ready and
//! then dropped uses one up). Calls made one after another get the same
//! faults in every run with the same seed and faults; concurrent calls share
//! out the same values in whatever order they reach the counter.

pub mod error;
pub mod future;

mod config;
mod event;
mod fault;
mod handle;
mod layer;
mod rng;
mod service;
#[cfg(feature = "tracing")]
mod trace;

pub use self::config::{ChaosConfig, ChaosConfigBuilder};
pub use self::event::ChaosEvent;
pub use self::fault::{Fault, FaultKind, Latency};
pub use self::handle::Chaos;
pub use self::layer::ChaosLayer;
pub use self::service::ChaosService;
