//! The tower layer and service around real futures.

use fusebox_breaker::{
    Breaker, CircuitBreakerError, CircuitBreakerLayer, CircuitOpen, CircuitState,
};
use fusebox_core::{Outcome, PerRequest};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use tower::{service_fn, BoxError, Layer, Service, ServiceBuilder, ServiceExt};

#[tokio::test(start_paused = true)]
async fn an_open_circuit_rejects_without_calling_the_inner_service() {
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    let breaker = Breaker::builder("upstream")
        .consecutive_failures(2)
        .build()
        .unwrap();
    let svc = ServiceBuilder::new()
        .layer(CircuitBreakerLayer::new(breaker.clone()))
        .service(service_fn(move |_: ()| {
            counter.fetch_add(1, Ordering::SeqCst);
            async { Err::<(), _>(std::io::Error::from(std::io::ErrorKind::ConnectionReset)) }
        }));
    for _ in 0..2 {
        let err = svc.clone().oneshot(()).await.unwrap_err();
        assert!(matches!(err, CircuitBreakerError::Inner(_)));
    }
    for _ in 0..5 {
        let err = svc.clone().oneshot(()).await.unwrap_err();
        let boxed: BoxError = err.into();
        let open = boxed.downcast_ref::<CircuitOpen>().expect("a CircuitOpen");
        assert_eq!(open.name(), "upstream");
        assert_eq!(open.state(), CircuitState::Open);
    }
    assert_eq!(hits.load(Ordering::SeqCst), 2);
    assert_eq!(breaker.metrics().rejections, 5);
}

#[tokio::test]
async fn inner_errors_convert_into_box_error_unwrapped() {
    let breaker = Breaker::builder("upstream").build().unwrap();
    let svc = CircuitBreakerLayer::new(breaker).layer(service_fn(|_: ()| async {
        Err::<(), _>(std::io::Error::other("boom"))
    }));
    let err: BoxError = svc.oneshot(()).await.unwrap_err().into();
    assert!(err.is::<std::io::Error>());
    assert_eq!(err.to_string(), "boom");
}

#[tokio::test]
async fn a_custom_classifier_decides_what_counts() {
    let breaker = Breaker::builder("upstream")
        .consecutive_failures(1)
        .build()
        .unwrap();
    // "not found" answers are the caller's problem, not the dependency's.
    let classify = |r: Result<&u16, &BoxError>| match r {
        Ok(404) => Outcome::Ignored,
        Ok(s) if *s >= 500 => Outcome::retryable_failure(),
        Ok(_) => Outcome::Success,
        Err(_) => Outcome::retryable_failure(),
    };
    let mut svc = CircuitBreakerLayer::new(breaker.clone())
        .classifier(classify)
        .layer(service_fn(|status: u16| async move {
            Ok::<_, BoxError>(status)
        }));
    svc.ready().await.unwrap().call(404).await.unwrap();
    svc.ready().await.unwrap().call(200).await.unwrap();
    assert_eq!(breaker.state(), CircuitState::Closed);
    assert_eq!(breaker.metrics().ignored, 1);
    svc.ready().await.unwrap().call(503).await.unwrap();
    assert_eq!(breaker.state(), CircuitState::Open);
}

#[tokio::test]
async fn a_per_request_classifier_sees_the_request_before_it_is_sent() {
    let breaker = Breaker::builder("payments")
        .consecutive_failures(2)
        .build()
        .unwrap();
    // A failed POST may have charged the card: it is not the dependency's health that it
    // reports, so only failures of reads count.
    let per_request = PerRequest::new(|request: &(&'static str, u16)| {
        let read = request.0 == "GET";
        move |r: Result<&u16, &BoxError>| match r {
            Ok(s) if *s >= 500 && read => Outcome::retryable_failure(),
            Ok(s) if *s >= 500 => Outcome::Ignored,
            Ok(_) => Outcome::Success,
            Err(_) => Outcome::retryable_failure(),
        }
    });
    let mut svc = CircuitBreakerLayer::new(breaker.clone())
        .classifier(per_request)
        .layer(service_fn(|(_, status): (&'static str, u16)| async move {
            Ok::<_, BoxError>(status)
        }));
    for _ in 0..3 {
        svc.ready()
            .await
            .unwrap()
            .call(("POST", 503))
            .await
            .unwrap();
    }
    assert_eq!(breaker.state(), CircuitState::Closed);
    assert_eq!(breaker.metrics().ignored, 3);
    svc.ready().await.unwrap().call(("GET", 503)).await.unwrap();
    svc.ready().await.unwrap().call(("GET", 503)).await.unwrap();
    assert_eq!(breaker.state(), CircuitState::Open);
}

#[tokio::test]
async fn http_classifier_counts_server_errors_not_client_errors() {
    let breaker = Breaker::builder("api")
        .consecutive_failures(2)
        .build()
        .unwrap();
    let svc =
        CircuitBreakerLayer::http(breaker.clone()).layer(service_fn(|status: u16| async move {
            Ok::<_, std::convert::Infallible>(
                http::Response::builder().status(status).body(()).unwrap(),
            )
        }));
    for status in [404, 400, 422, 503, 200, 500] {
        svc.clone().oneshot(status).await.unwrap();
    }
    assert_eq!(breaker.state(), CircuitState::Closed);
    assert_eq!(breaker.metrics().failures, 2);
    svc.clone().oneshot(502).await.unwrap();
    assert_eq!(breaker.state(), CircuitState::Open);
}

struct NeverReady;

impl Service<()> for NeverReady {
    type Response = ();
    type Error = std::io::Error;
    type Future = std::future::Ready<Result<(), std::io::Error>>;
    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Pending
    }
    fn call(&mut self, _: ()) -> Self::Future {
        std::future::ready(Ok(()))
    }
}

#[test]
fn poll_ready_passes_through() {
    let breaker = Breaker::builder("upstream").build().unwrap();
    let mut svc = CircuitBreakerLayer::new(breaker).layer(NeverReady);
    let mut cx = Context::from_waker(std::task::Waker::noop());
    assert!(svc.poll_ready(&mut cx).is_pending());
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_probe_frees_its_slot() {
    let breaker = Breaker::builder("upstream")
        .consecutive_failures(1)
        .open_duration(std::time::Duration::from_secs(1))
        .build()
        .unwrap();
    breaker.try_acquire().unwrap().failure();
    tokio::time::advance(std::time::Duration::from_secs(1)).await;
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    let mut svc = CircuitBreakerLayer::new(breaker.clone()).layer(service_fn(|_: ()| {
        std::future::pending::<Result<(), std::io::Error>>()
    }));
    let hanging = svc.call(());
    assert!(
        svc.call(()).await.unwrap_err().is_open(),
        "the only probe slot is taken"
    );
    drop(hanging);
    assert_eq!(breaker.metrics().ignored, 1);
    let next = svc.call(());
    drop(next);
    assert_eq!(
        breaker.metrics().rejections,
        1,
        "the freed slot admitted the next call"
    );
}

#[test]
fn a_call_moves_a_small_future() {
    // What a call hands its caller to await: the inner future (16 bytes here) and a 24-byte
    // permit (a reference to the breaker's slot and a two-word ticket), or a rejection's
    // 40-byte `CircuitOpen` (its correlation id included), and the state's tag. Every byte is
    // moved on every call (docs/benchmarks.md); a 48-byte rejection would make it 56.
    type Inner = tower::util::ServiceFn<fn(u64) -> std::future::Ready<Result<u64, std::io::Error>>>;
    let f: fn(u64) -> std::future::Ready<Result<u64, std::io::Error>> =
        |n| std::future::ready(Ok(n));
    let breaker = fusebox_breaker::Breaker::builder("size").build().unwrap();
    let mut svc: fusebox_breaker::CircuitBreaker<Inner> =
        fusebox_breaker::CircuitBreakerLayer::new(breaker).layer(tower::service_fn(f));
    let future = tower::Service::call(&mut svc, 1);
    assert!(
        std::mem::size_of_val(&future) <= 48,
        "{} bytes",
        std::mem::size_of_val(&future)
    );
}

#[tokio::test(start_paused = true)]
async fn the_error_says_whether_the_breaker_or_the_service_failed() {
    let breaker = Breaker::builder("upstream")
        .consecutive_failures(1)
        .build()
        .unwrap();
    let mut svc = CircuitBreakerLayer::new(breaker).layer(service_fn(|_: ()| async {
        Err::<(), _>(std::io::Error::other("refused"))
    }));
    let inner = svc.ready().await.unwrap().call(()).await.unwrap_err();
    assert!(!inner.is_open());
    assert!(inner.as_open().is_none());
    assert_eq!(inner.into_inner().unwrap().to_string(), "refused");
    let open = svc.ready().await.unwrap().call(()).await.unwrap_err();
    assert!(open.is_open());
    assert_eq!(open.as_open().map(|o| o.name()), Some("upstream"));
    assert!(open.into_inner().is_none());
}
