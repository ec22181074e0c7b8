//! Parsing a server's request to wait: `Retry-After` and `grpc-retry-pushback-ms`.
//!
//! A server that knows when it will have capacity again says so; a client that
//! listens waits exactly that long instead of guessing with a backoff. The
//! values come from the network, so parsing is total: a malformed value never
//! panics, and what it means follows each protocol's rule. The retry layer
//! clamps every pushback to its configured maximum.

use std::time::Duration;

/// What a `grpc-retry-pushback-ms` value asks for; see [`parse_grpc_pushback`].
///
/// ```
/// use seawall::retry::GrpcPushback;
/// use std::time::Duration;
///
/// let pushback = GrpcPushback::After(Duration::from_millis(250));
/// assert_ne!(pushback, GrpcPushback::DoNotRetry);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GrpcPushback {
    /// Retry after this long.
    After(Duration),
    /// Do not retry (the value was negative or malformed).
    DoNotRetry,
}

/// Parses a `grpc-retry-pushback-ms` value: a non-negative number of
/// milliseconds (gRPC proposal A6). A negative or malformed value means "do
/// not retry".
///
/// [`GrpcRetry`](super::GrpcRetry) reads it; a policy of your own can too.
///
/// ```
/// use seawall::retry::{parse_grpc_pushback, GrpcPushback};
/// use std::time::Duration;
///
/// assert_eq!(parse_grpc_pushback(b"250"), GrpcPushback::After(Duration::from_millis(250)));
/// assert_eq!(parse_grpc_pushback(b"-1"), GrpcPushback::DoNotRetry);
/// assert_eq!(parse_grpc_pushback(b"soon"), GrpcPushback::DoNotRetry);
/// ```
pub fn parse_grpc_pushback(value: &[u8]) -> GrpcPushback {
    match parse_digits(value) {
        Some(ms) => GrpcPushback::After(Duration::from_millis(ms)),
        None => GrpcPushback::DoNotRetry,
    }
}

/// ASCII digits only, saturating at `u64::MAX`; `None` for anything else
/// (empty, a sign, spaces inside, non-ASCII).
fn parse_digits(value: &[u8]) -> Option<u64> {
    if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(value.iter().fold(0u64, |n, d| {
        n.saturating_mul(10).saturating_add(u64::from(d - b'0'))
    }))
}

/// Parses a `Retry-After` value (RFC 9110, section 10.2.3): delay-seconds, or
/// an HTTP-date (all three formats RFC 9110 accepts) read against `now`. A
/// date in the past means no wait. `None` when malformed: the retry then
/// uses its backoff.
///
/// [`HttpRetry`](super::HttpRetry) reads it; a policy of your own can too.
///
/// ```
/// use seawall::retry::parse_retry_after;
/// use std::time::{Duration, SystemTime, UNIX_EPOCH};
///
/// let now = UNIX_EPOCH + Duration::from_secs(784_111_772); // Sun, 06 Nov 1994 08:49:32 GMT
/// assert_eq!(parse_retry_after(b"120", now), Some(Duration::from_secs(120)));
/// assert_eq!(parse_retry_after(b"Sun, 06 Nov 1994 08:49:37 GMT", now), Some(Duration::from_secs(5)));
/// assert_eq!(parse_retry_after(b"-5", now), None);
/// assert_eq!(parse_retry_after(b"tomorrow", now), None);
/// ```
#[cfg(feature = "http")]
pub fn parse_retry_after(value: &[u8], now: std::time::SystemTime) -> Option<Duration> {
    // Optional whitespace around the value; `trim_ascii` is newer than the crate's MSRV.
    let start = value
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(value.len());
    let end = value
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |i| i + 1);
    let value = &value[start..end];
    if value.first().is_some_and(u8::is_ascii_digit) {
        return parse_digits(value).map(Duration::from_secs);
    }
    let date = httpdate::parse_http_date(std::str::from_utf8(value).ok()?).ok()?;
    Some(date.duration_since(now).unwrap_or(Duration::ZERO))
}
