//! What keeps a probe cheap: `/readyz` (and `/health` without details) answer
//! from the cached summary, refreshed only when something changed, and run
//! due checks in at most one probe at a time.
//!
//! A probe costs about what `/livez` does when nothing is due: a few atomic
//! loads, a clock read and a read lock on the summary. It spawns nothing, runs
//! no component's `check` and builds no report. Work happens only when it is
//! owed: a change a listener announced (a breaker's transition), a bulkhead
//! whose status moved, or checks whose minimum interval has passed (then one
//! probe runs them, the others answer from the cache meanwhile).

use std::sync::Weak;
use std::time::Duration;

use crate::sync::{AtomicBool, Ordering};

use super::registry::RegistryState;
use super::{HealthRegistry, Lifecycle, Status};

/// What a probe answers with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct ProbeAnswer {
    pub(super) status: Status,
    pub(super) ready: bool,
    pub(super) lifecycle: Lifecycle,
}

impl HealthRegistry {
    /// Marks the summary stale and refreshes it in a task of its own, on the
    /// current runtime or the one the registry was set up in; without either,
    /// the next [`summary`](HealthRegistry::summary) read or probe refreshes
    /// it. One refresh is scheduled at a time, however many changes arrive
    /// meanwhile: it reads the states after they happened.
    ///
    /// Called by the listeners on breakers, bulkheads and canaries, from
    /// inside whatever moved them (often a request): nothing here calls a
    /// component, takes a lock or waits.
    pub(super) fn schedule_refresh(registry: &Weak<RegistryState>) {
        let Some(state) = registry.upgrade() else {
            return;
        };
        let probe = &state.probe;
        // Relaxed load first, so a flood of changes does not fight over the
        // line; AcqRel swap: the change that called us happens before the
        // refresh that clears the flag (Acquire in `refresh_if_pending`).
        if probe.refresh_pending.load(Ordering::Relaxed)
            || probe.refresh_pending.swap(true, Ordering::AcqRel)
        {
            return;
        }
        let runtime = tokio::runtime::Handle::try_current()
            .ok()
            .or_else(|| probe.runtime.get().cloned());
        if let Some(runtime) = runtime {
            let registry = registry.clone();
            drop(runtime.spawn(async move {
                if let Some(registry) = HealthRegistry::upgrade(&registry) {
                    registry.refresh_if_pending();
                }
            }));
        }
    }

    /// Refreshes the summary if a listener announced a change since the last
    /// refresh.
    pub(super) fn refresh_if_pending(&self) {
        let pending = &self.state.probe.refresh_pending;
        // Cleared before the refresh, so a change during it schedules another.
        if pending.load(Ordering::Relaxed) && pending.swap(false, Ordering::AcqRel) {
            self.refresh();
        }
    }

    /// Refreshes the summary if a polled component's status moved since it
    /// was last published.
    pub(super) fn refresh_if_polled_moved(&self) {
        if !self.state.probe.has_polled.load(Ordering::Relaxed) {
            return;
        }
        let moved = self
            .state
            .components
            .lock()
            .iter()
            .any(|entry| entry.polled && entry.moved());
        if moved {
            self.refresh();
        }
    }

    /// Runs the checks if they are due and no other probe is running them.
    async fn run_due_checks(&self) {
        let probe = &self.state.probe;
        // Acquire: pairs with `checks_added`.
        if probe.clock.now_nanos() < probe.checks_due.load(Ordering::Acquire) {
            return;
        }
        // Acquire: the previous run's results are seen by this one.
        if probe.checking.swap(true, Ordering::Acquire) {
            return;
        }
        let _running = Running(&probe.checking);
        let epoch = probe.checks_epoch.load(Ordering::Acquire);
        let checked: Vec<_> = self
            .entries()
            .into_iter()
            .filter(|entry| entry.check_interval.is_some())
            .collect();
        let _ = self.look_at(&checked).await;
        self.refresh();
        let next = checked
            .iter()
            .filter_map(|entry| entry.check_interval)
            .min()
            .map_or(u64::MAX, |interval| {
                probe.clock.now_nanos().saturating_add(nanos(interval))
            });
        let raced = probe.checks_epoch.load(Ordering::Acquire) != epoch;
        // Release: pairs with the Acquire load above.
        probe
            .checks_due
            .store(if raced { 0 } else { next }, Ordering::Release);
    }

    /// What `/readyz` answers: the cached summary, refreshed first only if
    /// something changed or checks are due.
    pub(super) async fn probe(&self) -> ProbeAnswer {
        self.refresh_if_pending();
        self.refresh_if_polled_moved();
        self.run_due_checks().await;
        let summary = self.state.summary.sender.borrow();
        ProbeAnswer {
            status: summary.status,
            ready: summary.ready,
            lifecycle: summary.lifecycle,
        }
    }
}

/// Clears the "checks running" flag however the run ends (a probe dropped
/// half-way included).
struct Running<'a>(&'a AtomicBool);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        // Release: pairs with the Acquire swap of the next run.
        self.0.store(false, Ordering::Release);
    }
}

fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}
