//! The names of the metrics fusebox records, and of their labels. Every metric is described,
//! with its type and the names resilience4j and Polly users know, in `docs/metrics.md`.
//!
//! Names follow Prometheus's conventions: a `fusebox_` prefix, base units (seconds), `_total`
//! on counters.

/// Counter: calls through a [`MetricsLayer`](crate::MetricsLayer), by `service` and `outcome`
/// (`success`, `failure`, `ignored`), as the layer's classifier decides.
pub const CALLS: &str = "fusebox_calls_total";
/// Histogram: seconds from sending a call to its outcome (the response, or the end of its body
/// when the outcome waits for it), by `service`.
pub const CALL_DURATION: &str = "fusebox_call_duration_seconds";
/// Gauge: calls sent and not yet answered, by `service`.
pub const CALLS_IN_FLIGHT: &str = "fusebox_calls_in_flight";

/// Gauge: a breaker's state as a number ([`state_code`](crate::state_code)), by `breaker`.
pub const BREAKER_STATE_CODE: &str = "fusebox_breaker_state_code";
/// Gauge family: 1 for the state a breaker is in and 0 for each other, by `breaker` and
/// `state`; exactly one series per breaker is 1.
pub const BREAKER_STATE: &str = "fusebox_breaker_state";
/// Counter: state transitions, by `breaker`, `from` and `to`.
pub const BREAKER_TRANSITIONS: &str = "fusebox_breaker_transitions_total";
/// Gauge: seconds a breaker has spent in each state since it was first seen, by `breaker` and
/// `state`. It only grows within a process, so `rate()` and `increase()` apply.
pub const BREAKER_STATE_SECONDS: &str = "fusebox_breaker_state_seconds";
/// Counter: calls a breaker decided on, by `breaker` and `kind` (`successful`, `failed`,
/// `slow`, `rejected`, `ignored`); `slow` counts successful and failed calls slower than the
/// slow-call threshold a second time.
pub const BREAKER_CALLS: &str = "fusebox_breaker_calls_total";
/// Counter: trips a disabled breaker's policy would have made, by `breaker` and `reason`.
pub const BREAKER_SUPPRESSED_TRIPS: &str = "fusebox_breaker_suppressed_trips_total";

/// Counter: attempts sent again after a failure, by `retry`.
pub const RETRIES: &str = "fusebox_retries_total";
/// Counter: retried calls by `retry` and `result`: `succeeded_after_retry`, or the reason the
/// retry gave up (`attempts_exhausted`, `budget_exhausted`, `circuit_open`, `deadline_exceeded`,
/// `permanent`, …).
pub const RETRY_CALLS: &str = "fusebox_retry_calls_total";
/// Counter: failures returned without a retry because the retry budget was empty, by `retry`.
pub const RETRY_BUDGET_DENIED: &str = "fusebox_retry_budget_denied_total";

/// Gauge: 1 while a shared-state store cannot reach its backend, 0 otherwise, by `store`.
pub const STORE_DEGRADED: &str = "fusebox_store_degraded";
/// Counter: times a shared-state store lost (`to="degraded"`) or regained (`to="recovered"`)
/// its backend, by `store`.
pub const STORE_TRANSITIONS: &str = "fusebox_store_transitions_total";

/// Gauge: what a shared-state store has not sent its backend yet, by `store` and `kind`
/// (`calls`: outcomes counted since the last flush; `transitions`: local transitions not yet
/// shared), after each flush round.
pub const STORE_PENDING: &str = "fusebox_store_pending";
/// Gauge: a health check's last status (0 pass, 1 warn, 2 fail), by `check`.
pub const HEALTH_STATUS: &str = "fusebox_health_status";
/// Gauge: a health check's score, 0 to 100, over its last hour, by `check`.
pub const HEALTH_SCORE: &str = "fusebox_health_score";
/// Histogram: how long a health check's probes take, by `check`.
pub const HEALTH_CHECK_DURATION: &str = "fusebox_health_check_duration_seconds";
/// Counter: changes of a health check's status, by `check` and `to` (`pass`, `warn`, `fail`).
pub const HEALTH_CHANGES: &str = "fusebox_health_status_changes_total";

/// Gauge: an objective's good share over its budget window (`service`, `slo`), from
/// [`SloReport::publish`](crate::SloReport::publish), as are the other `fusebox_slo_*`.
pub const SLO_RATIO: &str = "fusebox_slo_ratio";
/// Gauge: the share of an objective's error budget left (`service`, `slo`); below 0 overspent.
pub const SLO_ERROR_BUDGET_REMAINING: &str = "fusebox_slo_error_budget_remaining_ratio";
/// Gauge: how many times faster than allowed the budget burns (`service`, `slo`, `window`).
pub const SLO_BURN_RATE: &str = "fusebox_slo_burn_rate";
/// Gauge: a latency percentile over the latency window (`service`, `quantile`).
pub const SLO_LATENCY: &str = "fusebox_slo_latency_seconds";
/// Gauge: the breaker's recovery time (`service`, `stat`: `mean` or `max`).
pub const SLO_RECOVERY: &str = "fusebox_slo_recovery_seconds";
/// Gauge: how many alerts the service's report holds (`service`).
pub const SLO_ALERTS: &str = "fusebox_slo_alerts";

/// The label that names a [`MetricsLayer`](crate::MetricsLayer)'s service.
pub const SERVICE_LABEL: &str = "service";
/// The label that names a breaker.
pub const BREAKER_LABEL: &str = "breaker";
/// The label that names a retry layer.
pub const RETRY_LABEL: &str = "retry";
/// The label that names a shared-state store.
pub const STORE_LABEL: &str = "store";
/// The label that names a health check.
pub const CHECK_LABEL: &str = "check";
/// The label of a keyed breaker's key, recorded only when asked for
/// ([`EventMetrics::label_keys`](crate::EventMetrics::label_keys)).
pub const KEY_LABEL: &str = "key";
/// The key label's value for keys beyond the cap: their counts are summed under it.
pub const OVERFLOW_KEY_LABEL: &str = "__other__";
