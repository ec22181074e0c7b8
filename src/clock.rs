//! The clock every time-based decision in seawall reads.
//!
//! By default it is [`tokio::time::Instant`], so `tokio::time::pause()` and
//! `tokio::time::advance()` drive open waits, half-open timeouts, time windows
//! and slow-call detection in tests without a single real sleep. A
//! [`ManualClock`] does the same outside a runtime (message consumers, property
//! tests, model checking).

use std::fmt;
use std::time::Duration;

use crate::sync::{Arc, AtomicU64, Ordering};

/// A monotonic time source, read as nanoseconds since the clock was made.
///
/// Cheap to clone; clones read the same time.
///
/// ```
/// use seawall::clock::Clock;
/// use std::time::Duration;
///
/// let (clock, hand) = Clock::manual();
/// hand.advance(Duration::from_millis(1500));
/// assert_eq!(clock.elapsed(), Duration::from_millis(1500));
/// ```
#[derive(Clone)]
pub struct Clock {
    source: Source,
}

#[derive(Clone)]
enum Source {
    Tokio { origin: tokio::time::Instant },
    Manual(Arc<AtomicU64>),
}

impl Clock {
    /// A clock on [`tokio::time::Instant`]: real time, or the paused test clock
    /// of the runtime that reads it.
    pub fn tokio() -> Self {
        Self {
            source: Source::Tokio {
                origin: tokio::time::Instant::now(),
            },
        }
    }

    /// A clock that moves only when its [`ManualClock`] hand is advanced.
    pub fn manual() -> (Self, ManualClock) {
        let nanos = Arc::new(AtomicU64::new(0));
        (
            Self {
                source: Source::Manual(nanos.clone()),
            },
            ManualClock { nanos },
        )
    }

    /// Time since the clock was made.
    pub fn elapsed(&self) -> Duration {
        Duration::from_nanos(self.now_nanos())
    }

    /// Nanoseconds since the clock was made. Monotonic; saturates rather than
    /// wrapping or panicking.
    pub(crate) fn now_nanos(&self) -> u64 {
        match &self.source {
            Source::Tokio { origin } => {
                let elapsed = tokio::time::Instant::now().saturating_duration_since(*origin);
                u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX)
            }
            // Acquire pairs with the Release in `advance`, so a thread that sees the
            // new time also sees what the advancing thread did before it.
            Source::Manual(nanos) => nanos.load(Ordering::Acquire),
        }
    }

    /// The `tokio::time::Instant` that corresponds to `nanos` on this clock, for
    /// arming a timer. `None` for a manual clock, which no timer can follow.
    /// (Under loom no timer is ever armed.)
    #[cfg(not(loom))]
    pub(crate) fn tokio_instant_at(&self, nanos: u64) -> Option<tokio::time::Instant> {
        match &self.source {
            Source::Tokio { origin } => origin.checked_add(Duration::from_nanos(nanos)),
            Source::Manual(_) => None,
        }
    }
}

impl Default for Clock {
    fn default() -> Self {
        Self::tokio()
    }
}

impl fmt::Debug for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.source {
            Source::Tokio { .. } => "tokio",
            Source::Manual(_) => "manual",
        };
        f.debug_struct("Clock")
            .field("source", &kind)
            .field("elapsed", &self.elapsed())
            .finish()
    }
}

/// The hand of a manual [`Clock`]: time moves only when it is advanced.
#[derive(Clone, Debug)]
pub struct ManualClock {
    nanos: Arc<AtomicU64>,
}

impl ManualClock {
    /// Moves the clock forward by `by` (saturating at the far future).
    pub fn advance(&self, by: Duration) {
        let by = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
        // Release: see `Clock::now_nanos`. A CAS loop keeps concurrent advances additive
        // and saturating.
        let mut current = self.nanos.load(Ordering::Relaxed);
        loop {
            let next = current.saturating_add(by);
            match self.nanos.compare_exchange_weak(
                current,
                next,
                Ordering::Release,
                Ordering::Relaxed,
            ) {
                Ok(_) => return,
                Err(actual) => current = actual,
            }
        }
    }
}
