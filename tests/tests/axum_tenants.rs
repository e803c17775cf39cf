//! One breaker per tenant on a real axum router, over 127.0.0.1.

use axum::{http::HeaderMap, http::StatusCode, routing::get, Router};
use fusebox::breaker::{axum::KeyedCircuitBreakerRouteLayer, Breaker, HeaderKey};
use fusebox_tests::{client, serve};
use std::time::Duration;

/// One calendar breaker per tenant, tripping after `failures` in a row.
fn calendar_tenants(failures: u32) -> fusebox::breaker::KeyedBreakers {
    Breaker::builder("calendar")
        .consecutive_failures(failures)
        .open_duration(Duration::from_secs(60))
        .keyed()
        .key_label("tenant_id")
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_failing_tenant_opens_only_its_own_breaker() {
    let tenants = calendar_tenants(3);
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

#[tokio::test]
async fn routes_are_keyed_by_their_template_and_hosts_by_name() {
    use fusebox::breaker::{HostKey, KeyExtractor, PathKey};
    let routes = Breaker::builder("api")
        .keyed()
        .key_label("route")
        .build()
        .unwrap();
    let app = Router::new()
        .route("/users/{id}", get(|| async { "user" }))
        .route("/health", get(|| async { "ok" }))
        .route_layer(KeyedCircuitBreakerRouteLayer::new(routes.clone(), PathKey));
    let addr = serve(app).await;
    let http = client();
    for path in ["/users/1", "/users/2", "/users/3", "/health"] {
        let r = http
            .get(format!("http://{addr}{path}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    let mut keys: Vec<String> = routes
        .breakers()
        .iter()
        .map(|b| b.key().unwrap().to_owned())
        .collect();
    keys.sort();
    assert_eq!(
        keys,
        ["/health", "/users/{id}"],
        "one breaker per route template"
    );

    let to_host = http::Request::get("http://calendar.example:8080/events")
        .body(())
        .unwrap();
    assert_eq!(
        HostKey.extract(&to_host).as_deref(),
        Some("calendar.example")
    );
    let by_header = http::Request::get("/events")
        .header("host", "telephony.example")
        .body(())
        .unwrap();
    assert_eq!(
        HostKey.extract(&by_header).as_deref(),
        Some("telephony.example")
    );
    assert_eq!(PathKey.extract(&by_header).as_deref(), Some("/events"));
}

#[tokio::test]
async fn a_tenant_sent_as_utf8_bytes_keeps_its_own_breaker() {
    let tenants = calendar_tenants(2);
    // müller's integration is broken; every other tenant, and keyless requests, work.
    let app = Router::new()
        .route(
            "/events",
            get(|headers: HeaderMap| async move {
                match headers.get("x-tenant-id") {
                    Some(t) if t.as_bytes() == "müller".as_bytes() => StatusCode::BAD_GATEWAY,
                    _ => StatusCode::OK,
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
    let tenant = |bytes: &'static [u8]| {
        http.get(&url)
            .header("x-tenant-id", http::HeaderValue::from_bytes(bytes).unwrap())
            .send()
    };
    for _ in 0..2 {
        assert_eq!(tenant("müller".as_bytes()).await.unwrap().status(), 502);
    }
    let rejected = tenant("müller".as_bytes()).await.unwrap();
    assert_eq!(rejected.status(), 503);
    let body: serde_json::Value = serde_json::from_slice(&rejected.bytes().await.unwrap()).unwrap();
    assert_eq!(body["tenant_id"], "müller");
    // Another non-ASCII tenant, a Latin-1 one and keyless requests are not merged with it.
    assert_eq!(tenant("øster".as_bytes()).await.unwrap().status(), 200);
    assert_eq!(tenant(b"m\xfcller").await.unwrap().status(), 200);
    assert_eq!(http.get(&url).send().await.unwrap().status(), 200);
    assert_eq!(tenants.len(), 3);
}
