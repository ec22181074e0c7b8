//! seawall's errors as HTTP responses in axum and as gRPC statuses in tonic:
//! the layers fit `Router::layer` and `Server::layer` with no glue, and
//! clients see statuses they can act on. Real servers on 127.0.0.1.
#![cfg(not(loom))]

use std::future::Future;
use std::time::Duration;

use axum::body::Body;
use axum::routing::get;
use axum::Router;
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use seawall::axum::ErrorResponseLayer;
use seawall::breaker::{Breaker, BreakerConfig, BreakerLayer, OpenWait};
use seawall::bulkhead::{Bulkhead, BulkheadConfig, BulkheadLayer};
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;
use tower::{service_fn, ServiceBuilder, ServiceExt};

/// Bounds every network step: a hung server fails the test instead of the run.
async fn within<T>(what: &str, future: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(10), future)
        .await
        .unwrap_or_else(|_| panic!("{what} took longer than 10 s"))
}

fn breaker(wait: Duration) -> Breaker {
    Breaker::new(
        BreakerConfig::builder()
            .count_window(1)
            .minimum_calls(1)
            .open_wait(OpenWait::fixed(wait))
            .build()
            .unwrap(),
    )
}

fn bulkhead(slots: u32) -> Bulkhead {
    Bulkhead::new(
        BulkheadConfig::builder()
            .max_concurrent_calls(slots)
            .build()
            .unwrap(),
    )
}

async fn get_path(app: Router, path: &str) -> (StatusCode, Option<String>, String) {
    let response = app
        .oneshot(Request::get(path).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        retry_after,
        String::from_utf8(body.to_vec()).unwrap(),
    )
}

#[tokio::test(start_paused = true)]
async fn an_open_breaker_is_503_with_the_open_wait_as_retry_after() {
    let breaker = breaker(Duration::from_millis(2500));
    breaker.try_acquire().unwrap().failure();
    let app = Router::new()
        .route("/orders", get(|| async { "orders" }))
        .layer(
            ServiceBuilder::new()
                .layer(ErrorResponseLayer::new())
                .layer(BreakerLayer::new(breaker.clone())),
        );
    let (status, retry_after, body) = get_path(app.clone(), "/orders").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(retry_after.as_deref(), Some("3"), "2.5 s rounds up");
    assert_eq!(body, "circuit breaker is open");

    breaker.force_open();
    let (status, retry_after, _) = get_path(app.clone(), "/orders").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        retry_after.as_deref(),
        Some("1"),
        "no known wait: the default"
    );

    breaker.reset();
    let (status, retry_after, body) = get_path(app, "/orders").await;
    assert_eq!(
        (status, retry_after, body.as_str()),
        (StatusCode::OK, None, "orders")
    );
}

#[tokio::test(start_paused = true)]
async fn a_full_bulkhead_is_503_and_other_errors_are_500_without_their_text() {
    let pool = bulkhead(1);
    let app = Router::new()
        .route("/slow", get(|| async { "slow" }))
        .layer(
            ServiceBuilder::new()
                .layer(ErrorResponseLayer::new().default_retry_after(Duration::from_secs(2)))
                .layer(BulkheadLayer::new(pool.clone())),
        );
    let held = pool.try_acquire().unwrap();
    let (status, retry_after, body) = get_path(app.clone(), "/slow").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(retry_after.as_deref(), Some("2"));
    assert_eq!(body, "bulkhead is full");
    drop(held);
    assert_eq!(get_path(app, "/slow").await.0, StatusCode::OK);

    let failing = service_fn(|_: Request<Body>| async {
        Err::<http::Response<Body>, _>(std::io::Error::other("password=hunter2 rejected"))
    });
    let hidden = Router::new().route_service(
        "/db",
        ServiceBuilder::new()
            .layer(ErrorResponseLayer::new())
            .service(failing),
    );
    let (status, retry_after, body) = get_path(hidden, "/db").await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(retry_after, None);
    assert!(!body.contains("hunter2"), "{body}");

    let exposed = Router::new().route_service(
        "/db",
        ServiceBuilder::new()
            .layer(ErrorResponseLayer::new().expose_errors(true))
            .service(failing),
    );
    let (_, _, body) = get_path(exposed, "/db").await;
    assert!(body.contains("hunter2"), "{body}");
}

#[tokio::test(start_paused = true)]
async fn a_timed_out_attempt_is_504_and_deadline_exceeded() {
    use seawall::timeout::TimeoutLayer;

    let app = Router::new()
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                "too late"
            }),
        )
        .layer(
            ServiceBuilder::new()
                .layer(ErrorResponseLayer::new())
                .layer(TimeoutLayer::new(Duration::from_millis(200))),
        );
    let (status, retry_after, body) = get_path(app, "/slow").await;
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(retry_after, None);
    assert!(!body.contains("too late"), "{body}");

    let err: seawall::BoxError = seawall::timeout::error::Elapsed::new().into();
    assert_eq!(
        seawall::tonic::status_of(&*err).code(),
        tonic::Code::DeadlineExceeded
    );
}

#[tokio::test(start_paused = true)]
async fn a_poll_ready_error_is_answered_to_the_next_call() {
    use std::task::{Context, Poll};

    #[derive(Clone)]
    struct NeverReady;
    impl tower::Service<Request<Body>> for NeverReady {
        type Response = http::Response<Body>;
        type Error = std::io::Error;
        type Future = std::future::Ready<Result<Self::Response, Self::Error>>;
        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            Poll::Ready(Err(std::io::Error::other("connection pool closed")))
        }
        fn call(&mut self, _: Request<Body>) -> Self::Future {
            unreachable!("never called: it was never ready")
        }
    }
    let service = ServiceBuilder::new()
        .layer(ErrorResponseLayer::new())
        .service(NeverReady);
    let response = service
        .oneshot(Request::get("/").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
}

#[tokio::test]
async fn a_real_axum_server_answers_reqwest_with_503_and_retry_after() {
    let breaker = breaker(Duration::from_secs(30));
    let app = Router::new()
        .route("/orders", get(|| async { "orders" }))
        .layer(
            ServiceBuilder::new()
                .layer(ErrorResponseLayer::new())
                .layer(BreakerLayer::new(breaker.clone())),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let url = format!("http://{addr}/orders");

    let ok = within("a healthy request", client.get(&url).send())
        .await
        .unwrap();
    assert_eq!(ok.status(), reqwest::StatusCode::OK);

    breaker.try_acquire().unwrap().failure();
    let refused = within("a refused request", client.get(&url).send())
        .await
        .unwrap();
    assert_eq!(refused.status(), reqwest::StatusCode::SERVICE_UNAVAILABLE);
    let retry_after: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    // Whole seconds, rounded up from a wait of 30 s less the time the request took.
    assert!((29..=31).contains(&retry_after), "{retry_after}");
    server.abort();
}

/// A tonic health server behind `layers`, and a client connected to it.
async fn grpc_server<L>(
    layers: L,
) -> (
    HealthClient<tonic::transport::Channel>,
    tokio::task::JoinHandle<()>,
)
where
    L: tower::Layer<tonic::service::Routes> + Clone + Send + Sync + 'static,
    L::Service: tower::Service<
            http::Request<tonic::body::Body>,
            Response = http::Response<tonic::body::Body>,
            Error = std::convert::Infallible,
        > + Clone
        + Send
        + Sync
        + 'static,
    <L::Service as tower::Service<http::Request<tonic::body::Body>>>::Future: Send + 'static,
{
    let (_reporter, service) = tonic_health::server::health_reporter();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        tonic::transport::Server::builder()
            .layer(layers)
            .add_service(service)
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener))
            .await
            .unwrap();
    });
    let channel = within(
        "connecting",
        tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect_timeout(Duration::from_secs(5))
            .connect(),
    )
    .await
    .unwrap();
    (HealthClient::new(channel), server)
}

fn check() -> HealthCheckRequest {
    HealthCheckRequest {
        service: String::new(),
    }
}

#[tokio::test]
async fn tonic_clients_see_unavailable_and_resource_exhausted() {
    let breaker = breaker(Duration::from_secs(30));
    let pool = bulkhead(4);
    let layers = ServiceBuilder::new()
        .layer(seawall::tonic::ErrorResponseLayer::new())
        .layer(BreakerLayer::new(breaker.clone()))
        .layer(BulkheadLayer::new(pool.clone()))
        .into_inner();
    let (mut client, server) = grpc_server(layers).await;

    within("a healthy check", client.check(check()))
        .await
        .unwrap();

    let held: Vec<_> = (0..4).map(|_| pool.try_acquire().unwrap()).collect();
    let full = within("a check on a full server", client.check(check()))
        .await
        .unwrap_err();
    assert_eq!(full.code(), tonic::Code::ResourceExhausted, "{full:?}");
    drop(held);

    breaker.try_acquire().unwrap().failure();
    let open = within("a check behind an open breaker", client.check(check()))
        .await
        .unwrap_err();
    assert_eq!(open.code(), tonic::Code::Unavailable, "{open:?}");
    let pushback: u64 = open
        .metadata()
        .get("grpc-retry-pushback-ms")
        .expect("the open wait as pushback")
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((29_000..=30_000).contains(&pushback), "{pushback}");
    server.abort();
}

/// A handler's 500s count against the breaker when it classifies by status,
/// as the README's axum snippets do: after `minimum_calls` failures it opens
/// and the next request is refused with 503 without reaching the handler.
#[tokio::test]
async fn handler_500s_open_a_breaker_that_classifies_by_status() {
    use seawall::breaker::State;
    use seawall::classify::HttpStatus;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::Arc;

    let breaker = Breaker::new(
        BreakerConfig::builder()
            .minimum_calls(10)
            .open_wait(OpenWait::fixed(Duration::from_secs(30)))
            .build()
            .unwrap(),
    );
    let reached = Arc::new(AtomicU32::new(0));
    let counter = reached.clone();
    let app = Router::new()
        .route(
            "/orders",
            get(move || {
                counter.fetch_add(1, Ordering::SeqCst);
                async { StatusCode::INTERNAL_SERVER_ERROR }
            }),
        )
        .layer(
            ServiceBuilder::new()
                .layer(ErrorResponseLayer::new())
                .layer(
                    BreakerLayer::new(breaker.clone()).with_classifier(HttpStatus::server_errors()),
                ),
        );
    for _ in 0..10 {
        let (status, _, _) = get_path(app.clone(), "/orders").await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    }
    assert_eq!(breaker.state(), State::Open);
    let (status, retry_after, _) = get_path(app, "/orders").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(retry_after.is_some());
    assert_eq!(reached.load(Ordering::SeqCst), 10);
}
