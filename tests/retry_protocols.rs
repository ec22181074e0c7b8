//! Retries and deadlines held to the protocols: gRPC's retry design (A6) with
//! grpc-go and grpc-java, the gRPC over HTTP/2 protocol's `grpc-timeout`, RFC
//! 9110's `Retry-After`, and the AWS SDKs' standard retry quota. Each expected
//! value names its source.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use proptest::prelude::*;
use seawall::retry::{
    backoff_fn, AttemptEnd, AwsRetryQuota, GrpcRetry, GrpcRetryThrottle, RetryBudget, RetryConfig,
    RetryEvent, RetryLayer,
};
use seawall::timeout::{
    encode_grpc_timeout, parse_grpc_timeout, Deadline, PropagateDeadlineLayer, GRPC_TIMEOUT,
};
use seawall::{BoxError, ErrorKind};
use tower::{Layer, Service, ServiceExt};

const MS: Duration = Duration::from_millis(1);

/// A gRPC answer: `grpc-status` and, when given, `grpc-retry-pushback-ms` values.
fn grpc(status: &str, pushback: &[&str]) -> http::Response<()> {
    let mut response = http::Response::builder().header("grpc-status", status);
    for value in pushback {
        response = response.header("grpc-retry-pushback-ms", *value);
    }
    response.body(()).unwrap()
}

type Reply = Result<http::Response<()>, BoxError>;

/// A service answering from a script, one reply per call.
#[derive(Clone)]
struct Scripted(Arc<Mutex<VecDeque<Reply>>>);

impl Scripted {
    fn new(replies: Vec<Reply>) -> Self {
        Self(Arc::new(Mutex::new(replies.into())))
    }
}

impl Service<u32> for Scripted {
    type Response = http::Response<()>;
    type Error = BoxError;
    type Future = std::future::Ready<Reply>;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), BoxError>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: u32) -> Self::Future {
        std::future::ready(
            self.0
                .lock()
                .unwrap()
                .pop_front()
                .expect("a scripted reply"),
        )
    }
}

/// A gRPC retry layer over `replies`, drawing on `budget`, with no waits.
fn grpc_client(
    budget: impl RetryBudget + 'static,
    max_attempts: u32,
    replies: Vec<Reply>,
) -> impl Service<u32, Response = http::Response<()>, Error = BoxError> {
    RetryLayer::new(
        RetryConfig::builder()
            .max_attempts(max_attempts)
            .backoff(backoff_fn(|_| Duration::ZERO))
            .budget(budget)
            .build()
            .unwrap(),
    )
    .with_policy(GrpcRetry::default())
    .layer(Scripted::new(replies))
}

async fn send(
    client: &mut (impl Service<u32, Response = http::Response<()>, Error = BoxError> + Send),
) -> Result<http::Response<()>, BoxError> {
    client.ready().await?.call(1).await
}

// ---------------------------------------------------------------- gRPC throttling

/// A6: "The only RPCs that are counted as failures for the throttling policy are
/// RPCs that fail with a status code that qualifies as retryable ... or that
/// receive a pushback response indicating not to retry"; grpc-go
/// (`shouldRetry`/`successfulRPC`) and grpc-java (`onQualifiedFailureThenCheckIsAboveThreshold`,
/// `onSuccess` on OK) count the same way.
#[tokio::test(start_paused = true)]
async fn the_throttle_counts_what_a6_counts() {
    let cases: &[(&str, &[&str], f64)] = &[
        // OK: a success, +token_ratio (A6) -- from 7 tokens to 7.5.
        ("0", &[], 7.5),
        // INTERNAL, not retryable, no pushback: unchanged (A6, grpc-go, grpc-java).
        ("13", &[], 7.0),
        // NOT_FOUND, not a failure to the classifier: unchanged (grpc-go credits only OK).
        ("5", &[], 7.0),
        // INVALID_ARGUMENT: A6's own example of what must not count.
        ("3", &[], 7.0),
        // UNAVAILABLE with "do not retry" pushback: a failure (A6).
        ("14", &["-1"], 6.0),
        // INTERNAL with "do not retry" pushback: a failure whatever the status (A6).
        ("13", &["-1"], 6.0),
        // NOT_FOUND with "do not retry" pushback: a failure too (A6; grpc-go throttles
        // before it looks at the code).
        ("5", &["-1"], 6.0),
        // Two pushback values: "do not retry" (grpc-go), so a failure.
        ("13", &["5", "10"], 6.0),
    ];
    for &(status, pushback, expected) in cases {
        let bucket = GrpcRetryThrottle::new(10, 0.5).unwrap();
        for _ in 0..3 {
            bucket.record(AttemptEnd::Failed, None);
        }
        let mut client = grpc_client(bucket.clone(), 3, vec![Ok(grpc(status, pushback))]);
        let response = send(&mut client).await.unwrap();
        assert_eq!(response.headers()["grpc-status"], status);
        assert_eq!(
            bucket.level(),
            expected,
            "status {status}, pushback {pushback:?}"
        );
    }
}

/// The bug this replaces: non-retryable failures credited as successes could lift
/// the bucket over half and let a retry through that A6 refuses.
#[tokio::test(start_paused = true)]
async fn non_retryable_failures_never_make_a_refused_retry_possible() {
    let bucket = GrpcRetryThrottle::new(10, 1.0).unwrap();
    for _ in 0..5 {
        bucket.record(AttemptEnd::Failed, None);
    }
    assert_eq!(bucket.level(), 5.0);
    let mut client = grpc_client(
        bucket.clone(),
        3,
        vec![
            Ok(grpc("13", &[])),
            Ok(grpc("13", &[])),
            Ok(grpc("14", &[])),
        ],
    );
    send(&mut client).await.unwrap();
    send(&mut client).await.unwrap();
    assert_eq!(
        bucket.level(),
        5.0,
        "two INTERNALs leave the bucket as it was"
    );
    // The UNAVAILABLE takes a token and is refused its retry (the script holds no
    // second answer): the response stands, as a retryable response not retried does.
    let response = send(&mut client).await.unwrap();
    assert_eq!(response.headers()["grpc-status"], "14");
    assert_eq!(bucket.level(), 4.0);
}

/// `tokenRatio` in thousandths: A6 keeps three decimal places, and grpc-java
/// (`(int) (tokenRatio * 1000)`) and grpc-core truncate the rest.
#[test]
fn token_ratio_keeps_three_places_by_truncation() {
    let table: &[(u32, f64, Option<u64>)] = &[
        (10, 0.5466, Some(546)), // the case: truncated, not rounded to 547
        (10, 0.1, Some(100)),
        (10, 0.0019, Some(1)),
        // 4.35 is 4.34999... as an f64; it means 4.350 (grpc-java's float would keep 4.349).
        (10, 4.35, Some(4_350)),
        (10, 10.0, Some(10_000)),
        (10, 0.0005, None), // truncates to 0: no refill at all, refused
        (10, 0.0, None),
        (10, -1.0, None),
        (10, f64::NAN, None),
        (10, f64::INFINITY, None),
        (10, 10.001, None), // more than max_tokens
        (1000, 1000.0, Some(1_000_000)),
    ];
    for &(max_tokens, ratio, expected) in table {
        let got = GrpcRetryThrottle::new(max_tokens, ratio)
            .ok()
            .map(|bucket| bucket.token_ratio_thousandths());
        assert_eq!(
            got, expected,
            "max_tokens {max_tokens}, token_ratio {ratio}"
        );
    }
    assert_eq!(
        GrpcRetryThrottle::new(0, 0.1).unwrap_err().field(),
        "max_tokens"
    );
    assert_eq!(
        GrpcRetryThrottle::new(1001, 0.1).unwrap_err().field(),
        "max_tokens"
    );
}

#[derive(Clone, Copy, Debug)]
enum Op {
    Record(AttemptEnd),
    Withdraw,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        Just(Op::Record(AttemptEnd::Succeeded)),
        Just(Op::Record(AttemptEnd::Failed)),
        Just(Op::Record(AttemptEnd::TimedOut)),
        Just(Op::Record(AttemptEnd::NotRetryable)),
        Just(Op::Withdraw),
    ]
}

proptest! {
    /// The bucket against A6's text as a plain sequential model: tokens start at
    /// max, a failure takes one (not below 0), a success adds the ratio (not above
    /// max), anything else nothing; a retry is allowed while tokens > max / 2.
    #[test]
    fn the_throttle_matches_a_sequential_model(
        max_tokens in 1u32..=1000,
        ratio_thousandths in 1u64..=1_000_000,
        ops in proptest::collection::vec(op(), 0..400),
    ) {
        let ratio_thousandths = ratio_thousandths.min(u64::from(max_tokens) * 1000);
        let bucket = GrpcRetryThrottle::new(max_tokens, ratio_thousandths as f64 / 1000.0).unwrap();
        prop_assert_eq!(bucket.token_ratio_thousandths(), ratio_thousandths);
        let max = i64::from(max_tokens) * 1000;
        let mut tokens = max;
        for op in ops {
            match op {
                Op::Record(end) => {
                    bucket.record(end, None);
                    tokens = match end {
                        AttemptEnd::Succeeded => (tokens + ratio_thousandths as i64).min(max),
                        AttemptEnd::Failed | AttemptEnd::TimedOut => (tokens - 1000).max(0),
                        _ => tokens,
                    };
                }
                Op::Withdraw => {
                    let allowed = bucket.try_withdraw(AttemptEnd::Failed).is_some();
                    prop_assert_eq!(allowed, tokens * 2 > max, "tokens {} of {}", tokens, max);
                }
            }
            prop_assert_eq!(bucket.level(), tokens as f64 / 1000.0);
        }
    }
}

// ---------------------------------------------------------------- pushback and backoff

/// A6, "Summary of Retry and Hedging Logic", case 5: "Retry in n ms. If this
/// attempt also fails, retry delay will reset to initial backoff for the following
/// retry"; grpc-java sets `nextBackoffIntervalNanos = initialBackoffNanos`.
#[tokio::test(start_paused = true)]
async fn the_backoff_starts_over_after_a_pushback() {
    let delays = Arc::new(Mutex::new(Vec::new()));
    let log = delays.clone();
    let mut client = RetryLayer::new(
        RetryConfig::builder()
            .max_attempts(6)
            .no_budget()
            // Retry number n waits n x 100 ms, so the restart shows.
            .backoff(backoff_fn(|retry| 100 * MS * retry))
            .on_event(move |event| {
                if let RetryEvent::Scheduled { delay, .. } = event {
                    log.lock().unwrap().push(*delay);
                }
            })
            .build()
            .unwrap(),
    )
    .with_policy(GrpcRetry::default())
    .layer(Scripted::new(vec![
        Ok(grpc("14", &[])),
        Ok(grpc("14", &[])),
        Ok(grpc("14", &["7"])),
        Ok(grpc("14", &[])),
        Ok(grpc("14", &[])),
        Ok(grpc("0", &[])),
    ]));
    send(&mut client).await.unwrap();
    assert_eq!(
        *delays.lock().unwrap(),
        [100 * MS, 200 * MS, 7 * MS, 100 * MS, 200 * MS],
        "after the 7 ms pushback the backoff is the first retry's again"
    );
}

// ---------------------------------------------------------------- the AWS quota

/// The AWS SDKs' standard retry mode test cases ("Retry eventually succeeds", "Fail
/// due to max attempts reached", "Retry Quota reached after a single retry", "No
/// retries at all if retry quota is 0"), as the SDKs' retry specification writes them
/// and aws-sdk-ruby, smithy-kotlin and aws-sdk-cpp test them: the quota after each
/// response.
#[tokio::test(start_paused = true)]
async fn the_aws_quota_follows_the_sdk_test_cases() {
    fn failed() -> Reply {
        Err("HTTP 500".into())
    }
    let ok = || Ok(http::Response::new(()));
    struct Case {
        name: &'static str,
        capacity: u32,
        replies: Vec<Reply>,
        after: &'static [f64],
        refused: bool,
    }
    let cases = vec![
        Case {
            name: "Retry eventually succeeds",
            capacity: 500,
            replies: vec![failed(), failed(), ok()],
            after: &[495.0, 490.0, 495.0],
            refused: false,
        },
        Case {
            name: "Fail due to max attempts reached",
            capacity: 500,
            replies: vec![failed(), failed(), failed()],
            after: &[495.0, 490.0, 490.0],
            refused: false,
        },
        Case {
            name: "Retry Quota reached after a single retry",
            capacity: 5,
            replies: vec![failed(), failed()],
            after: &[0.0, 0.0],
            refused: true,
        },
        Case {
            name: "No retries at all if retry quota is 0",
            capacity: 0,
            replies: vec![failed()],
            after: &[0.0],
            refused: true,
        },
    ];
    for case in cases {
        let quota = AwsRetryQuota::new(case.capacity, 5, 10, 1).unwrap();
        let levels = Arc::new(Mutex::new(Vec::new()));
        let (log, seen) = (levels.clone(), quota.clone());
        let replies = Arc::new(Mutex::new(VecDeque::from(case.replies)));
        let inner = tower::service_fn(move |_: u32| {
            let reply = replies.lock().unwrap().pop_front().unwrap();
            let (log, seen) = (log.clone(), seen.clone());
            async move {
                // The quota as the attempt is made; the last one is read after.
                log.lock().unwrap().push(seen.level());
                reply
            }
        });
        let mut client = RetryLayer::new(
            RetryConfig::builder()
                .max_attempts(3)
                .backoff(backoff_fn(|_| MS))
                .budget(quota.clone())
                .build()
                .unwrap(),
        )
        .layer(inner);
        let result = client.ready().await.unwrap().call(1).await;
        let mut levels = levels.lock().unwrap()[1..].to_vec();
        levels.push(quota.level());
        assert_eq!(levels, case.after, "{}", case.name);
        let refused =
            matches!(&result, Err(err) if ErrorKind::of(&**err) == ErrorKind::BudgetExhausted);
        assert_eq!(refused, case.refused, "{}", case.name);
    }
}

/// Costs and refunds one at a time: a retry after a timeout costs 10
/// (TIMEOUT_RETRY_COST), and its success gives those 10 back (aws-sdk-cpp's test:
/// "Acquire 5 tokens", "Acquire 10 tokens", "Release 10 tokens"); a first-attempt
/// success adds NO_RETRY_INCREMENT = 1, never above capacity.
#[test]
fn the_aws_quota_prices_timeouts_and_refunds_successes() {
    let quota = AwsRetryQuota::standard();
    quota.record(AttemptEnd::Succeeded, None);
    assert_eq!(quota.level(), 500.0, "never above capacity");
    let first = quota.try_withdraw(AttemptEnd::Failed).unwrap();
    assert_eq!(first.cost(), 5);
    quota.record(AttemptEnd::TimedOut, Some(first));
    let second = quota.try_withdraw(AttemptEnd::TimedOut).unwrap();
    assert_eq!(second.cost(), 10);
    assert_eq!(quota.level(), 485.0);
    quota.record(AttemptEnd::Succeeded, Some(second));
    assert_eq!(quota.level(), 495.0);
    quota.record(AttemptEnd::Succeeded, None);
    assert_eq!(quota.level(), 496.0);
    // Failures not worth retrying, and failures themselves, cost nothing.
    quota.record(AttemptEnd::NotRetryable, None);
    quota.record(AttemptEnd::Failed, None);
    assert_eq!(quota.level(), 496.0);
    // Drained: no retry it cannot pay for, and the level never goes below zero.
    while quota.try_withdraw(AttemptEnd::TimedOut).is_some() {}
    assert_eq!(quota.level(), 6.0);
    assert!(quota.try_withdraw(AttemptEnd::TimedOut).is_none());
    assert!(quota.try_withdraw(AttemptEnd::Failed).is_some());
    assert_eq!(quota.level(), 1.0);
    assert!(quota.try_withdraw(AttemptEnd::Failed).is_none());
    assert_eq!(
        AwsRetryQuota::new(2_000_000, 5, 10, 1).unwrap_err().field(),
        "capacity"
    );
    assert_eq!(
        AwsRetryQuota::new(500, 5, 0, 1).unwrap_err().field(),
        "timeout_cost"
    );
    assert_eq!(
        AwsRetryQuota::new(500, 5, 10, 1_000_001)
            .unwrap_err()
            .field(),
        "success_increment"
    );
}

/// A flood of threads paying and refunding never loses a token nor goes below zero.
#[test]
fn the_aws_quota_holds_under_contention() {
    let quota = AwsRetryQuota::standard();
    std::thread::scope(|scope| {
        for _ in 0..4 {
            let quota = quota.clone();
            scope.spawn(move || {
                for _ in 0..10_000 {
                    if let Some(paid) = quota.try_withdraw(AttemptEnd::Failed) {
                        quota.record(AttemptEnd::Succeeded, Some(paid));
                    }
                }
            });
        }
    });
    assert_eq!(quota.level(), 500.0);
}

// ---------------------------------------------------------------- grpc-timeout

/// The encoder: the gRPC over HTTP/2 protocol's grammar (at most 8 digits and a
/// unit), rounded up, the finest unit that fits (grpc-go's `encodeTimeout`).
#[test]
fn grpc_timeout_encoding_table() {
    let table: &[(Duration, Option<&str>)] = &[
        // Zero: grpc-go sends "0n"; the grammar asks for a positive integer, so 1n.
        (Duration::ZERO, Some("1n")),
        (Duration::from_nanos(1), Some("1n")),
        (Duration::from_nanos(99_999_999), Some("99999999n")),
        // One nanosecond more no longer fits in nanoseconds: microseconds, rounded up.
        (Duration::from_nanos(100_000_000), Some("100000u")),
        (Duration::from_nanos(100_000_001), Some("100001u")),
        (Duration::from_secs(1), Some("1000000u")), // grpc-go: "1000000u"
        (Duration::from_secs(100), Some("100000m")),
        (Duration::from_secs(100_000), Some("100000S")),
        (Duration::from_secs(100_000_000), Some("1666667M")),
        (Duration::from_secs(6_000_000_000), Some("1666667H")),
        (Duration::from_secs(99_999_999 * 3600), Some("99999999H")),
        // Longer than any 8-digit value: no grpc-timeout (no deadline) is the only
        // value no shorter than what is left.
        (Duration::from_secs(99_999_999 * 3600 + 1), None),
        (Duration::MAX, None),
    ];
    for &(timeout, expected) in table {
        let encoded = encode_grpc_timeout(timeout);
        assert_eq!(
            encoded.as_ref().map(|v| v.as_str()),
            expected,
            "{timeout:?}"
        );
        if let Some(value) = encoded {
            let read = parse_grpc_timeout(value.as_bytes()).unwrap();
            assert!(read >= timeout, "{timeout:?} came back as {read:?}");
        }
    }
}

proptest! {
    /// Whatever the duration, the value fits the grammar, parses back, is never
    /// shorter, and is longer by less than one unit of what it is written in.
    #[test]
    fn grpc_timeout_round_trips_never_shorter(secs in 0u64..(99_999_999 * 3600), nanos in 0u32..1_000_000_000) {
        let timeout = Duration::new(secs, nanos);
        let value = encode_grpc_timeout(timeout).unwrap();
        prop_assert!(value.as_bytes().len() <= 9);
        let read = parse_grpc_timeout(value.as_bytes()).unwrap();
        prop_assert!(read >= timeout);
        let unit = match value.as_bytes()[value.as_bytes().len() - 1] {
            b'n' => Duration::from_nanos(1),
            b'u' => Duration::from_micros(1),
            b'm' => Duration::from_millis(1),
            b'S' => Duration::from_secs(1),
            b'M' => Duration::from_secs(60),
            _ => Duration::from_secs(3600),
        };
        prop_assert!(read - timeout < unit.max(Duration::from_nanos(1)));
    }
}

/// The strict parser where the sources disagree. The protocol's grammar:
/// `TimeoutValue` is a positive integer of at most 8 digits, then one unit.
/// grpc-go's `decodeTimeout` (ParseInt) and grpc-java's `TimeoutMarshaller`
/// (Long.parseLong) accept signs; both refuse values longer than 9 characters.
#[test]
fn grpc_timeout_parsing_disputed_inputs() {
    let table: &[(&[u8], Option<Duration>)] = &[
        (b"1S", Some(Duration::from_secs(1))),
        // Signs: outside the grammar; grpc-go and grpc-java read +1S as 1 s and
        // -1S as an expired deadline. Refused here (the request gets INTERNAL).
        (b"+1S", None),
        (b"-1S", None),
        // Zero: outside the grammar (positive); grpc-go and grpc-java accept it.
        // Accepted here as already expired, as they do: refusing is no safer.
        (b"0S", Some(Duration::ZERO)),
        // Spaces: every implementation refuses.
        (b" 1S", None),
        (b"1 S", None),
        (b"1S ", None),
        // More than 8 digits: refused by the grammar and by both implementations.
        (b"123456789S", None),
        (b"000000001S", None),
        // The largest value: 99,999,999 hours. grpc-go clamps it to about 292 years
        // (its Duration), grpc-java saturates at Long.MAX_VALUE nanoseconds; here it
        // is exact.
        (b"99999999H", Some(Duration::from_secs(99_999_999 * 3600))),
        (b"1h", None),
        (b"S", None),
        (b"", None),
    ];
    for &(value, expected) in table {
        assert_eq!(
            parse_grpc_timeout(value),
            expected,
            "{:?}",
            String::from_utf8_lossy(value)
        );
    }
}

// ---------------------------------------------------------------- Retry-After

/// RFC 9110, section 10.2.3 (`Retry-After = HTTP-date / delay-seconds`) and
/// section 5.6.7 (HTTP-date: IMF-fixdate, and the obsolete RFC 850 and asctime
/// formats a recipient MUST accept; `GMT` only; two-digit years read within 50
/// years). urllib3 for comparison: `email.utils.parsedate_tz` (accepts any zone;
/// two-digit years 69-99 as 19xx) and `int()` for delay-seconds (no limit).
#[test]
fn retry_after_disputed_inputs() {
    use seawall::retry::parse_retry_after;
    // Thu, 03 Dec 2026 00:00:00 GMT
    let now = UNIX_EPOCH + Duration::from_secs(1_796_256_000);
    let at = |secs: u64| Some(Duration::from_secs(secs));
    let table: &[(&str, Option<Duration>)] = &[
        ("120", at(120)),
        // IMF-fixdate, one minute ahead.
        ("Thu, 03 Dec 2026 00:01:00 GMT", at(60)),
        // RFC 850, obsolete but MUST be accepted.
        ("Thursday, 03-Dec-26 00:01:00 GMT", at(60)),
        // asctime, obsolete but MUST be accepted.
        ("Thu Dec  3 00:01:00 2026", at(60)),
        // Two-digit year 75: 2075 is 49 years ahead, not more than 50, so RFC 9110
        // reads 2075 (a wait cut to max_pushback by the layer); urllib3 reads 1975.
        ("Tuesday, 03-Dec-75 00:00:00 GMT", at(1_546_300_800)),
        // Two-digit year 77: 2077 is more than 50 years ahead, so 1977: no wait.
        ("Saturday, 03-Dec-77 00:00:00 GMT", at(0)),
        // A zone other than GMT is not an HTTP-date: ignored (the backoff applies);
        // urllib3 honours the zone.
        ("Thu, 03 Dec 2026 00:01:00 PST", None),
        ("Thu, 03 Dec 2026 00:01:00 +0000", None),
        // A date in the past: no wait.
        ("Thu, 03 Dec 2020 00:00:00 GMT", at(0)),
        // Huge delay-seconds: RFC 9110 sets no limit; saturates here (and the layer
        // cuts it to max_pushback); urllib3 passes it to time.sleep.
        (
            "99999999999999999999999",
            Some(Duration::from_secs(u64::MAX)),
        ),
        ("-5", None),
        ("1.5", None),
        ("", None),
    ];
    for &(value, expected) in table {
        assert_eq!(
            parse_retry_after(value.as_bytes(), now),
            expected,
            "{value:?}"
        );
    }
    let _: SystemTime = now;
}

// ---------------------------------------------------------------- deadline propagation

fn echo_headers() -> impl Service<
    http::Request<()>,
    Response = http::HeaderMap,
    Error = std::convert::Infallible,
    Future = impl std::future::Future<Output = Result<http::HeaderMap, std::convert::Infallible>>,
> + Clone {
    tower::service_fn(|request: http::Request<()>| async move {
        Ok::<_, std::convert::Infallible>(request.headers().clone())
    })
}

fn with_deadline(left: Duration) -> http::Request<()> {
    let mut request = http::Request::new(());
    request.extensions_mut().insert(Deadline::after(left));
    request
}

#[tokio::test(start_paused = true)]
async fn each_request_carries_the_time_left_as_grpc_timeout() {
    let mut client = PropagateDeadlineLayer::grpc_timeout().layer(echo_headers());
    let sent = client
        .ready()
        .await
        .unwrap()
        .call(with_deadline(250 * MS))
        .await
        .unwrap();
    assert_eq!(sent[GRPC_TIMEOUT], "250000u");

    // Time passes: the next request (a retry, say) carries what is left then.
    let deadline = Deadline::after(Duration::from_secs(1));
    tokio::time::advance(400 * MS).await;
    let mut request = http::Request::new(());
    request.extensions_mut().insert(deadline);
    let sent = client.ready().await.unwrap().call(request).await.unwrap();
    assert_eq!(sent[GRPC_TIMEOUT], "600000u");

    // Passed: one nanosecond, which the server reads as already expired.
    tokio::time::advance(Duration::from_secs(1)).await;
    let mut request = http::Request::new(());
    request.extensions_mut().insert(deadline);
    let sent = client.ready().await.unwrap().call(request).await.unwrap();
    assert_eq!(sent[GRPC_TIMEOUT], "1n");

    // No deadline: sent as it is.
    let sent = client
        .ready()
        .await
        .unwrap()
        .call(http::Request::new(()))
        .await
        .unwrap();
    assert!(!sent.contains_key(GRPC_TIMEOUT));
}

#[tokio::test(start_paused = true)]
async fn a_shorter_timeout_already_on_the_request_is_kept() {
    let mut client = PropagateDeadlineLayer::grpc_timeout().layer(echo_headers());
    let mut request = with_deadline(Duration::from_secs(5));
    request
        .headers_mut()
        .insert(GRPC_TIMEOUT, "100m".parse().unwrap());
    let sent = client.ready().await.unwrap().call(request).await.unwrap();
    assert_eq!(sent[GRPC_TIMEOUT], "100m");

    // A longer one, or a garbled one, is replaced by the time left.
    for carried in ["10S", "soon", "-1S"] {
        let mut request = with_deadline(Duration::from_secs(5));
        request
            .headers_mut()
            .insert(GRPC_TIMEOUT, carried.parse().unwrap());
        let sent = client.ready().await.unwrap().call(request).await.unwrap();
        assert_eq!(sent[GRPC_TIMEOUT], "5000000u", "{carried}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_deadline_too_far_to_write_sends_no_grpc_timeout() {
    let mut client = PropagateDeadlineLayer::grpc_timeout().layer(echo_headers());
    // Deadline::after saturates around thirty years: still within 99,999,999 hours.
    let sent = client
        .ready()
        .await
        .unwrap()
        .call(with_deadline(Duration::MAX))
        .await
        .unwrap();
    let value = parse_grpc_timeout(sent[GRPC_TIMEOUT].as_bytes()).unwrap();
    assert!(value > Duration::from_secs(86_400 * 365 * 29), "{value:?}");
    // A deadline the encoder cannot write at all: nothing is sent.
    let mut client = PropagateDeadlineLayer::grpc_timeout()
        .with_reader(|_: &http::Request<()>| {
            Some(Deadline::at(
                tokio::time::Instant::now() + Duration::from_secs(100_000_000 * 3600),
            ))
        })
        .layer(echo_headers());
    let sent = client
        .ready()
        .await
        .unwrap()
        .call(http::Request::new(()))
        .await
        .unwrap();
    assert!(!sent.contains_key(GRPC_TIMEOUT));
}

#[tokio::test(start_paused = true)]
async fn a_header_of_your_own_carries_whole_milliseconds_rounded_up() {
    let name = http::HeaderName::from_static("x-request-timeout-ms");
    let mut client = PropagateDeadlineLayer::millis_header(name.clone()).layer(echo_headers());
    let sent = client
        .ready()
        .await
        .unwrap()
        .call(with_deadline(Duration::from_micros(1_500)))
        .await
        .unwrap();
    assert_eq!(sent[&name], "2");
    let sent = client
        .ready()
        .await
        .unwrap()
        .call(with_deadline(Duration::ZERO))
        .await
        .unwrap();
    assert_eq!(sent[&name], "0");
    // Shorter and carried: kept. Hostile values: replaced.
    for (carried, expected) in [
        ("1", "1"),
        ("99999999999999999999999", "3000"),
        ("-1", "3000"),
    ] {
        let mut request = with_deadline(Duration::from_secs(3));
        request
            .headers_mut()
            .insert(&name, carried.parse().unwrap());
        let sent = client.ready().await.unwrap().call(request).await.unwrap();
        assert_eq!(sent[&name], expected, "{carried}");
    }
}
