//! The probe word: the half-open state's probe counters, in one `AtomicU64`.
//!
//! ```text
//! bit  0..16  generation tag (the half-open generation they count for)
//! bit 16..28  probes in flight
//! bit 28..40  probes completed (counted)
//! bit 40..52  of which failed
//! bit 52..64  of which slow
//! ```
//!
//! A word whose tag is not the current generation reads as all zeros. The
//! one word that could pass for a new half-open state's, the word its own
//! generation left 16,384 x k transitions before, is zeroed by the transition
//! into half-open before it publishes the state (`transition.rs`). Every field is 12 bits wide, which is why a config permits at most
//! [`MAX_PERMITTED_PROBES`](super::config::MAX_PERMITTED_PROBES) probes. This
//! file only packs and unpacks; `admit.rs` and `record.rs` update the atomic.

use crate::classify::Outcome;

use super::window::WindowCounts;

/// The widest value of a counter.
const FIELD: u64 = 0xFFF;
const IN_FLIGHT_SHIFT: u32 = 16;
const COMPLETED_SHIFT: u32 = 28;
const FAILED_SHIFT: u32 = 40;
const SLOW_SHIFT: u32 = 52;

/// The probe counters of one half-open generation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct ProbeCounts {
    pub(super) in_flight: u64,
    pub(super) completed: u64,
    pub(super) failed: u64,
    pub(super) slow: u64,
}

impl ProbeCounts {
    /// The generation a raw probe word counts for.
    #[inline]
    pub(super) fn tag(word: u64) -> u16 {
        word as u16
    }

    /// The counters of `generation` in `word`: all zeros when the word counts
    /// for another generation.
    pub(super) fn unpack(word: u64, generation: u16) -> Self {
        if Self::tag(word) != generation {
            return Self::default();
        }
        Self {
            in_flight: (word >> IN_FLIGHT_SHIFT) & FIELD,
            completed: (word >> COMPLETED_SHIFT) & FIELD,
            failed: (word >> FAILED_SHIFT) & FIELD,
            slow: (word >> SLOW_SHIFT) & FIELD,
        }
    }

    /// The word holding these counters for `generation`. Each counter must
    /// fit its 12 bits, which the permitted-probes limit guarantees.
    pub(super) fn pack(self, generation: u16) -> u64 {
        debug_assert!([self.in_flight, self.completed, self.failed, self.slow]
            .iter()
            .all(|&count| count <= FIELD));
        u64::from(generation)
            | (self.in_flight << IN_FLIGHT_SHIFT)
            | (self.completed << COMPLETED_SHIFT)
            | (self.failed << FAILED_SHIFT)
            | (self.slow << SLOW_SHIFT)
    }

    /// Whether another probe may start when `permitted` are allowed in all.
    pub(super) fn has_free_slot(self, permitted: u64) -> bool {
        self.in_flight + self.completed < permitted
    }

    /// The counters after one probe in flight finished with `outcome`: it
    /// leaves the in-flight count and, unless ignored, is counted.
    pub(super) fn finish(mut self, outcome: Outcome, slow: bool) -> Self {
        self.in_flight = self.in_flight.saturating_sub(1);
        if outcome != Outcome::Ignored {
            self.completed += 1;
            self.failed += u64::from(outcome == Outcome::Failure);
            self.slow += u64::from(slow);
        }
        self
    }

    /// The completed probes as window counts, for metrics and the trip record.
    pub(super) fn completed_counts(self) -> WindowCounts {
        WindowCounts {
            calls: self.completed,
            failures: self.failed,
            slow: self.slow,
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn every_counter_round_trips_over_its_whole_range() {
        for value in 0..=FIELD {
            let edge = FIELD - value;
            let counts = ProbeCounts {
                in_flight: value,
                completed: edge,
                failed: value,
                slow: edge,
            };
            for generation in [0, 1, value as u16, u16::MAX] {
                let word = counts.pack(generation);
                assert_eq!(ProbeCounts::tag(word), generation);
                assert_eq!(ProbeCounts::unpack(word, generation), counts);
            }
        }
    }

    #[test]
    fn a_word_of_another_generation_reads_as_zeros() {
        let full = ProbeCounts {
            in_flight: FIELD,
            completed: FIELD,
            failed: FIELD,
            slow: FIELD,
        };
        let word = full.pack(7);
        assert_eq!(ProbeCounts::unpack(word, 7), full);
        assert_eq!(ProbeCounts::unpack(word, 8), ProbeCounts::default());
        assert_eq!(ProbeCounts::unpack(0, 0), ProbeCounts::default());
    }

    #[test]
    fn slots_count_probes_in_flight_and_completed() {
        let counts = |in_flight, completed| ProbeCounts {
            in_flight,
            completed,
            ..ProbeCounts::default()
        };
        assert!(counts(0, 0).has_free_slot(1));
        assert!(!counts(1, 0).has_free_slot(1));
        assert!(!counts(0, 1).has_free_slot(1));
        assert!(counts(1, 1).has_free_slot(3));
        assert!(!counts(2, 1).has_free_slot(3));
    }

    #[test]
    fn a_finished_probe_leaves_the_flight_and_counts_unless_ignored() {
        let start = ProbeCounts {
            in_flight: 2,
            ..ProbeCounts::default()
        };
        let failed_slow = start.finish(Outcome::Failure, true);
        assert_eq!(
            failed_slow,
            ProbeCounts {
                in_flight: 1,
                completed: 1,
                failed: 1,
                slow: 1
            }
        );
        let succeeded = failed_slow.finish(Outcome::Success, false);
        assert_eq!((succeeded.in_flight, succeeded.completed), (0, 2));
        assert_eq!((succeeded.failed, succeeded.slow), (1, 1));
        let ignored = start.finish(Outcome::Ignored, true);
        assert_eq!(
            ignored,
            ProbeCounts {
                in_flight: 1,
                ..ProbeCounts::default()
            }
        );
        // A stray finish never underflows.
        assert_eq!(
            ProbeCounts::default()
                .finish(Outcome::Ignored, false)
                .in_flight,
            0
        );
        let counts = succeeded.completed_counts();
        assert_eq!((counts.calls, counts.failures, counts.slow), (2, 1, 1));
    }
}
