#![cfg(feature = "timeout")]
//! The timeout layer: per-attempt timeouts, request deadlines, cancellation.

use std::future::pending;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use seawall::breaker::{Breaker, BreakerConfig, BreakerLayer, State};
use seawall::classify::{Classify, FailOnError, Outcome};
use seawall::timeout::{Deadline, TimeoutLayer, TimeoutService};
use seawall::{BoxError, ErrorKind};
use tokio::time::{advance, Instant};
use tokio_test::{assert_pending, assert_ready, task};
use tower::{service_fn, Service, ServiceBuilder, ServiceExt};

/// Sets its flag when dropped: proves the inner future was cancelled.
struct DropFlag(Arc<AtomicBool>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

fn hanging(
    dropped: Arc<AtomicBool>,
) -> impl Service<u32, Response = u32, Error = BoxError> + Clone {
    service_fn(move |_: u32| {
        let guard = DropFlag(dropped.clone());
        async move {
            let _guard = guard;
            pending::<Result<u32, BoxError>>().await
        }
    })
}

#[tokio::test(start_paused = true)]
async fn a_quick_answer_passes() {
    let mut service = TimeoutService::new(
        service_fn(|x: u32| async move { Ok::<_, std::io::Error>(x * 2) }),
        Duration::from_secs(1),
    );
    assert_eq!(service.ready().await.unwrap().call(21).await.unwrap(), 42);
}

#[tokio::test(start_paused = true)]
async fn a_hang_fails_with_elapsed_at_the_timeout_and_drops_the_inner_future() {
    let dropped = Arc::new(AtomicBool::new(false));
    let mut service = TimeoutService::new(hanging(dropped.clone()), Duration::from_millis(500));
    let mut call = task::spawn(service.ready().await.unwrap().call(1));

    assert_pending!(call.poll());
    advance(Duration::from_millis(499)).await;
    assert_pending!(call.poll());
    assert!(!dropped.load(Ordering::SeqCst));

    advance(Duration::from_millis(1)).await;
    let err = assert_ready!(call.poll()).unwrap_err();
    assert_eq!(ErrorKind::of(&*err), ErrorKind::Elapsed);
    assert_eq!(err.to_string(), "request timed out");
    // Dropped on expiry, while the timeout's own future is still alive.
    assert!(
        dropped.load(Ordering::SeqCst),
        "the inner future was dropped"
    );
    drop(call);
}

#[tokio::test(start_paused = true)]
async fn the_inner_error_passes_through() {
    let mut service = TimeoutService::new(
        service_fn(|_: u32| async { Err::<u32, _>(std::io::Error::other("refused")) }),
        Duration::from_secs(1),
    );
    let err = service.ready().await.unwrap().call(1).await.unwrap_err();
    assert_eq!(ErrorKind::of(&*err), ErrorKind::Other);
    assert_eq!(err.to_string(), "refused");
}

#[tokio::test(start_paused = true)]
async fn the_timer_starts_at_call_not_at_construction() {
    let dropped = Arc::new(AtomicBool::new(false));
    let mut service = TimeoutService::new(hanging(dropped), Duration::from_secs(1));
    advance(Duration::from_secs(5)).await;
    let mut call = task::spawn(service.ready().await.unwrap().call(1));
    assert_pending!(call.poll());
    advance(Duration::from_millis(999)).await;
    assert_pending!(call.poll());
    advance(Duration::from_millis(1)).await;
    assert!(assert_ready!(call.poll()).is_err());
}

#[cfg(feature = "grpc")]
mod grpc_timeout {
    use super::*;
    use seawall::timeout::error::InvalidDeadline;
    use seawall::timeout::{parse_grpc_timeout, FromGrpcTimeout};
    use std::sync::atomic::AtomicU32;

    #[test]
    fn the_header_parses_strictly() {
        let ok = [
            ("1H", Duration::from_secs(3600)),
            ("2M", Duration::from_secs(120)),
            ("30S", Duration::from_secs(30)),
            ("250m", Duration::from_millis(250)),
            ("7u", Duration::from_micros(7)),
            ("0n", Duration::ZERO),
            ("99999999n", Duration::from_nanos(99_999_999)),
        ];
        for (value, expected) in ok {
            assert_eq!(
                parse_grpc_timeout(value.as_bytes()),
                Some(expected),
                "{value}"
            );
        }
        for bad in [
            "",
            "S",
            "10",
            "123456789S",
            "-1S",
            "+1S",
            " 1S",
            "1S ",
            "1 S",
            "1s",
            "1h",
            "1.5S",
            "1SS",
            "0x1S",
            "１S",
        ] {
            assert_eq!(parse_grpc_timeout(bad.as_bytes()), None, "{bad:?}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_callers_deadline_cuts_the_handler_short() {
        let mut service = ServiceBuilder::new()
            .layer(TimeoutLayer::new(Duration::from_secs(30)).with_deadlines(FromGrpcTimeout))
            .service(service_fn(|_: http::Request<()>| {
                pending::<Result<(), BoxError>>()
            }));
        let request = http::Request::builder()
            .header("grpc-timeout", "150m")
            .body(())
            .unwrap();
        let start = Instant::now();
        let err = service
            .ready()
            .await
            .unwrap()
            .call(request)
            .await
            .unwrap_err();
        assert_eq!(ErrorKind::of(&*err), ErrorKind::Elapsed);
        assert_eq!(start.elapsed(), Duration::from_millis(150));
    }

    #[tokio::test(start_paused = true)]
    async fn a_malformed_header_refuses_the_request_without_calling_the_handler() {
        let calls = Arc::new(AtomicU32::new(0));
        let seen = calls.clone();
        let mut service = ServiceBuilder::new()
            .layer(TimeoutLayer::new(Duration::from_secs(30)).with_deadlines(FromGrpcTimeout))
            .service(service_fn(move |_: http::Request<()>| {
                seen.fetch_add(1, Ordering::SeqCst);
                async { Ok::<_, BoxError>(()) }
            }));
        let request = http::Request::builder()
            .header("grpc-timeout", "soon")
            .body(())
            .unwrap();
        let err = service
            .ready()
            .await
            .unwrap()
            .call(request)
            .await
            .unwrap_err();
        assert_eq!(
            err.downcast_ref::<InvalidDeadline>()
                .map(InvalidDeadline::header),
            Some("grpc-timeout")
        );
        assert_eq!(calls.load(Ordering::SeqCst), 0);
        let status = seawall::tonic::status_of(&*err);
        assert_eq!(status.code(), tonic::Code::Internal);
    }
}

#[cfg(feature = "http")]
mod deadlines {
    use super::*;
    use seawall::timeout::FromExtensions;

    fn hanging_http() -> impl Service<http::Request<()>, Response = (), Error = BoxError> + Clone {
        service_fn(|_: http::Request<()>| pending::<Result<(), BoxError>>())
    }

    async fn elapsed_after(deadline: Option<Deadline>, timeout: Duration) -> Duration {
        let mut service = ServiceBuilder::new()
            .layer(TimeoutLayer::new(timeout).with_deadlines(FromExtensions))
            .service(hanging_http());
        let mut request = http::Request::new(());
        if let Some(deadline) = deadline {
            request.extensions_mut().insert(deadline);
        }
        let start = Instant::now();
        let err = service
            .ready()
            .await
            .unwrap()
            .call(request)
            .await
            .unwrap_err();
        assert_eq!(ErrorKind::of(&*err), ErrorKind::Elapsed);
        start.elapsed()
    }

    #[tokio::test(start_paused = true)]
    async fn an_earlier_deadline_cuts_the_attempt_short() {
        let deadline = Deadline::after(Duration::from_millis(300));
        assert_eq!(
            elapsed_after(Some(deadline), Duration::from_secs(2)).await,
            Duration::from_millis(300)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_later_deadline_leaves_the_timeout_in_charge() {
        let deadline = Deadline::after(Duration::from_secs(10));
        assert_eq!(
            elapsed_after(Some(deadline), Duration::from_secs(2)).await,
            Duration::from_secs(2)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn without_a_deadline_the_timeout_applies() {
        assert_eq!(
            elapsed_after(None, Duration::from_secs(2)).await,
            Duration::from_secs(2)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_passed_deadline_fails_at_once() {
        let deadline = Deadline::after(Duration::from_millis(100));
        advance(Duration::from_secs(1)).await;
        assert!(deadline.has_passed());
        assert_eq!(deadline.remaining(), Duration::ZERO);
        assert_eq!(
            elapsed_after(Some(deadline), Duration::from_secs(2)).await,
            Duration::ZERO
        );
    }
}

#[tokio::test(start_paused = true)]
async fn a_closure_reads_the_deadline_of_a_custom_request() {
    struct Job {
        deadline: Deadline,
    }
    let mut service = TimeoutService::with_deadlines(
        service_fn(|_: Job| pending::<Result<(), BoxError>>()),
        Duration::from_secs(60),
        |job: &Job| Some(job.deadline),
    );
    let start = Instant::now();
    let job = Job {
        deadline: Deadline::after(Duration::from_millis(750)),
    };
    let err = service.ready().await.unwrap().call(job).await.unwrap_err();
    assert_eq!(ErrorKind::of(&*err), ErrorKind::Elapsed);
    assert_eq!(start.elapsed(), Duration::from_millis(750));
}

#[test]
fn timeouts_are_failures_and_budget_refusals_are_ignored() {
    let elapsed: Result<(), BoxError> = Err(seawall::timeout::error::Elapsed::new().into());
    assert_eq!(FailOnError.classify(&elapsed), Outcome::Failure);
    #[cfg(feature = "retry")]
    {
        let refused: Result<(), BoxError> =
            Err(seawall::retry::error::BudgetExhausted::new("boom".into()).into());
        assert_eq!(FailOnError.classify(&refused), Outcome::Ignored);
    }
}

#[tokio::test(start_paused = true)]
async fn a_breaker_outside_the_timeout_counts_timeouts_as_failures() {
    let breaker = Breaker::new(
        BreakerConfig::builder()
            .count_window(2)
            .minimum_calls(2)
            .build()
            .unwrap(),
    );
    let dropped = Arc::new(AtomicBool::new(false));
    let mut service = ServiceBuilder::new()
        .layer(BreakerLayer::new(breaker.clone()))
        .layer(TimeoutLayer::new(Duration::from_millis(100)))
        .service(hanging(dropped));
    for _ in 0..2 {
        let err = service.ready().await.unwrap().call(1).await.unwrap_err();
        assert_eq!(ErrorKind::of(&*err), ErrorKind::Elapsed);
    }
    assert_eq!(breaker.state(), State::Open);
}
