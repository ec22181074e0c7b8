//! A bulkhead: cap how many calls to one dependency are in flight at once.
//!
//! # Why
//!
//! A slow dependency does not fail; it holds on. Every call to it keeps a
//! connection, a buffer and a task busy, and with no cap a burst of slow calls
//! to *one* dependency takes all of them, so calls to healthy dependencies
//! starve too. A bulkhead (named after the walls that keep one flooded
//! compartment from sinking a ship) gives each dependency a fixed number of
//! slots: when they are all taken, further calls are refused at once with
//! [`BulkheadFull`](error::BulkheadFull) instead of piling up.
//!
//! Refusing is usually better than queueing: a queue only hides overload until
//! it turns into latency for everyone. Where a short burst is expected, a
//! bulkhead may let a *bounded* number of callers wait a *bounded* time for a
//! slot ([`wait_for_slot`](BulkheadConfigBuilder::wait_for_slot)); freed slots
//! go to them in arrival order. There is no unbounded queue.
//!
//! # Placement
//!
//! Inside the circuit breaker, outside the timeout:
//! `Fallback -> Retry -> CircuitBreaker -> Bulkhead -> Timeout -> client`. A
//! full bulkhead is local overload, not a fault of the dependency, so the
//! breaker's default classifier ignores it.
//!
//! # Cost
//!
//! Taking a slot is one CAS on a shared counter and giving it back one
//! `fetch_sub`; no lock is taken unless callers are waiting. Each call clones
//! one `Arc`.
//!
//! # Observing
//!
//! Metrics go through the [`metrics`] crate (see [`observe`](crate::observe)
//! for their names); [`Bulkhead::on_event`] registers a listener for every
//! refusal and every wait that ended ([`BulkheadEvent`]). With no listener
//! registered, no event is built.
//!
//! # Per key
//!
//! [`KeyedBulkhead`] keeps a bulkhead per tenant, host or shard, at most a
//! given number of them, so one tenant cannot take every slot. A busy one is
//! never evicted, so no key runs more calls than its cap.
//!
//! # Without tower
//!
//! [`Bulkhead::try_acquire`] gives a [`BulkheadPermit`] or a refusal;
//! [`Bulkhead::acquire`] waits as configured. The slot is held until the
//! permit is dropped.
//!
//! ```
//! use seawall::bulkhead::{Bulkhead, BulkheadConfig};
//!
//! let bulkhead = Bulkhead::new(BulkheadConfig::builder().max_concurrent_calls(2).build()?);
//! let a = bulkhead.try_acquire()?;
//! let _b = bulkhead.try_acquire()?;
//! assert!(bulkhead.try_acquire().is_err(), "full");
//! drop(a);
//! assert!(bulkhead.try_acquire().is_ok(), "a slot was given back");
//! assert_eq!(bulkhead.rejected(), 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod error;
pub mod future;

mod config;
mod event;
mod handle;
mod keyed;
mod layer;
#[cfg(all(test, loom))]
mod loom_tests;
mod permit;
mod service;
mod slots;
#[cfg(feature = "tracing")]
mod trace;

pub use self::config::{BulkheadConfig, BulkheadConfigBuilder};
pub use self::event::BulkheadEvent;
pub use self::handle::Bulkhead;
pub use self::keyed::{KeyedBulkhead, KeyedBulkheadLayer, KeyedBulkheadService};
pub use self::layer::BulkheadLayer;
pub use self::permit::BulkheadPermit;
pub use self::service::BulkheadService;
