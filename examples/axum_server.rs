//! An axum server protected by seawall: a per-request timeout, a bulkhead
//! and a circuit breaker through the preset; the health endpoints (`/livez`,
//! `/readyz`, `/health`); metrics in Prometheus text format at `/metrics`;
//! graceful shutdown on ctrl-c or SIGTERM (readiness turns false at once, then
//! in-flight requests finish).
//!
//! ```sh
//! cargo run --example axum_server                    # serves until ctrl-c (PORT=8080 to choose the port)
//! cargo run --example axum_server -- --self-test     # calls itself, prints what it got, shuts down
//! ```
//!
//! Routes: `/orders` answers at once, `/hold` after 300 ms (two at a time
//! fill the bulkhead), `/slow` after 2 s (past the 1 s timeout: `504`),
//! `/broken` with a `500` (a failing dependency: the breaker counts it, and
//! once it trips every API route gets `503` with `Retry-After`).

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use seawall::axum::ErrorResponseLayer;
use seawall::breaker::BreakerEvent;
use seawall::breaker::{Breaker, BreakerConfig, OpenWait};
use seawall::bulkhead::{Bulkhead, BulkheadConfig};
use seawall::classify::HttpStatus;
use seawall::health::{Criticality, HealthRegistry, HealthService, InFlightLayer};
use seawall::resilience::ResilienceLayer;
use seawall::retry::{NoClone, RetryConfig};
use seawall::BoxError;
use tower::ServiceBuilder;

/// The longest a handler may take; `/slow` takes longer.
const TIMEOUT: Duration = Duration::from_secs(1);
/// How long shutdown waits for in-flight requests.
const DRAIN: Duration = Duration::from_secs(10);

/// The application: the API behind the stack, health and metrics beside it.
fn app(health: &HealthRegistry, metrics: PrometheusHandle) -> Result<Router, BoxError> {
    let breaker = Breaker::new(
        BreakerConfig::builder()
            .name("api")
            .count_window(10)
            .minimum_calls(5)
            .failure_rate_threshold(0.5)
            .open_wait(OpenWait::fixed(Duration::from_secs(5)))
            .build()?,
    );
    breaker.on_state_transition(|event: &BreakerEvent<'_>| {
        if let BreakerEvent::StateTransition { name, from, to, .. } = event {
            println!("    breaker {name}: {from} -> {to}");
        }
    });
    let bulkhead = Bulkhead::new(
        // Its own name, so the health report and the gRPC bridge tell it from
        // the breaker (components of two kinds may share a name; a name-keyed
        // view then shows the worse of the two).
        BulkheadConfig::builder()
            .name("api-concurrency")
            .max_concurrent_calls(2)
            .build()?,
    );
    health.register_breaker(&breaker, Criticality::critical());
    health.register_bulkhead(&bulkhead, Criticality::non_critical());

    let resilience = ResilienceLayer::builder()
        .name("api")
        .breaker(breaker)
        .bulkhead(bulkhead)
        .timeout(TIMEOUT)
        // Retrying is the client's business: one attempt per request.
        .retry(RetryConfig::builder().max_attempts(1))
        .build()?
        .with_request_clone(NoClone)
        .with_classifier(HttpStatus::server_errors()); // a handler's 5xx counts as a failure

    let api = Router::new()
        .route("/orders", get(|| async { "3 open orders" }))
        .route(
            "/hold",
            get(|| async {
                tokio::time::sleep(Duration::from_millis(300)).await;
                "held for 300 ms"
            }),
        )
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(2)).await;
                "too late"
            }),
        )
        .route(
            "/broken",
            get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "database down") }),
        )
        .layer(
            ServiceBuilder::new()
                .layer(InFlightLayer::new(health.clone())) // counted for the drain
                .layer(ErrorResponseLayer::new()) // seawall's errors as 503 / 504
                .layer(resilience),
        );
    let endpoints = HealthService::new(health.clone());
    // Details (components, error texts) are for operators: this demo listens
    // on 127.0.0.1 only. A public service serves them on an admin port.
    let detailed = endpoints.clone().details(true);
    Ok(api
        .route_service("/livez", endpoints.clone())
        .route_service("/readyz", endpoints)
        .route_service("/health", detailed)
        .route(
            "/metrics",
            get(move || std::future::ready(metrics.render())),
        ))
}

/// Serves `app` on `listener` until a shutdown signal, then drains.
async fn serve(listener: tokio::net::TcpListener, app: Router, health: HealthRegistry) {
    health.mark_started();
    let result = axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            // ctrl-c, SIGTERM or `shutdown()`: `/readyz` says 503 from here on.
            health.shutdown_signal().await;
            println!("shutting down: readiness is false, draining in-flight requests");
            match health.drain(DRAIN).await {
                Ok(()) => println!("drained"),
                Err(err) => println!("drain: {err}"),
            }
        })
        .await;
    if let Err(err) = result {
        eprintln!("axum_server: {err}");
    }
}

/// Calls the server as a client would, prints the answers, then shuts it down.
async fn self_test(addr: SocketAddr, health: HealthRegistry) -> Result<(), BoxError> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()?;
    let get = |path: &'static str| {
        let client = client.clone();
        async move {
            let response = client.get(format!("http://{addr}{path}")).send().await?;
            let status = response.status();
            let retry_after = response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .map(|v| format!(" (Retry-After: {v})"))
                .unwrap_or_default();
            let body = response.text().await?;
            let body: String = body.chars().take(120).collect();
            println!("GET {path:<8} -> {status}{retry_after}: {body}");
            Ok::<_, reqwest::Error>(status)
        }
    };

    println!("-- a healthy request, and one past the timeout");
    get("/orders").await?;
    get("/slow").await?;

    println!("-- five at once against a bulkhead of two");
    let burst: Vec<_> = (0..5).map(|_| tokio::spawn(get("/hold"))).collect();
    for call in burst {
        call.await??;
    }

    println!("-- a failing dependency trips the breaker; then every API route is refused");
    // Until the breaker refuses (how many it takes depends on how the burst went).
    for _ in 0..6 {
        if get("/broken").await? == reqwest::StatusCode::SERVICE_UNAVAILABLE {
            break;
        }
    }
    get("/orders").await?;
    get("/readyz").await?;
    get("/health").await?;
    get("/livez").await?;

    println!("-- /metrics (excerpt)");
    let metrics = client
        .get(format!("http://{addr}/metrics"))
        .send()
        .await?
        .text()
        .await?;
    let mut excerpt: Vec<&str> = metrics
        .lines()
        .filter(|line| {
            [
                "seawall_breaker_state",
                "seawall_breaker_transitions_total",
                "seawall_breaker_calls_total",
                "seawall_bulkhead_rejections_total",
                "seawall_health_ready",
            ]
            .iter()
            .any(|name| line.starts_with(name))
        })
        .collect();
    excerpt.sort_unstable();
    for line in excerpt {
        println!("  {line}");
    }

    println!("-- shutting down (as on ctrl-c)");
    health.shutdown();
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    let self_testing = match std::env::args().nth(1).as_deref() {
        None => false,
        Some("--self-test") => true,
        Some(other) => {
            eprintln!("axum_server: unknown argument {other:?}; usage: axum_server [--self-test]");
            return ExitCode::from(2);
        }
    };
    // The recorder first: seawall resolves its metric handles when a layer is built.
    let metrics = match PrometheusBuilder::new().install_recorder() {
        Ok(handle) => handle,
        Err(err) => {
            eprintln!("axum_server: cannot install the metrics recorder: {err}");
            return ExitCode::FAILURE;
        }
    };
    let health = HealthRegistry::new();
    let app = match app(&health, metrics) {
        Ok(app) => app,
        Err(err) => {
            eprintln!("axum_server: {err}");
            return ExitCode::FAILURE;
        }
    };
    let port = if self_testing {
        0
    } else {
        match std::env::var("PORT").map(|p| p.parse::<u16>()) {
            Err(_) => 0,
            Ok(Ok(port)) => port,
            Ok(Err(_)) => {
                eprintln!("axum_server: PORT must be a port number");
                return ExitCode::from(2);
            }
        }
    };
    let listener = match tokio::net::TcpListener::bind(("127.0.0.1", port)).await {
        Ok(listener) => listener,
        Err(err) => {
            eprintln!("axum_server: cannot listen on 127.0.0.1:{port}: {err}");
            return ExitCode::FAILURE;
        }
    };
    let addr = listener
        .local_addr()
        .expect("a bound listener has an address");
    println!("listening on http://{addr} (ctrl-c to stop)");
    let server = tokio::spawn(serve(listener, app, health.clone()));
    if self_testing {
        if let Err(err) = self_test(addr, health.clone()).await {
            eprintln!("axum_server: self-test failed: {err}");
            health.shutdown();
            let _ = server.await;
            return ExitCode::FAILURE;
        }
    }
    if server.await.is_err() {
        return ExitCode::FAILURE;
    }
    println!("server stopped gracefully");
    ExitCode::SUCCESS
}
