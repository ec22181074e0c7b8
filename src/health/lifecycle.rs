//! Where the service is in its life (starting, serving, draining), and the
//! requests in flight that a drain waits for.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use crate::sync::Ordering;

use super::error::DrainTimedOut;
use super::registry::RegistryState;
use super::status::Lifecycle;
use super::HealthRegistry;

impl HealthRegistry {
    /// Where the service is in its life.
    pub fn lifecycle(&self) -> Lifecycle {
        // Acquire pairs with the Release stores below, so whoever sees draining
        // also sees what the shutting-down thread did before.
        Lifecycle::from_number(self.state.lifecycle.load(Ordering::Acquire))
    }

    /// Marks start-up done: readiness may turn true. Does nothing once shut down.
    pub fn mark_started(&self) {
        // Release: see `lifecycle`. Only Starting -> Serving; a shutdown wins.
        let _ = self.state.lifecycle.compare_exchange(
            Lifecycle::Starting as u32,
            Lifecycle::Serving as u32,
            Ordering::Release,
            Ordering::Relaxed,
        );
        self.refresh();
    }

    /// Turns readiness false at once and for good; liveness stays true. Wait
    /// for in-flight requests with [`drain`](Self::drain).
    pub fn shutdown(&self) {
        // Release: see `lifecycle`.
        self.state
            .lifecycle
            .store(Lifecycle::Draining as u32, Ordering::Release);
        self.refresh();
    }

    /// Waits until [`shutdown`](Self::shutdown) is called.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    pub async fn shutdown_requested(&self) {
        let mut summary = self.subscribe();
        // The sender lives in `self.state`, which `self` keeps alive: this cannot fail.
        let _ = summary
            .wait_for(|s| s.lifecycle == Lifecycle::Draining)
            .await;
    }

    /// Waits for ctrl-c, SIGTERM (on Unix) or a [`shutdown`](Self::shutdown)
    /// call, whichever comes first, then shuts down. Where a signal cannot be
    /// listened to, waits for the others.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe; nothing is shut down unless it completes.
    pub async fn shutdown_signal(&self) {
        let ctrl_c = async {
            if tokio::signal::ctrl_c().await.is_err() {
                std::future::pending::<()>().await;
            }
        };
        #[cfg(unix)]
        let terminate = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut signal) => {
                    signal.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        #[cfg(not(unix))]
        let terminate = std::future::pending::<()>();
        let requested = self.shutdown_requested();
        tokio::pin!(ctrl_c, terminate, requested);
        std::future::poll_fn(|cx| {
            let any = ctrl_c.as_mut().poll(cx).is_ready()
                || terminate.as_mut().poll(cx).is_ready()
                || requested.as_mut().poll(cx).is_ready();
            if any {
                std::task::Poll::Ready(())
            } else {
                std::task::Poll::Pending
            }
        })
        .await;
        self.shutdown();
    }

    /// Counts one request in flight until the guard is dropped.
    /// [`InFlightLayer`](super::InFlightLayer) does this for a tower service.
    pub fn enter(&self) -> InFlightGuard {
        // Relaxed: a count; `drain` learns of the last exit through `idle`, and the
        // AcqRel decrement orders the request's work before that.
        self.state.in_flight.fetch_add(1, Ordering::Relaxed);
        self.state.gauges.in_flight.increment(1.0);
        InFlightGuard {
            state: self.state.clone(),
        }
    }

    /// Requests in flight, as counted by [`enter`](Self::enter).
    pub fn in_flight(&self) -> usize {
        // Acquire pairs with the AcqRel decrement: a drainer that reads 0 sees
        // the work of every request that left.
        self.state.in_flight.load(Ordering::Acquire)
    }

    /// Waits until no request is in flight, at most `timeout`. A `timeout`
    /// too long to add to the clock (`Duration::MAX`) waits as long as it
    /// takes.
    ///
    /// # Errors
    ///
    /// [`DrainTimedOut`] with the number still in flight when time ran out.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    pub async fn drain(&self, timeout: Duration) -> Result<(), DrainTimedOut> {
        let deadline = tokio::time::Instant::now().checked_add(timeout);
        loop {
            let idle = self.state.idle.notified();
            tokio::pin!(idle);
            // Register before reading the count, so an exit between the read and the
            // wait still wakes this waiter.
            idle.as_mut().enable();
            let remaining = self.in_flight();
            if remaining == 0 {
                return Ok(());
            }
            let Some(deadline) = deadline else {
                idle.await;
                continue;
            };
            if tokio::time::timeout_at(deadline, idle).await.is_err() {
                let remaining = self.in_flight();
                return if remaining == 0 {
                    Ok(())
                } else {
                    Err(DrainTimedOut::new(remaining))
                };
            }
        }
    }
}

/// One request in flight, from [`HealthRegistry::enter`]; counted until dropped.
///
/// ```
/// use seawall::health::HealthRegistry;
///
/// let health = HealthRegistry::new();
/// let guard = health.enter();
/// assert_eq!(health.in_flight(), 1);
/// drop(guard);
/// assert_eq!(health.in_flight(), 0);
/// ```
#[must_use = "the request counts as in flight only while the guard lives"]
pub struct InFlightGuard {
    state: Arc<RegistryState>,
}

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        // AcqRel: Release orders the request's work before the decrement a drainer
        // sees; Acquire makes the last exit see every other exit.
        self.state.gauges.in_flight.decrement(1.0);
        if self.state.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.state.idle.notify_waiters();
        }
    }
}

impl fmt::Debug for InFlightGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InFlightGuard").finish_non_exhaustive()
    }
}
