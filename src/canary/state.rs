//! Where a rollout is, packed in one word that every request reads.
//!
//! The state word is one `AtomicU64` (held by [`CanaryCore`](super::core::CanaryCore)):
//!
//! ```text
//! bit  0..14   weight: the candidate's share in basis points, 0..=10000
//! bit 14..16   phase: 0 running, 1 paused, 2 promoted, 3 rolled back
//! bit 16..24   step: the index of the current step
//! bit 32..64   generation: one more at every change of step or phase, so a
//!              call admitted under another step is not counted in this one
//! ```
//!
//! One load gives a request everything it routes by, and the generation it
//! was admitted under.

use std::fmt;

const WEIGHT_MASK: u64 = (1 << 14) - 1;
const PHASE_SHIFT: u32 = 14;
const STEP_SHIFT: u32 = 16;
const STEP_MASK: u64 = 0xFF;
const GENERATION_SHIFT: u32 = 32;

/// Where a rollout is.
///
/// ```
/// use seawall::canary::Phase;
///
/// assert!(Phase::RolledBack.is_final() && !Phase::Paused.is_final());
/// assert_eq!(Phase::Running.to_string(), "running");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Phase {
    /// Steps are held, analysed and promoted.
    Running = 0,
    /// The weight stays where it is and no step is analysed; an opening
    /// candidate breaker still rolls back.
    Paused = 1,
    /// Final: every request goes to the candidate.
    Promoted = 2,
    /// Final: every request goes to the stable service.
    RolledBack = 3,
}

impl Phase {
    fn from_bits(bits: u64) -> Self {
        match bits & 3 {
            0 => Self::Running,
            1 => Self::Paused,
            2 => Self::Promoted,
            _ => Self::RolledBack,
        }
    }

    /// Whether the rollout is over.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Promoted | Self::RolledBack)
    }

    /// The phase's name in `snake_case`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Paused => "paused",
            Self::Promoted => "promoted",
            Self::RolledBack => "rolled_back",
        }
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One read of the state word: see the bit layout above.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct StateWord(u64);

impl StateWord {
    pub(crate) fn new(weight: u16, phase: Phase, step: usize, generation: u32) -> Self {
        debug_assert!(u64::from(weight) <= WEIGHT_MASK && step as u64 <= STEP_MASK);
        Self(
            u64::from(weight)
                | (phase as u64) << PHASE_SHIFT
                | (step as u64 & STEP_MASK) << STEP_SHIFT
                | u64::from(generation) << GENERATION_SHIFT,
        )
    }

    /// The word as stored.
    pub(crate) fn from_bits(bits: u64) -> Self {
        Self(bits)
    }

    /// The bits to store.
    pub(crate) fn bits(self) -> u64 {
        self.0
    }

    /// The same step in `phase`, as a new generation: what a pause or a resume
    /// publishes.
    pub(crate) fn with_phase(self, phase: Phase) -> Self {
        Self::new(self.weight(), phase, self.step(), self.next_generation())
    }

    /// The generation a change from this word publishes.
    pub(crate) fn next_generation(self) -> u32 {
        self.generation().wrapping_add(1)
    }

    #[inline]
    pub(crate) fn weight(self) -> u16 {
        (self.0 & WEIGHT_MASK) as u16
    }

    #[inline]
    pub(crate) fn phase(self) -> Phase {
        Phase::from_bits(self.0 >> PHASE_SHIFT)
    }

    pub(crate) fn step(self) -> usize {
        ((self.0 >> STEP_SHIFT) & STEP_MASK) as usize
    }

    #[inline]
    pub(crate) fn generation(self) -> u32 {
        (self.0 >> GENERATION_SHIFT) as u32
    }
}

#[cfg(test)]
mod tests {
    use super::{Phase, StateWord};

    #[test]
    fn every_field_reads_back_as_written() {
        for phase in [
            Phase::Running,
            Phase::Paused,
            Phase::Promoted,
            Phase::RolledBack,
        ] {
            for (weight, step, generation) in [(0, 0, 0), (10_000, 255, u32::MAX), (250, 3, 7)] {
                let word = StateWord::new(weight, phase, step, generation);
                assert_eq!(
                    (word.weight(), word.phase(), word.step(), word.generation()),
                    (weight, phase, step, generation)
                );
                assert_eq!(StateWord::from_bits(word.bits()), word);
            }
        }
    }

    #[test]
    fn a_new_phase_is_a_new_generation_of_the_same_step() {
        let running = StateWord::new(500, Phase::Running, 1, 4);
        let paused = running.with_phase(Phase::Paused);
        assert_eq!(
            (
                paused.weight(),
                paused.phase(),
                paused.step(),
                paused.generation()
            ),
            (500, Phase::Paused, 1, 5)
        );
    }
}
