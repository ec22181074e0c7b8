//! Keeping the summary fresh: refreshing it when a component changes, and on
//! a timer for checks nobody probes.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::observe;
use crate::validate::LONGEST_DURATION;

use super::registry::HealthRegistry;
use super::status::{Lifecycle, Status};
use super::summary::HealthSummary;

impl HealthRegistry {
    /// Runs a [`report`](Self::report) every `every` in a spawned task, so
    /// that checks run (within their own minimum interval) and subscribers hear
    /// of their results even when nothing probes: for a service whose health is
    /// read only through [`subscribe`](Self::subscribe) or the gRPC bridge.
    /// Breakers need none of this; they report their transitions themselves.
    ///
    /// The task holds the registry weakly and ends once every clone of it is
    /// dropped; abort the handle to end it sooner. Must be called within a
    /// tokio runtime.
    ///
    /// `every` is kept between [`FASTEST_REFRESH`](Self::FASTEST_REFRESH)
    /// (100 ms) and 7 days: a shorter period (zero included) runs every
    /// 100 ms, a longer one every 7 days.
    ///
    /// ```
    /// use seawall::health::{Check, Criticality, HealthRegistry, Status};
    /// use std::time::Duration;
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let health = HealthRegistry::new();
    /// health.register_check(Check::new("db", || async { Err::<(), _>("refused") }), Criticality::critical());
    /// let mut summaries = health.subscribe();
    /// let refresher = health.spawn_refresher(Duration::from_secs(5));
    /// summaries.changed().await.unwrap();
    /// assert_eq!(summaries.borrow().status, Status::Down);
    /// # refresher.abort();
    /// # }
    /// ```
    pub fn spawn_refresher(&self, every: Duration) -> tokio::task::JoinHandle<()> {
        self.state.probe.remember_runtime();
        let every = every.clamp(Self::FASTEST_REFRESH, LONGEST_DURATION);
        let registry = Arc::downgrade(&self.state);
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                let Some(registry) = HealthRegistry::upgrade(&registry) else {
                    return;
                };
                let _ = registry.report().await;
            }
        })
    }

    /// A receiver of the [`HealthSummary`], marked changed whenever it does.
    ///
    /// Lifecycle changes and registrations update it at once; transitions of
    /// registered breakers, bulkheads and canaries on the runtime's next turn
    /// (a task of its own refreshes it, off the path of the request that
    /// moved them); checks only when they run (a due `/readyz` probe, a
    /// [`report`](Self::report), a [`spawn_refresher`](Self::spawn_refresher)
    /// tick).
    pub fn subscribe(&self) -> watch::Receiver<HealthSummary> {
        self.state.probe.remember_runtime();
        self.state.summary.sender.subscribe()
    }

    /// The fastest a [`spawn_refresher`](Self::spawn_refresher) task runs:
    /// 100 ms. Faster is a unit mistake, and each run looks at every
    /// component.
    pub const FASTEST_REFRESH: Duration = Duration::from_millis(100);

    /// The summary as last computed, brought up to date first if a
    /// registered handle changed since (see
    /// [`register_breaker`](Self::register_breaker) and
    /// [`register_bulkhead`](Self::register_bulkhead)). Runs no check.
    pub fn summary(&self) -> HealthSummary {
        self.refresh_if_pending();
        self.refresh_if_polled_moved();
        self.state.summary.sender.borrow().clone()
    }

    /// Recomputes the summary from each component's last known status,
    /// notifies subscribers if it changed and sets the status gauges. Cheap:
    /// runs no check.
    ///
    /// A component whose [`status`](super::Component::status) panics counts
    /// as down, and is not asked again for 30 seconds.
    pub fn refresh(&self) {
        let ticket = self.state.summary.ticket();
        let lifecycle = self.lifecycle();
        let entries = self.entries();
        let mut status = Status::Up;
        let mut components = Vec::with_capacity(entries.len());
        for entry in &entries {
            // A panicking `status` (of a custom component) counts as down; it must not
            // unwind into a probe.
            let own = entry.status();
            entry.publish(own);
            if let Some(own) = own {
                status = status.max(entry.criticality.impact(own));
                components.push((entry.component.name().to_owned(), own));
            }
        }
        self.publish(
            ticket,
            HealthSummary {
                status,
                ready: lifecycle == Lifecycle::Serving && status != Status::Down,
                lifecycle,
                components,
            },
        );
    }

    /// Publishes `summary`, read under `ticket`, unless a later read is out.
    fn publish(&self, ticket: u64, summary: HealthSummary) {
        let cache = &self.state.summary;
        let mut published = cache.published.lock();
        if ticket < *published {
            return;
        }
        *published = ticket;
        for (name, status) in summary.by_name() {
            metrics::gauge!(observe::HEALTH_STATUS, "component" => name.to_owned())
                .set(status.as_gauge());
        }
        let gauges = &self.state.gauges;
        gauges.overall.set(summary.status.as_gauge());
        gauges.ready.set(if summary.ready { 1.0 } else { 0.0 });
        cache.sender.send_if_modified(|current| {
            if *current == summary {
                false
            } else {
                *current = summary;
                true
            }
        });
    }
}
