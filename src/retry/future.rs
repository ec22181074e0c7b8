//! The retry layer's response future.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use pin_project_lite::pin_project;
use tokio::time::Sleep;
use tower_service::Service;

use crate::error::BoxError;

use super::clone::CloneRequest;
use super::policy::RetryPolicy;
use super::retry_state::MaybeRetryState;

pin_project! {
    /// The response future of [`RetryService`](super::RetryService).
    ///
    /// # Cancel safety
    ///
    /// Dropping it drops the attempt in flight (or the wait before the next
    /// one) and the copy of the request kept for retries.
    ///
    /// ```
    /// use seawall::retry::{future::ResponseFuture, RetryConfig, RetryService};
    /// use tower::{Service, ServiceExt, service_fn};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), seawall::BoxError> {
    /// let inner = service_fn(|x: u32| async move { Ok::<_, std::io::Error>(x) });
    /// let mut retry = RetryService::new(inner, RetryConfig::default());
    /// let future: ResponseFuture<_, u32, _, _> = retry.ready().await?.call(3);
    /// assert_eq!(future.await?, 3);
    /// # Ok(())
    /// # }
    /// ```
    pub struct ResponseFuture<S, Request, P, C>
    where
        C: CloneRequest<Request>,
        S: Service<C::Output>,
    {
        #[pin]
        state: State<S::Future>,
        // Boxed, and only for a request that can be retried (one with a copy):
        // the future of every other request stays as small as its first
        // attempt's, which each layer outside it moves when it wraps it.
        retry_state: MaybeRetryState<S, C::Output, P, C>,
    }
}

/// The span an attempt runs in (see `RetryConfigBuilder::attempt_spans`), boxed
/// so that it adds one pointer to the future. Without the `tracing` feature
/// there is none: the state holding one cannot be made. (`pin_project!` keeps
/// no `#[cfg]` on a variant, hence a type instead.)
#[cfg(feature = "tracing")]
type AttemptSpan = Box<tracing::Span>;
#[cfg(not(feature = "tracing"))]
type AttemptSpan = std::convert::Infallible;

pin_project! {
    #[project = StateProj]
    enum State<F> {
        Called { #[pin] future: F },
        // An attempt run in its own span (`RetryConfigBuilder::attempt_spans`).
        CalledInSpan { #[pin] future: F, span: AttemptSpan },
        // Boxed: only requests that retry pay for a timer.
        Waiting { sleep: Pin<Box<Sleep>> },
        Readying,
        Done,
    }
}

impl<S, Request, P, C> ResponseFuture<S, Request, P, C>
where
    C: CloneRequest<Request>,
    S: Service<C::Output>,
{
    /// The future of a request whose first attempt is `first`; with a
    /// `retry_state` when it can be retried.
    pub(crate) fn new(first: S::Future, retry_state: MaybeRetryState<S, C::Output, P, C>) -> Self {
        Self {
            state: State::Called { future: first },
            retry_state,
        }
    }

    /// As [`new`](Self::new), the first attempt running in `span`.
    #[cfg(feature = "tracing")]
    pub(crate) fn in_span(
        first: S::Future,
        retry_state: MaybeRetryState<S, C::Output, P, C>,
        span: Box<tracing::Span>,
    ) -> Self {
        Self {
            state: State::CalledInSpan {
                future: first,
                span,
            },
            retry_state,
        }
    }
}

impl<S, Request, P, C> Future for ResponseFuture<S, Request, P, C>
where
    C: CloneRequest<Request>,
    S: Service<C::Output>,
    S::Error: Into<BoxError> + 'static,
    P: RetryPolicy<C::Output, S::Response, S::Error>,
{
    type Output = Result<S::Response, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            let result = match this.state.as_mut().project() {
                StateProj::Called { future } => ready!(future.poll(cx)),
                StateProj::CalledInSpan { future, span } => {
                    #[cfg(feature = "tracing")]
                    let _entered = span.enter();
                    #[cfg(not(feature = "tracing"))]
                    let _ = span;
                    ready!(future.poll(cx))
                }
                StateProj::Waiting { sleep } => {
                    ready!(sleep.as_mut().poll(cx));
                    this.state.set(State::Readying);
                    continue;
                }
                StateProj::Readying => {
                    let retry = this
                        .retry_state
                        .as_mut()
                        .expect("only a request that can be retried waits for a retry");
                    match ready!(retry.poll_send::<Request>(cx)) {
                        Ok(future) => {
                            #[cfg(feature = "tracing")]
                            if let Some(span) = retry.attempt_span() {
                                this.state.set(State::CalledInSpan { future, span });
                                continue;
                            }
                            this.state.set(State::Called { future });
                        }
                        Err(err) => {
                            this.state.set(State::Done);
                            return Poll::Ready(Err(err.into()));
                        }
                    }
                    continue;
                }
                StateProj::Done => panic!("retry future polled after completion"),
            };
            // An attempt ended.
            let Some(retry) = this.retry_state.as_mut() else {
                this.state.set(State::Done);
                return Poll::Ready(result.map_err(Into::into));
            };
            match retry.after_attempt::<Request, _, _>(result) {
                Err(done) => {
                    this.state.set(State::Done);
                    return Poll::Ready(done);
                }
                Ok(delay) if delay.is_zero() => this.state.set(State::Readying),
                Ok(delay) => this.state.set(State::Waiting {
                    sleep: Box::pin(tokio::time::sleep(delay)),
                }),
            }
        }
    }
}

impl<S, Request, P, C> fmt::Debug for ResponseFuture<S, Request, P, C>
where
    C: CloneRequest<Request>,
    S: Service<C::Output>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture")
            .field(
                "attempt",
                &self.retry_state.as_ref().map_or(1, |r| r.attempt()),
            )
            .field("can_retry", &self.retry_state.is_some())
            .finish_non_exhaustive()
    }
}
