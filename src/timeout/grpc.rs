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

/// The largest amount a `grpc-timeout` value may carry: eight digits.
const MAX_AMOUNT: u128 = 99_999_999;

/// The units of `grpc-timeout`, finest first, with their length in nanoseconds.
const UNITS: [(u8, u128); 6] = [
    (b'n', 1),
    (b'u', 1_000),
    (b'm', 1_000_000),
    (b'S', 1_000_000_000),
    (b'M', 60_000_000_000),
    (b'H', 3_600_000_000_000),
];

/// An encoded `grpc-timeout` value (at most eight digits and a unit), kept
/// on the stack; made by [`encode_grpc_timeout`].
///
/// ```
/// use seawall::timeout::encode_grpc_timeout;
/// use std::time::Duration;
///
/// let value = encode_grpc_timeout(Duration::from_millis(250)).unwrap();
/// assert_eq!(value.as_str(), "250000u");
/// assert_eq!(value.to_string(), "250000u");
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct GrpcTimeoutValue {
    bytes: [u8; 9],
    len: u8,
}

impl GrpcTimeoutValue {
    /// The value as text, such as `"250000u"`.
    pub fn as_str(&self) -> &str {
        // Only ASCII digits and a unit letter are ever written.
        std::str::from_utf8(self.as_bytes()).unwrap_or_default()
    }

    /// The value as bytes, ready for a header.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

impl std::fmt::Display for GrpcTimeoutValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::fmt::Debug for GrpcTimeoutValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("GrpcTimeoutValue")
            .field(&self.as_str())
            .finish()
    }
}

/// Encodes `timeout` as a `grpc-timeout` value that [`parse_grpc_timeout`]
/// (and every gRPC implementation) reads back as **no shorter** than
/// `timeout`: the finest unit whose amount fits in the eight digits the gRPC
/// over HTTP/2 protocol allows, rounded up, as grpc-go encodes it.
///
/// Where it differs from grpc-go, and why:
///
/// - **Zero** is `1n`, not grpc-go's `0n`: the protocol's grammar asks for a
///   positive integer, a strict peer may refuse `0`, and one nanosecond is
///   as good as zero to anyone waiting.
/// - **More than 99,999,999 hours** (about 11,400 years, up to
///   `Duration::MAX`) is `None`: no eight-digit value is that long, and the
///   only way to say "no shorter than this" is to send no `grpc-timeout` at
///   all (no deadline). grpc-go cannot be asked (its `Duration` ends at
///   about 292 years, which it sends as `2562048H`).
///
/// ```
/// use seawall::timeout::{encode_grpc_timeout, parse_grpc_timeout};
/// use std::time::Duration;
///
/// let encode = |d| encode_grpc_timeout(d).map(|v| v.to_string());
/// assert_eq!(encode(Duration::ZERO).as_deref(), Some("1n"));
/// assert_eq!(encode(Duration::from_nanos(1)).as_deref(), Some("1n"));
/// assert_eq!(encode(Duration::from_nanos(99_999_999)).as_deref(), Some("99999999n"));
/// assert_eq!(encode(Duration::from_secs(1)).as_deref(), Some("1000000u"));
/// assert_eq!(encode(Duration::from_nanos(100_000_001)).as_deref(), Some("100001u"), "rounded up");
/// assert_eq!(encode(Duration::MAX), None);
///
/// let sent = encode_grpc_timeout(Duration::from_nanos(123_456_789_123)).unwrap();
/// assert!(parse_grpc_timeout(sent.as_bytes()).unwrap() >= Duration::from_nanos(123_456_789_123));
/// ```
pub fn encode_grpc_timeout(timeout: Duration) -> Option<GrpcTimeoutValue> {
    let nanos = timeout.as_nanos().max(1);
    UNITS.iter().find_map(|&(unit, length)| {
        let amount = nanos.div_ceil(length);
        (amount <= MAX_AMOUNT).then(|| write_value(amount as u32, unit))
    })
}

/// `amount` (at most eight digits) in decimal, then `unit`.
fn write_value(mut amount: u32, unit: u8) -> GrpcTimeoutValue {
    let mut digits = [0u8; 8];
    let mut count = 0;
    loop {
        digits[count] = b'0' + (amount % 10) as u8;
        count += 1;
        amount /= 10;
        if amount == 0 {
            break;
        }
    }
    let mut bytes = [0u8; 9];
    for (slot, digit) in bytes.iter_mut().zip(digits[..count].iter().rev()) {
        *slot = *digit;
    }
    bytes[count] = unit;
    GrpcTimeoutValue {
        bytes,
        len: count as u8 + 1,
    }
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
