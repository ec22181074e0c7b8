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
//! (counted by a global allocator in this binary); it also writes it as
//! markdown to `target/bench-report/breaker.md`, which `scripts/bench.sh` puts
//! in README.md.
//!
//! Run with `cargo bench --bench breaker -- --warm-up-time 1 --measurement-time 3`
//! (add `--features quanta` for the cases on the time-stamp-counter clock).
//! To profile one case, run the bench binary with
//! `SEAWALL_BENCH_PROFILE=closed/default:1000000` under callgrind or perf.

use std::hint::black_box;
use std::task::Context;
use std::time::{Duration, Instant};

use criterion::Criterion;
use futures::task::noop_waker_ref;
use seawall::breaker::{Breaker, BreakerConfig, BreakerLayer, OpenWait};
use seawall::classify::Outcome;
use support::{
    bench_group, drive, listing_or_testing, markdown_table, print_rows, run_two_threads, single,
    two_threads, write_report, Case, Dependency, Measure,
};
use tower::Layer;

mod support;

/// The criterion group every case is in; the summary reads its results.
const GROUP: &str = "seawall-breaker";

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

fn layered(config: BreakerConfig, dependency: Dependency) -> Measure {
    single(BreakerLayer::new(Breaker::new(config)).layer(dependency))
}

/// Two threads calling through one shared breaker (or, without one, the bare
/// dependency).
fn shared_by_two_threads(
    make: impl Fn() -> Dependency + Sync + 'static,
    breaker: Option<BreakerConfig>,
) -> Measure {
    match breaker {
        None => two_threads(make),
        Some(config) => {
            let layer = BreakerLayer::new(Breaker::new(config));
            two_threads(move || layer.layer(make()))
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
    let permits = |fail_every| -> Measure {
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
        single(BreakerLayer::new(breaker).layer(Dependency::healthy()))
    };
    #[allow(unused_mut)]
    let mut cases: Vec<Case> = vec![
        Case::new("bare", "bare", single(Dependency::healthy())),
        Case::new(
            "closed/default",
            "bare",
            layered(default(), Dependency::healthy()),
        ),
        Case::new("closed/permit-api", "bare", permits(0)),
        Case::new(
            "floor/load+add",
            "bare",
            single(floor::Floor::<_, false> {
                inner: Dependency::healthy(),
                shared: floor::Shared::new(),
            }),
        ),
        Case::new(
            "floor/load+add+handle",
            "bare",
            single(floor::Floor::<_, true> {
                inner: Dependency::healthy(),
                shared: floor::Shared::new(),
            }),
        ),
        Case::new(
            "closed/slow-call-detection",
            "bare",
            layered(slow_calls(), Dependency::healthy()),
        ),
        Case::new(
            "closed/time-window",
            "bare",
            layered(time_window(), Dependency::healthy()),
        ),
        Case::new(
            "bare/10%-failures",
            "bare/10%-failures",
            single(Dependency::failing_every(10)),
        ),
        Case::new(
            "closed/10%-failures",
            "bare/10%-failures",
            layered(default(), Dependency::failing_every(10)),
        ),
        Case::new(
            "closed/permit-api/10%-failures",
            "bare/10%-failures",
            permits(10),
        ),
        Case::on_two_threads(
            "bare/2-threads",
            "bare/2-threads",
            shared_by_two_threads(Dependency::healthy, None),
        ),
        Case::on_two_threads("floor/2-threads/load+add+handle", "bare/2-threads", {
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
        Case::on_two_threads(
            "closed/2-threads",
            "bare/2-threads",
            shared_by_two_threads(Dependency::healthy, Some(default())),
        ),
        Case::on_two_threads(
            "closed/2-threads/10%-failures",
            "bare/2-threads/10%-failures",
            shared_by_two_threads(|| Dependency::failing_every(10), Some(default())),
        ),
        Case::on_two_threads(
            "bare/2-threads/10%-failures",
            "bare/2-threads/10%-failures",
            shared_by_two_threads(|| Dependency::failing_every(10), None),
        ),
        Case::on_two_threads(
            "closed/2-threads/slow-call-detection",
            "bare/2-threads",
            shared_by_two_threads(Dependency::healthy, Some(slow_calls())),
        ),
        Case::new(
            "open/fail-fast",
            "bare",
            single(BreakerLayer::new(open_breaker()).layer(Dependency::healthy())),
        ),
        Case::new("forced-open/fail-fast", "bare", forced_open()),
        Case::new(
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
        Case::new(
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
        Case::new(
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
            Case::new(
                "closed/slow-call-detection/quanta",
                "bare",
                layered(quanta(), Dependency::healthy()),
            ),
            Case::on_two_threads(
                "closed/2-threads/slow-call-detection/quanta",
                "bare/2-threads",
                shared_by_two_threads(Dependency::healthy, Some(quanta())),
            ),
        ]);
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
        cases.push(Case::new(
            "closed/slow-call-detection/quanta-recent",
            "bare",
            layered(recent(), Dependency::healthy()),
        ));
        cases.push(Case::on_two_threads(
            "closed/2-threads/slow-call-detection/quanta-recent",
            "bare/2-threads",
            shared_by_two_threads(Dependency::healthy, Some(recent())),
        ));
        let clock = seawall::clock::Clock::quanta();
        cases.push(Case::new(
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

/// `SEAWALL_BENCH_PROFILE=case:calls` runs one case for a fixed number of calls
/// and nothing else, for `valgrind --tool=callgrind` or `perf`.
fn profile(spec: &str) {
    let (name, calls) = spec.rsplit_once(':').unwrap_or((spec, "10000000"));
    let calls: u64 = calls.parse().expect("SEAWALL_BENCH_PROFILE=case:calls");
    let mut case = cases()
        .into_iter()
        .find(|case| case.name == name)
        .unwrap_or_else(|| panic!("no case named {name:?}"));
    let elapsed = (case.measure)(calls);
    println!(
        "{name}: {calls} calls, {:.2} ns/call",
        elapsed.as_nanos() as f64 / calls as f64
    );
}

fn main() {
    if let Ok(spec) = std::env::var("SEAWALL_BENCH_PROFILE") {
        return profile(&spec);
    }
    let mut criterion = Criterion::default().configure_from_args();
    let rows = bench_group(&mut criterion, GROUP, &mut cases());
    criterion.final_summary();
    if !listing_or_testing() && !rows.is_empty() {
        print_rows(&rows);
        let mut report = String::new();
        markdown_table(
            &mut report,
            "The breaker in depth, one case at a time",
            &rows,
        );
        match write_report("breaker.md", &report) {
            Ok(path) => println!("\nwrote {}", path.display()),
            Err(err) => {
                eprintln!("breaker: {err}");
                std::process::exit(1);
            }
        }
    }
}
