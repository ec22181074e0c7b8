//! Chaos: inject errors, latency and chosen responses on purpose, to see the
//! rest of the stack cope.
//!
//! # Why
//!
//! Resilience code is code that runs when things go wrong, which in tests
//! they rarely do. A circuit breaker that never opened in a test will surprise
//! you in production: its threshold is wrong, its fallback panics, the retry
//! outside it hammers the dependency, the timeout is longer than the caller's.
//! The way to know is to make things go wrong on purpose, at a known rate,
//! and watch: does the breaker open at the error rate you expect, do callers
//! get the fallback, does latency stay within the deadline?
//!
//! A [`ChaosService`] service sits where the faults should appear (innermost, just in
//! front of the client, to play a failing dependency:
//! `Fallback -> Retry -> CircuitBreaker -> Bulkhead -> Timeout -> Chaos -> client`;
//! or on a server's routes, to play a failing server) and gives a share of the
//! calls one of its [`Fault`]s: an error, a made-up response (an HTTP `503`),
//! a delay, or a delay and then an error or a response.
//!
//! - **Reproducible.** Faults are picked by a seeded random source
//!   (splitmix64), shared by every clone without a lock: the same seed gives
//!   the same faults on the same calls, so a test or a demo that found
//!   something can be run again.
//! - **Switchable.** A [`Chaos`] switches chaos on and off and replaces
//!   the faults while the service runs, for every clone at once: a game day,
//!   a demo's "now the dependency fails" phase, a test that breaks and then
//!   heals the dependency.
//! - **Free when off.** Switched off, a call costs one relaxed atomic load
//!   more than the bare service: no lock, no allocation, no random draw.
//! - **Virtual time.** Delays are `tokio::time::sleep`, so a test on a paused
//!   clock (`#[tokio::test(start_paused = true)]`) runs a 30-second outage in
//!   no time and measures the injected latency exactly.
//!
//! Every injected fault is counted in the `seawall_chaos_injected_total`
//! counter, labelled with the `name` and the `fault` kind (see
//! [`crate::observe`]).
//!
//! # Example
//!
//! A breaker in front of a dependency that chaos makes fail half the time:
//!
//! ```
//! use seawall::breaker::{Breaker, BreakerConfig, BreakerLayer, State};
//! use seawall::chaos::{ChaosConfig, Chaos, ChaosLayer, Fault};
//! use tower::{service_fn, Service, ServiceBuilder, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), seawall::BoxError> {
//! let breaker = Breaker::new(
//!     BreakerConfig::builder()
//!         .count_window(20)
//!         .minimum_calls(20)
//!         .failure_rate_threshold(0.3)
//!         .build()?,
//! );
//! let chaos = Chaos::new(
//!     ChaosConfig::builder()
//!         .name("inventory")
//!         .seed(7)
//!         .fault(Fault::error(0.5))
//!         .enabled(false)
//!         .build()?,
//! );
//! let mut client = ServiceBuilder::new()
//!     .layer(BreakerLayer::new(breaker.clone()))
//!     .layer(ChaosLayer::new(chaos.clone()))
//!     .service(service_fn(|sku: u32| async move { Ok::<_, std::io::Error>(sku) }));
//!
//! // Off: every call reaches the dependency.
//! for sku in 0..20 {
//!     assert_eq!(client.ready().await?.call(sku).await?, sku);
//! }
//! // On: half the calls fail, and the breaker opens.
//! chaos.enable();
//! for sku in 0..40 {
//!     let _ = client.ready().await?.call(sku).await;
//! }
//! assert_eq!(breaker.state(), State::Open);
//! # Ok(())
//! # }
//! ```
//!
//! # Cost
//!
//! Switched off: one relaxed load of the switch in `poll_ready`, no lock, no
//! allocation, no draw (about 5 ns a call over a bare service's 0.3 ns in
//! `benches/chaos.rs`, most of it the wrapper's bookkeeping). Switched on:
//! one `fetch_add` on the shared draw counter and a shared read lock on the
//! faults (about 11 ns); for a call that gets a fault, a counter increment,
//! an event if anyone listens, and whatever the fault's closure does; a
//! delayed call allocates its timer.
//!
//! # Reproducibility
//!
//! Each decision takes the next value of the seeded sequence: one per
//! `poll_ready` that finds no decision pending (so a service polled ready and
//! then dropped uses one up). Calls made one after another get the same
//! faults in every run with the same seed and faults; concurrent calls share
//! out the same values in whatever order they reach the counter.

pub mod error;
pub mod future;

mod config;
mod layer;
mod rng;

use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use parking_lot::RwLock;
use tower_service::Service;

use crate::error::{BoxError, ConfigError};
use crate::observe::{self, Event, Listener};
use crate::sync::{AtomicBool, Ordering};

pub use self::config::{ChaosConfig, ChaosConfigBuilder, Fault, FaultKind, Latency};
pub use self::layer::ChaosLayer;

use self::config::{Effect, MakeError, MakeResponse};
use self::future::ResponseFuture;
use self::rng::Draws;

/// Random values at or above this, shifted to 53 bits, fall through every fault.
const ONE: u64 = 1 << 53;
/// Mixed into a call's random value to draw its delay, so that the delay does
/// not follow from which fault was picked.
const DELAY_SALT: u64 = 0x5851_f42d_4c95_7f2d;

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
    shared: Arc<Shared<Res>>,
}

struct Shared<Res> {
    /// Whether faults are injected at all. Read on every call.
    enabled: AtomicBool,
    draws: Draws,
    name: Arc<str>,
    /// Read (shared) by every call while enabled; written only to replace the faults.
    plan: RwLock<Plan<Res>>,
}

/// The faults, ready to pick from, and who listens.
struct Plan<Res> {
    armed: Box<[Armed<Res>]>,
    /// Kept across `set_faults`.
    listeners: Arc<[Listener]>,
}

struct Armed<Res> {
    /// A random value below this (and at or above the previous fault's) picks
    /// this fault: the running sum of the rates, in units of 2^-53.
    below: u64,
    fault: Fault<Res>,
    /// `seawall_chaos_injected_total` for this fault, resolved once.
    injected: metrics::Counter,
}

impl<Res> Plan<Res> {
    fn new(name: &str, faults: Vec<Fault<Res>>) -> Self {
        let mut sum = 0.0_f64;
        let armed = faults
            .into_iter()
            .map(|fault| {
                sum += fault.rate();
                // Exact at 0 and 1; `min` absorbs the float slack `validate` allows.
                let below = (sum.min(1.0) * ONE as f64) as u64;
                let injected = metrics::counter!(
                    observe::CHAOS_INJECTED_TOTAL,
                    "name" => name.to_owned(),
                    "fault" => fault.kind().as_str(),
                );
                Armed {
                    below,
                    fault,
                    injected,
                }
            })
            .collect();
        Self {
            armed,
            listeners: Arc::from(Vec::new()),
        }
    }

    /// The fault the random value `z` picks, if any.
    #[inline]
    fn pick(&self, z: u64) -> Option<&Armed<Res>> {
        let point = z >> 11;
        // A fault of rate 0 shares its `below` with the one before it (or is 0),
        // so it is never the first found.
        self.armed.iter().find(|armed| point < armed.below)
    }
}

impl<Res> Chaos<Res> {
    /// A handle with `config`. Its metric handles are resolved here (and
    /// again by [`set_faults`](Self::set_faults)): install the recorder first.
    pub fn new(config: ChaosConfig<Res>) -> Self {
        let name: Arc<str> = Arc::from(&*config.name);
        let plan = Plan::new(&name, config.faults);
        Self {
            shared: Arc::new(Shared {
                enabled: AtomicBool::new(config.enabled),
                draws: Draws::new(config.seed),
                name,
                plan: RwLock::new(plan),
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
        self.shared.enabled.load(Ordering::Relaxed)
    }

    /// Replaces the faults. Calls already decided keep the fault they got; the
    /// random sequence carries on where it was.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] as [`ChaosConfigBuilder::build`]; the faults are then
    /// left as they were.
    pub fn set_faults(
        &self,
        faults: impl IntoIterator<Item = Fault<Res>>,
    ) -> Result<(), ConfigError> {
        let faults: Vec<_> = faults.into_iter().collect();
        config::validate(&faults)?;
        // Built (and its metric handles resolved) before the lock is taken.
        let mut plan = Plan::new(&self.shared.name, faults);
        let mut current = self.shared.plan.write();
        plan.listeners = current.listeners.clone();
        *current = plan;
        Ok(())
    }

    /// Calls `listener` for every fault injected from now on
    /// ([`Event::ChaosInjected`]). A panicking listener is caught. With none
    /// registered, no event is built.
    ///
    /// ```
    /// use seawall::chaos::{ChaosService, ChaosConfig, Chaos, Fault, FaultKind};
    /// use seawall::observe::Event;
    /// use std::sync::{Arc, Mutex};
    /// use tower::{service_fn, Service, ServiceExt};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), seawall::BoxError> {
    /// let chaos = Chaos::new(ChaosConfig::builder().fault(Fault::error(1.0)).build()?);
    /// let seen = Arc::new(Mutex::new(Vec::new()));
    /// let log = seen.clone();
    /// chaos.on_event(move |event: &Event<'_>| {
    ///     if let Event::ChaosInjected { fault, .. } = event {
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
        F: Fn(&Event<'_>) + Send + Sync + 'static,
    {
        let listener: Listener = Arc::new(listener);
        let mut plan = self.shared.plan.write();
        plan.listeners = plan
            .listeners
            .iter()
            .cloned()
            .chain(std::iter::once(listener))
            .collect();
    }

    /// The faults now in force.
    pub fn faults(&self) -> Vec<Fault<Res>> {
        self.shared
            .plan
            .read()
            .armed
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
        self.shared.draws.seed()
    }

    /// What the next call gets.
    #[inline]
    fn decide(&self) -> Decision<Res> {
        // Relaxed: see `set_enabled`.
        if !self.shared.enabled.load(Ordering::Relaxed) {
            return Decision::Pass { delay: None };
        }
        self.decide_enabled()
    }

    // Out of line, so that the switched-off path stays one load and a branch.
    #[inline(never)]
    fn decide_enabled(&self) -> Decision<Res> {
        let z = self.shared.draws.next();
        let (delay, effect, kind, listeners) = {
            let plan = self.shared.plan.read();
            let Some(armed) = plan.pick(z) else {
                return Decision::Pass { delay: None };
            };
            armed.injected.increment(1);
            let delay = armed
                .fault
                .delay()
                .map(|latency| latency.pick(rng::mix(z ^ DELAY_SALT)));
            let listeners = (!plan.listeners.is_empty()).then(|| plan.listeners.clone());
            (
                delay,
                armed.fault.effect().clone(),
                armed.fault.kind(),
                listeners,
            )
        };
        // Listeners, like the fault's closures later, run outside the lock: they may
        // call `set_faults` or `on_event`.
        if let Some(listeners) = listeners {
            observe::emit(
                &listeners,
                &Event::ChaosInjected {
                    name: &self.shared.name,
                    fault: kind,
                },
            );
        }
        match effect {
            Effect::Pass => Decision::Pass { delay },
            Effect::Error(make) => Decision::Inject(Injection {
                delay,
                make: Make::Error(make),
            }),
            Effect::Respond(make) => Decision::Inject(Injection {
                delay,
                make: Make::Response(make),
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

/// What `poll_ready` decided for the next `call`.
enum Decision<Res> {
    /// Make the real call, after `delay`.
    Pass { delay: Option<Duration> },
    /// Answer with what `make` makes, after `delay`, without calling the inner
    /// service.
    Inject(Injection<Res>),
}

/// An injected error or response, made in `call` rather than in `poll_ready`:
/// holding the closure rather than its product keeps the service `Sync`
/// whatever the response type (axum's body is not).
struct Injection<Res> {
    delay: Option<Duration>,
    make: Make<Res>,
}

enum Make<Res> {
    Error(MakeError),
    Response(MakeResponse<Res>),
}

/// `ChaosService::passing` when no call has been decided, or the last was used.
const UNDECIDED: u64 = u64::MAX;

/// A tower service that injects faults into a share of its calls. Made by
/// [`ChaosLayer`].
///
/// Which fault a call gets is decided in `poll_ready` and kept until `call`.
/// A call that gets an error or a response never reaches the inner service:
/// `poll_ready` reports ready at once without polling it, so nothing is
/// reserved in it (a breaker's probe slot, a bulkhead's slot). A delayed call
/// that goes through calls the inner service in `call` and polls its future
/// once the delay is over (a lazy client future sends the request then). A
/// clone starts undecided.
///
/// # Errors
///
/// An injected error, or the inner service's error, boxed.
///
/// ```
/// use seawall::chaos::{ChaosService, ChaosConfig, Chaos, Fault};
/// use seawall::chaos::error::InjectedFault;
/// use tower::{service_fn, Service, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), seawall::BoxError> {
/// let chaos = Chaos::new(ChaosConfig::builder().fault(Fault::error(1.0)).build()?);
/// let mut service = ChaosService::new(
///     service_fn(|n: u32| async move { Ok::<_, std::io::Error>(n) }),
///     chaos.clone(),
/// );
/// let err = service.ready().await?.call(1).await.unwrap_err();
/// assert!(err.is::<InjectedFault>());
/// chaos.disable();
/// assert_eq!(service.ready().await?.call(1).await?, 1);
/// # Ok(())
/// # }
/// ```
pub struct ChaosService<S, Res> {
    inner: S,
    handle: Chaos<Res>,
    // What `poll_ready` decided for the next `call`, in two fields rather than one
    // `Decision`: a pass kept as one whole word is written and read back at once on
    // the hot path, where an enum's narrower stores followed by a wider load stall
    // store forwarding (about 15 ns a call, measured).
    /// A pass: its delay in nanoseconds (0 for none), or `UNDECIDED`.
    passing: u64,
    /// An injected error or response.
    injection: Option<Injection<Res>>,
}

impl<S, Res> ChaosService<S, Res> {
    /// Wraps `inner`, injecting what `handle` says.
    pub fn new(inner: S, handle: Chaos<Res>) -> Self {
        Self {
            inner,
            handle,
            passing: UNDECIDED,
            injection: None,
        }
    }

    /// The handle this service follows.
    pub fn handle(&self) -> &Chaos<Res> {
        &self.handle
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The inner service, unwrapped.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: Clone, Res> Clone for ChaosService<S, Res> {
    fn clone(&self) -> Self {
        Self::new(self.inner.clone(), self.handle.clone())
    }
}

impl<S: fmt::Debug, Res> fmt::Debug for ChaosService<S, Res> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Chaos")
            .field("inner", &self.inner)
            .field("handle", &self.handle)
            .finish_non_exhaustive()
    }
}

impl<S, Res, Request> Service<Request> for ChaosService<S, Res>
where
    S: Service<Request, Response = Res>,
    S::Error: Into<BoxError>,
{
    type Response = Res;
    type Error = BoxError;
    type Future = ResponseFuture<S::Future, Res>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        if self.passing == UNDECIDED && self.injection.is_none() {
            match self.handle.decide() {
                Decision::Pass { delay } => self.passing = delay.map_or(0, nanos),
                Decision::Inject(injection) => self.injection = Some(injection),
            }
        }
        if self.injection.is_some() {
            // The inner service will not be called, so it need not be ready.
            return Poll::Ready(Ok(()));
        }
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    #[inline]
    fn call(&mut self, request: Request) -> Self::Future {
        if self.passing != UNDECIDED {
            let delay = std::mem::replace(&mut self.passing, UNDECIDED);
            let future = self.inner.call(request);
            if delay == 0 {
                return ResponseFuture::inner(future);
            }
            return ResponseFuture::delayed(future, sleep(Duration::from_nanos(delay)));
        }
        let Injection { delay, make } = self
            .injection
            .take()
            .expect("poll_ready must be called (and return Ready(Ok)) before call");
        let result = match make {
            Make::Error(make) => Err(make()),
            Make::Response(make) => Ok(make()),
        };
        ResponseFuture::injected(result, delay.map(sleep))
    }
}

/// `delay` in whole nanoseconds, short of `UNDECIDED` (584 years).
fn nanos(delay: Duration) -> u64 {
    u64::try_from(delay.as_nanos())
        .unwrap_or(u64::MAX)
        .min(UNDECIDED - 1)
}

fn sleep(delay: Duration) -> Pin<Box<tokio::time::Sleep>> {
    Box::pin(tokio::time::sleep(delay))
}
