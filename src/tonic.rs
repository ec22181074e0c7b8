//! seawall's errors as gRPC statuses.
//!
//! A tower layer in a tonic server or client surfaces its rejections as
//! whatever the transport makes of a boxed error, usually `INTERNAL` or
//! `UNKNOWN`: a client then cannot tell "the server is shedding load, back
//! off" from "the server is broken". [`status_of`] gives each seawall error
//! the status the gRPC spec means for it, and [`ErrorResponseLayer`] answers a
//! server's errors with those statuses (it is
//! [`respond::ErrorResponseLayer`](crate::respond::ErrorResponseLayer) with the
//! [`GrpcMapping`]; [`axum::ErrorResponseLayer`](crate::axum::ErrorResponseLayer)
//! is the same layer for HTTP):
//!
//! | error | status |
//! |---|---|
//! | [`BreakerOpen`](crate::breaker::error::BreakerOpen) | `UNAVAILABLE`, with `grpc-retry-pushback-ms` from the open wait when known |
//! | `BulkheadFull` | `RESOURCE_EXHAUSTED` |
//! | `Elapsed` | `DEADLINE_EXCEEDED` |
//! | `BudgetExhausted` | `UNAVAILABLE` |
//! | a `tonic::Status` anywhere in the chain | that status |
//! | anything else | `INTERNAL`, without the error's text unless [`expose_errors`](ErrorResponseLayer::expose_errors) |
//!
//! ```
//! use seawall::breaker::error::BreakerOpen;
//! use seawall::BoxError;
//! use std::time::Duration;
//!
//! let err: BoxError = BreakerOpen::new(Some(Duration::from_millis(1500))).into();
//! let status = seawall::tonic::status_of(&*err);
//! assert_eq!(status.code(), tonic::Code::Unavailable);
//! assert_eq!(status.metadata().get("grpc-retry-pushback-ms").unwrap(), "1500");
//! ```

use std::error::Error as StdError;

use ::tonic::metadata::MetadataValue;
use ::tonic::{Code, Status};
use http::Response;

use crate::error::{find_in_chain, BoxError, ErrorKind};
use crate::respond::ErrorToResponse;

/// The gRPC status for `err`, hiding the text of errors that are not seawall's.
pub fn status_of(err: &(dyn StdError + 'static)) -> Status {
    status_with(err, false)
}

fn status_with(err: &(dyn StdError + 'static), expose_errors: bool) -> Status {
    match ErrorKind::of(err) {
        ErrorKind::BreakerOpen => {
            let mut status = Status::unavailable("circuit breaker is open");
            let pushback = find_in_chain::<crate::breaker::error::BreakerOpen>(err)
                .and_then(|open| open.retry_after());
            if let Some(after) = pushback {
                let millis = u64::try_from(after.as_millis()).unwrap_or(u64::MAX);
                status
                    .metadata_mut()
                    .insert("grpc-retry-pushback-ms", MetadataValue::from(millis));
            }
            status
        }
        ErrorKind::BulkheadFull => Status::resource_exhausted("bulkhead is full"),
        ErrorKind::Elapsed => Status::deadline_exceeded("request timed out"),
        ErrorKind::BudgetExhausted => Status::unavailable("retry budget exhausted"),
        _ => match find_in_chain::<Status>(err) {
            Some(status) => status.clone(),
            None if expose_errors => Status::new(Code::Internal, err.to_string()),
            None => Status::internal("internal error"),
        },
    }
}

/// Answers a tonic server's errors with the statuses of [`status_of`]:
/// [`respond::ErrorResponseLayer`](crate::respond::ErrorResponseLayer) with
/// the [`GrpcMapping`].
///
/// Put it outermost on a tonic server (`Server::builder().layer(...)`) so
/// that seawall layers beneath it (a breaker around a handler's dependency, a
/// bulkhead capping the server's concurrency) reach clients as `UNAVAILABLE`
/// or `RESOURCE_EXHAUSTED` rather than as a broken connection or `INTERNAL`.
///
/// ```
/// use seawall::bulkhead::{Bulkhead, BulkheadConfig, BulkheadLayer};
/// use seawall::tonic::ErrorResponseLayer;
/// use tower::ServiceBuilder;
///
/// let layers = ServiceBuilder::new()
///     .layer(ErrorResponseLayer::new())
///     .layer(BulkheadLayer::new(Bulkhead::new(
///         BulkheadConfig::builder().max_concurrent_calls(64).build()?,
///     )));
/// // tonic::transport::Server::builder().layer(layers).add_service(...)
/// # drop(layers);
/// # Ok::<(), seawall::ConfigError>(())
/// ```
pub type ErrorResponseLayer = crate::respond::ErrorResponseLayer<GrpcMapping>;

impl ErrorResponseLayer {
    /// Statuses as in the [module docs](self), internal error text hidden.
    pub fn new() -> Self {
        Self::with_mapping(GrpcMapping::default())
    }

    /// Puts the text of errors that are not seawall's into the `INTERNAL`
    /// status message. Useful in development; leaks internals in production.
    pub fn expose_errors(mut self, expose: bool) -> Self {
        self.mapping.expose_errors = expose;
        self
    }
}

/// The gRPC mapping of the [module docs](self), used by
/// [`ErrorResponseLayer`]: a trailers-only response carrying the status.
///
/// ```
/// use seawall::bulkhead::error::BulkheadFull;
/// use seawall::respond::ErrorToResponse;
/// use seawall::tonic::GrpcMapping;
///
/// let response: http::Response<()> = GrpcMapping::default().response(BulkheadFull::new().into());
/// assert_eq!(response.headers()["grpc-status"], "8"); // RESOURCE_EXHAUSTED
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct GrpcMapping {
    expose_errors: bool,
}

impl<B: Default> ErrorToResponse<B> for GrpcMapping {
    fn response(&self, err: BoxError) -> Response<B> {
        status_with(&*err, self.expose_errors).into_http()
    }
}
