//! What a quick start needs, in one `use`.
//!
//! ```
//! use seawall::prelude::*;
//! use std::time::Duration;
//! use tower::{Service, ServiceBuilder, ServiceExt, service_fn};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), BoxError> {
//! let stack = ResilienceLayer::builder()
//!     .name("inventory")
//!     .timeout(Duration::from_millis(250))
//!     .build()?;
//! let breaker: Breaker = stack.breaker().clone();
//! let mut client = ServiceBuilder::new()
//!     .layer(stack)
//!     .service(service_fn(|sku: u32| async move { Ok::<_, std::io::Error>(sku * 2) }));
//! assert_eq!(client.ready().await?.call(21).await?, 42);
//! assert_eq!(breaker.state(), State::Closed);
//! # Ok(())
//! # }
//! ```
//!
//! It holds the handles, configs and layers of every enabled layer, the
//! classifiers, and the error types a caller matches on; the rest (events,
//! futures, the plug-in traits' helper types) stays in each layer's module.

pub use crate::breaker::{Breaker, BreakerConfig, BreakerLayer, KeyedBreaker, OpenWait, State};
#[cfg(feature = "grpc")]
pub use crate::classify::GrpcStatus;
#[cfg(feature = "http")]
pub use crate::classify::HttpStatus;
pub use crate::classify::{Classify, FailOnError, Outcome};
pub use crate::clock::Clock;
pub use crate::{BoxError, ConfigError, ErrorKind};

#[cfg(feature = "bulkhead")]
pub use crate::bulkhead::{Bulkhead, BulkheadConfig, BulkheadLayer};
#[cfg(feature = "fallback")]
pub use crate::fallback::{FallbackLayer, FallbackOn};
#[cfg(all(feature = "retry", feature = "bulkhead"))]
pub use crate::resilience::ResilienceLayer;
#[cfg(all(feature = "grpc", feature = "retry"))]
pub use crate::retry::GrpcRetry;
#[cfg(feature = "reqwest")]
pub use crate::retry::ReqwestClone;
#[cfg(feature = "retry")]
pub use crate::retry::{
    Cloned, NoClone, RatioBudget, RetryBudget, RetryConfig, RetryLayer, StandardBackoff,
};
#[cfg(all(feature = "http", feature = "retry"))]
pub use crate::retry::{HttpReplay, HttpRetry};
#[cfg(feature = "timeout")]
pub use crate::timeout::{Deadline, TimeoutLayer};

#[cfg(feature = "health")]
pub use crate::health::{Criticality, HealthRegistry, HealthService};
