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
    /// Do not retry (the value was negative, malformed, or not one value).
    DoNotRetry,
}

/// Parses a `grpc-retry-pushback-ms` value.
///
/// gRPC's retry design (proposal A6) defines it as "an ASCII encoded signed
/// 32-bit integer" of milliseconds, and "if the value for pushback is
/// negative or unparseable, then it will be seen as the server asking the
/// client not to retry at all". Read to the letter, with grpc-go and
/// grpc-java where A6 leaves room:
///
/// | value | grpc-go | grpc-java | here |
/// |---|---|---|---|
/// | `250` | retry in 250 ms | retry in 250 ms | retry in 250 ms |
/// | `+5` | 5 ms | 5 ms | 5 ms: a sign is part of a signed integer |
/// | `-0` | 0 ms | 0 ms | 0 ms: zero is not negative |
/// | `007` | 7 ms | 7 ms | 7 ms (A6 asks servers not to send it) |
/// | `-1` | do not retry | do not retry | do not retry |
/// | `2147483648` (2^31) and above | retries (64-bit) | do not retry | do not retry: not a 32-bit integer |
/// | ` 5`, `5ms`, empty | do not retry | do not retry | do not retry |
///
/// [`GrpcRetry`](super::GrpcRetry) reads it (with
/// [`grpc_pushback_of`] for a response carrying several values); a policy
/// of your own can too. The retry layer cuts every wait to its
/// [`max_pushback`](super::RetryConfigBuilder::max_pushback).
///
/// ```
/// use seawall::retry::{parse_grpc_pushback, GrpcPushback};
/// use std::time::Duration;
///
/// assert_eq!(parse_grpc_pushback(b"250"), GrpcPushback::After(Duration::from_millis(250)));
/// assert_eq!(parse_grpc_pushback(b"+5"), GrpcPushback::After(Duration::from_millis(5)));
/// assert_eq!(parse_grpc_pushback(b"-0"), GrpcPushback::After(Duration::ZERO));
/// assert_eq!(parse_grpc_pushback(b"-1"), GrpcPushback::DoNotRetry);
/// assert_eq!(parse_grpc_pushback(b"2147483648"), GrpcPushback::DoNotRetry);
/// assert_eq!(parse_grpc_pushback(b"soon"), GrpcPushback::DoNotRetry);
/// ```
pub fn parse_grpc_pushback(value: &[u8]) -> GrpcPushback {
    let millis = std::str::from_utf8(value)
        .ok()
        .and_then(|text| text.parse::<i32>().ok());
    match millis {
        Some(ms) if ms >= 0 => GrpcPushback::After(Duration::from_millis(ms.unsigned_abs().into())),
        _ => GrpcPushback::DoNotRetry,
    }
}

/// The pushback a gRPC response's headers (or trailers) ask for: `None`
/// without a `grpc-retry-pushback-ms`, what [`parse_grpc_pushback`] makes of
/// one value, and [`DoNotRetry`](GrpcPushback::DoNotRetry) for several.
///
/// Several values: A6 defines one integer, and treats what does not parse
/// as "do not retry"; grpc-go does the same (and counts it as a failure for
/// throttling), while grpc-java reads the last value. seawall follows A6
/// and grpc-go: a server whose intent is unclear is not sent more load.
///
/// ```
/// use seawall::retry::{grpc_pushback_of, GrpcPushback};
///
/// let mut headers = http::HeaderMap::new();
/// assert_eq!(grpc_pushback_of(&headers), None);
/// headers.append("grpc-retry-pushback-ms", "10".parse().unwrap());
/// assert!(matches!(grpc_pushback_of(&headers), Some(GrpcPushback::After(_))));
/// headers.append("grpc-retry-pushback-ms", "20".parse().unwrap());
/// assert_eq!(grpc_pushback_of(&headers), Some(GrpcPushback::DoNotRetry));
/// ```
#[cfg(feature = "http")]
pub fn grpc_pushback_of(headers: &http::HeaderMap) -> Option<GrpcPushback> {
    let mut values = headers.get_all("grpc-retry-pushback-ms").iter();
    let first = values.next()?;
    if values.next().is_some() {
        return Some(GrpcPushback::DoNotRetry);
    }
    Some(parse_grpc_pushback(first.as_bytes()))
}

/// ASCII digits only, saturating at `u64::MAX`; `None` for anything else
/// (empty, a sign, spaces inside, non-ASCII).
#[cfg(feature = "http")]
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
/// - Delay-seconds has no upper limit in RFC 9110: a huge value saturates,
///   and the retry layer cuts it to its `max_pushback`.
/// - A date in a zone other than `GMT` is not an HTTP-date (RFC 9110 writes
///   the zone as the literal `GMT`): `None`, and the backoff applies.
/// - A two-digit year (the obsolete RFC 850 format) is read as RFC 9110 says:
///   more than 50 years ahead means the century before.
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
    let text = std::str::from_utf8(value).ok()?;
    let date = match rfc850_as_imf_fixdate(text, now) {
        Some(fixed) => httpdate::parse_http_date(std::str::from_utf8(&fixed).ok()?).ok()?,
        None => httpdate::parse_http_date(text).ok()?,
    };
    Some(date.duration_since(now).unwrap_or(Duration::ZERO))
}

/// An RFC 850 date (`Sunday, 06-Nov-94 08:49:37 GMT`, the obsolete format with a
/// two-digit year) rewritten as an IMF-fixdate whose year follows RFC 9110,
/// section 5.6.7: a year that "appears to be more than 50 years in the future" is
/// "the most recent year in the past that had the same last two digits" (judged
/// by the calendar year of `now`). `None` for any other text. `httpdate` alone
/// fixes the century (00-69 as 20xx, 70-99 as 19xx) and then refuses a weekday
/// that does not match it.
#[cfg(feature = "http")]
fn rfc850_as_imf_fixdate(text: &str, now: std::time::SystemTime) -> Option<[u8; 29]> {
    let (weekday, rest) = text.split_once(", ")?;
    let rest = rest.as_bytes();
    // DD-Mon-YY HH:MM:SS GMT
    if weekday.len() < 6 || rest.len() != 22 || rest[2] != b'-' || rest[6] != b'-' {
        return None;
    }
    let two_digits = std::str::from_utf8(&rest[7..9]).ok()?.parse::<u32>().ok()?;
    let this_year: u32 = httpdate::fmt_http_date(now).get(12..16)?.parse().ok()?;
    let mut year = this_year / 100 * 100 + two_digits;
    if year > this_year + 50 {
        year -= 100;
    } else if year + 100 <= this_year + 50 {
        year += 100;
    }
    if !(1000..=9999).contains(&year) {
        return None;
    }
    // Www, DD Mon YYYY HH:MM:SS GMT
    let mut fixed = *b"Www, DD Mon YYYY HH:MM:SS GMT";
    fixed[..3].copy_from_slice(weekday.get(..3)?.as_bytes());
    fixed[5..7].copy_from_slice(&rest[..2]);
    fixed[8..11].copy_from_slice(&rest[3..6]);
    fixed[12..16].copy_from_slice(year.to_string().as_bytes());
    fixed[16..29].copy_from_slice(&rest[9..22]);
    Some(fixed)
}
