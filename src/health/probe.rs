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

use std::sync::{OnceLock, Weak};
use std::time::Duration;

use crate::clock::Clock;
use crate::sync::{AtomicBool, AtomicU64, Ordering};

use super::registry::RegistryState;
use super::{HealthRegistry, Lifecycle, Status};

/// The part of the registry's state the probe path reads.
pub(super) struct ProbeState {
    clock: Clock,
    /// A listener announced a change the summary does not show yet.
    refresh_pending: AtomicBool,
    /// Some registered component is polled (see `Entry::polled`).
    has_polled: AtomicBool,
    /// When (in `clock`'s nanoseconds) the checks are next due; `u64::MAX`
    /// while there are none.
    checks_due: AtomicU64,
    /// Counts registrations of components with checks, so that a run that
    /// raced one does not push the new check's first run out.
    checks_epoch: AtomicU64,
    /// A probe is running the due checks.
    checking: AtomicBool,
    /// The runtime the registry was set up in, to refresh on when a
    /// transition happens on a thread outside any runtime.
    runtime: OnceLock<tokio::runtime::Handle>,
}

/// What a probe answers with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct ProbeAnswer {
    pub(super) status: Status,
    pub(super) ready: bool,
    pub(super) lifecycle: Lifecycle,
}

impl ProbeState {
    pub(super) fn new() -> Self {
        Self {
            clock: Clock::tokio(),
            refresh_pending: AtomicBool::new(false),
            has_polled: AtomicBool::new(false),
            checks_due: AtomicU64::new(u64::MAX),
            checks_epoch: AtomicU64::new(0),
            checking: AtomicBool::new(false),
            runtime: OnceLock::new(),
        }
    }

    /// Keeps the current runtime, if any and none is kept yet.
    pub(super) fn remember_runtime(&self) {
        if self.runtime.get().is_none() {
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                let _ = self.runtime.set(runtime);
            }
        }
    }

    /// A component with a check was registered: checks are due now.
    pub(super) fn checks_added(&self) {
        // Release (both): a run that reads the new epoch (Acquire) also sees
        // the entry registered before it.
        self.checks_epoch.fetch_add(1, Ordering::Release);
        self.checks_due.store(0, Ordering::Release);
    }

    /// Whether any registered component is polled.
    pub(super) fn set_polled(&self, polled: bool) {
        // Relaxed: read by probes as a hint; the entries themselves are read
        // under the components' lock.
        self.has_polled.store(polled, Ordering::Relaxed);
    }

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
}

impl HealthRegistry {
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
