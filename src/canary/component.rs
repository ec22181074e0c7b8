//! A canary in the health registry.

use crate::health::{Component, ComponentFuture, Details, Status};

use super::{Canary, Phase};

/// A canary in the health registry: up while it runs, is paused or has
/// promoted; [`Degraded`](Status::Degraded) once rolled back (the stable
/// service answers everything, but the release failed and wants a look).
/// Its details carry the phase, the weight, the step and both sides'
/// numbers.
///
/// ```
/// use seawall::canary::{Canary, CanaryConfig};
/// use seawall::health::{Criticality, HealthRegistry, Status};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let rollout = Canary::new(CanaryConfig::default());
/// let health = HealthRegistry::new();
/// health.register_canary(&rollout, Criticality::non_critical());
/// health.mark_started();
/// rollout.roll_back();
/// let report = health.report().await;
/// assert_eq!(report.status, Status::Degraded);
/// assert_eq!(report.components[0].details.state.as_deref(), Some("rolled_back"));
/// # }
/// ```
impl Component for Canary {
    fn name(&self) -> &str {
        self.core.config.name()
    }

    fn kind(&self) -> &str {
        "canary"
    }

    fn status(&self) -> Option<Status> {
        Some(status_of(self.phase()))
    }

    fn check(&self) -> ComponentFuture<'_> {
        let word = self.core.load();
        let analysis = self.core.analysis(word, self.core.now());
        let mut details = Details::new(status_of(word.phase()));
        details.state = Some(word.phase().as_str().to_owned());
        details.failure_rate = analysis.candidate.failure_rate;
        let millis =
            |latency: Option<std::time::Duration>| latency.map(|l| l.as_secs_f64() * 1000.0);
        let details = details
            .with_extra("weight_percent", f64::from(word.weight()) / 100.0)
            .with_extra("step", word.step() as u64)
            .with_extra("candidate_calls", analysis.candidate.calls)
            .with_extra("candidate_failures", analysis.candidate.failures)
            .with_extra("candidate_latency_ms", millis(analysis.candidate.latency))
            .with_extra("stable_calls", analysis.stable.calls)
            .with_extra("stable_failures", analysis.stable.failures)
            .with_extra("stable_latency_ms", millis(analysis.stable.latency));
        Box::pin(std::future::ready(details))
    }
}

fn status_of(phase: Phase) -> Status {
    match phase {
        Phase::RolledBack => Status::Degraded,
        Phase::Running | Phase::Paused | Phase::Promoted => Status::Up,
    }
}
