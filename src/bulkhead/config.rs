//! Bulkhead configuration and its validating builder.

use std::borrow::Cow;
use std::time::Duration;

use crate::error::ConfigError;
use crate::keyed::MetricScope;
use crate::validate::positive_duration;

/// The most concurrent calls, and the most waiters, one bulkhead may hold.
const MAX_SLOTS: u32 = 1_000_000;

/// The configuration of a [`Bulkhead`](super::Bulkhead). Build one with
/// [`BulkheadConfig::builder`]; [`BulkheadConfig::default`] is valid as is.
///
/// | setting | default |
/// |---|---|
/// | `name` | `"default"` |
/// | `max_concurrent_calls` | 25 |
/// | `wait_for_slot` | off: fail fast when full |
///
/// ```
/// use seawall::bulkhead::BulkheadConfig;
/// use std::time::Duration;
///
/// let config = BulkheadConfig::builder()
///     .name("database")
///     .max_concurrent_calls(16)
///     .wait_for_slot(32, Duration::from_millis(50))
///     .build()?;
/// assert_eq!(config.max_concurrent_calls(), 16);
/// assert_eq!(config.max_waiting(), 32);
/// # Ok::<(), seawall::ConfigError>(())
/// ```
#[derive(Clone, Debug)]
pub struct BulkheadConfig {
    pub(crate) name: Cow<'static, str>,
    pub(crate) max_concurrent: u32,
    pub(crate) max_waiting: u32,
    pub(crate) max_wait: Duration,
    /// Whether the bulkhead's series are its own or shared with other keys'
    /// bulkheads (set by a keyed handle only).
    pub(crate) metric_scope: MetricScope,
}

impl BulkheadConfig {
    /// A builder starting from the defaults.
    pub fn builder() -> BulkheadConfigBuilder {
        BulkheadConfigBuilder::default()
    }

    /// The bulkhead's name: the `name` label of its metrics and events.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// How many calls may be in flight at once.
    pub fn max_concurrent_calls(&self) -> u32 {
        self.max_concurrent
    }

    /// How many callers may wait for a slot at once; 0 when waiting is off.
    pub fn max_waiting(&self) -> u32 {
        self.max_waiting
    }

    /// How long a caller waits for a slot; zero when waiting is off.
    pub fn max_wait(&self) -> Duration {
        self.max_wait
    }

    pub(crate) fn waits(&self) -> bool {
        self.max_waiting > 0
    }
}

impl Default for BulkheadConfig {
    fn default() -> Self {
        BulkheadConfigBuilder::default()
            .build()
            .expect("the default configuration is valid")
    }
}

/// Builds a [`BulkheadConfig`], checking every field in [`build`](Self::build).
///
/// ```
/// use seawall::bulkhead::BulkheadConfig;
///
/// let err = BulkheadConfig::builder().max_concurrent_calls(0).build().unwrap_err();
/// assert_eq!(err.field(), "max_concurrent_calls");
/// ```
#[derive(Clone, Debug)]
pub struct BulkheadConfigBuilder {
    name: Cow<'static, str>,
    max_concurrent: u32,
    wait: Option<(u32, Duration)>,
}

impl Default for BulkheadConfigBuilder {
    fn default() -> Self {
        Self {
            name: Cow::Borrowed("default"),
            max_concurrent: 25,
            wait: None,
        }
    }
}

impl BulkheadConfigBuilder {
    /// The name used in metrics labels and events.
    pub fn name(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.name = name.into();
        self
    }

    /// How many calls may be in flight at once (1 to 1,000,000).
    pub fn max_concurrent_calls(mut self, calls: u32) -> Self {
        self.max_concurrent = calls;
        self
    }

    /// When full, let up to `max_waiting` callers (1 to 1,000,000) wait, each
    /// for at most `max_wait` (greater than 0, at most 7 days), and hand
    /// freed slots to them in arrival order. Without this a full bulkhead
    /// refuses at once.
    pub fn wait_for_slot(mut self, max_waiting: u32, max_wait: Duration) -> Self {
        self.wait = Some((max_waiting, max_wait));
        self
    }

    /// Checks every field and builds the configuration.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the first field out of its allowed range.
    pub fn build(self) -> Result<BulkheadConfig, ConfigError> {
        if !(1..=MAX_SLOTS).contains(&self.max_concurrent) {
            return Err(ConfigError::new(
                "max_concurrent_calls",
                self.max_concurrent,
                "1 to 1000000",
            ));
        }
        let (max_waiting, max_wait) = match self.wait {
            None => (0, Duration::ZERO),
            Some((waiting, _)) if !(1..=MAX_SLOTS).contains(&waiting) => {
                return Err(ConfigError::new(
                    "wait_for_slot.max_waiting",
                    waiting,
                    "1 to 1000000",
                ))
            }
            Some((waiting, wait)) => (waiting, positive_duration("wait_for_slot.max_wait", wait)?),
        };
        Ok(BulkheadConfig {
            name: self.name,
            max_concurrent: self.max_concurrent,
            max_waiting,
            max_wait,
            metric_scope: MetricScope::Own,
        })
    }
}
