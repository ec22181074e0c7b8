//! Helpers shared by the integration tests: a breaker over `tower-test`'s mock,
//! one-line scripted calls, and an event log.

#![allow(dead_code)] // Each test binary uses its own subset.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use seawall::breaker::error::BreakerOpen;
use seawall::breaker::{
    Breaker, BreakerConfigBuilder, BreakerEvent, BreakerLayer, BreakerService, State,
};
use seawall::classify::Outcome;
use seawall::BoxError;
use tokio_test::{assert_pending, assert_ready_err, assert_ready_ok};
use tower_test::mock::{self, Mock};

/// The request and response types of every mock.
pub type Req = &'static str;
pub type Rsp = &'static str;
pub type Handle = mock::Handle<Req, Rsp>;
pub type Service = mock::Spawn<BreakerService<Mock<Req, Rsp>>>;

/// The open wait of [`small`]: long enough that no test reaches it by accident.
pub const OPEN_WAIT: Duration = Duration::from_secs(10);

/// A small breaker config: the last 4 calls, all 4 needed, open at half of
/// them failing, a fixed 10 s open wait, 2 probes.
pub fn small() -> BreakerConfigBuilder {
    seawall::breaker::BreakerConfig::builder()
        .name("test")
        .count_window(4)
        .minimum_calls(4)
        .failure_rate_threshold(0.5)
        .open_wait(seawall::breaker::OpenWait::fixed(OPEN_WAIT))
        .permitted_calls_in_half_open(2)
}

/// A breaker built from `config` and a service over a fresh mock behind it.
pub fn service(config: BreakerConfigBuilder) -> (Service, Handle, Breaker) {
    let breaker = Breaker::new(config.build().expect("valid config"));
    let (svc, handle) = mock::spawn_layer(BreakerLayer::new(breaker.clone()));
    (svc, handle, breaker)
}

/// A call that has reached the mock and waits there for its answer.
pub struct InFlightCall {
    pub future:
        tokio_test::task::Spawn<<BreakerService<Mock<Req, Rsp>> as tower::Service<Req>>::Future>,
    pub respond: mock::SendResponse<Rsp>,
}

impl InFlightCall {
    /// Answers with a success and returns what the caller sees.
    pub fn succeed(mut self) {
        self.respond.send_response("ok");
        assert_eq!(assert_ready_ok!(self.future.poll()), "ok");
    }

    /// Answers with an error and checks the caller sees it.
    pub fn fail(mut self) {
        self.respond.send_error("boom");
        let err = assert_ready_err!(self.future.poll());
        assert_eq!(err.to_string(), "boom");
    }
}

/// Starts a call that the breaker admits, and takes it off the mock.
pub async fn start(svc: &mut Service, handle: &mut Handle) -> InFlightCall {
    assert_ready_ok!(svc.poll_ready());
    let mut future = tokio_test::task::spawn(svc.call("req"));
    assert_pending!(future.poll());
    let (request, respond) = handle
        .next_request()
        .await
        .expect("the admitted call reaches the inner service");
    assert_eq!(request, "req");
    InFlightCall { future, respond }
}

/// One successful call.
pub async fn succeed(svc: &mut Service, handle: &mut Handle) {
    start(svc, handle).await.succeed();
}

/// One failed call.
pub async fn fail(svc: &mut Service, handle: &mut Handle) {
    start(svc, handle).await.fail();
}

/// A call the breaker refuses: the service is ready at once, the call fails
/// fast with `BreakerOpen`, and nothing reaches the mock.
pub fn rejected(svc: &mut Service, handle: &mut Handle) -> BreakerOpen {
    assert_ready_ok!(svc.poll_ready());
    let mut future = tokio_test::task::spawn(svc.call("req"));
    let err = assert_ready_err!(future.poll());
    assert_pending!(
        handle.poll_request(),
        "a refused call never reaches the mock"
    );
    open_error(err)
}

/// The `BreakerOpen` inside `err`.
pub fn open_error(err: BoxError) -> BreakerOpen {
    assert_eq!(err.to_string(), "circuit breaker is open");
    *err.downcast::<BreakerOpen>()
        .expect("the error is a BreakerOpen")
}

/// Trips a [`small`]-shaped breaker (window of 4, half failing).
pub async fn trip(svc: &mut Service, handle: &mut Handle) {
    for _ in 0..4 {
        fail(svc, handle).await;
    }
}

/// An event, owned so it can be kept.
#[derive(Clone, Debug, PartialEq)]
pub enum Seen {
    Transition(State, State),
    Rejected(State, Option<Duration>),
    Recorded(Outcome, bool, Option<Duration>),
    WrongName(String),
}

/// Registers a listener on `breaker` that keeps every event.
pub fn events(breaker: &Breaker) -> Arc<Mutex<Vec<Seen>>> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let expected = breaker.name().to_owned();
    breaker.on_event(move |event: &BreakerEvent<'_>| {
        // A listener's panic is swallowed by the breaker, so a wrong name is
        // logged as an event of its own rather than asserted here.
        let (from, owned) = match *event {
            BreakerEvent::StateTransition { name, from, to } => (name, Seen::Transition(from, to)),
            BreakerEvent::Rejected {
                name,
                state,
                retry_after,
            } => (name, Seen::Rejected(state, retry_after)),
            BreakerEvent::CallRecorded {
                name,
                outcome,
                slow,
                duration,
            } => (name, Seen::Recorded(outcome, slow, duration)),
            _ => return,
        };
        let owned = if from == expected {
            owned
        } else {
            Seen::WrongName(from.to_owned())
        };
        log.lock().unwrap().push(owned);
    });
    seen
}

/// Takes the events seen so far.
pub fn drain(seen: &Mutex<Vec<Seen>>) -> Vec<Seen> {
    std::mem::take(&mut *seen.lock().unwrap())
}

/// Advances the paused clock and lets spawned timers run.
pub async fn advance(by: Duration) {
    tokio::time::advance(by).await;
    for _ in 0..8 {
        tokio::task::yield_now().await;
    }
}

pub const MS: Duration = Duration::from_millis(1);
