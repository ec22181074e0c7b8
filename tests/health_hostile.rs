//! The health endpoints under attack: probe floods, secrets in check errors,
//! components that panic, handles registered over and over, and transitions
//! that must not run user code inside the request that caused them.
#![cfg(not(loom))]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use http::{Request, StatusCode};
use http_body_util::BodyExt;
use seawall::breaker::{Breaker, BreakerConfig, State};
use seawall::bulkhead::{Bulkhead, BulkheadConfig};
use seawall::health::{
    Check, Component, ComponentFuture, Criticality, Details, HealthRegistry, HealthService, Status,
};
use tower::ServiceExt;

// ------------------------------------------------------------ counting allocator

struct Counting;

thread_local! {
    // Const-initialised and without destructors, so reading them never allocates.
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
    /// Bytes allocated minus bytes freed on this thread while counting.
    static LIVE_BYTES: Cell<i64> = const { Cell::new(0) };
}

fn counting() -> bool {
    COUNTING.try_with(Cell::get).unwrap_or(false)
}

fn note_allocation(bytes: usize) {
    if counting() {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        note_bytes(bytes as i64);
    }
}

fn note_bytes(bytes: i64) {
    if counting() {
        let _ = LIVE_BYTES.try_with(|n| n.set(n.get() + bytes));
    }
}

// SAFETY: every method forwards its arguments unchanged to `System`; counting
// only touches the thread-locals above, which never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note_allocation(layout.size());
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note_allocation(layout.size());
        // SAFETY: as in `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note_allocation(new_size);
        note_bytes(-(layout.size() as i64));
        // SAFETY: `ptr` came from `System` with `layout`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        note_bytes(-(layout.size() as i64));
        // SAFETY: `ptr` came from `System` with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

// --------------------------------------------------------------- shared setup

const SECRET: &str = "password=hunter2 at db.internal:5432";

fn breaker(name: &'static str) -> Breaker {
    Breaker::new(
        BreakerConfig::builder()
            .name(name)
            .count_window(4)
            .minimum_calls(4)
            .build()
            .unwrap(),
    )
}

fn started() -> HealthRegistry {
    let health = HealthRegistry::new();
    health.mark_started();
    health
}

async fn get(service: &HealthService, path: &str, accept: &str) -> (StatusCode, String) {
    let request = Request::get(path)
        .header("accept", accept)
        .body(())
        .unwrap();
    let response = service.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

/// A custom component that counts how often each of its methods is called,
/// and may panic in either.
struct Counted {
    name: &'static str,
    statuses: Arc<AtomicUsize>,
    checks: Arc<AtomicUsize>,
    panic_in_status: bool,
    panic_in_check: bool,
    interval: Option<Duration>,
}

impl Counted {
    fn new(name: &'static str) -> Self {
        Self {
            name,
            statuses: Arc::new(AtomicUsize::new(0)),
            checks: Arc::new(AtomicUsize::new(0)),
            panic_in_status: false,
            panic_in_check: false,
            interval: None,
        }
    }
}

impl Component for Counted {
    fn name(&self) -> &str {
        self.name
    }
    fn status(&self) -> Option<Status> {
        self.statuses.fetch_add(1, Ordering::SeqCst);
        if self.panic_in_status {
            panic!("status says {SECRET}");
        }
        Some(Status::Up)
    }
    fn check(&self) -> ComponentFuture<'_> {
        self.checks.fetch_add(1, Ordering::SeqCst);
        let panics = self.panic_in_check;
        Box::pin(async move {
            if panics {
                panic!("check says {SECRET}");
            }
            Details::new(Status::Up)
        })
    }
    fn check_interval(&self) -> Option<Duration> {
        self.interval
    }
}

/// Counts the panics `f` causes on any thread, without printing them. The
/// panic hook is the process's: tests that count take turns.
async fn counting_panics<F: std::future::Future>(f: F) -> (F::Output, usize) {
    static HOOK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let _turn = HOOK.lock().await;
    let panics = Arc::new(AtomicUsize::new(0));
    let seen = panics.clone();
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |_| {
        seen.fetch_add(1, Ordering::SeqCst);
    }));
    let output = f.await;
    std::panic::set_hook(previous);
    (output, panics.load(Ordering::SeqCst))
}

// ----------------------------------------------------------------- details

#[tokio::test(start_paused = true)]
async fn no_endpoint_shows_an_error_text_unless_details_are_turned_on() {
    let health = started();
    health.register_check(
        Check::new("db", || async { Err::<(), _>(SECRET) }),
        Criticality::critical(),
    );
    let public = HealthService::new(health.clone());
    for path in ["/health", "/readyz", "/livez", "/", "/ops/health"] {
        for accept in ["*/*", "text/html", "application/json"] {
            let (_, body) = get(&public, path, accept).await;
            assert!(!body.contains("hunter2"), "{path} {accept}: {body}");
            assert!(!body.contains("db"), "{path} {accept} names a component");
        }
    }
    let (status, body) = get(&public, "/health", "*/*").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        body,
        r#"{"status":"down","live":true,"ready":false,"lifecycle":"serving"}"#
    );

    // Turned on, the operator gets the error text: their decision.
    let admin = HealthService::new(health).details(true);
    let (_, body) = get(&admin, "/health", "*/*").await;
    assert!(body.contains("hunter2"));
}

// ------------------------------------------------------------------ floods

/// Five components of every sort, as a service might register them.
struct Five {
    health: HealthRegistry,
    breakers: Vec<Breaker>,
    bulkhead: Bulkhead,
    custom_checks: Arc<AtomicUsize>,
    custom_statuses: Arc<AtomicUsize>,
    check_runs: Arc<AtomicUsize>,
}

fn five() -> Five {
    let health = started();
    let breakers = vec![breaker("a"), breaker("b")];
    for b in &breakers {
        health.register_breaker(b, Criticality::critical());
    }
    let bulkhead = Bulkhead::new(
        BulkheadConfig::builder()
            .name("pool")
            .max_concurrent_calls(1)
            .build()
            .unwrap(),
    );
    health.register_bulkhead(&bulkhead, Criticality::non_critical());
    let custom = Counted::new("custom");
    let (custom_checks, custom_statuses) = (custom.checks.clone(), custom.statuses.clone());
    health.register(custom, Criticality::critical());
    let check_runs = Arc::new(AtomicUsize::new(0));
    let runs = check_runs.clone();
    health.register_check(
        Check::new("db", move || {
            runs.fetch_add(1, Ordering::SeqCst);
            async { Ok::<_, std::io::Error>(()) }
        }),
        Criticality::critical(),
    );
    Five {
        health,
        breakers,
        bulkhead,
        custom_checks,
        custom_statuses,
        check_runs,
    }
}

#[tokio::test(start_paused = true)]
async fn a_readyz_flood_runs_each_check_once_per_interval_and_no_report() {
    let five = five();
    let service = HealthService::new(five.health.clone());
    let statuses_before = five.custom_statuses.load(Ordering::SeqCst);
    // 5,000 probes over 5 virtual seconds.
    for second in 0..5 {
        for _ in 0..1_000 {
            let (status, _) = get(&service, "/readyz", "*/*").await;
            assert_eq!(status, StatusCode::OK);
        }
        assert_eq!(
            five.check_runs.load(Ordering::SeqCst),
            second + 1,
            "one run per min_interval (1 s), not one per probe"
        );
        tokio::time::advance(Duration::from_secs(1)).await;
    }
    // Before: 25,000 `check` calls, each in a task of its own.
    assert_eq!(
        five.custom_checks.load(Ordering::SeqCst),
        0,
        "no report was built"
    );
    // `status` is read by the refresh after each due run, not by each probe.
    let statuses = five.custom_statuses.load(Ordering::SeqCst) - statuses_before;
    assert!(statuses <= 5, "{statuses} status calls for 5,000 probes");
    drop((five.breakers, five.bulkhead));
}

#[tokio::test(start_paused = true)]
async fn readyz_follows_breakers_and_bulkheads_without_a_report() {
    let five = five();
    let service = HealthService::new(five.health.clone());
    assert_eq!(get(&service, "/readyz", "*/*").await.0, StatusCode::OK);

    // A breaker tripped by real calls.
    for _ in 0..4 {
        five.breakers[0].try_acquire().unwrap().failure();
    }
    assert_eq!(five.breakers[0].state(), State::Open);
    let (status, body) = get(&service, "/readyz", "*/*").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(body.contains(r#""status":"down""#));
    five.breakers[0].reset();

    // A bulkhead fills up and frees again: it announces neither, yet probes see both.
    let slot = five.bulkhead.try_acquire().unwrap();
    let (status, body) = get(&service, "/readyz", "*/*").await;
    assert_eq!(status, StatusCode::OK, "a full bulkhead only degrades");
    assert!(body.contains(r#""status":"degraded""#), "{body}");
    drop(slot);
    let (_, body) = get(&service, "/readyz", "*/*").await;
    assert!(body.contains(r#""status":"up""#), "{body}");
    assert_eq!(five.custom_checks.load(Ordering::SeqCst), 0);
}

#[tokio::test(start_paused = true)]
async fn a_readyz_probe_allocates_no_more_than_twice_a_livez_probe() {
    let five = five();
    let service = HealthService::new(five.health.clone());
    // Warm up: the shared bodies, the checks' first run, lazily made locals.
    for path in ["/livez", "/readyz", "/health"] {
        get(&service, path, "*/*").await;
    }
    let counted = |path: &'static str| {
        let service = service.clone();
        async move {
            ALLOCATIONS.with(|n| n.set(0));
            COUNTING.with(|c| c.set(true));
            for _ in 0..1_000 {
                let request = Request::get(path).body(()).unwrap();
                let response = service.clone().oneshot(request).await.unwrap();
                assert!(response.status().is_success());
                drop(response);
            }
            COUNTING.with(|c| c.set(false));
            ALLOCATIONS.with(Cell::get)
        }
    };
    let livez = counted("/livez").await;
    let readyz = counted("/readyz").await;
    let health = counted("/health").await;
    println!("allocations per 1,000 probes: livez {livez}, readyz {readyz}, health {health}");
    assert!(livez > 0, "the counter counts");
    assert!(readyz <= 2 * livez, "readyz {readyz} vs livez {livez}");
    assert!(
        health <= 2 * livez,
        "health without details {health} vs livez {livez}"
    );
}

// ---------------------------------------------------------------- panics

#[tokio::test(start_paused = true)]
async fn a_panicking_component_is_down_once_and_left_alone_for_a_while() {
    let health = started();
    let mut exploding = Counted::new("exploding");
    exploding.panic_in_check = true;
    exploding.interval = Some(Duration::from_secs(1));
    let checks = exploding.checks.clone();
    health.register(exploding, Criticality::critical());
    let readyz = HealthService::new(health.clone());
    let admin = HealthService::new(health.clone()).details(true);

    let ((), panics) = counting_panics(async {
        for _ in 0..2_500 {
            let (status, _) = get(&readyz, "/readyz", "*/*").await;
            assert_eq!(
                status,
                StatusCode::OK,
                "a panicking check leaves the summary as it was"
            );
            let (status, body) = get(&admin, "/health", "*/*").await;
            assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
            assert!(body.contains("health check panicked"));
        }
    })
    .await;
    // Before: 5,000 panics, each printed with its message.
    assert_eq!(panics, 1);
    assert_eq!(checks.load(Ordering::SeqCst), 1);

    // Its next chance comes 30 s later.
    tokio::time::advance(Duration::from_secs(31)).await;
    let ((), panics) = counting_panics(async {
        for _ in 0..100 {
            get(&admin, "/health", "*/*").await;
        }
    })
    .await;
    assert_eq!((panics, checks.load(Ordering::SeqCst)), (1, 2));
}

#[tokio::test(start_paused = true)]
async fn a_panicking_status_is_asked_again_only_after_a_pause() {
    let health = started();
    let mut broken = Counted::new("broken");
    broken.panic_in_status = true;
    let statuses = broken.statuses.clone();
    let ((), panics) = counting_panics(async {
        health.register(broken, Criticality::critical());
        for _ in 0..1_000 {
            health.refresh();
            assert!(!health.summary().ready, "a panicking status counts as down");
        }
    })
    .await;
    assert_eq!((panics, statuses.load(Ordering::SeqCst)), (1, 1));
    tokio::time::advance(Duration::from_secs(31)).await;
    let ((), panics) = counting_panics(async { health.refresh() }).await;
    assert_eq!((panics, statuses.load(Ordering::SeqCst)), (1, 2));
}

// ------------------------------------------------------- the request path

/// A component whose `status` records which thread called it, and blocks if
/// asked to: user code that must not run inside someone else's request.
struct Watching {
    calls: Arc<AtomicUsize>,
}

impl Component for Watching {
    fn name(&self) -> &str {
        "watching"
    }
    fn status(&self) -> Option<Status> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        Some(Status::Up)
    }
    fn check(&self) -> ComponentFuture<'_> {
        Box::pin(std::future::ready(Details::new(Status::Up)))
    }
}

#[tokio::test(start_paused = true)]
async fn a_breaker_tripping_inside_a_request_runs_no_component_code_there() {
    let payments = breaker("payments");
    let health = started();
    health.register_breaker(&payments, Criticality::critical());
    let calls = Arc::new(AtomicUsize::new(0));
    health.register(
        Watching {
            calls: calls.clone(),
        },
        Criticality::non_critical(),
    );
    let mut summaries = health.subscribe();
    summaries.borrow_and_update();
    let before = calls.load(Ordering::SeqCst);

    // The request that trips the breaker: its failure is recorded, the breaker
    // opens, and no component's `status` runs on this call.
    for _ in 0..4 {
        payments.try_acquire().unwrap().failure();
    }
    assert_eq!(payments.state(), State::Open);
    assert_eq!(
        calls.load(Ordering::SeqCst),
        before,
        "no user code in the request"
    );

    // The refresh comes by itself, in a task of its own.
    summaries.changed().await.unwrap();
    assert!(!summaries.borrow_and_update().ready);
    assert_eq!(calls.load(Ordering::SeqCst), before + 1);
}

#[test]
fn outside_a_runtime_a_transition_leaves_the_refresh_to_the_next_read() {
    let payments = breaker("payments");
    let health = started();
    health.register_breaker(&payments, Criticality::critical());
    let calls = Arc::new(AtomicUsize::new(0));
    health.register(
        Watching {
            calls: calls.clone(),
        },
        Criticality::non_critical(),
    );
    let before = calls.load(Ordering::SeqCst);
    std::thread::scope(|scope| {
        scope.spawn(|| payments.force_open());
    });
    assert_eq!(calls.load(Ordering::SeqCst), before);
    assert!(!health.summary().ready, "the read brings it up to date");
    assert_eq!(calls.load(Ordering::SeqCst), before + 1);
}

// ------------------------------------------------------- re-registration

/// Bytes still held, on this thread, after `f` ran.
fn bytes_kept_by(f: impl FnOnce()) -> i64 {
    LIVE_BYTES.with(|n| n.set(0));
    COUNTING.with(|c| c.set(true));
    f();
    COUNTING.with(|c| c.set(false));
    LIVE_BYTES.with(Cell::get)
}

#[tokio::test(start_paused = true)]
async fn registering_the_same_handles_again_keeps_no_memory() {
    let payments = breaker("payments");
    let pool = Bulkhead::new(BulkheadConfig::builder().name("pool").build().unwrap());
    let health = started();
    health.register_breaker(&payments, Criticality::critical());
    health.register_bulkhead(&pool, Criticality::non_critical());
    // Before: every registration added a listener (a node and a closure) that
    // no one could remove, about 100 bytes each.
    let kept = bytes_kept_by(|| {
        for _ in 0..10_000 {
            health.register_breaker(&payments, Criticality::critical());
            health.register_bulkhead(&pool, Criticality::non_critical());
        }
    });
    assert!(kept < 4_096, "{kept} bytes kept by 20,000 registrations");
    assert_eq!(health.summary().components.len(), 2);

    // The one listener still works, and a registry that is gone leaves a new
    // one free to listen.
    let mut summaries = health.subscribe();
    summaries.borrow_and_update();
    payments.force_open();
    summaries.changed().await.unwrap();
    assert!(!summaries.borrow_and_update().ready);
    drop((health, summaries));
    payments.reset();
    let again = started();
    again.register_breaker(&payments, Criticality::critical());
    let mut summaries = again.subscribe();
    summaries.borrow_and_update();
    payments.force_open();
    summaries.changed().await.unwrap();
    assert!(!summaries.borrow().ready);
}
