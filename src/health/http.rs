//! The health endpoints over HTTP.

use std::convert::Infallible;
use std::fmt::Write as _;
use std::sync::OnceLock;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use tower_service::Service;

use super::future::ResponseFuture;
use super::probe::ProbeAnswer;
use super::report::{ComponentReport, HealthReport};
use super::{HealthRegistry, Lifecycle, Status};

/// A tower service answering the health endpoints of a [`HealthRegistry`].
///
/// | request | answer |
/// |---|---|
/// | `GET /livez` | `200 {"status":"up"}`, always: liveness never depends on dependencies |
/// | `GET /readyz` | `200` when ready, `503` when starting, draining or down; a short JSON body |
/// | `GET /health` (or `/`) | the same status code and body; with [`details(true)`](Self::details), the detailed JSON report; HTML with `Accept: text/html` |
/// | `HEAD` on any of them | the same status and headers, no body |
/// | another path | `404` |
/// | another method | `405` with `Allow: GET, HEAD` |
///
/// Paths are matched on their end, so the service works both at the root
/// (`Router::route_service("/readyz", ...)`) and nested under a prefix
/// (`Router::nest_service("/health", ...)`, where axum strips the prefix, so
/// `/health` arrives as `/` and `/health/readyz` as `/readyz`). A trailing
/// slash is ignored.
///
/// # Details are off unless turned on
///
/// By default no answer names a component, and none carries an error text:
/// `/health` says what `/readyz` says. [`details(true)`](Self::details) adds
/// the components, their states and rates, the in-flight count and **the
/// error text of each failing check and the message of each panic** to
/// `/health`. Those texts are whatever the checks' errors say (a connection
/// string, a host name, a query): turning details on is a decision to show
/// them to whoever reaches the endpoint, so do it only on an endpoint that
/// only operators reach.
///
/// # Cost
///
/// `/livez` answers at once. `/readyz` (and `/health` without details)
/// answers from the registry's cached [`HealthSummary`](super::HealthSummary):
/// no task spawned, no report built, no body allocated, about the cost of
/// `/livez`. The summary is refreshed when a registered breaker, bulkhead or
/// canary changes, and the checks run when their
/// [`min_interval`](super::Check::min_interval) has passed, by one probe
/// while the others answer from the cache. `/health` with details builds
/// the full report on every request.
///
/// Responses carry `Cache-Control: no-store`. The service never fails and
/// never panics on any request.
///
/// ```
/// use http::{Request, StatusCode};
/// use seawall::health::{HealthRegistry, HealthService};
/// use tower::ServiceExt;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let health = HealthRegistry::new();
/// let service = HealthService::new(health.clone());
///
/// let readyz = || Request::get("/readyz").body(()).unwrap();
/// let response = service.clone().oneshot(readyz()).await.unwrap();
/// assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE, "not started yet");
///
/// health.mark_started();
/// let response = service.clone().oneshot(readyz()).await.unwrap();
/// assert_eq!(response.status(), StatusCode::OK);
/// # }
/// ```
///
/// In axum, nested under `/health` it serves `/health`, `/health/livez` and
/// `/health/readyz`; a second one with details can answer operators on a
/// port or route the public cannot reach:
///
/// ```
/// use seawall::health::{HealthRegistry, HealthService};
///
/// let health = HealthRegistry::new();
/// let public: axum::Router = axum::Router::new()
///     .nest_service("/health", HealthService::new(health.clone()));
/// // Served on the admin listener only: error texts are visible here.
/// let admin: axum::Router = axum::Router::new()
///     .route_service("/health", HealthService::new(health).details(true));
/// # drop((public, admin));
/// ```
#[derive(Clone, Debug)]
pub struct HealthService {
    registry: HealthRegistry,
    details: bool,
}

impl HealthService {
    /// The endpoints of `registry`, without details.
    pub fn new(registry: HealthRegistry) -> Self {
        Self {
            registry,
            details: false,
        }
    }

    /// Whether `/health` includes the components (their states, rates, error
    /// texts and panic messages) and the in-flight count. Off by default.
    ///
    /// Turning it on is a security decision: the error texts are whatever the
    /// checks' errors say, and whoever reaches the endpoint reads them. Turn
    /// it on only where only operators can reach the endpoint.
    ///
    /// ```
    /// use http::Request;
    /// use http_body_util::BodyExt;
    /// use seawall::health::{Check, Criticality, HealthRegistry, HealthService};
    /// use tower::ServiceExt;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let health = HealthRegistry::new();
    /// health.register_check(Check::new("db", || async { Err::<(), _>("refused by 10.0.0.7") }), Criticality::critical());
    /// let get = || Request::get("/health").body(()).unwrap();
    ///
    /// let public = HealthService::new(health.clone()).oneshot(get()).await.unwrap();
    /// let body = public.into_body().collect().await.unwrap().to_bytes();
    /// assert!(!String::from_utf8_lossy(&body).contains("10.0.0.7"));
    ///
    /// let admin = HealthService::new(health).details(true).oneshot(get()).await.unwrap();
    /// let body = admin.into_body().collect().await.unwrap().to_bytes();
    /// assert!(String::from_utf8_lossy(&body).contains("10.0.0.7"));
    /// # }
    /// ```
    pub fn details(mut self, details: bool) -> Self {
        self.details = details;
        self
    }

    /// The registry it reports on.
    pub fn registry(&self) -> &HealthRegistry {
        &self.registry
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    Live,
    Ready,
    Health,
}

fn endpoint(path: &str) -> Option<Endpoint> {
    let trimmed = path.trim_end_matches('/');
    match trimmed.rsplit('/').next().unwrap_or("") {
        "livez" => Some(Endpoint::Live),
        "readyz" => Some(Endpoint::Ready),
        "health" => Some(Endpoint::Health),
        "" if trimmed.is_empty() => Some(Endpoint::Health),
        _ => None,
    }
}

impl<B> Service<Request<B>> for HealthService {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = ResponseFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let Some(endpoint) = endpoint(request.uri().path()) else {
            return ready(plain(StatusCode::NOT_FOUND, "not found\n"));
        };
        let head = match *request.method() {
            Method::GET => false,
            Method::HEAD => true,
            _ => {
                let mut response = plain(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
                response
                    .headers_mut()
                    .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
                return ready(response);
            }
        };
        if endpoint == Endpoint::Live {
            return ready(finish(
                StatusCode::OK,
                JSON,
                Bytes::from_static(b"{\"status\":\"up\"}"),
                head,
            ));
        }
        let html = endpoint == Endpoint::Health && wants_html(&request);
        let registry = self.registry.clone();
        if self.details && endpoint == Endpoint::Health {
            return ResponseFuture::new(Box::pin(async move {
                let report = registry.report().await;
                let answer = ProbeAnswer {
                    status: report.status,
                    ready: report.ready,
                    lifecycle: report.lifecycle,
                };
                let (content_type, body) = if html {
                    (HTML, Bytes::from(render_html(answer, Some(&report))))
                } else {
                    match serde_json::to_vec(&Body::of(answer, Some(&report))) {
                        Ok(body) => (JSON, Bytes::from(body)),
                        Err(_) => {
                            return Ok(plain(
                                StatusCode::INTERNAL_SERVER_ERROR,
                                "health report could not be written\n",
                            ))
                        }
                    }
                };
                Ok(finish(code_of(answer), content_type, body, head))
            }));
        }
        // `/readyz`, and `/health` without details: the cached summary.
        ResponseFuture::new(Box::pin(async move {
            let answer = registry.probe().await;
            let (content_type, body) = if html {
                (HTML, Bytes::from(render_html(answer, None)))
            } else {
                (JSON, summary_body(answer))
            };
            Ok(finish(code_of(answer), content_type, body, head))
        }))
    }
}

fn code_of(answer: ProbeAnswer) -> StatusCode {
    if answer.ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    }
}

/// The JSON body of an answer without details. There are 18 of them, written
/// once per process and shared: a probe allocates no body.
fn summary_body(answer: ProbeAnswer) -> Bytes {
    const STATUSES: [Status; 3] = [Status::Up, Status::Degraded, Status::Down];
    const LIFECYCLES: [Lifecycle; 3] =
        [Lifecycle::Starting, Lifecycle::Serving, Lifecycle::Draining];
    static BODIES: OnceLock<Vec<Bytes>> = OnceLock::new();
    let bodies = BODIES.get_or_init(|| {
        let mut bodies = Vec::with_capacity(18);
        for status in STATUSES {
            for ready in [false, true] {
                for lifecycle in LIFECYCLES {
                    let answer = ProbeAnswer {
                        status,
                        ready,
                        lifecycle,
                    };
                    // Serializing four plain fields cannot fail.
                    let body = serde_json::to_vec(&Body::of(answer, None)).unwrap_or_default();
                    bodies.push(Bytes::from(body));
                }
            }
        }
        bodies
    });
    let status = STATUSES
        .iter()
        .position(|s| *s == answer.status)
        .unwrap_or(0);
    let lifecycle = LIFECYCLES
        .iter()
        .position(|l| *l == answer.lifecycle)
        .unwrap_or(0);
    bodies[status * 6 + usize::from(answer.ready) * 3 + lifecycle].clone()
}

const JSON: &str = "application/json";
const HTML: &str = "text/html; charset=utf-8";

fn wants_html<B>(request: &Request<B>) -> bool {
    request
        .headers()
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .any(|value| value.contains("text/html"))
}

fn ready(response: Response<Full<Bytes>>) -> ResponseFuture {
    ResponseFuture::new(Box::pin(std::future::ready(Ok(response))))
}

fn plain(code: StatusCode, text: &'static str) -> Response<Full<Bytes>> {
    finish(
        code,
        "text/plain; charset=utf-8",
        Bytes::from_static(text.as_bytes()),
        false,
    )
}

fn finish(
    code: StatusCode,
    content_type: &'static str,
    body: Bytes,
    head: bool,
) -> Response<Full<Bytes>> {
    let length = body.len();
    let mut response = Response::new(Full::new(if head { Bytes::new() } else { body }));
    *response.status_mut() = code;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if head {
        // What a GET would have sent.
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    }
    response
}

/// The JSON body of `/readyz` and `/health`: the report, with or without the
/// details.
#[derive(serde::Serialize)]
struct Body<'a> {
    status: Status,
    live: bool,
    ready: bool,
    lifecycle: Lifecycle,
    #[serde(skip_serializing_if = "Option::is_none")]
    in_flight: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    components: Option<&'a [ComponentReport]>,
}

impl<'a> Body<'a> {
    fn of(answer: ProbeAnswer, report: Option<&'a HealthReport>) -> Self {
        Self {
            status: answer.status,
            live: true,
            ready: answer.ready,
            lifecycle: answer.lifecycle,
            in_flight: report.map(|report| report.in_flight),
            components: report.map(|report| report.components.as_slice()),
        }
    }
}

fn render_html(answer: ProbeAnswer, details: Option<&HealthReport>) -> String {
    let mut html = String::with_capacity(1024);
    let _ = write!(
        html,
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>health: {status}</title>\
         <style>body{{font-family:sans-serif}}td,th{{padding:2px 8px;text-align:left}}\
         .up{{color:#070}}.degraded{{color:#a60}}.down{{color:#b00}}</style></head><body>\n\
         <h1>health: <span class=\"{status}\">{status}</span></h1>\n\
         <p>ready: {ready} &middot; lifecycle: {lifecycle}",
        status = answer.status,
        ready = answer.ready,
        lifecycle = answer.lifecycle,
    );
    if let Some(report) = details {
        let _ = write!(html, " &middot; in flight: {}</p>\n<table>\n<tr><th>component</th><th>kind</th><th>status</th><th>impact</th><th>critical</th><th>fallback</th><th>state</th><th>failure rate</th><th>error</th></tr>\n", report.in_flight);
        for c in &report.components {
            let _ = writeln!(
                html,
                "<tr><td>{}</td><td>{}</td><td class=\"{s}\">{s}</td><td class=\"{i}\">{i}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&c.name),
                escape(&c.kind),
                c.critical,
                c.fallback,
                escape(c.details.state.as_deref().unwrap_or("")),
                c.details
                    .failure_rate
                    .map(|rate| format!("{:.1}%", rate * 100.0))
                    .unwrap_or_default(),
                escape(c.details.error.as_deref().unwrap_or("")),
                s = c.details.status,
                i = c.impact,
            );
        }
        html.push_str("</table>\n");
    } else {
        html.push_str("</p>\n");
    }
    html.push_str("</body></html>\n");
    html
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_match_on_their_end() {
        assert!(endpoint("/livez") == Some(Endpoint::Live));
        assert!(endpoint("/readyz/") == Some(Endpoint::Ready));
        assert!(endpoint("/health") == Some(Endpoint::Health));
        assert!(endpoint("/") == Some(Endpoint::Health));
        assert!(endpoint("") == Some(Endpoint::Health));
        assert!(endpoint("/ops/readyz") == Some(Endpoint::Ready));
        assert!(endpoint("/nope").is_none());
        assert!(endpoint("/livez/x").is_none());
        assert!(endpoint("//").is_some());
    }

    #[test]
    fn html_is_escaped() {
        assert_eq!(
            escape("<a href='x'>&</a>"),
            "&lt;a href=&#39;x&#39;&gt;&amp;&lt;/a&gt;"
        );
    }
}
