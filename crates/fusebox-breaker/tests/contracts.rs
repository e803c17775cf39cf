//! The breaker as fusebox-core's contracts show it to other crates: the counts and labels a
//! state store and a rejection read, and the recheck a retry makes after waiting out an open
//! period. Other crates (the Redis store, the retry) reach a breaker only this way.

use fusebox_breaker::{Breaker, CircuitState};
use fusebox_core::{StateStore, StoredRef};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// A store that keeps what it is given to share, to read it as a real store would.
#[derive(Clone, Default)]
struct Kept(Arc<Mutex<Vec<StoredRef>>>);

impl StateStore for Kept {
    fn attach(&self, circuit: &StoredRef) {
        self.0.lock().unwrap().push(circuit.clone());
    }
}

impl Kept {
    fn names(&self) -> Vec<(String, Option<String>)> {
        let kept = self.0.lock().unwrap();
        kept.iter()
            .map(|c| (c.name().to_owned(), c.key().map(str::to_owned)))
            .collect()
    }
}

#[test]
fn a_store_reads_the_successes_and_failures_a_breaker_counted() {
    let store = Kept::default();
    let breaker = Breaker::builder("payments")
        .consecutive_failures(100)
        .build()
        .unwrap();
    breaker.share_with(&store);
    for _ in 0..7 {
        breaker.try_acquire().unwrap().success();
    }
    for _ in 0..3 {
        breaker.try_acquire().unwrap().failure();
    }
    let stored = store.0.lock().unwrap()[0].clone();
    assert_eq!(stored.outcome_totals(), (7, 3));
    breaker.try_acquire().unwrap().success();
    assert_eq!(stored.outcome_totals(), (8, 3), "totals only grow");
}

#[tokio::test(start_paused = true)]
async fn a_store_given_before_keyed_shares_every_key_s_breaker() {
    let store = Kept::default();
    let tenants = Breaker::builder("calendar")
        .store(store.clone())
        .keyed()
        .build()
        .unwrap();
    tenants.get("acme");
    tenants.get("globex");
    let names = store.names();
    for key in ["acme", "globex"] {
        assert!(
            names.contains(&("calendar".to_owned(), Some(key.to_owned()))),
            "{key} not shared: {names:?}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn a_keyed_rejection_names_its_key_under_the_set_s_label() {
    let tenants = Breaker::builder("calendar")
        .consecutive_failures(1)
        .keyed()
        .key_label("tenant_id")
        .build()
        .unwrap();
    tenants.get("acme").try_acquire().unwrap().failure();
    let open = tenants.get("acme").try_acquire().unwrap_err();
    assert_eq!((open.key(), open.key_label()), (Some("acme"), "tenant_id"));
    let plain = Breaker::builder("calendar")
        .consecutive_failures(1)
        .build()
        .unwrap();
    plain.try_acquire().unwrap().failure();
    assert_eq!(plain.try_acquire().unwrap_err().key_label(), "key");
}

#[test]
fn a_rejection_rechecked_after_its_wait_ends_the_open_period() {
    // Outside a runtime no timer ends the period: only a call, or a recheck, does.
    let breaker = Breaker::builder("telephony")
        .consecutive_failures(1)
        .open_duration(Duration::from_millis(300))
        .build()
        .unwrap();
    breaker.try_acquire().unwrap().failure();
    let open = breaker.try_acquire().unwrap_err();
    let due = open.retry_at().expect("an open period ends");
    open.recheck();
    assert_eq!(breaker.state(), CircuitState::Open, "not due yet");
    // Wait for the period to be over (real time: this test has no runtime).
    while Instant::now() < due {
        std::thread::sleep(due - Instant::now());
    }
    assert_eq!(breaker.state(), CircuitState::Open, "nothing has ended it");
    open.recheck();
    assert_eq!(breaker.state(), CircuitState::HalfOpen);
}

#[test]
fn a_store_decides_for_the_fleet_with_the_breaker_s_own_policy() {
    let store = Kept::default();
    let breaker = Breaker::builder("payments")
        .failure_rate(0.25)
        .count_window(50)
        .min_calls(12)
        .open_duration_backoff(Duration::from_secs(4), 2.0, Duration::from_secs(60))
        .half_open_max_wait(Duration::from_secs(9))
        .build()
        .unwrap();
    breaker.share_with(&store);
    let policy = store.0.lock().unwrap()[0].shared_policy();
    assert_eq!(policy.failure_rate, Some(0.25));
    assert_eq!(policy.min_calls, 12);
    assert_eq!(
        policy.open_duration,
        Duration::from_secs(4),
        "the first trip's"
    );
    assert_eq!(policy.half_open_max_wait, Duration::from_secs(9));
}

#[test]
fn settings_at_their_limits_build_and_one_past_them_is_refused() {
    use fusebox_breaker::{MAX_DURATION, MAX_TIME_BUCKETS};
    let slow = |d: Duration| {
        Breaker::builder("t")
            .slow_call(d, 0.5)
            .count_window(10)
            .build()
    };
    assert!(slow(MAX_DURATION).is_ok(), "the longest duration is kept");
    let err = slow(MAX_DURATION + Duration::from_nanos(1)).unwrap_err();
    assert_eq!(err.field(), "slow_call_duration");
    let buckets = |n: u32| {
        Breaker::builder("t")
            .failure_rate(0.5)
            .time_window(Duration::from_secs(3_600), n)
            .build()
    };
    assert!(buckets(MAX_TIME_BUCKETS).is_ok());
    assert_eq!(
        buckets(MAX_TIME_BUCKETS + 1).unwrap_err().field(),
        "time_window_buckets"
    );
    assert_eq!(buckets(0).unwrap_err().field(), "time_window_buckets");
}

/// A change to a builder.
type Edit = fn(fusebox_breaker::BreakerBuilder) -> fusebox_breaker::BreakerBuilder;

#[test]
fn every_bounded_setting_takes_its_bound_and_refuses_one_past_it() {
    use fusebox_breaker::{MAX_COUNT_WINDOW, MAX_PROBES};
    let rate = || Breaker::builder("t").failure_rate(0.5);
    let cases: [(&str, Edit, Edit); 5] = [
        (
            "time_window",
            |b| b.time_window(Duration::from_secs(1), 1_000),
            |b| b.time_window(Duration::from_millis(999), 1_000),
        ),
        (
            "count_window",
            |b| b.count_window(MAX_COUNT_WINDOW),
            |b| b.count_window(MAX_COUNT_WINDOW + 1),
        ),
        (
            "min_calls",
            |b| {
                b.time_window(Duration::from_secs(10), 10)
                    .min_calls(MAX_COUNT_WINDOW)
            },
            |b| {
                b.time_window(Duration::from_secs(10), 10)
                    .min_calls(MAX_COUNT_WINDOW + 1)
            },
        ),
        (
            "open_duration_max",
            |b| b.open_duration_backoff(Duration::from_secs(4), 2.0, Duration::from_secs(4)),
            |b| b.open_duration_backoff(Duration::from_secs(4), 2.0, Duration::from_millis(3_999)),
        ),
        (
            "half_open_probes",
            |b| b.half_open_probes(MAX_PROBES),
            |b| b.half_open_probes(MAX_PROBES + 1),
        ),
    ];
    for (field, at, past) in cases {
        if let Err(err) = at(rate()).build() {
            panic!("{field} at its bound refused: {err}");
        }
        assert_eq!(past(rate()).build().unwrap_err().field(), field);
    }
}

#[test]
fn a_flag_reads_each_spelling_of_yes_and_no() {
    use fusebox_breaker::RegistrySettings;
    for (value, disabled) in [
        ("true", true),
        ("Yes", true),
        ("on", true),
        ("1", true),
        ("false", false),
        ("NO", false),
        ("off", false),
        ("0", false),
    ] {
        let vars = [("FB_CALENDAR_START_DISABLED".to_owned(), value.to_owned())];
        let env = RegistrySettings::from_vars_for("FB", ["calendar"], vars).unwrap();
        let settings = env.settings.for_breaker("calendar");
        assert_eq!(settings.start_disabled, Some(disabled), "{value}");
    }
    let vars = [("FB_CALENDAR_START_DISABLED".to_owned(), "maybe".to_owned())];
    let err = RegistrySettings::from_vars_for("FB", ["calendar"], vars).unwrap_err();
    assert_eq!(err.field(), "FB_CALENDAR_START_DISABLED");
}

#[tokio::test(start_paused = true)]
async fn a_store_that_opens_a_circuit_starts_an_open_period_of_the_breaker_s_own_length() {
    let store = Kept::default();
    let breaker = Breaker::builder("payments")
        .open_duration(Duration::from_secs(8))
        .build()
        .unwrap();
    breaker.share_with(&store);
    let stored = store.0.lock().unwrap()[0].clone();
    assert_eq!(stored.open_remaining(), None, "closed");
    stored.apply_remote_state(CircuitState::Open);
    assert_eq!(breaker.state(), CircuitState::Open);
    assert_eq!(stored.open_remaining(), Some(Duration::from_secs(8)));
    let open = breaker.try_acquire().unwrap_err();
    assert_eq!(open.retry_after(), Some(Duration::from_secs(8)));
    stored.apply_remote_open(Duration::from_secs(3));
    assert_eq!(
        stored.open_remaining(),
        Some(Duration::from_secs(8)),
        "a shorter period from elsewhere does not cut this one"
    );
    stored.apply_remote_state(CircuitState::Closed);
    assert_eq!(breaker.state(), CircuitState::Closed);
    assert_eq!(stored.open_remaining(), None);
}

#[tokio::test(start_paused = true)]
async fn metrics_say_how_long_the_breaker_has_been_in_its_state() {
    let breaker = Breaker::builder("payments")
        .consecutive_failures(1)
        .open_duration(Duration::from_secs(60))
        .build()
        .unwrap();
    tokio::time::advance(Duration::from_secs(3)).await;
    assert_eq!(breaker.metrics().time_in_state, Duration::from_secs(3));
    breaker.try_acquire().unwrap().failure();
    tokio::time::advance(Duration::from_secs(5)).await;
    assert_eq!(breaker.state(), CircuitState::Open);
    assert_eq!(
        breaker.metrics().time_in_state,
        Duration::from_secs(5),
        "counted from the trip"
    );
}

#[test]
fn a_keyed_set_takes_the_longest_idle_timeout_and_refuses_one_past_it() {
    use fusebox_breaker::MAX_DURATION;
    let set = |idle: Duration| Breaker::builder("t").keyed().idle_timeout(idle).build();
    assert!(set(MAX_DURATION).is_ok());
    let err = set(MAX_DURATION + Duration::from_nanos(1)).unwrap_err();
    assert_eq!(err.field(), "idle_timeout");
}

#[test]
fn a_breaker_says_whether_it_lives_for_the_rest_of_the_process() {
    let counted = Breaker::builder("payments").build().unwrap();
    let kept = Breaker::builder("payments").build_static().unwrap();
    assert!(!counted.is_static());
    assert!(kept.is_static());
    assert!(kept.clone().is_static(), "a clone is the same breaker");
}
