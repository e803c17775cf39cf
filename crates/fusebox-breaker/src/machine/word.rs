//! The state word: state, timer flag, probe counters and generation in one `u64`.

use fusebox_core::CircuitState;

pub(super) const CLOSED: u64 = 0;
pub(super) const OPEN: u64 = 1;
pub(super) const HALF_OPEN: u64 = 2;
pub(super) const DISABLED: u64 = 3;
pub(super) const FORCED_OPEN: u64 = 4;
/// Open, its period over, waiting for a shared store to say whether this instance probes
/// ([`Shared::set_probe_gate`]); reported as `Open`.
pub(super) const AWAITING_PROBE: u64 = 5;
pub(super) const STATE_MASK: u64 = 0b111;
pub(super) const TIMER: u64 = 1 << 3;
pub(super) const IN_FLIGHT_SHIFT: u32 = 4;
pub(super) const SUCCESSES_SHIFT: u32 = 20;
pub(super) const FIELD_MASK: u64 = 0xFFFF;
pub(super) const GENERATION_SHIFT: u32 = 36;
pub(super) const GENERATION_MASK: u64 = (1 << 28) - 1;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Word(pub(super) u64);

impl Word {
    #[inline]
    pub(super) fn new(state: u64, generation: u32) -> Word {
        Word(state | ((u64::from(generation) & GENERATION_MASK) << GENERATION_SHIFT))
    }
    #[inline]
    pub(super) fn code(self) -> u64 {
        self.0 & STATE_MASK
    }
    #[inline]
    pub(super) fn state(self) -> CircuitState {
        match self.code() {
            CLOSED => CircuitState::Closed,
            OPEN | AWAITING_PROBE => CircuitState::Open,
            HALF_OPEN => CircuitState::HalfOpen,
            DISABLED => CircuitState::Disabled,
            _ => CircuitState::ForcedOpen,
        }
    }
    #[inline]
    pub(super) fn generation(self) -> u32 {
        ((self.0 >> GENERATION_SHIFT) & GENERATION_MASK) as u32
    }
    #[inline]
    pub(super) fn next(self, state: u64) -> Word {
        Word::new(state, self.generation().wrapping_add(1))
    }
    /// Open, its period running or over and waiting for a store's word.
    #[inline]
    pub(super) fn is_open(self) -> bool {
        matches!(self.code(), OPEN | AWAITING_PROBE)
    }
    #[inline]
    pub(super) fn timer_armed(self) -> bool {
        self.0 & TIMER != 0
    }
    #[inline]
    pub(super) fn in_flight(self) -> u32 {
        ((self.0 >> IN_FLIGHT_SHIFT) & FIELD_MASK) as u32
    }
    #[inline]
    pub(super) fn successes(self) -> u32 {
        ((self.0 >> SUCCESSES_SHIFT) & FIELD_MASK) as u32
    }
    #[inline]
    pub(super) fn with_probes(self, in_flight: u32, successes: u32) -> Word {
        let cleared = self.0 & !((FIELD_MASK << IN_FLIGHT_SHIFT) + (FIELD_MASK << SUCCESSES_SHIFT));
        // The two fields do not overlap, and the counts fit them (at most `MAX_PROBES`): adding
        // puts each in place.
        Word(
            cleared
                + (u64::from(in_flight) << IN_FLIGHT_SHIFT)
                + (u64::from(successes) << SUCCESSES_SHIFT),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn word_fields_do_not_overlap() {
        let w = Word::new(HALF_OPEN, 7).with_probes(65_535, 65_535);
        assert_eq!(w.state(), CircuitState::HalfOpen);
        assert_eq!(w.generation(), 7);
        assert_eq!(w.in_flight(), 65_535);
        assert_eq!(w.successes(), 65_535);
        assert!(!w.timer_armed());
        let n = Word::new(OPEN, (1 << 28) - 1).next(CLOSED);
        assert_eq!(n.generation(), 0, "generations wrap");
        assert_eq!(n.state(), CircuitState::Closed);
    }
}
