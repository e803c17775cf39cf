//! What a call through a breaker tells the span it runs in.
//!
//! A breaker opens no span of its own: a call's future carries no span, so the closed path
//! stays as cheap as docs/benchmarks.md measures it. Instead, when `DEBUG` is enabled, it records its name, key, whether
//! the call is a probe, and the outcome in the current span — a retry attempt's
//! `retry_attempt` span, or the `fusebox_call` span of a
//! [`CorrelationLayer`](fusebox_core::CorrelationLayer), which declare those fields — and
//! logs a rejection as a `DEBUG` event. With tracing off, each costs one level check.

use crate::breaker::Permit;
use fusebox_core::Outcome;

/// Records the admitted call's breaker in the current span.
#[inline(always)]
pub(crate) fn admitted(permit: &Permit) {
    if tracing::level_enabled!(tracing::Level::DEBUG) {
        record_admitted(permit);
    }
}

/// Records the call's outcome in the current span.
#[inline(always)]
pub(crate) fn finished(outcome: &Outcome) {
    if tracing::level_enabled!(tracing::Level::DEBUG) {
        record_finished(outcome);
    }
}

#[cold]
#[inline(never)]
fn record_admitted(permit: &Permit) {
    let span = tracing::Span::current();
    if span.is_disabled() {
        return;
    }
    if let Some(breaker) = permit.breaker() {
        span.record("breaker", breaker.name());
        if let Some(key) = breaker.key() {
            span.record("key", key);
        }
    }
    span.record("probe", permit.is_probe());
}

#[cold]
#[inline(never)]
fn record_finished(outcome: &Outcome) {
    tracing::Span::current().record("outcome", outcome.as_str());
}
