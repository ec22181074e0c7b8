//! The header parsers seawall reads from servers and callers: `Retry-After`,
//! `grpc-retry-pushback-ms` and `grpc-timeout`. Any bytes: an answer, never a
//! panic, and what they accept means what the specs say.
#![no_main]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use libfuzzer_sys::fuzz_target;
use seawall::retry::{parse_grpc_pushback, parse_retry_after, GrpcPushback};
use seawall::timeout::parse_grpc_timeout;

fuzz_target!(|input: (u32, &[u8])| {
    let (seconds, value) = input;
    let now = UNIX_EPOCH + Duration::from_secs(u64::from(seconds));

    if let Some(delay) = parse_retry_after(value, now) {
        // Delay-seconds are digits only; anything else accepted is a date.
        let text = std::str::from_utf8(value).expect("only ASCII is accepted").trim();
        if text.bytes().all(|b| b.is_ascii_digit()) {
            let expected = text.parse::<u64>().map(Duration::from_secs);
            if let Ok(expected) = expected {
                assert_eq!(delay, expected);
            }
        } else {
            assert!(text.ends_with("GMT") || text.contains(' '), "{text:?}");
        }
    }
    let _ = parse_retry_after(value, SystemTime::UNIX_EPOCH);

    // A6: a signed 32-bit integer; negative (or anything else) means do not
    // retry. Rust's own `i32` parsing is the reference (it takes `+5`, `-0`
    // and leading zeros, as grpc-go and grpc-java do).
    let reference = std::str::from_utf8(value)
        .ok()
        .and_then(|text| text.parse::<i32>().ok())
        .filter(|&ms| ms >= 0)
        .map(|ms| Duration::from_millis(u64::from(ms.unsigned_abs())));
    match (parse_grpc_pushback(value), reference) {
        (GrpcPushback::After(delay), Some(expected)) => assert_eq!(delay, expected),
        (GrpcPushback::DoNotRetry, None) => {}
        (parsed, expected) => panic!("{value:?}: parsed {parsed:?}, A6 says {expected:?}"),
    }

    if let Some(timeout) = parse_grpc_timeout(value) {
        let (unit, digits) = value.split_last().unwrap();
        assert!((1..=8).contains(&digits.len()));
        assert!(b"HMSmun".contains(unit));
        assert!(timeout <= Duration::from_secs(99_999_999 * 3600));
    }
});
