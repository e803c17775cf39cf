//! Transitions: tripping, ending an open period, operator moves, and the logs and events
//! that announce each.

use super::word::{Word, AWAITING_PROBE, CLOSED, DISABLED, FORCED_OPEN, HALF_OPEN, OPEN};
use super::{Handle, Shared, Transition};
use crate::clock::nanos;
use crate::sync::atomic::Ordering::Relaxed;
use crate::sync::lock;
use fusebox_core::{CircuitState, EventKind, TransitionReason};
use std::time::Duration;
use tokio::time::Instant;

impl Shared {
    pub(super) fn trip(this: &Handle, word: Word, reason: TransitionReason) {
        if let Some(new) = this.open(word, reason) {
            Shared::arm_timer(this, new.generation());
        }
    }

    /// Moves from `word` to OPEN; returns the new word if this call made the transition.
    pub(super) fn open(&self, word: Word, reason: TransitionReason) -> Option<Word> {
        let trips = self.trips.load(Relaxed).saturating_add(1);
        let now = Instant::now();
        let until = self
            .epoch
            .nanos_at(now)
            .saturating_add(nanos(self.config.open.for_trip(trips)));
        let new = word.next(OPEN);
        if self.move_with_deadline(word, new, until).is_err() {
            return None;
        }
        self.trips.store(trips, Relaxed);
        self.transitioned(word.state(), CircuitState::Open, reason, now);
        Some(new)
    }

    /// OPEN → `HALF_OPEN` now, if the open period's deadline has passed (one clock read).
    pub(crate) fn end_open_period_if_due(this: &Handle) {
        let word = this.load();
        if word.is_open() && this.epoch.now_nanos() >= this.open_until.load(Relaxed) {
            Shared::end_open_period(this, word.generation());
        }
    }

    /// OPEN → `HALF_OPEN` when the open period of `generation` ends. With a probe gate, the
    /// breaker stays open instead and asks its store whether it probes (again, if a wait for
    /// the store's answer ran out), waiting at most the half-open maximum wait for the answer.
    pub(super) fn end_open_period(this: &Handle, generation: u32) {
        let mut word = this.load();
        while word.is_open() && word.generation() == generation {
            if this.probe_gate.load(Relaxed) {
                let until = this
                    .epoch
                    .now_nanos()
                    .saturating_add(nanos(this.config.half_open_max_wait));
                let awaiting = word.next(AWAITING_PROBE);
                match this.move_with_deadline(word, awaiting, until) {
                    Ok(()) => {
                        Shared::arm_timer(this, awaiting.generation());
                        let event = || this.event(EventKind::ProbeRequested);
                        this.ident.events.emit(event);
                        this.transitions.emit(event);
                        return;
                    }
                    Err(current) => {
                        word = current;
                        continue;
                    }
                }
            }
            match this.cas(word, word.next(HALF_OPEN)) {
                Ok(()) => {
                    // Half-open from the moment the open period ended, however late the timer.
                    let ended = match word.code() {
                        OPEN => this.epoch.instant_at(this.open_until.load(Relaxed)),
                        _ => Instant::now(),
                    };
                    this.transitioned(
                        CircuitState::Open,
                        CircuitState::HalfOpen,
                        TransitionReason::OpenPeriodElapsed,
                        ended,
                    );
                    return;
                }
                Err(current) => word = current,
            }
        }
    }

    /// Moves to `target` from whatever state, as an operator or a shared store asks.
    pub(crate) fn force(this: &Handle, target: CircuitState, reason: TransitionReason) {
        Shared::force_for(this, target, reason, None);
    }

    /// Like [`force`](Self::force); an `Open` target stays open for `open_for` when given,
    /// instead of the breaker's own open duration.
    pub(crate) fn force_for(
        this: &Handle,
        target: CircuitState,
        reason: TransitionReason,
        open_for: Option<Duration>,
    ) {
        let code = match target {
            CircuitState::Closed => CLOSED,
            CircuitState::Open => OPEN,
            CircuitState::HalfOpen => HALF_OPEN,
            CircuitState::Disabled => DISABLED,
            _ => FORCED_OPEN,
        };
        if code == CLOSED {
            this.clear_counts();
            this.trips.store(0, Relaxed);
        }
        if code == OPEN {
            let trips = this.trips.load(Relaxed).saturating_add(1);
            this.trips.store(trips, Relaxed);
            let open_for = open_for.unwrap_or_else(|| this.config.open.for_trip(trips));
            let until = this.epoch.now_nanos().saturating_add(nanos(open_for));
            this.open_until.store(until, Relaxed);
        }
        let mut word = this.load();
        loop {
            match this.cas(word, word.next(code)) {
                Ok(()) => break,
                Err(current) => word = current,
            }
        }
        this.transitioned(word.state(), target, reason, Instant::now());
        if code == OPEN {
            Shared::arm_timer(this, word.next(code).generation());
        }
    }

    pub(super) fn transitioned(
        &self,
        from: CircuitState,
        to: CircuitState,
        reason: TransitionReason,
        at: Instant,
    ) {
        self.entered_at.store(self.epoch.nanos_at(at), Relaxed);
        *lock(&self.last) = Some(Transition {
            from,
            to,
            reason,
            at,
        });
        let name = &*self.ident.name;
        let key = self.ident.key.as_deref();
        if to == CircuitState::Open || to == CircuitState::ForcedOpen {
            tracing::warn!(breaker = name, key, %from, %to, %reason, "circuit breaker opened");
        } else {
            tracing::info!(breaker = name, key, %from, %to, %reason, "circuit breaker changed state");
        }
        let event = || self.event(EventKind::StateTransition { from, to, reason });
        self.ident.events.emit(event);
        self.transitions.emit(event);
        if let Some(set) = &self.set_transitions {
            set.emit(event);
        }
    }
}
