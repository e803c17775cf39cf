//! A breaker on a real axum router, driven by real HTTP requests over 127.0.0.1.

use axum::{http::StatusCode, routing::get, Router};
use fusebox::breaker::{axum::CircuitBreakerRouteLayer, Breaker, CircuitState};
use fusebox_tests::{client, serve};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

#[tokio::test]
async fn an_open_circuit_answers_503_with_retry_after_and_a_json_body() {
    let healthy = Arc::new(AtomicBool::new(false));
    let hits = Arc::new(AtomicUsize::new(0));
    let (h, n) = (healthy.clone(), hits.clone());
    let breaker = Breaker::builder("calendar")
        .consecutive_failures(3)
        .open_duration(Duration::from_secs(60))
        .build()
        .unwrap();
    let app = Router::new()
        .route(
            "/events",
            get(move || {
                n.fetch_add(1, Ordering::SeqCst);
                let ok = h.load(Ordering::SeqCst);
                async move {
                    if ok {
                        (StatusCode::OK, "[]")
                    } else {
                        (StatusCode::BAD_GATEWAY, "upstream down")
                    }
                }
            }),
        )
        .route("/missing", get(|| async { StatusCode::NOT_FOUND }))
        .route_layer(CircuitBreakerRouteLayer::new(breaker.clone()));
    let addr = serve(app).await;
    let http = client();
    let url = format!("http://{addr}/events");

    // Client errors do not count against the dependency.
    for _ in 0..5 {
        let r = http
            .get(format!("http://{addr}/missing"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404);
    }
    for _ in 0..3 {
        assert_eq!(http.get(&url).send().await.unwrap().status(), 502);
    }
    assert_eq!(breaker.state(), CircuitState::Open);

    let before = SystemTime::now();
    let r = http.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 503);
    let retry_after: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (59..=60).contains(&retry_after),
        "retry-after {retry_after}"
    );
    assert_eq!(r.headers()["content-type"], "application/json");
    let body: serde_json::Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
    assert_eq!(body["error"], "circuit breaker is open");
    assert_eq!(body["service"], "calendar");
    assert_eq!(body["state"], "open");
    let at = humantime::parse_rfc3339(body["retry_after"].as_str().unwrap()).unwrap();
    let ahead = at.duration_since(before).unwrap();
    assert!(
        ahead > Duration::from_secs(55) && ahead <= Duration::from_secs(61),
        "retry_after {ahead:?} ahead"
    );
    assert_eq!(
        hits.load(Ordering::SeqCst),
        3,
        "the rejected request never reached the handler"
    );

    healthy.store(true, Ordering::SeqCst);
    breaker.reset();
    assert_eq!(http.get(&url).send().await.unwrap().status(), 200);
    assert_eq!(hits.load(Ordering::SeqCst), 4);
}

/// Serves `GET /charge`, answering "ok", behind `breaker`; returns the server's address.
async fn charge_route(breaker: &Breaker) -> std::net::SocketAddr {
    let app = Router::new()
        .route("/charge", get(|| async { "ok" }))
        .route_layer(CircuitBreakerRouteLayer::new(breaker.clone()));
    serve(app).await
}

/// A real `GET /charge` to the server at `addr`.
async fn charge(addr: std::net::SocketAddr) -> reqwest::Response {
    client()
        .get(format!("http://{addr}/charge"))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_forced_open_circuit_promises_no_time_to_come_back() {
    let breaker = Breaker::builder("payments").build().unwrap();
    let addr = charge_route(&breaker).await;
    breaker.force_open();
    let r = charge(addr).await;
    assert_eq!(r.status(), 503);
    assert!(
        r.headers().get("retry-after").is_none(),
        "only an operator ends a forced open: no Retry-After"
    );
    let body: serde_json::Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
    assert_eq!(body["state"], "forced_open");
    assert_eq!(body["retry_after"], serde_json::Value::Null);
}

#[tokio::test]
async fn the_longest_open_duration_still_answers_503() {
    let years = |n: u64| Duration::from_secs(n * 366 * 86_400);
    let err = Breaker::builder("payments")
        .open_duration(years(20_000))
        .build()
        .unwrap_err();
    assert_eq!(err.field(), "open_duration");
    let breaker = Breaker::builder("payments")
        .consecutive_failures(1)
        .open_duration(Duration::from_nanos(u64::MAX))
        .build()
        .unwrap();
    let addr = charge_route(&breaker).await;
    breaker.try_acquire().unwrap().failure();
    let r = charge(addr).await;
    assert_eq!(r.status(), 503);
    let seconds: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(seconds > 18_000_000_000, "{seconds}");
    let body: serde_json::Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
    let at = body["retry_after"].as_str().unwrap();
    assert!(at.starts_with("2610-") || at.starts_with("2611-"), "{at}");
}
