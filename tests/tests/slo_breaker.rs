//! An in-process SLO fed by a real breaker's transitions and a metrics layer's calls.

use fusebox::breaker::{Breaker, CircuitBreakerLayer};
use fusebox::metrics::{MetricsLayer, Slo, SloAlert, SloTracker};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tower::{service_fn, BoxError, ServiceBuilder, ServiceExt};

#[tokio::test(start_paused = true)]
async fn an_outage_is_timed_from_open_to_closed_and_alerts_while_it_lasts() {
    let slo = Slo::builder("payments")
        .availability(0.99)
        .recovery(Duration::from_secs(20))
        .build()
        .unwrap();
    let tracker = SloTracker::builder(slo).build().unwrap();
    let breaker = Breaker::builder("payments")
        .consecutive_failures(2)
        .open_duration(Duration::from_secs(30))
        .build()
        .unwrap();
    breaker.subscribe(tracker.clone()).detach();
    let healthy = Arc::new(AtomicBool::new(false));
    let up = healthy.clone();
    let stack = ServiceBuilder::new()
        .layer(MetricsLayer::new("payments").slo(&tracker))
        .layer(CircuitBreakerLayer::new(breaker.clone()))
        .service(service_fn(move |_: ()| {
            let ok = up.load(Ordering::SeqCst);
            async move {
                if ok {
                    Ok(())
                } else {
                    Err::<(), BoxError>("declined".into())
                }
            }
        }));
    for _ in 0..2 {
        assert!(stack.clone().oneshot(()).await.is_err());
    }
    // Open: rejections count as failures of the service (the metrics layer is outside).
    assert!(stack.clone().oneshot(()).await.is_err());
    tokio::time::advance(Duration::from_secs(25)).await;
    let report = tracker.report();
    assert_eq!(report.recovery.open_for_seconds, Some(25.0));
    assert!(report.alerts.contains(&SloAlert::BreakerOpenTooLong {
        open_seconds: 25.0,
        objective_seconds: 20.0
    }));
    let availability = report.availability.unwrap();
    assert_eq!((availability.calls, availability.good), (3, 0));
    // The open period ends (the breaker's own timer), a probe succeeds, the breaker closes.
    healthy.store(true, Ordering::SeqCst);
    tokio::time::advance(Duration::from_secs(5)).await;
    tokio::task::yield_now().await;
    stack.clone().oneshot(()).await.unwrap();
    let report = tracker.report();
    assert_eq!(report.recovery.recoveries, 1);
    assert_eq!(report.recovery.max_seconds, Some(30.0));
    assert_eq!(report.recovery.open_for_seconds, None);
    assert_eq!(report.time_in_state_seconds["open"], 30.0);
    assert!(!report
        .alerts
        .iter()
        .any(|a| matches!(a, SloAlert::BreakerOpenTooLong { .. })));
}
