//! Retry configuration and its validating builder.

use std::borrow::Cow;
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

use crate::error::ConfigError;
use crate::sync::{arc_from_box, Arc};
use crate::validate::{bounded_duration, positive_duration};

use super::backoff::{Backoff, StandardBackoff};
use super::budget::RetryBudget;
use super::budget_handle::BudgetHandle;
use super::event::{RetryEvent, RetryListeners};
use super::ratio_budget::RatioBudget;

/// The most attempts a request may be given.
const MAX_ATTEMPTS: u32 = 100;

/// The configuration of a [`RetryLayer`](super::RetryLayer). Build one with
/// [`RetryConfig::builder`]; [`RetryConfig::default`] is valid as is.
///
/// | setting | default |
/// |---|---|
/// | `name` | `"default"` |
/// | `max_attempts` | 3 (the first attempt and two retries) |
/// | `backoff` | exponential from 100 ms, doubling, capped at 30 s, full jitter |
/// | `budget` | a ratio budget: 20% of requests over 10 s, plus 10 retries a second |
/// | `timeout` (overall, across attempts) | none |
/// | `attempt_timeout` (to not start attempts that cannot finish) | none |
/// | `max_pushback` | 60 s |
/// | `retry_rejections` | off |
/// | `seed` | random |
///
/// ```
/// use seawall::retry::{GrpcRetryThrottle, Jitter, RetryConfig, StandardBackoff};
/// use std::time::Duration;
///
/// let config = RetryConfig::builder()
///     .name("inventory")
///     .max_attempts(4)
///     .backoff(StandardBackoff::new(Duration::from_millis(50), 2.0).with_jitter(Jitter::Equal))
///     .budget(GrpcRetryThrottle::new(10, 0.1)?)
///     .timeout(Duration::from_secs(5))
///     .attempt_timeout(Duration::from_secs(1))
///     .build()?;
/// assert_eq!(config.max_attempts(), 4);
/// # Ok::<(), seawall::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct RetryConfig {
    pub(crate) name: Cow<'static, str>,
    pub(crate) max_attempts: u32,
    pub(crate) backoff: Arc<dyn Backoff>,
    pub(crate) budget: Option<BudgetHandle>,
    pub(crate) timeout: Option<Duration>,
    pub(crate) attempt_timeout: Option<Duration>,
    pub(crate) max_pushback: Duration,
    pub(crate) retry_rejections: bool,
    pub(crate) seed: u64,
    /// Shared by the config's clones, and so by every service of a layer.
    pub(crate) listeners: Arc<RetryListeners>,
    /// Whether each attempt runs in a `tracing` span of its own.
    #[cfg(feature = "tracing")]
    pub(crate) attempt_spans: bool,
}

impl RetryConfig {
    /// A builder starting from the defaults.
    pub fn builder() -> RetryConfigBuilder {
        RetryConfigBuilder {
            config: Self::default(),
            backoff_error: None,
        }
    }

    /// The name in metric labels and events.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The most attempts a request gets, the first included.
    pub fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// The shared budget, if any.
    pub fn budget(&self) -> Option<&dyn RetryBudget> {
        self.budget.as_ref().map(BudgetHandle::as_dyn)
    }

    /// The overall time limit of a request, across attempts.
    pub fn timeout(&self) -> Option<Duration> {
        self.timeout
    }
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            name: Cow::Borrowed("default"),
            max_attempts: 3,
            backoff: arc_from_box(Box::new(StandardBackoff::default())),
            budget: Some(BudgetHandle::Ratio(
                RatioBudget::new(0.2, 10, Duration::from_secs(10))
                    .expect("the default budget is valid"),
            )),
            timeout: None,
            attempt_timeout: None,
            max_pushback: Duration::from_secs(60),
            retry_rejections: false,
            seed: std::collections::hash_map::RandomState::new()
                .build_hasher()
                .finish(),
            listeners: Arc::new(RetryListeners::new()),
            #[cfg(feature = "tracing")]
            attempt_spans: false,
        }
    }
}

impl fmt::Debug for RetryConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut debug = f.debug_struct("RetryConfig");
        debug
            .field("name", &self.name)
            .field("max_attempts", &self.max_attempts)
            .field("budget", &self.budget)
            .field("timeout", &self.timeout)
            .field("attempt_timeout", &self.attempt_timeout)
            .field("max_pushback", &self.max_pushback)
            .field("retry_rejections", &self.retry_rejections)
            .field("seed", &self.seed)
            .field("listeners", &self.listeners.len());
        #[cfg(feature = "tracing")]
        debug.field("attempt_spans", &self.attempt_spans);
        debug.finish_non_exhaustive()
    }
}

/// Builds a [`RetryConfig`]; [`build`](Self::build) checks every value.
///
/// ```
/// use seawall::retry::RetryConfig;
/// use std::time::Duration;
///
/// let err = RetryConfig::builder().max_attempts(0).build().unwrap_err();
/// assert_eq!(err.field(), "max_attempts");
///
/// let config = RetryConfig::builder().name("search").timeout(Duration::from_secs(2)).build()?;
/// assert_eq!(config.timeout(), Some(Duration::from_secs(2)));
/// # Ok::<(), seawall::ConfigError>(())
/// ```
#[must_use]
pub struct RetryConfigBuilder {
    config: RetryConfig,
    backoff_error: Option<ConfigError>,
}

impl fmt::Debug for RetryConfigBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("RetryConfigBuilder")
            .field(&self.config)
            .finish()
    }
}

impl RetryConfigBuilder {
    /// The name in metric labels and events.
    pub fn name(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.config.name = name.into();
        self
    }

    /// The most attempts a request gets, the first included: 1 (never retry)
    /// to 100.
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.config.max_attempts = attempts;
        self
    }

    /// How long to wait before each retry.
    pub fn backoff(mut self, backoff: impl Backoff + 'static) -> Self {
        self.backoff_error = backoff.validate().err();
        self.config.backoff = arc_from_box(Box::new(backoff));
        self
    }

    /// Retries draw from `budget`, any [`RetryBudget`]: a built-in
    /// ([`RatioBudget`], [`GrpcRetryThrottle`](super::GrpcRetryThrottle),
    /// [`AwsRetryQuota`](super::AwsRetryQuota)) or one of your own. Share one
    /// budget between layers by passing clones of a built-in (they share
    /// their state) or of an `Arc`. Each request the layer could retry (more
    /// than one attempt and a copy of the request) deposits into it once; one
    /// it cannot retry does not.
    pub fn budget(mut self, budget: impl RetryBudget + 'static) -> Self {
        self.config.budget = Some(BudgetHandle::new(budget));
        self
    }

    /// No budget: only `max_attempts` limits retries. Not recommended.
    pub fn no_budget(mut self) -> Self {
        self.config.budget = None;
        self
    }

    /// The overall time limit of a request, across attempts and waits. A retry
    /// that could not finish within it is not started. A [`Deadline`](crate::timeout::Deadline)
    /// carried by the request (see [`CloneRequest::deadline_of`](super::CloneRequest::deadline_of))
    /// applies too; the earlier wins.
    ///
    /// The retry layer does not cut an attempt in flight short: strategies that
    /// can (such as [`HttpReplay`](super::HttpReplay)) put the deadline on
    /// each attempt, and a [`TimeoutService`](crate::timeout::TimeoutService) further in, reading
    /// it with [`FromExtensions`](crate::timeout::FromExtensions), stops the
    /// attempt there.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.config.timeout = Some(timeout);
        self
    }

    /// How long one attempt may take (the [`TimeoutService`](crate::timeout::TimeoutService)
    /// layer's value): a retry is not started unless its wait plus this much
    /// time fits before the deadline.
    pub fn attempt_timeout(mut self, timeout: Duration) -> Self {
        self.config.attempt_timeout = Some(timeout);
        self
    }

    /// The longest server pushback honoured; longer ones are cut to it.
    pub fn max_pushback(mut self, max: Duration) -> Self {
        self.config.max_pushback = max;
        self
    }

    /// Also retry seawall's own rejections (an open breaker, an empty budget
    /// further in).
    pub fn retry_rejections(mut self, retry: bool) -> Self {
        self.config.retry_rejections = retry;
        self
    }

    /// Seeds the jitter's random source, for reproducible delays.
    pub fn seed(mut self, seed: u64) -> Self {
        self.config.seed = seed;
        self
    }

    /// Calls `listener` for every [`RetryEvent`], after the listeners added
    /// before it. A panicking listener is caught.
    pub fn on_event<F>(self, listener: F) -> Self
    where
        F: Fn(&RetryEvent<'_>) + Send + Sync + 'static,
    {
        self.config.listeners.add(Box::new(listener));
        self
    }

    /// Runs each attempt (the first included) in a `tracing` span of its
    /// own, `retry attempt` at `INFO` with target `seawall::retry`, carrying
    /// `seawall.retry.name`, `seawall.retry.attempt` (1 for the first) and,
    /// on a resend, `http.request.resend_count`. Events of the layers inside
    /// (a timeout, the breaker recording the attempt) then nest under their
    /// attempt. The span is entered whenever the attempt's response future is
    /// polled; it is made after the attempt is called, so what an inner layer
    /// reports from `poll_ready` (a rejection) falls outside it.
    ///
    /// Off by default: each span costs the subscriber's work, on every call.
    /// Off, it costs a request one predictable branch.
    ///
    /// ```
    /// use seawall::retry::RetryConfig;
    ///
    /// let config = RetryConfig::builder().name("inventory").attempt_spans(true).build()?;
    /// # drop(config);
    /// # Ok::<(), seawall::ConfigError>(())
    /// ```
    #[cfg(feature = "tracing")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tracing")))]
    pub fn attempt_spans(mut self, on: bool) -> Self {
        self.config.attempt_spans = on;
        self
    }

    /// Checks every value.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the first value out of range.
    pub fn build(self) -> Result<RetryConfig, ConfigError> {
        if let Some(err) = self.backoff_error {
            return Err(err);
        }
        let config = self.config;
        if !(1..=MAX_ATTEMPTS).contains(&config.max_attempts) {
            return Err(ConfigError::new(
                "max_attempts",
                config.max_attempts,
                "from 1 to 100",
            ));
        }
        if let Some(timeout) = config.timeout {
            positive_duration("timeout", timeout)?;
        }
        if let Some(timeout) = config.attempt_timeout {
            positive_duration("attempt_timeout", timeout)?;
        }
        bounded_duration("max_pushback", config.max_pushback)?;
        Ok(config)
    }
}
