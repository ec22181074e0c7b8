//! The ratio budget: retries at most a fraction of recent requests, plus a
//! floor per second, over a sliding window kept lock-free.

use std::fmt;
use std::time::Duration;

use crate::clock::Clock;
use crate::error::ConfigError;
use crate::sync::{Arc, AtomicU64, Ordering};

use super::budget::{AttemptEnd, RetryBudget, Withdrawal};

/// One retry costs this many credits; fractions of a retry are thousandths.
const SCALE: u64 = 1_000;
/// How many slices a window is kept in.
const SLICES: usize = 10;
/// Slice word: the slice number in the top 24 bits, the biased balance below.
const BALANCE_BITS: u32 = 40;
const BALANCE_MASK: u64 = (1 << BALANCE_BITS) - 1;
/// A slice's balance is stored plus this bias, so it can go below zero.
const BIAS: u64 = 1 << (BALANCE_BITS - 1);
const EPOCH_MASK: u64 = (1 << (64 - BALANCE_BITS)) - 1;

/// Retries may be at most `ratio` of the requests of a recent window, plus
/// `min_per_second` retries per second whatever the traffic: Finagle's retry
/// budget. Cheap to clone; clones share one budget.
///
/// Under a sustained total failure, attempts stay within
/// `(1 + ratio) x requests + min_per_second x window`.
///
/// # How it differs from tower's `TpsBudget`
///
/// Both follow Finagle, and both keep the window in ten slices; the
/// arithmetic differs in two places, on purpose:
///
/// - **The cost of a retry.** tower makes a request earn one deposit and a
///   retry cost `floor(1 / ratio)` deposits (for a ratio of at most 1), so a
///   ratio of 0.3 allows one retry per 3 requests (0.333), and 0.15 one per 6
///   (0.167). Here a request earns `ratio` retries in thousandths (rounded to
///   the nearest), so 0.3 allows 3 retries per 10 requests: the ratio you set
///   is the ratio you get, to a thousandth.
/// - **How long a deposit counts.** tower rotates its slices lazily from the
///   time of the last rotation, under a mutex, and a deposit stays in the sum
///   until its slot is overwritten, which can be a full `ttl` (or a little
///   more) after it was made. Here the slices are fixed to the clock
///   (`now / (window / 10)`), and a deposit counts while its slice is one of
///   the ten latest: at least 9/10 of `window` and strictly less than the
///   whole `window`, never longer. The check and the slice reset are one
///   compare-and-swap, with no lock.
///
/// The floor is the same: `min_per_second x window` retries always available.
///
/// ```
/// use seawall::retry::{AttemptEnd, RatioBudget, RetryBudget};
/// use std::time::Duration;
///
/// let budget = RatioBudget::new(0.1, 0, Duration::from_secs(10))?;
/// for _ in 0..20 {
///     budget.deposit(); // twenty requests...
/// }
/// assert!(budget.try_withdraw(AttemptEnd::Failed).is_some()); // ...earn two retries
/// assert!(budget.try_withdraw(AttemptEnd::Failed).is_some());
/// assert!(budget.try_withdraw(AttemptEnd::Failed).is_none());
/// # Ok::<(), seawall::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct RatioBudget {
    inner: Arc<RatioInner>,
}

/// Credits earned and spent over a sliding window of `SLICES` slices.
///
/// Each slice is one word holding the slice number it belongs to and its
/// balance, so a stale slice is recognised and restarted in the same
/// compare-and-swap that adds to it: no timer, no lock, and no update lost to
/// a reset.
struct RatioInner {
    clock: Clock,
    slice: u64,
    credit: u64,
    reserve: u64,
    slices: [AtomicU64; SLICES],
}

impl RatioBudget {
    /// Retries may be at most `ratio` of the requests of the last `window`,
    /// plus `min_per_second` retries per second whatever the traffic.
    ///
    /// # Errors
    ///
    /// `ratio` outside `0..=1000`, or `window` outside 1 s..=1 h.
    pub fn new(ratio: f64, min_per_second: u32, window: Duration) -> Result<Self, ConfigError> {
        Self::with_clock(ratio, min_per_second, window, Clock::tokio())
    }

    /// Like [`new`](Self::new), reading time from `clock`.
    ///
    /// # Errors
    ///
    /// As [`new`](Self::new).
    pub fn with_clock(
        ratio: f64,
        min_per_second: u32,
        window: Duration,
        clock: Clock,
    ) -> Result<Self, ConfigError> {
        if !(ratio.is_finite() && (0.0..=1000.0).contains(&ratio)) {
            return Err(ConfigError::new("ratio", ratio, "from 0 to 1000"));
        }
        if !(Duration::from_secs(1)..=Duration::from_secs(3600)).contains(&window) {
            return Err(ConfigError::new("window", window, "from 1 s to 1 h"));
        }
        let slice = u64::try_from(window.as_nanos()).unwrap_or(u64::MAX) / SLICES as u64;
        // Fractional retries per request, rounded to thousandths.
        let credit = (ratio * SCALE as f64).round() as u64;
        let reserve = u64::from(min_per_second)
            .saturating_mul(window.as_secs())
            .saturating_mul(SCALE);
        Ok(Self {
            inner: Arc::new(RatioInner {
                clock,
                slice,
                credit,
                reserve,
                // An epoch no slice has for a long while, and a zero balance.
                slices: std::array::from_fn(|_| {
                    AtomicU64::new((EPOCH_MASK << BALANCE_BITS) | BIAS)
                }),
            }),
        })
    }
}

impl RetryBudget for RatioBudget {
    /// Earns the request its share of a retry.
    fn deposit(&self) {
        self.inner.add(self.inner.credit as i64);
    }

    /// Pays for one retry if the window holds one.
    ///
    /// Concurrent withdrawals check and pay in two steps, so under contention
    /// the budget can overdraw by at most one retry per racing thread.
    fn try_withdraw(&self, _after: AttemptEnd) -> Option<Withdrawal> {
        if self.inner.balance() < SCALE as i64 {
            return None;
        }
        self.inner.add(-(SCALE as i64));
        Some(Withdrawal::new(1))
    }

    /// Outcomes do not move a ratio budget.
    #[inline]
    fn record(&self, _end: AttemptEnd, _paid: Option<Withdrawal>) {}

    /// Retries available now.
    fn level(&self) -> f64 {
        self.inner.balance().max(0) as f64 / SCALE as f64
    }
}

impl fmt::Debug for RatioBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RatioBudget")
            .field("level", &self.level())
            .finish_non_exhaustive()
    }
}

impl RatioInner {
    fn current_slice(&self) -> u64 {
        self.clock.now_nanos() / self.slice
    }

    fn add(&self, amount: i64) {
        let slice = self.current_slice();
        let epoch = slice & EPOCH_MASK;
        let word = &self.slices[(slice % SLICES as u64) as usize];
        // Relaxed: each slice is an independent counter; readers tolerate any interleaving.
        let _ = word.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |word| {
            let balance = if word >> BALANCE_BITS == epoch {
                word & BALANCE_MASK
            } else {
                BIAS
            };
            let balance = balance.saturating_add_signed(amount).min(BALANCE_MASK);
            Some((epoch << BALANCE_BITS) | balance)
        });
    }

    /// The reserve plus the balance of every slice still inside the window.
    fn balance(&self) -> i64 {
        let slice = self.current_slice();
        let mut total = self.reserve as i64;
        for age in 0..SLICES as u64 {
            let Some(wanted) = slice.checked_sub(age) else {
                break;
            };
            // Relaxed: see `add`.
            let word = self.slices[(wanted % SLICES as u64) as usize].load(Ordering::Relaxed);
            if word >> BALANCE_BITS == wanted & EPOCH_MASK {
                total += (word & BALANCE_MASK) as i64 - BIAS as i64;
            }
        }
        total
    }
}
