//! The states a breaker can be in.

use std::fmt;

/// The state of a circuit breaker.
///
/// ```
/// use seawall::breaker::{Breaker, BreakerConfig, State};
///
/// let breaker = Breaker::new(BreakerConfig::default());
/// assert_eq!(breaker.state(), State::Closed);
/// breaker.force_open();
/// assert_eq!(breaker.state().as_str(), "forced_open");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum State {
    /// Calls pass and are counted.
    Closed = 0,
    /// Calls fail fast until the open wait ends.
    Open = 1,
    /// A limited number of probes pass; their outcome decides.
    HalfOpen = 2,
    /// Calls fail fast until the breaker is reset.
    ForcedOpen = 3,
    /// Calls pass and nothing is recorded.
    Disabled = 4,
    /// Calls pass and are counted, and the breaker never trips.
    MetricsOnly = 5,
}

impl State {
    /// Every state, in the order of their numbers.
    #[cfg(all(test, not(loom)))]
    pub(crate) const ALL: [State; 6] = [
        Self::Closed,
        Self::Open,
        Self::HalfOpen,
        Self::ForcedOpen,
        Self::Disabled,
        Self::MetricsOnly,
    ];

    /// The state numbered `bits` (its discriminant); numbers past the last
    /// read as the last.
    #[inline]
    pub(crate) fn from_bits(bits: u64) -> Self {
        match bits {
            0 => Self::Closed,
            1 => Self::Open,
            2 => Self::HalfOpen,
            3 => Self::ForcedOpen,
            4 => Self::Disabled,
            _ => Self::MetricsOnly,
        }
    }

    /// The value of the `seawall_breaker_state` gauge for this state.
    ///
    /// ```
    /// use seawall::breaker::State;
    ///
    /// assert_eq!(State::HalfOpen.as_gauge(), 2.0);
    /// ```
    pub fn as_gauge(self) -> f64 {
        f64::from(self as u8)
    }

    /// The state's name in `snake_case`, as used in metric labels.
    ///
    /// ```
    /// use seawall::breaker::State;
    ///
    /// assert_eq!(State::MetricsOnly.as_str(), "metrics_only");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::Open => "open",
            Self::HalfOpen => "half_open",
            Self::ForcedOpen => "forced_open",
            Self::Disabled => "disabled",
            Self::MetricsOnly => "metrics_only",
        }
    }

    /// Whether calls are counted in the sliding window in this state.
    pub(crate) fn records_window(self) -> bool {
        matches!(self, Self::Closed | Self::MetricsOnly)
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::State;

    #[test]
    fn every_state_reads_back_from_its_number() {
        for state in State::ALL {
            assert_eq!(State::from_bits(state as u64), state);
            assert_eq!(state.as_gauge(), f64::from(state as u8));
            assert_eq!(state.to_string(), state.as_str());
        }
    }
}
