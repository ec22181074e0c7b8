//! What the benches share: a dependency that answers at once, the loops that
//! drive a service the way tower does (on one thread or two), a counting
//! allocator, and the table each bench prints after criterion's own output.
//!
//! Every bench includes this module once (`mod support;`), so each bench binary
//! gets the counting allocator. It counts only while a measurement asks it to
//! (`count_allocations`); otherwise it costs one relaxed load per allocation.

#![allow(dead_code)] // Each bench uses part of this module.

use std::alloc::{GlobalAlloc, Layout, System};
use std::fmt::Write as _;
use std::future::{ready, Future, Ready};
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Barrier;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant, SystemTime};

use criterion::Criterion;

mod report;
#[allow(unused_imports)] // Each bench uses part of this module.
pub use report::{target_dir, write_report};
use tower::Service;

/// Counts heap allocations and live heap bytes while `COUNTING` is set.
struct Counting;

static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);
static LIVE_BYTES: AtomicI64 = AtomicI64::new(0);

impl Counting {
    fn allocated(size: usize) {
        // Relaxed everywhere: statistics read after the measured code has
        // finished (and, with two threads, after the other thread was joined).
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
            LIVE_BYTES.fetch_add(size as i64, Ordering::Relaxed);
        }
    }

    fn freed(size: usize) {
        if COUNTING.load(Ordering::Relaxed) {
            LIVE_BYTES.fetch_sub(size as i64, Ordering::Relaxed);
        }
    }
}

// SAFETY: forwards every call to the system allocator unchanged; the counting
// around it touches only atomics.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        Self::allocated(layout.size());
        System.alloc(layout)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        Self::freed(layout.size());
        System.dealloc(ptr, layout)
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        Self::freed(layout.size());
        Self::allocated(new_size);
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// What the counting allocator saw while `measured` ran: (allocations, heap
/// bytes still live afterwards).
pub fn count_allocations<T>(measured: impl FnOnce() -> T) -> (u64, i64, T) {
    let allocations = ALLOCATIONS.load(Ordering::Relaxed);
    let live = LIVE_BYTES.load(Ordering::Relaxed);
    COUNTING.store(true, Ordering::Relaxed);
    let value = measured();
    COUNTING.store(false, Ordering::Relaxed);
    (
        ALLOCATIONS.load(Ordering::Relaxed) - allocations,
        LIVE_BYTES.load(Ordering::Relaxed) - live,
        value,
    )
}

/// An in-process dependency that answers at once with `std::future::Ready`
/// and fails every `fail_every`-th call (never when 0).
#[derive(Clone, Copy)]
pub struct Dependency {
    calls: u64,
    fail_every: u64,
}

impl Dependency {
    pub fn healthy() -> Self {
        Self::failing_every(0)
    }

    pub fn failing_every(fail_every: u64) -> Self {
        Self {
            calls: 0,
            fail_every,
        }
    }
}

/// The dependency's error. It carries the request, as real errors carry
/// something: a layer that boxes errors allocates for it, as it would for an
/// `io::Error` or a `tonic::Status`.
#[derive(Debug, Clone, Copy)]
pub struct Failed(pub u64);

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
        if self.fail_every != 0 && self.calls.is_multiple_of(self.fail_every) {
            ready(Err(Failed(request)))
        } else {
            ready(Ok(request))
        }
    }
}

/// Wakes the thread that polls, parked while its future is pending: what a
/// `block_on` executor does.
struct Unpark(std::thread::Thread);

impl std::task::Wake for Unpark {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &std::sync::Arc<Self>) {
        self.0.unpark();
    }
}

/// A waker for the calling thread (see [`Unpark`]).
pub fn thread_waker() -> Waker {
    Waker::from(std::sync::Arc::new(Unpark(std::thread::current())))
}

/// One call the way tower makes it: ready, call, poll. Returns whether it
/// succeeded.
///
/// Only a layer that waits on something (a peer's async mutex another thread
/// holds, a dependency pending once) returns `Pending`; the thread then parks
/// until it is woken, as under `block_on`, rather than spinning on a lock the
/// holder needs to release.
#[inline(always)]
pub fn drive<S: Service<u64>>(service: &mut S, cx: &mut Context<'_>, request: u64) -> bool {
    loop {
        match service.poll_ready(cx) {
            Poll::Ready(Ok(())) => break,
            Poll::Ready(Err(_)) => return false,
            Poll::Pending => std::thread::park(),
        }
    }
    let mut future = pin!(service.call(black_box(request)));
    loop {
        match future.as_mut().poll(cx) {
            Poll::Ready(result) => return black_box(result.is_ok()),
            Poll::Pending => std::thread::park(),
        }
    }
}

/// `iters` calls on `service`, the way tower makes them.
pub fn run<S: Service<u64>>(service: &mut S, iters: u64) {
    let waker = thread_waker();
    let mut cx = Context::from_waker(&waker);
    for i in 0..iters {
        drive(service, &mut cx, i);
    }
}

/// Runs `iters` calls on each of two threads at once, one service each, and
/// returns the time the measuring thread saw. The other thread enters the
/// caller's tokio runtime, if any, for layers that need a timer.
pub fn run_two_threads<S: Service<u64> + Send>(
    make: &(dyn Fn() -> S + Sync),
    iters: u64,
) -> Duration {
    let barrier = Barrier::new(2);
    let runtime = tokio::runtime::Handle::try_current().ok();
    let mut own = make();
    let mut other = make();
    std::thread::scope(|scope| {
        let barrier = &barrier;
        scope.spawn(move || {
            let _entered = runtime.as_ref().map(|handle| handle.enter());
            barrier.wait();
            run(&mut other, iters);
        });
        barrier.wait();
        let start = Instant::now();
        run(&mut own, iters);
        // Leaving the scope joins the other thread: the time covers both loops.
        start
    })
    .elapsed()
}

/// Runs `iters` calls; returns how long they took.
pub type Measure = Box<dyn FnMut(u64) -> Duration>;

/// One measured case: its name, the case it is compared with (empty: none),
/// what runs it, and on how many threads at once.
pub struct Case {
    pub name: String,
    pub baseline: &'static str,
    pub measure: Measure,
    pub threads: u64,
}

impl Case {
    /// A case on one thread.
    pub fn new(name: impl Into<String>, baseline: &'static str, measure: Measure) -> Self {
        Self {
            name: name.into(),
            baseline,
            measure,
            threads: 1,
        }
    }

    /// A case whose `measure` makes its calls on each of two threads.
    pub fn on_two_threads(
        name: impl Into<String>,
        baseline: &'static str,
        measure: Measure,
    ) -> Self {
        Self {
            threads: 2,
            ..Self::new(name, baseline, measure)
        }
    }
}

/// Calls on one service, on this thread.
pub fn single<S: Service<u64> + 'static>(mut service: S) -> Measure {
    Box::new(move |iters| {
        let start = Instant::now();
        run(&mut service, iters);
        start.elapsed()
    })
}

/// Calls on two threads at once, each on a service `make` returns (services
/// that share state share it across the two threads).
pub fn two_threads<S: Service<u64> + Send>(make: impl Fn() -> S + Sync + 'static) -> Measure {
    Box::new(move |iters| run_two_threads(&make, iters))
}

/// Heap allocations per call over `calls` calls on each of the case's threads,
/// after a warm-up of as many.
pub fn allocations_per_call(case: &mut Case, calls: u64) -> f64 {
    (case.measure)(calls);
    let (allocations, _, _) = count_allocations(|| (case.measure)(calls));
    allocations as f64 / (calls * case.threads) as f64
}

/// The directory criterion writes its results to.
pub fn criterion_dir() -> PathBuf {
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return home.into();
    }
    target_dir().join("criterion")
}

/// Criterion's point estimate (slope, else mean) in ns for `group`/`name`, if it
/// was measured in this run (written after `since`).
pub fn estimate(dir: &Path, group: &str, name: &str, since: SystemTime) -> Option<f64> {
    let path = dir
        .join(group.replace('/', "_"))
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

/// Whether the bench binary runs to list or smoke-test its cases rather than
/// measure them (`cargo bench -- --list`, `cargo test --benches`).
pub fn listing_or_testing() -> bool {
    std::env::args().any(|arg| arg == "--list" || arg == "--test")
}

/// One measured row of a summary table.
pub struct Row {
    pub name: String,
    pub ns: f64,
    /// The baseline's ns per call, when the case has one.
    pub baseline_ns: Option<f64>,
    pub allocations: f64,
}

/// Benches every case of `group` with criterion, then measures each case's
/// allocations per call, and returns the rows measured in this run (none when
/// the binary only lists or smoke-tests its cases).
pub fn bench_group(criterion: &mut Criterion, group: &str, cases: &mut [Case]) -> Vec<Row> {
    let started = SystemTime::now();
    let mut benchmarks = criterion.benchmark_group(group);
    for case in cases.iter_mut() {
        benchmarks.bench_function(&case.name, |b| b.iter_custom(&mut case.measure));
    }
    benchmarks.finish();
    if listing_or_testing() {
        return Vec::new();
    }
    let dir = criterion_dir();
    let measured: Vec<Option<f64>> = cases
        .iter()
        .map(|case| estimate(&dir, group, &case.name, started))
        .collect();
    let baselines: Vec<Option<f64>> = cases
        .iter()
        .map(|case| {
            cases
                .iter()
                .position(|other| other.name == case.baseline && other.name != case.name)
                .and_then(|i| measured[i])
        })
        .collect();
    let mut rows = Vec::new();
    for ((case, ns), baseline_ns) in cases.iter_mut().zip(measured).zip(baselines) {
        // Cases left out by a filter on the command line have no estimate; so has
        // every case when criterion writes its results elsewhere.
        let Some(ns) = ns else {
            eprintln!(
                "{group}/{}: no estimate from this run in {} (filtered out?)",
                case.name,
                dir.display()
            );
            continue;
        };
        if baseline_ns.is_none() && !case.baseline.is_empty() && case.baseline != case.name {
            eprintln!(
                "{group}/{}: its baseline {:?} was not measured in this run",
                case.name, case.baseline
            );
        }
        rows.push(Row {
            name: case.name.clone(),
            ns,
            baseline_ns,
            allocations: allocations_per_call(case, 100_000),
        });
    }
    rows
}

/// Prints `rows` as a plain-text table: ns per call, ns added over the
/// baseline, the ratio to it, and allocations per call.
pub fn print_rows(rows: &[Row]) {
    if rows.is_empty() {
        return;
    }
    println!();
    println!(
        "{:<52} {:>9} {:>9} {:>7} {:>11}",
        "case", "ns/call", "added ns", "ratio", "allocs/call"
    );
    for row in rows {
        let (ns, allocs) = (row.ns, row.allocations);
        match row.baseline_ns {
            Some(base) => println!(
                "{:<52} {ns:>9.2} {:>+9.2} {:>7.2} {allocs:>11.3}",
                row.name,
                ns - base,
                ns / base
            ),
            None => println!(
                "{:<52} {ns:>9.2} {:>9} {:>7} {allocs:>11.3}",
                row.name, "", ""
            ),
        }
    }
}

/// Appends `rows` to `out` as a markdown table under a bold `title`.
pub fn markdown_table(out: &mut String, title: &str, rows: &[Row]) {
    let _ = writeln!(out, "**{title}**\n");
    let _ = writeln!(
        out,
        "| case | ns/call | added over bare | ratio to bare | allocations/call |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|");
    for row in rows {
        let (added, ratio) = match row.baseline_ns {
            Some(base) => (
                format!("{:+.1}", row.ns - base),
                format!("{:.1}x", row.ns / base),
            ),
            None => (String::new(), String::new()),
        };
        let _ = writeln!(
            out,
            "| {} | {:.1} | {added} | {ratio} | {} |",
            row.name,
            row.ns,
            allocations(row.allocations)
        );
    }
    let _ = writeln!(out);
}

/// Allocations per call, to two decimals: a two-thread measurement spawns a
/// thread, which allocates a few times per run of 100,000 calls.
fn allocations(per_call: f64) -> String {
    let rounded = format!("{per_call:.2}");
    match rounded.strip_suffix(".00") {
        Some(whole) => whole.to_owned(),
        None => rounded,
    }
}
