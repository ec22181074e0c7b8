//! The canary's response future.

use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use pin_project_lite::pin_project;

use crate::classify::{Classify, Outcome};
use crate::sync::Arc;

use super::core::CanaryCore;

pin_project! {
    /// The response future of [`CanaryService`](super::CanaryService): the chosen side's
    /// future, timed and classified into the side's numbers when it ends.
    ///
    /// # Cancel safety
    ///
    /// Dropping it before it completes records nothing: a cancelled call says
    /// nothing about either side.
    pub struct ResponseFuture<SF, CF, Cl> {
        #[pin]
        side: Side<SF, CF>,
        core: Arc<CanaryCore>,
        classifier: Cl,
        generation: u32,
        started: u64,
    }
}

pin_project! {
    /// The side the request went to, and its future.
    #[project = SideProj]
    enum Side<SF, CF> {
        Stable { #[pin] future: SF },
        Candidate { #[pin] future: CF },
    }
}

impl<SF, CF, Cl> ResponseFuture<SF, CF, Cl> {
    pub(crate) fn stable(
        future: SF,
        core: Arc<CanaryCore>,
        classifier: Cl,
        generation: u32,
        started: u64,
    ) -> Self {
        Self {
            side: Side::Stable { future },
            core,
            classifier,
            generation,
            started,
        }
    }

    pub(crate) fn candidate(
        future: CF,
        core: Arc<CanaryCore>,
        classifier: Cl,
        generation: u32,
        started: u64,
    ) -> Self {
        Self {
            side: Side::Candidate { future },
            core,
            classifier,
            generation,
            started,
        }
    }
}

impl<SF, CF, Cl> std::fmt::Debug for ResponseFuture<SF, CF, Cl> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let side = match self.side {
            Side::Stable { .. } => "stable",
            Side::Candidate { .. } => "candidate",
        };
        f.debug_struct("ResponseFuture")
            .field("side", &side)
            .finish_non_exhaustive()
    }
}

impl<SF, CF, Cl, T, E> Future for ResponseFuture<SF, CF, Cl>
where
    SF: Future<Output = Result<T, E>>,
    CF: Future<Output = Result<T, E>>,
    Cl: Classify<T, E>,
{
    type Output = Result<T, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let (result, candidate) = match this.side.project() {
            SideProj::Stable { future } => (ready!(future.poll(cx)), false),
            SideProj::Candidate { future } => (ready!(future.poll(cx)), true),
        };
        let failed = match this.classifier.classify(&result) {
            Outcome::Success => Some(false),
            Outcome::Failure => Some(true),
            Outcome::Ignored => None,
        };
        if let Some(failed) = failed {
            let now = this.core.now();
            let took = Duration::from_nanos(now.saturating_sub(*this.started));
            this.core
                .record(candidate, *this.generation, failed, took, now);
        }
        Poll::Ready(result)
    }
}
