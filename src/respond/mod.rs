//! Answering errors with responses, for servers that need services that
//! never fail.
//!
//! # Why
//!
//! Servers built on hyper, axum and tonic need services that never fail: an
//! error has to be a response by the time it reaches them. tower middleware
//! that can fail (a breaker, a bulkhead, a timeout) therefore needs glue in
//! every application, usually answering `500` for everything, so that clients
//! and load balancers cannot tell "back off" from "broken".
//! [`ErrorResponseLayer`] is that glue, once: it wraps a fallible service and
//! answers each error, including one from the inner `poll_ready`, with the
//! response an [`ErrorToResponse`] mapping makes.
//!
//! # Which mapping
//!
//! One layer, two ready-made mappings, each named after the integration it
//! serves:
//!
//! - [`axum::ErrorResponseLayer`](crate::axum::ErrorResponseLayer) (feature
//!   `axum`): HTTP status codes, `503` + `Retry-After`, `504`, `500`;
//! - [`tonic::ErrorResponseLayer`](crate::tonic::ErrorResponseLayer) (feature
//!   `tonic`): gRPC statuses, `UNAVAILABLE`, `RESOURCE_EXHAUSTED`,
//!   `DEADLINE_EXCEEDED`.
//!
//! Both are this module's [`ErrorResponseLayer`] with a mapping filled in; a
//! mapping of your own goes to [`ErrorResponseLayer::with_mapping`]:
//!
//! ```
//! use http::{Response, StatusCode};
//! use seawall::respond::{ErrorResponseLayer, ErrorToResponse};
//! use seawall::BoxError;
//! use tower::{service_fn, Layer, Service, ServiceExt};
//!
//! /// Every error is a teapot.
//! #[derive(Clone, Copy, Debug)]
//! struct Teapot;
//!
//! impl ErrorToResponse<String> for Teapot {
//!     fn response(&self, err: BoxError) -> Response<String> {
//!         let mut response = Response::new(err.to_string());
//!         *response.status_mut() = StatusCode::IM_A_TEAPOT;
//!         response
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let failing = service_fn(|_: ()| async { Err::<Response<String>, _>(std::io::Error::other("no tea")) });
//! let mut service = ErrorResponseLayer::with_mapping(Teapot).layer(failing);
//! let response = service.ready().await.unwrap().call(()).await.unwrap();
//! assert_eq!(response.status(), StatusCode::IM_A_TEAPOT);
//! # }
//! ```

pub mod future;

mod layer;
mod service;

use http::Response;

use crate::error::BoxError;

pub use self::layer::ErrorResponseLayer;
pub use self::service::ErrorResponseService;

/// Makes the response that answers an error: the mapping of an
/// [`ErrorResponseLayer`].
///
/// Implemented by [`axum::HttpMapping`](crate::axum::HttpMapping) and
/// [`tonic::GrpcMapping`](crate::tonic::GrpcMapping); see the
/// [module docs](self) for one of your own.
///
/// ```
/// use seawall::axum::HttpMapping;
/// use seawall::breaker::error::BreakerOpen;
/// use seawall::respond::ErrorToResponse;
///
/// let response: http::Response<String> = HttpMapping::default().response(BreakerOpen::new(None).into());
/// assert_eq!(response.status(), http::StatusCode::SERVICE_UNAVAILABLE);
/// assert_eq!(response.headers()["retry-after"], "1");
/// ```
pub trait ErrorToResponse<B> {
    /// The response for `err`.
    fn response(&self, err: BoxError) -> Response<B>;
}
