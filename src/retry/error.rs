//! The retry layer's error.

use std::fmt;

use crate::error::BoxError;

/// A retry was refused because the shared [`RetryBudget`](super::RetryBudget)
/// is empty.
///
/// Its [`source`](std::error::Error::source) is the error of the last attempt,
/// so nothing about the real failure is lost; [`ErrorKind::of`](crate::ErrorKind::of)
/// says `BudgetExhausted`.
///
/// ```
/// use seawall::retry::error::BudgetExhausted;
/// use seawall::{BoxError, ErrorKind};
/// use std::error::Error;
///
/// let err: BoxError = BudgetExhausted::new("connection reset".into()).into();
/// assert_eq!(ErrorKind::of(&*err), ErrorKind::BudgetExhausted);
/// assert_eq!(err.to_string(), "retry budget exhausted");
/// assert_eq!(err.source().unwrap().to_string(), "connection reset");
/// ```
#[derive(Debug)]
pub struct BudgetExhausted {
    last_error: BoxError,
}

impl BudgetExhausted {
    /// A refusal after an attempt that failed with `last_error`.
    pub fn new(last_error: BoxError) -> Self {
        Self { last_error }
    }

    /// The last attempt's error.
    pub fn last_error(&self) -> &BoxError {
        &self.last_error
    }

    /// The last attempt's error, unwrapped.
    pub fn into_last_error(self) -> BoxError {
        self.last_error
    }
}

impl fmt::Display for BudgetExhausted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("retry budget exhausted")
    }
}

impl std::error::Error for BudgetExhausted {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.last_error)
    }
}
