//! The facade's `ServiceBuilderExt` stacks a breaker in front of a real HTTP server.

use axum::{http::StatusCode, routing::get, Router};
use fusebox::breaker::{Breaker, CircuitOpen, CircuitState};
use fusebox::ServiceBuilderExt;
use fusebox_tests::serve;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tower::{service_fn, BoxError, ServiceBuilder, ServiceExt};

#[tokio::test]
async fn http_circuit_breaker_trips_on_5xx_and_stops_calling_the_server() {
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    let addr = serve(Router::new().route(
        "/",
        get(move || {
            counter.fetch_add(1, Ordering::SeqCst);
            async { StatusCode::SERVICE_UNAVAILABLE }
        }),
    ))
    .await;

    let breaker = Breaker::builder("upstream")
        .consecutive_failures(2)
        .build()
        .unwrap();
    let http = fusebox_tests::client();
    let client = ServiceBuilder::new()
        .http_circuit_breaker(breaker.clone())
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
