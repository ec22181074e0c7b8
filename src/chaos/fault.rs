//! What to inject: faults, their rates and their latencies.

use std::fmt;
// std's `Arc`, not the sync shim's: it holds the user's closures, unsized
// (`Arc<dyn Fn>`), which loom's `Arc` cannot, and no state a model checks.
use std::sync::Arc;
use std::time::Duration;

use crate::error::BoxError;

use super::error::InjectedFault;

/// How long an injected delay lasts: a fixed time, or a time drawn uniformly
/// from a range for each call.
///
/// ```
/// use seawall::chaos::Latency;
/// use std::time::Duration;
///
/// let fixed = Latency::fixed(Duration::from_millis(300));
/// assert_eq!((fixed.min(), fixed.max()), (Duration::from_millis(300), Duration::from_millis(300)));
/// let spread = Latency::between(Duration::from_millis(100), Duration::from_secs(2));
/// assert_eq!(spread.max(), Duration::from_secs(2));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Latency {
    min: Duration,
    max: Duration,
}

impl Latency {
    /// Always `delay`.
    pub fn fixed(delay: Duration) -> Self {
        Self {
            min: delay,
            max: delay,
        }
    }

    /// Between `min` and `max`, both included, uniformly. `min` must not be
    /// above `max`, and `max` at most 7 days; the config builder checks.
    pub fn between(min: Duration, max: Duration) -> Self {
        Self { min, max }
    }

    /// The shortest delay.
    pub fn min(&self) -> Duration {
        self.min
    }

    /// The longest delay.
    pub fn max(&self) -> Duration {
        self.max
    }

    /// The delay for the random value `z`, with nanosecond resolution.
    pub(crate) fn pick(&self, z: u64) -> Duration {
        let span = self.max.saturating_sub(self.min);
        if span.is_zero() {
            return self.min;
        }
        // Spans beyond 584 years are clamped; `z * (span + 1) / 2^64` maps z onto
        // 0..=span without the bias of a modulo.
        let span = u64::try_from(span.as_nanos()).unwrap_or(u64::MAX - 1);
        let offset = ((u128::from(z) * (u128::from(span) + 1)) >> 64) as u64;
        self.min.saturating_add(Duration::from_nanos(offset))
    }
}

/// What an injected fault does, as used in the `fault` label of
/// `seawall_chaos_injected_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FaultKind {
    /// A delay, then the real call.
    Latency,
    /// An error instead of the call.
    Error,
    /// A made-up response instead of the call.
    Response,
    /// A delay, then an error instead of the call.
    LatencyError,
    /// A delay, then a made-up response instead of the call.
    LatencyResponse,
}

impl FaultKind {
    /// The kind's name in `snake_case`, as used in metric labels.
    ///
    /// ```
    /// assert_eq!(seawall::chaos::FaultKind::LatencyError.as_str(), "latency_error");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Latency => "latency",
            Self::Error => "error",
            Self::Response => "response",
            Self::LatencyError => "latency_error",
            Self::LatencyResponse => "latency_response",
        }
    }
}

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

pub(crate) type MakeError = Arc<dyn Fn() -> BoxError + Send + Sync>;
pub(crate) type MakeResponse<Res> = Arc<dyn Fn() -> Res + Send + Sync>;

/// What a fault does once its delay, if any, is over.
pub(crate) enum Effect<Res> {
    /// Make the real call.
    Pass,
    Error(MakeError),
    Respond(MakeResponse<Res>),
}

impl<Res> Clone for Effect<Res> {
    fn clone(&self) -> Self {
        match self {
            Self::Pass => Self::Pass,
            Self::Error(make) => Self::Error(make.clone()),
            Self::Respond(make) => Self::Respond(make.clone()),
        }
    }
}

/// One fault to inject into a share of the calls: an error, a response, a
/// delay, or a delay and then an error or a response.
///
/// `rate` is the share of all calls that get this fault, from 0 to 1. A
/// config's faults split the calls between them (one random draw per call
/// picks at most one fault), so their rates add up to at most 1 and each gets
/// exactly its share.
///
/// `Res` is the response type of the service the fault is injected into;
/// faults that make no response leave it to be inferred.
///
/// ```
/// use seawall::chaos::{Fault, FaultKind, Latency};
/// use std::time::Duration;
///
/// // 5% of calls fail at once with `InjectedFault`.
/// let fail = Fault::<String>::error(0.05);
/// // 10% fail with an error of our choosing, after 2 s.
/// let reset = Fault::<String>::error_with(0.10, || std::io::Error::other("connection reset"))
///     .with_latency(Latency::fixed(Duration::from_secs(2)));
/// // 20% answer with a canned response.
/// let stale = Fault::response(0.20, || String::from("stale"));
/// // 30% take 50 to 500 ms longer, then make the real call.
/// let slow = Fault::<String>::latency(0.30, Latency::between(Duration::from_millis(50), Duration::from_millis(500)));
/// assert_eq!(reset.kind(), FaultKind::LatencyError);
/// assert_eq!(slow.rate(), 0.30);
/// # drop((fail, stale));
/// ```
pub struct Fault<Res> {
    rate: f64,
    latency: Option<Latency>,
    effect: Effect<Res>,
}

impl<Res> Fault<Res> {
    fn new(rate: f64, effect: Effect<Res>) -> Self {
        Self {
            rate,
            latency: None,
            effect,
        }
    }

    /// Fails `rate` of the calls with [`InjectedFault`], without calling the
    /// inner service.
    pub fn error(rate: f64) -> Self {
        Self::new(
            rate,
            Effect::Error(Arc::new(|| InjectedFault::new().into())),
        )
    }

    /// Fails `rate` of the calls with an error `make` returns, without calling
    /// the inner service.
    pub fn error_with<F, E>(rate: f64, make: F) -> Self
    where
        F: Fn() -> E + Send + Sync + 'static,
        E: Into<BoxError>,
    {
        Self::new(rate, Effect::Error(Arc::new(move || make().into())))
    }

    /// Answers `rate` of the calls with a response `make` returns (say, an
    /// HTTP `503`), without calling the inner service.
    pub fn response<F>(rate: f64, make: F) -> Self
    where
        F: Fn() -> Res + Send + Sync + 'static,
    {
        Self::new(rate, Effect::Respond(Arc::new(make)))
    }

    /// Delays `rate` of the calls by `latency`, then makes them as usual.
    pub fn latency(rate: f64, latency: Latency) -> Self {
        Self::new(rate, Effect::Pass).with_latency(latency)
    }

    /// Waits `latency` before the fault takes effect: a slow failure, or a
    /// slow canned response.
    pub fn with_latency(mut self, latency: Latency) -> Self {
        self.latency = Some(latency);
        self
    }

    /// The share of calls that get this fault.
    pub fn rate(&self) -> f64 {
        self.rate
    }

    /// The delay, if the fault has one.
    pub fn delay(&self) -> Option<Latency> {
        self.latency
    }

    /// What the fault does.
    pub fn kind(&self) -> FaultKind {
        match (&self.effect, self.latency.is_some()) {
            (Effect::Pass, _) => FaultKind::Latency,
            (Effect::Error(_), false) => FaultKind::Error,
            (Effect::Error(_), true) => FaultKind::LatencyError,
            (Effect::Respond(_), false) => FaultKind::Response,
            (Effect::Respond(_), true) => FaultKind::LatencyResponse,
        }
    }

    pub(crate) fn effect(&self) -> &Effect<Res> {
        &self.effect
    }
}

#[cfg(feature = "http")]
impl<B: Default + 'static> Fault<http::Response<B>> {
    /// Answers `rate` of the calls with an empty `http::Response` of `status`
    /// (say, `503 Service Unavailable`), without calling the inner service.
    ///
    /// ```
    /// use seawall::chaos::{Fault, FaultKind};
    /// use http::StatusCode;
    ///
    /// let unavailable = Fault::<http::Response<String>>::status(0.2, StatusCode::SERVICE_UNAVAILABLE);
    /// assert_eq!(unavailable.kind(), FaultKind::Response);
    /// ```
    pub fn status(rate: f64, status: http::StatusCode) -> Self {
        Self::response(rate, move || {
            let mut response = http::Response::new(B::default());
            *response.status_mut() = status;
            response
        })
    }
}

impl<Res> Clone for Fault<Res> {
    fn clone(&self) -> Self {
        Self {
            rate: self.rate,
            latency: self.latency,
            effect: self.effect.clone(),
        }
    }
}

impl<Res> fmt::Debug for Fault<Res> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fault")
            .field("kind", &self.kind())
            .field("rate", &self.rate)
            .field("latency", &self.latency)
            .finish()
    }
}
