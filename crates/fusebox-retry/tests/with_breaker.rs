//! Retry stacked outside a circuit breaker: an open circuit is not hammered.
#![cfg(feature = "breaker")]

use fusebox_breaker::{Breaker, CircuitBreakerLayer, CircuitOpen, CircuitState};
use fusebox_core::{Event, EventKind, GiveUpReason};
use fusebox_retry::{Backoff, RetryLayer};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tower::{service_fn, BoxError, ServiceBuilder, ServiceExt};

fn upstream(
    healthy: Arc<AtomicBool>,
    hits: Arc<AtomicU32>,
) -> impl tower::Service<u32, Response = u32, Error = BoxError, Future: Send> + Clone {
    service_fn(move |n: u32| {
        hits.fetch_add(1, Ordering::SeqCst);
        let ok = healthy.load(Ordering::SeqCst);
        async move {
            if ok {
                Ok(n)
            } else {
                Err::<u32, BoxError>("upstream down".into())
            }
        }
    })
}

#[tokio::test(start_paused = true)]
async fn once_the_breaker_opens_the_retry_stops_sending_to_the_upstream() {
    let healthy = Arc::new(AtomicBool::new(false));
    let hits = Arc::new(AtomicU32::new(0));
    let breaker = Breaker::builder("upstream")
        .consecutive_failures(3)
        .open_duration(Duration::from_secs(30))
        .build()
        .unwrap();
    let reasons = Arc::new(Mutex::new(Vec::new()));
    let sink = reasons.clone();
    let service = ServiceBuilder::new()
        .layer(
            RetryLayer::builder("client")
                .backoff(Backoff::constant(Duration::from_millis(100)))
                .max_attempts(5)
                .deadline(Duration::from_secs(5))
                .on_event(move |e: &Event<'_>| {
                    if let EventKind::RetryGaveUp { reason, .. } = e.kind {
                        sink.lock().unwrap().push(reason);
                    }
                })
                .build()
                .unwrap(),
        )
        .layer(CircuitBreakerLayer::new(breaker.clone()))
        .service(upstream(healthy.clone(), hits.clone()));

    // Attempts 1–3 fail and trip the breaker; attempt 4 is rejected, and its next probe
    // (30 s away) does not fit the 5 s deadline, so the call ends at once.
    let err = service.clone().oneshot(1).await.unwrap_err();
    assert!(err.is::<CircuitOpen>(), "{err}");
    assert_eq!(breaker.state(), CircuitState::Open);
    assert_eq!(hits.load(Ordering::SeqCst), 3);

    for n in 0..20 {
        let err = service.clone().oneshot(n).await.unwrap_err();
        assert!(err.is::<CircuitOpen>());
    }
    assert_eq!(
        hits.load(Ordering::SeqCst),
        3,
        "no call reached the upstream while open"
    );
    assert!(reasons
        .lock()
        .unwrap()
        .iter()
        .all(|r| *r == GiveUpReason::CircuitOpen));
}

#[tokio::test(start_paused = true)]
async fn a_rejection_is_retried_when_the_next_probe_fits_the_deadline() {
    let healthy = Arc::new(AtomicBool::new(false));
    let hits = Arc::new(AtomicU32::new(0));
    let breaker = Breaker::builder("upstream")
        .consecutive_failures(1)
        .open_duration(Duration::from_secs(2))
        .build()
        .unwrap();
    let service = ServiceBuilder::new()
        .layer(
            RetryLayer::builder("client")
                .backoff(Backoff::constant(Duration::from_millis(10)))
                .max_attempts(3)
                .deadline(Duration::from_secs(10))
                .build()
                .unwrap(),
        )
        .layer(CircuitBreakerLayer::new(breaker.clone()))
        .service(upstream(healthy.clone(), hits.clone()));

    // Trip the breaker, then let the upstream recover.
    breaker.try_acquire().unwrap().failure();
    healthy.store(true, Ordering::SeqCst);
    let started = tokio::time::Instant::now();
    assert_eq!(service.oneshot(7).await.unwrap(), 7);
    assert_eq!(
        hits.load(Ordering::SeqCst),
        1,
        "only the probe reached the upstream"
    );
    let waited = tokio::time::Instant::now() - started;
    assert!(
        waited >= Duration::from_secs(2) && waited < Duration::from_millis(2_100),
        "waited {waited:?} for the probe"
    );
    assert_eq!(breaker.state(), CircuitState::Closed);
}

#[test]
fn a_retry_ends_the_open_period_itself_when_the_breakers_timer_is_late() {
    // The breaker trips inside a runtime that never runs again, so its timer task never fires:
    // the breaker stays open past its deadline until something ends the period.
    let stalled = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let breaker = Breaker::builder("upstream")
        .consecutive_failures(1)
        .open_duration(Duration::from_secs(2))
        .build()
        .unwrap();
    {
        let _inside = stalled.enter();
        breaker.try_acquire().unwrap().failure();
    }
    assert_eq!(breaker.state(), CircuitState::Open);

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    runtime.block_on(async {
        let hits = Arc::new(AtomicU32::new(0));
        let service = ServiceBuilder::new()
            .layer(
                RetryLayer::builder("client")
                    .max_attempts(3)
                    .deadline(Duration::from_secs(10))
                    .build()
                    .unwrap(),
            )
            .layer(CircuitBreakerLayer::new(breaker.clone()))
            .service(upstream(Arc::new(AtomicBool::new(true)), hits.clone()));
        assert_eq!(service.oneshot(7).await.unwrap(), 7);
        assert_eq!(
            hits.load(Ordering::SeqCst),
            1,
            "the probe reached the upstream"
        );
    });
    assert_eq!(breaker.state(), CircuitState::Closed);
}
