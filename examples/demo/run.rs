//! One scripted run: the upstream, the callers, the stack (or the bare
//! client), and the status line while it lasts.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use http::StatusCode;
use seawall::breaker::{Breaker, BreakerConfig, BreakerEvent, OpenWait, State};
use seawall::classify::{Classify, FailOnError, Outcome};
use seawall::fallback::{FallbackLayer, FallbackOn};
use seawall::resilience::ResilienceLayer;
use seawall::retry::{ReqwestClone, RetryConfig, RetryEvent, RetryOnFailure, StandardBackoff};
use seawall::{BoxError, ErrorKind};
use tokio::time::Instant;
use tower::{Service, ServiceBuilder, ServiceExt};

use crate::args::Args;
use crate::screen::{Screen, Segment};
use crate::script::{CurrentPhase, Phase, Script, Upstream};
use crate::tally::{Ending, Tally};

/// Each attempt's deadline in the seawall stack.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_millis(250);
/// The bare client's timeout: a common client default, for comparison.
pub const BARE_TIMEOUT: Duration = Duration::from_secs(1);
/// The pause between one caller's calls.
const PACE: Duration = Duration::from_millis(50);
/// How often the status line is redrawn on a terminal.
const STATUS_EVERY: Duration = Duration::from_millis(500);

/// What a caller got.
#[derive(Clone, Copy, Debug)]
enum Answer {
    /// The upstream's own answer, with its status.
    Upstream(StatusCode),
    /// The fallback's cached answer.
    Cached,
}

/// The end of one run: its counts, and the breaker's (with seawall).
pub struct Outcomes {
    pub with_seawall: bool,
    pub tally: Arc<Tally>,
    pub took: Duration,
    pub breaker: Option<BreakerEnd>,
}

/// The breaker's and the retry budget's figures when the run ended.
pub struct BreakerEnd {
    pub refused: u64,
    pub state: State,
    pub budget: Option<f64>,
}

/// The reqwest client as a tower service that counts every request it sends.
#[derive(Clone)]
struct CountingClient {
    client: reqwest::Client,
    tally: Arc<Tally>,
    phase: Arc<CurrentPhase>,
    started: Instant,
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
        self.tally.sent(self.started.elapsed(), self.phase.get());
        self.client.call(request)
    }
}

/// A 5xx or a failed request is the upstream failing: the breaker counts it,
/// and the retry (through `RetryOnFailure`) retries it. A full bulkhead is
/// this process's own overload, not the upstream's: `FailOnError` ignores it.
#[derive(Clone, Copy)]
struct UpstreamFailed;

impl Classify<reqwest::Response, BoxError> for UpstreamFailed {
    fn classify(&self, result: &Result<reqwest::Response, BoxError>) -> Outcome {
        match result {
            Ok(response) if response.status().is_server_error() => Outcome::Failure,
            Ok(_) => Outcome::Success,
            Err(_) => FailOnError.classify(result),
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

/// One scripted run; `with_seawall` chooses the stack.
pub async fn run(
    args: &Args,
    with_seawall: bool,
    screen: Arc<Screen>,
) -> std::io::Result<Outcomes> {
    let script = Script::new(args.duration);
    let mut upstream = Upstream::start(args.seed).await?;
    let url: reqwest::Url = format!("http://{}/inventory", upstream.addr)
        .parse()
        .expect("a valid URL");
    let tally = Arc::new(Tally::new(args.duration));
    let phase = Arc::new(CurrentPhase::default());
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
            .open_wait(OpenWait::fixed(script.open_wait()))
            .permitted_calls_in_half_open(3)
            .build()
            .expect("a valid breaker config"),
    );
    let events = screen.clone();
    let transitions = tally.clone();
    breaker.on_state_transition(move |event: &BreakerEvent<'_>| {
        if let BreakerEvent::StateTransition { from, to, .. } = event {
            let at = started.elapsed();
            transitions.transitions.lock().unwrap().push((at, *to));
            let at = at.as_secs_f64();
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
    let retry_config = resilience.retry_config().clone();
    let fallback = FallbackLayer::value(Answer::Cached)
        .name("inventory")
        .on(FallbackOn::default()
            .kind(ErrorKind::Other)
            .responses(ServerErrorAnswer));
    let counting = CountingClient {
        client,
        tally: tally.clone(),
        phase: phase.clone(),
        started,
    };
    let protected = ServiceBuilder::new()
        .layer(fallback)
        .map_response(|response: reqwest::Response| Answer::Upstream(response.status()))
        .layer(resilience)
        .service(counting.clone());
    let bare = ServiceBuilder::new()
        .map_response(|response: reqwest::Response| Answer::Upstream(response.status()))
        .map_err(BoxError::from)
        .service(counting);

    let mut callers = Vec::new();
    for _ in 0..args.concurrency {
        let tally = tally.clone();
        let url = url.clone();
        let duration = args.duration;
        let mut protected = protected.clone();
        let mut bare = bare.clone();
        callers.push(tokio::spawn(async move {
            while started.elapsed() < duration {
                let request = reqwest::Request::new(reqwest::Method::GET, url.clone());
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
                let ending = match result {
                    Ok(Answer::Cached) => Ending::Fallback,
                    Ok(Answer::Upstream(status)) if status.is_success() => Ending::Real,
                    Ok(Answer::Upstream(_)) | Err(_) => Ending::Error,
                };
                tally.ended(ending, started.elapsed(), begun.elapsed());
                tokio::time::sleep(PACE).await;
            }
        }));
    }

    screen.event(&format!(
        "[  0.0s] upstream is {} ({})",
        Phase::Healthy.name(),
        if with_seawall {
            "with seawall"
        } else {
            "bare client"
        }
    ));
    tally
        .phases
        .lock()
        .unwrap()
        .push((Duration::ZERO, Phase::Healthy));
    let script_events = screen.clone();
    let script_tally = tally.clone();
    let script_phase = phase.clone();
    let playing = tokio::spawn(async move {
        for next in Phase::ALL.into_iter().skip(1) {
            tokio::time::sleep_until(started + script.start_of(next)).await;
            upstream.enter(next).await?;
            script_phase.set(next);
            let at = started.elapsed();
            script_tally.phases.lock().unwrap().push((at, next));
            let at = at.as_secs_f64();
            script_events.event(&format!("[{at:5.1}s] upstream is {}", next.name()));
        }
        Ok::<_, std::io::Error>(upstream)
    });

    let mut ticker = tokio::time::interval(STATUS_EVERY);
    let mut ticks = 0u64;
    while started.elapsed() < args.duration {
        ticker.tick().await;
        ticks += 1;
        // A plain line a second is enough for a log.
        if screen.is_terminal() || ticks % 2 == 1 {
            let breaker = with_seawall.then(|| breaker_end(&breaker, retry_config.budget()));
            let segments = status(started.elapsed(), phase.get(), &tally, breaker.as_ref());
            screen.status(&segments);
        }
    }
    for caller in callers {
        let _ = caller.await;
    }
    let took = started.elapsed();
    screen.end_status();
    let mut upstream = playing.await.expect("the script does not panic")?;
    upstream.go_down().await;
    Ok(Outcomes {
        with_seawall,
        tally,
        took,
        breaker: with_seawall.then(|| breaker_end(&breaker, retry_config.budget())),
    })
}

fn breaker_end(breaker: &Breaker, budget: Option<&dyn seawall::retry::RetryBudget>) -> BreakerEnd {
    let metrics = breaker.metrics();
    BreakerEnd {
        refused: metrics.not_permitted_calls,
        state: metrics.state,
        budget: budget.map(|budget| budget.level()),
    }
}

/// The status line's parts, most important first in rank.
pub fn status(
    elapsed: Duration,
    phase: Phase,
    tally: &Tally,
    breaker: Option<&BreakerEnd>,
) -> Vec<Segment> {
    let get = Tally::get;
    let (real, fallbacks, errors) = (get(&tally.real), get(&tally.fallbacks), get(&tally.errors));
    let when = format!("[{:5.1}s] {:<10}", elapsed.as_secs_f64(), phase.name());
    let mut segments = vec![
        Segment::new(0, when.clone(), when),
        Segment::new(
            6,
            format!("calls {:5}", get(&tally.calls)),
            format!("calls {}", get(&tally.calls)),
        ),
        Segment::new(
            1,
            format!("real {real:5} fallback {fallbacks:5} errors {errors:5}"),
            format!("real {real} fb {fallbacks} err {errors}"),
        ),
        Segment::new(
            3,
            format!("sent {:5}", get(&tally.sent)),
            format!("sent {}", get(&tally.sent)),
        ),
    ];
    if let Some(breaker) = breaker {
        let retries = get(&tally.retries);
        segments.push(Segment::new(
            5,
            format!("retries {retries:4}"),
            format!("retry {retries}"),
        ));
        segments.push(Segment::new(
            4,
            format!("refused {:5}", breaker.refused),
            format!("ref {}", breaker.refused),
        ));
        segments.push(Segment::new(
            2,
            format!("breaker {:<9}", breaker.state.as_str()),
            format!("{:<9}", breaker.state.as_str()),
        ));
        if let Some(level) = breaker.budget {
            segments.push(Segment::new(
                7,
                format!("budget {level:5.1}"),
                format!("budget {level:.1}"),
            ));
        }
    }
    segments
}
