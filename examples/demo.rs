//! seawall saving a service from a failing dependency, live.
//!
//! A real axum "upstream" on 127.0.0.1 follows a script of phases, played by
//! the chaos layer and by stopping its listener: healthy, 30% errors, hard
//! down (connection refused), slow (answers after the timeout), recovering.
//! A number of callers call it with a real reqwest client through the full
//! seawall stack (fallback -> retry -> breaker -> bulkhead -> timeout); a
//! status line every half second shows what they see and what the breaker
//! does, and state transitions are printed as they happen. Then the same
//! script runs again with the bare client, and a side-by-side summary shows
//! the difference.
//!
//! ```sh
//! cargo run --example demo                      # about 30 s
//! cargo run --example demo -- --help
//! ```

use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::routing::get;
use axum::Router;
use http::StatusCode;
use seawall::axum::ErrorResponseLayer;
use seawall::breaker::BreakerEvent;
use seawall::breaker::{Breaker, BreakerConfig, OpenWait};
use seawall::chaos::{Chaos, ChaosConfig, ChaosLayer, Fault, Latency};
use seawall::classify::{Classify, Outcome};
use seawall::fallback::{FallbackLayer, FallbackOn};
use seawall::resilience::ResilienceLayer;
use seawall::retry::{ReqwestClone, RetryConfig, RetryEvent, RetryOnFailure, StandardBackoff};
use seawall::{BoxError, ErrorKind};
use tokio::time::Instant;
use tower::{Service, ServiceBuilder, ServiceExt};

const USAGE: &str = "\
seawall demo: a failing upstream, with and without seawall

USAGE:
    cargo run --example demo -- [--duration SECS] [--concurrency N] [--seed N]

OPTIONS:
    --duration SECS    length of each of the two runs, in seconds (default 15, 5 to 300)
    --concurrency N    callers calling at once (default 8, 1 to 256)
    --seed N           seed of the injected faults (default 7)
    -h, --help         print this help";

/// Each attempt's deadline in the seawall stack.
const ATTEMPT_TIMEOUT: Duration = Duration::from_millis(250);
/// The bare client's timeout: a common client default, for comparison.
const BARE_TIMEOUT: Duration = Duration::from_secs(1);
/// How slow the upstream is in its slow phase.
const SLOW_ANSWER: Duration = Duration::from_millis(600);
/// The pause between one caller's calls.
const PACE: Duration = Duration::from_millis(50);

struct Args {
    duration: Duration,
    concurrency: usize,
    seed: u64,
}

fn parse_args() -> Result<Option<Args>, String> {
    let mut args = Args {
        duration: Duration::from_secs(15),
        concurrency: 8,
        seed: 7,
    };
    let mut words = std::env::args().skip(1);
    while let Some(word) = words.next() {
        let mut value = |name: &str| words.next().ok_or_else(|| format!("{name} needs a value"));
        match word.as_str() {
            "-h" | "--help" => return Ok(None),
            "--duration" => {
                let secs: u64 = value("--duration")?
                    .parse()
                    .map_err(|_| "--duration takes whole seconds".to_owned())?;
                if !(5..=300).contains(&secs) {
                    return Err("--duration must be 5 to 300 seconds".into());
                }
                args.duration = Duration::from_secs(secs);
            }
            "--concurrency" => {
                let n: usize = value("--concurrency")?
                    .parse()
                    .map_err(|_| "--concurrency takes a number".to_owned())?;
                if !(1..=256).contains(&n) {
                    return Err("--concurrency must be 1 to 256".into());
                }
                args.concurrency = n;
            }
            "--seed" => {
                args.seed = value("--seed")?
                    .parse()
                    .map_err(|_| "--seed takes a number".to_owned())?;
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(Some(args))
}

/// What the upstream does during one fifth of a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Healthy,
    Errors,
    Down,
    Slow,
    Recovering,
}

impl Phase {
    const ALL: [Phase; 5] = [
        Self::Healthy,
        Self::Errors,
        Self::Down,
        Self::Slow,
        Self::Recovering,
    ];

    fn at(elapsed: Duration, run: Duration) -> Self {
        let fifth = (elapsed.as_secs_f64() / run.as_secs_f64() * 5.0) as usize;
        Self::ALL[fifth.min(4)]
    }

    fn name(self) -> &'static str {
        match self {
            Self::Healthy => "healthy",
            Self::Errors => "30% errors",
            Self::Down => "down",
            Self::Slow => "slow",
            Self::Recovering => "recovering",
        }
    }

    /// Whether the upstream is failing in this phase.
    fn is_outage(self) -> bool {
        matches!(self, Self::Errors | Self::Down | Self::Slow)
    }
}

/// The upstream: an axum server whose faults a chaos handle injects, and
/// whose listener the script stops and restarts.
struct Upstream {
    addr: SocketAddr,
    chaos: Chaos<axum::response::Response>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Upstream {
    async fn start(seed: u64) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let chaos = Chaos::new(
            ChaosConfig::builder()
                .name("upstream")
                .seed(seed)
                .enabled(false)
                .build()
                .expect("a valid chaos config"),
        );
        let mut upstream = Self {
            addr,
            chaos,
            stop: None,
            task: None,
        };
        upstream.serve(listener);
        Ok(upstream)
    }

    fn serve(&mut self, listener: tokio::net::TcpListener) {
        let app = Router::new()
            .route("/inventory", get(|| async { "42 in stock" }))
            .layer(
                ServiceBuilder::new()
                    .layer(ErrorResponseLayer::new())
                    .layer(ChaosLayer::new(self.chaos.clone())),
            );
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        self.stop = Some(stop);
        self.task = Some(tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
        }));
    }

    /// Closes the listener and every connection: calls are refused.
    async fn go_down(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
    }

    /// Listens again on the same port.
    async fn come_back(&mut self) -> std::io::Result<()> {
        let mut tries = 0;
        loop {
            match tokio::net::TcpListener::bind(self.addr).await {
                Ok(listener) => {
                    self.serve(listener);
                    return Ok(());
                }
                Err(err) if tries < 50 => {
                    tries += 1;
                    let _ = err;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(err) => return Err(err),
            }
        }
    }

    async fn enter(&mut self, phase: Phase) -> std::io::Result<()> {
        match phase {
            Phase::Healthy | Phase::Recovering => self.chaos.disable(),
            Phase::Errors => {
                self.chaos
                    .set_faults([Fault::status(0.3, StatusCode::SERVICE_UNAVAILABLE)])
                    .expect("a valid fault");
                self.chaos.enable();
            }
            Phase::Down => {
                self.chaos.disable();
                self.go_down().await;
            }
            Phase::Slow => {
                self.come_back().await?;
                self.chaos
                    .set_faults([Fault::latency(1.0, Latency::fixed(SLOW_ANSWER))])
                    .expect("a valid fault");
                self.chaos.enable();
            }
        }
        Ok(())
    }
}

/// What a caller got.
#[derive(Clone, Copy, Debug)]
enum Answer {
    /// The upstream's own answer, with its status.
    Upstream(StatusCode),
    /// The fallback's cached answer.
    Cached,
}

/// Everything one run counts.
#[derive(Default)]
struct Tally {
    calls: AtomicU64,
    successes: AtomicU64,
    fallbacks: AtomicU64,
    errors: AtomicU64,
    sent: AtomicU64,
    sent_in_outage: AtomicU64,
    retries: AtomicU64,
    latencies: Mutex<Vec<Duration>>,
}

impl Tally {
    fn percentile(&self, p: f64) -> Duration {
        let mut all = self.latencies.lock().unwrap().clone();
        if all.is_empty() {
            return Duration::ZERO;
        }
        all.sort();
        all[((all.len() - 1) as f64 * p).round() as usize]
    }
}

/// The reqwest client as a tower service that counts every request it sends.
#[derive(Clone)]
struct CountingClient {
    client: reqwest::Client,
    tally: Arc<Tally>,
    phase: Arc<Mutex<Phase>>,
}

impl Service<reqwest::Request> for CountingClient {
    type Response = reqwest::Response;
    type Error = reqwest::Error;
    type Future = <reqwest::Client as Service<reqwest::Request>>::Future;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.client.poll_ready(cx)
    }

    fn call(&mut self, request: reqwest::Request) -> Self::Future {
        self.tally.sent.fetch_add(1, Ordering::Relaxed);
        if self.phase.lock().unwrap().is_outage() {
            self.tally.sent_in_outage.fetch_add(1, Ordering::Relaxed);
        }
        self.client.call(request)
    }
}

/// A 5xx or a failed request is the upstream failing: the breaker counts it,
/// and the retry (through `RetryOnFailure`) retries it.
#[derive(Clone, Copy)]
struct UpstreamFailed;

impl UpstreamFailed {
    fn is_failure(result: &Result<reqwest::Response, BoxError>) -> bool {
        match result {
            Ok(response) => response.status().is_server_error(),
            Err(_) => true,
        }
    }
}

impl Classify<reqwest::Response, BoxError> for UpstreamFailed {
    fn classify(&self, result: &Result<reqwest::Response, BoxError>) -> Outcome {
        if Self::is_failure(result) {
            Outcome::Failure
        } else {
            Outcome::Success
        }
    }
}

/// An answer that got through with a 5xx is worth replacing with the cached one.
#[derive(Clone, Copy)]
struct ServerErrorAnswer;

impl Classify<Answer, BoxError> for ServerErrorAnswer {
    fn classify(&self, result: &Result<Answer, BoxError>) -> Outcome {
        match result {
            Ok(Answer::Upstream(status)) if status.is_server_error() => Outcome::Failure,
            _ => Outcome::Success,
        }
    }
}

/// Prints lines, redrawing the status line in place on a terminal.
struct Screen {
    terminal: bool,
}

impl Screen {
    fn status(&self, line: &str) {
        let mut out = std::io::stdout().lock();
        if self.terminal {
            let _ = write!(out, "\r\x1b[2K{line}");
        } else {
            let _ = writeln!(out, "{line}");
        }
        let _ = out.flush();
    }

    fn event(&self, line: &str) {
        let mut out = std::io::stdout().lock();
        if self.terminal {
            let _ = write!(out, "\r\x1b[2K");
        }
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    }
}

/// One scripted run; `with_seawall` chooses the stack.
async fn run(args: &Args, with_seawall: bool, screen: Arc<Screen>) -> std::io::Result<Arc<Tally>> {
    let mut upstream = Upstream::start(args.seed).await?;
    let url = format!("http://{}/inventory", upstream.addr);
    let tally = Arc::new(Tally::default());
    let phase = Arc::new(Mutex::new(Phase::Healthy));
    let started = Instant::now();
    let client = reqwest::Client::builder()
        .timeout(if with_seawall {
            Duration::from_secs(5)
        } else {
            BARE_TIMEOUT
        })
        .build()
        .expect("a reqwest client");

    let breaker = Breaker::new(
        BreakerConfig::builder()
            .name("upstream")
            .count_window(20)
            .minimum_calls(10)
            .failure_rate_threshold(0.5)
            .open_wait(OpenWait::fixed(Duration::from_millis(1500)))
            .permitted_calls_in_half_open(3)
            .build()
            .expect("a valid breaker config"),
    );
    let events = screen.clone();
    breaker.on_state_transition(move |event: &BreakerEvent<'_>| {
        if let BreakerEvent::StateTransition { from, to, .. } = event {
            let at = started.elapsed().as_secs_f64();
            events.event(&format!("[{at:5.1}s] breaker: {from} -> {to}"));
        }
    });
    let retries = tally.clone();
    let resilience = ResilienceLayer::builder()
        .name("upstream")
        .breaker(breaker.clone())
        .timeout(ATTEMPT_TIMEOUT)
        .retry(
            RetryConfig::builder()
                .max_attempts(3)
                .backoff(StandardBackoff::new(Duration::from_millis(25), 2.0))
                .seed(args.seed)
                .on_event(move |event: &RetryEvent<'_>| {
                    if matches!(event, RetryEvent::Scheduled { .. }) {
                        retries.retries.fetch_add(1, Ordering::Relaxed);
                    }
                }),
        )
        .build()
        .expect("a valid stack")
        .with_request_clone(ReqwestClone)
        .with_retry_policy(RetryOnFailure::new(UpstreamFailed))
        .with_classifier(UpstreamFailed);
    let budget = resilience.retry_config().budget().cloned();
    let fallback = FallbackLayer::value(Answer::Cached)
        .name("inventory")
        .on(FallbackOn::default()
            .kind(ErrorKind::Other)
            .responses(ServerErrorAnswer));
    let protected = ServiceBuilder::new()
        .layer(fallback)
        .map_response(|response: reqwest::Response| Answer::Upstream(response.status()))
        .layer(resilience)
        .service(CountingClient {
            client: client.clone(),
            tally: tally.clone(),
            phase: phase.clone(),
        });
    let bare = ServiceBuilder::new()
        .map_response(|response: reqwest::Response| Answer::Upstream(response.status()))
        .map_err(BoxError::from)
        .service(CountingClient {
            client,
            tally: tally.clone(),
            phase: phase.clone(),
        });

    let mut callers = Vec::new();
    for _ in 0..args.concurrency {
        let tally = tally.clone();
        let url = url.clone();
        let duration = args.duration;
        let mut protected = protected.clone();
        let mut bare = bare.clone();
        callers.push(tokio::spawn(async move {
            while started.elapsed() < duration {
                let request = reqwest::Request::new(reqwest::Method::GET, url.parse().unwrap());
                let begun = Instant::now();
                let result = if with_seawall {
                    match protected.ready().await {
                        Ok(service) => service.call(request).await,
                        Err(err) => Err(err),
                    }
                } else {
                    match bare.ready().await {
                        Ok(service) => service.call(request).await,
                        Err(err) => Err(err),
                    }
                };
                tally.latencies.lock().unwrap().push(begun.elapsed());
                tally.calls.fetch_add(1, Ordering::Relaxed);
                let counter = match result {
                    Ok(Answer::Cached) => &tally.fallbacks,
                    Ok(Answer::Upstream(status)) if status.is_success() => &tally.successes,
                    Ok(Answer::Upstream(_)) | Err(_) => &tally.errors,
                };
                counter.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(PACE).await;
            }
        }));
    }

    let mut current = Phase::Healthy;
    screen.event(&format!(
        "[  0.0s] upstream is {} ({})",
        current.name(),
        if with_seawall {
            "with seawall"
        } else {
            "bare client"
        }
    ));
    let mut ticker = tokio::time::interval(Duration::from_millis(500));
    while started.elapsed() < args.duration {
        ticker.tick().await;
        let elapsed = started.elapsed();
        let next = Phase::at(elapsed, args.duration);
        if next != current {
            current = next;
            *phase.lock().unwrap() = next;
            upstream.enter(next).await?;
            let at = elapsed.as_secs_f64();
            screen.event(&format!("[{at:5.1}s] upstream is {}", next.name()));
        }
        let mut line = format!(
            "[{:5.1}s] {:<10} | calls {:5} ok {:5} fallback {:5} errors {:5} | sent {:5}",
            elapsed.as_secs_f64(),
            current.name(),
            tally.calls.load(Ordering::Relaxed),
            tally.successes.load(Ordering::Relaxed),
            tally.fallbacks.load(Ordering::Relaxed),
            tally.errors.load(Ordering::Relaxed),
            tally.sent.load(Ordering::Relaxed),
        );
        if with_seawall {
            let metrics = breaker.metrics();
            line.push_str(&format!(
                " retries {:4} rejected {:5} | breaker {:<9}",
                tally.retries.load(Ordering::Relaxed),
                metrics.not_permitted_calls,
                metrics.state.to_string(),
            ));
            if let Some(budget) = &budget {
                line.push_str(&format!(" budget {:5.1}", budget.level()));
            }
        }
        screen.status(&line);
    }
    for caller in callers {
        let _ = caller.await;
    }
    screen.event("");
    upstream.go_down().await;
    Ok(tally)
}

fn summary(with: &Tally, without: &Tally) {
    let row = |name: &str, a: String, b: String| println!("  {name:<38} {a:>14} {b:>14}");
    println!("\nthe same script, side by side:");
    row("", "with seawall".into(), "bare client".into());
    let count = |t: &Tally, f: fn(&Tally) -> &AtomicU64| f(t).load(Ordering::Relaxed).to_string();
    row(
        "calls made by the callers",
        count(with, |t| &t.calls),
        count(without, |t| &t.calls),
    );
    row(
        "requests sent to the failing upstream",
        count(with, |t| &t.sent_in_outage),
        count(without, |t| &t.sent_in_outage),
    );
    row(
        "errors seen by the callers",
        count(with, |t| &t.errors),
        count(without, |t| &t.errors),
    );
    row(
        "fallback answers served",
        count(with, |t| &t.fallbacks),
        "-".into(),
    );
    let ms = |d: Duration| format!("{:.1} ms", d.as_secs_f64() * 1000.0);
    row(
        "p50 latency",
        ms(with.percentile(0.5)),
        ms(without.percentile(0.5)),
    );
    row(
        "p99 latency",
        ms(with.percentile(0.99)),
        ms(without.percentile(0.99)),
    );
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(Some(args)) => args,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(err) => {
            eprintln!("demo: {err}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let screen = Arc::new(Screen {
        terminal: std::io::stdout().is_terminal(),
    });
    println!(
        "seawall demo: {} callers, {} s per run, seed {}",
        args.concurrency,
        args.duration.as_secs(),
        args.seed
    );
    println!(
        "stack: fallback -> retry (3 attempts, budget) -> breaker (50% of 20) -> bulkhead -> timeout {} ms\n",
        ATTEMPT_TIMEOUT.as_millis()
    );
    let with = match run(&args, true, screen.clone()).await {
        Ok(tally) => tally,
        Err(err) => {
            eprintln!("demo: cannot serve the upstream on 127.0.0.1: {err}");
            return ExitCode::FAILURE;
        }
    };
    println!(
        "now the same script with a bare reqwest client (timeout {} ms, no retries):\n",
        BARE_TIMEOUT.as_millis()
    );
    let without = match run(&args, false, screen).await {
        Ok(tally) => tally,
        Err(err) => {
            eprintln!("demo: cannot serve the upstream on 127.0.0.1: {err}");
            return ExitCode::FAILURE;
        }
    };
    summary(&with, &without);
    ExitCode::SUCCESS
}
