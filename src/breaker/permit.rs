//! The permit a breaker gives an admitted call.

use std::fmt;

use crate::classify::Outcome;
use crate::sync::Arc;

use super::admit::PermitKind;
use super::core::BreakerCore;
use super::state_word::ticket;

/// In a permit's ticket, above the generation: the call is a half-open probe.
pub(super) const PROBE: u64 = 1 << 16;
/// A permit's start time when the breaker does not measure durations.
pub(super) const NOT_TIMED: u64 = u64::MAX;

/// What a permit holds: the core and which stripe to count on.
///
/// Each stripe has its own reference-counted handle on its own cache lines, so
/// the future of a call clones an `Arc` that only its own thread touches: a
/// shared reference count would itself be a cache line every core fights over.
#[repr(align(128))]
pub(super) struct StripeHandle {
    pub(super) core: Arc<BreakerCore>,
    pub(super) index: usize,
}

/// Permission to make one call, from [`Breaker::try_acquire`](super::Breaker::try_acquire).
///
/// Record the outcome with [`record`](Self::record) (or [`success`](Self::success)
/// / [`failure`](Self::failure)). A permit dropped without a record counts as
/// ignored and, half-open, gives its probe slot back, so a cancelled call
/// never wedges the breaker.
///
/// ```
/// use seawall::breaker::{Breaker, BreakerConfig};
/// use seawall::classify::Outcome;
///
/// let breaker = Breaker::new(BreakerConfig::default());
/// let permit = breaker.try_acquire()?;
/// permit.record(Outcome::Failure);
/// assert_eq!(breaker.metrics().failed_calls, 1);
/// drop(breaker.try_acquire()?); // ignored: not counted
/// assert_eq!(breaker.metrics().calls, 1);
/// # Ok::<(), seawall::breaker::error::BreakerOpen>(())
/// ```
#[must_use = "a permit records nothing unless its outcome is recorded"]
pub struct BreakerPermit {
    /// `None` once recorded, or when the breaker is disabled.
    pub(super) stripe: Option<Arc<StripeHandle>>,
    // Whole words only: a permit is written and read back at once on the hot path
    // (service, then future, then the record), and a load that spans several
    // narrower stores cannot be forwarded from them and stalls the core.
    /// The admission's ticket (see `state_word::ticket`), with `PROBE` if
    /// half-open.
    pub(super) ticket: u64,
    /// Start in clock nanoseconds, or `NOT_TIMED`.
    pub(super) started: u64,
}

impl BreakerPermit {
    /// Records how the call went; its duration is measured when the breaker
    /// detects slow calls.
    ///
    /// ```
    /// # use seawall::breaker::{Breaker, BreakerConfig};
    /// use seawall::classify::Outcome;
    /// # let breaker = Breaker::new(BreakerConfig::default());
    /// breaker.try_acquire()?.record(Outcome::Ignored); // neither success nor failure
    /// # Ok::<(), seawall::breaker::error::BreakerOpen>(())
    /// ```
    #[inline]
    pub fn record(mut self, outcome: Outcome) {
        self.finish(outcome);
    }

    /// Records a success.
    ///
    /// ```
    /// # use seawall::breaker::{Breaker, BreakerConfig};
    /// # let breaker = Breaker::new(BreakerConfig::default());
    /// breaker.try_acquire()?.success();
    /// # Ok::<(), seawall::breaker::error::BreakerOpen>(())
    /// ```
    #[inline]
    pub fn success(self) {
        self.record(Outcome::Success);
    }

    /// Records a failure.
    ///
    /// ```
    /// # use seawall::breaker::{Breaker, BreakerConfig};
    /// # let breaker = Breaker::new(BreakerConfig::default());
    /// breaker.try_acquire()?.failure();
    /// # Ok::<(), seawall::breaker::error::BreakerOpen>(())
    /// ```
    #[inline]
    pub fn failure(self) {
        self.record(Outcome::Failure);
    }

    /// How the call was admitted.
    pub(crate) fn kind(&self) -> PermitKind {
        match (self.stripe.is_some(), self.ticket & PROBE != 0) {
            (false, _) => PermitKind::Untracked,
            (true, false) => PermitKind::Window,
            (true, true) => PermitKind::Probe,
        }
    }

    /// The generation the call was admitted under.
    pub(crate) fn generation(&self) -> u16 {
        ticket::generation(self.ticket)
    }

    /// Records `outcome`, in place: a no-op once recorded. The response future
    /// calls it through `&mut` rather than moving the permit out (see
    /// `breaker::future`).
    #[inline(always)]
    pub(super) fn finish(&mut self, outcome: Outcome) {
        if let Some(stripe) = self.stripe.take() {
            let kind = if self.ticket & PROBE != 0 {
                PermitKind::Probe
            } else {
                PermitKind::Window
            };
            stripe.core.record(
                stripe.index,
                kind,
                self.ticket & !PROBE,
                outcome,
                (self.started != NOT_TIMED).then_some(self.started),
            );
        }
    }
}

impl Drop for BreakerPermit {
    #[inline]
    fn drop(&mut self) {
        self.finish(Outcome::Ignored);
    }
}

impl fmt::Debug for BreakerPermit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BreakerPermit")
            .field("kind", &self.kind())
            .field("generation", &self.generation())
            .finish_non_exhaustive()
    }
}
