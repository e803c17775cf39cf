//! A retry in front of a circuit breaker: an inner breaker's rejection is waited out for as
//! long as the breaker asks, or given up when that is too long or only an operator can end it.
//! The breaker is played here by a circuit of the test's own, so the retry crate's tests reach
//! this without depending on fusebox-breaker.

use fusebox_core::{Circuit, CircuitOpen, CircuitState, Event, EventKind, GiveUpReason, Handle};
use fusebox_retry::RetryLayer;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;
use tower::{service_fn, BoxError, Layer, ServiceExt};

/// A circuit that counts the retry's requests to end its open period.
struct Counting(AtomicU32);

impl Circuit for Counting {
    fn name(&self) -> &str {
        "calendar"
    }
    fn state(&self) -> CircuitState {
        CircuitState::Open
    }
    fn end_open_period_if_due(&self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[derive(Clone, Copy)]
enum Rejects {
    /// Open, with a probe due after this long.
    For(Duration),
    /// Half-open with every probe slot taken; the period ends at the latest after this long.
    ProbesBusy(Duration),
    /// Forced open.
    Forever,
}

/// The service behind the breaker is never reached; the breaker rejects the first call as
/// `rejects` says and admits the next, which succeeds. Returns each call's arrival and the
/// circuit.
fn breaker(
    rejects: Rejects,
) -> (
    Arc<Mutex<Vec<Instant>>>,
    &'static Counting,
    impl tower::Service<(), Response = &'static str, Error = BoxError, Future: Send> + Clone,
) {
    let circuit: &'static Counting = Box::leak(Box::new(Counting(AtomicU32::new(0))));
    let arrivals = Arc::new(Mutex::new(Vec::new()));
    let seen = arrivals.clone();
    let svc = service_fn(move |()| {
        let mut seen = seen.lock().unwrap();
        seen.push(Instant::now());
        let first = seen.len() == 1;
        async move {
            if !first {
                return Ok("admitted");
            }
            let now = Instant::now();
            let handle = Handle::Static(circuit as &'static dyn Circuit);
            let open = match rejects {
                Rejects::For(wait) => {
                    CircuitOpen::new(handle, CircuitState::Open, Some(now + wait))
                }
                Rejects::ProbesBusy(wait) => {
                    CircuitOpen::new(handle, CircuitState::HalfOpen, Some(now + wait))
                        .awaiting_probe()
                }
                Rejects::Forever => CircuitOpen::new(handle, CircuitState::ForcedOpen, None),
            };
            Err::<&'static str, BoxError>(Box::new(open))
        }
    });
    (arrivals, circuit, svc)
}

/// The reason the retry gave up, if it did, from its events.
fn gave_up() -> (
    Arc<Mutex<Option<GiveUpReason>>>,
    impl Fn(&Event<'_>) + Send + Sync + 'static,
) {
    let reason = Arc::new(Mutex::new(None));
    let sink = reason.clone();
    let listener = move |e: &Event<'_>| {
        if let EventKind::RetryGaveUp { reason, .. } = e.kind {
            *sink.lock().unwrap() = Some(reason);
        }
    };
    (reason, listener)
}

const CAP: Duration = Duration::from_secs(30);

#[tokio::test(start_paused = true)]
async fn an_open_circuit_is_waited_out_up_to_the_cap_then_asked_to_end_its_period() {
    for wait in [Duration::from_secs(7), CAP] {
        let (arrivals, circuit, svc) = breaker(Rejects::For(wait));
        let layer = RetryLayer::builder("t")
            .max_retry_after(CAP)
            .build()
            .unwrap();
        assert_eq!(layer.layer(svc).oneshot(()).await.unwrap(), "admitted");
        let arrivals = arrivals.lock().unwrap();
        assert_eq!(
            arrivals[1] - arrivals[0],
            wait,
            "the breaker's wait, not a backoff"
        );
        assert_eq!(
            circuit.0.load(Ordering::SeqCst),
            1,
            "asked once, after the wait, to end its open period"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn an_open_circuit_beyond_the_cap_is_given_up_at_once() {
    let (arrivals, circuit, svc) = breaker(Rejects::For(CAP + Duration::from_nanos(1)));
    let (reason, listener) = gave_up();
    let layer = RetryLayer::builder("t")
        .max_retry_after(CAP)
        .on_event(listener)
        .build()
        .unwrap();
    let started = Instant::now();
    let err = layer.layer(svc).oneshot(()).await.unwrap_err();
    assert!(err.is::<CircuitOpen>(), "{err}");
    assert_eq!(arrivals.lock().unwrap().len(), 1);
    assert_eq!(Instant::now(), started);
    assert_eq!(*reason.lock().unwrap(), Some(GiveUpReason::CircuitOpen));
    assert_eq!(circuit.0.load(Ordering::SeqCst), 0);
}

#[tokio::test(start_paused = true)]
async fn a_forced_open_circuit_is_given_up_at_once() {
    let (arrivals, _, svc) = breaker(Rejects::Forever);
    let (reason, listener) = gave_up();
    let layer = RetryLayer::builder("t").on_event(listener).build().unwrap();
    let err = layer.layer(svc).oneshot(()).await.unwrap_err();
    assert!(err.is::<CircuitOpen>(), "{err}");
    assert_eq!(arrivals.lock().unwrap().len(), 1);
    assert_eq!(*reason.lock().unwrap(), Some(GiveUpReason::CircuitOpen));
}

#[tokio::test(start_paused = true)]
async fn busy_probes_are_looked_at_again_after_the_backoff_not_the_whole_period() {
    let backoff = Duration::from_millis(100);
    let (arrivals, circuit, svc) = breaker(Rejects::ProbesBusy(Duration::from_secs(60)));
    let layer = RetryLayer::builder("t")
        .backoff(fusebox_retry::Backoff::constant(backoff))
        .max_retry_after(CAP)
        .build()
        .unwrap();
    assert_eq!(layer.layer(svc).oneshot(()).await.unwrap(), "admitted");
    let arrivals = arrivals.lock().unwrap();
    assert_eq!(arrivals[1] - arrivals[0], backoff);
    assert_eq!(
        circuit.0.load(Ordering::SeqCst),
        0,
        "no open period to end: its probes decide"
    );
}
