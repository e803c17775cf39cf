//! The breaker's state machine, driven with paused Tokio time.

use fusebox_breaker::{Breaker, CircuitState, Permit, TransitionReason};
use fusebox_core::{Event, EventKind, Outcome};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::stored;
use tokio::time::advance;

mod support;

const S: Outcome = Outcome::Success;
const F: Outcome = Outcome::Failure {
    retryable: true,
    retry_after: None,
};

fn call(b: &Breaker, outcome: Outcome) {
    b.try_acquire()
        .unwrap_or_else(|e| panic!("call rejected: {e}"))
        .record(outcome);
}

fn calls(b: &Breaker, outcomes: &[Outcome]) {
    for &o in outcomes {
        call(b, o);
    }
}

/// Lets the breaker's timer task run after time moved.
async fn settle() {
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
}

async fn wait(d: Duration) {
    advance(d).await;
    settle().await;
}

fn last_reason(b: &Breaker) -> TransitionReason {
    b.metrics().last_transition.expect("a transition").reason
}

#[tokio::test(start_paused = true)]
async fn consecutive_failures_trip_and_a_success_resets_the_count() {
    let b = Breaker::builder("t")
        .consecutive_failures(3)
        .build()
        .unwrap();
    calls(&b, &[F, F, S, F, F]);
    assert_eq!(b.state(), CircuitState::Closed);
    assert_eq!(b.metrics().consecutive_failures, 2);
    call(&b, F);
    assert_eq!(b.state(), CircuitState::Open);
    assert_eq!(
        last_reason(&b),
        TransitionReason::ConsecutiveFailures { count: 3 }
    );
    let m = b.metrics();
    assert_eq!((m.successes, m.failures, m.calls), (1, 5, 6));
}

#[tokio::test(start_paused = true)]
async fn count_window_slides_and_the_oldest_outcome_leaves() {
    let b = Breaker::builder("t")
        .failure_rate(0.5)
        .count_window(4)
        .min_calls(4)
        .build()
        .unwrap();
    // F S S S: 25%; the F then leaves with the next outcome.
    calls(&b, &[F, S, S, S, S, F]);
    assert_eq!(b.metrics().window.unwrap().failures, 1);
    assert_eq!(b.state(), CircuitState::Closed);
    // Window S S F F: 50%.
    call(&b, F);
    assert_eq!(b.state(), CircuitState::Open);
    assert_eq!(
        last_reason(&b),
        TransitionReason::FailureRate {
            rate: 0.5,
            threshold: 0.5,
            calls: 4
        }
    );
}

#[tokio::test(start_paused = true)]
async fn minimum_calls_apply_before_the_window_fills() {
    let b = Breaker::builder("t")
        .failure_rate(0.5)
        .count_window(1_000)
        .min_calls(4)
        .build()
        .unwrap();
    calls(&b, &[F, F, F]);
    assert_eq!(
        b.state(),
        CircuitState::Closed,
        "3 calls are under the minimum"
    );
    call(&b, S);
    assert_eq!(b.state(), CircuitState::Closed, "a success never trips");
    call(&b, F);
    assert_eq!(
        b.state(),
        CircuitState::Open,
        "5 of 1000 slots used, 80% failed"
    );
}

#[tokio::test(start_paused = true)]
async fn time_window_forgets_old_buckets() {
    let b = Breaker::builder("t")
        .failure_rate(0.5)
        .time_window(Duration::from_secs(10), 10)
        .min_calls(3)
        .build()
        .unwrap();
    calls(&b, &[F, F]);
    wait(Duration::from_secs(10)).await;
    // The two failures left the window: one failure in three calls.
    calls(&b, &[S, S, F]);
    assert_eq!(b.state(), CircuitState::Closed);
    assert_eq!(b.metrics().window.unwrap().calls, 3);
    wait(Duration::from_secs(5)).await;
    call(&b, F);
    assert_eq!(b.state(), CircuitState::Open, "2 failures in 4 calls");
}

#[tokio::test(start_paused = true)]
async fn slow_calls_trip_on_their_own_rate() {
    let windows: [fn(fusebox_breaker::BreakerBuilder) -> fusebox_breaker::BreakerBuilder; 2] = [
        |b| b.count_window(10),
        |b| b.time_window(Duration::from_secs(10), 10),
    ];
    for window in windows {
        let b = window(Breaker::builder("t").slow_call(Duration::from_millis(100), 0.5))
            .min_calls(2)
            .open_duration(Duration::from_secs(1))
            .build()
            .unwrap();
        let timed = |took: u64| {
            let p = b.try_acquire().unwrap();
            async move {
                advance(Duration::from_millis(took)).await;
                p.record(S);
            }
        };
        timed(20).await;
        assert_eq!(b.state(), CircuitState::Closed, "too few calls");
        for _ in 0..2 {
            timed(20).await;
        }
        timed(150).await;
        assert_eq!(b.state(), CircuitState::Closed, "1 slow call in 4");
        timed(150).await;
        assert_eq!(b.state(), CircuitState::Closed, "2 slow calls in 5");
        timed(150).await;
        assert_eq!(b.state(), CircuitState::Open, "3 slow calls in 6 trip it");
        assert!(matches!(
            last_reason(&b),
            TransitionReason::SlowCallRate { calls: 6, .. }
        ));
        assert_eq!(b.metrics().slow_calls, 3);
        // A fast probe closes it again: the slow-call policy fails only slow probes.
        advance(Duration::from_secs(1)).await;
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        assert_eq!(b.state(), CircuitState::HalfOpen);
        timed(20).await;
        assert_eq!(b.state(), CircuitState::Closed, "a fast probe succeeded");
    }
}

#[tokio::test(start_paused = true)]
async fn a_call_as_long_as_the_slow_threshold_is_slow_and_a_shorter_one_is_not() {
    let b = Breaker::builder("t")
        .slow_call(Duration::from_millis(100), 0.9)
        .count_window(10)
        .min_calls(5)
        .build()
        .unwrap();
    let p = b.try_acquire().unwrap();
    advance(Duration::from_millis(100) - Duration::from_nanos(1)).await;
    p.record(S);
    assert_eq!(b.metrics().slow_calls, 0);
    let p = b.try_acquire().unwrap();
    advance(Duration::from_millis(100)).await;
    p.record(S);
    let m = b.metrics();
    assert_eq!((m.successes, m.slow_calls), (2, 1));
    assert_eq!(m.window.map(|w| (w.calls, w.slow_calls)), Some((2, 1)));
    assert_eq!(b.state(), CircuitState::Closed, "below min_calls");
}

#[tokio::test(start_paused = true)]
async fn metrics_give_the_window_s_failure_and_slow_call_rates() {
    let b = Breaker::builder("t")
        .slow_call(Duration::from_millis(100), 0.9)
        .failure_rate(0.9)
        .count_window(10)
        .min_calls(10)
        .build()
        .unwrap();
    let empty = b.metrics();
    let window = empty.window.expect("a window");
    assert_eq!((window.failure_rate(), window.slow_call_rate()), (0.0, 0.0));
    assert_eq!(empty.failure_rate(), 0.0, "an empty window");
    // Four calls: one failure, two slow.
    b.try_acquire().unwrap().failure();
    b.try_acquire().unwrap().success();
    for _ in 0..2 {
        let p = b.try_acquire().unwrap();
        advance(Duration::from_millis(150)).await;
        p.record(S);
    }
    let m = b.metrics();
    let window = m.window.expect("a window");
    assert_eq!(window.failure_rate(), 0.25);
    assert_eq!(window.slow_call_rate(), 0.5);
    assert_eq!(m.failure_rate(), 0.25, "the window's rate");
}

#[test]
fn without_a_window_the_failure_rate_is_the_lifetime_s() {
    let b = Breaker::builder("t")
        .consecutive_failures(100)
        .build()
        .unwrap();
    assert_eq!(b.metrics().failure_rate(), 0.0, "no call yet");
    for _ in 0..3 {
        b.try_acquire().unwrap().success();
    }
    b.try_acquire().unwrap().failure();
    let m = b.metrics();
    assert!(m.window.is_none());
    assert_eq!(m.failure_rate(), 0.25);
}

#[tokio::test(start_paused = true)]
async fn open_rejects_until_the_period_ends_then_probes() {
    let b = Breaker::builder("t")
        .consecutive_failures(1)
        .open_duration(Duration::from_secs(10))
        .build()
        .unwrap();
    call(&b, F);
    let open = b.try_acquire().unwrap_err();
    assert_eq!(open.state(), CircuitState::Open);
    assert_eq!(open.retry_after(), Some(Duration::from_secs(10)));
    wait(Duration::from_secs(4)).await;
    assert_eq!(
        b.try_acquire().unwrap_err().retry_after(),
        Some(Duration::from_secs(6))
    );
    wait(Duration::from_secs(6)).await;
    assert_eq!(b.state(), CircuitState::HalfOpen);
    assert_eq!(last_reason(&b), TransitionReason::OpenPeriodElapsed);
    let probe = b.try_acquire().unwrap();
    assert!(probe.is_probe());
    probe.record(S);
    assert_eq!(b.state(), CircuitState::Closed);
    assert_eq!(b.metrics().rejections, 2);
}

#[tokio::test(start_paused = true)]
async fn open_duration_grows_with_repeated_trips_and_resets_on_close() {
    let b = Breaker::builder("t")
        .consecutive_failures(1)
        .open_duration_backoff(Duration::from_secs(1), 3.0, Duration::from_secs(5))
        .build()
        .unwrap();
    call(&b, F);
    for expected in [3, 5, 5] {
        wait(b.try_acquire().unwrap_err().retry_after().unwrap()).await;
        call(&b, F); // the probe fails
        assert_eq!(
            b.try_acquire().unwrap_err().retry_after(),
            Some(Duration::from_secs(expected))
        );
    }
    assert_eq!(b.metrics().trips, 4);
    wait(Duration::from_secs(5)).await;
    call(&b, S);
    assert_eq!(b.state(), CircuitState::Closed);
    assert_eq!(b.metrics().trips, 0);
    call(&b, F);
    assert_eq!(
        b.try_acquire().unwrap_err().retry_after(),
        Some(Duration::from_secs(1))
    );
}

async fn half_open(probes: u32, successes: u32) -> Breaker {
    let b = Breaker::builder("t")
        .consecutive_failures(1)
        .open_duration(Duration::from_secs(1))
        .half_open_probes(probes)
        .half_open_successes(successes)
        .half_open_max_wait(Duration::from_secs(60))
        .build()
        .unwrap();
    call(&b, F);
    wait(Duration::from_secs(1)).await;
    assert_eq!(b.state(), CircuitState::HalfOpen);
    b
}

#[tokio::test(start_paused = true)]
async fn half_open_admits_exactly_n_probes_and_closes_after_m_successes() {
    let b = half_open(2, 3).await;
    let p1 = b.try_acquire().unwrap();
    let p2 = b.try_acquire().unwrap();
    let rejected = b.try_acquire().unwrap_err();
    assert_eq!(rejected.state(), CircuitState::HalfOpen);
    p1.record(S);
    let p3 = b.try_acquire().expect("a finished probe frees its slot");
    assert!(b.try_acquire().is_err());
    p2.record(S);
    assert_eq!(b.state(), CircuitState::HalfOpen, "2 of 3 successes");
    p3.record(S);
    assert_eq!(b.state(), CircuitState::Closed);
    assert_eq!(
        last_reason(&b),
        TransitionReason::ProbesSucceeded { successes: 3 }
    );
}

#[tokio::test(start_paused = true)]
async fn any_probe_failure_reopens() {
    let b = half_open(3, 3).await;
    let p1 = b.try_acquire().unwrap();
    let p2 = b.try_acquire().unwrap();
    p1.record(S);
    p2.record(F);
    assert_eq!(b.state(), CircuitState::Open);
    assert_eq!(last_reason(&b), TransitionReason::ProbeFailed);
}

#[tokio::test(start_paused = true)]
async fn a_dropped_probe_frees_its_slot() {
    let b = half_open(1, 1).await;
    let probe = b.try_acquire().unwrap();
    assert!(b.try_acquire().is_err());
    drop(probe);
    assert!(b.try_acquire().is_ok());
    assert_eq!(b.metrics().ignored, 2);
}

#[tokio::test(start_paused = true)]
async fn a_probe_that_never_completes_does_not_wedge_the_breaker() {
    let b = Breaker::builder("t")
        .consecutive_failures(1)
        .open_duration(Duration::from_secs(1))
        .half_open_max_wait(Duration::from_secs(5))
        .build()
        .unwrap();
    call(&b, F);
    wait(Duration::from_secs(1)).await;
    let stuck: Permit = b.try_acquire().unwrap();
    wait(Duration::from_secs(4)).await;
    assert_eq!(b.try_acquire().unwrap_err().state(), CircuitState::HalfOpen);
    wait(Duration::from_secs(1)).await;
    // The maximum wait has passed: the next call reopens the breaker.
    assert_eq!(b.try_acquire().unwrap_err().state(), CircuitState::Open);
    assert_eq!(last_reason(&b), TransitionReason::ProbeTimedOut);
    wait(Duration::from_secs(1)).await;
    let fresh = b
        .try_acquire()
        .expect("a new half-open period admits a new probe");
    // The stuck probe's late success belongs to an earlier period and does not count.
    stuck.record(S);
    assert_eq!(b.state(), CircuitState::HalfOpen);
    fresh.record(S);
    assert_eq!(b.state(), CircuitState::Closed);
}

#[tokio::test(start_paused = true)]
async fn outcomes_from_an_earlier_generation_do_not_count() {
    let b = Breaker::builder("t")
        .consecutive_failures(2)
        .build()
        .unwrap();
    let early = b.try_acquire().unwrap();
    call(&b, F);
    b.reset();
    early.record(F);
    assert_eq!(b.state(), CircuitState::Closed);
    assert_eq!(b.metrics().consecutive_failures, 0);
    assert_eq!(b.metrics().failures, 2, "lifetime counters still count it");
}

#[tokio::test(start_paused = true)]
async fn a_success_from_an_earlier_generation_leaves_the_failure_count_alone() {
    let b = Breaker::builder("t")
        .consecutive_failures(2)
        .build()
        .unwrap();
    let early = b.try_acquire().unwrap();
    b.reset();
    call(&b, F);
    assert_eq!(b.metrics().consecutive_failures, 1);
    // A success admitted before the reset would, if it counted, wipe this period's failure.
    early.record(S);
    assert_eq!(b.metrics().consecutive_failures, 1);
    call(&b, F);
    assert_eq!(
        b.state(),
        CircuitState::Open,
        "two failures in a row since the reset"
    );
}

#[tokio::test(start_paused = true)]
async fn operators_force_open_disable_and_reset() {
    let b = Breaker::builder("t")
        .consecutive_failures(1)
        .build()
        .unwrap();
    b.force_open();
    let err = b.try_acquire().unwrap_err();
    assert_eq!(err.state(), CircuitState::ForcedOpen);
    wait(Duration::from_secs(3600)).await;
    assert_eq!(
        b.state(),
        CircuitState::ForcedOpen,
        "only an operator ends it"
    );

    b.disable();
    calls(&b, &[F, F, F]);
    assert_eq!(
        b.state(),
        CircuitState::Disabled,
        "a disabled breaker never trips"
    );
    assert_eq!(b.metrics().failures, 3, "but keeps counting");

    b.reset();
    assert_eq!(b.state(), CircuitState::Closed);
    call(&b, F);
    assert_eq!(b.state(), CircuitState::Open);
}

#[tokio::test(start_paused = true)]
async fn a_remote_open_period_extends_an_open_breaker_without_a_transition() {
    let b = Breaker::builder("t")
        .consecutive_failures(1)
        .open_duration(Duration::from_secs(1))
        .build()
        .unwrap();
    call(&b, F);
    let tripped = b.metrics().last_transition.unwrap();
    stored(&b).apply_remote_open(Duration::from_secs(5));
    assert_eq!(b.state(), CircuitState::Open);
    assert_eq!(
        b.metrics().last_transition,
        Some(tripped),
        "no new transition"
    );
    // A shorter remote period changes nothing.
    stored(&b).apply_remote_open(Duration::from_millis(10));
    wait(Duration::from_secs(2)).await;
    assert_eq!(
        b.state(),
        CircuitState::Open,
        "the timer of the first period must not end the longer one"
    );
    assert!(b.try_acquire().is_err());
    wait(Duration::from_secs(3)).await;
    assert_eq!(b.state(), CircuitState::HalfOpen);
    assert_eq!(b.metrics().trips, 1, "an extension is not a trip");
}

/// The reasons of the `TripSuppressed` events a breaker emitted, collected by `on_event`.
fn suppressed_log() -> (
    Arc<Mutex<Vec<TransitionReason>>>,
    impl Fn(&Event<'_>) + Send + Sync + 'static,
) {
    let log = Arc::new(Mutex::new(Vec::new()));
    let sink = log.clone();
    let listener = move |e: &Event<'_>| {
        if let EventKind::TripSuppressed { reason } = e.kind {
            sink.lock().unwrap().push(reason);
        }
    };
    (log, listener)
}

#[tokio::test(start_paused = true)]
async fn a_disabled_breaker_reports_each_trip_it_suppressed_and_counts_afresh() {
    let (log, listener) = suppressed_log();
    let b = Breaker::builder("t")
        .consecutive_failures(3)
        .on_event(listener)
        .build()
        .unwrap();
    b.disable();
    calls(&b, &[F, F, S, F, F]);
    assert!(log.lock().unwrap().is_empty(), "a success broke the run");
    let early = b.try_acquire().unwrap();
    call(&b, F);
    assert_eq!(b.state(), CircuitState::Disabled, "calls still pass");
    assert_eq!(
        *log.lock().unwrap(),
        [TransitionReason::ConsecutiveFailures { count: 3 }]
    );
    let m = b.metrics();
    assert_eq!((m.suppressed_trips, m.consecutive_failures), (1, 0));

    // A call admitted before the suppressed trip does not count after it, as after a real trip.
    early.record(F);
    assert_eq!(b.metrics().consecutive_failures, 0);
    calls(&b, &[F, F]);
    assert_eq!(b.metrics().suppressed_trips, 1);
    call(&b, F);
    assert_eq!(b.metrics().suppressed_trips, 2);
    assert_eq!(log.lock().unwrap().len(), 2);
    assert_eq!(b.metrics().rejections, 0);

    b.reset();
    calls(&b, &[F, F, F]);
    assert_eq!(b.state(), CircuitState::Open, "enabled again, it trips");
    assert_eq!(log.lock().unwrap().len(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_disabled_breaker_reports_a_failure_rate_it_did_not_act_on() {
    let (log, listener) = suppressed_log();
    let b = Breaker::builder("t")
        .failure_rate(0.5)
        .count_window(10)
        .min_calls(10)
        .on_event(listener)
        .build()
        .unwrap();
    b.disable();
    calls(&b, &[S, S, S, S, S, F, F, F, F]);
    assert!(
        log.lock().unwrap().is_empty(),
        "9 calls, fewer than min_calls"
    );
    call(&b, F);
    assert_eq!(b.state(), CircuitState::Disabled);
    let reasons = log.lock().unwrap().clone();
    assert!(
        matches!(
            reasons.as_slice(),
            [TransitionReason::FailureRate { calls: 10, .. }]
        ),
        "{reasons:?}"
    );
    let window = b.metrics().window.expect("a window");
    assert_eq!(window.calls, 0, "the window starts over");
}

#[tokio::test(start_paused = true)]
async fn a_success_is_announced_with_its_key_and_time_whatever_dates_it() {
    type Seen = Arc<Mutex<Vec<(String, Option<String>, Option<Duration>, bool)>>>;
    let seen: Seen = Arc::default();
    let listener = |seen: &Seen| {
        let seen = seen.clone();
        move |e: &Event<'_>| {
            if let EventKind::CallSucceeded { elapsed, slow } = e.kind {
                let key = e.key.map(str::to_owned);
                seen.lock()
                    .unwrap()
                    .push((e.source.to_owned(), key, elapsed, slow));
            }
        }
    };
    let plain = Breaker::builder("plain")
        .on_event(listener(&seen))
        .build()
        .unwrap();
    let dated = Breaker::builder("dated")
        .failure_rate(0.5)
        .time_window(Duration::from_secs(10), 10)
        .on_event(listener(&seen))
        .build()
        .unwrap();
    let timed = Breaker::builder("timed")
        .slow_call(Duration::from_millis(100), 0.9)
        .count_window(10)
        .on_event(listener(&seen))
        .build()
        .unwrap();
    let forever = Breaker::builder("forever")
        .on_event(listener(&seen))
        .build_static()
        .unwrap();
    let tenants = Breaker::builder("tenants").keyed().build().unwrap();
    let _subscription = tenants.subscribe(listener(&seen));
    // Past the first 10 s: a success dated at the breaker's start would be out of the window.
    advance(Duration::from_secs(12)).await;
    for b in [&plain, &dated, &timed, &forever, &tenants.get("acme")] {
        let p = b.try_acquire().unwrap();
        advance(Duration::from_millis(30)).await;
        p.record(S);
    }
    let p = timed.try_acquire().unwrap();
    advance(Duration::from_millis(150)).await;
    p.record(S);
    let thirty = Some(Duration::from_millis(30));
    assert_eq!(
        *seen.lock().unwrap(),
        [
            ("plain".to_owned(), None, None, false),
            ("dated".to_owned(), None, None, false),
            ("timed".to_owned(), None, thirty, false),
            ("forever".to_owned(), None, None, false),
            ("tenants".to_owned(), Some("acme".to_owned()), None, false),
            (
                "timed".to_owned(),
                None,
                Some(Duration::from_millis(150)),
                true
            ),
        ]
    );
    // Each success was counted once, and in its window.
    assert_eq!(plain.metrics().successes, 1);
    assert_eq!(forever.metrics().successes, 1);
    assert_eq!(dated.metrics().window.map(|w| w.calls), Some(1));
    let timed = timed.metrics();
    assert_eq!((timed.successes, timed.slow_calls), (2, 1));
    assert_eq!(tenants.get("acme").metrics().successes, 1);
}

#[tokio::test(start_paused = true)]
async fn every_transition_rejection_and_outcome_is_an_event() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let sink = log.clone();
    let b = Breaker::builder("payments")
        .consecutive_failures(2)
        .open_duration(Duration::from_secs(1))
        .on_event(move |e: &Event<'_>| {
            assert_eq!(e.source, "payments");
            sink.lock().unwrap().push(match e.kind {
                EventKind::CallSucceeded { .. } => "success".to_owned(),
                EventKind::CallFailed { .. } => "failure".to_owned(),
                EventKind::CallIgnored => "ignored".to_owned(),
                EventKind::CallRejected { state } => format!("rejected:{state}"),
                EventKind::StateTransition { from, to, reason } => {
                    format!("{from}->{to}:{reason}")
                }
                _ => "other".to_owned(),
            });
        })
        .build()
        .unwrap();
    calls(&b, &[S, F, F]);
    let _ = b.try_acquire();
    wait(Duration::from_secs(1)).await;
    drop(b.try_acquire().unwrap());
    call(&b, S);
    assert_eq!(
        *log.lock().unwrap(),
        [
            "success",
            "failure",
            "failure",
            "closed->open:2 consecutive failures",
            "rejected:open",
            "open->half_open:open period elapsed",
            "ignored",
            "success",
            "half_open->closed:1 probe call(s) succeeded",
        ]
    );
}

#[test]
fn without_a_runtime_rejections_check_the_deadline_themselves() {
    let b = Breaker::builder("t")
        .consecutive_failures(1)
        .open_duration(Duration::from_nanos(1))
        .build()
        .unwrap();
    call(&b, F);
    assert_eq!(b.state(), CircuitState::Open);
    let probe = b.try_acquire().expect("the 1ns open period is over");
    assert!(probe.is_probe());
}

#[tokio::test(start_paused = true)]
async fn remote_states_apply_like_local_ones() {
    let b = Breaker::builder("t").build().unwrap();
    stored(&b).apply_remote_state(CircuitState::Open);
    assert_eq!(b.state(), CircuitState::Open);
    assert_eq!(last_reason(&b), TransitionReason::Remote);
    wait(Duration::from_secs(30)).await;
    assert_eq!(b.state(), CircuitState::HalfOpen);
    stored(&b).apply_remote_state(CircuitState::Closed);
    assert!(b.try_acquire().is_ok());
}

#[tokio::test(start_paused = true)]
async fn transition_listeners_hear_transitions_and_nothing_else() {
    let b = Breaker::builder("payments")
        .consecutive_failures(1)
        .open_duration(Duration::from_secs(1))
        .build()
        .unwrap();
    let heard = Arc::new(Mutex::new(Vec::new()));
    let sink = heard.clone();
    let _subscription = stored(&b).on_transition(Box::new(move |e: &Event<'_>| {
        sink.lock().unwrap().push(e.kind);
    }));
    b.try_acquire().unwrap().success();
    b.try_acquire().unwrap().failure();
    let _ = b.try_acquire();
    stored(&b).apply_remote_open(Duration::from_secs(5));
    assert_eq!(
        b.try_acquire().unwrap_err().retry_after(),
        Some(Duration::from_secs(5))
    );
    tokio::time::advance(Duration::from_secs(5)).await;
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    assert_eq!(b.state(), CircuitState::HalfOpen);
    let heard = heard.lock().unwrap();
    let reasons: Vec<TransitionReason> = heard
        .iter()
        .map(|k| match k {
            EventKind::StateTransition { reason, .. } => *reason,
            other => panic!("a non-transition event reached the listener: {other:?}"),
        })
        .collect();
    assert_eq!(
        reasons,
        [
            // The remote open period only extended the open breaker: no transition.
            TransitionReason::ConsecutiveFailures { count: 1 },
            TransitionReason::OpenPeriodElapsed
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_gated_open_period_ends_in_half_open_only_once_granted() {
    let b = Breaker::builder("t")
        .consecutive_failures(1)
        .open_duration(Duration::from_secs(1))
        .half_open_probes(2)
        .half_open_max_wait(Duration::from_secs(5))
        .build()
        .unwrap();
    stored(&b).gate_probes(true);
    let requests = Arc::new(AtomicUsize::new(0));
    let counted = requests.clone();
    let _listening = stored(&b).on_transition(Box::new(move |e: &Event<'_>| {
        if matches!(e.kind, EventKind::ProbeRequested) {
            counted.fetch_add(1, Ordering::SeqCst);
        }
    }));
    assert!(!stored(&b).grant_probes(), "nothing to grant while closed");
    call(&b, F);
    wait(Duration::from_secs(1)).await;
    // The period is over, but the breaker stays open until its store answers.
    assert_eq!(b.state(), CircuitState::Open);
    assert_eq!(requests.load(Ordering::SeqCst), 1);
    let waiting = b.try_acquire().unwrap_err();
    assert_eq!(waiting.state(), CircuitState::Open);
    assert!(waiting.awaits_probe(), "an answer may come any moment");
    assert!(stored(&b).grant_probes());
    assert_eq!(b.state(), CircuitState::HalfOpen);
    assert!(!stored(&b).grant_probes(), "granted once per period");
    let p1 = b.try_acquire().unwrap();
    let _p2 = b.try_acquire().unwrap();
    assert!(b.try_acquire().is_err());
    drop(p1);

    // Another instance probes: stay open, with no transition, for the time given.
    b.reset();
    call(&b, F);
    wait(Duration::from_secs(1)).await;
    let transitions = b.metrics().last_transition.unwrap().at;
    assert!(stored(&b).defer_probe(Duration::from_secs(2)));
    assert!(
        !stored(&b).defer_probe(Duration::from_secs(2)),
        "not waiting any more"
    );
    assert!(!b.try_acquire().unwrap_err().awaits_probe());
    assert_eq!(b.metrics().last_transition.unwrap().at, transitions);
    wait(Duration::from_secs(2)).await;
    assert_eq!(
        requests.load(Ordering::SeqCst),
        3,
        "asked again once the wait is over"
    );

    // An answer that never comes is asked for again after the half-open maximum wait.
    wait(Duration::from_secs(5)).await;
    assert_eq!(requests.load(Ordering::SeqCst), 4);
    assert_eq!(b.state(), CircuitState::Open);
}

#[tokio::test(start_paused = true)]
async fn a_breaker_whose_store_is_gone_probes_on_its_own() {
    let b = Breaker::builder("t")
        .consecutive_failures(1)
        .open_duration(Duration::from_secs(1))
        .build()
        .unwrap();
    let stored = stored(&b);
    stored.gate_probes(true);
    call(&b, F);
    wait(Duration::from_secs(1)).await;
    assert_eq!(
        b.state(),
        CircuitState::Open,
        "waiting for the store's answer"
    );
    // What a store that is dropped does: the breaker decides alone from now on.
    stored.gate_probes(false);
    assert_eq!(b.state(), CircuitState::HalfOpen);
    assert!(b.try_acquire().unwrap().is_probe());
}

#[tokio::test(start_paused = true)]
async fn open_remaining_counts_down_the_open_period() {
    let b = Breaker::builder("t")
        .consecutive_failures(1)
        .open_duration(Duration::from_secs(10))
        .build()
        .unwrap();
    assert_eq!(stored(&b).open_remaining(), None);
    call(&b, F);
    assert_eq!(stored(&b).open_remaining(), Some(Duration::from_secs(10)));
    advance(Duration::from_secs(4)).await;
    assert_eq!(stored(&b).open_remaining(), Some(Duration::from_secs(6)));
    b.force_open();
    assert_eq!(
        stored(&b).open_remaining(),
        None,
        "forced open has no open period"
    );
}

#[tokio::test(start_paused = true)]
async fn a_rejection_says_when_to_come_back_or_that_only_an_operator_can() {
    let b = Breaker::builder("payments")
        .consecutive_failures(1)
        .open_duration(Duration::from_secs(30))
        .build()
        .unwrap();
    call(&b, F);
    assert_eq!(
        b.try_acquire().unwrap_err().to_string(),
        "circuit breaker `payments` is open; retry in 30.0s"
    );
    b.force_open();
    assert_eq!(
        b.try_acquire().unwrap_err().to_string(),
        "circuit breaker `payments` is forced_open until an operator resets it"
    );
}

#[test]
fn an_open_period_whose_timer_died_with_its_runtime_ends_on_the_next_call() {
    let breaker = Breaker::builder("t")
        .consecutive_failures(1)
        .open_duration(Duration::from_millis(50))
        .build()
        .unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    // Tripped in a runtime, which arms a timer for the end of the open period; the runtime is
    // then shut down with the timer's task unfired.
    let due = runtime.block_on(async {
        breaker.try_acquire().unwrap().failure();
        breaker.try_acquire().unwrap_err().retry_at().unwrap()
    });
    drop(runtime);
    // Wait for the period to be over (real time: no runtime is left).
    while tokio::time::Instant::now() < due {
        std::thread::sleep(due - tokio::time::Instant::now());
    }
    assert_eq!(breaker.state(), CircuitState::Open, "no timer ended it");
    let probe = breaker
        .try_acquire()
        .expect("with its timer gone, a call past the period ends it");
    assert_eq!(breaker.state(), CircuitState::HalfOpen);
    probe.success();
}
