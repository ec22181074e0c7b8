//! seawall's errors as `reqwest_middleware::Error`s, and back.

use std::time::Duration;

use crate::breaker::error::BreakerOpen;
use crate::error::BoxError;
use crate::retry::error::BudgetExhausted;
use crate::timeout::error::Elapsed;

/// What the caller gets for an error out of seawall's stack: the chain's
/// own error as it was, reqwest's as `Error::Reqwest`, seawall's as
/// `Error::Middleware`.
pub(super) fn into_middleware_error(err: BoxError) -> reqwest_middleware::Error {
    let err = match err.downcast::<reqwest_middleware::Error>() {
        Ok(err) => return *err,
        Err(err) => err,
    };
    let err = match err.downcast::<reqwest::Error>() {
        Ok(err) => return reqwest_middleware::Error::Reqwest(*err),
        Err(err) => err,
    };
    reqwest_middleware::Error::Middleware(seawall_error_as_anyhow(err))
}

/// seawall's errors, moved into `anyhow::Error` as their own types so that
/// `downcast_ref` and [`ErrorKind::of`](crate::ErrorKind::of) find them
/// (`anyhow::Error::from_boxed` would hide them behind a wrapper).
fn seawall_error_as_anyhow(err: BoxError) -> anyhow::Error {
    moved_as::<BreakerOpen>(err)
        .or_else(moved_as::<Elapsed>)
        .or_else(moved_as::<BudgetExhausted>)
        .unwrap_or_else(anyhow::Error::from_boxed)
}

/// `err` moved into an `anyhow::Error` as a `T`, or given back if it is not one.
fn moved_as<T>(err: BoxError) -> Result<anyhow::Error, BoxError>
where
    T: std::error::Error + Send + Sync + 'static,
{
    err.downcast::<T>().map(|err| anyhow::Error::new(*err))
}

/// When the open breaker that refused a request lets calls through again;
/// `None` if the error is not a breaker's refusal.
///
/// ```
/// use seawall::reqwest_middleware::breaker_retry_after;
///
/// let not_seawall = reqwest_middleware::Error::Middleware(anyhow::anyhow!("no token"));
/// assert_eq!(breaker_retry_after(&not_seawall), None);
/// ```
pub fn breaker_retry_after(err: &reqwest_middleware::Error) -> Option<Duration> {
    match err {
        reqwest_middleware::Error::Middleware(err) => err
            .chain()
            .find_map(|err| err.downcast_ref::<BreakerOpen>())
            .and_then(BreakerOpen::retry_after),
        reqwest_middleware::Error::Reqwest(_) => None,
    }
}
