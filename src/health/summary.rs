//! The last known health, kept up to date for subscribers and gauges.

use tokio::sync::watch;

use crate::sync::{AtomicU64, Mutex, Ordering};

use super::status::{Lifecycle, Status};

/// The last known health, as sent to
/// [`HealthRegistry::subscribe`](super::HealthRegistry::subscribe)rs.
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
    pub(super) sender: watch::Sender<HealthSummary>,
    /// The next refresh's ticket.
    next_ticket: AtomicU64,
    /// The ticket of the summary published last; held while publishing, so
    /// publications are one at a time.
    pub(super) published: Mutex<u64>,
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
    pub(super) fn ticket(&self) -> u64 {
        // AcqRel: every ticket taking is one read-modify-write of the counter, so a
        // later ticket's Acquire synchronises with an earlier one's Release. Whatever
        // happened before an earlier refresh started (the transition that triggered
        // it) therefore happens before a later refresh reads the states.
        self.next_ticket.fetch_add(1, Ordering::AcqRel)
    }
}
