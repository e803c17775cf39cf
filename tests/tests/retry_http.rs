//! Retry on a real HTTP client (hyper) against a real axum server on 127.0.0.1.

use axum::{body::Bytes, extract::State, http::HeaderMap, routing::any, Router};
use fusebox::core::{Event, EventKind, GiveUpReason};
use fusebox::retry::http::{BufferBodyLayer, ReplayBody};
use fusebox::retry::{Backoff, RetryLayer};
use fusebox_tests::serve;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tower::{BoxError, ServiceBuilder, ServiceExt};

/// What the server saw of each request.
#[derive(Clone, Debug, PartialEq)]
struct Seen {
    method: String,
    request_id: Option<String>,
    body: Bytes,
}

#[derive(Clone)]
struct Upstream {
    seen: Arc<Mutex<Vec<Seen>>>,
    failures: usize,
    retry_after: Option<&'static str>,
}

async fn handler(
    State(up): State<Upstream>,
    method: axum::http::Method,
    headers: HeaderMap,
    body: Bytes,
) -> axum::response::Response {
    let n = {
        let mut seen = up.seen.lock().unwrap();
        seen.push(Seen {
            method: method.to_string(),
            request_id: headers
                .get("x-request-id")
                .map(|v| v.to_str().unwrap().to_owned()),
            body,
        });
        seen.len()
    };
    let mut response = axum::response::Response::new(axum::body::Body::from("ok"));
    if n <= up.failures {
        *response.status_mut() = axum::http::StatusCode::SERVICE_UNAVAILABLE;
        if let Some(v) = up.retry_after {
            response
                .headers_mut()
                .insert("retry-after", v.parse().unwrap());
        }
    }
    response
}

async fn upstream(
    failures: usize,
    retry_after: Option<&'static str>,
) -> (String, Arc<Mutex<Vec<Seen>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let state = Upstream {
        seen: seen.clone(),
        failures,
        retry_after,
    };
    let addr = serve(Router::new().route("/", any(handler)).with_state(state)).await;
    (format!("http://{addr}/"), seen)
}

type Log = Arc<Mutex<Vec<(Option<String>, EventKind)>>>;

fn client_stack(
    limit: usize,
    attempts: u32,
) -> (
    Log,
    impl tower::Service<
            http::Request<Full<Bytes>>,
            Response = http::Response<hyper::body::Incoming>,
            Error = BoxError,
            Future: Send,
        > + Clone,
) {
    let log: Log = Arc::new(Mutex::new(Vec::new()));
    let sink = log.clone();
    let client = Client::builder(TokioExecutor::new()).build_http::<ReplayBody<Full<Bytes>>>();
    let retry = RetryLayer::builder("upstream")
        .http()
        .backoff(Backoff::constant(Duration::from_millis(200)))
        .max_attempts(attempts)
        .on_event(move |e: &Event<'_>| {
            sink.lock()
                .unwrap()
                .push((e.correlation_id.map(str::to_owned), e.kind));
        })
        .build()
        .unwrap();
    let stack = ServiceBuilder::new()
        .layer(BufferBodyLayer::new(limit))
        .layer(retry)
        .service(client);
    (log, stack)
}

fn request(method: &str, url: &str, body: &'static str) -> http::Request<Full<Bytes>> {
    http::Request::builder()
        .method(method)
        .uri(url)
        .header("x-request-id", "req-42")
        .body(Full::new(Bytes::from_static(body.as_bytes())))
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn succeeds_after_k_failures_with_exactly_k_plus_one_requests() {
    let (url, seen) = upstream(3, None).await;
    let (log, client) = client_stack(1024, 5);
    let response = client.oneshot(request("GET", &url, "")).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.into_body().collect().await.unwrap().to_bytes(),
        "ok"
    );
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 4);
    assert!(
        seen.iter()
            .all(|s| s.request_id.as_deref() == Some("req-42")),
        "every attempt keeps the correlation id: {seen:?}"
    );
    let log = log.lock().unwrap();
    assert!(log.iter().all(|(id, _)| id.as_deref() == Some("req-42")));
    assert_eq!(
        log.last().unwrap().1,
        EventKind::RetrySucceeded { attempts: 4 }
    );
}

#[tokio::test(start_paused = true)]
async fn retry_after_from_the_server_sets_the_wait() {
    let (url, seen) = upstream(2, Some("2")).await;
    let (_, client) = client_stack(1024, 5);
    let started = tokio::time::Instant::now();
    let response = client.oneshot(request("GET", &url, "")).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(seen.lock().unwrap().len(), 3);
    let waited = tokio::time::Instant::now() - started;
    assert!(
        waited >= Duration::from_secs(4) && waited < Duration::from_millis(4_400),
        "two waits of 2 s, not the 200 ms backoff: {waited:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_post_without_opt_in_is_sent_once() {
    let (url, seen) = upstream(5, None).await;
    let (log, client) = client_stack(1024, 5);
    let response = client
        .oneshot(request("POST", &url, "order"))
        .await
        .unwrap();
    assert_eq!(response.status(), 503, "the failure is returned as is");
    assert_eq!(seen.lock().unwrap().len(), 1);
    assert_eq!(
        log.lock().unwrap().last().unwrap().1,
        EventKind::RetryGaveUp {
            attempts: 1,
            reason: GiveUpReason::NotIdempotent
        }
    );
}

#[tokio::test(start_paused = true)]
async fn an_opted_in_post_is_resent_with_the_same_body() {
    let (url, seen) = upstream(2, None).await;
    let (_, client) = client_stack(1024, 5);
    let mut req = request("POST", &url, "order #7");
    req.headers_mut()
        .insert("idempotency-key", "k-7".parse().unwrap());
    assert_eq!(client.oneshot(req).await.unwrap().status(), 200);
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 3);
    assert!(seen
        .iter()
        .all(|s| s.body == "order #7" && s.method == "POST"));
}

#[tokio::test(start_paused = true)]
async fn a_body_over_the_limit_is_sent_once_and_says_why() {
    let (url, seen) = upstream(5, None).await;
    let (log, client) = client_stack(4, 5);
    let response = client
        .oneshot(request("PUT", &url, "twelve bytes"))
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].body, "twelve bytes", "the body still arrives whole");
    assert_eq!(
        log.lock().unwrap().last().unwrap().1,
        EventKind::RetryGaveUp {
            attempts: 1,
            reason: GiveUpReason::BodyTooLarge
        }
    );
}
