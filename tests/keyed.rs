//! Keyed breakers and bulkheads under hostile keys: what a caller who picks
//! the keys (a Host header, a tenant id) cannot do to the service they
//! protect.
//!
//! - wash out an open breaker with new keys, so that requests reach the dead
//!   dependency again;
//! - evict a busy bulkhead, so that its key runs more calls than its cap;
//! - grow the metrics recorder, or the heap, with distinct keys.
//!
//! Every test is bounded (virtual time, at most a few hundred thousand keys).
//! The long flood runs on demand:
//! `cargo test --release --all-features --test keyed -- --ignored`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use metrics_util::debugging::{DebuggingRecorder, Snapshotter};
use seawall::breaker::{BreakerConfig, KeyedBreaker, KeyedBreakerLayer, State};
use seawall::bulkhead::{BulkheadConfig, KeyedBulkhead, KeyedBulkheadLayer};
use seawall::{BoxError, ErrorKind};
use tower::{service_fn, Layer, Service, ServiceExt};

// ---------------------------------------------------------------------------
// A counting allocator: live heap bytes allocated minus freed on this thread.
// ---------------------------------------------------------------------------

struct Counting;

thread_local! {
    // Const-initialised and without destructors, so reading them never allocates.
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static LIVE: Cell<i64> = const { Cell::new(0) };
}

fn note(bytes: i64) {
    // `try_with`: the allocator may run while this thread's locals are torn down.
    if COUNTING.try_with(Cell::get).unwrap_or(false) {
        let _ = LIVE.try_with(|live| live.set(live.get() + bytes));
    }
}

// SAFETY: every method forwards its arguments unchanged to `System`, so the
// memory it hands out and takes back is `System`'s, with `System`'s guarantees.
// Counting only touches the thread-locals above, which never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size() as i64);
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract, which `System` needs.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout.size() as i64);
        // SAFETY: as in `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size as i64 - layout.size() as i64);
        // SAFETY: `ptr` came from this allocator, hence from `System`, with `layout`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        note(-(layout.size() as i64));
        // SAFETY: `ptr` came from this allocator, hence from `System`, with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// The heap this thread still holds from what `f` allocated.
fn heap_kept_by<T>(f: impl FnOnce() -> T) -> (i64, T) {
    LIVE.with(|live| live.set(0));
    COUNTING.with(|counting| counting.set(true));
    let value = f();
    COUNTING.with(|counting| counting.set(false));
    (LIVE.with(Cell::get), value)
}

#[test]
fn the_counter_sees_heap_kept_and_freed() {
    // Control: without this the heap tests below could not fail.
    let (kept, boxed) = heap_kept_by(|| Box::new([0u8; 1000]));
    assert_eq!(kept, 1000);
    let (freed, ()) = heap_kept_by(|| drop(boxed));
    assert_eq!(freed, -1000);
}

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

fn trips_after_four_failures() -> BreakerConfig {
    BreakerConfig::builder()
        .name("hosts")
        .count_window(4)
        .minimum_calls(4)
        .open_wait(seawall::breaker::OpenWait::fixed(Duration::from_secs(60)))
        .build()
        .unwrap()
}

type Calls = Arc<Mutex<HashMap<String, u64>>>;

/// A dependency that counts the calls reaching it per host and fails every
/// call to a host starting with "dead".
fn dependency(
    calls: Calls,
) -> impl Service<String, Response = (), Error = BoxError, Future: Send> + Clone {
    service_fn(move |host: String| {
        *calls.lock().unwrap().entry(host.clone()).or_default() += 1;
        async move {
            if host.starts_with("dead") {
                Err::<(), BoxError>("connection refused".into())
            } else {
                Ok(())
            }
        }
    })
}

fn calls_to(calls: &Calls, host: &str) -> u64 {
    calls.lock().unwrap().get(host).copied().unwrap_or(0)
}

// ---------------------------------------------------------------------------
// Open breakers are never washed out
// ---------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn an_open_breaker_survives_any_number_of_new_keys() {
    let breakers: KeyedBreaker<String> =
        KeyedBreaker::new(trips_after_four_failures(), 1024).unwrap();
    let calls = Calls::default();
    let mut service = KeyedBreakerLayer::new(breakers.clone(), |host: &String| host.clone())
        .layer(dependency(calls.clone()));
    for _ in 0..4 {
        let _ = service
            .ready()
            .await
            .unwrap()
            .call("dead.example".into())
            .await;
    }
    assert_eq!(
        breakers.peek(&"dead.example".into()).unwrap().state(),
        State::Open
    );
    // Far more new keys than the capacity pass through the same service.
    for key in 0..20_000 {
        let host = format!("{key}.example");
        service.ready().await.unwrap().call(host).await.unwrap();
    }
    assert!(breakers.len() <= 1024);
    for _ in 0..100 {
        let refused = service
            .ready()
            .await
            .unwrap()
            .call("dead.example".into())
            .await;
        assert_eq!(
            ErrorKind::of(&*refused.unwrap_err()),
            ErrorKind::BreakerOpen
        );
    }
    assert_eq!(
        calls_to(&calls, "dead.example"),
        4,
        "none of the 100 reached it"
    );
}

#[tokio::test(start_paused = true)]
async fn an_open_breaker_whose_wait_is_over_may_make_room() {
    let breakers: KeyedBreaker<String> =
        KeyedBreaker::new(trips_after_four_failures(), 64).unwrap();
    let dead = breakers.get(&"dead.example".into());
    for _ in 0..4 {
        dead.try_acquire().unwrap().failure();
    }
    assert_eq!(dead.state(), State::Open);
    for key in 0..1_000 {
        breakers.get(&format!("{key}.example"));
    }
    assert!(breakers.peek(&"dead.example".into()).is_some());
    tokio::time::advance(Duration::from_secs(61)).await;
    for key in 1_000..2_000 {
        breakers.get(&format!("{key}.example"));
    }
    assert!(
        breakers.peek(&"dead.example".into()).is_none(),
        "past its wait it protects nothing until called, and may go"
    );
}

#[tokio::test(start_paused = true)]
async fn half_open_and_forced_open_breakers_are_kept() {
    let breakers: KeyedBreaker<String> =
        KeyedBreaker::new(trips_after_four_failures(), 64).unwrap();
    let probing = breakers.get(&"probing.example".into());
    for _ in 0..4 {
        probing.try_acquire().unwrap().failure();
    }
    tokio::time::advance(Duration::from_secs(61)).await;
    let probe = probing.try_acquire().unwrap();
    assert_eq!(probing.state(), State::HalfOpen);
    breakers.get(&"held.example".into()).force_open();
    for key in 0..5_000 {
        breakers.get(&format!("{key}.example"));
    }
    assert_eq!(
        breakers.peek(&"probing.example".into()).unwrap().state(),
        State::HalfOpen
    );
    assert_eq!(
        breakers.peek(&"held.example".into()).unwrap().state(),
        State::ForcedOpen
    );
    probe.success();
}

#[tokio::test(start_paused = true)]
async fn when_every_breaker_is_open_new_keys_share_the_overflow_breaker() {
    let breakers: KeyedBreaker<String> = KeyedBreaker::new(trips_after_four_failures(), 8).unwrap();
    for key in 0..8 {
        breakers.get(&format!("dead{key}.example")).force_open();
    }
    let calls = Calls::default();
    let mut service = KeyedBreakerLayer::new(breakers.clone(), |host: &String| host.clone())
        .layer(dependency(calls.clone()));
    // New dead hosts trip the one overflow breaker, not a fresh breaker each.
    for key in 0..100 {
        let _ = service
            .ready()
            .await
            .unwrap()
            .call(format!("dead-new{key}.example"))
            .await;
    }
    assert_eq!(breakers.overflow().state(), State::Open);
    assert_eq!(breakers.overflow().name(), "hosts/overflow");
    let reached: u64 = (0..100)
        .map(|key| calls_to(&calls, &format!("dead-new{key}.example")))
        .sum();
    assert_eq!(reached, 4, "the overflow breaker opened after its window");
    assert_eq!(breakers.len(), 8);
    for key in 0..8 {
        assert_eq!(
            breakers
                .peek(&format!("dead{key}.example"))
                .unwrap()
                .state(),
            State::ForcedOpen
        );
    }
}

// ---------------------------------------------------------------------------
// Busy bulkheads are never evicted
// ---------------------------------------------------------------------------

/// A dependency whose calls never finish; it counts the calls to each tenant
/// in flight (a call leaves when its future is dropped).
#[derive(Clone, Default)]
struct Stuck {
    in_flight: Arc<Mutex<HashMap<String, u64>>>,
}

struct InFlight {
    tenant: String,
    in_flight: Arc<Mutex<HashMap<String, u64>>>,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        *self
            .in_flight
            .lock()
            .unwrap()
            .get_mut(&self.tenant)
            .unwrap() -= 1;
    }
}

impl Service<String> for Stuck {
    type Response = ();
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<(), BoxError>> + Send>>;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), BoxError>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, tenant: String) -> Self::Future {
        *self
            .in_flight
            .lock()
            .unwrap()
            .entry(tenant.clone())
            .or_default() += 1;
        let guard = InFlight {
            tenant,
            in_flight: self.in_flight.clone(),
        };
        Box::pin(async move {
            let _guard = guard;
            std::future::pending::<()>().await;
            Ok(())
        })
    }
}

impl Stuck {
    fn in_flight(&self, tenant: &str) -> u64 {
        self.in_flight
            .lock()
            .unwrap()
            .get(tenant)
            .copied()
            .unwrap_or(0)
    }

    fn total(&self) -> u64 {
        self.in_flight.lock().unwrap().values().sum()
    }
}

/// The attack that pushed a victim to 12 calls in flight against a cap of 2:
/// a tenant keeps one call in flight on each of `capacity` keys, cycle after
/// cycle, while the victim keeps trying to add calls.
async fn hold_one_call_on_every_key(capacity: usize) {
    let config = BulkheadConfig::builder()
        .name("tenants")
        .max_concurrent_calls(2)
        .build()
        .unwrap();
    let bulkheads: KeyedBulkhead<String> = KeyedBulkhead::new(config, capacity).unwrap();
    let stuck = Stuck::default();
    let mut service = KeyedBulkheadLayer::new(bulkheads.clone(), |tenant: &String| tenant.clone())
        .layer(stuck.clone());
    let mut call = |tenant: String| {
        let future = service.call(tenant);
        // Pending forever when admitted; a refusal is ready at once.
        let mut future = Box::pin(future);
        let waker = futures::task::noop_waker();
        let refused = future
            .as_mut()
            .poll(&mut std::task::Context::from_waker(&waker))
            .is_ready();
        (future, refused)
    };
    let mut victim = Vec::new();
    for _ in 0..2 {
        let (future, refused) = call("victim".into());
        assert!(!refused);
        victim.push(future);
    }
    let mut previous_cycle = Vec::new();
    for cycle in 0..5 {
        let mut held = Vec::new();
        for key in 0..capacity {
            held.push(call(format!("attacker-{cycle}-{key}")).0);
        }
        // Calls held on overflowing keys share the overflow's cap of 2.
        drop(std::mem::replace(&mut previous_cycle, held));
        for _ in 0..2 {
            let (extra, refused) = call("victim".into());
            assert!(
                refused,
                "cycle {cycle}: the victim's bulkhead is still full"
            );
            drop(extra);
        }
        assert_eq!(
            stuck.in_flight("victim"),
            2,
            "cycle {cycle}: never past the cap"
        );
        assert!(stuck.total() <= 2 * capacity as u64 + 2);
        assert!(bulkheads.len() <= capacity);
    }
}

#[tokio::test(start_paused = true)]
async fn a_victims_busy_bulkhead_is_never_evicted_one_shard() {
    hold_one_call_on_every_key(64).await;
}

#[tokio::test(start_paused = true)]
async fn a_victims_busy_bulkhead_is_never_evicted_many_shards() {
    hold_one_call_on_every_key(1_024).await;
}

// ---------------------------------------------------------------------------
// Metric series and heap stay bounded
// ---------------------------------------------------------------------------

fn series(snapshotter: &Snapshotter) -> usize {
    snapshotter.snapshot().into_vec().len()
}

/// Runs `keys` distinct keys through `use_key` with a recorder installed,
/// after the first `capacity` keys (which fill the map) and a warm-up; gives
/// the series registered, the heap kept beyond the warm-up, and the heap per
/// entry the first `capacity` keys kept.
fn flood<H>(
    keys: u64,
    capacity: u64,
    make: impl FnOnce() -> H,
    use_key: impl Fn(&H, u64),
) -> (usize, i64, i64) {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, || {
        let handle = make();
        let (filled, ()) = heap_kept_by(|| {
            for key in 0..capacity {
                use_key(&handle, key);
            }
        });
        // Warm: the recorder's and the labels' tables grown to their size.
        let warm = (2 * capacity).max(2_000);
        for key in capacity..warm {
            use_key(&handle, key);
        }
        let (grown, ()) = heap_kept_by(|| {
            for key in warm..keys {
                use_key(&handle, key);
            }
        });
        (series(&snapshotter), grown, filled / capacity as i64)
    })
}

/// Each key's breaker made (which registers its series), and a call recorded
/// on every tenth, every other one of those a failure.
fn call_breaker(breakers: &KeyedBreaker<u64>, key: u64) {
    let breaker = breakers.get(&key);
    if key.is_multiple_of(10) {
        let permit = breaker.try_acquire().unwrap();
        if key.is_multiple_of(20) {
            permit.success();
        } else {
            permit.failure();
        }
    }
    if key.is_multiple_of(10_000) {
        assert!(breakers.len() <= 1_024);
    }
}

/// A slot taken and given back on each key's bulkhead.
fn call_bulkhead(bulkheads: &KeyedBulkhead<u64>, key: u64) {
    drop(bulkheads.get(&key).try_acquire().unwrap());
    if key.is_multiple_of(10_000) {
        assert!(bulkheads.len() <= 1_024);
    }
}

#[test]
fn two_hundred_thousand_keys_register_a_bounded_number_of_series_and_keep_no_heap() {
    let make = || KeyedBreaker::new(BreakerConfig::default(), 1_024).unwrap();
    let (series, grown, per_entry) = flood(200_000, 1_024, make, call_breaker);
    // Five outcomes, rejections, and the overflow breaker's own handles.
    assert!(series <= 20, "{series} series");
    assert!(
        grown <= 1 << 20,
        "the heap grew by {grown} bytes after the map was full"
    );
    assert!(per_entry < 3_000, "{per_entry} bytes per key");
}

#[test]
fn breaker_labels_per_key_stop_at_a_thousand_keys() {
    let make = || KeyedBreaker::with_key_labels(BreakerConfig::default(), 1_024).unwrap();
    // A hundred times the labels' limit (the long flood runs millions).
    let (series, grown, _) = flood(100_000, 1_024, make, call_breaker);
    // At most 1,000 labelled keys, `other` and `overflow`, 9 series each at most.
    assert!(series <= 1_002 * 9, "{series} series");
    assert!(
        series > 1_000,
        "{series} series: labels per key were asked for"
    );
    assert!(
        grown <= 1 << 20,
        "the heap grew by {grown} bytes after the map was full"
    );
}

#[test]
fn bulkheads_register_a_bounded_number_of_series_and_keep_no_heap() {
    let make = || KeyedBulkhead::new(BulkheadConfig::default(), 1_024).unwrap();
    let (series, grown, _) = flood(50_000, 1_024, make, call_bulkhead);
    assert!(series <= 6, "{series} series");
    assert!(
        grown <= 1 << 20,
        "the heap grew by {grown} bytes after the map was full"
    );
    let make = || KeyedBulkhead::with_key_labels(BulkheadConfig::default(), 1_024).unwrap();
    let (series, grown, _) = flood(50_000, 1_024, make, call_bulkhead);
    assert!((1_000..=1_002 * 3).contains(&series), "{series} series");
    assert!(
        grown <= 1 << 20,
        "the heap grew by {grown} bytes after the map was full"
    );
}

#[test]
#[ignore = "the long flood: run with --release -- --ignored"]
fn a_long_flood_of_distinct_keys_keeps_series_and_heap_bounded() {
    const KEYS: u64 = 5_000_000;
    let capacity = 1_024;
    let (series, grown, per_entry) = flood(
        KEYS,
        capacity,
        || KeyedBreaker::new(BreakerConfig::default(), 1_024).unwrap(),
        call_breaker,
    );
    println!("breakers: {series} series, heap grown {grown} bytes after the map was full, {per_entry} bytes per key");
    assert!(series <= 20 && grown <= 1 << 20);
    let (series, grown, _) = flood(
        KEYS,
        capacity,
        || KeyedBreaker::with_key_labels(BreakerConfig::default(), 1_024).unwrap(),
        call_breaker,
    );
    println!("breakers labelled per key: {series} series, heap grown {grown} bytes");
    assert!(series <= 1_002 * 9 && grown <= 1 << 20);
    let (series, grown, per_entry) = flood(
        KEYS,
        capacity,
        || KeyedBulkhead::with_key_labels(BulkheadConfig::default(), 1_024).unwrap(),
        call_bulkhead,
    );
    println!("bulkheads labelled per key: {series} series, heap grown {grown} bytes, {per_entry} bytes per key");
    assert!(series <= 1_002 * 3 && grown <= 1 << 20);
}

// ---------------------------------------------------------------------------
// Steady keys beside churning threads
// ---------------------------------------------------------------------------

#[test]
fn steady_keys_keep_their_components_while_other_threads_churn() {
    let breakers: KeyedBreaker<u64> = KeyedBreaker::new(BreakerConfig::default(), 4_096).unwrap();
    let steady: Vec<_> = (0..64).map(|key| breakers.get(&key)).collect();
    for breaker in &steady {
        breaker.force_open();
    }
    std::thread::scope(|scope| {
        for thread in 0..2u64 {
            let breakers = &breakers;
            scope.spawn(move || {
                for key in 0..50_000 {
                    breakers.get(&(1_000_000 * (thread + 1) + key));
                }
            });
        }
        for _ in 0..100 {
            for (key, breaker) in steady.iter().enumerate() {
                assert_eq!(breakers.get(&(key as u64)).state(), breaker.state());
            }
        }
    });
    assert!(breakers.len() <= 4_096);
    for key in 0..64 {
        assert_eq!(breakers.peek(&key).unwrap().state(), State::ForcedOpen);
    }
}
