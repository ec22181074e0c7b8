//! The health reporter's error.

use std::fmt;

/// [`HealthRegistry::drain`](super::HealthRegistry::drain) ran out of time
/// with requests still in flight.
///
/// ```
/// use seawall::health::error::DrainTimedOut;
///
/// let err = DrainTimedOut::new(3);
/// assert_eq!(err.to_string(), "drain timed out with requests in flight");
/// assert_eq!(err.remaining(), 3);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DrainTimedOut {
    remaining: usize,
}

impl DrainTimedOut {
    /// A drain that gave up with `remaining` requests in flight.
    pub fn new(remaining: usize) -> Self {
        Self { remaining }
    }

    /// Requests still in flight when the drain gave up.
    pub fn remaining(&self) -> usize {
        self.remaining
    }
}

impl fmt::Display for DrainTimedOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("drain timed out with requests in flight")
    }
}

impl std::error::Error for DrainTimedOut {}
