//! The ranges every builder checks its values against, written once.
//!
//! Each builder validates its own fields, but the shared limits (how long a
//! duration may be, what a rate may be) live here, so that a new layer checks
//! them the same way and names them the same way in its [`ConfigError`].

use std::time::Duration;

use crate::error::ConfigError;

/// The longest duration any seawall setting accepts: 7 days. Longer waits,
/// windows and timeouts are almost always a unit mistake, and bounding them
/// keeps every deadline computation far from overflow.
pub(crate) const LONGEST_DURATION: Duration = Duration::from_secs(7 * 24 * 60 * 60);

/// `value` if it is greater than 0 and at most [`LONGEST_DURATION`].
pub(crate) fn positive_duration(
    field: &'static str,
    value: Duration,
) -> Result<Duration, ConfigError> {
    if value.is_zero() || value > LONGEST_DURATION {
        return Err(ConfigError::new(
            field,
            value,
            "greater than 0 and at most 7 days",
        ));
    }
    Ok(value)
}

/// `value` if it is at most [`LONGEST_DURATION`] (0 allowed).
#[cfg_attr(not(any(feature = "retry", feature = "chaos")), allow(dead_code))]
pub(crate) fn bounded_duration(
    field: &'static str,
    value: Duration,
) -> Result<Duration, ConfigError> {
    if value > LONGEST_DURATION {
        return Err(ConfigError::new(field, value, "at most 7 days"));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_checked_at_both_ends() {
        assert!(positive_duration("wait", Duration::ZERO).is_err());
        assert!(positive_duration("wait", Duration::from_nanos(1)).is_ok());
        assert!(positive_duration("wait", LONGEST_DURATION).is_ok());
        let err = positive_duration("wait", Duration::MAX).unwrap_err();
        assert_eq!(err.field(), "wait");
        assert_eq!(err.allowed(), "greater than 0 and at most 7 days");
        assert!(bounded_duration("delay", Duration::ZERO).is_ok());
        assert!(bounded_duration("delay", LONGEST_DURATION + Duration::from_nanos(1)).is_err());
    }
}
