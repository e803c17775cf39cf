//! Retry stacked outside a circuit breaker: an open circuit is not hammered.

use fusebox::breaker::{Breaker, CircuitBreakerLayer, CircuitOpen, CircuitState};
use fusebox::core::{Event, EventKind, GiveUpReason};
use fusebox::retry::{Backoff, RetryLayer};
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

/// The give-ups a retry layer reported: attempts made, and why.
type GiveUps = Arc<Mutex<Vec<(u32, GiveUpReason)>>>;

/// A retry over `breaker` around `upstream`, with the given layer settings; records give-ups.
fn retried(
    retry: fusebox::retry::RetryLayerBuilder,
    breaker: &Breaker,
    healthy: Arc<AtomicBool>,
    hits: Arc<AtomicU32>,
) -> (
    impl tower::Service<u32, Response = u32, Error = BoxError, Future: Send> + Clone,
    GiveUps,
) {
    let reasons = Arc::new(Mutex::new(Vec::new()));
    let sink = reasons.clone();
    let service = ServiceBuilder::new()
        .layer(
            retry
                .on_event(move |e: &Event<'_>| {
                    if let EventKind::RetryGaveUp { attempts, reason } = e.kind {
                        sink.lock().unwrap().push((attempts, reason));
                    }
                })
                .build()
                .unwrap(),
        )
        .layer(CircuitBreakerLayer::new(breaker.clone()))
        .service(upstream(healthy, hits));
    (service, reasons)
}

#[tokio::test(start_paused = true)]
async fn a_forced_open_breaker_fails_the_call_at_once() {
    let breaker = Breaker::builder("upstream").build().unwrap();
    breaker.force_open();
    let hits = Arc::new(AtomicU32::new(0));
    // The defaults: 3 attempts, no deadline, a 60 s cap on waits.
    let (service, reasons) = retried(
        RetryLayer::builder("client"),
        &breaker,
        Arc::new(AtomicBool::new(true)),
        hits.clone(),
    );
    let started = tokio::time::Instant::now();
    let err = service.oneshot(1).await.unwrap_err();
    let open = err.downcast_ref::<CircuitOpen>().expect("the rejection");
    assert_eq!(open.state(), CircuitState::ForcedOpen);
    assert_eq!(open.retry_at(), None, "nothing to wait for");
    assert_eq!(tokio::time::Instant::now(), started, "no wait at all");
    assert_eq!(hits.load(Ordering::SeqCst), 0);
    assert_eq!(*reasons.lock().unwrap(), [(1, GiveUpReason::CircuitOpen)]);
}

#[tokio::test(start_paused = true)]
async fn busy_probe_slots_are_looked_at_again_after_the_backoff() {
    let breaker = Breaker::builder("upstream")
        .consecutive_failures(1)
        .open_duration(Duration::from_secs(1))
        .half_open_max_wait(Duration::from_secs(30))
        .build()
        .unwrap();
    breaker.try_acquire().unwrap().failure();
    tokio::time::sleep(Duration::from_millis(1_001)).await;
    assert_eq!(breaker.state(), CircuitState::HalfOpen);
    // Another caller's probe takes the only slot and succeeds 50 ms later.
    let probe = breaker.try_acquire().unwrap();
    assert!(probe.is_probe());
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(50)).await;
        probe.success();
    });

    let hits = Arc::new(AtomicU32::new(0));
    let (service, reasons) = retried(
        RetryLayer::builder("client")
            .backoff(Backoff::constant(Duration::from_millis(20)))
            .max_attempts(10),
        &breaker,
        Arc::new(AtomicBool::new(true)),
        hits.clone(),
    );
    let started = tokio::time::Instant::now();
    assert_eq!(service.oneshot(5).await.unwrap(), 5);
    let waited = tokio::time::Instant::now() - started;
    assert_eq!(
        waited,
        Duration::from_millis(60),
        "three 20 ms looks, not the 30 s half-open limit"
    );
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    assert_eq!(breaker.state(), CircuitState::Closed);
    assert!(reasons.lock().unwrap().is_empty());
}

#[tokio::test(start_paused = true)]
async fn rejected_attempts_count_toward_max_attempts() {
    let breaker = Breaker::builder("upstream")
        .consecutive_failures(1)
        .open_duration(Duration::from_secs(1))
        .build()
        .unwrap();
    let hits = Arc::new(AtomicU32::new(0));
    let healthy = Arc::new(AtomicBool::new(true));

    // One attempt in all: the rejection is the attempt, and nothing is sent.
    breaker.try_acquire().unwrap().failure();
    let (once, reasons) = retried(
        RetryLayer::builder("client").max_attempts(1),
        &breaker,
        healthy.clone(),
        hits.clone(),
    );
    assert!(once.oneshot(1).await.unwrap_err().is::<CircuitOpen>());
    assert_eq!(hits.load(Ordering::SeqCst), 0);
    assert_eq!(
        *reasons.lock().unwrap(),
        [(1, GiveUpReason::AttemptsExhausted)]
    );

    // Two attempts: the rejection is the first, the probe after the open period the second.
    let (twice, reasons) = retried(
        RetryLayer::builder("client").max_attempts(2),
        &breaker,
        healthy,
        hits.clone(),
    );
    assert_eq!(twice.oneshot(2).await.unwrap(), 2);
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    assert!(reasons.lock().unwrap().is_empty());
}

#[tokio::test(start_paused = true)]
async fn the_longest_open_duration_rejects_without_panicking() {
    let breaker = Breaker::builder("upstream")
        .consecutive_failures(1)
        .open_duration(fusebox::breaker::MAX_DURATION)
        .build()
        .unwrap();
    breaker.try_acquire().unwrap().failure();
    let open = breaker.try_acquire().unwrap_err();
    assert!(open.retry_after().unwrap() > Duration::from_secs(100 * 365 * 86_400));
    assert!(open.to_string().contains("is open; retry in"), "{open}");
    assert!(format!("{open:?}").contains("retry_after"));
    let boxed: BoxError = open.into();
    assert!(boxed.is::<CircuitOpen>());

    let hits = Arc::new(AtomicU32::new(0));
    let (service, reasons) = retried(
        RetryLayer::builder("client"),
        &breaker,
        Arc::new(AtomicBool::new(true)),
        hits.clone(),
    );
    assert!(service.oneshot(1).await.unwrap_err().is::<CircuitOpen>());
    assert_eq!(*reasons.lock().unwrap(), [(1, GiveUpReason::CircuitOpen)]);
    assert_eq!(hits.load(Ordering::SeqCst), 0);
}

#[tokio::test(start_paused = true)]
async fn a_next_probe_exactly_at_the_cap_is_waited_for_and_one_beyond_is_not() {
    for (open_for, waits) in [
        (Duration::from_secs(5), true),
        (Duration::from_millis(5_001), false),
    ] {
        let breaker = Breaker::builder("upstream")
            .consecutive_failures(1)
            .open_duration(open_for)
            .build()
            .unwrap();
        breaker.try_acquire().unwrap().failure();
        let hits = Arc::new(AtomicU32::new(0));
        let (service, reasons) = retried(
            RetryLayer::builder("client").max_retry_after(Duration::from_secs(5)),
            &breaker,
            Arc::new(AtomicBool::new(true)),
            hits.clone(),
        );
        let result = service.oneshot(1).await;
        assert_eq!(result.is_ok(), waits, "open for {open_for:?}");
        assert_eq!(hits.load(Ordering::SeqCst), u32::from(waits));
        if !waits {
            assert_eq!(*reasons.lock().unwrap(), [(1, GiveUpReason::CircuitOpen)]);
        }
    }
}
