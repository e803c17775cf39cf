//! In a Tokio runtime built without a time driver, the breaker's timer task cannot sleep: Tokio
//! panics inside it. The breaker must keep working (open periods end on the first call after
//! them) and must not panic again at every trip.
//!
//! The only test in its binary: it installs a panic hook to count panics.

use fusebox_breaker::{Breaker, CircuitState};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

#[test]
fn a_runtime_without_timers_costs_one_panic_message_and_no_function() {
    let panics = Arc::new(AtomicUsize::new(0));
    let counted = panics.clone();
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        counted.fetch_add(1, SeqCst);
        default_hook(info);
    }));

    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let captured = fusebox_testkit::Captured::default();
    let subscriber = captured.subscriber(tracing::Level::INFO);
    let _logging = tracing::subscriber::set_default(subscriber);
    runtime.block_on(async {
        // A one-nanosecond open period: over by the next call, with no sleep.
        let b = Breaker::builder("t")
            .consecutive_failures(1)
            .open_duration(Duration::from_nanos(1))
            .build()
            .unwrap();
        b.try_acquire().unwrap().failure();
        for trip in 1..=5 {
            assert_eq!(b.state(), CircuitState::Open);
            // Let the timer task run (and fail) before the next call.
            tokio::task::yield_now().await;
            let probe = b
                .try_acquire()
                .unwrap_or_else(|e| panic!("trip {trip}: the open period did not end: {e}"));
            assert_eq!(b.state(), CircuitState::HalfOpen);
            probe.failure();
        }
        assert_eq!(b.metrics().trips, 6);
    });
    assert_eq!(
        panics.load(SeqCst),
        1,
        "one timer task failed, then none was spawned"
    );
    let log = captured.text();
    assert_eq!(
        log.matches("a circuit breaker's timer could not be made")
            .count(),
        1,
        "warned once, naming the fix: {log}"
    );
    assert!(log.contains("enable_time"), "{log}");
}
