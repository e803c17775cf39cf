//! An outage shows at `WARN`: calls that give up because the dependency keeps failing are
//! logged at most every ten seconds, with how many gave up since; other give-ups are not.
//!
//! The only test in its binary: tracing caches per-callsite interest process-wide, so a test
//! without a subscriber running beside it could hide these logs.

use fusebox_retry::{Backoff, RetryLayer};
use std::time::Duration;
use tower::{service_fn, BoxError, Layer, ServiceExt};

#[test]
fn giving_up_warns_at_most_every_ten_seconds_with_the_count() {
    let captured = fusebox_testkit::Captured::default();
    captured.block_on(tracing::Level::INFO, async {
        let layer = RetryLayer::builder("payments")
            .backoff(Backoff::constant(Duration::from_millis(10)))
            .max_attempts(2)
            .build()
            .unwrap();
        let down = layer.layer(service_fn(|_: ()| async {
            Err::<(), BoxError>("unavailable".into())
        }));
        for _ in 0..5 {
            down.clone().oneshot(()).await.unwrap_err();
        }
        assert_eq!(captured.text().lines().count(), 1, "{}", captured.text());
        // The first call gave up at 10 ms (one backoff), the fifth at 50 ms: the next one,
        // 10 ms after its start, gives up exactly ten seconds after the first warning.
        tokio::time::advance(Duration::from_millis(9_950)).await;
        down.clone().oneshot(()).await.unwrap_err();
    });
    let log = captured.text();
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines.len(), 2, "{log}");
    for line in &lines {
        assert!(line.contains("WARN"), "{line}");
        assert!(line.contains("retries are giving up"), "{line}");
        assert!(
            line.contains("retry=\"payments\" attempts=2 reason=attempts_exhausted"),
            "{line}"
        );
    }
    assert!(lines[0].ends_with("calls=1"), "{}", lines[0]);
    // The four quiet give-ups of the first ten seconds, and this one.
    assert!(lines[1].ends_with("calls=5"), "{}", lines[1]);
}
