//! The clock every time-based decision in seawall reads.
//!
//! By default it is [`tokio::time::Instant`], so `tokio::time::pause()` and
//! `tokio::time::advance()` drive open waits, half-open timeouts, time windows
//! and slow-call detection in tests without a single real sleep. A
//! [`ManualClock`] does the same outside a runtime (message consumers, property
//! tests, model checking).
//!
//! # Cost
//!
//! A tokio clock read is a `clock_gettime` call: about 25 ns on a typical
//! x86-64 Linux machine, more in some virtual machines. A breaker with
//! slow-call detection reads it twice per call (start and end) and a time
//! window once. Where that matters, the `quanta` feature adds
//! [`Clock::quanta`], which reads the CPU's time-stamp counter instead (a few
//! nanoseconds), at the price that `tokio::time::pause` no longer drives it:
//! tests then use a [`ManualClock`] or [`Clock::from_quanta`] with
//! `quanta::Clock::mock()`.

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
    Tokio {
        origin: tokio::time::Instant,
    },
    Manual(Arc<AtomicU64>),
    #[cfg(feature = "quanta")]
    Quanta {
        clock: quanta::Clock,
        /// The raw counter value when the clock was made.
        origin: u64,
    },
    #[cfg(feature = "quanta")]
    QuantaRecent {
        clock: quanta::Clock,
        origin: quanta::Instant,
    },
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

    /// A clock on the CPU's time-stamp counter, through [`quanta`], calibrated
    /// against the system's monotonic clock (quanta falls back to that clock
    /// where the counter is not usable).
    ///
    /// Several times cheaper to read than [`Clock::tokio`], which makes
    /// slow-call detection affordable on a hot path. It is real time only:
    /// `tokio::time::pause` does not stop it, so tests drive a breaker built
    /// with it through [`Clock::from_quanta`] and `quanta::Clock::mock()`, or
    /// use [`Clock::manual`].
    ///
    /// ```
    /// use seawall::breaker::BreakerConfig;
    /// use seawall::clock::Clock;
    /// use std::time::Duration;
    ///
    /// let config = BreakerConfig::builder()
    ///     .slow_call_duration_threshold(Duration::from_millis(250))
    ///     .clock(Clock::quanta())
    ///     .build()?;
    /// # Ok::<(), seawall::ConfigError>(())
    /// ```
    #[cfg(feature = "quanta")]
    pub fn quanta() -> Self {
        Self::from_quanta(quanta::Clock::new())
    }

    /// A coarse clock: the time an upkeep thread last published, through
    /// [`quanta::Clock::recent`]. Reading it is one atomic load, so slow-call
    /// detection costs next to nothing; its resolution is the upkeep interval.
    ///
    /// Start the upkeep thread yourself and keep its handle alive, for example
    /// `quanta::Upkeep::new(Duration::from_millis(1)).start()`. Until it has
    /// published a time, this clock reads the counter like [`Clock::quanta`].
    /// Choose it when the slow-call threshold is far above the interval (a
    /// 1 ms interval for thresholds of tens of milliseconds and up); not for
    /// time windows' bucket edges or open waits finer than that.
    #[cfg(feature = "quanta")]
    pub fn quanta_recent() -> Self {
        let clock = quanta::Clock::new();
        Self {
            source: Source::QuantaRecent {
                origin: clock.now(),
                clock,
            },
        }
    }

    /// A clock reading `clock`: a real one, or `quanta::Clock::mock()` to
    /// drive time by hand in tests.
    ///
    /// ```
    /// use seawall::clock::Clock;
    /// use std::time::Duration;
    ///
    /// let (mock, hand) = quanta::Clock::mock();
    /// let clock = Clock::from_quanta(mock);
    /// hand.increment(Duration::from_millis(40));
    /// assert_eq!(clock.elapsed(), Duration::from_millis(40));
    /// ```
    #[cfg(feature = "quanta")]
    pub fn from_quanta(clock: quanta::Clock) -> Self {
        let origin = clock.raw();
        Self {
            source: Source::Quanta { clock, origin },
        }
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
            // The raw counter and one scaling multiply: no system call, no `Duration`.
            #[cfg(feature = "quanta")]
            Source::Quanta { clock, origin } => clock.delta_as_nanos(*origin, clock.raw()),
            #[cfg(feature = "quanta")]
            Source::QuantaRecent { clock, origin } => {
                // Before the upkeep thread publishes a time the recent time reads as
                // zero, before the origin: read the counter then.
                let elapsed = clock
                    .recent()
                    .checked_duration_since(*origin)
                    .unwrap_or_else(|| clock.now().saturating_duration_since(*origin));
                u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX)
            }
        }
    }

    /// The `tokio::time::Instant` that corresponds to `nanos` on this clock, for
    /// arming a timer. `None` for a manual clock, which no timer can follow.
    /// (A mocked quanta clock cannot be followed either; its timers fire in
    /// real time. Under loom no timer is ever armed.)
    #[cfg(not(loom))]
    pub(crate) fn tokio_instant_at(&self, nanos: u64) -> Option<tokio::time::Instant> {
        match &self.source {
            Source::Tokio { origin } => origin.checked_add(Duration::from_nanos(nanos)),
            Source::Manual(_) => None,
            // Real time on both sides: the same distance from now.
            #[cfg(feature = "quanta")]
            Source::Quanta { .. } | Source::QuantaRecent { .. } => tokio::time::Instant::now()
                .checked_add(Duration::from_nanos(nanos.saturating_sub(self.now_nanos()))),
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
            #[cfg(feature = "quanta")]
            Source::Quanta { .. } => "quanta",
            #[cfg(feature = "quanta")]
            Source::QuantaRecent { .. } => "quanta-recent",
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
