//! The HTTP correlation layer: which id a request gets, and where every layer below finds it.

use fusebox_core::{CorrelationId, CorrelationLayer};
use http::{HeaderName, Request};
use std::convert::Infallible;
use tower::{service_fn, Layer, Service, ServiceExt};

const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

/// What the inner service saw: the header, the extension, and the task's id after a yield.
#[derive(Debug)]
struct Seen {
    header: Option<String>,
    extension: Option<CorrelationId>,
    current: Option<CorrelationId>,
}

async fn call(layer: CorrelationLayer, request: Request<()>) -> Seen {
    call_with_header(layer, "x-request-id", request).await
}

async fn call_with_header(
    layer: CorrelationLayer,
    header: &'static str,
    request: Request<()>,
) -> Seen {
    let svc = layer.layer(service_fn(move |req: Request<()>| async move {
        // Across a suspension point: the id is the task's while the future runs, not only at `call`.
        tokio::task::yield_now().await;
        Ok::<_, Infallible>(Seen {
            header: req
                .headers()
                .get(header)
                .map(|v| v.to_str().unwrap().to_owned()),
            extension: req.extensions().get::<CorrelationId>().cloned(),
            current: CorrelationId::current(),
        })
    }));
    svc.oneshot(request).await.unwrap()
}

fn request(headers: &[(&str, &str)]) -> Request<()> {
    let mut builder = Request::builder();
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder.body(()).unwrap()
}

fn all_agree(seen: &Seen, id: &str) {
    assert_eq!(seen.header.as_deref(), Some(id), "{seen:?}");
    assert_eq!(seen.extension.as_deref(), Some(id), "{seen:?}");
    assert_eq!(seen.current.as_deref(), Some(id), "{seen:?}");
}

#[tokio::test]
async fn a_request_id_header_is_kept_and_seen_everywhere() {
    let seen = call(
        CorrelationLayer::new(),
        request(&[("x-request-id", "req-7")]),
    )
    .await;
    all_agree(&seen, "req-7");
}

#[tokio::test]
async fn a_missing_id_is_generated_and_put_on_the_request() {
    let seen = call(CorrelationLayer::new(), request(&[])).await;
    let id = seen.extension.clone().expect("an id");
    assert_eq!(id.len(), 32);
    assert!(CorrelationId::from_traceparent(&format!("00-{id}-00f067aa0ba902b7-01")).is_some());
    all_agree(&seen, &id);
}

#[tokio::test]
async fn a_traceparent_s_trace_id_comes_first() {
    let seen = call(
        CorrelationLayer::new(),
        request(&[("traceparent", TRACEPARENT)]),
    )
    .await;
    all_agree(&seen, TRACE_ID);
    // A request id the caller gave stays on the request as it was; the call's id is the trace's.
    let seen = call(
        CorrelationLayer::new(),
        request(&[("traceparent", TRACEPARENT), ("x-request-id", "req-7")]),
    )
    .await;
    assert_eq!(seen.header.as_deref(), Some("req-7"));
    assert_eq!(seen.current.as_deref(), Some(TRACE_ID));
    assert_eq!(seen.extension.as_deref(), Some(TRACE_ID));
    // An invalid traceparent is no id.
    let seen = call(
        CorrelationLayer::new(),
        request(&[("traceparent", "00-xyz-01"), ("x-request-id", "req-7")]),
    )
    .await;
    all_agree(&seen, "req-7");
}

#[tokio::test]
async fn traceparent_can_be_ignored() {
    let seen = call(
        CorrelationLayer::new().use_traceparent(false),
        request(&[("traceparent", TRACEPARENT), ("x-request-id", "req-7")]),
    )
    .await;
    all_agree(&seen, "req-7");
}

#[tokio::test]
async fn an_invalid_or_overlong_id_is_replaced() {
    let long = "a".repeat(fusebox_core::MAX_CORRELATION_ID_LEN + 1);
    for bad in ["two words", long.as_str()] {
        let seen = call(CorrelationLayer::new(), request(&[("x-request-id", bad)])).await;
        let id = seen.extension.clone().expect("an id");
        assert_ne!(id.as_str(), bad);
        all_agree(&seen, &id);
    }
}

#[tokio::test]
async fn another_header_can_carry_the_id() {
    let layer = CorrelationLayer::new().header(HeaderName::from_static("x-correlation-id"));
    let seen = call_with_header(
        layer.clone(),
        "x-correlation-id",
        request(&[("x-correlation-id", "c-1")]),
    )
    .await;
    all_agree(&seen, "c-1");
    // x-request-id is then nobody's business.
    let seen = call_with_header(layer, "x-request-id", request(&[("x-request-id", "req-7")])).await;
    assert_eq!(seen.header.as_deref(), Some("req-7"));
    assert_ne!(seen.current.as_deref(), Some("req-7"));
}

#[tokio::test]
async fn an_outbound_request_made_while_serving_one_keeps_its_id() {
    let incoming = CorrelationId::new("incoming-1").unwrap();
    let seen = incoming
        .scope(call(CorrelationLayer::new(), request(&[])))
        .await;
    all_agree(&seen, "incoming-1");
}

#[tokio::test]
async fn the_inner_call_itself_runs_as_the_call() {
    // A service that decides in `call` (as a breaker's rejection does) sees the id there too.
    #[derive(Clone)]
    struct AtCall;
    impl Service<Request<()>> for AtCall {
        type Response = Option<CorrelationId>;
        type Error = Infallible;
        type Future = std::future::Ready<Result<Option<CorrelationId>, Infallible>>;
        fn poll_ready(
            &mut self,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Result<(), Infallible>> {
            std::task::Poll::Ready(Ok(()))
        }
        fn call(&mut self, _: Request<()>) -> Self::Future {
            std::future::ready(Ok(CorrelationId::current()))
        }
    }
    let mut svc = CorrelationLayer::new().layer(AtCall);
    let seen = svc
        .ready()
        .await
        .unwrap()
        .call(request(&[("x-request-id", "req-9")]))
        .await
        .unwrap();
    assert_eq!(seen.as_deref(), Some("req-9"));
}

#[tokio::test]
async fn readiness_is_the_inner_service_s() {
    struct Refusing;
    impl Service<Request<()>> for Refusing {
        type Response = ();
        type Error = &'static str;
        type Future = std::future::Ready<Result<(), &'static str>>;
        fn poll_ready(
            &mut self,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Result<(), &'static str>> {
            std::task::Poll::Ready(Err("overloaded"))
        }
        fn call(&mut self, _: Request<()>) -> Self::Future {
            std::future::ready(Ok(()))
        }
    }
    let mut svc = CorrelationLayer::new().layer(Refusing);
    assert_eq!(svc.ready().await.err(), Some("overloaded"));
}
