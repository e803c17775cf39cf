//! The health routes over real HTTP on 127.0.0.1 (a real axum server, hyper's client): the
//! JSON shape field by field, readiness and startup going 503 and back while liveness stays
//! 200, details behind the bearer token, one check, its history, predictions; and the cache,
//! in process on paused time.

use axum::Router;
use fusebox_health::{CheckSettings, FnCheck, HealthRegistry, HealthRoutes, Probe, Running};
use http::{header, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

const PASS: u8 = 0;
const FAIL: u8 = 1;
/// The probe does not end until the switch changes.
const HANG: u8 = 2;

/// A check whose outcome a test sets: passing with an observed 12.5 ms, failing with
/// `refused`, or hanging.
fn switch(name: &str, state: &Arc<AtomicU8>) -> FnCheck<impl Fn() -> ProbeFuture + Send + Sync> {
    let state = state.clone();
    FnCheck::new(name, move || {
        let state = state.clone();
        Box::pin(async move {
            loop {
                match state.load(Ordering::SeqCst) {
                    PASS => return Probe::pass().observed(12.5, "ms"),
                    FAIL => return Probe::fail("refused"),
                    _ => tokio::time::sleep(Duration::from_millis(5)).await,
                }
            }
        }) as ProbeFuture
    })
}

type ProbeFuture = std::pin::Pin<Box<dyn std::future::Future<Output = Probe> + Send>>;

fn quick() -> CheckSettings {
    CheckSettings::default()
        .interval(Duration::from_millis(10))
        .failing_interval(Duration::from_millis(10))
        .timeout(Duration::from_secs(30))
        .jitter(0.0)
}

struct App {
    addr: std::net::SocketAddr,
    registry: HealthRegistry,
    calendar: Arc<AtomicU8>,
    cache: Arc<AtomicU8>,
    _running: Running,
}

/// A registry of a critical `calendar:responseTime`, a non-critical `cache` (failing), and
/// `appointments` depending on `calendar`, served with `routes` applied.
async fn app(calendar: u8, routes: impl FnOnce(HealthRoutes) -> HealthRoutes) -> App {
    let calendar = Arc::new(AtomicU8::new(calendar));
    let cache = Arc::new(AtomicU8::new(FAIL));
    let registry = HealthRegistry::builder()
        .check(switch("calendar:responseTime", &calendar), quick())
        .check(switch("cache", &cache), quick().critical(false))
        .depends_on("appointments", ["calendar"])
        .build()
        .unwrap();
    let running = registry.start();
    let router: Router = routes(HealthRoutes::new(registry.clone()).cache_for(Duration::ZERO))
        .build()
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    App {
        addr,
        registry,
        calendar,
        cache,
        _running: running,
    }
}

/// Waits (up to 10 s) until `done` holds, woken by each change of a check's status.
async fn until(registry: &HealthRegistry, what: &str, done: impl Fn(&HealthRegistry) -> bool) {
    let mut changes = registry.changes();
    let wait = async {
        while !done(registry) {
            changes.changed().await.unwrap();
        }
    };
    tokio::time::timeout(Duration::from_secs(10), wait)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"));
}

fn probed(registry: &HealthRegistry) -> bool {
    registry.checks().iter().all(|c| c.latest.is_some())
}

struct Answer {
    status: StatusCode,
    headers: http::HeaderMap,
    json: Value,
}

async fn get(addr: std::net::SocketAddr, path: &str, token: Option<&str>) -> Answer {
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<bytes::Bytes>>();
    let mut request = http::Request::get(format!("http://{addr}{path}"));
    if let Some(token) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let response = client
        .request(request.body(Empty::new()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let json = serde_json::from_slice(&body)
        .unwrap_or_else(|e| panic!("{path}: not JSON ({e}): {body:?}"));
    Answer {
        status,
        headers,
        json,
    }
}

#[tokio::test]
async fn health_is_the_ietf_shape_field_by_field() {
    let app = app(PASS, |r| r).await;
    until(&app.registry, "the first probes", probed).await;
    let answer = get(app.addr, "/health", None).await;
    assert_eq!(
        answer.status,
        StatusCode::OK,
        "a non-critical failure only warns"
    );
    assert_eq!(
        answer.headers[header::CONTENT_TYPE],
        "application/health+json"
    );
    let json = &answer.json;
    assert_eq!(json["status"], "warn");
    let checks = json["checks"].as_object().unwrap();
    let mut keys: Vec<&str> = checks.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "appointments:dependencies",
            "cache",
            "calendar:responseTime"
        ]
    );
    let calendar = &checks["calendar:responseTime"][0];
    assert_eq!(calendar["status"], "pass");
    assert_eq!(calendar["componentId"], "calendar");
    assert_eq!(calendar["observedValue"], 12.5);
    assert_eq!(calendar["observedUnit"], "ms");
    assert_eq!(calendar["critical"], true);
    assert_eq!(calendar["score"], 100);
    assert!(calendar.get("output").is_none(), "{calendar}");
    let time = calendar["time"].as_str().unwrap();
    let parsed = humantime::parse_rfc3339(time).expect("RFC 3339");
    let age = std::time::SystemTime::now().duration_since(parsed).unwrap();
    assert!(age < Duration::from_secs(10), "{time}");
    let cache = &checks["cache"][0];
    assert_eq!(cache["status"], "fail");
    assert_eq!(cache["output"], "refused");
    assert_eq!(cache["critical"], false);
    assert_eq!(
        cache["observedUnit"], "ms",
        "its latency, observed by the registry"
    );
    let appointments = &checks["appointments:dependencies"][0];
    assert_eq!(appointments["status"], "pass");
    assert_eq!(appointments["componentType"], "component");

    // The calendar fails: the service fails, and appointments names it as the cause.
    app.calendar.store(FAIL, Ordering::SeqCst);
    until(&app.registry, "the calendar failing", |r| !r.is_ready()).await;
    let answer = get(app.addr, "/health", None).await;
    assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(answer.json["status"], "fail");
    let appointments = &answer.json["checks"]["appointments:dependencies"][0];
    assert_eq!(appointments["status"], "warn");
    assert_eq!(
        appointments["output"],
        "degraded: depends on `calendar`, which fails"
    );
}

#[tokio::test]
async fn readiness_and_startup_follow_the_checks_and_liveness_never_does() {
    let app = app(HANG, |r| r).await;
    let status = |path: &'static str| async move { get(app.addr, path, None).await.status };
    // The first probe of the critical check has not ended: not started, not ready, but live.
    assert_eq!(
        status("/health/startup").await,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(
        status("/health/ready").await,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(status("/health/live").await, StatusCode::OK);
    app.calendar.store(PASS, Ordering::SeqCst);
    until(&app.registry, "the first probes", probed).await;
    assert_eq!(status("/health/startup").await, StatusCode::OK);
    let ready = get(app.addr, "/health/ready", None).await;
    assert_eq!(ready.status, StatusCode::OK);
    assert_eq!(
        ready.json["status"], "warn",
        "the cache fails, but is not critical"
    );
    app.cache.store(PASS, Ordering::SeqCst);
    until(&app.registry, "the cache passing", |r| {
        r.latest("cache")
            .is_some_and(|c| c.status() == fusebox_health::Status::Pass)
    })
    .await;
    assert_eq!(
        get(app.addr, "/health/ready", None).await.json["status"],
        "pass"
    );

    app.calendar.store(FAIL, Ordering::SeqCst);
    until(&app.registry, "the calendar failing", |r| !r.is_ready()).await;
    let ready = get(app.addr, "/health/ready", None).await;
    assert_eq!(ready.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(ready.json["output"], "failing: calendar:responseTime");
    let live = get(app.addr, "/health/live", None).await;
    assert_eq!(
        (live.status, live.json["status"].as_str()),
        (StatusCode::OK, Some("pass"))
    );
    assert_eq!(
        status("/health/startup").await,
        StatusCode::OK,
        "started once, started"
    );

    app.calendar.store(PASS, Ordering::SeqCst);
    until(&app.registry, "the calendar back", HealthRegistry::is_ready).await;
    assert_eq!(status("/health/ready").await, StatusCode::OK);
}

#[tokio::test]
async fn details_need_the_bearer_token_and_status_codes_do_not() {
    let app = app(FAIL, |r| r.bearer_token("s3cret")).await;
    until(&app.registry, "the first probes", probed).await;
    // Missing, wrong, too short, too long, and two of the right length: one byte off, and two
    // bytes off whose differences cancel out in an exclusive or.
    for token in [
        None,
        Some("wrong"),
        Some("s3cre"),
        Some("s3cret!"),
        Some("s3crez"),
        Some("r2cret"),
    ] {
        let answer = get(app.addr, "/health", token).await;
        assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE, "{token:?}");
        let calendar = &answer.json["checks"]["calendar:responseTime"][0];
        let fields: Vec<&str> = calendar
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(fields, ["status", "time"], "{token:?}: {calendar}");
        let ready = get(app.addr, "/health/ready", token).await;
        assert_eq!(ready.status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(ready.json.get("output").is_none());
        let one = get(app.addr, "/health/checks/cache", token).await;
        assert_eq!(
            one.status,
            StatusCode::OK,
            "a non-critical failure is not a 503"
        );
        assert!(one.json.get("stats").is_none() && one.json.get("output").is_none());
        for hidden in ["/health/history/cache", "/health/predictions"] {
            let answer = get(app.addr, hidden, token).await;
            assert_eq!(
                answer.status,
                StatusCode::UNAUTHORIZED,
                "{hidden} {token:?}"
            );
            assert_eq!(answer.headers[header::WWW_AUTHENTICATE], "Bearer");
        }
    }
    let answer = get(app.addr, "/health", Some("s3cret")).await;
    let calendar = &answer.json["checks"]["calendar:responseTime"][0];
    assert_eq!(calendar["output"], "refused");
    assert_eq!(calendar["critical"], true);
    assert_eq!(
        get(app.addr, "/health/ready", Some("s3cret")).await.json["output"],
        "failing: calendar:responseTime"
    );
    let predictions = get(app.addr, "/health/predictions", Some("s3cret")).await;
    assert_eq!(predictions.status, StatusCode::OK);
    assert!(predictions.json["predictions"].is_array());
}

#[tokio::test]
async fn one_check_and_its_history() {
    let app = app(PASS, |r| r).await;
    until(&app.registry, "the first probes", probed).await;
    let one = get(app.addr, "/health/checks/calendar:responseTime", None).await;
    assert_eq!(one.status, StatusCode::OK);
    assert_eq!(one.json["name"], "calendar:responseTime");
    assert_eq!(one.json["status"], "pass");
    let stats = &one.json["stats"];
    assert_eq!(stats["windowSeconds"], 3_600);
    assert!(stats["samples"].as_u64().unwrap() >= 1);
    assert_eq!(stats["uptime"], 1.0);
    assert_eq!(stats["failures"], 0);
    assert!(stats["latency"]["p95Ms"].as_f64().unwrap() >= 0.0);
    let cache = get(app.addr, "/health/checks/cache", None).await;
    assert_eq!(cache.json["stats"]["uptime"], 0.0);
    assert_eq!(cache.json["stats"]["latency"], Value::Null);
    let missing = get(app.addr, "/health/checks/nothing", None).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.json["error"], "no check named `nothing`");

    let history = get(app.addr, "/health/history/cache?minutes=5", None).await;
    assert_eq!(history.status, StatusCode::OK);
    assert_eq!(
        (
            history.json["name"].as_str(),
            history.json["minutes"].as_u64()
        ),
        (Some("cache"), Some(5))
    );
    assert_eq!(history.json["stats"]["windowSeconds"], 300);
    let samples = history.json["samples"].as_array().unwrap();
    assert!(!samples.is_empty());
    assert!(samples.iter().all(|s| s["status"] == "fail"), "{samples:?}");
    assert!(samples[0]["time"].as_str().unwrap().ends_with('Z'));
    assert!(samples[0]["latencyMs"].as_f64().is_some());
    let bad = get(app.addr, "/health/history/cache?minutes=0", None).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        bad.json["error"],
        "`minutes` must be a whole number from 1 to 10080, got `0`"
    );
    let missing = get(app.addr, "/health/history/nothing", None).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}

#[test]
fn bad_settings_are_named() {
    let registry = HealthRegistry::builder().build().unwrap();
    let build = |routes: HealthRoutes| routes.build::<()>().unwrap_err().field().to_owned();
    let routes = || HealthRoutes::new(registry.clone());
    assert_eq!(
        build(routes().cache_for(Duration::from_millis(1_001))),
        "cache_for"
    );
    assert_eq!(build(routes().bearer_token("")), "bearer_token");
    assert_eq!(build(routes().bearer_token("has space")), "bearer_token");
    assert!(routes()
        .cache_for(Duration::from_secs(1))
        .build::<()>()
        .is_ok());
}

/// In process, on paused time: a response is served from the cache until its period ends,
/// however the checks changed meanwhile.
#[tokio::test(start_paused = true)]
async fn a_storm_of_scrapes_is_answered_from_the_cache_for_its_period() {
    use tower::ServiceExt;
    let calendar = Arc::new(AtomicU8::new(PASS));
    let registry = HealthRegistry::builder()
        .check(switch("calendar", &calendar), quick())
        .build()
        .unwrap();
    let _running = registry.start();
    let router: Router = HealthRoutes::new(registry.clone())
        .cache_for(Duration::from_millis(500))
        .build()
        .unwrap();
    let status = |path: &'static str| {
        let router = router.clone();
        async move {
            let request = http::Request::get(path)
                .body(axum::body::Body::empty())
                .unwrap();
            router.oneshot(request).await.unwrap().status()
        }
    };
    tokio::time::sleep(Duration::from_millis(1)).await;
    assert!(registry.is_ready());
    assert_eq!(status("/health/ready").await, StatusCode::OK);
    calendar.store(FAIL, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(!registry.is_ready(), "the registry saw the failure");
    for _ in 0..100 {
        assert_eq!(status("/health/ready").await, StatusCode::OK, "cached");
    }
    // Another route has its own entry, rendered now.
    assert_eq!(status("/health").await, StatusCode::SERVICE_UNAVAILABLE);
    tokio::time::sleep(Duration::from_millis(480)).await;
    assert_eq!(
        status("/health/ready").await,
        StatusCode::SERVICE_UNAVAILABLE
    );
}

/// On paused time: a check whose probes slow down is flagged by the registry's predictions,
/// and `/health/predictions` serves them.
#[tokio::test(start_paused = true)]
async fn a_slowing_check_is_predicted_and_served() {
    use tower::ServiceExt;
    let delay_ms = Arc::new(std::sync::atomic::AtomicU64::new(100));
    let delay = delay_ms.clone();
    let slowing = FnCheck::new("calendar:responseTime", move || {
        let ms = delay.load(Ordering::SeqCst);
        async move {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            Probe::pass()
        }
    });
    let settings = CheckSettings::default()
        .interval(Duration::from_secs(30))
        .timeout(Duration::from_secs(5))
        .jitter(0.0);
    let registry = HealthRegistry::builder()
        .check(slowing, settings)
        .build()
        .unwrap();
    let running = registry.start();
    let probes = |n: usize| {
        let registry = registry.clone();
        async move {
            for _ in 0..n {
                tokio::time::sleep(Duration::from_secs(30)).await;
            }
            registry.checks()
        }
    };
    probes(25).await;
    assert_eq!(registry.predictions(), []);
    delay_ms.store(200, Ordering::SeqCst);
    probes(2).await;
    let predictions = registry.predictions();
    assert_eq!(predictions.len(), 1, "{predictions:?}");
    assert_eq!(
        predictions[0].kind,
        fusebox_health::PredictionKind::LatencyAboveBand
    );
    assert!(predictions[0]
        .message
        .starts_with("the last 2 probes took 200.0ms or more"));

    let router: Router = HealthRoutes::new(registry.clone()).build().unwrap();
    let request = http::Request::get("/health/predictions")
        .body(axum::body::Body::empty())
        .unwrap();
    let response = router.oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let json: Value = serde_json::from_slice(&body).unwrap();
    let served = &json["predictions"][0];
    assert_eq!(served["check"], "calendar:responseTime");
    assert_eq!(served["kind"], "latency_above_band");
    assert_eq!(served["message"], predictions[0].message.as_str());
    assert_eq!(
        served["recommendation"],
        predictions[0].recommendation.as_str()
    );
    running.stop().await;
}
