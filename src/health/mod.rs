//! A health reporter: liveness, readiness and a detailed report, built from the
//! state of breakers and of cheap, cached checks.
//!
//! # Why
//!
//! Load balancers, orchestrators (Kubernetes probes, ECS health checks) and
//! canary releases steer traffic by what a service says about its health. Two
//! classic mistakes turn that signal against the service:
//!
//! - a **liveness** probe that fails because a dependency is down makes the
//!   orchestrator restart pods that are perfectly healthy, which fixes nothing
//!   and adds a cold start to the outage. Here liveness never looks at a
//!   dependency: [`HealthRegistry::live`] is true as long as the process
//!   answers;
//! - a health endpoint that calls the dependency it reports on turns every
//!   probe into load on something already struggling. Here breakers report
//!   what they already know (no call), and a custom [`Check`] keeps its result
//!   for a minimum interval and runs at most once at a time, however many
//!   probes arrive.
//!
//! **Readiness** (may this instance take traffic?) is where dependencies
//! count, and only as much as they matter: each component is registered with a
//! [`Criticality`]. An open breaker in front of a critical dependency without a
//! fallback makes the instance not ready; a non-critical dependency, or one the
//! service can answer without (a [`FallbackService`](Criticality::with_fallback)),
//! only marks the report [`Degraded`](Status::Degraded).
//!
//! Readiness is also false until the service says it has started
//! ([`HealthRegistry::mark_started`]) and turns false at once on
//! [`HealthRegistry::shutdown`], while liveness stays true and in-flight
//! requests, counted by the [`InFlightLayer`], finish
//! ([`HealthRegistry::drain`], or [`error::DrainTimedOut`]): the "fast startup
//! and graceful shutdown" of a twelve-factor service.
//!
//! # How
//!
//! - [`HealthRegistry`] holds the components and the lifecycle; clones share it.
//! - [`HealthService`] answers `GET`/`HEAD` `/livez`, `/readyz` and `/health`
//!   over HTTP (JSON, or HTML for a browser), mountable in axum. Probes are
//!   answered from the cached [`HealthSummary`], so a flood of them costs
//!   about what a flood of `/livez` does; the detailed report (with each
//!   check's error text) is served only when asked for
//!   ([`HealthService::details`]).
//! - With the `tonic` feature, [`grpc::spawn_bridge`] keeps tonic-health's
//!   `grpc.health.v1` statuses in step with the registry.
//! - [`HealthRegistry::subscribe`] gives a `tokio::sync::watch` receiver of the
//!   [`HealthSummary`], updated the moment a registered breaker changes state,
//!   a check finishes or the lifecycle moves.
//! - Breakers and bulkheads report through [`BreakerComponent`] and
//!   [`BulkheadComponent`] (one [`HandleComponent`] over what each knows);
//!   anything else with a health (a connection pool, a queue) becomes a
//!   component by implementing [`Component`].
//!
//! ```
//! use seawall::breaker::{Breaker, BreakerConfig};
//! use seawall::health::{Check, Criticality, HealthRegistry, Status};
//! use std::time::Duration;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), seawall::BoxError> {
//! let payments = Breaker::new(BreakerConfig::builder().name("payments").build()?);
//! let recommendations = Breaker::new(BreakerConfig::builder().name("recommendations").build()?);
//!
//! let health = HealthRegistry::new();
//! health.register_breaker(&payments, Criticality::critical());
//! health.register_breaker(&recommendations, Criticality::non_critical());
//! health.register_check(
//!     Check::new("database", || async { Ok::<_, std::io::Error>(()) })
//!         .timeout(Duration::from_millis(500))
//!         .min_interval(Duration::from_secs(5)),
//!     Criticality::critical(),
//! );
//! assert!(!health.report().await.ready, "not ready before start-up is done");
//! health.mark_started();
//!
//! recommendations.force_open();
//! let report = health.report().await;
//! assert_eq!(report.status, Status::Degraded);
//! assert!(report.ready);
//!
//! payments.force_open();
//! let report = health.report().await;
//! assert_eq!(report.status, Status::Down);
//! assert!(!report.ready);
//! assert!(health.live());
//! # Ok(())
//! # }
//! ```
//!
//! # Metrics
//!
//! The status gauges are set whenever the [`HealthSummary`] is recomputed, the
//! in-flight gauge on every request in and out. Handles without a component
//! label are resolved when the registry is built, so install the recorder
//! first. Names in [`observe`](crate::observe).
//!
//! | name | kind | labels | meaning |
//! |---|---|---|---|
//! | `seawall_health_status` | gauge | `component` | a component's own status (the worst of those sharing a name): 0 up, 1 degraded, 2 down |
//! | `seawall_health_overall_status` | gauge | | the overall status after criticality: 0 up, 1 degraded, 2 down |
//! | `seawall_health_ready` | gauge | | 1 when ready, 0 when not (starting, draining or down) |
//! | `seawall_health_in_flight` | gauge | | requests counted by the [`InFlightLayer`] |

mod check;
mod component;
mod entry;
pub mod error;
pub mod future;
mod handle;
mod http;
mod layer;
mod lifecycle;
mod probe;
mod probe_state;
mod refresh;
mod registry;
mod report;
mod service;
mod status;
mod summary;

#[cfg(feature = "tonic")]
pub mod grpc;

pub use self::check::Check;
pub use self::component::{Component, ComponentFuture, Details};
#[cfg(feature = "bulkhead")]
pub use self::handle::BulkheadComponent;
pub use self::handle::{BreakerComponent, HandleComponent};
pub use self::http::HealthService;
pub use self::layer::InFlightLayer;
pub use self::lifecycle::InFlightGuard;
pub use self::registry::HealthRegistry;
pub use self::report::{ComponentReport, HealthReport};
pub use self::service::InFlightService;
pub use self::status::{Criticality, Lifecycle, Status};
pub use self::summary::HealthSummary;
