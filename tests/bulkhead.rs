//! The bulkhead: the cap, failing fast, the bounded wait, and slots that come
//! back however a call ends.

#![cfg(feature = "bulkhead")]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use seawall::bulkhead::{Bulkhead, BulkheadConfig, BulkheadEvent, BulkheadLayer, BulkheadService};
use seawall::classify::{Classify, FailOnError, Outcome};
use seawall::{BoxError, ConfigError, ErrorKind};
use tokio_test::{assert_pending, assert_ready, assert_ready_ok};
use tower::{Layer, Service, ServiceExt};
use tower_test::mock;

type Mock = mock::Mock<&'static str, &'static str>;
type Handle = mock::Handle<&'static str, &'static str>;

fn bulkhead(max: u32) -> Bulkhead {
    Bulkhead::new(
        BulkheadConfig::builder()
            .name("test")
            .max_concurrent_calls(max)
            .build()
            .unwrap(),
    )
}

fn waiting_bulkhead(max: u32, waiters: u32, wait: Duration) -> Bulkhead {
    Bulkhead::new(
        BulkheadConfig::builder()
            .name("test")
            .max_concurrent_calls(max)
            .wait_for_slot(waiters, wait)
            .build()
            .unwrap(),
    )
}

fn service(bulkhead: &Bulkhead) -> (BulkheadService<Mock>, Handle) {
    let (inner, handle) = mock::pair();
    (BulkheadLayer::new(bulkhead.clone()).layer(inner), handle)
}

fn kind_of(result: Result<&'static str, BoxError>) -> ErrorKind {
    ErrorKind::of(&*result.expect_err("expected an error"))
}

#[test]
fn builder_rejects_out_of_range_values() {
    let zero = BulkheadConfig::builder().max_concurrent_calls(0).build();
    assert_eq!(zero.unwrap_err().field(), "max_concurrent_calls");
    let no_waiters = BulkheadConfig::builder()
        .wait_for_slot(0, Duration::from_secs(1))
        .build();
    assert_eq!(no_waiters.unwrap_err().field(), "wait_for_slot.max_waiting");
    let no_wait: Result<_, ConfigError> = BulkheadConfig::builder()
        .wait_for_slot(4, Duration::ZERO)
        .build();
    assert_eq!(no_wait.unwrap_err().field(), "wait_for_slot.max_wait");
    let config = BulkheadConfig::default();
    assert_eq!(
        (config.max_concurrent_calls(), config.max_waiting()),
        (25, 0)
    );
}

#[tokio::test(start_paused = true)]
async fn cap_is_shared_by_clones_and_a_full_bulkhead_fails_fast() {
    let bulkhead = bulkhead(2);
    let (service, mut handle) = service(&bulkhead);
    let mut a = mock::Spawn::new(service.clone());
    let mut b = mock::Spawn::new(service.clone());
    let mut c = mock::Spawn::new(service);

    assert_ready_ok!(a.poll_ready());
    assert_ready_ok!(b.poll_ready());
    assert_eq!(bulkhead.in_flight(), 2, "slots are taken in poll_ready");
    // The third clone is ready at once: it will be refused without touching the inner service.
    assert_ready_ok!(c.poll_ready());
    let mut refused = tokio_test::task::spawn(c.call("c"));
    assert_eq!(
        kind_of(assert_ready!(refused.poll())),
        ErrorKind::BulkheadFull
    );
    assert_eq!(bulkhead.rejected(), 1);

    let mut fa = tokio_test::task::spawn(a.call("a"));
    let mut fb = tokio_test::task::spawn(b.call("b"));
    let (request, reply) = handle.next_request().await.unwrap();
    assert_eq!(request, "a");
    let (request, _reply_b) = handle.next_request().await.unwrap();
    assert_eq!(request, "b");
    assert!(
        handle.poll_request().is_pending(),
        "the refused call never reached the inner service"
    );

    reply.send_response("ok");
    assert_eq!(assert_ready_ok!(fa.poll()), "ok");
    assert_eq!(bulkhead.in_flight(), 1);
    assert_pending!(fb.poll());

    // The freed slot is available to the clone that was refused.
    assert_ready_ok!(c.poll_ready());
    assert_eq!(bulkhead.in_flight(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_slot_is_held_while_the_inner_service_is_not_ready() {
    let bulkhead = bulkhead(1);
    let (service, mut handle) = service(&bulkhead);
    let mut a = mock::Spawn::new(service.clone());
    let mut b = mock::Spawn::new(service);
    handle.allow(0);

    assert_pending!(a.poll_ready());
    assert_eq!(bulkhead.in_flight(), 1);
    assert_ready_ok!(b.poll_ready());
    let result = b.call("b").await;
    assert_eq!(kind_of(result), ErrorKind::BulkheadFull);

    // Dropping a service that holds a reservation gives the slot back.
    drop(a);
    assert_eq!(bulkhead.in_flight(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_slot_is_given_back_when_the_inner_service_fails_to_get_ready() {
    let bulkhead = bulkhead(1);
    let (service, mut handle) = service(&bulkhead);
    let mut service = mock::Spawn::new(service);
    handle.send_error("connection pool closed");
    let err = assert_ready!(service.poll_ready()).unwrap_err();
    assert_eq!(err.to_string(), "connection pool closed");
    assert_eq!(bulkhead.in_flight(), 0);
}

#[tokio::test(start_paused = true)]
async fn bounded_wait_runs_out_with_bulkhead_full_and_a_full_queue_refuses_at_once() {
    let bulkhead = waiting_bulkhead(1, 1, Duration::from_millis(100));
    let (service, _handle) = service(&bulkhead);
    let mut holder = mock::Spawn::new(service.clone());
    let mut waiter = mock::Spawn::new(service.clone());
    let mut third = mock::Spawn::new(service);

    assert_ready_ok!(holder.poll_ready());
    assert_pending!(waiter.poll_ready());
    assert_eq!(bulkhead.waiting(), 1);

    // The queue holds one waiter: the next caller is refused without waiting.
    assert_ready_ok!(third.poll_ready());
    assert_eq!(kind_of(third.call("third").await), ErrorKind::BulkheadFull);

    tokio::time::advance(Duration::from_millis(99)).await;
    assert!(!waiter.is_woken());
    assert_pending!(waiter.poll_ready());
    tokio::time::advance(Duration::from_millis(1)).await;
    assert!(waiter.is_woken(), "the wait's timer wakes the waiter");
    assert_ready_ok!(waiter.poll_ready());
    assert_eq!(
        kind_of(waiter.call("waiter").await),
        ErrorKind::BulkheadFull
    );
    assert_eq!(bulkhead.waiting(), 0);
    assert_eq!(bulkhead.in_flight(), 1);
    assert_eq!(bulkhead.rejected(), 2);
}

#[tokio::test(start_paused = true)]
async fn freed_slots_go_to_waiters_in_arrival_order() {
    let bulkhead = waiting_bulkhead(1, 8, Duration::from_secs(10));
    let (service, mut handle) = service(&bulkhead);
    let mut holder = mock::Spawn::new(service.clone());
    let mut first = mock::Spawn::new(service.clone());
    let mut second = mock::Spawn::new(service);

    assert_ready_ok!(holder.poll_ready());
    assert_pending!(first.poll_ready());
    assert_pending!(second.poll_ready());
    // Not even a caller that does not wait jumps the queue.
    assert!(bulkhead.try_acquire().is_err());

    let call = holder.call("holder");
    let (_, reply) = handle.next_request().await.unwrap();
    reply.send_response("done");
    assert_eq!(call.await.unwrap(), "done");

    assert!(first.is_woken(), "the first waiter is handed the slot");
    assert!(!second.is_woken());
    assert_ready_ok!(first.poll_ready());
    assert_pending!(second.poll_ready());
    assert_eq!(bulkhead.in_flight(), 1);

    let call = first.call("first");
    let (_, reply) = handle.next_request().await.unwrap();
    reply.send_error("boom");
    assert!(call.await.is_err());
    assert!(second.is_woken());
    assert_ready_ok!(second.poll_ready());
    assert_eq!(bulkhead.rejected(), 1);
}

#[tokio::test(start_paused = true)]
async fn slot_is_released_on_success_error_and_cancellation() {
    let bulkhead = bulkhead(1);
    let (service, mut handle) = service(&bulkhead);
    let mut service = mock::Spawn::new(service);

    assert_ready_ok!(service.poll_ready());
    let call = service.call("ok");
    let (_, reply) = handle.next_request().await.unwrap();
    reply.send_response("fine");
    assert_eq!(call.await.unwrap(), "fine");
    assert_eq!(bulkhead.in_flight(), 0, "released on success");

    assert_ready_ok!(service.poll_ready());
    let call = service.call("err");
    let (_, reply) = handle.next_request().await.unwrap();
    reply.send_error("broken");
    assert_eq!(kind_of(call.await), ErrorKind::Other);
    assert_eq!(bulkhead.in_flight(), 0, "released on error");

    assert_ready_ok!(service.poll_ready());
    let mut call = tokio_test::task::spawn(service.call("cancelled"));
    assert_pending!(call.poll());
    assert_eq!(bulkhead.in_flight(), 1);
    drop(call);
    assert_eq!(bulkhead.in_flight(), 0, "released on cancellation");
    assert_eq!(bulkhead.rejected(), 0);
}

#[tokio::test(start_paused = true)]
async fn slot_is_released_when_the_inner_future_panics() {
    let bulkhead = bulkhead(1);
    let panicking = tower::service_fn(|fail: bool| async move {
        if fail {
            panic!("the inner service panicked");
        }
        Ok::<_, std::io::Error>("ok")
    });
    let service = BulkheadLayer::new(bulkhead.clone()).layer(panicking);

    // Caught by the runtime: the task's future is dropped while unwinding.
    let mut spawned = service.clone();
    let joined = tokio::spawn(async move { spawned.ready().await?.call(true).await }).await;
    assert!(joined.unwrap_err().is_panic());
    assert_eq!(
        bulkhead.in_flight(),
        0,
        "released by a panic in a spawned task"
    );

    // Caught in place.
    let mut service = service;
    let call = service.ready().await.unwrap().call(true);
    let caught = futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(call)).await;
    assert!(caught.is_err());
    assert_eq!(bulkhead.in_flight(), 0, "released by a caught panic");
    assert_eq!(
        service.ready().await.unwrap().call(false).await.unwrap(),
        "ok"
    );
}

#[tokio::test(start_paused = true)]
async fn a_dropped_waiter_leaves_the_queue_and_passes_on_a_slot_it_was_handed() {
    let bulkhead = waiting_bulkhead(1, 4, Duration::from_secs(1));
    let held = bulkhead.try_acquire().unwrap();

    let mut gone = tokio_test::task::spawn(bulkhead.acquire());
    assert_pending!(gone.poll());
    drop(gone);
    assert_eq!(bulkhead.waiting(), 0, "a dropped waiter leaves the queue");

    let mut first = tokio_test::task::spawn(bulkhead.acquire());
    let mut second = tokio_test::task::spawn(bulkhead.acquire());
    assert_pending!(first.poll());
    assert_pending!(second.poll());
    drop(held);
    assert!(first.is_woken());
    // The first waiter was handed the slot but is dropped before taking it up.
    drop(first);
    assert!(second.is_woken());
    let permit = assert_ready_ok!(second.poll());
    assert_eq!(bulkhead.in_flight(), 1);
    drop(permit);
    assert_eq!(bulkhead.in_flight(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_slot_handed_over_as_the_wait_runs_out_is_taken_not_wasted() {
    let bulkhead = waiting_bulkhead(1, 1, Duration::from_millis(10));
    let held = bulkhead.try_acquire().unwrap();
    let mut waiter = tokio_test::task::spawn(bulkhead.acquire());
    assert_pending!(waiter.poll());
    tokio::time::advance(Duration::from_millis(10)).await;
    drop(held);
    let _permit = assert_ready_ok!(waiter.poll());
    assert_eq!(bulkhead.in_flight(), 1);
    assert_eq!(bulkhead.rejected(), 0);
}

#[tokio::test(start_paused = true)]
async fn events_report_refusals_and_waits() {
    let bulkhead = waiting_bulkhead(1, 1, Duration::from_millis(50));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    bulkhead.on_event(move |event: &BulkheadEvent<'_>| {
        let line = match event {
            BulkheadEvent::Rejected { name } => format!("rejected {name}"),
            BulkheadEvent::Waited {
                name,
                waited,
                acquired,
            } => format!("waited {name} {waited:?} {acquired}"),
            other => format!("{other:?}"),
        };
        log.lock().unwrap().push(line);
    });
    let held = bulkhead.try_acquire().unwrap();
    let mut waiter = tokio_test::task::spawn(bulkhead.acquire());
    assert_pending!(waiter.poll());
    tokio::time::advance(Duration::from_millis(20)).await;
    drop(held);
    let permit = assert_ready_ok!(waiter.poll());
    assert!(bulkhead.try_acquire().is_err());
    drop(permit);
    assert_eq!(
        *seen.lock().unwrap(),
        vec![
            "waited test 20ms true".to_string(),
            "rejected test".to_string()
        ]
    );
}

#[test]
fn metrics_are_recorded_with_the_name_label() {
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};

    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, || {
        let bulkhead = bulkhead(1);
        let permit = bulkhead.try_acquire().unwrap();
        assert!(bulkhead.try_acquire().is_err());
        assert!(bulkhead.try_acquire().is_err());
        let _still_held = permit;
        let values: Vec<(String, String, DebugValue)> = snapshotter
            .snapshot()
            .into_vec()
            .into_iter()
            .map(|(key, _, _, value)| {
                let key = key.key();
                let label = key
                    .labels()
                    .map(|l| format!("{}={}", l.key(), l.value()))
                    .collect::<Vec<_>>()
                    .join(",");
                (key.name().to_string(), label, value)
            })
            .collect();
        assert!(values.contains(&(
            "seawall_bulkhead_rejections_total".into(),
            "name=test".into(),
            DebugValue::Counter(2)
        )));
        assert!(values.contains(&(
            "seawall_bulkhead_in_flight".into(),
            "name=test".into(),
            DebugValue::Gauge(1.0.into())
        )));
    });
}

#[test]
fn the_default_classifier_ignores_a_full_bulkhead() {
    let full: Result<(), BoxError> = Err(seawall::bulkhead::error::BulkheadFull::new().into());
    assert_eq!(FailOnError.classify(&full), Outcome::Ignored);
    let other: Result<(), BoxError> = Err("down".into());
    assert_eq!(FailOnError.classify(&other), Outcome::Failure);
}

#[test]
fn the_cap_holds_across_threads() {
    let bulkhead = bulkhead(3);
    let holding = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    std::thread::scope(|scope| {
        for _ in 0..4 {
            let (bulkhead, holding, most) = (bulkhead.clone(), holding.clone(), most.clone());
            scope.spawn(move || {
                for _ in 0..20_000 {
                    if let Ok(permit) = bulkhead.try_acquire() {
                        let now = holding.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(now, Ordering::SeqCst);
                        holding.fetch_sub(1, Ordering::SeqCst);
                        drop(permit);
                    }
                }
            });
        }
    });
    assert!(most.load(Ordering::SeqCst) <= 3);
    assert_eq!(bulkhead.in_flight(), 0);
}

mod model {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Any sequence of takes and gives agrees with a plain count: a take
        /// succeeds exactly when fewer than `max` are held.
        #[test]
        fn counter_matches_a_plain_count(
            max in 1u32..6,
            ops in proptest::collection::vec(any::<(bool, u8)>(), 0..200),
        ) {
            let bulkhead = bulkhead(max);
            let mut held = Vec::new();
            let mut refused = 0u64;
            for (take, which) in ops {
                if take {
                    let expected = held.len() < max as usize;
                    match bulkhead.try_acquire() {
                        Ok(permit) => { prop_assert!(expected); held.push(permit); }
                        Err(_) => { prop_assert!(!expected); refused += 1; }
                    }
                } else if !held.is_empty() {
                    let index = which as usize % held.len();
                    drop(held.swap_remove(index));
                }
                prop_assert_eq!(bulkhead.in_flight() as usize, held.len());
            }
            prop_assert_eq!(bulkhead.rejected(), refused);
        }

        /// Takes, waits, gives and cancellations against a model with a FIFO
        /// queue: every caller gets a slot exactly when the model says, in
        /// arrival order, and no slot is ever lost or doubled.
        #[test]
        fn wait_queue_matches_a_fifo_model(
            max in 1u32..4,
            max_waiting in 1u32..4,
            ops in proptest::collection::vec((0u8..4, any::<u8>()), 0..120),
        ) {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .start_paused(true)
                .build()
                .unwrap();
            let _context = runtime.enter();
            let bulkhead = waiting_bulkhead(max, max_waiting, Duration::from_secs(3600));
            // The model: slots held, and the queue of waiter ids.
            let mut held = Vec::new();
            let mut queue: std::collections::VecDeque<usize> = Default::default();
            let mut waiters = std::collections::HashMap::new();
            let mut next_id = 0usize;
            for (op, pick) in ops {
                match op {
                    // A caller that does not wait.
                    0 => {
                        let expected = queue.is_empty() && held.len() < max as usize;
                        let result = bulkhead.try_acquire();
                        prop_assert_eq!(result.is_ok(), expected);
                        if let Ok(permit) = result { held.push(permit); }
                    }
                    // A caller that waits.
                    1 => {
                        let mut acquire = tokio_test::task::spawn(bulkhead.acquire());
                        let free = queue.is_empty() && held.len() < max as usize;
                        match acquire.poll() {
                            std::task::Poll::Ready(Ok(permit)) => { prop_assert!(free); held.push(permit); }
                            std::task::Poll::Ready(Err(_)) => {
                                prop_assert!(!free && queue.len() >= max_waiting as usize);
                            }
                            std::task::Poll::Pending => {
                                prop_assert!(!free && queue.len() < max_waiting as usize);
                                queue.push_back(next_id);
                                waiters.insert(next_id, acquire);
                                next_id += 1;
                            }
                        }
                    }
                    // A holder finishes: the slot goes to the first waiter.
                    2 if !held.is_empty() => {
                        let index = pick as usize % held.len();
                        drop(held.swap_remove(index));
                        if let Some(first) = queue.pop_front() {
                            let mut acquire = waiters.remove(&first).unwrap();
                            prop_assert!(acquire.is_woken());
                            match acquire.poll() {
                                std::task::Poll::Ready(Ok(permit)) => held.push(permit),
                                other => prop_assert!(false, "the first waiter got {:?}", other.map(|r| r.is_ok())),
                            }
                        }
                    }
                    // A waiter gives up.
                    3 if !queue.is_empty() => {
                        let id = queue.remove(pick as usize % queue.len()).unwrap();
                        drop(waiters.remove(&id));
                    }
                    _ => {}
                }
                for id in &queue {
                    prop_assert!(waiters.get_mut(id).unwrap().poll().is_pending(), "waiter {} jumped the queue", id);
                }
                prop_assert_eq!(bulkhead.in_flight() as usize, held.len());
                prop_assert_eq!(bulkhead.waiting() as usize, queue.len());
            }
        }
    }
}

mod keyed {
    use super::*;
    use seawall::bulkhead::{KeyedBulkhead, KeyedBulkheadLayer};

    fn one_slot_each(capacity: usize) -> KeyedBulkhead<&'static str> {
        let config = BulkheadConfig::builder()
            .name("tenants")
            .max_concurrent_calls(1)
            .build()
            .unwrap();
        KeyedBulkhead::new(config, capacity).unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn each_key_has_its_own_cap() {
        let bulkheads = one_slot_each(16);
        let (inner, mut handle) = mock::pair::<&'static str, &'static str>();
        let mut service = mock::Spawn::new(
            KeyedBulkheadLayer::new(bulkheads.clone(), |tenant: &&'static str| *tenant)
                .layer(inner),
        );

        assert_ready_ok!(service.poll_ready());
        let mut a1 = tokio_test::task::spawn(service.call("a"));
        assert_pending!(a1.poll());
        assert_ready_ok!(service.poll_ready());
        let mut a2 = tokio_test::task::spawn(service.call("a"));
        assert_eq!(kind_of(assert_ready!(a2.poll())), ErrorKind::BulkheadFull);
        assert_ready_ok!(service.poll_ready());
        let b1 = service.call("b");

        let (first, reply_a) = handle.next_request().await.unwrap();
        let (second, reply_b) = handle.next_request().await.unwrap();
        assert_eq!(
            (first, second),
            ("a", "b"),
            "the refused call never reached the inner service"
        );
        reply_b.send_response("b done");
        assert_eq!(b1.await.unwrap(), "b done");
        reply_a.send_response("a done");
        assert_eq!(assert_ready_ok!(a1.poll()), "a done");

        let a = bulkheads.peek(&"a").unwrap();
        assert_eq!((a.name(), a.in_flight(), a.rejected()), ("tenants", 0, 1));
    }

    #[test]
    fn a_new_key_evicts_the_least_recently_used_idle_bulkhead() {
        let bulkheads = one_slot_each(2);
        let _busy = bulkheads.get(&"a").try_acquire().unwrap();
        bulkheads.get(&"b");
        bulkheads.get(&"c");
        assert_eq!(bulkheads.len(), 2);
        assert!(bulkheads.peek(&"a").is_some(), "a busy bulkhead is kept");
        assert!(bulkheads.peek(&"b").is_none(), "the idle one went");

        // All busy: nothing goes, and d shares the overflow bulkhead.
        let _also_busy = bulkheads.get(&"c").try_acquire().unwrap();
        let d = bulkheads.get(&"d");
        assert_eq!(d.name(), "tenants/overflow");
        assert_eq!(bulkheads.len(), 2);
        assert!(bulkheads.peek(&"a").is_some() && bulkheads.peek(&"d").is_none());
        assert!(KeyedBulkhead::<String>::new(BulkheadConfig::default(), 0).is_err());
    }

    #[test]
    fn idle_bulkheads_go_in_order_of_last_use_and_peek_is_no_use() {
        let bulkheads = one_slot_each(3);
        for tenant in ["a", "b", "c"] {
            bulkheads.get(&tenant);
        }
        bulkheads.get(&"a");
        assert!(bulkheads.peek(&"b").is_some());
        bulkheads.get(&"d");
        assert!(
            bulkheads.peek(&"b").is_none(),
            "b was the least recently used"
        );
        bulkheads.get(&"e");
        assert!(bulkheads.peek(&"c").is_none());
        assert!(bulkheads.peek(&"a").is_some() && bulkheads.peek(&"d").is_some());
        assert_eq!(bulkheads.len(), 3);
    }

    #[test]
    fn a_busy_bulkhead_is_protected_only_while_it_is_busy() {
        let bulkheads = one_slot_each(2);
        let busy = bulkheads.get(&"a").try_acquire().unwrap();
        bulkheads.get(&"b");
        // a is passed over (and counts as used then); b goes.
        bulkheads.get(&"c");
        assert!(bulkheads.peek(&"a").is_some());
        assert!(bulkheads.peek(&"b").is_none());
        // Its call done, a is idle and the least recently used: it goes next.
        drop(busy);
        bulkheads.get(&"d");
        assert!(bulkheads.peek(&"a").is_none());
        assert!(bulkheads.peek(&"c").is_some());
    }

    #[test]
    fn a_busy_bulkhead_is_never_evicted_so_its_key_never_exceeds_its_cap() {
        let bulkheads = one_slot_each(1);
        let a = bulkheads.get(&"a");
        let held = a.try_acquire().unwrap();
        let b = bulkheads.get(&"b"); // every kept bulkhead is busy: b overflows
        assert_eq!(b.name(), bulkheads.overflow().name());
        let overflowing = b.try_acquire().unwrap();
        assert!(
            bulkheads.get(&"c").try_acquire().is_err(),
            "overflowing keys share one cap"
        );
        assert!(
            bulkheads.get(&"a").try_acquire().is_err(),
            "a keeps its cap"
        );
        assert_eq!(bulkheads.get(&"a").in_flight(), 1);
        drop((held, overflowing));
        assert_eq!(bulkheads.get(&"b").in_flight(), 0, "b has its own now");
        assert!(bulkheads.peek(&"a").is_none());
    }
}
