//! seawall against the crates users would otherwise pick, per call, in one run.
//!
//! Every case drives a service the way tower does: `poll_ready`, `call`, then
//! polls of the future until it is ready. The dependency behind every layer
//! answers at once with `std::future::Ready`, so what a case adds over the bare
//! dependency is the layer's own cost. Each section compares with a bare case
//! measured in the same run.
//!
//! The peers are configured like seawall's defaults where they have the
//! setting: a 50% failure-rate threshold over a window of 100 calls (failsafe
//! has only a time window: 10 s, at least 100 calls), a 1 s timeout, 25
//! concurrent calls, 3 attempts. Peers that are not tower layers (failsafe's
//! futures API, recloser's `AsyncRecloser`) are called through a thin adapter
//! that wraps the inner service's future without boxing it.
//!
//! Sections: the breaker on one thread (closed, 10% failures, open, half-open),
//! the breaker shared by two threads, retry (the first attempt succeeds),
//! timeout, bulkhead, and each crate's whole stack. Then, untimed: heap
//! allocations per call, and the memory one breaker (and one keyed-breaker
//! entry) holds.
//!
//! Besides criterion's output, the bench prints a table per section and writes
//! them as markdown to `target/bench-report/compare.md` (under
//! `$CARGO_TARGET_DIR` when set); `scripts/bench.sh` puts that in README.md.
//!
//! Run with `cargo bench --bench compare -- --warm-up-time 1 --measurement-time 2`
//! (about three minutes). `cargo bench --bench compare -- breaker` runs the
//! cases whose name contains `breaker`.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use criterion::Criterion;
use futures::task::noop_waker_ref;
use seawall::breaker::{Breaker, BreakerConfig, BreakerLayer, OpenWait, State};
use seawall::bulkhead::{Bulkhead, BulkheadConfig, BulkheadLayer};
use seawall::resilience::ResilienceLayer;
use seawall::retry::{RetryConfig, RetryLayer};
use seawall::timeout::TimeoutLayer;
use support::{
    bench_group, count_allocations, listing_or_testing, markdown_table, print_rows, run, single,
    two_threads, write_report, Case, Dependency, Failed,
};
use tower::{Layer, Service, ServiceBuilder};

mod support;

/// The open wait every breaker is given: longer than any run.
const OPEN_WAIT: Duration = Duration::from_secs(3600);
/// The timeout every timeout layer is given: never reached.
const TIMEOUT: Duration = Duration::from_secs(1);
/// Concurrent calls every bulkhead allows (seawall's and tower-resilience's default).
const MAX_CONCURRENT: usize = 25;
/// Attempts every retry layer may make (seawall's default).
const ATTEMPTS: usize = 3;

/// Thin adapters that make the peers' future-wrapping breakers tower services,
/// the way a user would: the inner service's future is wrapped, not boxed.
mod adapters {
    use std::task::{Context, Poll};

    use tower::Service;

    /// failsafe's futures API over a tower service.
    pub struct Failsafe<S, P, I> {
        pub inner: S,
        pub breaker: failsafe::StateMachine<P, I>,
    }

    impl<S: Clone, P, I> Clone for Failsafe<S, P, I>
    where
        failsafe::StateMachine<P, I>: Clone,
    {
        fn clone(&self) -> Self {
            Self {
                inner: self.inner.clone(),
                breaker: self.breaker.clone(),
            }
        }
    }

    impl<S, P, I, R> Service<R> for Failsafe<S, P, I>
    where
        S: Service<R>,
        P: failsafe::FailurePolicy + Send + Sync,
        I: failsafe::Instrument + Send + Sync,
    {
        type Response = S::Response;
        type Error = failsafe::Error<S::Error>;
        type Future = failsafe::futures::ResponseFuture<S::Future, P, I, failsafe::Any>;

        fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            self.inner.poll_ready(cx).map_err(failsafe::Error::Inner)
        }

        fn call(&mut self, request: R) -> Self::Future {
            use failsafe::futures::CircuitBreaker as _;
            self.breaker.call(self.inner.call(request))
        }
    }

    /// recloser's `AsyncRecloser` over a tower service.
    #[derive(Clone)]
    pub struct Recloser<S> {
        pub inner: S,
        pub breaker: recloser::AsyncRecloser,
    }

    impl<S, R> Service<R> for Recloser<S>
    where
        S: Service<R>,
    {
        type Response = S::Response;
        type Error = recloser::Error<S::Error>;
        type Future = recloser::RecloserFuture<S::Future, recloser::AnyError>;

        fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            self.inner.poll_ready(cx).map_err(recloser::Error::Inner)
        }

        fn call(&mut self, request: R) -> Self::Future {
            self.breaker.call(self.inner.call(request))
        }
    }
}

/// How each crate's breaker wraps a service, configured alike.
mod breakers {
    use super::*;

    type RatePolicy =
        failsafe::failure_policy::SuccessRateOverTimeWindow<failsafe::backoff::Constant>;
    type ConsecutivePolicy =
        failsafe::failure_policy::ConsecutiveFailures<failsafe::backoff::Constant>;

    pub fn seawall_config() -> BreakerConfig {
        BreakerConfig::builder()
            .name("bench")
            .failure_rate_threshold(0.5)
            .count_window(100)
            .minimum_calls(100)
            .open_wait(OpenWait::fixed(OPEN_WAIT))
            .build()
            .expect("valid config")
    }

    pub fn seawall<S>(inner: S) -> seawall::breaker::BreakerService<S> {
        BreakerLayer::new(Breaker::new(seawall_config())).layer(inner)
    }

    pub fn tower_resilience<S>(
        inner: S,
    ) -> tower_resilience::circuitbreaker::CircuitBreaker<
        S,
        tower_resilience::core::DefaultClassifier,
    > {
        tower_resilience::circuitbreaker::CircuitBreakerLayer::builder()
            .name("bench")
            .failure_rate_threshold(0.5)
            .sliding_window_size(100)
            .minimum_number_of_calls(100)
            .wait_duration_in_open(OPEN_WAIT)
            .build()
            .expect("valid config")
            .layer_fn(inner)
    }

    /// failsafe's rate policy, the closest to a 100-call window it has.
    pub fn failsafe<S>(inner: S) -> adapters::Failsafe<S, RatePolicy, ()> {
        let policy = failsafe::failure_policy::success_rate_over_time_window(
            0.5,
            100,
            Duration::from_secs(10),
            failsafe::backoff::constant(OPEN_WAIT),
        );
        adapters::Failsafe {
            inner,
            breaker: failsafe::Config::new().failure_policy(policy).build(),
        }
    }

    /// failsafe opened by consecutive failures: its rate policy trips only
    /// after a whole time window, and the open path never consults the policy.
    pub fn failsafe_tripping_fast<S>(inner: S) -> adapters::Failsafe<S, ConsecutivePolicy, ()> {
        let policy = failsafe::failure_policy::consecutive_failures(
            100,
            failsafe::backoff::constant(OPEN_WAIT),
        );
        adapters::Failsafe {
            inner,
            breaker: failsafe::Config::new().failure_policy(policy).build(),
        }
    }

    pub fn recloser<S>(inner: S) -> adapters::Recloser<S> {
        let breaker = recloser::Recloser::custom()
            .error_rate(0.5)
            .closed_len(100)
            .half_open_len(10)
            .open_wait(OPEN_WAIT)
            .build();
        adapters::Recloser {
            inner,
            breaker: breaker.into(),
        }
    }
}

/// A dependency that always fails and counts the calls it answers (polls of
/// its futures: the futures-based peers create the inner future before they
/// decide to reject, and never poll it then), to trip a breaker and then check
/// that the breaker stopped calling it.
///
/// The counter is leaked, so creating a call costs a pointer copy: the open
/// cases of the futures-based peers create one per rejected call.
#[derive(Clone, Copy)]
struct Failing {
    answered: &'static AtomicU64,
}

/// A [`Failing`] call: fails when polled.
struct FailingCall {
    answered: &'static AtomicU64,
}

impl std::future::Future for FailingCall {
    type Output = Result<u64, Failed>;

    fn poll(self: std::pin::Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Self::Output> {
        // Relaxed: read on this thread after the calls.
        self.answered.fetch_add(1, Ordering::Relaxed);
        Poll::Ready(Err(Failed(0)))
    }
}

impl Service<u64> for Failing {
    type Response = u64;
    type Error = Failed;
    type Future = FailingCall;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Failed>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: u64) -> Self::Future {
        FailingCall {
            answered: self.answered,
        }
    }
}

/// A dependency whose every call is pending once (it wakes its caller at once)
/// and then answers: a call that has to wait, which is what a timeout is for.
#[derive(Clone, Copy)]
struct PendingOnce;

/// A [`PendingOnce`] call.
struct PendingOnceCall {
    request: u64,
    waited: bool,
}

impl std::future::Future for PendingOnceCall {
    type Output = Result<u64, Failed>;

    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if self.waited {
            return Poll::Ready(Ok(self.request));
        }
        self.waited = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

impl Service<u64> for PendingOnce {
    type Response = u64;
    type Error = Failed;
    type Future = PendingOnceCall;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Failed>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: u64) -> Self::Future {
        PendingOnceCall {
            request,
            waited: false,
        }
    }
}

/// A breaker from `wrap` around a failing dependency, tripped open: measures
/// rejections. Panics if the breaker still lets calls through.
fn tripped<S: Service<u64> + 'static>(wrap: impl FnOnce(Failing) -> S) -> support::Measure {
    let answered: &'static AtomicU64 = Box::leak(Box::new(AtomicU64::new(0)));
    let mut service = wrap(Failing { answered });
    run(&mut service, 200);
    let before = answered.load(Ordering::Relaxed);
    run(&mut service, 100);
    assert_eq!(
        answered.load(Ordering::Relaxed),
        before,
        "the breaker is open after 200 failures"
    );
    single(service)
}

/// seawall's breaker half-open: each call takes a probe permit in `poll_ready`
/// and gives it back when its future is dropped unpolled, so the breaker stays
/// half-open however many calls are measured.
fn seawall_half_open() -> support::Measure {
    let breaker = Breaker::new(
        BreakerConfig::builder()
            .name("bench")
            .count_window(100)
            .minimum_calls(100)
            .open_wait(OpenWait::fixed(Duration::from_millis(1)))
            .build()
            .expect("valid config"),
    );
    breaker.force_open();
    breaker.reset();
    // Trip it for real, then let the open wait pass.
    for _ in 0..100 {
        breaker.try_acquire().expect("closed").failure();
    }
    std::thread::sleep(Duration::from_millis(5));
    let mut service = BreakerLayer::new(breaker.clone()).layer(Dependency::healthy());
    let mut cx = Context::from_waker(noop_waker_ref());
    let mut admit = move |iters: u64| {
        let start = Instant::now();
        for request in 0..iters {
            match service.poll_ready(&mut cx) {
                Poll::Ready(Ok(())) => drop(std::hint::black_box(service.call(request))),
                _ => unreachable!("half-open with probes to spare"),
            }
        }
        start.elapsed()
    };
    admit(1);
    assert_eq!(breaker.state(), State::HalfOpen);
    Box::new(admit)
}

/// The smallest tower retry policy: never retries, clones the request.
#[derive(Clone)]
struct NoRetry;

impl<E> tower::retry::Policy<u64, u64, E> for NoRetry {
    type Future = std::future::Ready<()>;

    fn retry(&mut self, _: &mut u64, _: &mut Result<u64, E>) -> Option<Self::Future> {
        None
    }

    fn clone_request(&mut self, request: &u64) -> Option<u64> {
        Some(*request)
    }
}

/// A minimal tower retry policy with tower's own budget, configured like
/// seawall's default (20% over 10 s, 10 retries a second): every request that
/// succeeds deposits, a retry would withdraw.
#[derive(Clone)]
struct BudgetedRetry {
    budget: std::sync::Arc<tower::retry::budget::TpsBudget>,
}

impl BudgetedRetry {
    fn new() -> Self {
        Self {
            budget: std::sync::Arc::new(tower::retry::budget::TpsBudget::new(
                Duration::from_secs(10),
                10,
                0.2,
            )),
        }
    }
}

impl<E> tower::retry::Policy<u64, u64, E> for BudgetedRetry {
    type Future = std::future::Ready<()>;

    fn retry(&mut self, _: &mut u64, result: &mut Result<u64, E>) -> Option<Self::Future> {
        use tower::retry::budget::Budget as _;
        match result {
            Ok(_) => {
                self.budget.deposit();
                None
            }
            Err(_) => self.budget.withdraw().then(|| std::future::ready(())),
        }
    }

    fn clone_request(&mut self, request: &u64) -> Option<u64> {
        Some(*request)
    }
}

fn seawall_bulkhead() -> Bulkhead {
    Bulkhead::new(
        BulkheadConfig::builder()
            .name("bench")
            .max_concurrent_calls(MAX_CONCURRENT as u32)
            .build()
            .expect("valid config"),
    )
}

fn tower_resilience_bulkhead() -> tower_resilience::bulkhead::BulkheadLayer {
    tower_resilience::bulkhead::BulkheadLayer::builder()
        .name("bench")
        .max_concurrent_calls(MAX_CONCURRENT)
        .build()
        .expect("valid config")
}

fn tower_resilience_retry<E>() -> tower_resilience::retry::RetryLayer<u64, u64, E> {
    tower_resilience::retry::RetryLayer::builder()
        .name("bench")
        .max_attempts(ATTEMPTS)
        .exponential_backoff(Duration::from_millis(100))
        .build()
}

fn tower_resilience_timeout() -> tower_resilience::timelimiter::TimeLimiterLayer {
    tower_resilience::timelimiter::TimeLimiterLayer::builder()
        .name("bench")
        .timeout_duration(TIMEOUT)
        .build()
}

/// One crate's breaker in each of the breaker sections' cases.
struct BreakerPeer {
    name: &'static str,
    /// Around `dependency`, called from one thread.
    one_thread: fn(Dependency) -> support::Measure,
    /// Around `dependency`, one breaker shared by two threads.
    shared_by_two_threads: fn(Dependency) -> support::Measure,
    /// Tripped open (see [`tripped`]).
    tripped: fn() -> support::Measure,
}

/// A [`BreakerPeer`] from the function that wraps a service in the crate's
/// breaker, and the one that wraps it in a breaker configured to trip fast.
macro_rules! breaker_peer {
    ($name:literal, $wrap:path, $tripping:path) => {
        BreakerPeer {
            name: $name,
            one_thread: |dependency| single($wrap(dependency)),
            shared_by_two_threads: |dependency| {
                let shared = $wrap(dependency);
                two_threads(move || shared.clone())
            },
            tripped: || tripped($tripping),
        }
    };
}

fn breaker_peers() -> [BreakerPeer; 4] {
    [
        breaker_peer!("seawall", breakers::seawall, breakers::seawall),
        breaker_peer!(
            "tower-resilience",
            breakers::tower_resilience,
            breakers::tower_resilience
        ),
        breaker_peer!(
            "failsafe",
            breakers::failsafe,
            breakers::failsafe_tripping_fast
        ),
        breaker_peer!("recloser", breakers::recloser, breakers::recloser),
    ]
}

/// A section of the report: a criterion group, its title, its cases, and
/// whether they run inside a tokio runtime (for a timer to register with).
/// The breaker sections need none, as a breaker used alone does not.
struct Section {
    group: &'static str,
    title: &'static str,
    cases: Vec<Case>,
    in_runtime: bool,
}

fn sections() -> Vec<Section> {
    let healthy = Dependency::healthy;
    let failing = || Dependency::failing_every(10);
    let peers = breaker_peers();
    vec![
        Section {
            group: "compare/breaker",
            title: "Circuit breaker, one thread",
            in_runtime: false,
            cases: std::iter::once(Case::new("bare", "bare", single(healthy())))
                .chain(peers.iter().map(|peer| {
                    Case::new(
                        format!("{}/closed", peer.name),
                        "bare",
                        (peer.one_thread)(healthy()),
                    )
                }))
                .chain(std::iter::once(Case::new(
                    "bare/10%-failures",
                    "bare/10%-failures",
                    single(failing()),
                )))
                .chain(peers.iter().map(|peer| {
                    Case::new(
                        format!("{}/closed/10%-failures", peer.name),
                        "bare/10%-failures",
                        (peer.one_thread)(failing()),
                    )
                }))
                .chain(
                    peers.iter().map(|peer| {
                        Case::new(format!("{}/open", peer.name), "bare", (peer.tripped)())
                    }),
                )
                .chain(std::iter::once(Case::new(
                    "seawall/half-open-admission",
                    "bare",
                    seawall_half_open(),
                )))
                .collect(),
        },
        Section {
            group: "compare/breaker-2-threads",
            title: "Circuit breaker shared by two threads",
            in_runtime: false,
            cases: std::iter::once(Case::on_two_threads("bare", "bare", two_threads(healthy)))
                .chain(peers.iter().map(|peer| {
                    Case::on_two_threads(
                        format!("{}/closed", peer.name),
                        "bare",
                        (peer.shared_by_two_threads)(healthy()),
                    )
                }))
                .collect(),
        },
        Section {
            group: "compare/retry",
            title: "Retry, the first attempt succeeds",
            in_runtime: true,
            cases: vec![
                Case::new("bare", "bare", single(healthy())),
                Case::new(
                    "seawall/no-budget",
                    "bare",
                    single(
                        RetryLayer::new(RetryConfig::builder().no_budget().build().unwrap())
                            .layer(healthy()),
                    ),
                ),
                Case::new(
                    "seawall/ratio-budget",
                    "bare",
                    single(RetryLayer::new(RetryConfig::default()).layer(healthy())),
                ),
                Case::new(
                    "tower/minimal-policy",
                    "bare",
                    single(tower::retry::Retry::new(NoRetry, healthy())),
                ),
                Case::new(
                    "tower/tps-budget",
                    "bare",
                    single(tower::retry::Retry::new(BudgetedRetry::new(), healthy())),
                ),
                Case::new(
                    "tower-resilience",
                    "bare",
                    single(tower_resilience_retry().layer(healthy())),
                ),
            ],
        },
        Section {
            group: "compare/timeout",
            title: "Timeout, never reached (answered at once, or pending once)",
            in_runtime: true,
            cases: vec![
                Case::new("bare", "bare", single(healthy())),
                Case::new(
                    "seawall",
                    "bare",
                    single(TimeoutLayer::new(TIMEOUT).layer(healthy())),
                ),
                Case::new(
                    "tower",
                    "bare",
                    single(tower::timeout::Timeout::new(healthy(), TIMEOUT)),
                ),
                Case::new(
                    "tower-resilience",
                    "bare",
                    single(tower_resilience_timeout().layer(healthy())),
                ),
                Case::new(
                    "bare/pending-once",
                    "bare/pending-once",
                    single(PendingOnce),
                ),
                Case::new(
                    "seawall/pending-once",
                    "bare/pending-once",
                    single(TimeoutLayer::new(TIMEOUT).layer(PendingOnce)),
                ),
                Case::new(
                    "tower/pending-once",
                    "bare/pending-once",
                    single(tower::timeout::Timeout::new(PendingOnce, TIMEOUT)),
                ),
                Case::new(
                    "tower-resilience/pending-once",
                    "bare/pending-once",
                    single(tower_resilience_timeout().layer(PendingOnce)),
                ),
            ],
        },
        Section {
            group: "compare/bulkhead",
            title: "Bulkhead (concurrency limit), never full",
            in_runtime: true,
            cases: vec![
                Case::new("bare", "bare", single(healthy())),
                Case::new(
                    "seawall",
                    "bare",
                    single(BulkheadLayer::new(seawall_bulkhead()).layer(healthy())),
                ),
                Case::new(
                    "tower/concurrency-limit",
                    "bare",
                    single(tower::limit::ConcurrencyLimit::new(
                        healthy(),
                        MAX_CONCURRENT,
                    )),
                ),
                Case::new(
                    "tower/load-shed+concurrency-limit",
                    "bare",
                    single(tower::load_shed::LoadShed::new(
                        tower::limit::ConcurrencyLimit::new(healthy(), MAX_CONCURRENT),
                    )),
                ),
                Case::new(
                    "tower-resilience",
                    "bare",
                    single(tower_resilience_bulkhead().layer(healthy())),
                ),
                Case::on_two_threads("bare/2-threads", "bare/2-threads", two_threads(healthy)),
                Case::on_two_threads("seawall/2-threads", "bare/2-threads", {
                    let layer = BulkheadLayer::new(seawall_bulkhead());
                    two_threads(move || layer.layer(healthy()))
                }),
                Case::on_two_threads("tower/concurrency-limit/2-threads", "bare/2-threads", {
                    // Clones of one layered service share its semaphore.
                    let shared = tower::limit::ConcurrencyLimit::new(healthy(), MAX_CONCURRENT);
                    two_threads(move || shared.clone())
                }),
                Case::on_two_threads("tower-resilience/2-threads", "bare/2-threads", {
                    let shared = tower_resilience_bulkhead().layer(healthy());
                    two_threads(move || shared.clone())
                }),
            ],
        },
        Section {
            group: "compare/stack",
            title: "Whole stack: retry, breaker, bulkhead, timeout",
            in_runtime: true,
            cases: vec![
                Case::new("bare", "bare", single(healthy())),
                Case::new(
                    "seawall/preset",
                    "bare",
                    single(
                        ResilienceLayer::builder()
                            .timeout(TIMEOUT)
                            .build()
                            .expect("valid config")
                            .layer(healthy()),
                    ),
                ),
                Case::new(
                    "tower/built-ins",
                    "bare",
                    // tower has no breaker; retry, load shedding over a
                    // concurrency limit, timeout.
                    single(
                        ServiceBuilder::new()
                            .layer(tower::retry::RetryLayer::new(NoRetry))
                            .layer(tower::load_shed::LoadShedLayer::new())
                            .concurrency_limit(MAX_CONCURRENT)
                            .timeout(TIMEOUT)
                            .service(healthy()),
                    ),
                ),
                Case::new(
                    "tower-resilience",
                    "bare",
                    single(
                        ServiceBuilder::new()
                            .layer(tower_resilience_retry())
                            .layer(tower::layer::layer_fn(breakers::tower_resilience))
                            .layer(tower_resilience_bulkhead())
                            .layer(tower_resilience_timeout())
                            .service(healthy()),
                    ),
                ),
            ],
        },
    ]
}

/// Memory one breaker holds: its handle plus the heap it allocated, measured by
/// the counting allocator.
fn memory_rows() -> Vec<(String, i64)> {
    fn held<T>(build: impl FnOnce() -> T) -> (i64, T) {
        let (_, heap, value) = count_allocations(build);
        (heap + std::mem::size_of::<T>() as i64, value)
    }
    let mut rows = Vec::new();
    let (bytes, _breaker) = held(|| Breaker::new(breakers::seawall_config()));
    // As the breaker counts its stripes: one per core, a power of two, at most 16.
    let stripes = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .next_power_of_two()
        .min(16);
    let per_core = format!("{stripes} per-core stripes");
    rows.push((
        format!("seawall, count window of 100 calls ({per_core})"),
        bytes,
    ));
    let (bytes, _breaker) = held(|| {
        Breaker::new(
            BreakerConfig::builder()
                .time_window(Duration::from_secs(60), 60)
                .build()
                .expect("valid config"),
        )
    });
    rows.push((
        format!("seawall, time window of 60 s in 60 buckets ({per_core})"),
        bytes,
    ));
    let keyed = seawall::breaker::KeyedBreaker::<u64>::new(breakers::seawall_config(), 100_000)
        .expect("valid config");
    keyed.get(&0);
    const ENTRIES: u64 = 1_000;
    let (_, heap, ()) = count_allocations(|| {
        for key in 1..=ENTRIES {
            keyed.get(&key);
        }
    });
    rows.push((
        format!("seawall, one keyed-breaker entry (count window of 100, {per_core})"),
        heap / ENTRIES as i64,
    ));
    let (bytes, _breaker) = held(|| breakers::tower_resilience(()));
    rows.push((
        "tower-resilience, count-based (counts since the last transition)".to_owned(),
        bytes,
    ));
    let (bytes, _breaker) = held(|| breakers::failsafe(()));
    rows.push(("failsafe, 10 s success-rate window".to_owned(), bytes));
    let (bytes, _breaker) = held(|| breakers::recloser(()));
    rows.push(("recloser, ring of 100 calls".to_owned(), bytes));
    rows
}

fn main() {
    // The timeouts need a tokio timer to register with; it is never driven
    // because no call waits.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
    let mut criterion = Criterion::default().configure_from_args();
    let mut report = String::new();
    let sections = {
        let _entered = runtime.enter();
        sections()
    };
    for mut section in sections {
        let _entered = section.in_runtime.then(|| runtime.enter());
        let rows = bench_group(&mut criterion, section.group, &mut section.cases);
        if rows.is_empty() {
            continue;
        }
        println!("\n{}", section.title);
        print_rows(&rows);
        markdown_table(&mut report, section.title, &rows);
    }
    criterion.final_summary();
    if listing_or_testing() || report.is_empty() {
        return;
    }
    let _ = writeln!(report, "**Memory per breaker**\n");
    let _ = writeln!(report, "| breaker | bytes |");
    let _ = writeln!(report, "|---|---:|");
    println!("\nMemory per breaker");
    for (name, bytes) in memory_rows() {
        println!("{name:<60} {bytes:>9}");
        let _ = writeln!(report, "| {name} | {bytes} |");
    }
    match write_report("compare.md", &report) {
        Ok(path) => println!("\nwrote {}", path.display()),
        Err(err) => {
            eprintln!("compare: {err}");
            std::process::exit(1);
        }
    }
}
