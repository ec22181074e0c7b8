//! seawall's breaker, retry and timeout as a `reqwest_middleware::Middleware`
//! (feature `reqwest-middleware`, reqwest-middleware 0.5 on reqwest 0.13).
//!
//! # Why
//!
//! Many services call their dependencies through
//! `reqwest_middleware::ClientWithMiddleware`, with tracing and
//! authentication middleware already in the chain. [`ResilienceMiddleware`]
//! goes into the same chain and runs, for every request:
//!
//! ```text
//! retry (HttpRetry: budget, backoff, Retry-After) -> breaker (one, or one per host) -> timeout (per attempt) -> the rest of the chain
//! ```
//!
//! the order [`ResilienceLayer`](crate::resilience::ResilienceLayer) uses,
//! for the same reasons: every attempt has a deadline and a timed-out attempt
//! counts against the breaker, and an open breaker stops the retries at once.
//! The middleware that come after it run once per attempt.
//!
//! - **Retries** follow [`HttpRetry`](crate::retry::HttpRetry): `5xx` (but
//!   `501`), `408` and `429` of idempotent requests (or any request with an
//!   `Idempotency-Key`), and transport errors that
//!   [`Transience`](crate::classify::Transience) judges transient (a refused
//!   or reset connection, a timeout, an answer cut short); `Retry-After`
//!   replaces the backoff's delay. The retry budget is shared by every clone
//!   of the middleware. A request whose body is a stream cannot be copied and
//!   is sent once.
//! - **The breaker** counts what
//!   [`HttpStatus::server_errors`](crate::classify::HttpStatus::server_errors)
//!   calls a failure (a `5xx`, a transport error, a timed-out attempt). With
//!   [`breaker_per_host`](ResilienceMiddlewareBuilder::breaker_per_host) each
//!   `scheme://host:port` gets its own, so one dead host does not cut the
//!   client off from the others.
//! - **Errors** come back as `reqwest_middleware::Error`: the client's own
//!   `reqwest::Error` as `Error::Reqwest`, seawall's (an open breaker, a
//!   timed-out attempt, an empty budget) as `Error::Middleware`.
//!   [`ErrorKind::of`](crate::ErrorKind::of) tells them apart, and
//!   [`breaker_retry_after`] says when an open breaker lets calls through
//!   again.
//!
//! ```no_run
//! use std::time::Duration;
//!
//! use reqwest_middleware::ClientBuilder;
//! use seawall::breaker::BreakerConfig;
//! use seawall::reqwest_middleware::ResilienceMiddleware;
//! use seawall::retry::RetryConfig;
//! use seawall::ErrorKind;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let resilience = ResilienceMiddleware::builder()
//!     .name("prices")
//!     .breaker_per_host(BreakerConfig::builder().failure_rate_threshold(0.5).build()?, 64)
//!     .retry(RetryConfig::builder().max_attempts(3).build()?)
//!     .attempt_timeout(Duration::from_millis(500))
//!     .build()?;
//! let client = ClientBuilder::new(reqwest::Client::new()).with(resilience).build();
//!
//! match client.get("http://prices.internal/eur").send().await {
//!     Ok(response) => println!("{}", response.status()),
//!     Err(err) if ErrorKind::of(&err) == ErrorKind::BreakerOpen => println!("degraded"),
//!     Err(err) => return Err(err.into()),
//! }
//! # Ok(())
//! # }
//! ```
//!
//! Each request boxes its future, as every reqwest middleware does, and a
//! per-host breaker makes a `String` key for each request.

mod error;
mod middleware;
mod next;

pub use self::error::breaker_retry_after;
pub use self::middleware::{ResilienceMiddleware, ResilienceMiddlewareBuilder};
