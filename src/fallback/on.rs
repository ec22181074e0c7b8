//! Which failures a fallback covers for.

use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;

use crate::classify::{Classify, Outcome};
use crate::error::ErrorKind;

use super::Cause;

/// std's `Arc`: it holds a `dyn` closure, which loom's cannot.
type Predicate = Arc<dyn Fn(&(dyn StdError + 'static)) -> bool + Send + Sync>;

/// Which failures a [`FallbackService`](super::FallbackService) covers for.
///
/// An error is covered when its [`ErrorKind`] is in the set, **or** the
/// predicate given to [`when`](Self::when) accepts it, **or** (after
/// [`any_error`](Self::any_error)) always. A successful response is covered
/// when the classifier given to [`responses`](Self::responses) calls it a
/// [`Failure`](Outcome::Failure) (by default none is).
///
/// The default set is [`DEFAULT_KINDS`](Self::DEFAULT_KINDS): seawall's own
/// rejections, which say the call was not made or not finished and nothing
/// about the request itself.
///
/// ```
/// use seawall::fallback::FallbackOn;
/// use seawall::ErrorKind;
///
/// let on = FallbackOn::default().when(|err| err.to_string().contains("reset"));
/// let reset: seawall::BoxError = "connection reset".into();
/// assert!(on.covers_error(&*reset).is_some());
/// let refused: seawall::BoxError = "connection refused".into();
/// assert!(on.covers_error(&*refused).is_none());
///
/// let only_open = FallbackOn::kinds([ErrorKind::BreakerOpen]);
/// assert!(!only_open.covers_kind(ErrorKind::BulkheadFull));
/// ```
#[derive(Clone)]
pub struct FallbackOn<C = AcceptResponses> {
    kinds: Vec<ErrorKind>,
    any_error: bool,
    predicate: Option<Predicate>,
    responses: C,
}

impl FallbackOn {
    /// The kinds covered by default: an open breaker, a full bulkhead, a
    /// timed-out attempt and an empty retry budget.
    pub const DEFAULT_KINDS: &'static [ErrorKind] = &[
        ErrorKind::BreakerOpen,
        ErrorKind::BulkheadFull,
        ErrorKind::Elapsed,
        ErrorKind::BudgetExhausted,
    ];

    /// Covers exactly these kinds of error (and no response).
    pub fn kinds(kinds: impl IntoIterator<Item = ErrorKind>) -> Self {
        Self {
            kinds: kinds.into_iter().collect(),
            any_error: false,
            predicate: None,
            responses: AcceptResponses,
        }
    }
}

impl Default for FallbackOn {
    fn default() -> Self {
        Self::kinds(Self::DEFAULT_KINDS.iter().copied())
    }
}

impl<C> FallbackOn<C> {
    /// Also covers errors of `kind` (use [`ErrorKind::Other`] for the inner
    /// service's own errors).
    pub fn kind(mut self, kind: ErrorKind) -> Self {
        if !self.kinds.contains(&kind) {
            self.kinds.push(kind);
        }
        self
    }

    /// Covers every error.
    pub fn any_error(mut self) -> Self {
        self.any_error = true;
        self
    }

    /// Also covers errors `predicate` accepts. A later call replaces an
    /// earlier predicate.
    pub fn when<P>(mut self, predicate: P) -> Self
    where
        P: Fn(&(dyn StdError + 'static)) -> bool + Send + Sync + 'static,
    {
        self.predicate = Some(Arc::new(predicate));
        self
    }

    /// Also covers successful responses that `classifier` calls a
    /// [`Failure`](Outcome::Failure), such as [`HttpStatus`](crate::classify::HttpStatus)
    /// for `5xx` responses. It is only asked about `Ok` results.
    pub fn responses<C2>(self, classifier: C2) -> FallbackOn<C2> {
        FallbackOn {
            kinds: self.kinds,
            any_error: self.any_error,
            predicate: self.predicate,
            responses: classifier,
        }
    }

    /// Whether errors of `kind` are covered by the kind set.
    pub fn covers_kind(&self, kind: ErrorKind) -> bool {
        self.any_error || self.kinds.contains(&kind)
    }

    /// The cause to report if `error` is covered; `None` if it is not.
    pub fn covers_error(&self, error: &(dyn StdError + 'static)) -> Option<Cause> {
        let kind = ErrorKind::of(error);
        let covered = self.covers_kind(kind) || self.predicate.as_ref().is_some_and(|p| p(error));
        covered.then_some(Cause::Error(kind))
    }

    /// Whether the successful `result` is covered.
    pub(crate) fn covers_response<Res, E>(&self, result: &Result<Res, E>) -> bool
    where
        C: Classify<Res, E>,
    {
        result.is_ok() && self.responses.classify(result) == Outcome::Failure
    }
}

impl<C: fmt::Debug> fmt::Debug for FallbackOn<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FallbackOn")
            .field("kinds", &self.kinds)
            .field("any_error", &self.any_error)
            .field("predicate", &self.predicate.is_some())
            .field("responses", &self.responses)
            .finish()
    }
}

/// The response classifier of a default [`FallbackOn`]: every successful
/// response is accepted, none is fallen back from.
///
/// ```
/// use seawall::classify::{Classify, Outcome};
/// use seawall::fallback::AcceptResponses;
///
/// let ok: Result<u16, std::io::Error> = Ok(503);
/// assert_eq!(AcceptResponses.classify(&ok), Outcome::Success);
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct AcceptResponses;

impl<Res, E> Classify<Res, E> for AcceptResponses {
    fn classify(&self, result: &Result<Res, E>) -> Outcome {
        match result {
            Ok(_) => Outcome::Success,
            Err(_) => Outcome::Failure,
        }
    }
}
