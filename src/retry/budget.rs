//! A retry budget shared by every clone of a retry layer, and by any other
//! layer that wants one: a ratio of recent requests, or gRPC's token bucket,
//! each a handful of atomic words.

use std::fmt;
use std::time::Duration;

use crate::classify::Outcome;
use crate::clock::Clock;
use crate::error::ConfigError;
use crate::sync::{Arc, AtomicU64, Ordering};

/// One retry costs this many credits; fractions of a retry are thousandths.
const SCALE: u64 = 1_000;
/// How many slices a ratio budget's window is kept in.
const SLICES: usize = 10;
/// Bucket word: the slice number in the top 24 bits, the biased balance below.
const BALANCE_BITS: u32 = 40;
const BALANCE_MASK: u64 = (1 << BALANCE_BITS) - 1;
/// A bucket's balance is stored plus this bias, so it can go below zero.
const BIAS: u64 = 1 << (BALANCE_BITS - 1);
const EPOCH_MASK: u64 = (1 << (64 - BALANCE_BITS)) - 1;

/// A retry budget. Cheap to clone; clones share the same budget.
///
/// # Why a budget and not only a maximum number of attempts
///
/// "Retry up to 3 times" sounds safe, and is what turns a dependency that is
/// struggling into one that is down: when every call fails, every caller sends
/// three times the load, just when there is least capacity. A maximum bounds the
/// retries of *one* request; a budget bounds the retries of *all* of them,
/// relative to the traffic, so retries help with sporadic failures and fade
/// out by themselves during an outage.
///
/// Two kinds:
///
/// - [`RetryBudget::ratio`]: retries may be at most a fraction of the requests
///   made over a recent time window, plus a small floor of retries per second
///   so that a quiet client can still retry (Finagle's budget; tower's
///   `TpsBudget`). Under a sustained total failure, attempts stay within
///   `(1 + ratio) x requests + floor x window`.
/// - [`RetryBudget::token_bucket`]: gRPC's retry throttling (proposal A6).
///   The bucket starts full with `max_tokens`; each failed attempt takes one
///   token, each success puts `token_ratio` back; retries are allowed only
///   while more than half the tokens are left.
///
/// Both are lock-free: a handful of atomic words, updated with compare-and-swap.
///
/// # Use
///
/// Call [`deposit`](Self::deposit) once per request (first attempt),
/// [`record`](Self::record) with the outcome of each attempt, and
/// [`try_withdraw`](Self::try_withdraw) before each retry. The retry layer
/// does all three.
///
/// ```
/// use seawall::classify::Outcome;
/// use seawall::retry::RetryBudget;
///
/// // gRPC A6: 10 tokens; retries stop once 5 or fewer are left.
/// let budget = RetryBudget::token_bucket(10, 0.5)?;
/// for _ in 0..5 {
///     budget.record(Outcome::Failure);
/// }
/// assert!(!budget.try_withdraw());
/// budget.record(Outcome::Success);
/// assert!(budget.try_withdraw()); // 5.5 tokens > 5
/// # Ok::<(), seawall::ConfigError>(())
/// ```
///
/// ```
/// use seawall::retry::RetryBudget;
/// use std::time::Duration;
///
/// let budget = RetryBudget::ratio(0.1, 0, Duration::from_secs(10))?;
/// for _ in 0..20 {
///     budget.deposit(); // twenty requests...
/// }
/// assert!(budget.try_withdraw()); // ...earn two retries
/// assert!(budget.try_withdraw());
/// assert!(!budget.try_withdraw());
/// # Ok::<(), seawall::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct RetryBudget {
    kind: Arc<BudgetKind>,
}

/// The two kinds of budget.
enum BudgetKind {
    Ratio(RatioBudget),
    TokenBucket(TokenBucket),
}

impl RetryBudget {
    /// Retries may be at most `ratio` of the requests of the last `window`,
    /// plus `min_per_second` retries per second whatever the traffic.
    ///
    /// # Errors
    ///
    /// `ratio` outside `0..=1000`, or `window` outside 1 s..=1 h.
    pub fn ratio(ratio: f64, min_per_second: u32, window: Duration) -> Result<Self, ConfigError> {
        Self::ratio_with_clock(ratio, min_per_second, window, Clock::tokio())
    }

    /// Like [`ratio`](Self::ratio), reading time from `clock`.
    ///
    /// # Errors
    ///
    /// As [`ratio`](Self::ratio).
    pub fn ratio_with_clock(
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
            kind: Arc::new(BudgetKind::Ratio(RatioBudget {
                clock,
                slice,
                credit,
                reserve,
                // An epoch no slice has for a long while, and a zero balance.
                buckets: std::array::from_fn(|_| {
                    AtomicU64::new((EPOCH_MASK << BALANCE_BITS) | BIAS)
                }),
            })),
        })
    }

    /// gRPC's retry throttling: `max_tokens` tokens (1 to 1000), a failed
    /// attempt takes one, a success puts back `token_ratio` (more than 0, at
    /// most `max_tokens`, in thousandths); retries only while more than half
    /// are left.
    ///
    /// # Errors
    ///
    /// Either value outside its range.
    pub fn token_bucket(max_tokens: u32, token_ratio: f64) -> Result<Self, ConfigError> {
        if !(1..=1000).contains(&max_tokens) {
            return Err(ConfigError::new("max_tokens", max_tokens, "from 1 to 1000"));
        }
        if !(token_ratio.is_finite()
            && token_ratio >= 0.001
            && token_ratio <= f64::from(max_tokens))
        {
            return Err(ConfigError::new(
                "token_ratio",
                token_ratio,
                "from 0.001 to max_tokens",
            ));
        }
        let max = u64::from(max_tokens) * SCALE;
        Ok(Self {
            kind: Arc::new(BudgetKind::TokenBucket(TokenBucket {
                max,
                ratio: (token_ratio * SCALE as f64).round() as u64,
                tokens: AtomicU64::new(max),
            })),
        })
    }

    /// A request was made (its first attempt). Earns a ratio budget its share
    /// of a retry; a token bucket ignores it.
    pub fn deposit(&self) {
        if let BudgetKind::Ratio(budget) = &*self.kind {
            budget.add(budget.credit as i64);
        }
    }

    /// An attempt ended with `outcome`. A token bucket takes a token for a
    /// failure and puts `token_ratio` back for a success; a ratio budget
    /// ignores it.
    pub fn record(&self, outcome: Outcome) {
        if let BudgetKind::TokenBucket(bucket) = &*self.kind {
            match outcome {
                Outcome::Success => {
                    bucket.update(|t| t.saturating_add(bucket.ratio).min(bucket.max))
                }
                Outcome::Failure => bucket.update(|t| t.saturating_sub(SCALE)),
                Outcome::Ignored => {}
            }
        }
    }

    /// Asks for one retry: `true` (and, for a ratio budget, the retry is paid
    /// for) if the budget allows it.
    ///
    /// Concurrent withdrawals check and pay in two steps, so under contention
    /// a ratio budget can overdraw by at most one retry per racing thread.
    pub fn try_withdraw(&self) -> bool {
        match &*self.kind {
            BudgetKind::Ratio(budget) => {
                if budget.balance() < SCALE as i64 {
                    return false;
                }
                budget.add(-(SCALE as i64));
                true
            }
            // Relaxed: the count is the only data; nothing else is published through it.
            BudgetKind::TokenBucket(bucket) => {
                bucket.tokens.load(Ordering::Relaxed) > bucket.max / 2
            }
        }
    }

    /// How much is left: retries available now (ratio) or tokens (bucket).
    pub fn level(&self) -> f64 {
        match &*self.kind {
            BudgetKind::Ratio(budget) => budget.balance().max(0) as f64 / SCALE as f64,
            BudgetKind::TokenBucket(bucket) => {
                bucket.tokens.load(Ordering::Relaxed) as f64 / SCALE as f64
            }
        }
    }
}

impl fmt::Debug for RetryBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match &*self.kind {
            BudgetKind::Ratio(_) => "ratio",
            BudgetKind::TokenBucket(_) => "token_bucket",
        };
        f.debug_struct("RetryBudget")
            .field("kind", &kind)
            .field("level", &self.level())
            .finish()
    }
}

struct TokenBucket {
    /// In thousandths of a token.
    max: u64,
    ratio: u64,
    tokens: AtomicU64,
}

impl TokenBucket {
    fn update(&self, f: impl Fn(u64) -> u64) {
        // Relaxed: a counter; no other memory is published through it. `fetch_update` is
        // a CAS loop, so concurrent updates are never lost.
        let _ = self
            .tokens
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |t| Some(f(t)));
    }
}

/// Credits earned and spent over a sliding window of `SLICES` slices.
///
/// Each bucket is one word holding the slice it belongs to and its balance,
/// so a stale bucket is recognised and restarted in the same compare-and-swap
/// that adds to it: no timer, no lock, and no update lost to a reset.
struct RatioBudget {
    clock: Clock,
    slice: u64,
    credit: u64,
    reserve: u64,
    buckets: [AtomicU64; SLICES],
}

impl RatioBudget {
    fn current_slice(&self) -> u64 {
        self.clock.now_nanos() / self.slice
    }

    fn add(&self, amount: i64) {
        let slice = self.current_slice();
        let epoch = slice & EPOCH_MASK;
        let bucket = &self.buckets[(slice % SLICES as u64) as usize];
        // Relaxed: each bucket is an independent counter; readers tolerate any interleaving.
        let _ = bucket.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |word| {
            let balance = if word >> BALANCE_BITS == epoch {
                word & BALANCE_MASK
            } else {
                BIAS
            };
            let balance = balance.saturating_add_signed(amount).min(BALANCE_MASK);
            Some((epoch << BALANCE_BITS) | balance)
        });
    }

    /// The reserve plus the balance of every bucket still inside the window.
    fn balance(&self) -> i64 {
        let slice = self.current_slice();
        let mut total = self.reserve as i64;
        for age in 0..SLICES as u64 {
            let Some(wanted) = slice.checked_sub(age) else {
                break;
            };
            // Relaxed: see `add`.
            let word = self.buckets[(wanted % SLICES as u64) as usize].load(Ordering::Relaxed);
            if word >> BALANCE_BITS == wanted & EPOCH_MASK {
                total += (word & BALANCE_MASK) as i64 - BIAS as i64;
            }
        }
        total
    }
}
