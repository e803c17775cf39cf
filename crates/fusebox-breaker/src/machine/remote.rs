//! What a shared state store asks of a breaker: the probe gate, and open periods decided
//! elsewhere.

use super::word::{AWAITING_PROBE, HALF_OPEN, OPEN};
use super::{Handle, Shared};
use crate::clock::nanos;
use crate::sync::atomic::Ordering::Relaxed;
use fusebox_core::{CircuitState, TransitionReason};
use std::time::Duration;
use tokio::time::Instant;

impl Shared {
    /// With the gate on, an open period ends in [`AWAITING_PROBE`] until the store answers.
    /// Turned off (the store is gone), a breaker waiting for an answer probes on its own.
    pub(crate) fn set_probe_gate(this: &Handle, on: bool) {
        this.probe_gate.store(on, Relaxed);
        if !on {
            Shared::grant_probes(this);
        }
    }

    /// This instance probes: a breaker waiting for the store's answer goes half-open. `false`
    /// if it was not waiting (it closed or reopened meanwhile).
    pub(crate) fn grant_probes(this: &Handle) -> bool {
        let mut word = this.load();
        while word.code() == AWAITING_PROBE {
            match this.cas(word, word.next(HALF_OPEN)) {
                Ok(()) => {
                    this.transitioned(
                        CircuitState::Open,
                        CircuitState::HalfOpen,
                        TransitionReason::OpenPeriodElapsed,
                        Instant::now(),
                    );
                    return true;
                }
                Err(current) => word = current,
            }
        }
        false
    }

    /// Another instance probes: a breaker waiting for the store's answer stays open for
    /// `wait` more, with no transition, and asks again then (unless the prober's result came
    /// first). `false` if it was not waiting.
    pub(crate) fn defer_probe(this: &Handle, wait: Duration) -> bool {
        let until = this.epoch.now_nanos().saturating_add(nanos(wait));
        let mut word = this.load();
        while word.code() == AWAITING_PROBE {
            let open = word.next(OPEN);
            match this.move_with_deadline(word, open, until) {
                Ok(()) => {
                    Shared::arm_timer(this, open.generation());
                    return true;
                }
                Err(current) => word = current,
            }
        }
        false
    }

    /// Moves the end of the current open period to `open_for` from now, if that is later,
    /// without a transition: a shared store learned that the fleet stays open longer. `false`
    /// if the breaker is not open (nothing done).
    pub(crate) fn extend_open(this: &Handle, open_for: Duration) -> bool {
        let until = this.epoch.now_nanos().saturating_add(nanos(open_for));
        let mut word = this.load();
        loop {
            if !word.is_open() {
                return false;
            }
            // While awaiting the store's word, `open_until` is only how long to wait for it.
            if word.code() == OPEN && this.open_until.load(Relaxed) >= until {
                return true;
            }
            // A new generation (still open), so the timer armed for the old deadline cannot
            // end the longer period.
            let extended = word.next(OPEN);
            match this.move_with_deadline(word, extended, until) {
                Ok(()) => {
                    Shared::arm_timer(this, extended.generation());
                    return true;
                }
                Err(current) => word = current,
            }
        }
    }
}
