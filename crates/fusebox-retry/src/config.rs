//! A retry layer's validated settings, shared by every clone of its services.

use crate::backoff::Backoff;
use crate::budget::RetryBudget;
use crate::random::Randomness;
use fusebox_core::sync::lock;
use fusebox_core::{EventBus, GiveUpReason};
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

/// Largest `max_attempts`.
pub const MAX_ATTEMPTS: u32 = 100;
/// Attempts in all when none is set: the first send and two retries.
pub(crate) const DEFAULT_MAX_ATTEMPTS: u32 = 3;
/// The longest wait a dependency may ask for when no cap is set.
pub(crate) const DEFAULT_MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// Validated settings shared by every clone of a retry service.
#[derive(Debug)]
pub(crate) struct Policy {
    pub(crate) name: Box<str>,
    pub(crate) backoff: Backoff,
    pub(crate) max_attempts: u32,
    pub(crate) deadline: Option<Duration>,
    pub(crate) max_retry_after: Duration,
    pub(crate) budget: Option<RetryBudget>,
    pub(crate) events: EventBus,
    pub(crate) random: Randomness,
    pub(crate) give_ups: GiveUps,
}

/// How often, at most, a retry layer warns that its calls give up.
const WARN_EVERY: Duration = Duration::from_secs(10);

/// The calls of a retry layer that gave up because the dependency kept failing, and when that
/// was last logged: an outage shows at `WARN`, once every ten seconds at most, with how many
/// calls gave up since.
#[derive(Debug, Default)]
pub(crate) struct GiveUps {
    state: Mutex<GiveUpsState>,
}

#[derive(Debug, Default)]
struct GiveUpsState {
    unreported: u64,
    last_warning: Option<Instant>,
}

impl GiveUps {
    /// Counts a call that gave up for `reason` after `attempts`, and warns if it is time.
    /// Reasons that say nothing about the dependency's health (a permanent failure, a request
    /// that cannot be sent again, an open circuit, which its breaker reports) are not counted.
    pub(crate) fn note(&self, retry: &str, attempts: u32, reason: GiveUpReason) {
        if !matches!(
            reason,
            GiveUpReason::AttemptsExhausted
                | GiveUpReason::BudgetExhausted
                | GiveUpReason::DeadlineExceeded
                | GiveUpReason::RetryAfterTooLong
        ) {
            return;
        }
        let mut state = lock(&self.state);
        state.unreported = state.unreported.saturating_add(1);
        let now = Instant::now();
        if state
            .last_warning
            .is_some_and(|at| now.saturating_duration_since(at) < WARN_EVERY)
        {
            return;
        }
        state.last_warning = Some(now);
        let calls = std::mem::take(&mut state.unreported);
        drop(state);
        tracing::warn!(
            retry,
            attempts,
            %reason,
            calls,
            "retries are giving up: the dependency keeps failing"
        );
    }
}

/// How a retry service reaches its policy: shared by reference count, or for the rest of the
/// process ([`RetryLayerBuilder::build_static`](crate::RetryLayerBuilder::build_static)), which makes a call copy a pointer instead of
/// cloning and dropping an `Arc`.
pub(crate) type PolicyHandle = fusebox_core::Handle<Policy>;
