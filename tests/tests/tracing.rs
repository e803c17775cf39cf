//! What fusebox tells `tracing`, through a real HTTP client to a real axum server: nothing per
//! call while healthy at `INFO`, the outage at `WARN`, and at `DEBUG` every attempt's span
//! naming the retry, the attempt, the breaker and the correlation id that the upstream saw.
//!
//! One test in its binary: tracing caches per-callsite interest process-wide, so a test
//! without a subscriber running beside it could hide these spans.

use axum::{extract::State, http::HeaderMap, routing::get, Router};
use bytes::Bytes;
use fusebox::breaker::{Breaker, CircuitBreakerLayer, CircuitOpen};
use fusebox::core::{CorrelationLayer, HttpClassifier};
use fusebox::retry::http::{BufferBodyLayer, ReplayBody};
use fusebox::retry::{Backoff, RetryLayer};
use fusebox_testkit::Captured;
use fusebox_tests::serve;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tower::{BoxError, ServiceBuilder, ServiceExt};

#[derive(Clone)]
struct Upstream {
    request_ids: Arc<Mutex<Vec<Option<String>>>>,
    /// Fail every other request (the first of each pair) while set; fail all when `down`.
    flaky: Arc<AtomicBool>,
    down: Arc<AtomicBool>,
}

async fn handler(State(up): State<Upstream>, headers: HeaderMap) -> axum::http::StatusCode {
    let n = {
        let mut ids = up.request_ids.lock().unwrap();
        ids.push(
            headers
                .get("x-request-id")
                .map(|v| v.to_str().unwrap().to_owned()),
        );
        ids.len()
    };
    let fail = up.down.load(Ordering::SeqCst) || (up.flaky.load(Ordering::SeqCst) && n % 2 == 1);
    if fail {
        axum::http::StatusCode::SERVICE_UNAVAILABLE
    } else {
        axum::http::StatusCode::OK
    }
}

fn request(url: &str, id: Option<&str>) -> http::Request<Full<Bytes>> {
    let mut builder = http::Request::builder().uri(url);
    if let Some(id) = id {
        builder = builder.header("x-request-id", id);
    }
    builder.body(Full::new(Bytes::new())).unwrap()
}

#[tokio::test(start_paused = true)]
async fn healthy_is_silent_an_outage_warns_and_debug_spans_carry_the_correlation_id() {
    let up = Upstream {
        request_ids: Arc::default(),
        flaky: Arc::default(),
        down: Arc::default(),
    };
    let addr = serve(
        Router::new()
            .route("/", get(handler))
            .with_state(up.clone()),
    )
    .await;
    let url = format!("http://{addr}/");
    let breaker = Breaker::builder("payments")
        .consecutive_failures(3)
        .open_duration(Duration::from_secs(30))
        .build()
        .unwrap();
    let client = Client::builder(TokioExecutor::new()).build_http::<ReplayBody<Full<Bytes>>>();
    let stack = ServiceBuilder::new()
        .layer(CorrelationLayer::new())
        .layer(BufferBodyLayer::new(1024))
        .layer(
            RetryLayer::builder("payments")
                .http()
                .backoff(Backoff::constant(Duration::from_millis(50)))
                .max_attempts(2)
                // An open circuit ends the call rather than waiting out its 30 s.
                .max_retry_after(Duration::from_secs(1))
                .build()
                .unwrap(),
        )
        .layer(CircuitBreakerLayer::new(breaker.clone()).classifier(HttpClassifier::new()))
        .service(client);
    let call = |id: Option<&str>| stack.clone().oneshot(request(&url, id));

    // At INFO, healthy calls log nothing.
    let info = Captured::default();
    {
        let _guard = tracing::subscriber::set_default(info.subscriber(tracing::Level::INFO));
        for _ in 0..20 {
            assert_eq!(call(None).await.unwrap().status(), 200);
        }
        assert_eq!(info.text(), "", "a healthy service logs nothing per call");

        // An outage: two WARN lines, the retry giving up (at most once every ten seconds) and
        // the breaker opening; the rejections that follow add nothing.
        up.down.store(true, Ordering::SeqCst);
        for _ in 0..20 {
            let _ = call(None).await;
        }
        let log = info.text();
        let lines: Vec<&str> = log.lines().collect();
        assert_eq!(lines.len(), 2, "{log}");
        assert!(lines.iter().all(|l| l.contains("WARN")), "{log}");
        assert!(lines[0].contains("retries are giving up"), "{log}");
        assert!(lines[0].contains("retry=\"payments\""), "{log}");
        assert!(lines[1].contains("circuit breaker opened"), "{log}");
        assert!(lines[1].contains("breaker=\"payments\""), "{log}");
    }

    // The rejection names the call's correlation id, in its message and its fields.
    let debug = Captured::default();
    {
        let _guard = tracing::subscriber::set_default(debug.subscriber(tracing::Level::DEBUG));
        let error: BoxError = call(Some("req-7")).await.unwrap_err();
        let open = CircuitOpen::find(error.as_ref()).expect("a rejection");
        assert_eq!(open.correlation_id().map(|id| id.as_str()), Some("req-7"));
        assert!(
            error.to_string().ends_with("(correlation id req-7)"),
            "{error}"
        );
        let log = debug.text();
        assert!(
            log.lines()
                .any(|l| l.contains("call rejected") && l.contains("correlation_id=\"req-7\"")),
            "{log}"
        );

        // Recovered and flaky: the first attempt fails, the second succeeds; both spans name the
        // attempt, the breaker and the id, and the upstream saw the same id twice.
        breaker.reset();
        up.down.store(false, Ordering::SeqCst);
        up.flaky.store(true, Ordering::SeqCst);
        let before = up.request_ids.lock().unwrap().len();
        // The next request is the upstream's (before + 1)th: make it odd, so it fails.
        if before % 2 == 1 {
            up.request_ids.lock().unwrap().push(None);
        }
        assert_eq!(call(Some("req-8")).await.unwrap().status(), 200);
    }
    let ids = up.request_ids.lock().unwrap().clone();
    assert_eq!(
        ids[ids.len() - 2..],
        [Some("req-8".to_owned()), Some("req-8".to_owned())],
        "every attempt carries the id: {ids:?}"
    );
    let log = debug.text();
    let retried: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("attempt failed, retrying"))
        .collect();
    assert_eq!(retried.len(), 1, "{log}");
    for expected in [
        "fusebox_call{correlation_id=\"req-8\"",
        "retry_attempt{retry=\"payments\" attempt=1 correlation_id=\"req-8\"",
        "breaker=\"payments\" probe=false outcome=\"failure\"",
    ] {
        assert!(
            retried[0].contains(expected),
            "missing {expected}: {}",
            retried[0]
        );
    }
    // A call without an id got a generated one, on the request the upstream saw.
    let generated = ids[0].as_deref().expect("an id was generated");
    assert_eq!(generated.len(), 32, "{generated}");
}
