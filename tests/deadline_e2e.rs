//! A deadline set at an axum edge travels as `grpc-timeout` to a tonic server,
//! both on 127.0.0.1: the server never gets longer than the edge has left, and
//! both give up together.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Extension, State};
use axum::http::StatusCode;
use seawall::timeout::{
    parse_grpc_timeout, Deadline, FromGrpcTimeout, PropagateDeadlineLayer,
    PropagateDeadlineService, TimeoutLayer, GRPC_TIMEOUT,
};
use tokio::time::Instant;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;
use tower::{Layer, Service, ServiceExt};

/// What the gRPC server saw of one call.
#[derive(Clone, Copy, Debug)]
struct ServerSaw {
    timeout: Option<Duration>,
    gave_up_at: Instant,
}

/// Records what the server saw when the handler stops, however it stops.
struct RecordOnStop {
    saw: Arc<Mutex<Vec<ServerSaw>>>,
    timeout: Option<Duration>,
}

impl Drop for RecordOnStop {
    fn drop(&mut self) {
        self.saw.lock().unwrap().push(ServerSaw {
            timeout: self.timeout,
            gave_up_at: Instant::now(),
        });
    }
}

/// What the edge saw of one request.
#[derive(Clone, Copy, Debug)]
struct EdgeSaw {
    remaining_at_start: Duration,
    gave_up_at: Instant,
}

/// A tonic server whose handler hangs under a timeout read from `grpc-timeout`
/// (seawall's `FromGrpcTimeout`), answering `DEADLINE_EXCEEDED` when it gives up.
async fn grpc_server(saw: Arc<Mutex<Vec<ServerSaw>>>) -> std::net::SocketAddr {
    let (_reporter, health) = tonic_health::server::health_reporter();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let hanging = tower::layer::layer_fn(move |_routes: tonic::service::Routes| {
        let saw = saw.clone();
        tower::service_fn(move |request: http::Request<tonic::body::Body>| {
            let saw = saw.clone();
            async move {
                let timeout = request
                    .headers()
                    .get(GRPC_TIMEOUT)
                    .and_then(|value| parse_grpc_timeout(value.as_bytes()));
                // Recorded when the handler stops, whether its own timeout
                // ends it or the edge's cancellation (a stream reset) drops it
                // first: the two deadlines are a fraction of a millisecond apart.
                let _record = RecordOnStop { saw, timeout };
                let mut handler = TimeoutLayer::new(Duration::from_secs(10))
                    .with_deadlines(FromGrpcTimeout)
                    .layer(tower::service_fn(|_: http::Request<tonic::body::Body>| {
                        std::future::pending::<Result<(), Infallible>>()
                    }));
                let result = handler.ready().await.unwrap().call(request).await;
                assert!(result.is_err(), "the handler never answers");
                Ok::<_, Infallible>(
                    http::Response::builder()
                        .header("content-type", "application/grpc")
                        .header("grpc-status", "4")
                        .body(tonic::body::Body::empty())
                        .unwrap(),
                )
            }
        })
    });
    tokio::spawn(async move {
        tonic::transport::Server::builder()
            .layer(hanging)
            .add_service(health)
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener))
            .await
            .unwrap();
    });
    addr
}

#[derive(Clone)]
struct Edge {
    client: HealthClient<PropagateDeadlineService<tonic::transport::Channel>>,
    saw: Arc<Mutex<Vec<EdgeSaw>>>,
}

/// The edge's handler: calls the gRPC server with the request's deadline, and
/// gives up at that deadline.
async fn edge(State(edge): State<Edge>, Extension(deadline): Extension<Deadline>) -> StatusCode {
    let remaining_at_start = deadline.remaining();
    let mut request = tonic::Request::new(HealthCheckRequest {
        service: String::new(),
    });
    request.extensions_mut().insert(deadline);
    let mut client = edge.client.clone();
    let answer = tokio::time::timeout_at(deadline.instant(), client.check(request)).await;
    edge.saw.lock().unwrap().push(EdgeSaw {
        remaining_at_start,
        gave_up_at: Instant::now(),
    });
    match answer {
        Ok(Ok(_)) => StatusCode::OK,
        Ok(Err(_)) | Err(_) => StatusCode::GATEWAY_TIMEOUT,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edge_deadline_travels_as_grpc_timeout_and_both_give_up_together() {
    let server_saw = Arc::new(Mutex::new(Vec::new()));
    let grpc_addr = grpc_server(server_saw.clone()).await;
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{grpc_addr}"))
        .unwrap()
        .connect_timeout(Duration::from_secs(5))
        .connect()
        .await
        .unwrap();
    let edge_saw = Arc::new(Mutex::new(Vec::new()));
    let state = Edge {
        client: HealthClient::new(PropagateDeadlineLayer::grpc_timeout().layer(channel)),
        saw: edge_saw.clone(),
    };

    // Each request into the edge gets a deadline it must answer by.
    let budgets = [Duration::from_millis(150), Duration::from_millis(400)];
    for budget in budgets {
        let app = axum::Router::new()
            .route("/", axum::routing::get(edge))
            .with_state(state.clone())
            .layer(tower::util::MapRequestLayer::new(
                move |mut request: http::Request<axum::body::Body>| {
                    request.extensions_mut().insert(Deadline::after(budget));
                    request
                },
            ));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let edge_addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move { axum::serve(listener, app).await });

        let status = raw_get(edge_addr).await;
        assert_eq!(status, 504, "the edge gives up at its deadline");
        server.abort();
    }

    // Give the server's last record a moment to land (it gives up at its deadline,
    // about when the edge does).
    tokio::time::sleep(Duration::from_millis(100)).await;
    let edge_saw = edge_saw.lock().unwrap().clone();
    let server_saw = server_saw.lock().unwrap().clone();
    assert_eq!(edge_saw.len(), budgets.len());
    assert_eq!(server_saw.len(), budgets.len(), "{server_saw:?}");
    for ((budget, edge), server) in budgets.iter().zip(&edge_saw).zip(&server_saw) {
        let timeout = server.timeout.expect("the call carried grpc-timeout");
        assert!(
            timeout <= edge.remaining_at_start,
            "grpc-timeout {timeout:?} is longer than the {:?} the edge had left",
            edge.remaining_at_start
        );
        assert!(
            timeout > *budget / 2,
            "grpc-timeout {timeout:?} is most of the edge's {budget:?}"
        );
        let apart = if edge.gave_up_at > server.gave_up_at {
            edge.gave_up_at - server.gave_up_at
        } else {
            server.gave_up_at - edge.gave_up_at
        };
        eprintln!(
            "budget {budget:?}: edge had {:?} left, sent grpc-timeout {timeout:?}, gave up {apart:?} apart",
            edge.remaining_at_start
        );
        assert!(
            apart <= Duration::from_millis(20),
            "edge and server gave up {apart:?} apart ({edge:?}, {server:?})"
        );
    }
}

/// A bare HTTP/1.1 GET to `addr`; the status code of the answer.
async fn raw_get(addr: std::net::SocketAddr) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET / HTTP/1.1\r\nhost: edge\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    let text = String::from_utf8_lossy(&answer);
    text.split_whitespace().nth(1).unwrap().parse().unwrap()
}
