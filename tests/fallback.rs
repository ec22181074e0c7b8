//! The fallback: where the degraded answer comes from, which failures it
//! covers, how it is marked, and what happens when it fails too.

#![cfg(all(feature = "fallback", feature = "bulkhead"))]

use std::error::Error as StdError;
use std::sync::{Arc, Mutex};

use seawall::breaker::error::BreakerOpen;
use seawall::breaker::{Breaker, BreakerConfig, BreakerLayer};
use seawall::bulkhead::error::BulkheadFull;
use seawall::bulkhead::{Bulkhead, BulkheadConfig, BulkheadLayer};
use seawall::fallback::error::{FailedResponse, FallbackFailed};
use seawall::fallback::{Cause, Degraded, FallbackEvent, FallbackLayer, FallbackOn, SharedError};
use seawall::{BoxError, ErrorKind};
use tokio_test::{assert_pending, assert_ready_ok};
use tower::{service_fn, Layer, Service, ServiceBuilder, ServiceExt};
use tower_test::mock;

#[derive(Clone, Debug, PartialEq)]
struct Quote {
    price: u32,
    stale: bool,
}

fn quote(price: u32) -> Quote {
    Quote {
        price,
        stale: false,
    }
}

fn mark_stale(quote: &mut Quote, _: &Degraded) {
    quote.stale = true;
}

/// An inner service failing with `error` on every call.
fn failing(
    error: impl Fn() -> BoxError + Clone + Send + 'static,
) -> impl Service<
    u32,
    Response = Quote,
    Error = BoxError,
    Future = impl std::future::Future<Output = Result<Quote, BoxError>> + Send,
> + Clone {
    service_fn(move |_: u32| {
        let error = error.clone();
        async move { Err::<Quote, BoxError>(error()) }
    })
}

#[tokio::test(start_paused = true)]
async fn value_answers_for_an_open_breaker_and_is_marked() {
    let breaker = Breaker::new(BreakerConfig::default());
    let (inner, mut handle) = mock::pair::<u32, Quote>();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let mut service = ServiceBuilder::new()
        .layer(
            FallbackLayer::value(quote(0))
                .name("quotes")
                .marked(mark_stale)
                .on_event(move |event: &FallbackEvent<'_>| {
                    log.lock().unwrap().push(format!("{event:?}"))
                }),
        )
        .layer(BreakerLayer::new(breaker.clone()))
        .service(inner);

    // Closed: the real answer, unmarked.
    let call = service.ready().await.unwrap().call(1);
    let (_, reply) = handle.next_request().await.unwrap();
    reply.send_response(quote(10));
    assert_eq!(call.await.unwrap(), quote(10));

    breaker.force_open();
    let answer = service.ready().await.unwrap().call(2).await.unwrap();
    assert_eq!(
        answer,
        Quote {
            price: 0,
            stale: true
        }
    );
    assert!(
        handle.poll_request().is_pending(),
        "the open breaker was not passed"
    );
    assert_eq!(
        *seen.lock().unwrap(),
        vec![format!(
            "{:?}",
            FallbackEvent::Taken {
                name: "quotes",
                cause: Cause::Error(ErrorKind::BreakerOpen)
            }
        )]
    );
}

#[tokio::test(start_paused = true)]
async fn uncovered_errors_pass_through_unchanged() {
    let mut service = FallbackLayer::value(quote(0)).layer(failing(|| "connection reset".into()));
    let err = service.ready().await.unwrap().call(1).await.unwrap_err();
    assert_eq!(err.to_string(), "connection reset");
    assert_eq!(ErrorKind::of(&*err), ErrorKind::Other);
}

#[tokio::test(start_paused = true)]
async fn closure_receives_the_error_it_covers_for() {
    let mut service = FallbackLayer::with_fn(|err| async move {
        let price = if err.to_string().contains("reset") {
            1
        } else {
            2
        };
        Ok::<_, std::io::Error>(quote(price))
    })
    .on(FallbackOn::default().any_error())
    .layer(failing(|| "connection reset".into()));
    assert_eq!(
        service.ready().await.unwrap().call(1).await.unwrap(),
        quote(1)
    );
}

#[tokio::test(start_paused = true)]
async fn backup_service_is_polled_ready_before_it_is_called() {
    let (backup, mut backup_handle) = mock::pair::<u32, Quote>();
    backup_handle.allow(0);
    let mut service = FallbackLayer::service(backup)
        .on(FallbackOn::kinds([ErrorKind::Other]))
        .layer(failing(|| "primary down".into()));

    let mut call = tokio_test::task::spawn(service.ready().await.unwrap().call(7));
    assert_pending!(call.poll());
    assert!(
        backup_handle.poll_request().is_pending(),
        "an unready backup is not called"
    );

    backup_handle.allow(1);
    assert!(call.is_woken());
    assert_pending!(call.poll());
    let (request, reply) = backup_handle.next_request().await.unwrap();
    assert_eq!(request, 7, "the backup gets a clone of the request");
    reply.send_response(quote(70));
    assert_eq!(assert_ready_ok!(call.poll()), quote(70));
}

/// A fallback of one's own: keeps the request's price before the call, and
/// answers with it, marked stale, if the call fails.
#[derive(Clone, Debug)]
struct LastKnownPrice;

impl seawall::fallback::Fallback<u32> for LastKnownPrice {
    type Response = Quote;
    type Prepared = u32;
    type Future = std::future::Ready<Result<Quote, BoxError>>;

    fn prepare(&self, price: &u32) -> u32 {
        *price
    }

    fn recover(&self, price: u32, error: SharedError) -> Self::Future {
        assert!(error.is::<BreakerOpen>());
        std::future::ready(Ok(Quote { price, stale: true }))
    }
}

#[tokio::test(start_paused = true)]
async fn a_fallback_of_ones_own_recovers_from_what_it_prepared() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let mut service = FallbackLayer::new(LastKnownPrice)
        .name("own")
        .on_event(move |event: &FallbackEvent<'_>| {
            if let FallbackEvent::Taken { name, cause } = event {
                log.lock().unwrap().push((name.to_string(), *cause));
            }
        })
        .layer(failing(|| BreakerOpen::new(None).into()));
    assert_eq!(
        service.ready().await.unwrap().call(42).await.unwrap(),
        Quote {
            price: 42,
            stale: true
        }
    );
    assert_eq!(
        *seen.lock().unwrap(),
        vec![("own".to_string(), Cause::Error(ErrorKind::BreakerOpen))]
    );
}

#[tokio::test(start_paused = true)]
async fn kinds_and_predicates_choose_what_is_covered() {
    // Only a full bulkhead: an open breaker is not covered.
    let mut only_full = FallbackLayer::value(quote(0))
        .on(FallbackOn::kinds([ErrorKind::BulkheadFull]))
        .layer(failing(|| BreakerOpen::new(None).into()));
    let err = only_full.ready().await.unwrap().call(1).await.unwrap_err();
    assert_eq!(ErrorKind::of(&*err), ErrorKind::BreakerOpen);

    let mut full = FallbackLayer::value(quote(0))
        .on(FallbackOn::kinds([ErrorKind::BulkheadFull]))
        .layer(failing(|| BulkheadFull::new().into()));
    assert_eq!(full.ready().await.unwrap().call(1).await.unwrap(), quote(0));

    // A predicate over the error, on top of the default kinds.
    let on = FallbackOn::default().when(|err: &(dyn StdError + 'static)| {
        err.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::ConnectionReset)
    });
    let mut reset = FallbackLayer::value(quote(0))
        .on(on.clone())
        .layer(failing(|| {
            std::io::Error::from(std::io::ErrorKind::ConnectionReset).into()
        }));
    assert_eq!(
        reset.ready().await.unwrap().call(1).await.unwrap(),
        quote(0)
    );
    let mut refused = FallbackLayer::value(quote(0)).on(on).layer(failing(|| {
        std::io::Error::from(std::io::ErrorKind::ConnectionRefused).into()
    }));
    assert!(refused.ready().await.unwrap().call(1).await.is_err());

    let default = FallbackOn::default();
    for kind in FallbackOn::DEFAULT_KINDS {
        assert!(default.covers_kind(*kind));
    }
    assert!(!default.covers_kind(ErrorKind::Other));
}

#[tokio::test(start_paused = true)]
async fn a_response_classifier_falls_back_from_bad_responses() {
    let inner = service_fn(|price: u32| async move { Ok::<_, BoxError>(quote(price)) });
    let on = FallbackOn::default().responses(|result: &Result<Quote, BoxError>| match result {
        Ok(q) if q.price == 0 => seawall::classify::Outcome::Failure,
        _ => seawall::classify::Outcome::Success,
    });
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let mut service = FallbackLayer::with_fn(|err: SharedError| async move {
        assert!(err.is::<FailedResponse>());
        Ok::<_, BoxError>(quote(99))
    })
    .on(on)
    .marked(mark_stale)
    .on_event(move |event: &FallbackEvent<'_>| {
        if let FallbackEvent::Taken { cause, .. } = event {
            log.lock().unwrap().push(*cause);
        }
    })
    .layer(inner);
    assert_eq!(
        service.ready().await.unwrap().call(5).await.unwrap(),
        quote(5)
    );
    assert_eq!(
        service.ready().await.unwrap().call(0).await.unwrap(),
        Quote {
            price: 99,
            stale: true
        }
    );
    assert_eq!(*seen.lock().unwrap(), vec![Cause::Response]);
}

#[tokio::test(start_paused = true)]
async fn a_failing_fallback_keeps_the_original_error_as_its_source() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let mut service = FallbackLayer::with_fn(|_: SharedError| async {
        Err::<Quote, _>(std::io::Error::other("cache unavailable"))
    })
    .name("quotes")
    .on_event(move |event: &FallbackEvent<'_>| log.lock().unwrap().push(format!("{event:?}")))
    .layer(failing(|| BreakerOpen::new(None).into()));

    let err = service.ready().await.unwrap().call(1).await.unwrap_err();
    assert_eq!(
        ErrorKind::of(&*err),
        ErrorKind::BreakerOpen,
        "the original kind shows through"
    );
    let failed = err
        .downcast_ref::<FallbackFailed>()
        .expect("a FallbackFailed");
    assert_eq!(failed.to_string(), "fallback failed: cache unavailable");
    assert_eq!(failed.fallback_error().to_string(), "cache unavailable");
    let source = failed.source().expect("the original error");
    assert!(source.is::<BreakerOpen>());
    assert_eq!(
        *seen.lock().unwrap(),
        vec![format!(
            "{:?}",
            FallbackEvent::Failed {
                name: "quotes",
                cause: Cause::Error(ErrorKind::BreakerOpen)
            }
        )]
    );

    // A backup service that fails likewise.
    let backup = service_fn(|_: u32| async { Err::<Quote, BoxError>("backup down too".into()) });
    let mut service = FallbackLayer::service(backup).layer(failing(|| BulkheadFull::new().into()));
    let err = service.ready().await.unwrap().call(1).await.unwrap_err();
    assert_eq!(ErrorKind::of(&*err), ErrorKind::BulkheadFull);
    assert_eq!(err.to_string(), "fallback failed: backup down too");
}

#[tokio::test(start_paused = true)]
async fn a_full_bulkhead_is_covered_and_not_counted_by_the_breaker() {
    let breaker = Breaker::new(BreakerConfig::default());
    let bulkhead = Bulkhead::new(
        BulkheadConfig::builder()
            .max_concurrent_calls(1)
            .build()
            .unwrap(),
    );
    let (inner, mut handle) = mock::pair::<u32, Quote>();
    let service = ServiceBuilder::new()
        .layer(FallbackLayer::value(quote(0)).marked(mark_stale))
        .layer(BreakerLayer::new(breaker.clone()))
        .layer(BulkheadLayer::new(bulkhead.clone()))
        .service(inner);
    let mut first = service.clone();
    let mut second = service;

    let slow = first.ready().await.unwrap().call(1);
    let (_, reply) = handle.next_request().await.unwrap();
    let degraded = second.ready().await.unwrap().call(2).await.unwrap();
    assert_eq!(
        degraded,
        Quote {
            price: 0,
            stale: true
        }
    );
    reply.send_response(quote(10));
    assert_eq!(slow.await.unwrap(), quote(10));

    let metrics = breaker.metrics();
    assert_eq!(
        (metrics.calls, metrics.failed_calls),
        (1, 0),
        "the refusal was ignored"
    );
    assert_eq!(bulkhead.rejected(), 1);
}

#[test]
fn metrics_count_fallbacks_taken_and_failed() {
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};

    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, || {
        futures::executor::block_on(async {
            let mut ok = FallbackLayer::value(quote(0))
                .name("m")
                .layer(failing(|| BreakerOpen::new(None).into()));
            ok.ready().await.unwrap().call(1).await.unwrap();
            ok.ready().await.unwrap().call(1).await.unwrap();
            let mut broken = FallbackLayer::with_fn(|_: SharedError| async {
                Err::<Quote, BoxError>("no".into())
            })
            .name("m")
            .layer(failing(|| BulkheadFull::new().into()));
            broken.ready().await.unwrap().call(1).await.unwrap_err();
        });
    });
    let values: Vec<(String, Vec<String>, DebugValue)> = snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(key, _, _, value)| {
            let key = key.key();
            let labels = key
                .labels()
                .map(|l| format!("{}={}", l.key(), l.value()))
                .collect();
            (key.name().to_string(), labels, value)
        })
        .collect();
    assert!(values.contains(&(
        "seawall_fallback_taken_total".into(),
        vec!["name=m".into(), "cause=breaker_open".into()],
        DebugValue::Counter(2)
    )));
    assert!(values.contains(&(
        "seawall_fallback_failed_total".into(),
        vec!["name=m".into(), "cause=bulkhead_full".into()],
        DebugValue::Counter(1)
    )));
}

#[cfg(feature = "http")]
mod http_responses {
    use super::*;
    use seawall::classify::HttpStatus;
    use seawall::fallback::HttpMark;

    fn status(code: u16) -> http::Response<String> {
        http::Response::builder()
            .status(code)
            .body(format!("status {code}"))
            .unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn a_503_falls_back_to_a_marked_response_and_a_404_does_not() {
        let inner = service_fn(|code: u16| async move { Ok::<_, BoxError>(status(code)) });
        let mut service = FallbackLayer::with_fn(|_: SharedError| async {
            Ok::<_, BoxError>(http::Response::new("cached".to_string()))
        })
        .name("profile")
        .on(FallbackOn::default().responses(HttpStatus::server_errors()))
        .marked(HttpMark::with_header())
        .layer(inner);

        let real = service.ready().await.unwrap().call(404).await.unwrap();
        assert_eq!(real.status(), 404);
        assert!(real.extensions().get::<Degraded>().is_none());
        assert!(real
            .headers()
            .get(seawall::fallback::DEGRADED_HEADER)
            .is_none());

        let degraded = service.ready().await.unwrap().call(503).await.unwrap();
        assert_eq!(degraded.body(), "cached");
        assert_eq!(degraded.headers()["x-seawall-degraded"], "fallback");
        let mark = degraded.extensions().get::<Degraded>().unwrap();
        assert_eq!((mark.name(), mark.cause()), ("profile", Cause::Response));
    }

    #[tokio::test(start_paused = true)]
    async fn the_extension_alone_adds_no_header() {
        let mut service = FallbackLayer::value(http::Response::new(String::new()))
            .marked(HttpMark::extension())
            .layer(service_fn(|_: u16| async {
                Err::<http::Response<String>, BoxError>(BreakerOpen::new(None).into())
            }));
        let degraded = service.ready().await.unwrap().call(1).await.unwrap();
        assert!(degraded.headers().is_empty());
        assert_eq!(
            degraded.extensions().get::<Degraded>().unwrap().cause(),
            Cause::Error(ErrorKind::BreakerOpen)
        );
    }
}
