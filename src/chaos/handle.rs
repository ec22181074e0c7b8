//! The shared switch, faults and random sequence, and what each call gets.

use std::fmt;
use std::time::Duration;

use crate::error::ConfigError;
use crate::observe::{self, Listeners};
use crate::sync::{Arc, AtomicBool, Ordering, RwLock};

use super::config::{self, ChaosConfig};
use super::event::ChaosEvent;
use super::fault::{Effect, Fault, MakeError, MakeResponse};
use super::rng::{self, SeededSequence};

/// Random values at or above this, shifted to 53 bits, fall through every fault.
const DRAW_RANGE: u64 = 1 << 53;
/// Mixed into a call's random value to draw its delay, so that the delay does
/// not follow from which fault was picked.
const DELAY_SALT: u64 = 0x5851_f42d_4c95_7f2d;

/// A listener registered with [`Chaos::on_event`].
type ChaosListener = dyn Fn(&ChaosEvent<'_>) + Send + Sync;

/// Switches chaos on and off and changes its faults, for every service that
/// shares it.
///
/// # Clone
///
/// Cloning is cheap and every clone is the same switch, the same faults and
/// the same random sequence.
///
/// ```
/// use seawall::chaos::{ChaosConfig, Chaos, Fault};
///
/// let chaos = Chaos::<String>::new(ChaosConfig::builder().seed(1).build()?);
/// let clone = chaos.clone();
/// chaos.disable();
/// assert!(!clone.is_enabled());
/// clone.set_faults([Fault::error(0.25)])?;
/// assert_eq!(chaos.faults()[0].rate(), 0.25);
/// assert!(clone.set_faults([Fault::error(2.0)]).is_err(), "checked like the builder");
/// # Ok::<(), seawall::ConfigError>(())
/// ```
pub struct Chaos<Res> {
    shared: Arc<ChaosShared<Res>>,
}

/// What every clone of a [`Chaos`] shares.
struct ChaosShared<Res> {
    /// Whether faults are injected at all. Read on every call.
    enabled: AtomicBool,
    sequence: SeededSequence,
    name: Box<str>,
    /// Read (shared) by every call while enabled; written only to replace the faults.
    plan: RwLock<FaultPlan<Res>>,
    /// Kept across `set_faults`.
    listeners: Listeners<ChaosListener>,
}

/// The faults, ready to pick from.
struct FaultPlan<Res> {
    faults: Box<[ArmedFault<Res>]>,
}

/// A fault with its share of the random range and its counter.
struct ArmedFault<Res> {
    /// A random value below this (and at or above the previous fault's) picks
    /// this fault: the running sum of the rates, in units of 2^-53.
    below: u64,
    fault: Fault<Res>,
    /// `seawall_chaos_injected_total` for this fault, resolved once.
    injected: metrics::Counter,
}

impl<Res> FaultPlan<Res> {
    fn new(name: &str, faults: Vec<Fault<Res>>) -> Self {
        let mut sum = 0.0_f64;
        let faults = faults
            .into_iter()
            .map(|fault| {
                sum += fault.rate();
                // Exact at 0 and 1; `min` absorbs the float slack `validate` allows.
                let below = (sum.min(1.0) * DRAW_RANGE as f64) as u64;
                let injected = metrics::counter!(
                    observe::CHAOS_INJECTED_TOTAL,
                    "name" => name.to_owned(),
                    "fault" => fault.kind().as_str(),
                );
                ArmedFault {
                    below,
                    fault,
                    injected,
                }
            })
            .collect();
        Self { faults }
    }

    /// The fault the random value `z` picks, if any.
    #[inline]
    fn pick(&self, z: u64) -> Option<&ArmedFault<Res>> {
        let point = z >> 11;
        // A fault of rate 0 shares its `below` with the one before it (or is 0),
        // so it is never the first found.
        self.faults.iter().find(|armed| point < armed.below)
    }
}

/// What `poll_ready` decided for the next `call`.
pub(crate) enum NextCall<Res> {
    /// Make the real call, after `delay`.
    Pass { delay: Option<Duration> },
    /// Answer with what the injection makes, after its delay, without calling
    /// the inner service.
    Inject(Injection<Res>),
}

/// An injected error or response, made in `call` rather than in `poll_ready`:
/// holding the closure rather than its product keeps the service `Sync`
/// whatever the response type (axum's body is not).
pub(crate) struct Injection<Res> {
    pub(crate) delay: Option<Duration>,
    pub(crate) replacement: Replacement<Res>,
}

/// What an injected call answers instead of the inner service.
pub(crate) enum Replacement<Res> {
    Error(MakeError),
    Response(MakeResponse<Res>),
}

impl<Res> Chaos<Res> {
    /// A handle with `config`. Its metric handles are resolved here (and
    /// again by [`set_faults`](Self::set_faults)): install the recorder first.
    pub fn new(config: ChaosConfig<Res>) -> Self {
        let name: Box<str> = config.name.into();
        let plan = FaultPlan::new(&name, config.faults);
        Self {
            shared: Arc::new(ChaosShared {
                enabled: AtomicBool::new(config.enabled),
                sequence: SeededSequence::new(config.seed),
                name,
                plan: RwLock::new(plan),
                listeners: Listeners::new(),
            }),
        }
    }

    /// Starts injecting faults, on every service sharing this handle.
    pub fn enable(&self) {
        self.set_enabled(true);
    }

    /// Stops injecting faults: every call passes through untouched.
    pub fn disable(&self) {
        self.set_enabled(false);
    }

    /// Switches chaos on or off.
    pub fn set_enabled(&self, enabled: bool) {
        // Relaxed: the switch guards no data of its own (the faults are behind their
        // lock), and a call racing the switch may go either way.
        self.shared.enabled.store(enabled, Ordering::Relaxed);
    }

    /// Whether chaos is switched on.
    pub fn is_enabled(&self) -> bool {
        // Relaxed: see `set_enabled`.
        self.shared.enabled.load(Ordering::Relaxed)
    }

    /// Replaces the faults. Calls already decided keep the fault they got; the
    /// random sequence carries on where it was.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] as [`ChaosConfigBuilder::build`](super::ChaosConfigBuilder::build);
    /// the faults are then left as they were.
    pub fn set_faults(
        &self,
        faults: impl IntoIterator<Item = Fault<Res>>,
    ) -> Result<(), ConfigError> {
        let faults: Vec<_> = faults.into_iter().collect();
        config::validate(&faults)?;
        // Built (and its metric handles resolved) before the lock is taken.
        let plan = FaultPlan::new(&self.shared.name, faults);
        *self.shared.plan.write() = plan;
        Ok(())
    }

    /// Calls `listener` for every fault injected from now on
    /// ([`ChaosEvent::Injected`]). A panicking listener is caught. With none
    /// registered, no event is built.
    ///
    /// ```
    /// use seawall::chaos::{ChaosService, ChaosConfig, Chaos, ChaosEvent, Fault, FaultKind};
    /// use std::sync::{Arc, Mutex};
    /// use tower::{service_fn, Service, ServiceExt};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), seawall::BoxError> {
    /// let chaos = Chaos::new(ChaosConfig::builder().fault(Fault::error(1.0)).build()?);
    /// let seen = Arc::new(Mutex::new(Vec::new()));
    /// let log = seen.clone();
    /// chaos.on_event(move |event: &ChaosEvent<'_>| {
    ///     if let ChaosEvent::Injected { fault, .. } = event {
    ///         log.lock().unwrap().push(*fault);
    ///     }
    /// });
    /// let mut service = ChaosService::new(service_fn(|()| async { Ok::<_, std::io::Error>(()) }), chaos);
    /// assert!(service.ready().await?.call(()).await.is_err());
    /// assert_eq!(*seen.lock().unwrap(), vec![FaultKind::Error]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn on_event<F>(&self, listener: F)
    where
        F: Fn(&ChaosEvent<'_>) + Send + Sync + 'static,
    {
        self.shared.listeners.add(Box::new(listener));
    }

    /// The faults now in force.
    pub fn faults(&self) -> Vec<Fault<Res>> {
        self.shared
            .plan
            .read()
            .faults
            .iter()
            .map(|armed| armed.fault.clone())
            .collect()
    }

    /// The name used in metric labels.
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// The seed of the random source.
    pub fn seed(&self) -> u64 {
        self.shared.sequence.seed()
    }

    /// What the next call gets.
    #[inline]
    pub(crate) fn next_call(&self) -> NextCall<Res> {
        // Relaxed: see `set_enabled`.
        if !self.shared.enabled.load(Ordering::Relaxed) {
            return NextCall::Pass { delay: None };
        }
        self.next_call_enabled()
    }

    // Out of line, so that the switched-off path stays one load and a branch.
    #[inline(never)]
    fn next_call_enabled(&self) -> NextCall<Res> {
        let z = self.shared.sequence.next();
        let (delay, effect, kind) = {
            let plan = self.shared.plan.read();
            let Some(armed) = plan.pick(z) else {
                return NextCall::Pass { delay: None };
            };
            armed.injected.increment(1);
            let delay = armed
                .fault
                .delay()
                .map(|latency| latency.pick(rng::mix(z ^ DELAY_SALT)));
            (delay, armed.fault.effect().clone(), armed.fault.kind())
        };
        // Listeners, like the fault's closures later, run outside the lock: they may
        // call `set_faults` or `on_event`.
        #[cfg(feature = "tracing")]
        super::trace::injected(&self.shared.name, kind);
        let listeners = &self.shared.listeners;
        if !listeners.is_empty() {
            let event = ChaosEvent::Injected {
                name: &self.shared.name,
                fault: kind,
            };
            listeners.notify(|listener| listener(&event));
        }
        match effect {
            Effect::Pass => NextCall::Pass { delay },
            Effect::Error(make) => NextCall::Inject(Injection {
                delay,
                replacement: Replacement::Error(make),
            }),
            Effect::Respond(make) => NextCall::Inject(Injection {
                delay,
                replacement: Replacement::Response(make),
            }),
        }
    }
}

impl<Res> Clone for Chaos<Res> {
    fn clone(&self) -> Self {
        Self {
            shared: self.shared.clone(),
        }
    }
}

impl<Res> fmt::Debug for Chaos<Res> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Chaos")
            .field("name", &self.name())
            .field("enabled", &self.is_enabled())
            .field("seed", &self.seed())
            .field("faults", &self.faults())
            .finish()
    }
}
