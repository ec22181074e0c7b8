//! The health of seawall's own shared handles (a breaker, a bulkhead): one
//! component, generic over what it reads.

use crate::breaker::{Breaker, State};

use super::{Component, ComponentFuture, Details, Status};

/// What a [`HandleComponent`] reads of its handle: its name, its status now,
/// and the details a probe shows. Implemented for the handles seawall
/// registers itself; anything else implements [`Component`] directly.
pub(crate) trait HandleHealth: Send + Sync + 'static {
    /// The component's kind in the report (`breaker`, `bulkhead`).
    const KIND: &'static str;

    /// The handle's name.
    fn name(&self) -> &str;

    /// The status, from what the handle already knows.
    fn status(&self) -> Status;

    /// The status and what explains it.
    fn details(&self) -> Details;
}

/// A seawall handle as a health component: its status read from what it
/// already knows, without calling anything.
///
/// Used through its two names, [`BreakerComponent`] and
/// [`BulkheadComponent`] (feature `bulkhead`), which
/// [`HealthRegistry::register_breaker`](super::HealthRegistry::register_breaker)
/// and [`register_bulkhead`](super::HealthRegistry::register_bulkhead) make
/// for you. Anything else with a health implements [`Component`].
///
/// ```
/// use seawall::breaker::{Breaker, BreakerConfig};
/// use seawall::health::{Component, HandleComponent, Status};
///
/// let breaker = Breaker::new(BreakerConfig::builder().name("payments").build()?);
/// let component = HandleComponent::new(breaker);
/// assert_eq!((component.name(), component.kind()), ("payments", "breaker"));
/// assert_eq!(component.status(), Some(Status::Up));
/// # Ok::<(), seawall::ConfigError>(())
/// ```
#[derive(Clone, Debug)]
pub struct HandleComponent<H> {
    handle: H,
}

impl<H> HandleComponent<H> {
    /// The component for `handle`.
    pub fn new(handle: H) -> Self {
        Self { handle }
    }

    /// The handle it reads.
    pub fn handle(&self) -> &H {
        &self.handle
    }
}

impl<H: HandleHealth> Component for HandleComponent<H> {
    fn name(&self) -> &str {
        self.handle.name()
    }

    fn kind(&self) -> &str {
        H::KIND
    }

    fn status(&self) -> Option<Status> {
        Some(self.handle.status())
    }

    fn check(&self) -> ComponentFuture<'_> {
        Box::pin(std::future::ready(self.handle.details()))
    }
}

/// The health of a circuit breaker: what it already knows about its
/// dependency, without calling it.
///
/// Closed, disabled or metrics-only is [`Up`](Status::Up); half-open (probing)
/// is [`Degraded`](Status::Degraded); open or forced open is
/// [`Down`](Status::Down). Its details carry the state, the failure and
/// slow-call rates, the time until a probe and the call counts. Registered
/// with [`HealthRegistry::register_breaker`](super::HealthRegistry::register_breaker),
/// which also subscribes to its state transitions.
///
/// ```
/// use seawall::breaker::{Breaker, BreakerConfig};
/// use seawall::health::{BreakerComponent, Component, Status};
///
/// let breaker = Breaker::new(BreakerConfig::default());
/// let component = BreakerComponent::new(breaker.clone());
/// assert_eq!(component.status(), Some(Status::Up));
/// breaker.force_open();
/// assert_eq!(component.status(), Some(Status::Down));
/// ```
pub type BreakerComponent = HandleComponent<Breaker>;

impl BreakerComponent {
    /// The status a breaker in `state` reports.
    ///
    /// ```
    /// use seawall::breaker::State;
    /// use seawall::health::{BreakerComponent, Status};
    ///
    /// assert_eq!(BreakerComponent::status_of(State::HalfOpen), Status::Degraded);
    /// ```
    pub fn status_of(state: State) -> Status {
        match state {
            State::Closed | State::Disabled | State::MetricsOnly => Status::Up,
            State::HalfOpen => Status::Degraded,
            State::Open | State::ForcedOpen => Status::Down,
        }
    }
}

impl HandleHealth for Breaker {
    const KIND: &'static str = "breaker";

    fn name(&self) -> &str {
        Breaker::name(self)
    }

    fn status(&self) -> Status {
        BreakerComponent::status_of(self.state())
    }

    fn details(&self) -> Details {
        let metrics = self.metrics();
        let mut details = Details::new(BreakerComponent::status_of(metrics.state));
        details.state = Some(metrics.state.as_str().to_owned());
        details.failure_rate = metrics.failure_rate;
        details.slow_call_rate = metrics.slow_call_rate;
        details.time_until_probe = metrics.time_until_probe;
        details
            .with_extra("calls", metrics.calls)
            .with_extra("failed_calls", metrics.failed_calls)
            .with_extra("slow_calls", metrics.slow_calls)
            .with_extra("not_permitted_calls", metrics.not_permitted_calls)
    }
}

/// A [`Bulkhead`](crate::bulkhead::Bulkhead) as a health component.
///
/// A bulkhead with a free slot is up; a full one is degraded: the service is
/// shedding or queueing load, which a load balancer may want to know, but the
/// dependency behind it is not down. (Mark it critical to make readiness
/// follow it anyway: a critical component's degraded status stays degraded;
/// only down fails readiness.) Its details carry `in_flight`,
/// `max_concurrent_calls`, `waiting` and `rejected`. A bulkhead has no
/// transitions to announce, so its status is looked at when a report is made.
///
/// ```
/// use seawall::bulkhead::{Bulkhead, BulkheadConfig};
/// use seawall::health::{BulkheadComponent, Component, Status};
///
/// let bulkhead = Bulkhead::new(BulkheadConfig::builder().max_concurrent_calls(1).build()?);
/// let component = BulkheadComponent::new(bulkhead.clone());
/// assert_eq!(component.status(), Some(Status::Up));
/// let _slot = bulkhead.try_acquire()?;
/// assert_eq!(component.status(), Some(Status::Degraded));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[cfg(feature = "bulkhead")]
pub type BulkheadComponent = HandleComponent<crate::bulkhead::Bulkhead>;

#[cfg(feature = "bulkhead")]
impl HandleHealth for crate::bulkhead::Bulkhead {
    const KIND: &'static str = "bulkhead";

    fn name(&self) -> &str {
        crate::bulkhead::Bulkhead::name(self)
    }

    fn status(&self) -> Status {
        if self.in_flight() >= self.max_concurrent_calls() {
            Status::Degraded
        } else {
            Status::Up
        }
    }

    fn details(&self) -> Details {
        let status = HandleHealth::status(self);
        let mut details = Details::new(status);
        details.state = Some(
            if status == Status::Up {
                "available"
            } else {
                "full"
            }
            .to_owned(),
        );
        details
            .with_extra("in_flight", u64::from(self.in_flight()))
            .with_extra(
                "max_concurrent_calls",
                u64::from(self.max_concurrent_calls()),
            )
            .with_extra("waiting", u64::from(self.waiting()))
            .with_extra("rejected", self.rejected())
    }
}
