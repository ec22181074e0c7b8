//! The state word: everything admission needs, in one `AtomicU64`, so that
//! admitting a call in the closed state is a single load.
//!
//! ```text
//! bit  0..3   state (Closed = 0, Open, HalfOpen, ForcedOpen, Disabled, MetricsOnly)
//! bit  3      ARMED: the closed window is below its minimum number of calls, so
//!             a success may decide the state and is recorded under the lock
//! bit  4      LISTENING: `on_event` listeners are registered
//! bit  5..19  generation, +1 on every transition (wraps after 16,384; a
//!             permit's ticket adds the transition count, see [`ticket`])
//! bit 19..25  consecutive reopenings, for the growing open wait (saturates at
//!             63, from where the wait is the maximum)
//! bit 25..64  deadline in ms since the clock's origin: end of the open wait, or
//!             of the half-open maximum wait; all ones when there is none
//! ```
//!
//! Every transition is one compare-and-swap from the word its maker read to a
//! word with the next generation (see `transition.rs`); the flags change
//! without a new generation. This file only packs and unpacks: a
//! [`StateWord`] is a plain value, a snapshot of the atomic.

use super::config::MAX_REOPENINGS;
use super::state::State;

const STATE_MASK: u64 = 0b111;
const GENERATION_SHIFT: u32 = 5;
/// How many generations the word tells apart before they wrap.
pub(super) const GENERATIONS: u32 = 1 << 14;
const GENERATION_MASK: u64 = (GENERATIONS as u64 - 1) << GENERATION_SHIFT;
const REOPENINGS_SHIFT: u32 = 19;
const REOPENINGS_MASK: u64 = 0x3F << REOPENINGS_SHIFT;
const DEADLINE_SHIFT: u32 = 25;
/// The deadline field all ones: no deadline. Deadlines are clamped below it.
const NO_DEADLINE: u64 = (1 << 39) - 1;
/// Deadlines are kept in milliseconds.
pub(super) const NANOS_PER_MS: u64 = 1_000_000;

/// An admission's ticket, one `u64`: the generation it was admitted under
/// (bits 0..14) and the core's transition count when it was admitted (bits
/// 18..64); bits 14..18 are left for the permit's and the service's marks.
///
/// The 14-bit generation alone cannot tell a permit admitted exactly
/// k x 16,384 transitions ago from a current one. The transition count can:
/// every transition attempt adds one to it before its compare-and-swap, so a
/// recorder that loads the state word sees at least every transition that
/// made it, and a permit whose count is half a generation cycle behind has
/// outlived its state whatever its generation says (see
/// [`BreakerCore::outlived`](super::core::BreakerCore::outlived)).
pub(crate) mod ticket {
    /// Where the transition count starts.
    pub(crate) const COUNT_SHIFT: u32 = 18;
    /// The transition count's bits, once shifted down.
    pub(crate) const COUNT_MASK: u64 = u64::MAX >> COUNT_SHIFT;

    /// The ticket of an admission under `generation` at transition `count`.
    #[inline]
    pub(crate) fn new(generation: u16, count: u64) -> u64 {
        u64::from(generation) | (count << COUNT_SHIFT)
    }

    /// The generation a ticket was admitted under.
    #[inline]
    pub(crate) fn generation(ticket: u64) -> u16 {
        (ticket & (super::GENERATIONS as u64 - 1)) as u16
    }

    /// The transition count a ticket was admitted at.
    #[inline]
    pub(crate) fn count(ticket: u64) -> u64 {
        ticket >> COUNT_SHIFT
    }
}

/// A flag bit of the state word. Setting or clearing one never starts a new
/// generation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Flag {
    /// The closed window is below its minimum number of calls: a success may
    /// decide the state, so successes take the recording lock.
    Armed,
    /// `on_event` listeners are registered: every call is recorded on the
    /// path that builds events. Survives transitions.
    Listening,
}

impl Flag {
    fn bit(self) -> u64 {
        match self {
            Self::Armed => 1 << 3,
            Self::Listening => 1 << 4,
        }
    }
}

/// A snapshot of the state word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct StateWord(u64);

impl StateWord {
    /// A word in `state`, with no flag set. `reopenings` saturates at
    /// [`MAX_REOPENINGS`]; `deadline_ms` is clamped below the "no deadline"
    /// value, far beyond any deadline a valid config makes.
    pub(super) fn new(
        state: State,
        generation: u16,
        reopenings: u32,
        deadline_ms: Option<u64>,
    ) -> Self {
        let deadline = deadline_ms.map_or(NO_DEADLINE, |ms| ms.min(NO_DEADLINE - 1));
        Self(
            state as u64
                | ((u64::from(generation) << GENERATION_SHIFT) & GENERATION_MASK)
                | (u64::from(reopenings.min(MAX_REOPENINGS)) << REOPENINGS_SHIFT)
                | (deadline << DEADLINE_SHIFT),
        )
    }

    /// The word as stored in the atomic.
    #[inline]
    pub(super) const fn from_raw(raw: u64) -> Self {
        Self(raw)
    }

    /// The value to store in the atomic.
    #[inline]
    pub(super) const fn raw(self) -> u64 {
        self.0
    }

    #[inline]
    pub(crate) fn state(self) -> State {
        State::from_bits(self.0 & STATE_MASK)
    }

    #[inline]
    pub(crate) fn generation(self) -> u16 {
        ((self.0 & GENERATION_MASK) >> GENERATION_SHIFT) as u16
    }

    /// The generation the next transition starts: one more, wrapping within
    /// the field.
    pub(super) fn next_generation(self) -> u16 {
        ((u32::from(self.generation()) + 1) % GENERATIONS) as u16
    }

    /// Consecutive reopenings so far.
    pub(super) fn reopenings(self) -> u32 {
        ((self.0 & REOPENINGS_MASK) >> REOPENINGS_SHIFT) as u32
    }

    /// Whether [`Flag::Armed`] is set.
    pub(super) fn armed(self) -> bool {
        self.0 & Flag::Armed.bit() != 0
    }

    /// Whether [`Flag::Listening`] is set.
    #[inline]
    pub(super) fn listening(self) -> bool {
        self.0 & Flag::Listening.bit() != 0
    }

    /// This word with `flag` set (`on`) or cleared; nothing else changes.
    pub(super) fn with_flag(self, flag: Flag, on: bool) -> Self {
        if on {
            Self(self.0 | flag.bit())
        } else {
            Self(self.0 & !flag.bit())
        }
    }

    /// Whether the deadline was clamped to the largest the word holds (a
    /// clock some 17 years past its origin): such a deadline says "later"
    /// but not when.
    pub(super) fn deadline_clamped(self) -> bool {
        self.0 >> DEADLINE_SHIFT == NO_DEADLINE - 1
    }

    /// The deadline in nanoseconds, if the state has one.
    pub(super) fn deadline_nanos(self) -> Option<u64> {
        let ms = self.0 >> DEADLINE_SHIFT;
        (ms != NO_DEADLINE).then(|| ms.saturating_mul(NANOS_PER_MS))
    }

    /// Whether a success admitted to the window under `generation` can be
    /// counted on the stripes alone: closed in that same generation, with
    /// neither flag asking for the recording path.
    #[inline]
    pub(super) fn fast_success(self, generation: u16) -> bool {
        self.0 & (STATE_MASK | Flag::Armed.bit() | Flag::Listening.bit()) == State::Closed as u64
            && self.generation() == generation
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    const DEADLINES: [Option<u64>; 7] = [
        None,
        Some(0),
        Some(1),
        Some(604_800_000), // 7 days
        Some(NO_DEADLINE - 2),
        Some(NO_DEADLINE - 1),
        Some(u64::MAX),
    ];

    /// What a deadline given to `new` reads back as.
    fn read_back(deadline_ms: Option<u64>) -> Option<u64> {
        deadline_ms.map(|ms| ms.min(NO_DEADLINE - 1) * NANOS_PER_MS)
    }

    #[test]
    fn every_state_and_generation_round_trips_beside_full_fields() {
        for state in State::ALL {
            for generation in 0..GENERATIONS as u16 {
                let word = StateWord::new(state, generation, MAX_REOPENINGS, Some(NO_DEADLINE - 1))
                    .with_flag(Flag::Armed, true)
                    .with_flag(Flag::Listening, true);
                assert_eq!(word.state(), state);
                assert_eq!(word.generation(), generation);
                assert_eq!(word.reopenings(), MAX_REOPENINGS);
                assert!(word.armed() && word.listening());
                assert_eq!(word.deadline_nanos(), read_back(Some(NO_DEADLINE - 1)));
                let bare = StateWord::new(state, generation, 0, None);
                assert_eq!((bare.state(), bare.generation()), (state, generation));
                assert_eq!((bare.reopenings(), bare.deadline_nanos()), (0, None));
                assert!(!bare.armed() && !bare.listening());
            }
        }
    }

    #[test]
    fn reopenings_round_trip_and_saturate() {
        for reopenings in 0..=MAX_REOPENINGS {
            for deadline in DEADLINES {
                let word = StateWord::new(State::Open, u16::MAX, reopenings, deadline);
                assert_eq!(word.reopenings(), reopenings);
                assert_eq!(word.deadline_nanos(), read_back(deadline));
                assert_eq!(word.state(), State::Open);
                // A generation wider than the field is cut to it.
                assert_eq!(u32::from(word.generation()), GENERATIONS - 1);
            }
        }
        for beyond in [MAX_REOPENINGS + 1, 1_000, u32::MAX] {
            let word = StateWord::new(State::Open, 0, beyond, None);
            assert_eq!(word.reopenings(), MAX_REOPENINGS);
        }
    }

    #[test]
    fn deadlines_round_trip_to_the_millisecond() {
        for deadline in DEADLINES {
            let word = StateWord::new(State::HalfOpen, 7, 3, deadline);
            assert_eq!(word.deadline_nanos(), read_back(deadline), "{deadline:?}");
            assert_eq!(
                (word.state(), word.generation(), word.reopenings()),
                (State::HalfOpen, 7, 3)
            );
        }
        for bit in 0..39 {
            let ms = (1u64 << bit) - 1;
            let word = StateWord::new(State::Open, 0, 0, Some(ms));
            assert_eq!(word.deadline_nanos(), Some(ms * NANOS_PER_MS));
        }
    }

    #[test]
    fn the_generation_wraps_within_its_field() {
        let last = StateWord::new(State::Closed, (GENERATIONS - 1) as u16, 0, None);
        assert_eq!(last.next_generation(), 0);
        assert_eq!(
            StateWord::new(State::Closed, 41, 0, None).next_generation(),
            42
        );
    }

    #[test]
    fn a_flag_changes_its_bit_and_nothing_else() {
        let word = StateWord::new(State::HalfOpen, 1234, 17, Some(99));
        for flag in [Flag::Armed, Flag::Listening] {
            let set = word.with_flag(flag, true);
            assert_ne!(set, word);
            assert_eq!(set.with_flag(flag, false), word);
            assert_eq!(set.with_flag(flag, true), set);
            assert_eq!(
                (
                    set.state(),
                    set.generation(),
                    set.reopenings(),
                    set.deadline_nanos()
                ),
                (
                    word.state(),
                    word.generation(),
                    word.reopenings(),
                    word.deadline_nanos()
                )
            );
        }
        assert!(word.with_flag(Flag::Armed, true).armed());
        assert!(!word.with_flag(Flag::Armed, true).listening());
        assert!(word.with_flag(Flag::Listening, true).listening());
        assert!(!word.with_flag(Flag::Listening, true).armed());
    }

    #[test]
    fn only_a_plain_closed_word_of_the_same_generation_takes_a_fast_success() {
        for state in State::ALL {
            let word = StateWord::new(state, 5, 0, None);
            assert_eq!(word.fast_success(5), state == State::Closed, "{state}");
        }
        let closed = StateWord::new(State::Closed, 5, 0, None);
        assert!(!closed.fast_success(4), "another generation");
        assert!(!closed.with_flag(Flag::Armed, true).fast_success(5));
        assert!(!closed.with_flag(Flag::Listening, true).fast_success(5));
        // Reopenings and deadlines do not matter (a closed word has none anyway).
        assert!(StateWord::new(State::Closed, 5, 9, Some(1)).fast_success(5));
    }
}
