//! The error every builder returns for a value out of range.

use std::error::Error as StdError;
use std::fmt;

/// A configuration value outside its allowed range.
///
/// Builders return it instead of panicking; it names the field, the rejected
/// value and what would have been accepted.
///
/// ```
/// use seawall::breaker::BreakerConfig;
///
/// let err = BreakerConfig::builder().failure_rate_threshold(1.5).build().unwrap_err();
/// assert_eq!(err.field(), "failure_rate_threshold");
/// assert_eq!(
///     err.to_string(),
///     "invalid configuration: `failure_rate_threshold` is 1.5, allowed: greater than 0 and at most 1",
/// );
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    field: &'static str,
    value: String,
    allowed: &'static str,
}

impl ConfigError {
    pub(crate) fn new(field: &'static str, value: impl fmt::Debug, allowed: &'static str) -> Self {
        Self {
            field,
            value: format!("{value:?}"),
            allowed,
        }
    }

    /// The name of the rejected field, as spelled by the builder method.
    pub fn field(&self) -> &'static str {
        self.field
    }

    /// The rejected value, as written by `Debug`.
    pub fn value(&self) -> &str {
        &self.value
    }

    /// The allowed range, in words.
    pub fn allowed(&self) -> &'static str {
        self.allowed
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid configuration: `{}` is {}, allowed: {}",
            self.field, self.value, self.allowed
        )
    }
}

impl StdError for ConfigError {}
