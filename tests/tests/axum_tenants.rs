//! One breaker per tenant on a real axum router, over 127.0.0.1.

use axum::{http::HeaderMap, http::StatusCode, routing::get, Router};
use fusebox::breaker::{axum::KeyedCircuitBreakerRouteLayer, Breaker, HeaderKey};
use fusebox_tests::{client, serve};
use std::time::Duration;

#[tokio::test]
async fn a_failing_tenant_opens_only_its_own_breaker() {
    let tenants = Breaker::builder("calendar")
        .consecutive_failures(3)
        .open_duration(Duration::from_secs(60))
        .keyed()
        .key_label("tenant_id")
        .build()
        .unwrap();
    // Tenant A's calendar integration is broken; tenant B's works.
    let app = Router::new()
        .route(
            "/events",
            get(|headers: HeaderMap| async move {
                if headers["x-tenant-id"] == "A" {
                    StatusCode::BAD_GATEWAY
                } else {
                    StatusCode::OK
                }
            }),
        )
        .route_layer(KeyedCircuitBreakerRouteLayer::new(
            tenants.clone(),
            HeaderKey::new(http::HeaderName::from_static("x-tenant-id")),
        ));
    let addr = serve(app).await;
    let http = client();
    let url = format!("http://{addr}/events");
    let get = |tenant: &'static str| http.get(&url).header("x-tenant-id", tenant).send();

    for _ in 0..3 {
        assert_eq!(get("A").await.unwrap().status(), 502);
        assert_eq!(get("B").await.unwrap().status(), 200);
    }
    let rejected = get("A").await.unwrap();
    assert_eq!(rejected.status(), 503);
    assert!(rejected.headers().contains_key("retry-after"));
    let body: serde_json::Value = serde_json::from_slice(&rejected.bytes().await.unwrap()).unwrap();
    assert_eq!(body["error"], "circuit breaker is open");
    assert_eq!(body["service"], "calendar");
    assert_eq!(body["tenant_id"], "A");
    for _ in 0..10 {
        assert_eq!(get("B").await.unwrap().status(), 200, "B is unaffected");
    }
    assert_eq!(tenants.len(), 2);
}
