//! Property: whatever duration a user gives (zero, one nanosecond, `u64::MAX` nanoseconds,
//! `Duration::MAX` or anything between), a breaker either is rejected at `build()` with an error
//! naming the field, or trips, rejects and reports its times without panicking.

use fusebox_breaker::{Breaker, BreakerBuilder, CircuitState, MAX_DURATION};
use proptest::prelude::*;
use std::time::Duration;

mod support;

fn durations() -> impl Strategy<Value = Duration> {
    prop_oneof![
        Just(Duration::ZERO),
        Just(Duration::from_nanos(1)),
        Just(MAX_DURATION),
        Just(Duration::MAX),
        any::<u64>().prop_map(Duration::from_nanos),
        any::<u64>().prop_map(Duration::from_secs),
        (1u64..10_000).prop_map(Duration::from_millis),
    ]
}

#[derive(Clone, Debug)]
enum Policy {
    Consecutive,
    CountWindow,
    TimeWindow(Duration, u32),
    SlowCalls(Duration),
}

fn policies() -> impl Strategy<Value = Policy> {
    prop_oneof![
        Just(Policy::Consecutive),
        Just(Policy::CountWindow),
        (
            durations(),
            prop_oneof![Just(1u32), Just(10), Just(1_000), Just(u32::MAX)]
        )
            .prop_map(|(d, b)| Policy::TimeWindow(d, b)),
        durations().prop_map(Policy::SlowCalls),
    ]
}

fn builder(
    policy: &Policy,
    open: Duration,
    backoff: Option<(f64, Duration)>,
    half_open_max_wait: Duration,
) -> BreakerBuilder {
    let b = Breaker::builder("extremes").half_open_max_wait(half_open_max_wait);
    let b = match backoff {
        Some((multiplier, max)) => b.open_duration_backoff(open, multiplier, max),
        None => b.open_duration(open),
    };
    match policy {
        Policy::Consecutive => b.consecutive_failures(1),
        Policy::CountWindow => b.failure_rate(0.5).count_window(2).min_calls(1),
        Policy::TimeWindow(d, buckets) => {
            b.failure_rate(0.5).time_window(*d, *buckets).min_calls(1)
        }
        Policy::SlowCalls(d) => b.consecutive_failures(1).slow_call(*d, 1.0).min_calls(1),
    }
}

const FIELDS: [&str; 8] = [
    "open_duration",
    "open_duration_max",
    "open_duration_multiplier",
    "half_open_max_wait",
    "time_window",
    "time_window_buckets",
    "slow_call_duration",
    "min_calls",
];

/// The farthest a test moves the paused clock: a hundred years.
const FARTHEST: Duration = Duration::from_secs(100 * 365 * 86_400);

/// A current-thread runtime whose clock only moves when a test moves it.
fn paused_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap()
}

/// Every public way of asking a breaker about time.
fn report(breaker: &Breaker) {
    let metrics = breaker.metrics();
    let _ = (
        metrics.open_until,
        metrics.time_in_state,
        metrics.failure_rate(),
    );
    let _ = support::stored(breaker).open_remaining();
    let _ = format!("{breaker:?}");
    if let Err(open) = breaker.try_acquire() {
        let _ = (open.retry_at(), open.retry_after());
        let _ = format!("{open} {open:?}");
        let boxed: Box<dyn std::error::Error + Send + Sync> = open.clone().into();
        assert!(boxed.is::<fusebox_breaker::CircuitOpen>());
        #[cfg(feature = "axum")]
        {
            use axum::response::IntoResponse;
            assert_eq!(open.into_response().status(), 503);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn keyed_sets_take_any_idle_timeout_or_name_it(idle in durations(), later in durations()) {
        let set = match Breaker::builder("extremes").keyed().idle_timeout(idle).build() {
            Ok(set) => set,
            Err(err) => {
                prop_assert_eq!(err.field(), "idle_timeout");
                return Ok(());
            }
        };
        let runtime = paused_runtime();
        runtime.block_on(async {
            drop(set.get("acme"));
            tokio::time::advance(later.min(FARTHEST)).await;
            set.get("globex");
            let _ = set.evict_idle();
            prop_assert!(set.len() <= 2);
            Ok(())
        })?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn extreme_durations_build_or_are_rejected_never_panic(
        policy in policies(),
        open in durations(),
        backoff in proptest::option::of((prop_oneof![Just(1.0), Just(2.0), Just(f64::MAX)], durations())),
        half_open_max_wait in durations(),
        later in durations(),
    ) {
        let breaker = match builder(&policy, open, backoff, half_open_max_wait).build() {
            Ok(breaker) => breaker,
            Err(err) => {
                prop_assert!(FIELDS.contains(&err.field()), "{err}");
                return Ok(());
            }
        };
        let runtime = paused_runtime();
        runtime.block_on(async {
            report(&breaker);
            for _ in 0..3 {
                if let Ok(permit) = breaker.try_acquire() {
                    permit.failure();
                }
            }
            report(&breaker);
            // Let time pass (as far as a paused clock can be moved) and look again.
            tokio::time::advance(later.min(FARTHEST)).await;
            report(&breaker);
            breaker.force_open();
            report(&breaker);
            prop_assert_eq!(breaker.state(), CircuitState::ForcedOpen);
            prop_assert_eq!(breaker.try_acquire().unwrap_err().retry_at(), None);
            breaker.reset();
            report(&breaker);
            Ok(())
        })?;
    }
}
