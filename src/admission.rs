//! The response future of a layer that admits or refuses each call.
//!
//! A breaker, a bulkhead and a rate limiter all decide in `poll_ready`
//! whether a call may go ahead, and their response futures all come in the
//! same two kinds: a refusal that fails at its first poll without the inner
//! service ever seeing the request, or the inner service's future together
//! with something that must be told when that future finishes (a permit that
//! records the outcome, a slot that is given back). [`AdmissionFuture`] is
//! that shape, written once; each layer wraps it in its own public
//! `ResponseFuture` and supplies a [`CallGuard`] for what its admitted calls
//! hold.
//!
//! # Adopting it
//!
//! A layer whose guard only has to be released when the call ends (the
//! bulkhead's slot) implements [`CallGuard`] for a small wrapper, releasing
//! in `finish` rather than waiting for the future to be dropped:
//!
//! ```ignore
//! struct Slot(Option<BulkheadPermit>);
//!
//! impl<T, E> CallGuard<T, E> for Slot {
//!     fn finish(&mut self, _: &Result<T, E>) {
//!         // Give the slot back now, not when the caller drops the future.
//!         drop(self.0.take());
//!     }
//! }
//!
//! pin_project! {
//!     pub struct ResponseFuture<F> {
//!         #[pin]
//!         inner: AdmissionFuture<F, Slot, BulkheadFull>,
//!     }
//! }
//! // `call`: AdmissionFuture::admitted(inner.call(request), Slot(Some(permit)))
//! //      or AdmissionFuture::refused(BulkheadFull::new())
//! ```
//!
//! The breaker's guard records the classified outcome through `&mut` in
//! place: see `breaker::future`.
//!
//! # Cost
//!
//! Nothing beyond what a hand-written enum costs: the two kinds are the two
//! variants of one pin-projected enum, the guard is stored inline, and
//! `poll` is `#[inline]`, so a layer's closed path compiles to what it did
//! with its own future.

use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use pin_project_lite::pin_project;

use crate::error::BoxError;

/// What an admitted call holds until its inner future finishes.
///
/// `finish` is called once, with the inner future's result, as soon as that
/// future is ready (before the result is handed to the caller). A future
/// dropped before it finishes never calls it: the guard's own `Drop` is then
/// what runs, so a guard must make a dropped call harmless (a permit counts
/// it as ignored, a slot is given back).
pub(crate) trait CallGuard<T, E> {
    /// The call finished with `result`.
    fn finish(&mut self, result: &Result<T, E>);
}

pin_project! {
    /// Either a refusal carrying its error, or an admitted call: the inner
    /// future `F` and the guard `G` it must finish.
    ///
    /// The output is the inner future's, with both its error and the
    /// refusal `R` boxed.
    ///
    /// # Panics
    ///
    /// When polled again after it completed with a refusal (an admitted call
    /// polls its inner future again, which decides).
    #[project = AdmissionProj]
    #[derive(Debug)]
    pub(crate) enum AdmissionFuture<F, G, R> {
        /// Refused: fails at the first poll. `None` once the error is taken.
        Refused { error: Option<R> },
        /// Admitted: runs `future`, then finishes `guard` with its result.
        Admitted {
            #[pin]
            future: F,
            // Finished in place through `&mut`, not taken out of an `Option`: a
            // guard written just before (in `call`) and copied out whole right away
            // is read back with wider loads than it was stored with, which stalls.
            guard: G,
        },
    }
}

impl<F, G, R> AdmissionFuture<F, G, R> {
    /// A call refused with `error`; the inner service never sees it.
    #[inline]
    pub(crate) fn refused(error: R) -> Self {
        Self::Refused { error: Some(error) }
    }

    /// A call admitted: `future` runs, and `guard` is finished with its result.
    #[inline]
    pub(crate) fn admitted(future: F, guard: G) -> Self {
        Self::Admitted { future, guard }
    }
}

impl<F, G, R, T, E> Future for AdmissionFuture<F, G, R>
where
    F: Future<Output = Result<T, E>>,
    G: CallGuard<T, E>,
    E: Into<BoxError>,
    R: Into<BoxError>,
{
    type Output = Result<T, BoxError>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            AdmissionProj::Refused { error } => {
                let error = error.take().expect("polled after completion");
                Poll::Ready(Err(error.into()))
            }
            AdmissionProj::Admitted { future, guard } => {
                let result = ready!(future.poll(cx));
                guard.finish(&result);
                Poll::Ready(result.map_err(Into::into))
            }
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use std::future::{ready, Future};
    use std::pin::pin;
    use std::task::{Context, Poll};

    use futures::task::noop_waker_ref;

    use super::{AdmissionFuture, CallGuard};
    use crate::error::BoxError;

    /// Counts how it ended: finished with an `Ok`, with an `Err`, or dropped.
    #[derive(Debug, Default)]
    struct Log {
        ok: u32,
        err: u32,
    }

    #[derive(Debug)]
    struct Guard<'a>(&'a std::cell::RefCell<Log>);

    impl CallGuard<u8, &'static str> for Guard<'_> {
        fn finish(&mut self, result: &Result<u8, &'static str>) {
            let mut log = self.0.borrow_mut();
            match result {
                Ok(_) => log.ok += 1,
                Err(_) => log.err += 1,
            }
        }
    }

    #[derive(Debug)]
    struct Refusal;

    impl std::fmt::Display for Refusal {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("refused")
        }
    }

    impl std::error::Error for Refusal {}

    fn poll_once<F: Future>(future: F) -> Poll<F::Output> {
        let mut cx = Context::from_waker(noop_waker_ref());
        pin!(future).poll(&mut cx)
    }

    #[test]
    fn a_refusal_fails_with_its_error_and_never_polls_a_call() {
        let future: AdmissionFuture<std::future::Ready<Result<u8, &str>>, Guard<'_>, Refusal> =
            AdmissionFuture::refused(Refusal);
        let Poll::Ready(Err(err)) = poll_once(future) else {
            panic!("a refusal is ready at once, with an error");
        };
        let err: BoxError = err;
        assert!(err.is::<Refusal>());
    }

    #[test]
    fn an_admitted_call_finishes_its_guard_with_the_result() {
        let log = std::cell::RefCell::new(Log::default());
        let ok = AdmissionFuture::<_, _, Refusal>::admitted(ready(Ok(7)), Guard(&log));
        assert!(matches!(poll_once(ok), Poll::Ready(Ok(7))));
        let err = AdmissionFuture::<_, _, Refusal>::admitted(ready(Err("boom")), Guard(&log));
        let Poll::Ready(Err(err)) = poll_once(err) else {
            panic!("the inner error comes through");
        };
        assert_eq!(err.to_string(), "boom");
        assert_eq!((log.borrow().ok, log.borrow().err), (1, 1));
    }

    #[test]
    fn a_call_dropped_before_it_finishes_does_not_finish_its_guard() {
        let log = std::cell::RefCell::new(Log::default());
        let pending = AdmissionFuture::<_, _, Refusal>::admitted(
            std::future::pending::<Result<u8, &str>>(),
            Guard(&log),
        );
        assert!(poll_once(pending).is_pending());
        assert_eq!((log.borrow().ok, log.borrow().err), (0, 0));
    }
}
