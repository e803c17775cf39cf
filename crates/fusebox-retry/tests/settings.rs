//! Retry settings as data: read from TOML and JSON, laid over a builder, driving real retries
//! on paused Tokio time.
#![cfg(feature = "serde")]

use fusebox_retry::{Backoff, BackoffKind, Jitter, RetryBudget, RetryLayer, RetrySettings};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;
use tower::{service_fn, BoxError, Layer, Service, ServiceExt};

/// A service that always fails, recording when each attempt arrived.
fn failing() -> (
    Arc<Mutex<Vec<Instant>>>,
    impl Service<u32, Response = u32, Error = BoxError> + Clone,
) {
    let arrivals = Arc::new(Mutex::new(Vec::new()));
    let seen = arrivals.clone();
    let svc = service_fn(move |_: u32| {
        seen.lock().unwrap().push(Instant::now());
        async { Err::<u32, BoxError>("unavailable".into()) }
    });
    (arrivals, svc)
}

fn gaps(arrivals: &[Instant]) -> Vec<Duration> {
    arrivals.windows(2).map(|w| w[1] - w[0]).collect()
}

#[tokio::test(start_paused = true)]
async fn settings_read_from_toml_drive_the_attempts_and_their_delays() {
    let settings: RetrySettings = toml::from_str(
        r#"
        max_attempts = 4
        backoff = "linear"
        backoff_base = "100ms"
        backoff_step = "50ms"
        jitter = "none"
        "#,
    )
    .unwrap();
    assert_eq!(settings.backoff, Some(BackoffKind::Linear));
    assert_eq!(settings.jitter, Some(Jitter::None));
    let layer = settings.build("calendar").unwrap();
    let (arrivals, svc) = failing();
    let err = layer.layer(svc).oneshot(1).await.unwrap_err();
    assert_eq!(err.to_string(), "unavailable");
    let ms = Duration::from_millis;
    assert_eq!(gaps(&arrivals.lock().unwrap()), [ms(100), ms(150), ms(200)]);
}

#[tokio::test(start_paused = true)]
async fn settings_override_what_they_set_and_keep_the_builders_rest() {
    let settings: RetrySettings = serde_json::from_str(r#"{ "max_attempts": 2 }"#).unwrap();
    let builder = RetryLayer::builder("calendar")
        .max_attempts(5)
        .backoff(Backoff::constant(Duration::from_millis(30)));
    let layer = settings.apply(builder).build().unwrap();
    let (arrivals, svc) = failing();
    layer.layer(svc).oneshot(1).await.unwrap_err();
    // Two attempts (the settings' number), 30 ms apart (the builder's backoff).
    assert_eq!(gaps(&arrivals.lock().unwrap()), [Duration::from_millis(30)]);
}

#[tokio::test(start_paused = true)]
async fn budget_fields_replace_a_budget_given_to_the_builder() {
    // An empty shared budget would deny every retry.
    let empty = RetryBudget::builder()
        .ratio(0.0)
        .min_per_second(1)
        .max_tokens(1)
        .build()
        .unwrap();
    assert!(empty.try_withdraw());
    let builder = RetryLayer::builder("calendar")
        .max_attempts(3)
        .backoff(Backoff::constant(Duration::from_millis(1)))
        .budget(empty.clone());
    let denied = builder.build().unwrap();
    let (arrivals, svc) = failing();
    denied.layer(svc).oneshot(1).await.unwrap_err();
    assert_eq!(
        arrivals.lock().unwrap().len(),
        1,
        "the empty budget denies the retry"
    );

    let settings: RetrySettings = toml::from_str("budget_max_tokens = 5").unwrap();
    let builder = RetryLayer::builder("calendar")
        .max_attempts(3)
        .backoff(Backoff::constant(Duration::from_millis(1)))
        .budget(empty);
    let own = settings.apply(builder).build().unwrap();
    let (arrivals, svc) = failing();
    own.layer(svc).oneshot(1).await.unwrap_err();
    assert_eq!(
        arrivals.lock().unwrap().len(),
        3,
        "the settings' own budget grants both retries"
    );
}

#[test]
fn unknown_fields_and_bad_kinds_are_rejected_by_name() {
    let err = toml::from_str::<RetrySettings>("max_atempts = 4").unwrap_err();
    assert!(err.to_string().contains("max_atempts"), "{err}");
    let err = toml::from_str::<RetrySettings>(r#"jitter = "some""#).unwrap_err();
    assert!(err.to_string().contains("some"), "{err}");
    let err = toml::from_str::<RetrySettings>(r#"deadline = "soon""#).unwrap_err();
    assert!(err.to_string().contains("deadline"), "{err}");
}

#[test]
fn invalid_values_fail_at_build_naming_the_field() {
    let settings: RetrySettings = toml::from_str(
        r#"
        backoff = "constant"
        backoff_multiplier = 2.0
        "#,
    )
    .unwrap();
    let err = settings.build("calendar").unwrap_err();
    assert_eq!(
        err.to_string(),
        "backoff_multiplier must be set only with backoff = exponential, got 2.0"
    );
    let settings: RetrySettings = toml::from_str("max_attempts = 0").unwrap();
    assert_eq!(
        settings.build("calendar").unwrap_err().field(),
        "max_attempts"
    );
}

#[test]
fn settings_round_trip_through_serde() {
    let settings: RetrySettings = toml::from_str(
        r#"
        max_attempts = 4
        deadline = "5s"
        max_retry_after = "30s"
        backoff = "exponential"
        backoff_base = "50ms"
        backoff_multiplier = 3.0
        max_delay = "2s"
        jitter = "decorrelated"
        budget_ratio = 0.1
        budget_min_per_second = 2
        budget_max_tokens = 20
        "#,
    )
    .unwrap();
    let text = toml::to_string(&settings).unwrap();
    assert_eq!(toml::from_str::<RetrySettings>(&text).unwrap(), settings);
    assert_eq!(settings.deadline, Some(Duration::from_secs(5)));
    assert_eq!(settings.budget_min_per_second, Some(2));
    settings.build("calendar").unwrap();
}
