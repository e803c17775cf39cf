//! `EventMetrics` fed scripted sequences of the events breakers, retries and stores emit,
//! read back from a recorder with paused time.

mod support;

use fusebox_core::{
    CircuitState, Event, EventBus, EventKind, GiveUpReason, HealthStatus, Subscription,
    TransitionReason,
};
use fusebox_metrics::names::*;
use fusebox_metrics::{state_code, EventMetrics};
use std::time::Duration;
use support::Recorded;
use tokio::time::advance;

use CircuitState::{Closed, Disabled, ForcedOpen, HalfOpen, Open};

const ALL_STATES: [CircuitState; 5] = [Closed, HalfOpen, Open, ForcedOpen, Disabled];

/// A bus with `metrics` subscribed.
fn subscribed(metrics: &EventMetrics) -> (EventBus, Subscription) {
    let bus = EventBus::new();
    let subscription = bus.subscribe(metrics.clone());
    (bus, subscription)
}

fn emit(recorded: &Recorded, bus: &EventBus, source: &str, key: Option<&str>, kind: EventKind) {
    recorded.local(|| bus.emit(|| Event::new(source, kind).with_key(key)));
}

fn transition(from: CircuitState, to: CircuitState) -> EventKind {
    EventKind::StateTransition {
        from,
        to,
        reason: TransitionReason::ProbeFailed,
    }
}

fn breaker_calls(recorded: &Recorded, breaker: &str, kind: &str) -> Option<u64> {
    recorded.counter(BREAKER_CALLS, &[("breaker", breaker), ("kind", kind)])
}

/// The per-state gauges of `labels`, in `ALL_STATES`' order.
fn in_state(recorded: &Recorded, labels: &[(&str, &str)]) -> Vec<f64> {
    ALL_STATES
        .iter()
        .map(|state| {
            let mut labels = labels.to_vec();
            labels.push(("state", state.as_str()));
            recorded.gauge(BREAKER_STATE, &labels).unwrap()
        })
        .collect()
}

fn seconds_in(recorded: &Recorded, breaker: &str, state: CircuitState) -> f64 {
    recorded
        .gauge(
            BREAKER_STATE_SECONDS,
            &[("breaker", breaker), ("state", state.as_str())],
        )
        .unwrap()
}

const OK: EventKind = EventKind::CallSucceeded {
    elapsed: None,
    slow: false,
};
const FAILED: EventKind = EventKind::CallFailed {
    elapsed: None,
    slow: false,
};
const REJECTED: EventKind = EventKind::CallRejected { state: Open };

#[tokio::test(start_paused = true)]
async fn calls_a_trip_and_rejections_are_counted_exactly() {
    let recorded = Recorded::new();
    let metrics = EventMetrics::new();
    let (bus, _s) = subscribed(&metrics);
    for _ in 0..7 {
        emit(&recorded, &bus, "payments", None, OK);
    }
    emit(
        &recorded,
        &bus,
        "payments",
        None,
        EventKind::CallSucceeded {
            elapsed: Some(Duration::from_secs(2)),
            slow: true,
        },
    );
    for _ in 0..3 {
        emit(&recorded, &bus, "payments", None, FAILED);
    }
    emit(
        &recorded,
        &bus,
        "payments",
        None,
        EventKind::CallFailed {
            elapsed: Some(Duration::from_secs(3)),
            slow: true,
        },
    );
    emit(&recorded, &bus, "payments", None, transition(Closed, Open));
    for _ in 0..5 {
        emit(&recorded, &bus, "payments", None, REJECTED);
    }
    emit(&recorded, &bus, "payments", None, EventKind::CallIgnored);

    assert_eq!(breaker_calls(&recorded, "payments", "successful"), Some(8));
    assert_eq!(breaker_calls(&recorded, "payments", "failed"), Some(4));
    assert_eq!(breaker_calls(&recorded, "payments", "slow"), Some(2));
    assert_eq!(breaker_calls(&recorded, "payments", "rejected"), Some(5));
    assert_eq!(breaker_calls(&recorded, "payments", "ignored"), Some(1));
    assert_eq!(
        recorded.counter(
            BREAKER_TRANSITIONS,
            &[("breaker", "payments"), ("from", "closed"), ("to", "open")]
        ),
        Some(1)
    );
    assert_eq!(
        recorded.gauge(BREAKER_STATE_CODE, &[("breaker", "payments")]),
        Some(2.0)
    );
}

#[tokio::test(start_paused = true)]
async fn exactly_one_state_gauge_is_one_through_every_transition() {
    let recorded = Recorded::new();
    let metrics = EventMetrics::new();
    let (bus, _s) = subscribed(&metrics);
    emit(&recorded, &bus, "calendar", None, OK);
    let labels = [("breaker", "calendar")];
    assert_eq!(in_state(&recorded, &labels), [1.0, 0.0, 0.0, 0.0, 0.0]);
    let path = [
        (Closed, Open),
        (Open, HalfOpen),
        (HalfOpen, Open),
        (Open, HalfOpen),
        (HalfOpen, Closed),
        (Closed, ForcedOpen),
        (ForcedOpen, Disabled),
        (Disabled, Closed),
    ];
    for (from, to) in path {
        emit(&recorded, &bus, "calendar", None, transition(from, to));
        let gauges = in_state(&recorded, &labels);
        let index = ALL_STATES.iter().position(|s| *s == to).unwrap();
        for (i, value) in gauges.iter().enumerate() {
            assert_eq!(*value, if i == index { 1.0 } else { 0.0 }, "{from} → {to}");
        }
        assert_eq!(
            recorded.gauge(BREAKER_STATE_CODE, &labels),
            state_code(to).map(f64::from)
        );
        assert_eq!(metrics.state("calendar", None), Some(to));
    }
    assert_eq!(
        recorded.counter(
            BREAKER_TRANSITIONS,
            &[
                ("breaker", "calendar"),
                ("from", "open"),
                ("to", "half_open")
            ]
        ),
        Some(2)
    );
}

#[test]
fn state_codes_are_the_documented_numbers() {
    let codes: Vec<Option<u8>> = ALL_STATES.iter().map(|s| state_code(*s)).collect();
    assert_eq!(codes, [Some(0), Some(1), Some(2), Some(3), Some(4)]);
}

#[tokio::test(start_paused = true)]
async fn an_open_period_shorter_than_a_scrape_interval_stays_visible() {
    let recorded = Recorded::new();
    let metrics = EventMetrics::new();
    let (bus, _s) = subscribed(&metrics);
    emit(&recorded, &bus, "sms", None, OK);
    advance(Duration::from_secs(10)).await;
    // A scrape here, then a trip and a recovery within 300 ms, then the next scrape.
    metrics.refresh();
    emit(&recorded, &bus, "sms", None, transition(Closed, Open));
    advance(Duration::from_millis(200)).await;
    emit(&recorded, &bus, "sms", None, transition(Open, HalfOpen));
    advance(Duration::from_millis(100)).await;
    emit(&recorded, &bus, "sms", None, transition(HalfOpen, Closed));
    advance(Duration::from_secs(15)).await;
    metrics.refresh();

    assert_eq!(
        in_state(&recorded, &[("breaker", "sms")])[0],
        1.0,
        "closed again"
    );
    assert_eq!(
        recorded.counter(
            BREAKER_TRANSITIONS,
            &[("breaker", "sms"), ("from", "closed"), ("to", "open")]
        ),
        Some(1)
    );
    assert!((seconds_in(&recorded, "sms", Open) - 0.2).abs() < 1e-9);
    assert!((seconds_in(&recorded, "sms", HalfOpen) - 0.1).abs() < 1e-9);
    assert!((seconds_in(&recorded, "sms", Closed) - 25.0).abs() < 1e-9);
    assert_eq!(seconds_in(&recorded, "sms", ForcedOpen), 0.0);
}

#[tokio::test(start_paused = true)]
async fn a_tracked_breaker_starts_in_its_own_state() {
    struct Disabled;
    impl fusebox_core::Circuit for Disabled {
        fn name(&self) -> &str {
            "email"
        }
        fn state(&self) -> CircuitState {
            CircuitState::Disabled
        }
    }
    let recorded = Recorded::new();
    let metrics = EventMetrics::new();
    recorded.local(|| metrics.track(&Disabled));
    assert_eq!(
        in_state(&recorded, &[("breaker", "email")]),
        [0.0, 0.0, 0.0, 0.0, 1.0]
    );
    advance(Duration::from_secs(3)).await;
    metrics.refresh();
    assert_eq!(seconds_in(&recorded, "email", CircuitState::Disabled), 3.0);
    assert_eq!(seconds_in(&recorded, "email", Closed), 0.0);
}

#[tokio::test(start_paused = true)]
async fn suppressed_trips_are_counted_by_reason() {
    let recorded = Recorded::new();
    let metrics = EventMetrics::new();
    let (bus, _s) = subscribed(&metrics);
    for _ in 0..2 {
        emit(
            &recorded,
            &bus,
            "maps",
            None,
            EventKind::TripSuppressed {
                reason: TransitionReason::ConsecutiveFailures { count: 5 },
            },
        );
    }
    assert_eq!(
        recorded.counter(
            BREAKER_SUPPRESSED_TRIPS,
            &[("breaker", "maps"), ("reason", "consecutive_failures")]
        ),
        Some(2)
    );
}

#[tokio::test(start_paused = true)]
async fn keys_are_summed_unless_labelled_and_labels_stop_at_the_cap() {
    let recorded = Recorded::new();
    let summed = EventMetrics::new();
    let (bus, _s) = subscribed(&summed);
    for tenant in ["acme", "globex", "initech"] {
        emit(&recorded, &bus, "tenants", Some(tenant), FAILED);
    }
    emit(
        &recorded,
        &bus,
        "tenants",
        Some("acme"),
        transition(Closed, Open),
    );
    assert_eq!(breaker_calls(&recorded, "tenants", "failed"), Some(3));
    assert_eq!(
        recorded.series(BREAKER_STATE),
        Vec::<Vec<(String, String)>>::new(),
        "no single state describes a set"
    );
    assert_eq!(summed.state("tenants", Some("acme")), None);

    let recorded = Recorded::new();
    let labelled = EventMetrics::label_keys(2);
    let (bus, _s) = subscribed(&labelled);
    for tenant in ["acme", "globex", "initech", "umbrella", "acme"] {
        emit(&recorded, &bus, "tenants", Some(tenant), FAILED);
    }
    emit(
        &recorded,
        &bus,
        "tenants",
        Some("globex"),
        transition(Closed, Open),
    );
    let failed = |key: &str| {
        recorded.counter(
            BREAKER_CALLS,
            &[("breaker", "tenants"), ("key", key), ("kind", "failed")],
        )
    };
    assert_eq!(failed("acme"), Some(2));
    assert_eq!(failed("globex"), Some(1));
    assert_eq!(failed(OVERFLOW_KEY_LABEL), Some(2), "initech and umbrella");
    assert_eq!(failed("initech"), None);
    assert_eq!(labelled.state("tenants", Some("globex")), Some(Open));
    assert_eq!(
        in_state(&recorded, &[("breaker", "tenants"), ("key", "globex")]),
        [0.0, 0.0, 1.0, 0.0, 0.0]
    );
    let keys: Vec<String> = recorded
        .series(BREAKER_STATE_CODE)
        .into_iter()
        .map(|labels| labels[1].1.clone())
        .collect();
    assert_eq!(keys, ["acme", "globex"], "the overflow has no state");
}

#[tokio::test(start_paused = true)]
async fn retries_are_counted_by_result() {
    let recorded = Recorded::new();
    let metrics = EventMetrics::new();
    let (bus, _s) = subscribed(&metrics);
    let scheduled = EventKind::RetryScheduled {
        attempt: 2,
        delay: Duration::from_millis(100),
        server_hint: false,
    };
    for kind in [
        EventKind::RetryAttemptStarted { attempt: 1 },
        scheduled,
        scheduled,
        EventKind::RetrySucceeded { attempts: 3 },
        scheduled,
        EventKind::RetryGaveUp {
            attempts: 3,
            reason: GiveUpReason::AttemptsExhausted,
        },
        EventKind::RetryDenied { attempt: 1 },
        EventKind::RetryGaveUp {
            attempts: 1,
            reason: GiveUpReason::BudgetExhausted,
        },
        EventKind::RetryGaveUp {
            attempts: 2,
            reason: GiveUpReason::CircuitOpen,
        },
    ] {
        emit(&recorded, &bus, "calendar-client", None, kind);
    }
    let retry = ("retry", "calendar-client");
    let result = |result: &str| recorded.counter(RETRY_CALLS, &[retry, ("result", result)]);
    assert_eq!(recorded.counter(RETRIES, &[retry]), Some(3));
    assert_eq!(recorded.counter(RETRY_BUDGET_DENIED, &[retry]), Some(1));
    assert_eq!(result("succeeded_after_retry"), Some(1));
    assert_eq!(result("attempts_exhausted"), Some(1));
    assert_eq!(result("budget_exhausted"), Some(1));
    assert_eq!(result("circuit_open"), Some(1));
    assert_eq!(recorded.series(BREAKER_CALLS).len(), 0, "not a breaker's");
}

#[tokio::test(start_paused = true)]
async fn a_store_shows_whether_it_is_degraded_and_counts_its_changes() {
    let recorded = Recorded::new();
    let metrics = EventMetrics::new();
    let (bus, _s) = subscribed(&metrics);
    let store = [("store", "redis")];
    emit(&recorded, &bus, "redis", None, EventKind::StoreDegraded);
    assert_eq!(recorded.gauge(STORE_DEGRADED, &store), Some(1.0));
    emit(&recorded, &bus, "redis", None, EventKind::StoreRecovered);
    emit(&recorded, &bus, "redis", None, EventKind::StoreDegraded);
    emit(&recorded, &bus, "redis", None, EventKind::StoreRecovered);
    assert_eq!(recorded.gauge(STORE_DEGRADED, &store), Some(0.0));
    let to = |to: &str| recorded.counter(STORE_TRANSITIONS, &[store[0], ("to", to)]);
    assert_eq!((to("degraded"), to("recovered")), (Some(2), Some(2)));
    let pending = |kind: &str| recorded.gauge(STORE_PENDING, &[store[0], ("kind", kind)]);
    assert_eq!(
        (pending("calls"), pending("transitions")),
        (Some(0.0), Some(0.0))
    );
    let waiting = EventKind::StorePending {
        calls: 1_500,
        transitions: 2,
    };
    emit(&recorded, &bus, "redis", None, waiting);
    assert_eq!(
        (pending("calls"), pending("transitions")),
        (Some(1_500.0), Some(2.0))
    );
}

#[tokio::test(start_paused = true)]
async fn a_health_check_s_probes_and_changes_are_its_status_score_duration_and_counts() {
    let recorded = Recorded::new();
    let metrics = EventMetrics::new();
    let (bus, _s) = subscribed(&metrics);
    let check = ("check", "calendar:responseTime");
    let probed = |status, millis, score| EventKind::HealthProbed {
        status,
        latency: Duration::from_millis(millis),
        score,
    };
    let changed = |from, to| EventKind::HealthChanged { from, to };
    for kind in [
        probed(HealthStatus::Pass, 120, 100),
        changed(None, HealthStatus::Pass),
        probed(HealthStatus::Fail, 5_000, 93),
        changed(Some(HealthStatus::Pass), HealthStatus::Fail),
    ] {
        emit(&recorded, &bus, check.1, None, kind);
    }
    assert_eq!(recorded.gauge(HEALTH_STATUS, &[check]), Some(2.0));
    assert_eq!(recorded.gauge(HEALTH_SCORE, &[check]), Some(93.0));
    assert_eq!(
        recorded.histogram(HEALTH_CHECK_DURATION, &[check]),
        [0.12, 5.0]
    );
    let to = |to: &str| recorded.counter(HEALTH_CHANGES, &[check, ("to", to)]);
    assert_eq!(
        (to("pass"), to("warn"), to("fail")),
        (Some(1), Some(0), Some(1))
    );
    emit(
        &recorded,
        &bus,
        check.1,
        None,
        probed(HealthStatus::Warn, 1, 80),
    );
    assert_eq!(recorded.gauge(HEALTH_STATUS, &[check]), Some(1.0));
}

#[tokio::test(start_paused = true)]
async fn a_circuit_s_own_listener_records_into_the_same_series() {
    struct Email;
    impl fusebox_core::Circuit for Email {
        fn name(&self) -> &str {
            "email"
        }
        fn state(&self) -> CircuitState {
            CircuitState::HalfOpen
        }
    }
    let recorded = Recorded::new();
    let metrics = EventMetrics::label_keys(4);
    let bus = EventBus::new();
    let own = recorded.local(|| metrics.for_circuit(&Email));
    let _s = bus.subscribe(own);
    assert_eq!(
        in_state(&recorded, &[("breaker", "email")]),
        [0.0, 1.0, 0.0, 0.0, 0.0],
        "started in the circuit's state"
    );
    emit(&recorded, &bus, "email", None, OK);
    emit(&recorded, &bus, "email", None, transition(HalfOpen, Closed));
    // Another source on the same bus, and a store's event, go through the shared metrics.
    emit(&recorded, &bus, "sms", None, FAILED);
    emit(&recorded, &bus, "email", Some("acme"), FAILED);
    emit(&recorded, &bus, "redis", None, EventKind::StoreDegraded);
    assert_eq!(breaker_calls(&recorded, "email", "successful"), Some(1));
    assert_eq!(metrics.state("email", None), Some(Closed));
    assert_eq!(breaker_calls(&recorded, "sms", "failed"), Some(1));
    assert_eq!(
        recorded.gauge(STORE_DEGRADED, &[("store", "redis")]),
        Some(1.0)
    );
    assert_eq!(breaker_calls(&recorded, "email", "failed"), Some(0));
    assert_eq!(
        recorded.counter(
            BREAKER_CALLS,
            &[("breaker", "email"), ("key", "acme"), ("kind", "failed")]
        ),
        Some(1),
        "a key's event of the same name goes to the key's series"
    );
}
