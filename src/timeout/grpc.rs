//! The `grpc-timeout` header: a gRPC caller's deadline, honoured by the server.

use std::time::Duration;

use super::deadline::{Deadline, ReadDeadline};
use super::error::InvalidDeadline;
use crate::error::BoxError;

/// The header gRPC clients send their deadline in.
///
/// ```
/// let request = http::Request::builder()
///     .header(seawall::timeout::GRPC_TIMEOUT, "250m")
///     .body(())
///     .unwrap();
/// assert!(request.headers().contains_key("grpc-timeout"));
/// ```
pub const GRPC_TIMEOUT: &str = "grpc-timeout";

/// Parses a `grpc-timeout` value strictly, as the gRPC spec writes it: one to
/// eight ASCII digits, then one unit of `H`, `M`, `S`, `m`, `u` or `n`. `None`
/// for anything else (signs, spaces, nine digits, a missing or unknown unit).
///
/// ```
/// use seawall::timeout::parse_grpc_timeout;
/// use std::time::Duration;
///
/// assert_eq!(parse_grpc_timeout(b"250m"), Some(Duration::from_millis(250)));
/// assert_eq!(parse_grpc_timeout(b"99999999H"), Some(Duration::from_secs(99_999_999 * 3600)));
/// assert_eq!(parse_grpc_timeout(b"100"), None, "no unit");
/// assert_eq!(parse_grpc_timeout(b"123456789S"), None, "nine digits");
/// assert_eq!(parse_grpc_timeout(b"-1S"), None);
/// ```
pub fn parse_grpc_timeout(value: &[u8]) -> Option<Duration> {
    let (&unit, digits) = value.split_last()?;
    if digits.is_empty() || digits.len() > 8 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let amount = digits
        .iter()
        .fold(0u64, |n, d| n * 10 + u64::from(d - b'0'));
    Some(match unit {
        b'H' => Duration::from_secs(amount * 3600),
        b'M' => Duration::from_secs(amount * 60),
        b'S' => Duration::from_secs(amount),
        b'm' => Duration::from_millis(amount),
        b'u' => Duration::from_micros(amount),
        b'n' => Duration::from_nanos(amount),
        _ => return None,
    })
}

/// Reads a server request's deadline from its `grpc-timeout` header (and from
/// a [`Deadline`] extension, the earlier winning), so that a
/// [`TimeoutService`](super::TimeoutService) stops the handler when the caller has given up.
/// A malformed header refuses the request with
/// [`InvalidDeadline`] (which
/// [`tonic::ErrorResponseLayer`](crate::tonic::ErrorResponseLayer) answers with `INTERNAL`,
/// as gRPC servers do).
///
/// ```
/// use seawall::timeout::FromGrpcTimeout;
/// use seawall::timeout::ReadDeadline;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let request = http::Request::builder().header("grpc-timeout", "2S").body(()).unwrap();
/// let deadline = FromGrpcTimeout.deadline_of(&request).unwrap();
/// assert_eq!(deadline.remaining().as_secs(), 2);
///
/// let garbled = http::Request::builder().header("grpc-timeout", "2 S").body(()).unwrap();
/// assert!(FromGrpcTimeout.read(&garbled).is_err());
/// # }
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct FromGrpcTimeout;

impl<B> ReadDeadline<http::Request<B>> for FromGrpcTimeout {
    fn deadline_of(&self, request: &http::Request<B>) -> Option<Deadline> {
        self.read(request).ok().flatten()
    }

    fn read(&self, request: &http::Request<B>) -> Result<Option<Deadline>, BoxError> {
        let extension = request.extensions().get::<Deadline>().copied();
        let header = match request.headers().get(GRPC_TIMEOUT) {
            None => None,
            Some(value) => match parse_grpc_timeout(value.as_bytes()) {
                Some(timeout) => Some(Deadline::after(timeout)),
                None => return Err(InvalidDeadline::new(GRPC_TIMEOUT).into()),
            },
        };
        Ok(match (extension, header) {
            (Some(a), Some(b)) => Some(if a.instant() <= b.instant() { a } else { b }),
            (a, b) => a.or(b),
        })
    }
}
