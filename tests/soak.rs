//! Soak and fault test: the whole preset (fallback -> retry -> breaker ->
//! bulkhead -> timeout) between a real `reqwest::Client` and a real axum
//! upstream on 127.0.0.1, through scripted phases of health, errors, latency,
//! hangs and refused connections, with concurrent callers.
//!
//! The short run (two cycles of the script, about 40 s) runs with the other
//! tests; `SEAWALL_SOAK_SECS=600` repeats the script for ten minutes (see the
//! README's "Soak test" section). Every invariant is checked after the run
//! from counters and logs kept during it, and all violations are reported at
//! once, with the numbers.
//!
//! Bounds are derived from the configuration plus one scheduling slack
//! ([`SLACK`]), never from how fast this machine happens to be: the test runs
//! on loaded CI machines with two cores.
#![cfg(not(loom))]

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State as Extract;
use axum::routing::get;
use axum::Router;
use http::StatusCode;
use seawall::breaker::BreakerEvent;
use seawall::breaker::{Breaker, BreakerConfig, OpenWait, State};
use seawall::bulkhead::{Bulkhead, BulkheadConfig};
use seawall::classify::Outcome;
use seawall::fallback::{FallbackEvent, FallbackLayer, FallbackOn, SharedError};
use seawall::resilience::ResilienceLayer;
use seawall::retry::{RatioBudget, ReqwestClone, RetryConfig, StandardBackoff};
use seawall::{BoxError, ErrorKind};
use tokio::sync::{oneshot, watch};
use tower::{Service, ServiceBuilder, ServiceExt};

/// Concurrent callers. Each has at most one attempt in flight at a time, which
/// bounds the stragglers any transition can see.
const CALLERS: usize = 8;
/// Worker threads of the test's runtime: the callers, the client and the
/// upstream all share them.
const WORKERS: usize = 2;
/// Each attempt's deadline (the preset's timeout).
const ATTEMPT_TIMEOUT: Duration = Duration::from_millis(250);
/// Each call's deadline across attempts and backoff waits (the retry's
/// overall timeout): no attempt starts that could not finish by then.
const DEADLINE: Duration = Duration::from_millis(700);
const MAX_ATTEMPTS: u32 = 3;
/// The breaker's count window, its minimum, and its threshold: high enough
/// that the flaky phase (every second request fails) does not trip it, so the
/// retry budget is what limits the retries there.
const WINDOW: u32 = 20;
const MINIMUM_CALLS: u32 = 10;
const FAILURE_RATE: f64 = 0.8;
const OPEN_WAIT: Duration = Duration::from_millis(400);
const PROBES: u32 = 2;
/// The retry budget: 20% of the last second's calls, plus 2 retries a second.
const BUDGET_RATIO: f64 = 0.2;
const BUDGET_FLOOR: u32 = 2;
const BUDGET_WINDOW: Duration = Duration::from_secs(1);
/// Room for a loaded machine: timers firing late, tasks waiting for a core.
const SLACK: Duration = Duration::from_secs(1);
/// A call still running after this is hung (and fails the test).
const GUARD: Duration = Duration::from_secs(10);
/// Each caller's pause between calls.
const THINK: Duration = Duration::from_millis(10);
/// The latency spike: well past the attempt timeout.
const LATENCY: Duration = Duration::from_millis(600);
/// A hung request answers when its phase ends, or after this.
const HANG_CAP: Duration = Duration::from_secs(30);
/// Resident memory may grow this much from the end of the first cycle (the
/// warm-up: pools, buffers and arenas reach their working size) to the end of
/// any later one.
const MEMORY_TOLERANCE: u64 = 4 << 20;
/// Marks the fallback's degraded answers, with the error kind it covered.
const FALLBACK_HEADER: &str = "x-soak-fallback";
/// Time series resolution of calls started, for the budget's sliding window.
const TICK: Duration = Duration::from_millis(100);

/// What the upstream does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Healthy,
    /// Every second request gets a 503.
    Flaky,
    /// Every request gets a 503.
    Outage,
    /// Every request answers after [`LATENCY`].
    Latency,
    /// Requests never answer (until the phase ends; then with a 503).
    Hang,
    /// The listener and the server are stopped: connections are refused.
    Refused,
    /// Healthy again, after a failure phase.
    Healed,
}

impl Phase {
    fn is_failure(self) -> bool {
        matches!(
            self,
            Phase::Outage | Phase::Latency | Phase::Hang | Phase::Refused
        )
    }
}

/// One cycle of the script: each failure kind, each starting from a closed
/// breaker and followed by healing. Healing phases last long enough to observe
/// the bound on closing again.
fn script() -> Vec<(Phase, Duration)> {
    let short = Duration::from_millis(1500);
    let heal = heal_bound() + Duration::from_millis(500);
    vec![
        (Phase::Healthy, short),
        (Phase::Flaky, short),
        (Phase::Outage, short),
        (Phase::Healed, heal),
        (Phase::Latency, short),
        (Phase::Healed, heal),
        (Phase::Hang, short),
        (Phase::Healed, heal),
        (Phase::Refused, short),
        (Phase::Healed, heal),
    ]
}

/// How long after the upstream heals the breaker must be closed again: a probe
/// admitted just before (which fails, at worst by timing out), the open wait
/// it causes, and the probes that then succeed.
fn heal_bound() -> Duration {
    ATTEMPT_TIMEOUT + OPEN_WAIT + ATTEMPT_TIMEOUT + SLACK
}

/// How each call ended, counted per phase (by the phase it started in).
#[derive(Default)]
struct Tally {
    calls: AtomicU64,
    /// 2xx from the upstream.
    ok: AtomicU64,
    /// Another status from the upstream (a 503 after retries ran out).
    status: AtomicU64,
    /// The fallback's degraded answer.
    fallback: AtomicU64,
    elapsed: AtomicU64,
    budget: AtomicU64,
    bulkhead: AtomicU64,
    breaker_open: AtomicU64,
    /// The client's own errors (connection refused or reset), retries spent.
    other: AtomicU64,
    /// Still running after [`GUARD`].
    hung: AtomicU64,
    /// Took longer than [`DEADLINE`] + [`SLACK`].
    late: AtomicU64,
}

impl Tally {
    fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    fn ended(&self) -> u64 {
        [
            &self.ok,
            &self.status,
            &self.fallback,
            &self.elapsed,
            &self.budget,
            &self.bulkhead,
            &self.breaker_open,
            &self.other,
            &self.hung,
        ]
        .into_iter()
        .map(Self::get)
        .sum()
    }
}

/// A breaker transition, with the counters as they stood when it happened.
#[derive(Clone, Copy, Debug)]
struct Transition {
    at: Instant,
    from: State,
    to: State,
    sends: u64,
    hits: u64,
}

/// Everything the callers, the client, the upstream and the breaker's
/// listener count.
struct Counters {
    start: Instant,
    /// Which entry of the run's phase list is current.
    phase: AtomicUsize,
    tallies: Vec<Tally>,
    /// Calls started per [`TICK`] since `start`.
    ticks: Vec<AtomicU64>,
    /// Attempts the client sent (every attempt the breaker let through).
    sends: AtomicU64,
    /// Requests the upstream received.
    hits: AtomicU64,
    /// The fallback's own count of degraded answers.
    fallback_events: AtomicU64,
    longest_micros: AtomicU64,
    transitions: Mutex<Vec<Transition>>,
    stop: AtomicBool,
}

impl Counters {
    fn tick_of(&self, at: Instant) -> usize {
        (at.saturating_duration_since(self.start).as_millis() / TICK.as_millis()) as usize
    }

    /// Calls started from `from` to `to`, rounded outwards to whole ticks.
    fn calls_between(&self, from: Instant, to: Instant) -> u64 {
        let last = self.tick_of(to).min(self.ticks.len() - 1);
        self.ticks[self.tick_of(from)..=last]
            .iter()
            .map(|t| t.load(Ordering::Relaxed))
            .sum()
    }
}

/// The upstream's shared state: the phase, and its hit count.
struct Upstream {
    phase: watch::Sender<Phase>,
    counters: Arc<Counters>,
}

async fn work(Extract(upstream): Extract<Arc<Upstream>>) -> (StatusCode, &'static str) {
    let hit = upstream.counters.hits.fetch_add(1, Ordering::Relaxed);
    let phase = *upstream.phase.borrow();
    match phase {
        Phase::Healthy | Phase::Healed => (StatusCode::OK, "ok"),
        Phase::Flaky if hit % 2 == 0 => (StatusCode::SERVICE_UNAVAILABLE, "flaky"),
        Phase::Flaky => (StatusCode::OK, "ok"),
        Phase::Outage | Phase::Refused => (StatusCode::SERVICE_UNAVAILABLE, "down"),
        Phase::Latency => {
            tokio::time::sleep(LATENCY).await;
            (StatusCode::OK, "late")
        }
        Phase::Hang => {
            let mut phase = upstream.phase.subscribe();
            let _ = tokio::time::timeout(HANG_CAP, phase.wait_for(|p| *p != Phase::Hang)).await;
            (StatusCode::SERVICE_UNAVAILABLE, "hung")
        }
    }
}

/// A running upstream server.
struct Server {
    addr: SocketAddr,
    shutdown: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Server {
    /// Serves on `addr`; a port just released may take a moment to bind again.
    async fn start(addr: SocketAddr, upstream: Arc<Upstream>) -> Self {
        let give_up = Instant::now() + Duration::from_secs(5);
        let listener = loop {
            match tokio::net::TcpListener::bind(addr).await {
                Ok(listener) => break listener,
                Err(err) if Instant::now() < give_up => {
                    eprintln!("binding {addr} again: {err}; retrying");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(err) => panic!("could not bind {addr} again within 5 s: {err}"),
            }
        };
        let addr = listener.local_addr().unwrap();
        let app = Router::new().route("/work", get(work)).with_state(upstream);
        let (shutdown, stopped) = oneshot::channel();
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await
        });
        Self {
            addr,
            shutdown,
            task,
        }
    }

    /// Closes the listener, lets requests in flight finish (hung ones end
    /// with their phase), and waits, boundedly, for every connection to close.
    async fn stop(self) {
        let _ = self.shutdown.send(());
        tokio::time::timeout(Duration::from_secs(5), self.task)
            .await
            .expect("the upstream stopped within 5 s")
            .expect("the server task did not panic")
            .expect("the server ended cleanly");
    }
}

/// What one phase of the run saw.
#[derive(Debug)]
struct PhaseRecord {
    phase: Phase,
    cycle: usize,
    start: Instant,
    end: Instant,
    state_at_start: State,
    sends: (u64, u64),
    hits: (u64, u64),
    /// Refused phases: upstream hits between the listener's stop and restart.
    hits_while_down: Option<u64>,
    rss_end: Option<u64>,
}

/// Resident memory in bytes, from `/proc/self/status` (Linux only).
fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// One caller: calls in a loop until told to stop, and counts how each call
/// ended.
async fn caller<S>(mut service: S, client: reqwest::Client, url: reqwest::Url, c: Arc<Counters>)
where
    S: Service<reqwest::Request, Response = reqwest::Response, Error = BoxError>,
{
    while !c.stop.load(Ordering::Relaxed) {
        let tally = &c.tallies[c.phase.load(Ordering::Relaxed)];
        tally.calls.fetch_add(1, Ordering::Relaxed);
        let started = Instant::now();
        if let Some(tick) = c.ticks.get(c.tick_of(started)) {
            tick.fetch_add(1, Ordering::Relaxed);
        }
        let request = client.get(url.clone()).build().unwrap();
        let result =
            tokio::time::timeout(GUARD, async { service.ready().await?.call(request).await }).await;
        let took = started.elapsed();
        c.longest_micros
            .fetch_max(took.as_micros() as u64, Ordering::Relaxed);
        if took > DEADLINE + SLACK {
            tally.late.fetch_add(1, Ordering::Relaxed);
        }
        let counter = match result {
            Err(_) => &tally.hung,
            Ok(Ok(response)) if response.headers().contains_key(FALLBACK_HEADER) => &tally.fallback,
            Ok(Ok(response)) if response.status().is_success() => {
                // Read the body so the connection goes back to the pool; bounded,
                // as every network wait here is.
                let _ = tokio::time::timeout(SLACK, response.bytes()).await;
                &tally.ok
            }
            Ok(Ok(_)) => &tally.status,
            Ok(Err(err)) => match ErrorKind::of(&*err) {
                ErrorKind::Elapsed => &tally.elapsed,
                ErrorKind::BudgetExhausted => &tally.budget,
                ErrorKind::BulkheadFull => &tally.bulkhead,
                ErrorKind::BreakerOpen => &tally.breaker_open,
                _ => &tally.other,
            },
        };
        counter.fetch_add(1, Ordering::Relaxed);
        tokio::time::sleep(THINK).await;
    }
}

/// How long the run is: `SEAWALL_SOAK_SECS`, or two cycles of the script.
fn cycles() -> usize {
    let cycle: Duration = script().iter().map(|(_, d)| *d).sum();
    match std::env::var("SEAWALL_SOAK_SECS") {
        Ok(secs) => {
            let secs: u64 = secs.parse().expect("SEAWALL_SOAK_SECS is whole seconds");
            ((secs as f64 / cycle.as_secs_f64()).ceil() as usize).max(2)
        }
        Err(_) => 2,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_preset_survives_a_scripted_bad_day() {
    let cycles = cycles();
    let plan: Vec<(usize, Phase, Duration)> = (0..cycles)
        .flat_map(|cycle| script().into_iter().map(move |(p, d)| (cycle, p, d)))
        .collect();
    let planned: Duration = plan.iter().map(|(_, _, d)| *d).sum();
    let counters = Arc::new(Counters {
        start: Instant::now(),
        phase: AtomicUsize::new(0),
        tallies: plan.iter().map(|_| Tally::default()).collect(),
        ticks: (0..(planned + Duration::from_secs(120)).as_millis() / TICK.as_millis())
            .map(|_| AtomicU64::new(0))
            .collect(),
        sends: AtomicU64::new(0),
        hits: AtomicU64::new(0),
        fallback_events: AtomicU64::new(0),
        longest_micros: AtomicU64::new(0),
        transitions: Mutex::new(Vec::new()),
        stop: AtomicBool::new(false),
    });

    // The stack.
    let breaker = Breaker::new(
        BreakerConfig::builder()
            .name("soak")
            .count_window(WINDOW)
            .minimum_calls(MINIMUM_CALLS)
            .failure_rate_threshold(FAILURE_RATE)
            .open_wait(OpenWait::fixed(OPEN_WAIT))
            .permitted_calls_in_half_open(PROBES)
            .build()
            .unwrap(),
    );
    let log = counters.clone();
    breaker.on_state_transition(move |event: &BreakerEvent<'_>| {
        if let BreakerEvent::StateTransition { from, to, .. } = event {
            let transition = Transition {
                at: Instant::now(),
                from: *from,
                to: *to,
                sends: log.sends.load(Ordering::Relaxed),
                hits: log.hits.load(Ordering::Relaxed),
            };
            log.transitions.lock().unwrap().push(transition);
        }
    });
    // Exactly one slot per caller: a slot that leaked would show as BulkheadFull.
    let bulkhead = Bulkhead::new(
        BulkheadConfig::builder()
            .name("soak")
            .max_concurrent_calls(CALLERS as u32)
            .build()
            .unwrap(),
    );
    let retry = RetryConfig::builder()
        .max_attempts(MAX_ATTEMPTS)
        .backoff(
            StandardBackoff::new(Duration::from_millis(20), 2.0)
                .with_cap(Duration::from_millis(80)),
        )
        .budget(RatioBudget::new(BUDGET_RATIO, BUDGET_FLOOR, BUDGET_WINDOW).unwrap())
        .timeout(DEADLINE)
        .seed(8);
    let resilience = ResilienceLayer::builder()
        .name("soak")
        .breaker(breaker.clone())
        .bulkhead(bulkhead.clone())
        .retry(retry)
        .timeout(ATTEMPT_TIMEOUT)
        .build()
        .unwrap()
        .with_request_clone(ReqwestClone)
        .with_retry_policy(
            |result: &Result<reqwest::Response, BoxError>| match result {
                Ok(response) => response.status().is_server_error(),
                Err(_) => true,
            },
        )
        .with_classifier(
            |result: &Result<reqwest::Response, BoxError>| match result {
                Ok(response) if response.status().is_server_error() => Outcome::Failure,
                Ok(_) => Outcome::Success,
                Err(err) if ErrorKind::of(&**err) == ErrorKind::BulkheadFull => Outcome::Ignored,
                Err(_) => Outcome::Failure,
            },
        );
    let events = counters.clone();
    let degraded = FallbackLayer::with_fn(|err: SharedError| async move {
        let answer = http::Response::builder()
            .header(FALLBACK_HEADER, ErrorKind::of(&*err).as_str())
            .body("cached")
            .unwrap();
        Ok::<_, BoxError>(reqwest::Response::from(answer))
    })
    .name("soak")
    .on(FallbackOn::kinds([ErrorKind::BreakerOpen]))
    .on_event(move |event: &FallbackEvent<'_>| {
        if let FallbackEvent::Taken { .. } = event {
            events.fallback_events.fetch_add(1, Ordering::Relaxed);
        }
    });

    let client = reqwest::Client::builder()
        .no_proxy()
        .connect_timeout(SLACK)
        .timeout(GUARD)
        .build()
        .unwrap();
    let sends = counters.clone();
    let sender = client.clone();
    let counted = tower::service_fn(move |request: reqwest::Request| {
        sends.sends.fetch_add(1, Ordering::Relaxed);
        sender.execute(request)
    });
    let service = ServiceBuilder::new()
        .layer(resilience.fallback(degraded))
        .service(counted);

    // The upstream.
    let (phase_tx, _) = watch::channel(plan[0].1);
    let upstream = Arc::new(Upstream {
        phase: phase_tx,
        counters: counters.clone(),
    });
    let mut server = Some(Server::start("127.0.0.1:0".parse().unwrap(), upstream.clone()).await);
    let addr = server.as_ref().unwrap().addr;
    let url: reqwest::Url = format!("http://{addr}/work").parse().unwrap();

    let callers: Vec<_> = (0..CALLERS)
        .map(|_| {
            tokio::spawn(caller(
                service.clone(),
                client.clone(),
                url.clone(),
                counters.clone(),
            ))
        })
        .collect();

    // Drive the script.
    let mut records: Vec<PhaseRecord> = Vec::with_capacity(plan.len());
    for (index, &(cycle, phase, length)) in plan.iter().enumerate() {
        let mut hits_while_down = None;
        match phase {
            Phase::Refused => {
                // Switch first, so hung requests end and the server can drain.
                counters.phase.store(index, Ordering::Relaxed);
                upstream.phase.send_replace(phase);
                server.take().expect("running").stop().await;
            }
            _ if server.is_none() => {
                server = Some(Server::start(addr, upstream.clone()).await);
            }
            _ => {}
        }
        // The phase starts when the upstream behaves as it says.
        let start = Instant::now();
        let state_at_start = breaker.state();
        let sends_at_start = counters.sends.load(Ordering::Relaxed);
        let hits_at_start = counters.hits.load(Ordering::Relaxed);
        counters.phase.store(index, Ordering::Relaxed);
        upstream.phase.send_replace(phase);
        tokio::time::sleep(length).await;
        if phase == Phase::Refused {
            hits_while_down = Some(counters.hits.load(Ordering::Relaxed) - hits_at_start);
        }
        let last_of_cycle = !matches!(plan.get(index + 1), Some(next) if next.0 == cycle);
        records.push(PhaseRecord {
            phase,
            cycle,
            start,
            end: Instant::now(),
            state_at_start,
            sends: (sends_at_start, counters.sends.load(Ordering::Relaxed)),
            hits: (hits_at_start, counters.hits.load(Ordering::Relaxed)),
            hits_while_down,
            rss_end: if last_of_cycle {
                resident_bytes()
            } else {
                None
            },
        });
        if last_of_cycle {
            // Progress for long runs (shown with --nocapture).
            println!(
                "cycle {cycle} done at {:.0} s: {} calls, {} breaker transitions, rss {:?} bytes",
                counters.start.elapsed().as_secs_f64(),
                counters
                    .tallies
                    .iter()
                    .map(|t| Tally::get(&t.calls))
                    .sum::<u64>(),
                counters.transitions.lock().unwrap().len(),
                records.last().and_then(|r| r.rss_end),
            );
        }
    }

    counters.stop.store(true, Ordering::Relaxed);
    for caller in callers {
        tokio::time::timeout(GUARD + SLACK, caller)
            .await
            .expect("every caller stops within its guard")
            .expect("no caller panicked");
    }
    let run = counters.start.elapsed();
    if let Some(server) = server.take() {
        server.stop().await;
    }

    let transitions = counters.transitions.lock().unwrap().clone();
    let (report, violations) = check(&counters, &records, &transitions, &breaker, &bulkhead, run);
    println!("{report}");
    assert!(
        violations.is_empty(),
        "{} invariant(s) violated:\n  {}\n\n{report}",
        violations.len(),
        violations.join("\n  ")
    );
}

/// Checks every invariant; returns a report of the run and the violations.
fn check(
    c: &Counters,
    records: &[PhaseRecord],
    transitions: &[Transition],
    breaker: &Breaker,
    bulkhead: &Bulkhead,
    run: Duration,
) -> (String, Vec<String>) {
    let mut bad = Vec::new();
    let mut out = String::new();
    let ms = |d: Duration| d.as_millis();
    let get = Tally::get;

    // Per phase: how calls ended, and what reached the upstream.
    writeln!(
        out,
        "soak: {} phases, {} callers, {:.1} s; per phase: calls = ok + status + fallback + elapsed + budget + other (bulkhead, breaker_open, hung), sends, hits",
        records.len(),
        CALLERS,
        run.as_secs_f64()
    )
    .unwrap();
    for (record, tally) in records.iter().zip(&c.tallies) {
        writeln!(
            out,
            "  {}:{:<8} {:>6} = {:>5} + {:>4} + {:>5} + {:>4} + {:>3} + {:>4} ({}, {}, {})  sends {:>5}  hits {:>5}  start {:?}{}",
            record.cycle,
            format!("{:?}", record.phase),
            get(&tally.calls),
            get(&tally.ok),
            get(&tally.status),
            get(&tally.fallback),
            get(&tally.elapsed),
            get(&tally.budget),
            get(&tally.other),
            get(&tally.bulkhead),
            get(&tally.breaker_open),
            get(&tally.hung),
            record.sends.1 - record.sends.0,
            record.hits.1 - record.hits.0,
            record.state_at_start,
            record
                .rss_end
                .map_or(String::new(), |rss| format!("  rss {:.1} MiB", rss as f64 / 1048576.0)),
        )
        .unwrap();
    }

    // 1. No call lost, none hung, none late: the counts reconcile exactly.
    let total = |f: fn(&Tally) -> &AtomicU64| c.tallies.iter().map(|t| get(f(t))).sum::<u64>();
    let calls = total(|t| &t.calls);
    for (record, tally) in records.iter().zip(&c.tallies) {
        if get(&tally.calls) != tally.ended() {
            bad.push(format!(
                "{}:{:?}: {} calls started but {} ended",
                record.cycle,
                record.phase,
                get(&tally.calls),
                tally.ended()
            ));
        }
    }
    let (hung, late) = (total(|t| &t.hung), total(|t| &t.late));
    if hung != 0 {
        bad.push(format!("{hung} calls hung past {GUARD:?}"));
    }
    let longest = Duration::from_micros(c.longest_micros.load(Ordering::Relaxed));
    if late != 0 {
        bad.push(format!(
            "{late} calls outlived their deadline {DEADLINE:?} + slack {SLACK:?}; the longest took {longest:?}"
        ));
    }
    let fallbacks = total(|t| &t.fallback);
    let refused = breaker.metrics().not_permitted_calls;
    let fallback_events = c.fallback_events.load(Ordering::Relaxed);
    if fallbacks != refused || fallbacks != fallback_events {
        bad.push(format!(
            "{fallbacks} degraded answers seen, {fallback_events} counted by the fallback, {refused} calls refused by the breaker: each refusal is exactly one degraded answer"
        ));
    }
    let (bulkhead_full, unfallen) = (total(|t| &t.bulkhead), total(|t| &t.breaker_open));
    if bulkhead_full != 0 || bulkhead.rejected() != 0 || bulkhead.in_flight() != 0 {
        bad.push(format!(
            "bulkhead of {CALLERS} slots for {CALLERS} callers: {bulkhead_full} BulkheadFull, {} rejected, {} still taken: a slot leaked",
            bulkhead.rejected(),
            bulkhead.in_flight()
        ));
    }
    if unfallen != 0 {
        bad.push(format!(
            "{unfallen} BreakerOpen errors got past the fallback"
        ));
    }
    writeln!(
        out,
        "calls {calls}: ok {}, status {}, fallback {fallbacks} (= {refused} refused by the breaker), elapsed {}, budget {}, other {}, hung {hung}; longest call {:?} (bound {:?})",
        total(|t| &t.ok),
        total(|t| &t.status),
        total(|t| &t.elapsed),
        total(|t| &t.budget),
        total(|t| &t.other),
        longest,
        DEADLINE + SLACK
    )
    .unwrap();

    // The transitions, in the order their listeners ran.
    let breaks = transitions
        .windows(2)
        .filter(|pair| pair[0].to != pair[1].from)
        .count();
    writeln!(
        out,
        "{} breaker transitions ({} out of order)",
        transitions.len(),
        breaks
    )
    .unwrap();
    let first_after =
        |at: Instant, to: State| transitions.iter().find(|t| t.at >= at && t.to == to);

    // 2. The breaker opens within one window after a failure phase begins,
    //    and no success closes it while the upstream fails.
    let mut checked = 0;
    let mut failure_phases = 0;
    for record in records.iter().filter(|r| r.phase.is_failure()) {
        failure_phases += 1;
        let name = format!("{}:{:?}", record.cycle, record.phase);
        if record.state_at_start == State::Closed {
            checked += 1;
            match first_after(record.start, State::Open).filter(|t| t.at <= record.end) {
                None => bad.push(format!("{name}: the breaker never opened")),
                Some(open) => {
                    let reached = open.sends - record.sends.0;
                    let bound = u64::from(WINDOW) + CALLERS as u64;
                    writeln!(
                        out,
                        "  {name}: open after {} attempts ({} at the upstream), {} ms",
                        reached,
                        open.hits - record.hits.0,
                        ms(open.at - record.start)
                    )
                    .unwrap();
                    if reached > bound {
                        bad.push(format!(
                            "{name}: {reached} attempts before the breaker opened; a window is {WINDOW} (+{CALLERS} in flight)"
                        ));
                    }
                }
            }
        }
        let grace = record.start + ATTEMPT_TIMEOUT + SLACK;
        if let Some(closed) = transitions
            .iter()
            .find(|t| t.to == State::Closed && t.at >= grace && t.at <= record.end)
        {
            bad.push(format!(
                "{name}: the breaker closed {} ms into a failure phase",
                ms(closed.at - record.start)
            ));
        }
    }
    if checked * 2 < failure_phases {
        bad.push(format!(
            "only {checked} of {failure_phases} failure phases began with the breaker closed: too few to check opening"
        ));
    }

    // 3. While open, the upstream receives nothing but stragglers (attempts
    //    admitted before the breaker opened, at most one per caller); over a
    //    whole episode (open until closed again) at most those plus the probes.
    let straggle = CALLERS as u64 + u64::from(PROBES);
    let (mut worst_open, mut worst_episode) = ((0, 0), (0, 0, 0));
    let mut i = 0;
    while i < transitions.len() {
        if transitions[i].to != State::Open {
            i += 1;
            continue;
        }
        let episode_start = transitions[i];
        let mut half_opens = 0u64;
        let mut j = i;
        while j < transitions.len() && transitions[j].to != State::Closed {
            let t = transitions[j];
            let next = transitions.get(j + 1);
            let (sends_end, hits_end) = next.map_or(
                (
                    c.sends.load(Ordering::Relaxed),
                    c.hits.load(Ordering::Relaxed),
                ),
                |n| (n.sends, n.hits),
            );
            if t.to == State::Open {
                let (sends, hits) = (sends_end - t.sends, hits_end - t.hits);
                worst_open = (worst_open.0.max(sends), worst_open.1.max(hits));
                if sends > straggle || hits > straggle {
                    bad.push(format!(
                        "open for {} ms from {} ms: {sends} attempts sent and {hits} received; at most {straggle} stragglers",
                        next.map_or(0, |n| ms(n.at - t.at)),
                        ms(t.at - c.start)
                    ));
                }
            }
            if t.to == State::HalfOpen {
                half_opens += 1;
            }
            j += 1;
        }
        let (sends_end, hits_end) = transitions.get(j).map_or(
            (
                c.sends.load(Ordering::Relaxed),
                c.hits.load(Ordering::Relaxed),
            ),
            |t| (t.sends, t.hits),
        );
        let (sends, hits) = (
            sends_end - episode_start.sends,
            hits_end - episode_start.hits,
        );
        let bound = CALLERS as u64 + half_opens * u64::from(PROBES);
        if sends > bound || hits > bound {
            bad.push(format!(
                "an episode from {} ms with {half_opens} half-open rounds let {sends} attempts out and {hits} in; at most {bound}",
                ms(episode_start.at - c.start)
            ));
        }
        if sends > worst_episode.0 {
            worst_episode = (sends, hits, half_opens);
        }
        i = j.max(i + 1);
    }
    writeln!(
        out,
        "open: at most {} attempts sent / {} received per open interval (bound {straggle}); busiest episode {} sent / {} received over {} half-open rounds",
        worst_open.0, worst_open.1, worst_episode.0, worst_episode.1, worst_episode.2
    )
    .unwrap();
    // Where the attempts went, by the state the breaker was in.
    let mut by_state: Vec<(State, u64, u64)> = Vec::new();
    let mut from = (State::Closed, 0, 0);
    let end = (
        c.sends.load(Ordering::Relaxed),
        c.hits.load(Ordering::Relaxed),
    );
    for next in
        transitions
            .iter()
            .map(|t| (t.to, t.sends, t.hits))
            .chain([(State::Closed, end.0, end.1)])
    {
        match by_state.iter_mut().find(|entry| entry.0 == from.0) {
            Some(entry) => {
                entry.1 += next.1 - from.1;
                entry.2 += next.2 - from.2;
            }
            None => by_state.push((from.0, next.1 - from.1, next.2 - from.2)),
        }
        from = next;
    }
    writeln!(
        out,
        "attempts sent / received by breaker state: {by_state:?}"
    )
    .unwrap();

    // 4. The retry budget: attempts within (1 + ratio) x calls, plus the
    //    floor over the time, per phase and over the run. Terms: retries of
    //    calls started in the phase before (at most one call per caller), the
    //    credit earned in the budget window before the phase, and what
    //    concurrent withdrawals can overdraw (one per racing thread and window).
    let windows = |d: Duration| (d.as_secs_f64() / BUDGET_WINDOW.as_secs_f64()).ceil() + 1.0;
    // The floor is a standing reserve of floor x window retries in each window.
    let floor = |d: Duration| f64::from(BUDGET_FLOOR) * BUDGET_WINDOW.as_secs_f64() * windows(d);
    let mut tightest = (0.0f64, String::new());
    for (record, tally) in records.iter().zip(&c.tallies) {
        let length = record.end - record.start;
        let phase_calls = get(&tally.calls) as f64;
        let earning = c.calls_between(record.start - BUDGET_WINDOW, record.end) as f64;
        let bound = phase_calls
            + (CALLERS as u32 * (MAX_ATTEMPTS - 1)) as f64
            + BUDGET_RATIO * earning
            + floor(length)
            + (WORKERS as f64) * windows(length);
        let sends = (record.sends.1 - record.sends.0) as f64;
        if sends > bound {
            bad.push(format!(
                "{}:{:?}: {sends} attempts for {phase_calls} calls; the budget allows {bound:.0}",
                record.cycle, record.phase
            ));
        }
        if sends / bound > tightest.0 {
            tightest = (
                sends / bound,
                format!("{}:{:?} {sends} of {bound:.0}", record.cycle, record.phase),
            );
        }
    }
    let sends = c.sends.load(Ordering::Relaxed);
    let run_bound =
        (1.0 + BUDGET_RATIO) * calls as f64 + floor(run) + (WORKERS as f64) * windows(run);
    if sends as f64 > run_bound {
        bad.push(format!(
            "{sends} attempts for {calls} calls over the run; the budget allows {run_bound:.0}"
        ));
    }
    writeln!(
        out,
        "budget: {sends} attempts for {calls} calls (bound {run_bound:.0}); closest phase {}",
        tightest.1
    )
    .unwrap();

    // 5. Closed again within open wait + probe time after the upstream heals.
    for record in records.iter().filter(|r| r.phase == Phase::Healed) {
        let name = format!("{}:Healed", record.cycle);
        let closed = if record.state_at_start == State::Closed {
            Some(Duration::ZERO)
        } else {
            first_after(record.start, State::Closed).map(|t| t.at - record.start)
        };
        match closed {
            Some(after) if after <= heal_bound() => {
                writeln!(out, "  {name}: closed {} ms after healing", ms(after)).unwrap()
            }
            Some(after) => bad.push(format!(
                "{name}: closed {} ms after healing; bound {} ms",
                ms(after),
                ms(heal_bound())
            )),
            None => bad.push(format!("{name}: never closed again")),
        }
    }

    // 6. Resident memory does not grow from cycle to cycle after the first.
    let rss: Vec<u64> = records.iter().filter_map(|r| r.rss_end).collect();
    if let Some((&warm, later)) = rss.split_first() {
        let peak = later.iter().copied().max().unwrap_or(warm);
        writeln!(
            out,
            "memory at the end of each cycle: {} MiB (tolerance {} MiB)",
            rss.iter()
                .map(|b| format!("{:.1}", *b as f64 / 1048576.0))
                .collect::<Vec<_>>()
                .join(", "),
            MEMORY_TOLERANCE >> 20
        )
        .unwrap();
        if peak > warm + MEMORY_TOLERANCE {
            bad.push(format!(
                "resident memory grew from {warm} to {peak} bytes after the warm-up cycle"
            ));
        }
    }

    // 7. The script did what it says: a stopped upstream received nothing,
    //    and each fault reached the callers.
    for (record, tally) in records.iter().zip(&c.tallies) {
        let name = format!("{}:{:?}", record.cycle, record.phase);
        if let Some(hits) = record.hits_while_down.filter(|&h| h != 0) {
            bad.push(format!(
                "{name}: a stopped upstream received {hits} requests"
            ));
        }
        let seen = match record.phase {
            Phase::Healthy | Phase::Healed => get(&tally.ok),
            // Both answers, and retries.
            Phase::Flaky => get(&tally.ok)
                .min(get(&tally.status) + record.sends.1 - record.sends.0)
                .min((record.sends.1 - record.sends.0).saturating_sub(get(&tally.calls))),
            Phase::Outage => get(&tally.status) + get(&tally.fallback),
            Phase::Latency | Phase::Hang => get(&tally.elapsed),
            Phase::Refused => get(&tally.other) + get(&tally.budget) + get(&tally.fallback),
        };
        if seen == 0 {
            bad.push(format!(
                "{name}: the phase's behaviour never reached a caller"
            ));
        }
    }

    (out, bad)
}
