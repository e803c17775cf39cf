//! The in-process SLO report against hand-computed histories, on paused time.

mod support;

use fusebox_core::{CircuitState, Event, EventKind, EventListener, Outcome, TransitionReason};
use fusebox_metrics::{
    cascading_failure, names, BurnRatePolicy, BurnRateWindow, MetricsLayer, Slo, SloAlert,
    SloTracker,
};
use std::time::Duration;
use support::Recorded;
use tower::{service_fn, Layer, ServiceExt};

const MINUTE: Duration = Duration::from_secs(60);

fn tracker(slo: Slo) -> SloTracker {
    SloTracker::builder(slo).build().unwrap()
}

/// Each minute: the minute passes, then `calls` calls of it are recorded, `failed` of them
/// failures, all taking `elapsed`. Recording after the minute passes puts them in the bucket
/// of the time the report is made in.
async fn minutes(tracker: &SloTracker, n: u32, calls: u32, failed: u32, elapsed: Duration) {
    for _ in 0..n {
        tokio::time::advance(MINUTE).await;
        for i in 0..calls {
            let outcome = if i < failed {
                Outcome::retryable_failure()
            } else {
                Outcome::Success
            };
            tracker.record(&outcome, elapsed);
        }
    }
}

fn transition(tracker: &SloTracker, from: CircuitState, to: CircuitState) {
    tracker.on_event(&Event::new(
        "payments",
        EventKind::StateTransition {
            from,
            to,
            reason: TransitionReason::ConsecutiveFailures { count: 3 },
        },
    ));
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

#[tokio::test(start_paused = true)]
async fn availability_and_the_error_budget_over_the_budget_window() {
    let slo = Slo::builder("payments")
        .availability(0.999)
        .build()
        .unwrap();
    let tracker = tracker(slo);
    assert_eq!(tracker.report().availability.unwrap().actual, None);
    // 1,000 calls, 2 failed: 99.8 %, twice the budget spent.
    minutes(&tracker, 1, 1_000, 2, Duration::from_millis(5)).await;
    // An ignored call counts nowhere.
    tracker.record(&Outcome::Ignored, Duration::from_secs(9));
    let report = tracker.report();
    let a = report.availability.clone().unwrap();
    assert_eq!((a.calls, a.good), (1_000, 998));
    assert!(close(a.actual.unwrap(), 0.998));
    assert!(close(a.error_budget_remaining.unwrap(), -1.0), "{a:?}");
    assert_eq!(a.window_seconds, 3.0 * 86_400.0);
    assert!(report.alerts.contains(&SloAlert::AvailabilityUnderTarget {
        actual: a.actual.unwrap(),
        target: 0.999
    }));
    // Three days later the bad minute has left the window: nothing counted, nothing wrong.
    tokio::time::advance(Duration::from_secs(3 * 86_400)).await;
    let report = tracker.report();
    assert_eq!(report.availability.unwrap().calls, 0);
    assert!(report.alerts.is_empty(), "{:?}", report.alerts);
}

#[tokio::test(start_paused = true)]
async fn a_page_fires_only_while_both_windows_burn_fast_enough() {
    let slo = Slo::builder("payments").availability(0.99).build().unwrap();
    let policy = BurnRatePolicy {
        page: vec![BurnRateWindow {
            factor: 10.0,
            long: Duration::from_secs(3_600),
            short: Duration::from_secs(300),
        }],
        ticket: vec![],
    };
    let tracker = SloTracker::builder(slo).policy(policy).build().unwrap();
    let page = |tracker: &SloTracker| tracker.report().burn_rates[0].clone();
    // 55 healthy minutes, then 5 at 50 % failures: the short window burns at 50×, the long
    // at 250 / 6,000 / 0.01 = 4.17×: no page, a blip.
    minutes(&tracker, 55, 100, 0, Duration::from_millis(5)).await;
    minutes(&tracker, 5, 100, 50, Duration::from_millis(5)).await;
    let rate = page(&tracker);
    assert!(close(rate.short_rate.unwrap(), 50.0), "{rate:?}");
    assert!(
        close(rate.long_rate.unwrap(), 250.0 / 6_000.0 / 0.01),
        "{rate:?}"
    );
    assert!(!rate.firing);
    // Ten more bad minutes: the last hour holds 750 failures in 6,000 calls, 12.5×: it pages.
    minutes(&tracker, 10, 100, 50, Duration::from_millis(5)).await;
    let report = tracker.report();
    let rate = &report.burn_rates[0];
    assert!(close(rate.long_rate.unwrap(), 12.5), "{rate:?}");
    assert!(rate.firing);
    assert!(
        report.alerts.iter().any(|a| matches!(
            a,
            SloAlert::BurnRate { objective: "availability", severity: "page", factor, long_rate, short_rate }
                if *factor == 10.0 && close(*long_rate, 12.5) && close(*short_rate, 50.0)
        )),
        "{:?}",
        report.alerts
    );
    // Five healthy minutes: the long window still holds all 15 bad minutes (12.5×), the short
    // one has stopped burning, and so has the page.
    minutes(&tracker, 5, 100, 0, Duration::from_millis(5)).await;
    let rate = page(&tracker);
    assert!(close(rate.long_rate.unwrap(), 12.5), "{rate:?}");
    assert_eq!(rate.short_rate, Some(0.0));
    assert!(!rate.firing);
}

#[tokio::test(start_paused = true)]
async fn the_default_policy_has_the_workbook_s_windows_for_each_objective() {
    let slo = Slo::builder("payments")
        .availability(0.999)
        .latency(Duration::from_secs(1), 0.99)
        .build()
        .unwrap();
    let report = tracker(slo).report();
    let windows: Vec<(&str, &str, f64, f64, f64)> = report
        .burn_rates
        .iter()
        .map(|r| {
            (
                r.objective,
                r.severity,
                r.factor,
                r.long_window_seconds,
                r.short_window_seconds,
            )
        })
        .collect();
    let mut expected = Vec::new();
    for objective in ["availability", "latency"] {
        expected.push((objective, "page", 14.4, 3_600.0, 300.0));
        expected.push((objective, "page", 6.0, 21_600.0, 1_800.0));
        expected.push((objective, "ticket", 1.0, 259_200.0, 21_600.0));
    }
    assert_eq!(windows, expected);
    assert!(report
        .burn_rates
        .iter()
        .all(|r| r.long_rate.is_none() && !r.firing));
}

#[tokio::test(start_paused = true)]
async fn latency_share_and_percentiles_of_the_latency_window() {
    let slo = Slo::builder("search")
        .latency(Duration::from_millis(90), 0.99)
        .build()
        .unwrap();
    let tracker = tracker(slo);
    tokio::time::advance(MINUTE).await;
    for ms in 1..=100 {
        tracker.record(&Outcome::Success, Duration::from_millis(ms));
    }
    let report = tracker.report();
    let l = report.latency.clone().unwrap();
    // 91..=100 ms are over 90 ms: 10 slow calls of 100.
    assert_eq!((l.share.calls, l.share.good), (100, 90));
    assert!(close(l.share.actual.unwrap(), 0.9));
    assert!(close(
        l.share.error_budget_remaining.unwrap(),
        1.0 - 0.1 / 0.01
    ));
    let within = |value: Option<f64>, expected: f64| {
        let value = value.unwrap();
        (value - expected).abs() <= expected * 0.02 + 1e-3
    };
    assert!(within(l.p50_seconds, 0.050), "{l:?}");
    assert!(within(l.p95_seconds, 0.095), "{l:?}");
    assert!(within(l.p99_seconds, 0.099), "{l:?}");
    assert_eq!(l.target_quantile_seconds, l.p99_seconds);
    assert!(report.alerts.iter().any(|a| matches!(
        a,
        SloAlert::LatencyOverTarget { quantile, threshold_seconds, .. }
            if *quantile == 0.99 && close(*threshold_seconds, 0.09)
    )));
    assert_eq!(l.percentile_window_seconds, 3_600.0);
    // Ten minutes on (the next sixth of the window), slower calls: both sixths count.
    tokio::time::advance(Duration::from_secs(600)).await;
    for _ in 1..=100 {
        tracker.record(&Outcome::Success, Duration::from_millis(300));
    }
    let l = tracker.report().latency.unwrap();
    assert!(within(l.p50_seconds, 0.100), "{l:?}");
    assert!(within(l.p95_seconds, 0.300), "{l:?}");
    // After the latency window (an hour by default), the durations are gone.
    tokio::time::advance(Duration::from_secs(3_600)).await;
    let l = tracker.report().latency.unwrap();
    assert_eq!(l.p99_seconds, None);
    assert_eq!(l.share.calls, 200, "still in the budget window");
}

#[tokio::test(start_paused = true)]
async fn outages_recoveries_and_time_in_each_state() {
    let slo = Slo::builder("payments")
        .availability(0.999)
        .recovery(Duration::from_secs(20))
        .build()
        .unwrap();
    let tracker = tracker(slo);
    tokio::time::advance(Duration::from_secs(100)).await;
    transition(&tracker, CircuitState::Closed, CircuitState::Open);
    tokio::time::advance(Duration::from_secs(15)).await;
    let report = tracker.report();
    assert_eq!(report.recovery.open_for_seconds, Some(15.0));
    assert_eq!(
        (
            report.recovery.recoveries,
            report.recovery.mean_seconds,
            report.recovery.max_seconds
        ),
        (0, None, None),
        "no outage has ended yet"
    );
    assert!(report.alerts.is_empty(), "15 s open is within 20 s");
    assert!(report.in_outage());
    tokio::time::advance(Duration::from_secs(5)).await;
    assert!(
        tracker.report().alerts.is_empty(),
        "exactly 20 s open meets the objective"
    );
    // Open → half-open → open again: one outage still, now 30 s long.
    transition(&tracker, CircuitState::Open, CircuitState::HalfOpen);
    tokio::time::advance(Duration::from_secs(5)).await;
    transition(&tracker, CircuitState::HalfOpen, CircuitState::Open);
    tokio::time::advance(Duration::from_secs(5)).await;
    let report = tracker.report();
    assert_eq!(
        report.alerts,
        vec![SloAlert::BreakerOpenTooLong {
            open_seconds: 30.0,
            objective_seconds: 20.0
        }]
    );
    transition(&tracker, CircuitState::Open, CircuitState::HalfOpen);
    tokio::time::advance(Duration::from_secs(2)).await;
    transition(&tracker, CircuitState::HalfOpen, CircuitState::Closed);
    // A second, shorter outage: 8 s.
    tokio::time::advance(Duration::from_secs(50)).await;
    transition(&tracker, CircuitState::Closed, CircuitState::ForcedOpen);
    tokio::time::advance(Duration::from_secs(8)).await;
    transition(&tracker, CircuitState::ForcedOpen, CircuitState::Closed);
    tokio::time::advance(Duration::from_secs(1)).await;
    let report = tracker.report();
    let r = &report.recovery;
    assert_eq!(r.recoveries, 2);
    assert_eq!(r.max_seconds, Some(32.0));
    assert_eq!(r.mean_seconds, Some(20.0));
    assert_eq!(r.open_for_seconds, None);
    assert_eq!(r.objective_seconds, Some(20.0));
    assert!(!report.in_outage());
    let time = &report.time_in_state_seconds;
    assert_eq!(time["closed"], 100.0 + 50.0 + 1.0);
    assert_eq!(time["open"], 20.0 + 5.0);
    assert_eq!(time["half_open"], 5.0 + 2.0);
    assert_eq!(time["forced_open"], 8.0);
    assert_eq!(time["disabled"], 0.0);
}

#[tokio::test(start_paused = true)]
async fn the_report_serialises_with_named_alerts() {
    let slo = Slo::builder("payments")
        .availability(0.999)
        .recovery(Duration::from_secs(1))
        .build()
        .unwrap();
    let tracker = tracker(slo);
    transition(&tracker, CircuitState::Closed, CircuitState::Open);
    tokio::time::advance(Duration::from_secs(2)).await;
    let json = serde_json::to_value(tracker.report()).unwrap();
    assert_eq!(json["service"], "payments");
    assert_eq!(json["alerts"][0]["kind"], "breaker_open_too_long");
    assert_eq!(json["alerts"][0]["open_seconds"], 2.0);
    assert_eq!(json["availability"]["target"], 0.999);
    assert_eq!(json["availability"]["actual"], serde_json::Value::Null);
    assert_eq!(json["latency"], serde_json::Value::Null);
    let with_latency = SloTracker::builder(
        Slo::builder("search")
            .latency(Duration::from_millis(100), 0.99)
            .build()
            .unwrap(),
    )
    .build()
    .unwrap();
    let flat = serde_json::to_value(with_latency.report()).unwrap();
    assert_eq!(flat["latency"]["threshold_seconds"], 0.1);
    assert_eq!(flat["latency"]["target"], 0.99, "flattened");
    assert_eq!(flat["latency"]["calls"], 0);
    assert_eq!(flat["latency"]["p99_seconds"], serde_json::Value::Null);
    assert_eq!(flat["availability"], serde_json::Value::Null);
    assert_eq!(json["time_in_state_seconds"]["open"], 2.0);
    assert_eq!(json["burn_rates"][0]["severity"], "page");
}

#[tokio::test(start_paused = true)]
async fn several_services_down_at_once_are_a_cascade() {
    let down = |name: &str| {
        let slo = Slo::builder(name).availability(0.99).build().unwrap();
        let tracker = tracker(slo);
        transition(&tracker, CircuitState::Closed, CircuitState::Open);
        tracker.report()
    };
    let up = tracker(Slo::builder("email").availability(0.99).build().unwrap()).report();
    let (calendar, telephony) = (down("calendar"), down("telephony"));
    assert_eq!(
        cascading_failure(&[calendar.clone(), up.clone(), telephony.clone()], 2),
        Some(SloAlert::CascadingFailure {
            services: vec!["calendar".into(), "telephony".into()]
        })
    );
    assert_eq!(cascading_failure(&[calendar.clone(), up.clone()], 2), None);
    // One service down is never a cascade, whatever the threshold.
    assert_eq!(cascading_failure(&[calendar, up], 1), None);
}

#[tokio::test(start_paused = true)]
async fn a_metrics_layer_feeds_the_tracker_and_the_gauges_publish_it() {
    let recorded = Recorded::new();
    let slo = Slo::builder("geocoder")
        .availability(0.9)
        .latency(Duration::from_secs(1), 0.5)
        .build()
        .unwrap();
    let tracker = tracker(slo);
    let svc = recorded.local(|| {
        MetricsLayer::new("geocoder")
            .slo(&tracker)
            .layer(service_fn(|fail: bool| async move {
                tokio::time::sleep(Duration::from_millis(10)).await;
                if fail {
                    Err("down")
                } else {
                    Ok(())
                }
            }))
    });
    for fail in [false, false, false, true] {
        let _ = svc.clone().oneshot(fail).await;
    }
    let report = recorded.local(|| tracker.publish());
    let a = report.availability.clone().unwrap();
    assert_eq!((a.calls, a.good), (4, 3));
    let p50 = report.latency.clone().unwrap().p50_seconds.unwrap();
    assert!((p50 - 0.010).abs() < 0.001, "{p50}");
    let gauge = |name: &str, labels: &[(&str, &str)]| recorded.gauge(name, labels).unwrap();
    let service = ("service", "geocoder");
    assert_eq!(
        gauge(names::SLO_RATIO, &[service, ("slo", "availability")]),
        0.75
    );
    assert_eq!(
        gauge(
            names::SLO_ERROR_BUDGET_REMAINING,
            &[service, ("slo", "availability")]
        ),
        a.error_budget_remaining.unwrap()
    );
    assert_eq!(gauge(names::SLO_RATIO, &[service, ("slo", "latency")]), 1.0);
    assert_eq!(
        gauge(names::SLO_LATENCY, &[service, ("quantile", "0.5")]),
        p50
    );
    assert_eq!(
        gauge(
            names::SLO_BURN_RATE,
            &[service, ("slo", "availability"), ("window", "300s")]
        ),
        report.burn_rates[0].short_rate.unwrap()
    );
    assert!(
        gauge(names::SLO_RECOVERY, &[service, ("stat", "max")]).is_nan(),
        "no outage yet"
    );
    assert_eq!(
        gauge(names::SLO_ALERTS, &[service]),
        report.alerts.len() as f64
    );
    assert!(!report.alerts.is_empty(), "75 % is under 90 %");
}

#[test]
fn bad_settings_name_their_field() {
    let slo = Slo::builder("payments")
        .availability(0.999)
        .build()
        .unwrap();
    let field = |builder: fusebox_metrics::SloTrackerBuilder| {
        builder.build().unwrap_err().field().to_owned()
    };
    assert_eq!(
        field(SloTracker::builder(slo.clone()).bucket(Duration::ZERO)),
        "bucket"
    );
    // Three days in 1 ms buckets would be 259 million buckets.
    assert_eq!(
        field(SloTracker::builder(slo.clone()).bucket(Duration::from_millis(1))),
        "bucket"
    );
    assert_eq!(
        field(SloTracker::builder(slo.clone()).latency_window(Duration::from_nanos(5))),
        "latency_window"
    );
    assert_eq!(
        field(SloTracker::builder(slo.clone()).budget_window(Duration::from_secs(1))),
        "budget_window"
    );
    let policy = BurnRatePolicy {
        page: vec![BurnRateWindow {
            factor: -1.0,
            long: Duration::from_secs(60),
            short: Duration::from_secs(5),
        }],
        ticket: vec![],
    };
    assert_eq!(
        field(SloTracker::builder(slo.clone()).policy(policy)),
        "page.factor"
    );
    let err = Slo::builder("payments")
        .availability(0.999)
        .recovery(Duration::ZERO)
        .build()
        .unwrap_err();
    assert_eq!(err.field(), "recovery");
    // The largest bucket count allowed builds.
    let widest = SloTracker::builder(slo)
        .bucket(Duration::from_secs(259_200).div_f64(100_000.0))
        .build();
    assert!(widest.is_ok(), "{widest:?}");
}

#[tokio::test(start_paused = true)]
async fn percentiles_cover_the_last_hour_however_long_the_tracker_ran() {
    let slo = Slo::builder("search")
        .latency(Duration::from_millis(100), 0.99)
        .build()
        .unwrap();
    let tracker = tracker(slo);
    // Five hours in: the window is the last hour, not the first.
    tokio::time::advance(Duration::from_secs(5 * 3_600)).await;
    tracker.record(&Outcome::Success, Duration::from_millis(40));
    tokio::time::advance(Duration::from_secs(1_800)).await;
    tracker.record(&Outcome::Success, Duration::from_millis(40));
    let p50 = tracker
        .report()
        .latency
        .unwrap()
        .p50_seconds
        .expect("calls of the last hour");
    assert!((p50 - 0.040).abs() < 0.001, "{p50}");
}

#[tokio::test(start_paused = true)]
async fn a_burn_at_exactly_the_factor_does_not_fire() {
    // An objective of 50 %, a factor of 1: half the calls failing burns at exactly 1×.
    let slo = Slo::builder("payments").availability(0.5).build().unwrap();
    let policy = BurnRatePolicy {
        page: vec![BurnRateWindow {
            factor: 1.0,
            long: Duration::from_secs(600),
            short: Duration::from_secs(120),
        }],
        ticket: vec![],
    };
    let tracker = SloTracker::builder(slo).policy(policy).build().unwrap();
    minutes(&tracker, 1, 100, 50, Duration::from_millis(5)).await;
    let rate = tracker.report().burn_rates[0].clone();
    assert_eq!((rate.long_rate, rate.short_rate), (Some(1.0), Some(1.0)));
    assert!(!rate.firing, "fires only above the factor");
    minutes(&tracker, 1, 100, 51, Duration::from_millis(5)).await;
    assert!(tracker.report().burn_rates[0].firing);
}

#[test]
fn the_smallest_settings_allowed_build() {
    let slo = Slo::builder("payments")
        .availability(0.999)
        .build()
        .unwrap();
    let policy = BurnRatePolicy {
        page: vec![BurnRateWindow {
            factor: 2.0,
            long: Duration::from_secs(1),
            short: Duration::from_millis(100),
        }],
        ticket: vec![],
    };
    // A bucket of 1 ms (1,000 buckets in the longest window), a budget window of one bucket.
    let smallest = SloTracker::builder(slo.clone())
        .policy(policy)
        .bucket(Duration::from_millis(1))
        .budget_window(Duration::from_millis(1))
        .build();
    assert!(smallest.is_ok(), "{smallest:?}");
    let one_bucket = SloTracker::builder(slo)
        .bucket(Duration::from_secs(60))
        .budget_window(Duration::from_secs(60))
        .build();
    assert!(one_bucket.is_ok(), "{one_bucket:?}");
}
