//! The `grpc.health.v1` bridge: tonic-health's statuses kept in step with a
//! [`HealthRegistry`].
//!
//! gRPC clients, load balancers and `grpc_health_probe` ask the standard
//! `grpc.health.v1.Health` service. [`spawn_bridge`] serves them the registry's
//! view through tonic-health's [`HealthReporter`]:
//!
//! - the overall service `""` is `SERVING` exactly when the registry is
//!   [ready](super::HealthSummary::ready) (started, not draining, not down);
//! - each component is a service of its own name, `NOT_SERVING` while its own
//!   status is [`Down`](super::Status::Down) (an open breaker) and `SERVING`
//!   otherwise.
//!
//! Updates follow [`HealthRegistry::subscribe`]: a registered breaker's
//! transition reaches the registry through its event listener and the bridge
//! at once; nothing polls. Statuses are written only when they change, so
//! `Watch` streams see transitions, not repeats. A deregistered component's
//! service name is cleared (gRPC answers `NOT_FOUND` for it again).
//!
//! Custom [`Check`](super::Check)s run when something asks for a report; where
//! only gRPC clients ask, run them with
//! [`HealthRegistry::spawn_refresher`].

use std::collections::HashMap;

use tokio::task::JoinHandle;
use tonic_health::server::HealthReporter;
use tonic_health::ServingStatus;

use super::{HealthRegistry, HealthSummary, Status};

/// Keeps `reporter` in step with `registry` from now on, in a spawned task.
///
/// The task ends when every clone of the registry is dropped; abort the
/// handle to end it sooner. Must be called within a tokio runtime.
///
/// ```
/// use seawall::breaker::{Breaker, BreakerConfig};
/// use seawall::health::{grpc, Criticality, HealthRegistry};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), seawall::BoxError> {
/// let payments = Breaker::new(BreakerConfig::builder().name("payments").build()?);
/// let health = HealthRegistry::new();
/// health.register_breaker(&payments, Criticality::critical());
///
/// let (reporter, health_service) = tonic_health::server::health_reporter();
/// let bridge = grpc::spawn_bridge(&health, reporter);
/// // tonic::transport::Server::builder().add_service(health_service) ...
/// health.mark_started();
/// # drop(health_service);
/// # bridge.abort();
/// # Ok(())
/// # }
/// ```
pub fn spawn_bridge(registry: &HealthRegistry, mut reporter: HealthReporter) -> JoinHandle<()> {
    let mut summaries = registry.subscribe();
    tokio::spawn(async move {
        let mut sent: HashMap<String, ServingStatus> = HashMap::new();
        loop {
            let summary = summaries.borrow_and_update().clone();
            apply(&mut reporter, &mut sent, &summary).await;
            if summaries.changed().await.is_err() {
                return;
            }
        }
    })
}

fn serving(up: bool) -> ServingStatus {
    if up {
        ServingStatus::Serving
    } else {
        ServingStatus::NotServing
    }
}

async fn apply(
    reporter: &mut HealthReporter,
    sent: &mut HashMap<String, ServingStatus>,
    summary: &HealthSummary,
) {
    let by_name = summary.by_name();
    let wanted = by_name
        .iter()
        .map(|(name, status)| (*name, serving(*status != Status::Down)))
        .chain(std::iter::once(("", serving(summary.ready))));
    for (name, status) in wanted {
        if sent.get(name) != Some(&status) {
            reporter.set_service_status(name, status).await;
            sent.insert(name.to_owned(), status);
        }
    }
    let gone: Vec<String> = sent
        .keys()
        .filter(|name| {
            !name.is_empty() && !summary.components.iter().any(|(known, _)| known == *name)
        })
        .cloned()
        .collect();
    for name in gone {
        reporter.clear_service_status(&name).await;
        sent.remove(&name);
    }
}
