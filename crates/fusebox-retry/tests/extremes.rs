//! Property: whatever duration a user gives (zero, one nanosecond, `u64::MAX` nanoseconds,
//! `Duration::MAX` or anything between), building a retry layer either fails with a typed error
//! naming the field or gives a layer whose calls complete without panicking.
#![cfg(feature = "http")]

use fusebox_core::{parse_retry_after, ConfigError};
use fusebox_retry::{Backoff, Jitter, RetryBudget, RetryLayer};
use proptest::prelude::*;
use std::time::{Duration, SystemTime};
use tower::{service_fn, BoxError, Layer, ServiceExt};

fn durations() -> impl Strategy<Value = Duration> {
    prop_oneof![
        Just(Duration::ZERO),
        Just(Duration::from_nanos(1)),
        Just(Duration::from_nanos(u64::MAX)),
        Just(Duration::MAX),
        any::<u64>().prop_map(Duration::from_nanos),
        any::<u64>().prop_map(Duration::from_secs),
        (0u64..10_000).prop_map(Duration::from_millis),
    ]
}

fn backoffs() -> impl Strategy<Value = Backoff> {
    let schedule = prop_oneof![
        durations().prop_map(Backoff::constant),
        (durations(), durations()).prop_map(|(a, b)| Backoff::linear(a, b)),
        (
            durations(),
            prop_oneof![Just(1.0), Just(2.0), Just(f64::MAX)]
        )
            .prop_map(|(b, m)| Backoff::exponential(b, m)),
    ];
    let jitter = prop_oneof![
        Just(Jitter::None),
        Just(Jitter::Full),
        Just(Jitter::Equal),
        Just(Jitter::Decorrelated)
    ];
    (schedule, proptest::option::of(durations()), jitter).prop_map(|(b, max, j)| {
        let b = b.jitter(j);
        match max {
            Some(max) => b.max_delay(max),
            None => b,
        }
    })
}

/// A rejected setting must name one of the fields the builder takes.
fn names_a_field(err: &ConfigError) -> bool {
    [
        "max_delay",
        "backoff_base",
        "backoff_multiplier",
        "deadline",
        "max_retry_after",
    ]
    .contains(&err.field())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn extreme_durations_build_or_are_rejected_never_panic(
        backoff in backoffs(),
        deadline in proptest::option::of(durations()),
        max_retry_after in durations(),
        hint in prop_oneof![Just(None), durations().prop_map(|d| Some(d.as_secs()))],
        seed in any::<u64>(),
    ) {
        let builder = || {
            let builder = RetryLayer::builder("extremes")
                .backoff(backoff)
                .max_attempts(3)
                .max_retry_after(max_retry_after)
                .random_seed(seed);
            match deadline {
                Some(deadline) => builder.deadline(deadline),
                None => builder,
            }
        };
        let layer = match builder().build() {
            Ok(layer) => layer,
            Err(err) => {
                prop_assert!(names_a_field(&err), "{err}");
                return Ok(());
            }
        };
        let http_layer = builder()
            .classifier(fusebox_core::HttpClassifier::new())
            .build()
            .unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap();
        runtime.block_on(async {
            let down = service_fn(|_: ()| async { Err::<(), BoxError>("down".into()) });
            prop_assert!(layer.layer(down).oneshot(()).await.is_err());
            let busy = service_fn(move |_: ()| async move {
                let mut response = http::Response::builder().status(503);
                if let Some(secs) = hint {
                    response = response.header("retry-after", secs.to_string());
                }
                Ok::<_, BoxError>(response.body(()).unwrap())
            });
            let response = http_layer.layer(busy).oneshot(()).await.unwrap();
            prop_assert_eq!(response.status(), 503);
            Ok(())
        })?;
    }

    #[test]
    fn budgets_take_any_count(
        ratio in prop_oneof![Just(0.0), Just(1e-9), Just(0.6666667), Just(1000.0), 0.0f64..1000.0],
        min_per_second in prop_oneof![Just(0), Just(1), Just(u32::MAX), any::<u32>()],
        max_tokens in proptest::option::of(prop_oneof![Just(0), Just(1), Just(u32::MAX), any::<u32>()]),
    ) {
        let mut builder = RetryBudget::builder().ratio(ratio).min_per_second(min_per_second);
        if let Some(max) = max_tokens {
            builder = builder.max_tokens(max);
        }
        match builder.build() {
            Ok(budget) => {
                for _ in 0..100 {
                    budget.deposit();
                }
                let _ = budget.try_withdraw();
                prop_assert!(budget.tokens() >= 0.0);
            }
            Err(err) => prop_assert!(err.field().starts_with("budget_"), "{err}"),
        }
    }

    #[test]
    fn any_retry_after_value_parses_or_is_ignored(value in "[0-9]{1,40}|.{0,40}") {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let parsed = parse_retry_after(&value, now);
        if !value.trim().is_empty() && value.trim().bytes().all(|b| b.is_ascii_digit()) {
            prop_assert!(parsed.is_some(), "delay-seconds {value:?} ignored");
        }
    }
}
