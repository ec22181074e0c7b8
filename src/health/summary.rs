//! The last known health, kept up to date for subscribers and gauges.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::observe;
use crate::sync::{AtomicU64, Mutex, Ordering};

use super::lifecycle::Lifecycle;
use super::{HealthRegistry, Status};

/// The last known health, as sent to [`HealthRegistry::subscribe`]rs.
///
/// Built without running any check: breakers report their current state,
/// checks their last result (and are left out until they have one).
///
/// ```
/// use seawall::health::{HealthRegistry, Lifecycle, Status};
///
/// let health = HealthRegistry::new();
/// health.mark_started();
/// let summary = health.summary();
/// assert_eq!((summary.status, summary.ready), (Status::Up, true));
/// assert_eq!(summary.lifecycle, Lifecycle::Serving);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct HealthSummary {
    /// The overall status, after each component's criticality.
    pub status: Status,
    /// Whether the service may take traffic: serving and not down.
    pub ready: bool,
    /// Where the service is in its life.
    pub lifecycle: Lifecycle,
    /// Each component's own status, in registration order. Components of
    /// different kinds may share a name (a preset's breaker and bulkhead do):
    /// [`by_name`](Self::by_name) folds them.
    pub components: Vec<(String, Status)>,
}

impl HealthSummary {
    /// Each name once, in order of first registration, with the worst status
    /// of the components called so: what a name-keyed view (the
    /// `seawall_health_status` gauge, the gRPC bridge's services) shows.
    pub fn by_name(&self) -> Vec<(&str, Status)> {
        let mut names: Vec<(&str, Status)> = Vec::with_capacity(self.components.len());
        for (name, status) in &self.components {
            match names.iter_mut().find(|(known, _)| known == name) {
                Some((_, worst)) => *worst = (*worst).max(*status),
                None => names.push((name, *status)),
            }
        }
        names
    }
}

/// The summary subscribers see, and the order refreshes publish it in.
///
/// A refresh takes a ticket, then reads every component's state, then
/// publishes unless a refresh with a later ticket already has. A later ticket
/// was taken after this one, so its reads saw every change that triggered this
/// refresh: dropping the older summary loses nothing, and a stale summary
/// never overwrites a newer one. No lock is held while components are read,
/// so a component whose `status` itself moves a breaker (and so refreshes,
/// on the same thread) cannot deadlock.
pub(super) struct SummaryCache {
    sender: watch::Sender<HealthSummary>,
    /// The next refresh's ticket.
    next_ticket: AtomicU64,
    /// The ticket of the summary published last; held while publishing, so
    /// publications are one at a time.
    published: Mutex<u64>,
}

impl SummaryCache {
    pub(super) fn new() -> Self {
        let (sender, _) = watch::channel(HealthSummary {
            status: Status::Up,
            ready: false,
            lifecycle: Lifecycle::Starting,
            components: Vec::new(),
        });
        Self {
            sender,
            next_ticket: AtomicU64::new(1),
            published: Mutex::new(0),
        }
    }

    /// A ticket for a refresh about to read the states.
    fn ticket(&self) -> u64 {
        // AcqRel: every ticket taking is one read-modify-write of the counter, so a
        // later ticket's Acquire synchronises with an earlier one's Release. Whatever
        // happened before an earlier refresh started (the transition that triggered
        // it) therefore happens before a later refresh reads the states.
        self.next_ticket.fetch_add(1, Ordering::AcqRel)
    }
}

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
    /// Breaker transitions, lifecycle changes and registrations update it at
    /// once; checks only when they run (a probe, a [`report`](Self::report),
    /// a [`spawn_refresher`](Self::spawn_refresher) tick).
    pub fn subscribe(&self) -> watch::Receiver<HealthSummary> {
        self.state.summary.sender.subscribe()
    }

    /// The summary as last computed.
    pub fn summary(&self) -> HealthSummary {
        self.state.summary.sender.borrow().clone()
    }

    /// Recomputes the summary from each component's last known status,
    /// notifies subscribers if it changed and sets the status gauges. Cheap:
    /// runs no check.
    pub fn refresh(&self) {
        let ticket = self.state.summary.ticket();
        let lifecycle = self.lifecycle();
        let entries = self.entries();
        let mut status = Status::Up;
        let mut components = Vec::with_capacity(entries.len());
        for (component, criticality) in &entries {
            // A panicking `status` (of a custom component) counts as down; it must not
            // unwind into a breaker's transition or a probe.
            let own = std::panic::catch_unwind(AssertUnwindSafe(|| component.status()))
                .unwrap_or(Some(Status::Down));
            if let Some(own) = own {
                status = status.max(criticality.impact(own));
                components.push((component.name().to_owned(), own));
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
