//! The fallback's response future.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use pin_project_lite::pin_project;

use crate::classify::Classify;
use crate::error::BoxError;

use super::error::{FailedResponse, FallbackFailed};
use super::recover::Recovery;
use super::{Cause, Mark, Shared, SharedError};

pin_project! {
    /// The response future of [`FallbackService`](super::FallbackService).
    ///
    /// It runs the inner call and, if that fails in a covered way, the
    /// fallback. Dropping it drops whichever is running.
    #[derive(Debug)]
    pub struct ResponseFuture<F, V, G, C, M> {
        #[pin]
        state: State<F, V, G>,
        shared: Arc<Shared<C, M>>,
    }
}

pin_project! {
    #[project = StateProj]
    #[derive(Debug)]
    enum State<F, V, G> {
        Primary {
            #[pin]
            future: F,
            recovery: Option<V>,
        },
        Recovering {
            #[pin]
            future: G,
            original: Option<SharedError>,
            cause: Cause,
        },
    }
}

impl<F, V, G, C, M> ResponseFuture<F, V, G, C, M> {
    pub(crate) fn new(future: F, recovery: V, shared: Arc<Shared<C, M>>) -> Self {
        Self {
            state: State::Primary {
                future,
                recovery: Some(recovery),
            },
            shared,
        }
    }
}

impl<F, V, C, M, T, E> Future for ResponseFuture<F, V, V::Future, C, M>
where
    F: Future<Output = Result<T, E>>,
    E: Into<BoxError>,
    V: Recovery<Response = T>,
    C: Classify<T, E>,
    M: Mark<T>,
{
    type Output = Result<T, BoxError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        loop {
            let this = self.as_mut().project();
            let shared = &**this.shared;
            let next = match this.state.project() {
                StateProj::Primary { future, recovery } => {
                    let result = ready!(future.poll(cx));
                    let (original, cause): (SharedError, Cause) = match result {
                        Ok(_) if shared.on.covers_response(&result) => {
                            (Arc::new(FailedResponse::new()), Cause::Response)
                        }
                        Ok(response) => return Poll::Ready(Ok(response)),
                        Err(err) => {
                            let err: BoxError = err.into();
                            match shared.on.covers_error(&*err) {
                                Some(cause) => (Arc::from(err), cause),
                                None => return Poll::Ready(Err(err)),
                            }
                        }
                    };
                    let recovery = recovery.take().expect("polled after completion");
                    State::Recovering {
                        future: recovery.recover(original.clone()),
                        original: Some(original),
                        cause,
                    }
                }
                StateProj::Recovering {
                    future,
                    original,
                    cause,
                } => {
                    let result = ready!(future.poll(cx));
                    let original = original.take().expect("polled after completion");
                    return Poll::Ready(match result {
                        Ok(mut response) => {
                            shared.taken(*cause, &mut response);
                            Ok(response)
                        }
                        Err(err) => {
                            shared.failed(*cause);
                            Err(FallbackFailed::new(original, err).into())
                        }
                    });
                }
            };
            self.as_mut().project().state.set(next);
        }
    }
}
