//! What the layer benches share: a dependency that answers at once, and the
//! loops that drive a service the way tower does, on one thread or two.

use std::future::{ready, Future, Ready};
use std::hint::black_box;
use std::pin::pin;
use std::sync::Barrier;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures::task::noop_waker_ref;
use tower::Service;

/// An in-process dependency that answers at once. (The breaker bench has its
/// own, which also fails on request.)
#[allow(dead_code)]
#[derive(Clone, Copy)]
pub struct Dependency;

impl Service<u64> for Dependency {
    type Response = u64;
    type Error = std::convert::Infallible;
    type Future = Ready<Result<u64, Self::Error>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: u64) -> Self::Future {
        ready(Ok(request))
    }
}

/// One call the way tower makes it: ready, call, poll. Returns whether it
/// succeeded.
#[inline(always)]
pub fn drive<S: Service<u64>>(service: &mut S, cx: &mut Context<'_>, request: u64) -> bool {
    match service.poll_ready(cx) {
        Poll::Ready(Ok(())) => {}
        Poll::Ready(Err(_)) => return false,
        Poll::Pending => unreachable!("the bench services are always ready"),
    }
    let future = pin!(service.call(black_box(request)));
    match future.poll(cx) {
        Poll::Ready(result) => black_box(result.is_ok()),
        Poll::Pending => unreachable!("the bench futures are ready at once"),
    }
}

/// `iters` calls on `service`, the way tower makes them.
pub fn run<S: Service<u64>>(service: &mut S, iters: u64) {
    let mut cx = Context::from_waker(noop_waker_ref());
    for i in 0..iters {
        drive(service, &mut cx, i);
    }
}

/// Runs `iters` calls on each of two threads at once, one service each, and
/// returns the time the measuring thread saw.
pub fn run_two_threads<S: Service<u64> + Send>(
    make: &(dyn Fn() -> S + Sync),
    iters: u64,
) -> Duration {
    let barrier = Barrier::new(2);
    let mut own = make();
    let mut other = make();
    std::thread::scope(|scope| {
        let barrier = &barrier;
        scope.spawn(move || {
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
