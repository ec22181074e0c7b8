//! What the probe path keeps in the registry's shared state: whether a
//! refresh is pending, when the checks are next due, and the runtime to
//! refresh on. The path itself is in `probe.rs`.

use std::sync::OnceLock;

use crate::clock::Clock;
use crate::sync::{AtomicBool, AtomicU64, Ordering};

/// The part of the registry's state the probe path reads.
pub(super) struct ProbeState {
    pub(super) clock: Clock,
    /// A listener announced a change the summary does not show yet.
    pub(super) refresh_pending: AtomicBool,
    /// Some registered component is polled (see `Entry::polled`).
    pub(super) has_polled: AtomicBool,
    /// When (in `clock`'s nanoseconds) the checks are next due; `u64::MAX`
    /// while there are none.
    pub(super) checks_due: AtomicU64,
    /// Counts registrations of components with checks, so that a run that
    /// raced one does not push the new check's first run out.
    pub(super) checks_epoch: AtomicU64,
    /// A probe is running the due checks.
    pub(super) checking: AtomicBool,
    /// The runtime the registry was set up in, to refresh on when a
    /// transition happens on a thread outside any runtime.
    pub(super) runtime: OnceLock<tokio::runtime::Handle>,
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
}
