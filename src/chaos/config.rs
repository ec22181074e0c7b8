//! A chaos handle's configuration and its validating builder.

use std::borrow::Cow;
use std::fmt;

use crate::error::ConfigError;
use crate::validate::bounded_duration;

use super::fault::Fault;

/// Checks what a set of faults can be checked for: each rate within 0 to 1,
/// the rates together at most 1, each latency range the right way round and
/// at most 7 days long.
pub(crate) fn validate<Res>(faults: &[Fault<Res>]) -> Result<(), ConfigError> {
    let mut total = 0.0;
    for fault in faults {
        let rate = fault.rate();
        if !(0.0..=1.0).contains(&rate) {
            return Err(ConfigError::new("fault.rate", rate, "from 0 to 1"));
        }
        if let Some(latency) = fault.delay() {
            if latency.min() > latency.max() {
                return Err(ConfigError::new(
                    "fault.latency",
                    latency,
                    "a minimum no greater than the maximum",
                ));
            }
            bounded_duration("fault.latency", latency.max())?;
        }
        total += rate;
    }
    // A little slack for sums like 0.1 + 0.2 + 0.7, which floats make 1.0000000000000002.
    if total > 1.0 + 1e-9 {
        return Err(ConfigError::new(
            "faults",
            total,
            "rates adding up to at most 1",
        ));
    }
    Ok(())
}

/// The configuration of a [`Chaos`](super::Chaos). Build one with
/// [`ChaosConfig::builder`]; [`ChaosConfig::default`] is valid and injects
/// nothing.
///
/// | setting | default |
/// |---|---|
/// | `name` | `"default"` |
/// | `seed` | 0: the same faults on the same calls in every run |
/// | `enabled` | `true` |
/// | `faults` | none |
///
/// ```
/// use seawall::chaos::{ChaosConfig, Fault, Latency};
/// use std::time::Duration;
///
/// let config = ChaosConfig::<String>::builder()
///     .name("inventory")
///     .seed(42)
///     .fault(Fault::error(0.1))
///     .fault(Fault::latency(0.2, Latency::fixed(Duration::from_millis(300))))
///     .build()?;
/// assert_eq!(config.faults().len(), 2);
///
/// let too_much = ChaosConfig::<String>::builder()
///     .fault(Fault::error(0.7))
///     .fault(Fault::error(0.7))
///     .build()
///     .unwrap_err();
/// assert_eq!(too_much.field(), "faults");
/// # Ok::<(), seawall::ConfigError>(())
/// ```
pub struct ChaosConfig<Res> {
    pub(crate) name: Cow<'static, str>,
    pub(crate) seed: u64,
    pub(crate) enabled: bool,
    pub(crate) faults: Vec<Fault<Res>>,
}

impl<Res> ChaosConfig<Res> {
    /// A builder starting from the defaults.
    pub fn builder() -> ChaosConfigBuilder<Res> {
        ChaosConfigBuilder {
            config: Self::default(),
        }
    }

    /// The name used in metric labels.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The seed of the random source.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Whether chaos starts switched on.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// The faults to inject.
    pub fn faults(&self) -> &[Fault<Res>] {
        &self.faults
    }
}

impl<Res> Default for ChaosConfig<Res> {
    fn default() -> Self {
        Self {
            name: Cow::Borrowed("default"),
            seed: 0,
            enabled: true,
            faults: Vec::new(),
        }
    }
}

impl<Res> Clone for ChaosConfig<Res> {
    fn clone(&self) -> Self {
        Self {
            name: self.name.clone(),
            seed: self.seed,
            enabled: self.enabled,
            faults: self.faults.clone(),
        }
    }
}

impl<Res> fmt::Debug for ChaosConfig<Res> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChaosConfig")
            .field("name", &self.name)
            .field("seed", &self.seed)
            .field("enabled", &self.enabled)
            .field("faults", &self.faults)
            .finish()
    }
}

/// Builds a [`ChaosConfig`], checking it in [`build`](Self::build).
pub struct ChaosConfigBuilder<Res> {
    config: ChaosConfig<Res>,
}

impl<Res> ChaosConfigBuilder<Res> {
    /// The name used in metric labels.
    pub fn name(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.config.name = name.into();
        self
    }

    /// The seed of the random source: the same seed gives the same faults on
    /// the same calls (in the order they are made). Pass one from the clock
    /// or the environment for a different run each time, and log it to replay
    /// a run that found something.
    pub fn seed(mut self, seed: u64) -> Self {
        self.config.seed = seed;
        self
    }

    /// Whether chaos starts switched on (the default) or waits for
    /// [`Chaos::enable`](super::Chaos::enable).
    pub fn enabled(mut self, enabled: bool) -> Self {
        self.config.enabled = enabled;
        self
    }

    /// Adds a fault.
    pub fn fault(mut self, fault: Fault<Res>) -> Self {
        self.config.faults.push(fault);
        self
    }

    /// Adds several faults.
    pub fn faults(mut self, faults: impl IntoIterator<Item = Fault<Res>>) -> Self {
        self.config.faults.extend(faults);
        self
    }

    /// The config.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] for a rate outside 0 to 1 (`fault.rate`), rates adding
    /// up to more than 1 (`faults`), or a latency range whose minimum is above
    /// its maximum or whose maximum is above 7 days (`fault.latency`).
    pub fn build(self) -> Result<ChaosConfig<Res>, ConfigError> {
        validate(&self.config.faults)?;
        Ok(self.config)
    }
}

impl<Res> fmt::Debug for ChaosConfigBuilder<Res> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChaosConfigBuilder")
            .field("config", &self.config)
            .finish()
    }
}
