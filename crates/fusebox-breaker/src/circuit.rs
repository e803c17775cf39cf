//! The breaker as fusebox-core's traits see it: a [`Circuit`] for everyone who reads or waits
//! for it, a [`StoredCircuit`] for a shared state store. These are the only ways other crates
//! reach a breaker; none of it is on `Breaker`'s own API.

use crate::machine::Shared;
use fusebox_core::{
    Circuit, CircuitState, Event, Role, SharedPolicy, StoredCircuit, Subscription, TransitionReason,
};
use std::time::Duration;

impl Circuit for Shared {
    fn name(&self) -> &str {
        &self.ident.name
    }

    fn key(&self) -> Option<&str> {
        self.ident.key.as_deref()
    }

    fn key_label(&self) -> &str {
        self.key_label
    }

    fn role(&self) -> Role<'_> {
        match (&self.ident.key, self.overflow, self.in_keyed_set()) {
            (_, true, _) => Role::Overflow,
            (Some(key), false, _) => Role::Key(key),
            (None, false, true) => Role::Keyless,
            (None, false, false) => Role::Plain,
        }
    }

    fn state(&self) -> CircuitState {
        Shared::state(self)
    }

    fn end_open_period_if_due(&self) {
        if let Some(this) = self.handle() {
            Shared::end_open_period_if_due(&this);
        }
    }

    fn instant_at(&self, nanos: u64) -> Option<tokio::time::Instant> {
        Some(self.epoch.instant_at(nanos))
    }
}

impl StoredCircuit for Shared {
    fn outcome_totals(&self) -> (u64, u64) {
        let totals = self.slot.stats.totals();
        (totals.successes, totals.failures)
    }

    fn shared_policy(&self) -> SharedPolicy {
        let config = &self.config;
        let policy = SharedPolicy::new(config.open.initial(), config.half_open_max_wait);
        match config.failure_rate {
            Some(rate) => policy.with_failure_rate(rate, config.min_calls),
            None => policy,
        }
    }

    fn open_remaining(&self) -> Option<Duration> {
        self.open_until()
            .map(|until| until.saturating_duration_since(tokio::time::Instant::now()))
    }

    fn apply_remote_state(&self, state: CircuitState) {
        if Shared::state(self) == state {
            return;
        }
        if let Some(this) = self.handle() {
            Shared::force(&this, state, TransitionReason::Remote);
        }
    }

    fn apply_remote_open(&self, remaining: Duration) {
        let Some(this) = self.handle() else { return };
        if !Shared::extend_open(&this, remaining) {
            Shared::force_for(
                &this,
                CircuitState::Open,
                TransitionReason::Remote,
                Some(remaining),
            );
        }
    }

    fn gate_probes(&self, on: bool) {
        if let Some(this) = self.handle() {
            Shared::set_probe_gate(&this, on);
        }
    }

    fn grant_probes(&self) -> bool {
        self.handle()
            .is_some_and(|this| Shared::grant_probes(&this))
    }

    fn defer_probe(&self, wait: Duration) -> bool {
        self.handle()
            .is_some_and(|this| Shared::defer_probe(&this, wait))
    }

    fn on_transition(
        &self,
        listener: Box<dyn Fn(&Event<'_>) + Send + Sync + 'static>,
    ) -> Subscription {
        self.transitions.subscribe(listener)
    }
}
