//! The retry service, driven with paused Tokio time.

use fusebox_core::{Event, EventKind, GiveUpReason, HttpClassifier};
use fusebox_retry::{Backoff, Jitter, RetryBudget, RetryLayer};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;
use tower::{service_fn, BoxError, Layer, Service, ServiceExt};

const MS: Duration = Duration::from_millis(1);

#[derive(Debug, Clone, PartialEq)]
enum Seen {
    Started(u32),
    Scheduled(u32, Duration, bool),
    Denied(u32),
    GaveUp(u32, GiveUpReason),
    Succeeded(u32),
}

fn recorder() -> (
    Arc<Mutex<Vec<Seen>>>,
    impl Fn(&Event<'_>) + Send + Sync + 'static,
) {
    let log = Arc::new(Mutex::new(Vec::new()));
    let sink = log.clone();
    let listener = move |e: &Event<'_>| {
        let seen = match e.kind {
            EventKind::RetryAttemptStarted { attempt } => Seen::Started(attempt),
            EventKind::RetryScheduled {
                attempt,
                delay,
                server_hint,
            } => Seen::Scheduled(attempt, delay, server_hint),
            EventKind::RetryDenied { attempt } => Seen::Denied(attempt),
            EventKind::RetryGaveUp { attempts, reason } => Seen::GaveUp(attempts, reason),
            EventKind::RetrySucceeded { attempts } => Seen::Succeeded(attempts),
            _ => return,
        };
        sink.lock().unwrap().push(seen);
    };
    (log, listener)
}

/// A service failing its first `failures` calls, recording when each call arrived.
fn flaky(
    failures: u32,
) -> (
    Arc<Mutex<Vec<Instant>>>,
    impl Service<u32, Response = u32, Error = BoxError, Future: Send> + Clone,
) {
    let arrivals = Arc::new(Mutex::new(Vec::new()));
    let seen = arrivals.clone();
    let count = Arc::new(AtomicU32::new(0));
    let svc = service_fn(move |n: u32| {
        seen.lock().unwrap().push(Instant::now());
        let attempt = count.fetch_add(1, Ordering::SeqCst) + 1;
        async move {
            if attempt <= failures {
                Err::<u32, BoxError>("unavailable".into())
            } else {
                Ok(n)
            }
        }
    });
    (arrivals, svc)
}

/// The scheduled retries in the log: delay, and whether it came from the server.
fn scheduled(log: &Mutex<Vec<Seen>>) -> Vec<(Duration, bool)> {
    log.lock()
        .unwrap()
        .iter()
        .filter_map(|s| match s {
            Seen::Scheduled(_, delay, hint) => Some((*delay, *hint)),
            _ => None,
        })
        .collect()
}

fn gaps(arrivals: &[Instant]) -> Vec<Duration> {
    arrivals.windows(2).map(|w| w[1] - w[0]).collect()
}

#[tokio::test(start_paused = true)]
async fn delays_follow_the_backoff_exactly_for_every_jitter() {
    for jitter in [
        Jitter::None,
        Jitter::Full,
        Jitter::Equal,
        Jitter::Decorrelated,
    ] {
        let backoff = Backoff::exponential(MS * 100, 2.0)
            .max_delay(MS * 700)
            .jitter(jitter);
        let (log, listener) = recorder();
        let (arrivals, svc) = flaky(4);
        let layer = RetryLayer::builder("t")
            .backoff(backoff)
            .max_attempts(5)
            .random_seed(42)
            .on_event(listener)
            .build()
            .unwrap();
        assert_eq!(layer.layer(svc).oneshot(7).await.unwrap(), 7);

        let mut random = fastrand::Rng::with_seed(42);
        let mut previous = Duration::ZERO;
        let expected: Vec<Duration> = (1..=4)
            .map(|retry| {
                previous = backoff.delay(retry, previous, &mut random);
                previous
            })
            .collect();
        // Tokio's timer fires on whole milliseconds, rounding each wait up.
        let rounded: Vec<Duration> = expected
            .iter()
            .map(|d| Duration::from_millis(d.as_nanos().div_ceil(1_000_000) as u64))
            .collect();
        assert_eq!(gaps(&arrivals.lock().unwrap()), rounded, "{jitter:?}");
        let from_backoff: Vec<(Duration, bool)> = expected.iter().map(|d| (*d, false)).collect();
        assert_eq!(scheduled(&log), from_backoff, "{jitter:?}");
        assert_eq!(log.lock().unwrap().last(), Some(&Seen::Succeeded(5)));
    }
}

#[tokio::test(start_paused = true)]
async fn attempts_are_capped_and_the_last_error_is_returned() {
    let (log, listener) = recorder();
    let (arrivals, svc) = flaky(u32::MAX);
    let layer = RetryLayer::builder("t")
        .backoff(Backoff::constant(MS * 10))
        .max_attempts(3)
        .on_event(listener)
        .build()
        .unwrap();
    let err = layer.layer(svc).oneshot(1).await.unwrap_err();
    assert_eq!(err.to_string(), "unavailable");
    assert_eq!(arrivals.lock().unwrap().len(), 3);
    assert_eq!(
        *log.lock().unwrap(),
        [
            Seen::Started(1),
            Seen::Scheduled(2, MS * 10, false),
            Seen::Started(2),
            Seen::Scheduled(3, MS * 10, false),
            Seen::Started(3),
            Seen::GaveUp(3, GiveUpReason::AttemptsExhausted),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn an_injected_random_source_drives_the_jitter_of_every_call() {
    // One source shared by the layer's calls: 0.5, then 0.25, then 0.5, ...
    let mut draws = [0.5, 0.25].into_iter().cycle();
    let (log, listener) = recorder();
    let layer = RetryLayer::builder("t")
        .backoff(Backoff::constant(MS * 100).jitter(Jitter::Full))
        .max_attempts(2)
        .random_source(move || draws.next().unwrap())
        .on_event(listener)
        .build()
        .unwrap();
    for n in 0..3 {
        let (_, svc) = flaky(1);
        assert_eq!(layer.layer(svc).oneshot(n).await.unwrap(), n);
    }
    let delays: Vec<Duration> = scheduled(&log).iter().map(|(d, _)| *d).collect();
    assert_eq!(delays, [MS * 50, MS * 25, MS * 50]);

    // A seeded fastrand generator, through the re-export.
    let (log, listener) = recorder();
    let layer = RetryLayer::builder("t")
        .backoff(Backoff::constant(MS * 100).jitter(Jitter::Full))
        .max_attempts(4)
        .random_source(fusebox_retry::fastrand::Rng::with_seed(9))
        .on_event(listener)
        .build()
        .unwrap();
    let (_, svc) = flaky(3);
    layer.layer(svc).oneshot(1).await.unwrap();
    let mut expected = fusebox_retry::fastrand::Rng::with_seed(9);
    let want: Vec<Duration> = (0..3)
        .map(|_| Duration::from_nanos((100_000_000.0 * expected.f64()) as u64))
        .collect();
    let got: Vec<Duration> = scheduled(&log).iter().map(|(d, _)| *d).collect();
    assert_eq!(got, want);
}

#[tokio::test(start_paused = true)]
async fn a_static_layer_retries_like_a_counted_one() {
    let (log, listener) = recorder();
    let (arrivals, svc) = flaky(2);
    let layer = RetryLayer::builder("t")
        .backoff(Backoff::constant(MS * 10))
        .max_attempts(3)
        .on_event(listener)
        .build_static()
        .unwrap();
    assert_eq!(layer.clone().layer(svc).oneshot(7).await.unwrap(), 7);
    assert_eq!(arrivals.lock().unwrap().len(), 3);
    assert_eq!(log.lock().unwrap().last(), Some(&Seen::Succeeded(3)));
    let err = RetryLayer::builder(" ").build_static().unwrap_err();
    assert_eq!(err.field(), "name", "checked like build");
}

#[tokio::test(start_paused = true)]
async fn the_deadline_stops_retrying_before_a_wait_would_pass_it() {
    let (log, listener) = recorder();
    let (arrivals, svc) = flaky(u32::MAX);
    let layer = RetryLayer::builder("t")
        .backoff(Backoff::constant(Duration::from_secs(1)))
        .max_attempts(10)
        .deadline(Duration::from_millis(2_500))
        .on_event(listener)
        .build()
        .unwrap();
    let started = Instant::now();
    layer.layer(svc).oneshot(1).await.unwrap_err();
    assert_eq!(
        arrivals.lock().unwrap().len(),
        3,
        "sent at 0 s, 1 s and 2 s"
    );
    assert_eq!(Instant::now() - started, Duration::from_secs(2));
    assert_eq!(
        log.lock().unwrap().last(),
        Some(&Seen::GaveUp(3, GiveUpReason::DeadlineExceeded))
    );
}

#[tokio::test(start_paused = true)]
async fn a_wait_ending_exactly_at_the_deadline_is_waited() {
    let (arrivals, svc) = flaky(u32::MAX);
    let layer = RetryLayer::builder("t")
        .backoff(Backoff::constant(Duration::from_secs(1)))
        .max_attempts(10)
        .deadline(Duration::from_secs(2))
        .build()
        .unwrap();
    let started = Instant::now();
    layer.layer(svc).oneshot(1).await.unwrap_err();
    assert_eq!(
        arrivals.lock().unwrap().len(),
        3,
        "sent at 0 s, 1 s and at the deadline, 2 s"
    );
    assert_eq!(Instant::now() - started, Duration::from_secs(2));
}

fn status_service(
    statuses: &'static [(u16, Option<&'static str>)],
) -> (
    Arc<Mutex<Vec<Instant>>>,
    impl Service<(), Response = http::Response<()>, Error = BoxError, Future: Send> + Clone,
) {
    let arrivals = Arc::new(Mutex::new(Vec::new()));
    let seen = arrivals.clone();
    let svc = service_fn(move |_: ()| {
        let mut seen = seen.lock().unwrap();
        seen.push(Instant::now());
        let (status, retry_after) = statuses[(seen.len() - 1).min(statuses.len() - 1)];
        let mut response = http::Response::builder().status(status);
        if let Some(v) = retry_after {
            response = response.header("retry-after", v);
        }
        let response = response.body(()).unwrap();
        async move { Ok::<_, BoxError>(response) }
    });
    (arrivals, svc)
}

#[tokio::test(start_paused = true)]
async fn retry_after_replaces_the_backoff() {
    let (arrivals, svc) = status_service(&[
        (503, Some("2")),
        (429, Some("5")),
        (503, Some("soon")),
        (200, None),
    ]);
    let (log, listener) = recorder();
    let layer = RetryLayer::builder("t")
        .classifier(HttpClassifier::new())
        .backoff(Backoff::constant(MS * 100))
        .max_attempts(5)
        .max_retry_after(Duration::from_secs(5))
        .on_event(listener)
        .build()
        .unwrap();
    let response = layer.layer(svc).oneshot(()).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        gaps(&arrivals.lock().unwrap()),
        [Duration::from_secs(2), Duration::from_secs(5), MS * 100],
        "server hint, hint at the cap, malformed hint ignored"
    );
    let hints: Vec<bool> = scheduled(&log).iter().map(|(_, hint)| *hint).collect();
    assert_eq!(hints, [true, true, false]);
}

#[tokio::test(start_paused = true)]
async fn a_retry_after_beyond_the_cap_gives_up_instead_of_retrying_early() {
    const HINTS: [&[(u16, Option<&str>)]; 2] = [
        &[(503, Some("3601")), (200, None)],
        &[(503, Some("99999999999999999999")), (200, None)],
    ];
    for statuses in HINTS {
        let hint = statuses[0].1;
        let (arrivals, svc) = status_service(statuses);
        let (log, listener) = recorder();
        let layer = RetryLayer::builder("t")
            .classifier(HttpClassifier::new())
            .max_retry_after(Duration::from_secs(3600))
            .on_event(listener)
            .build()
            .unwrap();
        let started = tokio::time::Instant::now();
        let response = layer.layer(svc).oneshot(()).await.unwrap();
        assert_eq!(response.status(), 503, "Retry-After: {hint:?}");
        assert_eq!(arrivals.lock().unwrap().len(), 1);
        assert_eq!(tokio::time::Instant::now(), started);
        assert_eq!(
            log.lock().unwrap().last(),
            Some(&Seen::GaveUp(1, GiveUpReason::RetryAfterTooLong))
        );
    }
}

#[tokio::test(start_paused = true)]
async fn permanent_failures_are_not_retried() {
    let (arrivals, svc) = status_service(&[(501, None), (200, None)]);
    let (log, listener) = recorder();
    let layer = RetryLayer::builder("t")
        .classifier(HttpClassifier::new())
        .on_event(listener)
        .build()
        .unwrap();
    let response = layer.layer(svc).oneshot(()).await.unwrap();
    assert_eq!(response.status(), 501);
    assert_eq!(arrivals.lock().unwrap().len(), 1);
    assert_eq!(
        log.lock().unwrap().last(),
        Some(&Seen::GaveUp(1, GiveUpReason::Permanent))
    );
    // A client error is an answer, not a failure: returned as is, without an event.
    let (arrivals, svc) = status_service(&[(404, None)]);
    let layer = RetryLayer::builder("t")
        .classifier(HttpClassifier::new())
        .build()
        .unwrap();
    assert_eq!(layer.layer(svc).oneshot(()).await.unwrap().status(), 404);
    assert_eq!(arrivals.lock().unwrap().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_budget_bounds_retries_during_a_sustained_outage() {
    const CALLERS: u32 = 200;
    let budget = RetryBudget::builder()
        .ratio(0.1)
        .min_per_second(5)
        .max_tokens(20)
        .build()
        .unwrap();
    let (log, listener) = recorder();
    let (arrivals, svc) = flaky(u32::MAX);
    let layer = RetryLayer::builder("t")
        .backoff(Backoff::constant(MS * 100))
        .max_attempts(4)
        .budget(budget.clone())
        .on_event(listener)
        .build()
        .unwrap();
    let svc = layer.layer(svc);
    let started = Instant::now();
    let calls: Vec<_> = (0..CALLERS)
        .map(|n| tokio::spawn(svc.clone().oneshot(n)))
        .collect();
    for call in calls {
        assert!(call.await.unwrap().is_err());
    }
    let elapsed = (Instant::now() - started).as_secs_f64();
    let retries = arrivals.lock().unwrap().len() as u32 - CALLERS;
    // One second of trickle to start with, plus what trickled in while the outage lasted.
    let bound = 5 + (5.0 * elapsed).floor() as u32;
    assert!(retries <= bound, "{retries} retries, bound {bound}");
    assert!(retries >= 5, "the initial tokens were used: {retries}");
    let denied = log
        .lock()
        .unwrap()
        .iter()
        .filter(|s| matches!(s, Seen::Denied(_)))
        .count() as u32;
    let exhausted = log
        .lock()
        .unwrap()
        .iter()
        .filter(|s| matches!(s, Seen::GaveUp(_, GiveUpReason::AttemptsExhausted)))
        .count() as u32;
    // Every call ends either denied by the budget or out of attempts.
    assert_eq!(denied + exhausted, CALLERS);
    assert!(denied > 0);
}

#[cfg(feature = "grpc")]
#[tokio::test(start_paused = true)]
async fn grpc_statuses_from_trailers_only_responses_drive_retries() {
    use fusebox_core::GrpcClassifier;
    let count = Arc::new(AtomicU32::new(0));
    let seen = count.clone();
    // UNAVAILABLE, then RESOURCE_EXHAUSTED, then OK.
    let svc = service_fn(move |_: ()| {
        let n = seen.fetch_add(1, Ordering::SeqCst);
        let status = ["14", "8", "0"][n.min(2) as usize];
        let response = http::Response::builder()
            .header("grpc-status", status)
            .body(())
            .unwrap();
        async move { Ok::<_, BoxError>(response) }
    });
    let layer = RetryLayer::builder("grpc")
        .classifier(GrpcClassifier::new())
        .backoff(Backoff::constant(MS * 10))
        .max_attempts(5)
        .build()
        .unwrap();
    let response = layer.layer(svc).oneshot(()).await.unwrap();
    assert_eq!(response.headers()["grpc-status"], "0");
    assert_eq!(count.load(Ordering::SeqCst), 3);

    // DEADLINE_EXCEEDED is not retried unless asked for.
    let count = Arc::new(AtomicU32::new(0));
    let seen = count.clone();
    let late = service_fn(move |_: ()| {
        seen.fetch_add(1, Ordering::SeqCst);
        let response = http::Response::builder()
            .header("grpc-status", "4")
            .body(())
            .unwrap();
        async move { Ok::<_, BoxError>(response) }
    });
    let layer = RetryLayer::builder("grpc")
        .classifier(GrpcClassifier::new())
        .backoff(Backoff::constant(MS * 10))
        .build()
        .unwrap();
    layer.layer(late.clone()).oneshot(()).await.unwrap();
    assert_eq!(count.load(Ordering::SeqCst), 1);
    let layer = RetryLayer::builder("grpc")
        .classifier(GrpcClassifier::new().retry_deadline_exceeded(true))
        .backoff(Backoff::constant(MS * 10))
        .max_attempts(3)
        .build()
        .unwrap();
    layer.layer(late).oneshot(()).await.unwrap();
    assert_eq!(count.load(Ordering::SeqCst), 4);
}

#[tokio::test(start_paused = true)]
async fn two_layers_given_one_budget_draw_from_one_balance() {
    let budget = RetryBudget::builder()
        .ratio(0.0)
        .min_per_second(1)
        .max_tokens(3)
        .build()
        .unwrap();
    assert_eq!(budget.tokens(), 1.0, "one second's trickle to start");
    // Three tokens in all after two more seconds; both layers draw from them.
    tokio::time::advance(Duration::from_secs(2)).await;
    let layer = |name: &'static str| {
        RetryLayer::builder(name)
            .backoff(Backoff::constant(MS))
            .max_attempts(10)
            .budget(budget.clone())
            .build()
            .unwrap()
    };
    let (calendar, email) = (layer("calendar"), layer("email"));
    let (calendar_arrivals, down) = flaky(u32::MAX);
    assert!(calendar.layer(down).oneshot(1).await.is_err());
    let (email_arrivals, down) = flaky(u32::MAX);
    assert!(email.layer(down).oneshot(1).await.is_err());
    let retries =
        calendar_arrivals.lock().unwrap().len() - 1 + email_arrivals.lock().unwrap().len() - 1;
    assert_eq!(retries, 3, "three tokens for both layers together");
    assert_eq!(
        calendar_arrivals.lock().unwrap().len(),
        4,
        "the first layer took all three"
    );
    assert_eq!(email_arrivals.lock().unwrap().len(), 1, "none were left");
}

#[tokio::test(start_paused = true)]
async fn a_per_request_classifier_decides_for_every_attempt_of_its_call() {
    let calls = Arc::new(AtomicU32::new(0));
    let counted = calls.clone();
    // The caller marks a request whose failure is final (a card the bank already declined).
    let per_request = fusebox_core::PerRequest::new(|request: &(u32, bool)| {
        let last_word = request.1;
        move |r: Result<&u32, &BoxError>| match r {
            Ok(_) => fusebox_core::Outcome::Success,
            Err(_) if last_word => fusebox_core::Outcome::permanent_failure(),
            Err(_) => fusebox_core::Outcome::retryable_failure(),
        }
    });
    let retry = RetryLayer::builder("payments")
        .backoff(Backoff::constant(10 * MS))
        .max_attempts(3)
        .classifier(per_request)
        .build()
        .unwrap();
    let service = retry.layer(service_fn(move |_: (u32, bool)| {
        counted.fetch_add(1, Ordering::SeqCst);
        async { Err::<u32, BoxError>("declined".into()) }
    }));
    assert!(service.clone().oneshot((1, true)).await.is_err());
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "a final failure is not retried"
    );
    assert!(service.oneshot((2, false)).await.is_err());
    assert_eq!(
        calls.load(Ordering::SeqCst),
        4,
        "the other call tried three times"
    );
}

#[test]
fn a_call_that_needs_no_retry_carries_no_timer() {
    // The timer and the backoff's state are made at the first retry: a call's future holds a
    // pointer to them, not a 112-byte `Sleep`, so the common call moves less.
    type Inner = tower::util::ServiceFn<fn(u32) -> std::future::Ready<Result<u32, BoxError>>>;
    let f: fn(u32) -> std::future::Ready<Result<u32, BoxError>> = |n| std::future::ready(Ok(n));
    let mut svc: fusebox_retry::Retry<Inner> = RetryLayer::builder("size")
        .build()
        .unwrap()
        .layer(service_fn(f));
    let future = svc.call(1);
    assert!(
        std::mem::size_of_val(&future) <= 128,
        "{} bytes",
        std::mem::size_of_val(&future)
    );
    assert!(std::mem::size_of::<tokio::time::Sleep>() > 64);
}

#[tokio::test(start_paused = true)]
async fn a_call_that_succeeds_at_once_announces_no_retry_success() {
    let (_, svc) = flaky(0);
    let (log, listener) = recorder();
    let layer = RetryLayer::builder("t").on_event(listener).build().unwrap();
    assert_eq!(layer.layer(svc).oneshot(7).await.unwrap(), 7);
    assert_eq!(*log.lock().unwrap(), [Seen::Started(1)]);
}

#[tokio::test(start_paused = true)]
async fn a_service_that_cannot_get_ready_fails_the_retry_s_readiness() {
    let mut retry = RetryLayer::builder("t").build().unwrap().layer(Unready);
    let Err(err) = retry.ready().await else {
        panic!("ready, though the inner service is not");
    };
    assert_eq!(err.to_string(), "connection pool closed");
}

/// Fails `poll_ready` with an error of its own, as a closed connection pool does.
#[derive(Clone)]
struct Unready;

impl Service<u32> for Unready {
    type Response = u32;
    type Error = BoxError;
    type Future = std::future::Ready<Result<u32, BoxError>>;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), BoxError>> {
        std::task::Poll::Ready(Err("connection pool closed".into()))
    }

    fn call(&mut self, _: u32) -> Self::Future {
        std::future::ready(Err("called while not ready".into()))
    }
}

#[test]
fn a_backoff_that_cannot_work_is_refused_naming_its_field() {
    let build = |backoff: Backoff| RetryLayer::builder("t").backoff(backoff).build();
    for multiplier in [f64::NAN, f64::INFINITY, 0.5, -2.0, 0.0] {
        let err = build(Backoff::exponential(MS, multiplier)).unwrap_err();
        assert_eq!(err.field(), "backoff_multiplier", "{multiplier}: {err}");
    }
    let err = build(Backoff::exponential(Duration::ZERO, 2.0)).unwrap_err();
    assert_eq!(err.field(), "backoff_base");
    assert!(
        build(Backoff::exponential(MS, 1.0)).is_ok(),
        "a multiplier of 1 is constant"
    );
    assert!(build(Backoff::exponential(MS, f64::MAX)).is_ok());
}
