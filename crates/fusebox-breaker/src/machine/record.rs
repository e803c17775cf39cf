//! Recording an outcome: counters, the consecutive-failure count, the window, the trip
//! policies, and the half-open probes.

use super::word::{Word, CLOSED, DISABLED, HALF_OPEN};
use super::{Admission, Handle, Shared, Ticket};
use crate::sync::atomic::Ordering::Relaxed;
use crate::window::Counts;
use fusebox_core::{CircuitState, EventKind, Outcome, TransitionReason};
use std::time::Duration;
use tokio::time::Instant;

impl Shared {
    /// Records the outcome of an admitted call that the slot's quick path does not take.
    pub(super) fn record_outcome(this: &Handle, ticket: Ticket, outcome: Outcome) {
        let (elapsed, now_nanos) = match ticket.started() {
            Some(started) => {
                let now = this.epoch.now_nanos();
                (Some(Duration::from_nanos(now.saturating_sub(started))), now)
            }
            // A time window without a slow-call policy dates the outcome, without timing it.
            None if this.dates_outcomes => (None, this.epoch.now_nanos()),
            None => (None, 0),
        };
        let slow = match (elapsed, this.config.slow_call) {
            (Some(e), Some((threshold, _))) => e >= threshold,
            _ => false,
        };
        let failed = match outcome {
            Outcome::Success => {
                this.slot.stats.owner_success(slow);
                this.ident
                    .events
                    .emit(|| this.event(EventKind::CallSucceeded { elapsed, slow }));
                false
            }
            Outcome::Failure { .. } => {
                this.slot.stats.failure(slow);
                this.ident
                    .events
                    .emit(|| this.event(EventKind::CallFailed { elapsed, slow }));
                true
            }
            _ => {
                this.slot.stats.ignored();
                this.ident
                    .events
                    .emit(|| this.event(EventKind::CallIgnored));
                if ticket.admission() == Admission::Probe {
                    this.release_probe(ticket.generation());
                }
                return;
            }
        };
        match ticket.admission() {
            Admission::Closed => {
                Shared::record_closed(this, ticket.generation(), failed, slow, now_nanos);
            }
            Admission::Probe => Shared::record_probe(this, ticket.generation(), failed, slow),
            Admission::Disabled => {
                let word = this.load();
                if word.generation() == ticket.generation() {
                    if let Some(reason) = this.count_against_policy(failed, slow, now_nanos) {
                        this.suppress_trip(word, reason);
                    }
                }
            }
        }
    }

    #[inline]
    pub(super) fn record_closed(
        this: &Handle,
        generation: u32,
        failed: bool,
        slow: bool,
        now_nanos: u64,
    ) {
        let word = this.load();
        if word.generation() != generation {
            return;
        }
        if let Some(reason) = this.count_against_policy(failed, slow, now_nanos) {
            Shared::trip(this, word, reason);
        }
    }

    /// Counts an outcome in the consecutive-failure count and the window; returns why the
    /// breaker should trip if a policy fires.
    #[inline]
    pub(super) fn count_against_policy(
        &self,
        failed: bool,
        slow: bool,
        now_nanos: u64,
    ) -> Option<TransitionReason> {
        if let Some(threshold) = self.config.consecutive_failures {
            if failed {
                let count = self
                    .slot
                    .consecutive
                    .fetch_add(1, Relaxed)
                    .saturating_add(1);
                if count >= threshold {
                    return Some(TransitionReason::ConsecutiveFailures { count });
                }
            } else if self.slot.consecutive.load(Relaxed) != 0 {
                // Written only when it changes: successes after successes touch no shared line.
                self.slot.consecutive.store(0, Relaxed);
            }
        }
        if let Some(window) = &self.slot.window {
            let counts = window.record(failed, slow, now_nanos, &self.slot.stats);
            if failed || slow {
                return self.evaluate(counts);
            }
        }
        None
    }

    /// A disabled breaker's policy fired: say so, and start counting again. Moving to the next
    /// generation (still disabled) lets one caller win, and drops the outcomes of calls admitted
    /// before, as a real trip would.
    #[cold]
    pub(super) fn suppress_trip(&self, word: Word, reason: TransitionReason) {
        if self.cas(word, word.next(DISABLED)).is_err() {
            return;
        }
        self.clear_counts();
        self.suppressed.fetch_add(1, Relaxed);
        let (name, key) = (&*self.ident.name, self.ident.key.as_deref());
        tracing::warn!(
            breaker = name,
            key,
            %reason,
            "circuit breaker would have opened, but it is disabled"
        );
        self.ident
            .events
            .emit(|| self.event(EventKind::TripSuppressed { reason }));
    }

    pub(super) fn evaluate(&self, counts: Counts) -> Option<TransitionReason> {
        if counts.calls < u64::from(self.config.min_calls) || counts.calls == 0 {
            return None;
        }
        let calls = counts.calls as f64;
        if let Some(threshold) = self.config.failure_rate {
            let rate = counts.failures as f64 / calls;
            if rate >= threshold {
                return Some(TransitionReason::FailureRate {
                    rate,
                    threshold,
                    calls: counts.calls,
                });
            }
        }
        if let Some((_, threshold)) = self.config.slow_call {
            let rate = counts.slow as f64 / calls;
            if rate >= threshold {
                return Some(TransitionReason::SlowCallRate {
                    rate,
                    threshold,
                    calls: counts.calls,
                });
            }
        }
        None
    }

    pub(super) fn record_probe(this: &Handle, generation: u32, failed: bool, slow: bool) {
        let failed = failed || (slow && this.config.slow_call.is_some());
        let mut word = this.load();
        loop {
            if word.code() != HALF_OPEN || word.generation() != generation {
                return;
            }
            if failed {
                if let Some(new) = this.open(word, TransitionReason::ProbeFailed) {
                    Shared::arm_timer(this, new.generation());
                    return;
                }
                word = this.load();
                continue;
            }
            let successes = word.successes() + 1;
            if successes >= this.config.half_open_successes {
                // Clear the counts while still half-open: nothing records into them now.
                this.clear_counts();
                match this.cas(word, word.next(CLOSED)) {
                    Ok(()) => {
                        this.trips.store(0, Relaxed);
                        this.transitioned(
                            CircuitState::HalfOpen,
                            CircuitState::Closed,
                            TransitionReason::ProbesSucceeded { successes },
                            Instant::now(),
                        );
                        return;
                    }
                    Err(current) => word = current,
                }
            } else {
                let updated = word.with_probes(word.in_flight().saturating_sub(1), successes);
                match this.cas(word, updated) {
                    Ok(()) => return,
                    Err(current) => word = current,
                }
            }
        }
    }

    pub(super) fn release_probe(&self, generation: u32) {
        let mut word = self.load();
        while word.code() == HALF_OPEN && word.generation() == generation {
            let updated = word.with_probes(word.in_flight().saturating_sub(1), word.successes());
            match self.cas(word, updated) {
                Ok(()) => return,
                Err(current) => word = current,
            }
        }
    }

    pub(super) fn clear_counts(&self) {
        self.slot.consecutive.store(0, Relaxed);
        if let Some(window) = &self.slot.window {
            window.reset(&self.slot.stats);
        }
    }
}
