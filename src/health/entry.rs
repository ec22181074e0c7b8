//! A registered component, with what the registry remembers about it: how
//! often its check is due, the status last published for it, and whether it
//! panicked recently.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::sync::{AtomicU32, Mutex, Ordering};

use super::{Component, Criticality, Details, Status};

/// How long a component that panicked is left alone: it is reported down with
/// the panic's message meanwhile, and looked at again after this. A panic
/// prints through the panic hook, so a component that panics on every look
/// would otherwise print (and spend) once per probe.
pub(super) const PANICKED_PAUSE: Duration = Duration::from_secs(30);

/// A registered component.
pub(super) struct Entry {
    pub(super) component: Arc<dyn Component>,
    pub(super) criticality: Criticality,
    /// What [`Component::check_interval`] said at registration.
    pub(super) check_interval: Option<Duration>,
    /// Looked at again on every probe: its status changes without telling
    /// anyone (a bulkhead).
    pub(super) polled: bool,
    /// The status last published for it, as [`encode`]d.
    published: AtomicU32,
    /// Until when a panicking `status` is not called again.
    status_paused: Mutex<Option<Instant>>,
    /// Until when a panicking `check` is not run again, and what it said.
    check_paused: Mutex<Option<(Instant, Details)>>,
}

impl Entry {
    pub(super) fn new(
        component: Arc<dyn Component>,
        criticality: Criticality,
        polled: bool,
    ) -> Self {
        Self {
            check_interval: component.check_interval(),
            component,
            criticality,
            polled,
            published: AtomicU32::new(UNPUBLISHED),
            status_paused: Mutex::new(None),
            check_paused: Mutex::new(None),
        }
    }

    /// The component's status now. A `status` that panics counts as down and
    /// is not called again for [`PANICKED_PAUSE`].
    pub(super) fn status(&self) -> Option<Status> {
        let now = Instant::now();
        let mut paused = self.status_paused.lock();
        if paused.is_some_and(|until| now < until) {
            return Some(Status::Down);
        }
        // The lock is this entry's alone and only ever taken here: a `status`
        // that reads the registry (or trips a breaker it watches) cannot come
        // back to it.
        match std::panic::catch_unwind(AssertUnwindSafe(|| self.component.status())) {
            Ok(status) => {
                *paused = None;
                status
            }
            Err(_) => {
                *paused = now.checked_add(PANICKED_PAUSE);
                Some(Status::Down)
            }
        }
    }

    /// Remembers `status` as published.
    pub(super) fn publish(&self, status: Option<Status>) {
        // Relaxed: a hint for the next probe; publishing itself is ordered by
        // the summary's lock.
        self.published.store(encode(status), Ordering::Relaxed);
    }

    /// Whether the status now differs from the one last published.
    pub(super) fn moved(&self) -> bool {
        // Relaxed: see `publish`.
        encode(self.status()) != self.published.load(Ordering::Relaxed)
    }

    /// What the last `check` said, while it panicked less than
    /// [`PANICKED_PAUSE`] ago.
    pub(super) fn paused_check(&self) -> Option<Details> {
        let paused = self.check_paused.lock();
        let (until, details) = paused.as_ref()?;
        (Instant::now() < *until).then(|| details.clone())
    }

    /// Records that `check` panicked, saying `details`.
    pub(super) fn check_panicked(&self, details: &Details) {
        if let Some(until) = Instant::now().checked_add(PANICKED_PAUSE) {
            *self.check_paused.lock() = Some((until, details.clone()));
        }
    }
}

const UNPUBLISHED: u32 = u32::MAX;

fn encode(status: Option<Status>) -> u32 {
    match status {
        None => 0,
        Some(Status::Up) => 1,
        Some(Status::Degraded) => 2,
        Some(Status::Down) => 3,
    }
}
