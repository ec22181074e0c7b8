//! seawall's errors as HTTP responses, so a seawall stack fits
//! `axum::Router::layer` without a `HandleErrorLayer`.
//!
//! axum requires every service on a router to be infallible: its errors must
//! already be responses. tower middleware that can fail (a breaker, a
//! bulkhead, a timeout) therefore needs glue in every application, written
//! again each time and usually answering `500` for everything. [`ErrorResponseLayer`]
//! is that glue, once, with the status a client and a load balancer can act on
//! (it is [`respond::ErrorResponseLayer`](crate::respond::ErrorResponseLayer)
//! with the [`HttpMapping`]; [`tonic::ErrorResponseLayer`](crate::tonic::ErrorResponseLayer)
//! is the same layer for gRPC):
//!
//! | error | response |
//! |---|---|
//! | [`BreakerOpen`](crate::breaker::error::BreakerOpen) | `503 Service Unavailable`, `Retry-After` from the breaker's open wait |
//! | `BulkheadFull`, `BudgetExhausted` | `503 Service Unavailable`, `Retry-After` (default 1 s) |
//! | `Elapsed` | `504 Gateway Timeout` |
//! | anything else | `500 Internal Server Error`, without the error's text unless [`expose_errors`](ErrorResponseLayer::expose_errors) |
//!
//! `Retry-After` is in whole seconds, rounded up (less the millisecond the
//! breaker's deadline may have been rounded up by), at least 1.
//!
//! ```
//! use axum::{routing::get, Router};
//! use seawall::axum::ErrorResponseLayer;
//! use seawall::breaker::{Breaker, BreakerConfig, BreakerLayer};
//! use tower::ServiceBuilder;
//!
//! let breaker = Breaker::new(BreakerConfig::default());
//! let app: Router = Router::new()
//!     .route("/orders", get(|| async { "orders" }))
//!     .layer(
//!         ServiceBuilder::new()
//!             .layer(ErrorResponseLayer::new())
//!             .layer(BreakerLayer::new(breaker)),
//!     );
//! # drop(app);
//! ```

use std::time::Duration;

use http::header::{HeaderValue, CONTENT_TYPE, RETRY_AFTER};
use http::{Response, StatusCode};

use crate::error::{find_in_chain, BoxError, ErrorKind};
use crate::respond::ErrorToResponse;

/// The HTTP mapping of the [module docs](self): what [`ErrorResponseLayer`]
/// answers errors with.
///
/// ```
/// use seawall::axum::HttpMapping;
/// use seawall::respond::ErrorToResponse;
/// use seawall::BoxError;
///
/// let err: BoxError = "database down".into();
/// let response: http::Response<String> = HttpMapping::default().response(err);
/// assert_eq!(response.status(), http::StatusCode::INTERNAL_SERVER_ERROR);
/// assert_eq!(response.body(), "internal server error", "the text is hidden");
/// ```
#[derive(Clone, Copy, Debug)]
pub struct HttpMapping {
    expose_errors: bool,
    default_retry_after: Duration,
}

impl Default for HttpMapping {
    /// Internal error text hidden, `Retry-After: 1` where no better wait is known.
    fn default() -> Self {
        Self {
            expose_errors: false,
            default_retry_after: Duration::from_secs(1),
        }
    }
}

impl<B: From<String>> ErrorToResponse<B> for HttpMapping {
    fn response(&self, err: BoxError) -> Response<B> {
        let (status, retry_after) = match ErrorKind::of(&*err) {
            ErrorKind::BreakerOpen => {
                let retry_after = find_in_chain::<crate::breaker::error::BreakerOpen>(&*err)
                    .and_then(|open| open.retry_after());
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    Some(retry_after.unwrap_or(self.default_retry_after)),
                )
            }
            ErrorKind::BulkheadFull | ErrorKind::BudgetExhausted => (
                StatusCode::SERVICE_UNAVAILABLE,
                Some(self.default_retry_after),
            ),
            ErrorKind::Elapsed => (StatusCode::GATEWAY_TIMEOUT, None),
            _ => (StatusCode::INTERNAL_SERVER_ERROR, None),
        };
        let text = if status == StatusCode::INTERNAL_SERVER_ERROR && !self.expose_errors {
            // Not one of seawall's own errors, whose text is fixed and safe: hide it.
            status
                .canonical_reason()
                .unwrap_or("error")
                .to_ascii_lowercase()
        } else {
            err.to_string()
        };
        let mut response = Response::new(B::from(text));
        *response.status_mut() = status;
        let headers = response.headers_mut();
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        if let Some(after) = retry_after {
            headers.insert(RETRY_AFTER, HeaderValue::from(retry_after_seconds(after)));
        }
        response
    }
}

/// Whole seconds, rounded up, at least 1: `Retry-After: 0` invites a storm.
/// The breaker keeps its deadlines to the millisecond, rounding up, so the
/// last millisecond is not rounded up to a whole extra second.
fn retry_after_seconds(after: Duration) -> u64 {
    let after = after.saturating_sub(Duration::from_millis(1));
    let seconds = after
        .as_secs()
        .saturating_add(u64::from(after.subsec_nanos() > 0));
    seconds.max(1)
}

/// Turns a service's seawall errors (and any other error) into HTTP
/// responses: [`respond::ErrorResponseLayer`](crate::respond::ErrorResponseLayer)
/// with the [`HttpMapping`].
///
/// See the [module docs](self) for the mapping. The services it makes have
/// `Error = Infallible`, as `axum::Router::layer` and `route_service` require.
///
/// ```
/// use seawall::axum::ErrorResponseLayer;
/// use std::time::Duration;
///
/// let layer = ErrorResponseLayer::new().default_retry_after(Duration::from_secs(2));
/// # drop(layer);
/// ```
pub type ErrorResponseLayer = crate::respond::ErrorResponseLayer<HttpMapping>;

impl ErrorResponseLayer {
    /// The mapping of the [module docs](self): internal error text hidden,
    /// `Retry-After: 1` where no better wait is known.
    pub fn new() -> Self {
        Self::with_mapping(HttpMapping::default())
    }

    /// Puts the text of errors that are not seawall's own into the `500`
    /// response body. Useful in development; leaks internals in production.
    pub fn expose_errors(mut self, expose: bool) -> Self {
        self.mapping.expose_errors = expose;
        self
    }

    /// The `Retry-After` sent where the error carries no wait of its own (a
    /// full bulkhead, a breaker forced open). Saturates at 7 days; sent in
    /// whole seconds, at least 1.
    pub fn default_retry_after(mut self, after: Duration) -> Self {
        self.mapping.default_retry_after = after.min(crate::validate::LONGEST_DURATION);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        assert_eq!(retry_after_seconds(Duration::ZERO), 1);
        assert_eq!(retry_after_seconds(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_seconds(Duration::from_secs(2)), 2);
        assert_eq!(retry_after_seconds(Duration::from_millis(2002)), 3);
        assert_eq!(
            retry_after_seconds(Duration::from_secs(5) + Duration::from_micros(900)),
            5,
            "a deadline's millisecond rounding is not a second more"
        );
        assert_eq!(retry_after_seconds(Duration::MAX), u64::MAX, "saturates");
    }
}
