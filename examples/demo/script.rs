//! The upstream and the script it plays: five equal phases, whatever the
//! run's length, and a breaker whose open wait scales with it, so that a run
//! of any allowed length shows the trip, the failed probes and the recovery.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use axum::routing::get;
use axum::Router;
use http::StatusCode;
use seawall::axum::ErrorResponseLayer;
use seawall::chaos::{Chaos, ChaosConfig, ChaosLayer, Fault, Latency};
use tower::ServiceBuilder;

/// How slow the upstream is in its slow phase (the seawall stack's attempts
/// time out first; the bare client's do not).
pub const SLOW_ANSWER: Duration = Duration::from_millis(600);

/// What the upstream does during one fifth of a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    Healthy,
    Errors,
    Down,
    Slow,
    Recovering,
}

impl Phase {
    pub const ALL: [Phase; 5] = [
        Self::Healthy,
        Self::Errors,
        Self::Down,
        Self::Slow,
        Self::Recovering,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::Healthy => "healthy",
            Self::Errors => "30% errors",
            Self::Down => "down",
            Self::Slow => "slow",
            Self::Recovering => "recovering",
        }
    }

    /// Whether the upstream is failing in this phase.
    pub fn is_outage(self) -> bool {
        matches!(self, Self::Errors | Self::Down | Self::Slow)
    }

    fn index(self) -> u8 {
        self as u8
    }

    fn from_index(index: u8) -> Self {
        Self::ALL[usize::from(index).min(Self::ALL.len() - 1)]
    }
}

/// The script's timing for a run of a given length.
#[derive(Clone, Copy, Debug)]
pub struct Script {
    run: Duration,
}

impl Script {
    pub fn new(run: Duration) -> Self {
        Self { run }
    }

    /// When `phase` starts, from the run's start.
    pub fn start_of(self, phase: Phase) -> Duration {
        self.run * u32::from(phase.index()) / 5
    }

    /// How long the breaker stays open before probing: a third of a phase,
    /// so the two failing fifths after the trip hold several failed probe
    /// rounds, and the recovering fifth always holds a successful one, even
    /// after a probe that timed out just as it began.
    pub fn open_wait(self) -> Duration {
        self.run / 15
    }
}

/// The phase every caller reads: written by the script, read on each request.
#[derive(Debug, Default)]
pub struct CurrentPhase(AtomicU8);

impl CurrentPhase {
    pub fn get(&self) -> Phase {
        // Relaxed: a display counter; nothing else is published with it.
        Phase::from_index(self.0.load(Ordering::Relaxed))
    }

    pub fn set(&self, phase: Phase) {
        // Relaxed: see `get`.
        self.0.store(phase.index(), Ordering::Relaxed);
    }
}

/// The upstream: an axum server whose faults a chaos handle injects, and
/// whose listener the script stops and restarts.
pub struct Upstream {
    pub addr: SocketAddr,
    chaos: Chaos<axum::response::Response>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Upstream {
    pub async fn start(seed: u64) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let chaos = Chaos::new(
            ChaosConfig::builder()
                .name("upstream")
                .seed(seed)
                .enabled(false)
                .build()
                .expect("a valid chaos config"),
        );
        let mut upstream = Self {
            addr,
            chaos,
            stop: None,
            task: None,
        };
        upstream.serve(listener);
        Ok(upstream)
    }

    fn serve(&mut self, listener: tokio::net::TcpListener) {
        let app = Router::new()
            .route("/inventory", get(|| async { "42 in stock" }))
            .layer(
                ServiceBuilder::new()
                    .layer(ErrorResponseLayer::new())
                    .layer(ChaosLayer::new(self.chaos.clone())),
            );
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        self.stop = Some(stop);
        self.task = Some(tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
        }));
    }

    /// Closes the listener and every connection: calls are refused.
    pub async fn go_down(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
    }

    /// Listens again on the same port.
    async fn come_back(&mut self) -> std::io::Result<()> {
        let mut tries = 0;
        loop {
            match tokio::net::TcpListener::bind(self.addr).await {
                Ok(listener) => {
                    self.serve(listener);
                    return Ok(());
                }
                Err(_) if tries < 50 => {
                    tries += 1;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(err) => return Err(err),
            }
        }
    }

    pub async fn enter(&mut self, phase: Phase) -> std::io::Result<()> {
        match phase {
            Phase::Healthy | Phase::Recovering => self.chaos.disable(),
            Phase::Errors => {
                self.chaos
                    .set_faults([Fault::status(0.3, StatusCode::SERVICE_UNAVAILABLE)])
                    .expect("a valid fault");
                self.chaos.enable();
            }
            Phase::Down => {
                self.chaos.disable();
                self.go_down().await;
            }
            Phase::Slow => {
                self.come_back().await?;
                self.chaos
                    .set_faults([Fault::latency(1.0, Latency::fixed(SLOW_ANSWER))])
                    .expect("a valid fault");
                self.chaos.enable();
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_allowed_length_leaves_room_for_a_recovery() {
        for secs in crate::args::DURATION_SECS {
            let script = Script::new(Duration::from_secs(secs));
            let run = Duration::from_secs(secs);
            let fifth = run / 5;
            for (i, phase) in Phase::ALL.into_iter().enumerate() {
                assert_eq!(script.start_of(phase), fifth * i as u32, "{secs} s");
            }
            // The breaker can have opened as late as one attempt timeout into
            // the recovering phase (a probe that began in the slow phase);
            // it must still probe, and close, before the run ends.
            let latest_open = script.start_of(Phase::Recovering) + crate::run::ATTEMPT_TIMEOUT;
            let probe = latest_open + script.open_wait();
            assert!(probe + crate::run::ATTEMPT_TIMEOUT < run, "{secs} s");
            // And the outage is long enough to trip and to fail a probe.
            let outage = script.start_of(Phase::Recovering) - script.start_of(Phase::Down);
            assert!(outage > script.open_wait() * 2, "{secs} s");
        }
    }

    #[test]
    fn the_phase_word_reads_back_every_phase_and_clamps_garbage() {
        let current = CurrentPhase::default();
        assert_eq!(current.get(), Phase::Healthy);
        for phase in Phase::ALL {
            current.set(phase);
            assert_eq!(current.get(), phase);
        }
        assert_eq!(Phase::from_index(u8::MAX), Phase::Recovering);
    }
}
