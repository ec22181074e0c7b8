//! The timeout layer's response future.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;
use tokio::time::Sleep;

use crate::error::BoxError;

use super::error::Elapsed;

pin_project! {
    /// The response future of [`TimeoutService`](super::TimeoutService).
    ///
    /// # Cancel safety
    ///
    /// Dropping it drops the inner future and the timer; nothing is left behind.
    /// On expiry the inner future is dropped at once, before the error is
    /// returned, so whatever it held (a connection, a permit) is released even
    /// if the caller keeps this future around.
    ///
    /// ```
    /// use seawall::timeout::{future::ResponseFuture, TimeoutService};
    /// use std::time::Duration;
    /// use tower::{Service, ServiceExt, service_fn};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), seawall::BoxError> {
    /// let inner = service_fn(|x: u32| async move { Ok::<_, std::io::Error>(x) });
    /// let mut service = TimeoutService::new(inner, Duration::from_secs(1));
    /// let future: ResponseFuture<_> = service.ready().await?.call(3);
    /// assert_eq!(future.await?, 3);
    /// # Ok(())
    /// # }
    /// ```
    #[derive(Debug)]
    pub struct ResponseFuture<F> {
        #[pin]
        state: State<F>,
    }
}

pin_project! {
    #[project = StateProj]
    #[derive(Debug)]
    enum State<F> {
        Running {
            #[pin]
            response: F,
            #[pin]
            sleep: Sleep,
        },
        Refused { error: Option<BoxError> },
        Done,
    }
}

impl<F> ResponseFuture<F> {
    pub(crate) fn new(response: F, sleep: Sleep) -> Self {
        Self {
            state: State::Running { response, sleep },
        }
    }

    /// A request refused before it was called (a malformed deadline).
    pub(crate) fn refused(error: BoxError) -> Self {
        Self {
            state: State::Refused { error: Some(error) },
        }
    }
}

impl<F, T, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<T, E>>,
    E: Into<BoxError>,
{
    type Output = Result<T, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.project().state;
        let (response, sleep) = match state.as_mut().project() {
            StateProj::Running { response, sleep } => (response, sleep),
            StateProj::Refused { error } => {
                let error = error
                    .take()
                    .expect("timeout future polled after completion");
                state.set(State::Done);
                return Poll::Ready(Err(error));
            }
            StateProj::Done => panic!("timeout future polled after completion"),
        };
        // The response first: one that is ready together with the timer still counts.
        if let Poll::Ready(result) = response.poll(cx) {
            state.set(State::Done);
            return Poll::Ready(result.map_err(Into::into));
        }
        match sleep.poll(cx) {
            Poll::Ready(()) => {
                // Cancel the attempt now: dropping the inner future releases what it holds.
                state.set(State::Done);
                Poll::Ready(Err(Elapsed::new().into()))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}
