//! Per-call overhead of the circuit breaker against a bare service, measured in
//! the same run.
//!
//! Every case drives a service the way tower does: `poll_ready`, `call`, then
//! one poll of the future. The inner service is hand-written, its future is
//! `std::future::Ready`, so what is left over the bare case is the breaker's
//! own cost. Two-thread cases run both threads' loops at once on one shared
//! breaker and report the time per call each thread sees.
//!
//! After criterion's own output the bench prints a table: ns per call, ns added
//! over the matching bare case, the ratio, and heap allocations per call
//! (counted by a global allocator in this binary).
//!
//! Run with `cargo bench --bench breaker -- --warm-up-time 1 --measurement-time 3`
//! (add `--features quanta` for the cases on the time-stamp-counter clock).
//! To profile one case, run the bench binary with
//! `SEAWALL_BENCH_PROFILE=closed/default:1000000` under callgrind or perf.

use std::alloc::{GlobalAlloc, Layout, System};
use std::future::{ready, Ready};
use std::hint::black_box;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime};

use criterion::{criterion_group, Criterion};
use futures::task::noop_waker_ref;
use seawall::breaker::{Breaker, BreakerConfig, CircuitBreakerLayer, OpenWait};
use seawall::classify::Outcome;
use support::{drive, run, run_two_threads};
use tower::{Layer, Service};

mod support;

/// Counts heap allocations, so the summary can show allocations per call.
struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards every call to the system allocator unchanged.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // Relaxed: a statistic read after the loop on the same thread.
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        System.alloc(layout)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// The criterion group every case is in; the summary reads its results.
const GROUP: &str = "seawall-breaker";

/// An in-process dependency that answers at once and fails every `fail_every`-th
/// call (never when 0).
#[derive(Clone)]
struct Dependency {
    calls: u64,
    fail_every: u64,
}

impl Dependency {
    fn healthy() -> Self {
        Self::failing_every(0)
    }

    fn failing_every(fail_every: u64) -> Self {
        Self {
            calls: 0,
            fail_every,
        }
    }
}

/// The dependency's error: a unit struct, so boxing it allocates nothing.
#[derive(Debug)]
struct Failed;

impl std::fmt::Display for Failed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("dependency failed")
    }
}

impl std::error::Error for Failed {}

impl Service<u64> for Dependency {
    type Response = u64;
    type Error = Failed;
    type Future = Ready<Result<u64, Failed>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Failed>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: u64) -> Self::Future {
        self.calls += 1;
        if self.fail_every != 0 && self.calls % self.fail_every == 0 {
            ready(Err(Failed))
        } else {
            ready(Ok(request))
        }
    }
}

/// The least a shared breaker must do per call, for scale: one load of a state
/// word in `poll_ready`, one add on the calling thread's own padded counter when
/// the future completes, and, with `HOLD_HANDLE`, a reference-counted handle
/// the future owns (what lets it outlive the service).
mod floor {
    use std::future::Future;
    use std::pin::Pin;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;
    use std::task::{Context, Poll};

    use tower::Service;

    #[repr(align(128))]
    pub struct Stripe {
        successes: AtomicU64,
    }

    pub struct Shared {
        state: AtomicU64,
        stripes: Vec<Arc<Stripe>>,
    }

    impl Shared {
        pub fn new() -> &'static Self {
            Box::leak(Box::new(Self {
                state: AtomicU64::new(0),
                stripes: (0..16)
                    .map(|_| {
                        Arc::new(Stripe {
                            successes: AtomicU64::new(0),
                        })
                    })
                    .collect(),
            }))
        }
    }

    std::thread_local! {
        static INDEX: std::cell::Cell<usize> = const { std::cell::Cell::new(usize::MAX) };
    }
    static NEXT: AtomicU64 = AtomicU64::new(0);

    fn index() -> usize {
        INDEX.with(|cell| {
            if cell.get() == usize::MAX {
                cell.set(NEXT.fetch_add(1, Ordering::Relaxed) as usize % 16);
            }
            cell.get()
        })
    }

    pub struct Floor<S, const HOLD_HANDLE: bool> {
        pub inner: S,
        pub shared: &'static Shared,
    }

    pub struct Pending<F> {
        future: F,
        shared: &'static Shared,
        handle: Option<Arc<Stripe>>,
    }

    impl<S, R, const HOLD_HANDLE: bool> Service<R> for Floor<S, HOLD_HANDLE>
    where
        S: Service<R>,
        S::Future: Unpin,
    {
        type Response = S::Response;
        type Error = S::Error;
        type Future = Pending<S::Future>;

        fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
            if self.shared.state.load(Ordering::Acquire) != 0 {
                unreachable!("the floor is never open");
            }
            self.inner.poll_ready(cx)
        }

        fn call(&mut self, request: R) -> Self::Future {
            let handle = HOLD_HANDLE.then(|| self.shared.stripes[index()].clone());
            Pending {
                future: self.inner.call(request),
                shared: self.shared,
                handle,
            }
        }
    }

    impl<F: Future<Output = Result<T, E>> + Unpin, T, E> Future for Pending<F> {
        type Output = F::Output;

        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
            let result = std::task::ready!(Pin::new(&mut self.future).poll(cx));
            if result.is_ok() {
                let stripe = match self.handle.take() {
                    Some(handle) => {
                        handle.successes.fetch_add(1, Ordering::Relaxed);
                        return Poll::Ready(result);
                    }
                    None => &self.shared.stripes[index()],
                };
                stripe.successes.fetch_add(1, Ordering::Relaxed);
            }
            Poll::Ready(result)
        }
    }
}

/// `iters` calls through the permit API: acquire, call the dependency, record.
fn run_permits(breaker: &Breaker, dependency: &mut Dependency, iters: u64) {
    let mut cx = Context::from_waker(noop_waker_ref());
    for i in 0..iters {
        match breaker.try_acquire() {
            Ok(permit) => {
                let ok = drive(dependency, &mut cx, i);
                permit.record(if ok {
                    Outcome::Success
                } else {
                    Outcome::Failure
                });
            }
            Err(open) => {
                black_box(open);
            }
        }
    }
}

fn config() -> seawall::breaker::BreakerConfigBuilder {
    BreakerConfig::builder().name("bench")
}

/// A breaker that is open for the next hour.
fn open_breaker() -> Breaker {
    let breaker = Breaker::new(
        config()
            .count_window(1)
            .minimum_calls(1)
            .open_wait(OpenWait::fixed(Duration::from_secs(3600)))
            .build()
            .expect("valid config"),
    );
    breaker.try_acquire().expect("closed").failure();
    assert_eq!(breaker.state(), seawall::breaker::State::Open);
    breaker
}

/// The cases: (name, baseline name, what to run). Each runs `iters` calls.
type Case = (&'static str, &'static str, Box<dyn FnMut(u64) -> Duration>);

fn single<S: Service<u64> + 'static>(mut service: S) -> Box<dyn FnMut(u64) -> Duration> {
    Box::new(move |iters| {
        let start = Instant::now();
        run(&mut service, iters);
        start.elapsed()
    })
}

fn layered(config: BreakerConfig, dependency: Dependency) -> Box<dyn FnMut(u64) -> Duration> {
    let layer = CircuitBreakerLayer::new(Breaker::new(config));
    single(layer.layer(dependency))
}

fn two_threads(
    make: impl Fn() -> Dependency + Sync + 'static,
    breaker: Option<BreakerConfig>,
) -> Box<dyn FnMut(u64) -> Duration> {
    match breaker {
        None => Box::new(move |iters| run_two_threads(&make, iters)),
        Some(config) => {
            let layer = CircuitBreakerLayer::new(Breaker::new(config));
            Box::new(move |iters| run_two_threads(&|| layer.layer(make()), iters))
        }
    }
}

fn cases() -> Vec<Case> {
    let default = || config().build().expect("valid config");
    let slow_calls = || {
        config()
            .slow_call_duration_threshold(Duration::from_secs(1))
            .build()
            .expect("valid config")
    };
    let time_window = || {
        config()
            .time_window(Duration::from_secs(10), 10)
            .build()
            .expect("valid config")
    };
    let permits = |fail_every| -> Box<dyn FnMut(u64) -> Duration> {
        let breaker = Breaker::new(default());
        let mut dependency = Dependency::failing_every(fail_every);
        Box::new(move |iters| {
            let start = Instant::now();
            run_permits(&breaker, &mut dependency, iters);
            start.elapsed()
        })
    };
    let forced_open = || {
        let breaker = Breaker::new(default());
        breaker.force_open();
        single(CircuitBreakerLayer::new(breaker).layer(Dependency::healthy()))
    };
    #[allow(unused_mut)]
    let mut cases: Vec<Case> = vec![
        ("bare", "bare", single(Dependency::healthy())),
        (
            "closed/default",
            "bare",
            layered(default(), Dependency::healthy()),
        ),
        ("closed/permit-api", "bare", permits(0)),
        (
            "floor/load+add",
            "bare",
            single(floor::Floor::<_, false> {
                inner: Dependency::healthy(),
                shared: floor::Shared::new(),
            }),
        ),
        (
            "floor/load+add+handle",
            "bare",
            single(floor::Floor::<_, true> {
                inner: Dependency::healthy(),
                shared: floor::Shared::new(),
            }),
        ),
        (
            "closed/slow-call-detection",
            "bare",
            layered(slow_calls(), Dependency::healthy()),
        ),
        (
            "closed/time-window",
            "bare",
            layered(time_window(), Dependency::healthy()),
        ),
        (
            "bare/10%-failures",
            "bare/10%-failures",
            single(Dependency::failing_every(10)),
        ),
        (
            "closed/10%-failures",
            "bare/10%-failures",
            layered(default(), Dependency::failing_every(10)),
        ),
        (
            "closed/permit-api/10%-failures",
            "bare/10%-failures",
            permits(10),
        ),
        (
            "bare/2-threads",
            "bare/2-threads",
            two_threads(Dependency::healthy, None),
        ),
        ("floor/2-threads/load+add+handle", "bare/2-threads", {
            let shared = floor::Shared::new();
            Box::new(move |iters| {
                run_two_threads(
                    &|| floor::Floor::<_, true> {
                        inner: Dependency::healthy(),
                        shared,
                    },
                    iters,
                )
            })
        }),
        (
            "closed/2-threads",
            "bare/2-threads",
            two_threads(Dependency::healthy, Some(default())),
        ),
        (
            "closed/2-threads/10%-failures",
            "bare/2-threads/10%-failures",
            two_threads(|| Dependency::failing_every(10), Some(default())),
        ),
        (
            "bare/2-threads/10%-failures",
            "bare/2-threads/10%-failures",
            two_threads(|| Dependency::failing_every(10), None),
        ),
        (
            "closed/2-threads/slow-call-detection",
            "bare/2-threads",
            two_threads(Dependency::healthy, Some(slow_calls())),
        ),
        (
            "open/fail-fast",
            "bare",
            single(CircuitBreakerLayer::new(open_breaker()).layer(Dependency::healthy())),
        ),
        ("forced-open/fail-fast", "bare", forced_open()),
        (
            "clock/std-Instant-now",
            "",
            Box::new(|iters| {
                let start = Instant::now();
                for _ in 0..iters {
                    black_box(Instant::now());
                }
                start.elapsed()
            }),
        ),
        (
            "clock/tokio-Instant-now",
            "",
            Box::new(|iters| {
                let start = Instant::now();
                for _ in 0..iters {
                    black_box(tokio::time::Instant::now());
                }
                start.elapsed()
            }),
        ),
        (
            "clock/tokio-Instant-now-in-runtime",
            "",
            Box::new(|iters| {
                // Inside a runtime, tokio's test-util feature (enabled by the
                // dev-dependencies) makes every read check the runtime's clock for
                // a pause.
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_time()
                    .build()
                    .expect("runtime");
                let _entered = runtime.enter();
                let start = Instant::now();
                for _ in 0..iters {
                    black_box(tokio::time::Instant::now());
                }
                start.elapsed()
            }),
        ),
    ];
    #[cfg(feature = "quanta")]
    {
        let quanta = || {
            config()
                .slow_call_duration_threshold(Duration::from_secs(1))
                .clock(seawall::clock::Clock::quanta())
                .build()
                .expect("valid config")
        };
        cases.extend([
            (
                "closed/slow-call-detection/quanta",
                "bare",
                layered(quanta(), Dependency::healthy()),
            ),
            (
                "closed/2-threads/slow-call-detection/quanta",
                "bare/2-threads",
                two_threads(Dependency::healthy, Some(quanta())),
            ),
        ] as [Case; 2]);
        // The coarse clock needs its upkeep thread; it runs until the bench exits.
        static UPKEEP: std::sync::Once = std::sync::Once::new();
        UPKEEP.call_once(|| {
            let upkeep = quanta::Upkeep::new(Duration::from_millis(1))
                .start()
                .expect("quanta upkeep thread");
            std::mem::forget(upkeep);
        });
        let recent = || {
            config()
                .slow_call_duration_threshold(Duration::from_secs(1))
                .clock(seawall::clock::Clock::quanta_recent())
                .build()
                .expect("valid config")
        };
        cases.push((
            "closed/slow-call-detection/quanta-recent",
            "bare",
            layered(recent(), Dependency::healthy()),
        ));
        cases.push((
            "closed/2-threads/slow-call-detection/quanta-recent",
            "bare/2-threads",
            two_threads(Dependency::healthy, Some(recent())),
        ));
        let clock = seawall::clock::Clock::quanta();
        cases.push((
            "clock/quanta",
            "",
            Box::new(move |iters| {
                let start = Instant::now();
                for _ in 0..iters {
                    black_box(clock.elapsed());
                }
                start.elapsed()
            }),
        ));
    }
    cases
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group(GROUP);
    for (name, _, mut case) in cases() {
        group.bench_function(name, |b| b.iter_custom(&mut case));
    }
    group.finish();
}

criterion_group!(benches, bench);

/// Heap allocations per call over `iters` calls, after a warm-up.
fn allocations_per_call(case: &mut dyn FnMut(u64) -> Duration) -> f64 {
    const CALLS: u64 = 100_000;
    case(CALLS);
    // Relaxed: read and written on this thread (two-thread cases join first).
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    case(CALLS);
    let after = ALLOCATIONS.load(Ordering::Relaxed);
    (after - before) as f64 / CALLS as f64
}

/// Criterion's point estimate (slope, else mean) in ns, if it was measured in
/// this run.
fn estimate(dir: &std::path::Path, name: &str, since: SystemTime) -> Option<f64> {
    let path = dir
        .join(GROUP)
        .join(name.replace('/', "_"))
        .join("new/estimates.json");
    let modified = std::fs::metadata(&path).ok()?.modified().ok()?;
    if modified < since {
        return None;
    }
    let text = std::fs::read_to_string(&path).ok()?;
    let point = |key: &str| {
        let at = text.find(&format!("\"{key}\":{{"))?;
        let rest = &text[at..];
        let field = "\"point_estimate\":";
        let start = rest.find(field)? + field.len();
        let end = rest[start..].find([',', '}'])? + start;
        rest[start..end].parse::<f64>().ok()
    };
    point("slope").or_else(|| point("mean"))
}

fn criterion_dir() -> PathBuf {
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return home.into();
    }
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| "target".into(), PathBuf::from);
    target.join("criterion")
}

/// `SEAWALL_BENCH_PROFILE=case:calls` runs one case for a fixed number of calls
/// and nothing else, for `valgrind --tool=callgrind` or `perf`.
fn profile(spec: &str) {
    let (name, calls) = spec.rsplit_once(':').unwrap_or((spec, "10000000"));
    let calls: u64 = calls.parse().expect("SEAWALL_BENCH_PROFILE=case:calls");
    let (_, _, mut case) = cases()
        .into_iter()
        .find(|(case, _, _)| *case == name)
        .unwrap_or_else(|| panic!("no case named {name:?}"));
    let elapsed = case(calls);
    println!(
        "{name}: {calls} calls, {:.2} ns/call",
        elapsed.as_nanos() as f64 / calls as f64
    );
}

fn main() {
    if let Ok(spec) = std::env::var("SEAWALL_BENCH_PROFILE") {
        return profile(&spec);
    }
    let started = SystemTime::now();
    benches();
    Criterion::default().configure_from_args().final_summary();

    if std::env::args().any(|arg| arg == "--list" || arg == "--test") {
        return;
    }
    let dir = criterion_dir();
    let mut cases = cases();
    let names: Vec<&str> = cases.iter().map(|(name, _, _)| *name).collect();
    let measured: Vec<Option<f64>> = names
        .iter()
        .map(|name| estimate(&dir, name, started))
        .collect();
    if measured.iter().all(Option::is_none) {
        return;
    }
    println!();
    println!(
        "{:<52} {:>9} {:>9} {:>7} {:>11}",
        "case", "ns/call", "added ns", "ratio", "allocs/call"
    );
    for (index, (name, baseline, case)) in cases.iter_mut().enumerate() {
        let Some(ns) = measured[index] else { continue };
        let base = names
            .iter()
            .position(|other| other == baseline)
            .and_then(|i| measured[i])
            .filter(|_| baseline != name);
        let allocs = allocations_per_call(case.as_mut());
        match base {
            Some(base) => println!(
                "{name:<52} {ns:>9.2} {:>+9.2} {:>7.2} {allocs:>11.3}",
                ns - base,
                ns / base
            ),
            None => println!("{name:<52} {ns:>9.2} {:>9} {:>7} {allocs:>11.3}", "", ""),
        }
    }
}
