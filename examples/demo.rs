//! A circuit breaker saving its callers from a dependency that goes down and
//! comes back.
//!
//! An in-process "inventory" service follows a script: healthy, then failing
//! more and more, then down, then recovered. Three callers call it through one
//! shared breaker, ten times a second each. The demo prints the breaker's
//! transitions the moment they happen (through `Breaker::on_event`), the
//! half-open probes, and every half second a status line: the window's failure
//! rate, how many calls reached the dependency and how many the breaker failed
//! fast without touching it.
//!
//! It runs on tokio's paused clock, so the 10 seconds it shows pass in an
//! instant and every run prints the same thing; the timestamps are virtual.
//!
//! ```sh
//! cargo run --example demo
//! ```

use std::io;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

use seawall::breaker::{Breaker, BreakerConfig, CircuitBreakerLayer, OpenWait, State};
use seawall::classify::Outcome;
use seawall::observe::Event;
use seawall::{BoxError, ErrorKind};
use tokio::time::Instant;
use tower::{Service, ServiceBuilder, ServiceExt};

/// How long the demo runs, in virtual time.
const RUN_FOR: Duration = Duration::from_secs(10);
/// How many callers share the breaker.
const CALLERS: u64 = 3;
/// How often each caller calls.
const CALL_EVERY: Duration = Duration::from_millis(100);

/// What the dependency does at a moment of the script.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Phase {
    Healthy,
    /// Fails one call in `n`.
    Degraded(u64),
    Down,
    Recovered,
}

impl Phase {
    fn at(elapsed: Duration) -> Self {
        match elapsed.as_millis() {
            0..=1_999 => Self::Healthy,
            2_000..=2_999 => Self::Degraded(2),
            3_000..=5_999 => Self::Down,
            _ => Self::Recovered,
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Self::Healthy => "healthy",
            Self::Degraded(_) => "degraded: every second call fails",
            Self::Down => "down: every call fails",
            Self::Recovered => "recovered",
        }
    }
}

/// What the callers and the dependency count.
#[derive(Default)]
struct Tally {
    calls: AtomicU64,
    reached_dependency: AtomicU64,
    succeeded: AtomicU64,
    failed: AtomicU64,
    failed_fast: AtomicU64,
}

impl Tally {
    fn get(counter: &AtomicU64) -> u64 {
        // Relaxed: plain statistics, read for printing.
        counter.load(Ordering::Relaxed)
    }

    fn add(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// Virtual seconds since the start, for the left column.
fn stamp(start: Instant) -> String {
    format!("[{:6.2}s]", start.elapsed().as_secs_f64())
}

fn main() -> Result<(), BoxError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()?
        .block_on(run())
}

async fn run() -> Result<(), BoxError> {
    let start = Instant::now();
    let tally = Arc::new(Tally::default());

    let breaker = Breaker::new(
        BreakerConfig::builder()
            .name("inventory")
            .count_window(20)
            .minimum_calls(10)
            .failure_rate_threshold(0.5)
            .open_wait(OpenWait::fixed(Duration::from_millis(1500)))
            .permitted_calls_in_half_open(3)
            .build()?,
    );

    // Transitions and probes, printed as the breaker makes them. The listener
    // keeps the current state itself, so it can tell probes from ordinary calls
    // without holding a handle to the breaker.
    let state = Arc::new(AtomicU8::new(State::Closed as u8));
    let seen = state.clone();
    breaker.on_event(move |event: &Event<'_>| match event {
        Event::StateTransition { name, from, to, .. } => {
            seen.store(*to as u8, Ordering::Relaxed);
            let why = match to {
                State::Open if *from == State::HalfOpen => "the probes failed: open again",
                State::Open => "failure rate reached the threshold: failing fast",
                State::HalfOpen => "open wait over: letting a few probes through",
                State::Closed => "the probes succeeded: back to normal",
                _ => "",
            };
            println!("{} {name}: {from} -> {to} ({why})", stamp(start));
        }
        Event::CallRecorded { outcome, .. }
            if seen.load(Ordering::Relaxed) == State::HalfOpen as u8 =>
        {
            let result = match outcome {
                Outcome::Success => "succeeded",
                Outcome::Failure => "failed",
                _ => "was ignored",
            };
            println!("{}   probe {result}", stamp(start));
        }
        _ => {}
    });

    let dependency = {
        let tally = tally.clone();
        tower::service_fn(move |item: u64| {
            let tally = tally.clone();
            async move {
                Tally::add(&tally.reached_dependency);
                tokio::time::sleep(Duration::from_millis(20)).await;
                let fails = match Phase::at(start.elapsed()) {
                    Phase::Healthy | Phase::Recovered => false,
                    Phase::Degraded(n) => item % n == 0,
                    Phase::Down => true,
                };
                if fails {
                    Err(io::Error::new(
                        io::ErrorKind::ConnectionRefused,
                        "inventory is down",
                    ))
                } else {
                    Ok(item * 2)
                }
            }
        })
    };
    let client = ServiceBuilder::new()
        .layer(CircuitBreakerLayer::new(breaker.clone()))
        .service(dependency);

    println!(
        "{} {CALLERS} callers, each calling every {} ms through one breaker",
        stamp(start),
        CALL_EVERY.as_millis()
    );
    println!(
        "{} dependency is {}",
        stamp(start),
        Phase::Healthy.describe()
    );

    let mut callers = Vec::new();
    for caller in 0..CALLERS {
        let mut client = client.clone();
        let tally = tally.clone();
        callers.push(tokio::spawn(async move {
            // Stagger the callers a little so their calls interleave.
            tokio::time::sleep(Duration::from_millis(caller * 33)).await;
            let mut ticks = tokio::time::interval(CALL_EVERY);
            let mut item = caller;
            while start.elapsed() < RUN_FOR {
                ticks.tick().await;
                item += CALLERS;
                Tally::add(&tally.calls);
                let result = match client.ready().await {
                    Ok(ready) => ready.call(item).await,
                    Err(err) => Err(err),
                };
                match result {
                    Ok(_) => Tally::add(&tally.succeeded),
                    Err(err) if ErrorKind::of(&*err) == ErrorKind::BreakerOpen => {
                        Tally::add(&tally.failed_fast)
                    }
                    Err(_) => Tally::add(&tally.failed),
                }
            }
        }));
    }

    // The reporter: the dependency's phase changes, and a status line every half second.
    let mut phase = Phase::Healthy;
    let mut report = tokio::time::interval_at(
        start + Duration::from_millis(500),
        Duration::from_millis(500),
    );
    let mut script = tokio::time::interval(Duration::from_millis(10));
    while start.elapsed() < RUN_FOR {
        tokio::select! {
            _ = script.tick() => {
                let now = Phase::at(start.elapsed());
                if now != phase {
                    phase = now;
                    println!("{} dependency is {}", stamp(start), phase.describe());
                }
            }
            _ = report.tick() => {
                let metrics = breaker.metrics();
                let detail = match metrics.state {
                    State::Open => format!(
                        "next probe in {:.2}s",
                        metrics.time_until_probe.unwrap_or_default().as_secs_f64()
                    ),
                    _ => format!(
                        "window: {:>2} calls, failure rate {}",
                        metrics.calls,
                        metrics
                            .failure_rate
                            .map_or("n/a".to_owned(), |rate| format!("{:.0}%", rate * 100.0)),
                    ),
                };
                println!(
                    "{}   {:<9} {detail:<36} | reached dependency {:>3}, failed fast {:>3}",
                    stamp(start),
                    metrics.state.as_str(),
                    Tally::get(&tally.reached_dependency),
                    Tally::get(&tally.failed_fast),
                );
            }
        }
    }
    for caller in callers {
        caller.await?;
    }

    let calls = Tally::get(&tally.calls);
    let reached = Tally::get(&tally.reached_dependency);
    let fast = Tally::get(&tally.failed_fast);
    println!();
    println!(
        "summary after {:.1} s (virtual):",
        start.elapsed().as_secs_f64()
    );
    println!("  calls made:                      {calls}");
    println!(
        "  reached the dependency:          {reached} ({} succeeded, {} failed)",
        Tally::get(&tally.succeeded),
        Tally::get(&tally.failed)
    );
    println!("  failed fast, dependency spared:  {fast}");
    println!("  final state:                     {}", breaker.state());
    Ok(())
}
