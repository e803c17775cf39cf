//! Admission: whether a call may go through, in one atomic load on the closed path.

use super::word::{Word, AWAITING_PROBE, CLOSED, DISABLED, HALF_OPEN, OPEN};
use super::{Admission, Handle, Refusal, Shared, Ticket};
use crate::clock::nanos;
use crate::sync::atomic::Ordering::Relaxed;
use fusebox_core::{CircuitState, EventKind, TransitionReason};

impl Shared {
    /// Admits a call or refuses it. The closed path is one atomic load (plus a clock read only
    /// when a slow-call policy times the call).
    #[inline(always)]
    pub(crate) fn acquire(this: &Handle) -> Result<Ticket, Refusal> {
        // One look through the handle: each deref of it is a branch on its kind.
        let shared: &Shared = this;
        let mut word = shared.load();
        loop {
            if let Some(ticket) = shared.admit_if_closed(word) {
                return Ok(ticket);
            }
            match Shared::acquire_slow(this, word) {
                Ok(ticket) => return Ok(ticket),
                Err(Some(refusal)) => return Err(refusal),
                Err(None) => word = shared.load(),
            }
        }
    }

    /// Admits a call if the breaker is closed or disabled, the admission that runs no listener
    /// and changes nothing; `None` in any other state.
    #[inline(always)]
    pub(crate) fn acquire_closed(this: &Handle) -> Option<Ticket> {
        let shared: &Shared = this;
        shared.admit_if_closed(shared.load())
    }

    /// The ticket of a call admitted in `word`'s state, if that state is closed or disabled.
    #[inline(always)]
    fn admit_if_closed(&self, word: Word) -> Option<Ticket> {
        let admission = match word.code() {
            CLOSED => Admission::Closed,
            DISABLED => Admission::Disabled,
            _ => return None,
        };
        Some(Ticket::new(
            word.generation(),
            admission,
            self.times_calls.then(|| self.epoch.now_nanos()),
        ))
    }

    /// Open, half-open and forced-open. `Err(None)` means the state moved: look again.
    pub(super) fn acquire_slow(this: &Handle, word: Word) -> Result<Ticket, Option<Refusal>> {
        match word.code() {
            OPEN | AWAITING_PROBE => {
                let open_until = this.open_until.load(Relaxed);
                // With a timer armed, the timer ends the open period: a rejection reads no clock.
                if !word.timer_armed() && this.epoch.now_nanos() >= open_until {
                    Shared::end_open_period(this, word.generation());
                    return Err(None);
                }
                let awaiting = word.code() == AWAITING_PROBE;
                Err(Some(this.refuse(
                    CircuitState::Open,
                    Some(open_until),
                    awaiting,
                )))
            }
            HALF_OPEN => {
                let in_flight = word.in_flight();
                if in_flight < this.config.half_open_probes {
                    let admitted = word.with_probes(in_flight + 1, word.successes());
                    return match this.cas(word, admitted) {
                        Ok(()) => Ok(Ticket::new(
                            word.generation(),
                            Admission::Probe,
                            this.times_calls.then(|| this.epoch.now_nanos()),
                        )),
                        Err(_) => Err(None),
                    };
                }
                let entered = this.entered_at.load(Relaxed);
                let deadline = entered.saturating_add(nanos(this.config.half_open_max_wait));
                if this.epoch.now_nanos() >= deadline {
                    if let Some(new) = this.open(word, TransitionReason::ProbeTimedOut) {
                        Shared::arm_timer(this, new.generation());
                    }
                    return Err(None);
                }
                Err(Some(this.refuse(
                    CircuitState::HalfOpen,
                    Some(deadline),
                    true,
                )))
            }
            _ => Err(Some(this.refuse(CircuitState::ForcedOpen, None, false))),
        }
    }

    pub(super) fn refuse(
        &self,
        state: CircuitState,
        retry_at: Option<u64>,
        awaits_probe: bool,
    ) -> Refusal {
        self.slot.stats.rejection();
        self.ident
            .events
            .emit(|| self.event(EventKind::CallRejected { state }));
        Refusal {
            state,
            retry_at,
            awaits_probe,
        }
    }
}
