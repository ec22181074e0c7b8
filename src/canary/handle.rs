//! The rollout's handle: its numbers, its watches, its timer and its manual
//! controls.

use std::fmt;

use crate::breaker::Breaker;
use crate::breaker::BreakerEvent;
use crate::sync::{Arc, Weak};

use super::config::CanaryConfig;
use super::core::CanaryCore;
use super::decision::{Analysis, CanaryDecision, Reason};
use super::event::CanaryEvent;
use super::state::Phase;
use super::watch::{breaker_is_open, HealthWatch};

/// A canary rollout, shared by every clone: the weight, the analysis and the
/// manual controls.
///
/// Give it to [`CanaryService`](super::CanaryService) (or [`CanaryLayer`](super::CanaryLayer))
/// to route requests. Each step is held for the configured time and number of
/// candidate requests, and analysed every interval; the request that finds an
/// analysis due runs it (or [`tick`](Self::tick), or
/// [`spawn_ticker`](Self::spawn_ticker) when traffic is sparse).
///
/// # Clone
///
/// Cloning is cheap and every clone is the same rollout.
///
/// ```
/// use seawall::canary::{CanaryConfig, Canary, Phase};
///
/// let rollout = Canary::new(CanaryConfig::builder().steps([10.0, 100.0]).build()?);
/// assert_eq!((rollout.phase(), rollout.weight()), (Phase::Running, 1_000));
/// rollout.pause();
/// assert_eq!(rollout.phase(), Phase::Paused);
/// rollout.promote(); // to the next step, analysing again
/// assert_eq!((rollout.phase(), rollout.weight()), (Phase::Running, 10_000));
/// rollout.roll_back();
/// assert_eq!((rollout.phase(), rollout.weight()), (Phase::RolledBack, 0));
/// # Ok::<(), seawall::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct Canary {
    pub(crate) core: Arc<CanaryCore>,
}

impl Canary {
    /// A rollout with `config`, running at its first step from now.
    pub fn new(config: CanaryConfig) -> Self {
        Self {
            core: Arc::new(CanaryCore::new(config)),
        }
    }

    /// Watches the candidate's `breaker`: when it opens (or is forced open)
    /// the rollout rolls back at once, from the breaker's transition, without
    /// waiting for an analysis. An open breaker found at an analysis rolls
    /// back too.
    ///
    /// ```
    /// use seawall::breaker::{Breaker, BreakerConfig};
    /// use seawall::canary::{CanaryConfig, Canary, Phase};
    ///
    /// let breaker = Breaker::new(BreakerConfig::default());
    /// let rollout = Canary::new(CanaryConfig::default());
    /// rollout.watch_breaker(&breaker);
    /// breaker.force_open();
    /// assert_eq!(rollout.phase(), Phase::RolledBack);
    /// ```
    pub fn watch_breaker(&self, breaker: &Breaker) {
        self.core.watch(HealthWatch::Breaker(breaker.clone()));
        // Weak: the rollout holds the breaker and the breaker holds this
        // listener, so a strong reference would keep both alive for good.
        let core: Weak<CanaryCore> = Arc::downgrade(&self.core);
        breaker.on_state_transition(move |event| {
            if opened(event) {
                if let Some(core) = core.upgrade() {
                    core.decide(CanaryDecision::RollBack, Reason::BreakerOpen);
                }
            }
        });
        if breaker_is_open(breaker.state()) {
            self.core
                .decide(CanaryDecision::RollBack, Reason::BreakerOpen);
        }
    }

    /// Watches a health `component` of the candidate: reported
    /// [`Down`](crate::health::Status::Down) at an analysis, the rollout rolls
    /// back.
    ///
    /// ```
    /// use seawall::canary::{Canary, CanaryConfig};
    /// use seawall::health::Check;
    ///
    /// let rollout = Canary::new(CanaryConfig::default());
    /// rollout.watch_component(Check::new("candidate-db", || async { Ok::<_, std::io::Error>(()) }));
    /// ```
    #[cfg(feature = "health")]
    pub fn watch_component<C: crate::health::Component>(&self, component: C) {
        self.core.watch(HealthWatch::Component(Box::new(component)));
    }

    /// The candidate's share of requests now, in basis points (0 to 10000).
    pub fn weight(&self) -> u16 {
        self.core.load().weight()
    }

    /// Where the rollout is.
    pub fn phase(&self) -> Phase {
        self.core.load().phase()
    }

    /// The index of the current step in the configured steps.
    pub fn step(&self) -> usize {
        self.core.load().step()
    }

    /// The numbers of the current step so far.
    pub fn analysis(&self) -> Analysis {
        self.core.analysis(self.core.load(), self.core.now())
    }

    /// The configuration the rollout was built with.
    pub fn config(&self) -> &CanaryConfig {
        &self.core.config
    }

    /// The canary's name.
    pub fn name(&self) -> &str {
        self.core.config.name()
    }

    /// Runs an analysis if one is due, as a finished request would. Needed
    /// only when requests are too sparse to run them.
    pub fn tick(&self) {
        self.core.analyse(self.core.now(), true);
    }

    /// Spawns a task that [`tick`](Self::tick)s every analysis interval
    /// until the rollout is over (or every handle is gone). Needs a tokio
    /// runtime with its timer enabled.
    pub fn spawn_ticker(&self) -> tokio::task::JoinHandle<()> {
        // Weak: the ticker keeps no rollout alive that nobody else holds.
        let core: Weak<CanaryCore> = Arc::downgrade(&self.core);
        let every = self.core.config.interval;
        tokio::spawn(async move {
            let mut interval = tokio::time::interval(every);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                interval.tick().await;
                let Some(core) = core.upgrade() else { return };
                if core.load().phase().is_final() {
                    return;
                }
                core.analyse(core.now(), true);
            }
        })
    }

    /// Stops analysing and promoting; the weight stays. Whether it paused (it
    /// was running).
    pub fn pause(&self) -> bool {
        self.core.decide(CanaryDecision::Pause, Reason::Manual)
    }

    /// Starts the current step afresh (its hold, its requests, its numbers)
    /// after a pause. Whether it resumed (it was paused).
    pub fn resume(&self) -> bool {
        self.core.decide(CanaryDecision::Resume, Reason::Manual)
    }

    /// Moves to the next step now, or after the last to
    /// [`Promoted`](Phase::Promoted), running. Whether it moved (the rollout
    /// was not over).
    pub fn promote(&self) -> bool {
        self.core.decide(CanaryDecision::Promote, Reason::Manual)
    }

    /// Sends every request to the stable service, for good. Whether it rolled
    /// back (the rollout was not over).
    pub fn roll_back(&self) -> bool {
        self.core.decide(CanaryDecision::RollBack, Reason::Manual)
    }

    /// Calls `listener` for every decision from now on, with the numbers it
    /// was made on ([`CanaryEvent::Decided`]). Decisions are rare; requests
    /// never build an event. A panicking listener is caught.
    ///
    /// ```
    /// use seawall::canary::{CanaryConfig, Canary, CanaryDecision, CanaryEvent};
    /// use std::sync::{Arc, Mutex};
    ///
    /// let rollout = Canary::new(CanaryConfig::default());
    /// let seen = Arc::new(Mutex::new(Vec::new()));
    /// let log = seen.clone();
    /// rollout.on_event(move |event: &CanaryEvent<'_>| {
    ///     if let CanaryEvent::Decided { decision, reason, .. } = event {
    ///         log.lock().unwrap().push((*decision, *reason));
    ///     }
    /// });
    /// rollout.roll_back();
    /// assert_eq!(seen.lock().unwrap()[0].0, CanaryDecision::RollBack);
    /// ```
    pub fn on_event<F>(&self, listener: F)
    where
        F: Fn(&CanaryEvent<'_>) + Send + Sync + 'static,
    {
        self.core.listeners.add(Box::new(listener));
    }
}

/// Whether a breaker's transition is to open (or forced open). The one place
/// the canary reads a breaker's events.
fn opened(event: &BreakerEvent<'_>) -> bool {
    match event {
        BreakerEvent::StateTransition { to, .. } => breaker_is_open(*to),
        _ => false,
    }
}

impl fmt::Debug for Canary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let word = self.core.load();
        f.debug_struct("Canary")
            .field("name", &self.name())
            .field("phase", &word.phase())
            .field("step", &word.step())
            .field("weight", &word.weight())
            .finish()
    }
}
