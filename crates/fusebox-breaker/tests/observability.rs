//! Transitions, and trips a disabled breaker suppressed, are logged with tracing.
//!
//! The only test in its binary: tracing caches per-callsite interest process-wide, so a test
//! without a subscriber running beside it could hide these logs.

use fusebox_breaker::Breaker;

#[test]
fn transitions_are_logged_with_name_from_to_and_reason() {
    let captured = fusebox_testkit::Captured::default();
    let subscriber = captured.subscriber(tracing::Level::INFO);
    tracing::subscriber::with_default(subscriber, || {
        let b = Breaker::builder("payments")
            .consecutive_failures(2)
            .build()
            .unwrap();
        b.try_acquire().unwrap().failure();
        b.try_acquire().unwrap().failure();
        b.reset();
        b.disable();
        b.try_acquire().unwrap().failure();
        b.try_acquire().unwrap().failure();
    });
    let log = captured.text();
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines.len(), 4, "{log}");
    assert!(lines[0].contains("WARN"), "{}", lines[0]);
    for field in [
        "breaker=\"payments\"",
        "from=closed",
        "to=open",
        "reason=2 consecutive failures",
        "circuit breaker opened",
    ] {
        assert!(lines[0].contains(field), "missing {field}: {}", lines[0]);
    }
    assert!(
        lines[1].contains("INFO") && lines[1].contains("reason=reset by operator"),
        "{}",
        lines[1]
    );
    assert!(lines[2].contains("to=disabled"), "{}", lines[2]);
    for field in [
        "WARN",
        "breaker=\"payments\"",
        "reason=2 consecutive failures",
        "circuit breaker would have opened, but it is disabled",
    ] {
        assert!(lines[3].contains(field), "missing {field}: {}", lines[3]);
    }
}
