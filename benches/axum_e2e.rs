//! What seawall's full preset stack costs on a real HTTP request: axum
//! servers on 127.0.0.1, bare and behind the preset, loaded by a reqwest
//! client in the same process.
//!
//! ```sh
//! cargo bench --bench axum_e2e                 # the full run: about 15-20 s on 2 cores
//! cargo bench --bench axum_e2e -- --test       # smoke test: 200 requests, 1 round, under 1 s
//! ```
//!
//! # What is measured
//!
//! Every server answers `GET /` with a two-byte static body. The preset
//! server wraps that route the way an axum application wraps its routes:
//!
//! ```text
//! ErrorResponseLayer -> Fallback -> Retry -> CircuitBreaker -> Bulkhead -> Timeout -> handler
//! ```
//!
//! with the `ResilienceLayer::builder().build()` defaults: 3 attempts with
//! jittered exponential backoff on the default retry budget, a default
//! breaker (a count window of 100 calls, 50% failure rate), a bulkhead of 25
//! calls that fails fast, and a 10 s timeout per attempt. On top, what axum
//! needs: a way to copy requests for retries, `HttpStatus::server_errors()`
//! so that a handler's 5xx counts against the breaker, a fallback outermost
//! (a fixed degraded body for seawall's own rejections, marked with a header)
//! and `seawall::axum::ErrorResponseLayer`, which makes the service
//! infallible as axum requires. Two ways to copy requests
//! (`SEAWALL_E2E_STACK`):
//!
//! - `server` (the default): one attempt and `NoClone`, as
//!   `examples/axum_server.rs` has it. A server leaves retrying to its
//!   clients; every layer still runs, the retry passes each request once.
//! - `replay`: `HttpReplay` (64 KiB), so that a request could be retried (an
//!   axum body is a stream, not `Clone`): every request's head is copied up
//!   front, whether it is retried or not.
//!
//! No metrics recorder is installed: seawall's metrics go to the no-op one.
//! Nothing fails, so no retry, breaker transition or fallback happens: this
//! is the preset's success path.
//!
//! Each round measures, bare and preset:
//!
//! - **concurrently**: a fixed number of tokio tasks sharing one reqwest
//!   client (a keep-alive pool: one connection per task) send requests until
//!   the round's count is sent or its wall-clock cap runs out. Requests/s,
//!   and p50 and p99 of the latencies, each timed from `send` until the whole
//!   body is read. Bare and preset run one after the other, bare first in odd
//!   rounds and the preset first in even ones, so that drift on a noisy
//!   machine hits both alike.
//! - **one request at a time**: a single task sending to bare and preset in
//!   turn, one request each, on one keep-alive connection to each. The mean
//!   is the cost of one axum request over loopback, the yardstick for the
//!   preset's per-call cost that the criterion benches measure in
//!   nanoseconds (the target: under 2% of it). Taking turns request by
//!   request gives both the same moments of the run.
//!
//! The summary takes the median of each figure over the rounds, and for
//! preset ÷ bare the median of the rounds' own ratios (each compares runs a
//! moment apart, so drift between rounds cancels out). Every response is
//! checked (status 200 and the exact body: a degraded answer, say for a full
//! bulkhead, is a failure); any failure makes the bench exit non-zero, and
//! one in the warm-up stops it at once. (The handler answers at once, so
//! the bulkhead holds at most one call per worker thread whatever the
//! client's concurrency: a concurrency of 40 runs clean.)
//!
//! # Runtimes
//!
//! The concurrent runs share one multi-thread tokio runtime with 2 workers
//! between the servers and the client: separate runtimes would put 4 busy
//! threads on a 2-core machine and time the OS scheduler as much as the
//! servers; with one, tokio's work stealing balances client and server work
//! over as many threads as there are cores. The client's cost is in every
//! figure, alike for bare and preset: the difference is what the preset adds.
//!
//! The one-at-a-time runs use their own servers on a current-thread runtime,
//! client and servers on one thread. On the multi-thread runtime a sequential
//! request took either about 23 µs or 65-90 µs on a shared 2-core machine,
//! flipping between the two within a run, depending on where tokio put the
//! client's and the server's tasks (whether each request had to wake the
//! other worker, whose core another process may hold). On one thread it is
//! the CPU cost of a request and its answer, the same from run to run: the
//! smallest, so the strictest, yardstick.
//!
//! # Settings
//!
//! From the environment, for the full run (the smoke test ignores them):
//!
//! | variable | default | |
//! |---|---|---|
//! | `SEAWALL_E2E_ROUNDS` | 10 | rounds |
//! | `SEAWALL_E2E_REQUESTS` | 20000 | requests per run (the one-at-a-time run sends that many to each server) |
//! | `SEAWALL_E2E_CONCURRENCY` | 16 | client tasks in the concurrent runs |
//! | `SEAWALL_E2E_MAX_SECS` | 4 | wall-clock cap of one run (a run takes about 1 s; the cap keeps a slow machine's full run near 2 minutes) |
//! | `SEAWALL_E2E_STACK` | `server` | `server` (`NoClone`) or `replay` (`HttpReplay`); see above |
//! | `SEAWALL_E2E_CALIBRATE` | unset | `1`: both servers bare, to see how far apart two identical servers measure on this machine |
//!
//! Without `--bench` (which `cargo bench` passes, and `cargo test --benches`
//! does not) or with `--test`, it runs the smoke test. Other arguments are
//! ignored.
//!
//! Prints a table to stdout; the full run also writes the summary as a
//! markdown fragment to `$CARGO_TARGET_DIR/bench-report/axum_e2e.md`
//! (`axum_e2e-replay.md` for the `replay` stack; default directory
//! `target/bench-report`). The smoke test and a
//! calibration run leave the report alone.
//!
//! Only loopback traffic: the servers listen on 127.0.0.1 on ports the OS
//! picks, and the client ignores proxy settings.

#![forbid(unsafe_code)]

#[path = "support/report.rs"]
mod report;

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Response, StatusCode};
use axum::routing::get;
use axum::serve::ListenerExt;
use axum::Router;
use seawall::axum::ErrorResponseLayer;
use seawall::classify::HttpStatus;
use seawall::fallback::{FallbackLayer, HttpMark};
use seawall::resilience::ResilienceLayer;
use seawall::retry::{HttpReplay, NoClone, RetryConfig};
use seawall::BoxError;
use tokio::runtime::Runtime;
use tokio::task::JoinSet;
use tower::ServiceBuilder;

/// What `GET /` answers on every server.
const BODY: &str = "ok";
/// What the fallback answers: never expected.
const DEGRADED: &str = "degraded";
/// A request taking longer than this fails (they take tens of microseconds).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// How big a run is.
#[derive(Clone, Copy, Debug)]
struct Settings {
    smoke: bool,
    calibrate: bool,
    stack: Stack,
    rounds: usize,
    requests: u64,
    concurrency: usize,
    max_run: Duration,
}

impl Settings {
    /// The smoke test, or the full run with the environment's settings.
    fn from_env_and_args() -> Result<Self, String> {
        let args: Vec<String> = std::env::args().skip(1).collect();
        // As criterion decides: `cargo bench` passes `--bench`, `cargo test
        // --benches` passes nothing, CI may pass `--test`.
        let smoke = args.iter().any(|a| a == "--test") || !args.iter().any(|a| a == "--bench");
        if smoke {
            return Ok(Self {
                smoke,
                calibrate: false,
                stack: Stack::from_env()?,
                rounds: 1,
                requests: 200,
                concurrency: 16,
                max_run: Duration::from_secs(10),
            });
        }
        Ok(Self {
            smoke,
            calibrate: std::env::var("SEAWALL_E2E_CALIBRATE").is_ok_and(|v| v == "1"),
            stack: Stack::from_env()?,
            rounds: env_number("SEAWALL_E2E_ROUNDS", 10)?,
            requests: env_number("SEAWALL_E2E_REQUESTS", 20_000)?,
            concurrency: env_number("SEAWALL_E2E_CONCURRENCY", 16)?,
            max_run: Duration::from_secs(env_number("SEAWALL_E2E_MAX_SECS", 4)?),
        })
    }

    /// Requests per server before the first round.
    fn warm_up(&self) -> u64 {
        (self.requests / 10).max(200)
    }
}

/// A positive integer from the environment, or `default` when unset.
fn env_number<T: std::str::FromStr + PartialEq + From<u8>>(
    name: &str,
    default: T,
) -> Result<T, String> {
    match std::env::var(name) {
        Err(std::env::VarError::NotPresent) => Ok(default),
        Ok(value) => match value.trim().parse::<T>() {
            Ok(n) if n != T::from(0) => Ok(n),
            _ => Err(format!("{name} must be a positive integer, not {value:?}")),
        },
        Err(std::env::VarError::NotUnicode(_)) => Err(format!("{name} must be a positive integer")),
    }
}

/// The plain router.
fn bare_app() -> Router {
    Router::new().route("/", get(|| async { BODY }))
}

/// How the preset copies requests for retries (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stack {
    /// One attempt and `NoClone`, as `examples/axum_server.rs` has it: a
    /// server leaves retrying to its clients, so the retry layer passes each
    /// request once.
    Server,
    /// `HttpReplay`: every request is copied up front so it could be retried.
    Replay,
}

impl Stack {
    fn from_env() -> Result<Self, String> {
        match std::env::var("SEAWALL_E2E_STACK").as_deref() {
            Err(_) | Ok("server") => Ok(Self::Server),
            Ok("replay") => Ok(Self::Replay),
            Ok(other) => Err(format!(
                "SEAWALL_E2E_STACK must be `server` or `replay`, not {other:?}"
            )),
        }
    }

    /// The server's name in the tables.
    fn name(self) -> &'static str {
        match self {
            Self::Server => "axum + preset (NoClone)",
            Self::Replay => "axum + preset (HttpReplay)",
        }
    }

    /// The markdown report's file name.
    fn report(self) -> &'static str {
        match self {
            Self::Server => "axum_e2e.md",
            Self::Replay => "axum_e2e-replay.md",
        }
    }
}

/// The same route behind the full preset (see the module docs).
fn preset_app(stack: Stack) -> Result<Router, BoxError> {
    let degraded = FallbackLayer::with_fn(|_| async {
        Ok::<_, BoxError>(Response::new(Body::from(DEGRADED)))
    })
    .name("e2e")
    .marked(HttpMark::with_header());
    let preset = ResilienceLayer::builder().name("e2e");
    let app = ServiceBuilder::new().layer(ErrorResponseLayer::new());
    Ok(match stack {
        Stack::Server => bare_app().layer(
            app.layer(
                preset
                    .retry(RetryConfig::builder().max_attempts(1))
                    .build()?
                    .with_request_clone(NoClone)
                    .with_classifier(HttpStatus::server_errors())
                    .fallback(degraded),
            ),
        ),
        Stack::Replay => bare_app().layer(
            app.layer(
                preset
                    .build()?
                    .with_request_clone(HttpReplay::new(64 * 1024))
                    .with_classifier(HttpStatus::server_errors())
                    .fallback(degraded),
            ),
        ),
    })
}

/// Serves `app` on an ephemeral port of 127.0.0.1, on the current runtime.
async fn start(what: &str, app: Router) -> Result<SocketAddr, String> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .map_err(|err| {
            format!("cannot listen on 127.0.0.1 (any port) for the {what} server: {err}")
        })?;
    let addr = listener
        .local_addr()
        .map_err(|err| format!("the {what} server's listener has no address: {err}"))?;
    let listener = listener.tap_io(|tcp| {
        // Small answers: never wait for an ACK before sending them.
        let _ = tcp.set_nodelay(true);
    });
    tokio::spawn(async move {
        // `serve` only returns on an error it cannot retry.
        if let Err(err) = axum::serve(listener, app).await {
            eprintln!("axum_e2e: the server on {addr} stopped: {err}");
        }
    });
    Ok(addr)
}

/// One server as the client sees it.
struct Target {
    name: &'static str,
    url: reqwest::Url,
    client: reqwest::Client,
}

impl Target {
    fn new(name: &'static str, addr: SocketAddr, concurrency: usize) -> Result<Self, String> {
        let url = reqwest::Url::parse(&format!("http://{addr}/")).map_err(|err| err.to_string())?;
        let client = reqwest::Client::builder()
            .no_proxy() // loopback only, whatever HTTP_PROXY says
            .tcp_nodelay(true)
            .pool_max_idle_per_host(concurrency)
            .timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(|err| format!("cannot build the HTTP client: {err}"))?;
        Ok(Self { name, url, client })
    }
}

/// Both servers, started on the current runtime, as its clients see them.
async fn servers(settings: &Settings) -> Result<[Target; 2], String> {
    let bare = start("bare", bare_app()).await?;
    let (name, app) = if settings.calibrate {
        ("bare axum (again)", bare_app())
    } else {
        let preset =
            preset_app(settings.stack).map_err(|err| format!("cannot build the preset: {err}"))?;
        (settings.stack.name(), preset)
    };
    let second = start(name, app).await?;
    Ok([
        Target::new("bare axum", bare, settings.concurrency)?,
        Target::new(name, second, settings.concurrency)?,
    ])
}

/// What one run measured of one server.
#[derive(Debug)]
struct Run {
    /// Latencies of the requests that succeeded, in nanoseconds, sorted.
    latencies: Vec<u64>,
    failed: u64,
    elapsed: Duration,
    /// Stopped by the wall-clock cap before all requests were sent.
    capped: bool,
    /// What went wrong first, if anything did.
    first_error: Option<String>,
}

impl Run {
    fn rps(&self) -> f64 {
        self.latencies.len() as f64 / self.elapsed.as_secs_f64()
    }

    /// The `q` quantile (nearest rank), in nanoseconds.
    fn quantile(&self, q: f64) -> f64 {
        if self.latencies.is_empty() {
            return f64::NAN;
        }
        let rank = (q * self.latencies.len() as f64).ceil() as usize;
        self.latencies[rank.clamp(1, self.latencies.len()) - 1] as f64
    }

    fn mean(&self) -> f64 {
        if self.latencies.is_empty() {
            return f64::NAN;
        }
        self.latencies.iter().sum::<u64>() as f64 / self.latencies.len() as f64
    }
}

/// Sends `requests` requests from `concurrency` tasks (or as many as fit in
/// `cap`), each timed from `send` until its whole body is read. Each task
/// takes the `targets` in turn, one request each; one [`Run`] per target.
async fn load(targets: &[&Target], concurrency: usize, requests: u64, cap: Duration) -> Vec<Run> {
    let next = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let deadline = start + cap;
    let share = usize::try_from(requests / (concurrency * targets.len()) as u64 + 1).unwrap_or(0);
    let mut tasks = JoinSet::new();
    for _ in 0..concurrency {
        let targets: Vec<(reqwest::Client, reqwest::Url)> = targets
            .iter()
            .map(|t| (t.client.clone(), t.url.clone()))
            .collect();
        let next = next.clone();
        tasks.spawn(async move {
            let mut latencies = vec![Vec::with_capacity(share); targets.len()];
            let mut failed = vec![0; targets.len()];
            let mut first_error: Vec<Option<String>> = vec![None; targets.len()];
            let mut turn = 0;
            while next.fetch_add(1, Ordering::Relaxed) < requests && Instant::now() < deadline {
                let (client, url) = &targets[turn];
                let sent = Instant::now();
                match check(client.get(url.clone()).send().await).await {
                    Ok(()) => {
                        let nanos = u64::try_from(sent.elapsed().as_nanos()).unwrap_or(u64::MAX);
                        latencies[turn].push(nanos);
                    }
                    Err(err) => {
                        failed[turn] += 1;
                        first_error[turn].get_or_insert_with(|| format!("{url}: {err}"));
                    }
                }
                turn = (turn + 1) % targets.len();
            }
            (latencies, failed, first_error)
        });
    }
    let mut runs: Vec<Run> = targets
        .iter()
        .map(|_| Run {
            latencies: Vec::with_capacity(share * concurrency),
            failed: 0,
            elapsed: Duration::ZERO,
            capped: false,
            first_error: None,
        })
        .collect();
    let mut lost = 0;
    while let Some(done) = tasks.join_next().await {
        match done {
            Ok((latencies, failed, errors)) => {
                for (run, ((latencies, failed), error)) in runs
                    .iter_mut()
                    .zip(latencies.into_iter().zip(failed).zip(errors))
                {
                    run.latencies.extend(latencies);
                    run.failed += failed;
                    if run.first_error.is_none() {
                        run.first_error = error;
                    }
                }
            }
            Err(err) => {
                // A task that panicked: counted, not hidden.
                lost += 1;
                runs[0].first_error.get_or_insert_with(|| err.to_string());
            }
        }
    }
    let elapsed = start.elapsed();
    let done: u64 = runs
        .iter()
        .map(|run| run.latencies.len() as u64 + run.failed)
        .sum();
    for run in &mut runs {
        run.elapsed = elapsed;
        run.capped = done < requests;
        run.latencies.sort_unstable();
    }
    runs[0].failed += lost;
    runs
}

/// Whether a response is the one expected, read to its end.
async fn check(sent: reqwest::Result<reqwest::Response>) -> Result<(), String> {
    let response = sent.map_err(|err| chain(&err))?;
    let status = response.status();
    let body = response.bytes().await.map_err(|err| chain(&err))?;
    if status != StatusCode::OK || body != BODY.as_bytes() {
        let body = String::from_utf8_lossy(&body);
        return Err(format!("{status}, body {body:?} (expected 200, {BODY:?})"));
    }
    Ok(())
}

/// An error with its sources: reqwest's own text leaves out the cause.
fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let _ = write!(text, ": {cause}");
        source = cause.source();
    }
    text
}

/// One server's figures from one round (latencies in nanoseconds).
#[derive(Clone, Copy, Debug)]
struct Figures {
    rps: f64,
    p50: f64,
    p99: f64,
    one_mean: f64,
    one_p50: f64,
}

impl Figures {
    fn of(concurrent: &Run, one_at_a_time: &Run) -> Self {
        Self {
            rps: concurrent.rps(),
            p50: concurrent.quantile(0.50),
            p99: concurrent.quantile(0.99),
            one_mean: one_at_a_time.mean(),
            one_p50: one_at_a_time.quantile(0.50),
        }
    }

    fn each(self, other: Self, f: impl Fn(f64, f64) -> f64) -> Self {
        Self {
            rps: f(self.rps, other.rps),
            p50: f(self.p50, other.p50),
            p99: f(self.p99, other.p99),
            one_mean: f(self.one_mean, other.one_mean),
            one_p50: f(self.one_p50, other.one_p50),
        }
    }

    /// The median of each figure over `rounds`, separately.
    fn median(rounds: &[Figures]) -> Self {
        let median = |f: fn(&Figures) -> f64| {
            let mut values: Vec<f64> = rounds.iter().map(f).collect();
            values.sort_unstable_by(f64::total_cmp);
            let mid = values.len() / 2;
            if values.len() % 2 == 1 {
                values[mid]
            } else {
                (values[mid - 1] + values[mid]) / 2.0
            }
        };
        Self {
            rps: median(|f| f.rps),
            p50: median(|f| f.p50),
            p99: median(|f| f.p99),
            one_mean: median(|f| f.one_mean),
            one_p50: median(|f| f.one_p50),
        }
    }
}

/// A latency in nanoseconds, in µs or ms.
fn latency(nanos: f64) -> String {
    if nanos.is_nan() {
        "-".to_owned()
    } else if nanos < 1_000_000.0 {
        format!("{:.1} µs", nanos / 1_000.0)
    } else {
        format!("{:.2} ms", nanos / 1_000_000.0)
    }
}

/// Failures and a cut-short run, said on the round's line.
fn notes(run: &Run) -> String {
    let mut notes = String::new();
    if run.failed > 0 {
        let _ = write!(notes, "  {} FAILED", run.failed);
    }
    if run.capped {
        notes.push_str("  (cut short by the time cap)");
    }
    notes
}

/// Everything measured, and what went wrong.
struct Outcome {
    names: [&'static str; 2],
    /// Medians over the rounds, bare and preset.
    medians: [Figures; 2],
    /// The median over the rounds of each round's preset ÷ bare.
    ratio: Figures,
    failed: u64,
    first_error: Option<String>,
    capped: bool,
}

/// The rounds: concurrent runs on `parallel`, one-at-a-time runs on `single`.
fn bench(settings: &Settings, parallel: &Runtime, single: &Runtime) -> Result<Outcome, String> {
    let concurrent_targets = parallel.block_on(servers(settings))?;
    let sequential_targets = single.block_on(servers(settings))?;
    let names = [concurrent_targets[0].name, concurrent_targets[1].name];
    println!(
        "concurrency {}, {} requests per run, {} round(s), at most {} s per run",
        settings.concurrency,
        settings.requests,
        settings.rounds,
        settings.max_run.as_secs(),
    );

    // Opens the connections and warms both stacks; stops at the first failure.
    let mut warm = Vec::new();
    for target in &concurrent_targets {
        warm.extend(parallel.block_on(load(
            &[target],
            settings.concurrency,
            settings.warm_up(),
            settings.max_run,
        )));
    }
    let both = [&sequential_targets[0], &sequential_targets[1]];
    warm.extend(single.block_on(load(&both, 1, 2 * settings.warm_up(), settings.max_run)));
    if let Some(run) = warm.iter().find(|run| run.failed > 0) {
        return Err(format!(
            "the warm-up failed: {} request(s); the first: {}",
            warm.iter().map(|run| run.failed).sum::<u64>(),
            run.first_error.as_deref().unwrap_or("(no error recorded)"),
        ));
    }

    let mut failed = 0;
    let mut first_error = None;
    let mut capped = false;
    let mut rounds: [Vec<Figures>; 2] = [Vec::new(), Vec::new()];
    let mut ratios = Vec::new();
    println!();
    println!(
        "{:<7} {:<22} {:>11} {:>10} {:>10} {:>12} {:>12}",
        "round", "server", "requests/s", "p50", "p99", "c=1 mean", "c=1 p50"
    );
    for round in 1..=settings.rounds {
        // Bare first in odd rounds, the preset first in even ones.
        let order = if round % 2 == 1 { [0, 1] } else { [1, 0] };
        let mut concurrent: [Option<Run>; 2] = [None, None];
        for i in order {
            let mut run = parallel.block_on(load(
                &[&concurrent_targets[i]],
                settings.concurrency,
                settings.requests,
                settings.max_run,
            ));
            concurrent[i] = run.pop();
        }
        // One task taking bare and preset in turn, one request each.
        let both = [&sequential_targets[order[0]], &sequential_targets[order[1]]];
        let mut one_at_a_time =
            single.block_on(load(&both, 1, 2 * settings.requests, settings.max_run));
        if order[0] == 1 {
            one_at_a_time.swap(0, 1);
        }
        let mut figures = [None, None];
        for i in 0..2 {
            let (Some(run), Some(one)) = (&concurrent[i], one_at_a_time.get(i)) else {
                return Err("a run measured nothing".to_owned());
            };
            let these = Figures::of(run, one);
            failed += run.failed + one.failed;
            capped |= run.capped || one.capped;
            if first_error.is_none() {
                first_error = run.first_error.clone().or_else(|| one.first_error.clone());
            }
            println!(
                "{:<7} {:<22} {:>11.0} {:>10} {:>10} {:>12} {:>12}{}{}",
                format!("{round}/{}", settings.rounds),
                names[i],
                these.rps,
                latency(these.p50),
                latency(these.p99),
                latency(these.one_mean),
                latency(these.one_p50),
                notes(run),
                notes(one),
            );
            rounds[i].push(these);
            figures[i] = Some(these);
        }
        if let [Some(bare), Some(preset)] = figures {
            ratios.push(preset.each(bare, |p, b| p / b));
        }
    }
    Ok(Outcome {
        names,
        medians: [Figures::median(&rounds[0]), Figures::median(&rounds[1])],
        ratio: Figures::median(&ratios),
        failed,
        first_error,
        capped,
    })
}

/// The summary on stdout.
fn text_table(outcome: &Outcome) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<22} {:>11} {:>10} {:>10} {:>12} {:>12}",
        "median of the rounds", "requests/s", "p50", "p99", "c=1 mean", "c=1 p50"
    );
    for (name, f) in outcome.names.iter().zip(outcome.medians) {
        let _ = writeln!(
            out,
            "{name:<22} {:>11.0} {:>10} {:>10} {:>12} {:>12}",
            f.rps,
            latency(f.p50),
            latency(f.p99),
            latency(f.one_mean),
            latency(f.one_p50)
        );
    }
    let r = outcome.ratio;
    let _ = writeln!(
        out,
        "{:<22} {:>11.3} {:>10.3} {:>10.3} {:>12.3} {:>12.3}",
        "ratio (median)", r.rps, r.p50, r.p99, r.one_mean, r.one_p50
    );
    out
}

/// The summary as a markdown fragment: a sentence and a table.
fn markdown(settings: &Settings, outcome: &Outcome) -> String {
    let mut out = format!(
        "Concurrency {}, {} requests per round, {} rounds. Medians over the rounds; \
         the ratio row is the median of each round's preset ÷ bare. Concurrency 1: \
         one request at a time, to bare and preset in turn, client and servers on \
         one thread.\n\n",
        settings.concurrency, settings.requests, settings.rounds,
    );
    out.push_str("| | requests/s | p50 | p99 | mean latency, concurrency 1 |\n");
    out.push_str("|---|---:|---:|---:|---:|\n");
    for (name, f) in outcome.names.iter().zip(outcome.medians) {
        let _ = writeln!(
            out,
            "| {name} | {:.0} | {} | {} | {} |",
            f.rps,
            latency(f.p50),
            latency(f.p99),
            latency(f.one_mean)
        );
    }
    let r = outcome.ratio;
    let _ = writeln!(
        out,
        "| preset ÷ bare | {:.3} | {:.3} | {:.3} | {:.3} |",
        r.rps, r.p50, r.p99, r.one_mean
    );
    out
}

fn main() -> ExitCode {
    let started = Instant::now();
    let settings = match Settings::from_env_and_args() {
        Ok(settings) => settings,
        Err(err) => {
            eprintln!("axum_e2e: {err}");
            return ExitCode::from(2);
        }
    };
    let runtimes = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .and_then(|parallel| {
            let single = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            Ok((parallel, single))
        });
    let (parallel, single) = match runtimes {
        Ok(runtimes) => runtimes,
        Err(err) => {
            eprintln!("axum_e2e: cannot start the tokio runtimes: {err}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = match bench(&settings, &parallel, &single) {
        Ok(outcome) => outcome,
        Err(err) => {
            eprintln!("axum_e2e: {err}");
            return ExitCode::FAILURE;
        }
    };
    println!();
    print!("{}", text_table(&outcome));
    let [bare, preset] = outcome.medians;
    println!(
        "\nc=1: {} adds {:+.2} µs to a request (difference of the median means), \
         {:.1}% of the bare request (median ratio)",
        if settings.calibrate {
            "the second bare server"
        } else {
            "the preset"
        },
        (preset.one_mean - bare.one_mean) / 1_000.0,
        (outcome.ratio.one_mean - 1.0) * 100.0,
    );
    if outcome.capped {
        println!("some runs were cut short by the time cap: they cover fewer requests");
    }
    if settings.calibrate {
        println!("calibration run (both servers bare): no report written");
    } else if outcome.failed > 0 {
        println!("requests failed: no report written");
    } else if !settings.smoke {
        match report::write_report(settings.stack.report(), &markdown(&settings, &outcome)) {
            Ok(path) => println!("report: {}", path.display()),
            Err(err) => {
                eprintln!("axum_e2e: {err}");
                return ExitCode::FAILURE;
            }
        }
    }
    println!("total time {:.1} s", started.elapsed().as_secs_f64());
    if outcome.failed > 0 {
        eprintln!(
            "axum_e2e: {} request(s) failed; the first: {}",
            outcome.failed,
            outcome
                .first_error
                .as_deref()
                .unwrap_or("(no error recorded)")
        );
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
