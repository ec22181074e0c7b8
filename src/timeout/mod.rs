//! A per-attempt timeout, and a deadline that spans every attempt of a request.
//!
//! # Why
//!
//! A call without a time limit can hold a connection, a task and a caller
//! forever when its dependency hangs instead of failing. A timeout turns a hang
//! into a failure the rest of the stack can act on: a breaker outside it counts
//! the timed-out attempt as failed, a retry outside it may try again.
//!
//! Two limits, because they answer different questions:
//!
//! - the **per-attempt timeout** of [`TimeoutService`] bounds one call to the
//!   dependency. It sits innermost (see the crate's layer order), so each retry
//!   gets a fresh one;
//! - the **[`Deadline`]** bounds the whole request, all retries and backoff
//!   waits included. It is absolute (an instant, not a duration), so it means
//!   the same thing to every layer that reads it, and it travels with the
//!   request (for `http::Request`, as an extension) so that a caller can set or
//!   override it per request. [`TimeoutService`] stops an attempt at the deadline when
//!   that comes before its own timeout; the retry layer never starts an attempt
//!   that cannot finish before it.
//!
//! On expiry the inner future is dropped (cancelled) and the call fails with
//! [`Elapsed`](error::Elapsed).
//!
//! ```
//! use seawall::timeout::{TimeoutService, error::Elapsed};
//! use seawall::ErrorKind;
//! use std::time::Duration;
//! use tower::{Service, ServiceExt, service_fn};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! let hangs = service_fn(|_: ()| std::future::pending::<Result<(), std::io::Error>>());
//! let mut service = TimeoutService::new(hangs, Duration::from_secs(1));
//! let err = service.ready().await.unwrap().call(()).await.unwrap_err();
//! assert_eq!(ErrorKind::of(&*err), ErrorKind::Elapsed);
//! # }
//! ```

pub mod error;
pub mod future;

mod deadline;
#[cfg(feature = "grpc")]
mod grpc;
mod layer;
#[cfg(feature = "grpc")]
mod propagate;
mod service;

#[cfg(feature = "http")]
pub use self::deadline::FromExtensions;
pub use self::deadline::{Deadline, IgnoreDeadline, ReadDeadline};
#[cfg(feature = "grpc")]
pub use self::grpc::{
    encode_grpc_timeout, parse_grpc_timeout, FromGrpcTimeout, GrpcTimeoutValue, GRPC_TIMEOUT,
};
pub use self::layer::TimeoutLayer;
#[cfg(feature = "grpc")]
pub use self::propagate::{PropagateDeadlineLayer, PropagateDeadlineService};
pub use self::service::TimeoutService;
