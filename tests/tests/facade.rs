//! The facade's `ServiceBuilderExt` stacks a breaker in front of a real HTTP server.

use axum::{http::StatusCode, routing::get, Router};
use fusebox::breaker::{
    Breaker, CircuitBreakerLayer, CircuitOpen, CircuitState, KeyedCircuitBreakerLayer,
};
use fusebox::ServiceBuilderExt;
use fusebox_tests::serve;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tower::{service_fn, BoxError, ServiceBuilder, ServiceExt};

/// A server answering `status` to every request, counting them.
async fn failing_upstream(status: StatusCode) -> (std::net::SocketAddr, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    let addr = serve(Router::new().route(
        "/",
        get(move || {
            counter.fetch_add(1, Ordering::SeqCst);
            async move { status }
        }),
    ))
    .await;
    (addr, hits)
}

#[tokio::test]
async fn http_circuit_breaker_trips_on_5xx_and_stops_calling_the_server() {
    let (addr, hits) = failing_upstream(StatusCode::SERVICE_UNAVAILABLE).await;

    let breaker = Breaker::builder("upstream")
        .consecutive_failures(2)
        .build()
        .unwrap();
    let http = fusebox_tests::client();
    let client = ServiceBuilder::new()
        .circuit_breaker(CircuitBreakerLayer::http(breaker.clone()))
        .service(service_fn(move |url: String| {
            let http = http.clone();
            async move {
                let response = http.get(url).send().await?;
                let mut out = http::Response::new(());
                *out.status_mut() = response.status();
                Ok::<_, reqwest::Error>(out)
            }
        }));

    let url = format!("http://{addr}/");
    for _ in 0..2 {
        let response = client.clone().oneshot(url.clone()).await.unwrap();
        assert_eq!(response.status(), 503);
    }
    assert_eq!(breaker.state(), CircuitState::Open);
    for _ in 0..3 {
        let err: BoxError = client
            .clone()
            .oneshot(url.clone())
            .await
            .unwrap_err()
            .into();
        assert_eq!(
            err.downcast_ref::<CircuitOpen>().unwrap().name(),
            "upstream"
        );
    }
    assert_eq!(
        hits.load(Ordering::SeqCst),
        2,
        "rejected calls never reached the server"
    );
}

#[tokio::test(start_paused = true)]
async fn retry_outside_a_breaker_stops_sending_once_the_breaker_opens() {
    use fusebox::retry::http::{BufferBodyLayer, ReplayBody};
    use fusebox::retry::{Backoff, RetryLayer};
    use http_body_util::Full;
    use hyper_util::client::legacy::Client;
    use hyper_util::rt::TokioExecutor;
    use std::time::Duration;

    let (addr, hits) = failing_upstream(StatusCode::BAD_GATEWAY).await;
    let breaker = Breaker::builder("upstream")
        .consecutive_failures(4)
        .open_duration(Duration::from_secs(60))
        .build()
        .unwrap();
    let client =
        Client::builder(TokioExecutor::new()).build_http::<ReplayBody<Full<bytes::Bytes>>>();
    let stack = ServiceBuilder::new()
        .layer(BufferBodyLayer::new(1024))
        .retry_with(
            RetryLayer::builder("upstream")
                .http()
                .backoff(Backoff::constant(Duration::from_millis(100)))
                .max_attempts(3)
                .deadline(Duration::from_secs(10))
                .build()
                .unwrap(),
        )
        .circuit_breaker(CircuitBreakerLayer::http(breaker.clone()))
        .service(client);
    let get = || {
        http::Request::get(format!("http://{addr}/"))
            .body(Full::new(bytes::Bytes::new()))
            .unwrap()
    };

    // Call 1: three attempts reach the server. Call 2: the fourth trips the breaker, and the
    // retry does not hammer the open circuit (its next probe is 60 s away, past the deadline).
    let first = stack.clone().oneshot(get()).await.unwrap();
    assert_eq!(first.status(), 502);
    assert_eq!(hits.load(Ordering::SeqCst), 3);
    let err: BoxError = stack.clone().oneshot(get()).await.unwrap_err();
    assert!(err.is::<CircuitOpen>(), "{err}");
    assert_eq!(breaker.state(), CircuitState::Open);
    assert_eq!(hits.load(Ordering::SeqCst), 4);
    for _ in 0..10 {
        assert!(stack
            .clone()
            .oneshot(get())
            .await
            .unwrap_err()
            .is::<CircuitOpen>());
    }
    assert_eq!(
        hits.load(Ordering::SeqCst),
        4,
        "nothing reached the server while open"
    );
}

#[tokio::test]
async fn http_keyed_circuit_breaker_opens_for_the_failing_tenant_only() {
    // Each tenant has its own path on the upstream; acme's answers 503.
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    let addr = serve(Router::new().route(
        "/{tenant}",
        get(
            move |axum::extract::Path(tenant): axum::extract::Path<String>| {
                counter.fetch_add(1, Ordering::SeqCst);
                async move {
                    if tenant == "acme" {
                        StatusCode::SERVICE_UNAVAILABLE
                    } else {
                        StatusCode::OK
                    }
                }
            },
        ),
    ))
    .await;
    let tenants = Breaker::builder("upstream")
        .consecutive_failures(2)
        .keyed()
        .key_label("tenant_id")
        .build()
        .unwrap();
    let http = fusebox_tests::client();
    let client = ServiceBuilder::new()
        .keyed_circuit_breaker(KeyedCircuitBreakerLayer::http(
            tenants.clone(),
            |tenant: &String| Some(tenant.clone()),
        ))
        .service(service_fn(move |tenant: String| {
            let (http, url) = (http.clone(), format!("http://{addr}/{tenant}"));
            async move {
                let response = http.get(url).send().await?;
                let mut out = http::Response::new(());
                *out.status_mut() = response.status();
                Ok::<_, reqwest::Error>(out)
            }
        }));

    for _ in 0..2 {
        let response = client.clone().oneshot("acme".to_owned()).await.unwrap();
        assert_eq!(response.status(), 503);
    }
    let err: BoxError = client
        .clone()
        .oneshot("acme".to_owned())
        .await
        .unwrap_err()
        .into();
    let open = err
        .downcast_ref::<CircuitOpen>()
        .expect("acme's circuit is open");
    assert_eq!(open.key(), Some("acme"));
    assert!(
        open.to_string()
            .starts_with("circuit breaker `upstream` for tenant_id `acme` is open"),
        "{open}"
    );
    for _ in 0..3 {
        let response = client.clone().oneshot("globex".to_owned()).await.unwrap();
        assert_eq!(response.status(), 200, "globex is still served");
    }
    assert_eq!(tenants.get("acme").state(), CircuitState::Open);
    assert_eq!(tenants.get("globex").state(), CircuitState::Closed);
    assert_eq!(
        hits.load(Ordering::SeqCst),
        5,
        "the rejected call never left"
    );
}
