//! The registry's log lines: one per change of a check's status, at its level. Alone in its
//! binary: `tracing` caches each log line's interest when first hit, and with the registry's
//! other tests hitting the same lines on other threads (no subscriber of their own), this
//! test's scoped subscriber missed the recovery line when it ran among them.

mod support;

use fusebox_health::{CheckSettings, HealthRegistry};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use support::switch;

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

async fn advance(by: Duration) {
    tokio::time::advance(by).await;
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
}

#[tokio::test(start_paused = true)]
async fn each_change_of_status_is_one_log_line_at_its_level() {
    let captured = fusebox_testkit::Captured::default();
    let _log = tracing::subscriber::set_default(captured.subscriber(tracing::Level::INFO));
    let failing = Arc::new(AtomicBool::new(false));
    let check = switch("calendar", &failing);
    let settings = CheckSettings::default()
        .interval(secs(30))
        .failing_interval(secs(10))
        .initial_delay(secs(5))
        .jitter(0.0);
    let registry = HealthRegistry::builder()
        .check(check, settings)
        .build()
        .unwrap();
    let running = registry.start();
    advance(secs(5)).await; // passes: nothing at INFO
    assert_eq!(captured.text(), "");
    failing.store(true, Ordering::SeqCst);
    advance(secs(30)).await; // fails
    advance(secs(10)).await; // still failing: no new line
    failing.store(false, Ordering::SeqCst);
    advance(secs(10)).await; // recovers
    running.stop().await;
    let text = captured.text();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(
        lines[0].contains(" WARN ") && lines[0].contains("health check failing"),
        "{text}"
    );
    assert!(
        lines[0].contains("check=\"calendar\" detail=\"down\""),
        "{text}"
    );
    assert!(
        lines[1].contains(" INFO ") && lines[1].contains("health check recovered"),
        "{text}"
    );
    assert!(lines[1].contains("from=\"fail\""), "{text}");
}
