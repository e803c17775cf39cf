//! A retry layer's validated settings, shared by every clone of its services.

use crate::backoff::Backoff;
use crate::budget::RetryBudget;
use crate::random::Randomness;
use fusebox_core::EventBus;
use std::time::Duration;

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
}

/// How a retry service reaches its policy: shared by reference count, or for the rest of the
/// process ([`RetryLayerBuilder::build_static`](crate::RetryLayerBuilder::build_static)), which makes a call copy a pointer instead of
/// cloning and dropping an `Arc`.
pub(crate) type PolicyHandle = fusebox_core::Handle<Policy>;
