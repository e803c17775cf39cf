//! `PrometheusExporter`: its settings, the scrape text, and the `/metrics` route.
#![cfg(feature = "axum")]

use fusebox_core::{CircuitState, Event, EventBus, EventKind, TransitionReason};
use fusebox_metrics::{
    ExporterError, MetricsLayer, PrometheusExporter, CONTENT_TYPE_TEXT, DEFAULT_DURATION_BUCKETS,
};
use http_body_util::BodyExt;
use std::error::Error;
use std::time::Duration;
use tower::{service_fn, Layer, ServiceExt};

#[tokio::test]
async fn the_route_serves_the_scrape_text() {
    let (exporter, recorder) = PrometheusExporter::builder().build().unwrap();
    let layer = metrics::with_local_recorder(&recorder, || MetricsLayer::new("calendar"));
    let service = layer.layer(service_fn(|()| async { Ok::<_, std::io::Error>(()) }));
    service.oneshot(()).await.unwrap();

    let app: axum::Router = exporter.router();
    let request = http::Request::get("/metrics")
        .body(axum::body::Body::empty())
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], CONTENT_TYPE_TEXT);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let text = String::from_utf8(body.to_vec()).unwrap();
    assert!(
        text.contains(r#"fusebox_calls_total{service="calendar",outcome="success"} 1"#),
        "{text}"
    );
    let elsewhere = http::Request::get("/other")
        .body(axum::body::Body::empty())
        .unwrap();
    assert_eq!(app.oneshot(elsewhere).await.unwrap().status(), 404);
}

#[tokio::test(start_paused = true)]
async fn a_scrape_brings_the_seconds_in_state_up_to_date() {
    let (exporter, recorder) = PrometheusExporter::builder().build().unwrap();
    let bus = EventBus::new();
    let _subscription = bus.subscribe(exporter.events().clone());
    metrics::with_local_recorder(&recorder, || {
        bus.emit(|| {
            Event::new(
                "payments",
                EventKind::StateTransition {
                    from: CircuitState::Closed,
                    to: CircuitState::Open,
                    reason: TransitionReason::ProbeFailed,
                },
            )
        });
    });
    tokio::time::advance(Duration::from_secs(7)).await;
    let text = exporter.render();
    assert!(
        text.contains(r#"fusebox_breaker_state_seconds{breaker="payments",state="open"} 7"#),
        "{text}"
    );
    for never in ["half_open", "forced_open", "disabled"] {
        let series =
            format!(r#"fusebox_breaker_state_seconds{{breaker="payments",state="{never}"}} 0"#);
        assert!(
            text.contains(&series),
            "every state's series from the start: {text}"
        );
    }
}

#[test]
fn keys_are_labelled_when_asked() {
    let (exporter, recorder) = PrometheusExporter::builder().label_keys(1).build().unwrap();
    let bus = EventBus::new();
    let _subscription = bus.subscribe(exporter.events().clone());
    metrics::with_local_recorder(&recorder, || {
        for key in ["acme", "globex"] {
            bus.emit(|| Event::new("tenants", EventKind::CallIgnored).with_key(Some(key)));
        }
    });
    let text = exporter.render();
    assert!(text.contains(r#"key="acme""#), "{text}");
    assert!(text.contains(r#"key="__other__""#), "{text}");
    assert!(!text.contains(r#"key="globex""#), "{text}");
}

#[test]
fn invalid_settings_name_their_field() {
    let field = |b: fusebox_metrics::PrometheusExporterBuilder| {
        b.build().map(drop).unwrap_err().field().to_owned()
    };
    let buckets = |b: &[f64]| PrometheusExporter::builder().duration_buckets(b);
    assert_eq!(field(buckets(&[])), "duration_buckets");
    assert_eq!(field(buckets(&[0.5, 0.25])), "duration_buckets");
    assert_eq!(field(buckets(&[0.5, 0.5])), "duration_buckets");
    assert_eq!(field(buckets(&[0.0, 1.0])), "duration_buckets");
    assert_eq!(field(buckets(&[1.0, f64::INFINITY])), "duration_buckets");
    assert_eq!(field(buckets(&[f64::NAN])), "duration_buckets");
    assert!(buckets(&[0.001]).build().is_ok());
    assert!(buckets(&DEFAULT_DURATION_BUCKETS).build().is_ok());
    let upkeep = |d| PrometheusExporter::builder().upkeep_interval(d);
    assert_eq!(field(upkeep(Duration::from_micros(999))), "upkeep_interval");
    assert!(upkeep(Duration::from_millis(1)).build().is_ok());
    assert!(upkeep(Duration::MAX).build().is_ok());
}

#[test]
fn the_buckets_given_are_the_buckets_exported() {
    let (exporter, recorder) = PrometheusExporter::builder()
        .duration_buckets(&[0.125, 4.0])
        .build()
        .unwrap();
    let layer = metrics::with_local_recorder(&recorder, || MetricsLayer::new("maps"));
    let service = layer.layer(service_fn(|()| async { Ok::<_, std::io::Error>(()) }));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    runtime.block_on(service.oneshot(())).unwrap();
    exporter.run_upkeep();
    let text = exporter.handle().render();
    for bound in ["0.125", "4", "+Inf"] {
        assert!(
            text.contains(&format!(
                r#"fusebox_call_duration_seconds_bucket{{service="maps",le="{bound}"}} 1"#
            )),
            "{text}"
        );
    }
    assert!(!text.contains(r#"le="0.005""#), "not the defaults: {text}");
}

#[test]
fn an_install_error_says_why() {
    let invalid = ExporterError::from(
        PrometheusExporter::builder()
            .duration_buckets(&[])
            .build()
            .map(drop)
            .unwrap_err(),
    );
    assert!(
        invalid.to_string().starts_with("duration_buckets must be"),
        "{invalid}"
    );
    assert!(invalid.source().is_some());
    let taken = ExporterError::RecorderInstalled;
    assert!(taken.to_string().contains("already installed"), "{taken}");
    assert!(taken.source().is_none());
}

#[test]
fn a_second_install_is_refused() {
    let first = PrometheusExporter::install();
    assert!(first.is_ok(), "the first recorder of this test binary");
    let second = PrometheusExporter::install().map(drop).unwrap_err();
    assert!(
        matches!(second, ExporterError::RecorderInstalled),
        "{second}"
    );
    let invalid = PrometheusExporter::builder()
        .duration_buckets(&[])
        .install()
        .map(drop)
        .unwrap_err();
    assert!(matches!(invalid, ExporterError::Invalid(_)), "{invalid}");
}
