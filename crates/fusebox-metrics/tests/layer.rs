//! `MetricsLayer` and `StreamingMetricsLayer` as a caller sees them, read back from a recorder.

mod support;

use fusebox_core::Outcome;
use fusebox_metrics::names::{CALLS, CALLS_IN_FLIGHT, CALL_DURATION};
use fusebox_metrics::MetricsLayer;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll};
use std::time::Duration;
use support::Recorded;
use tower::{service_fn, Layer, Service, ServiceExt};

fn calls(recorded: &Recorded, service: &str, outcome: &str) -> Option<u64> {
    recorded.counter(CALLS, &[("service", service), ("outcome", outcome)])
}

fn in_flight(recorded: &Recorded, service: &str) -> Option<f64> {
    recorded.gauge(CALLS_IN_FLIGHT, &[("service", service)])
}

/// A service that takes `millis` of (paused) time and fails when asked to.
async fn timed(millis: u64, fail: bool) -> Result<&'static str, std::io::Error> {
    tokio::time::sleep(Duration::from_millis(millis)).await;
    if fail {
        Err(std::io::Error::other("upstream failed"))
    } else {
        Ok("done")
    }
}

#[tokio::test(start_paused = true)]
async fn calls_are_counted_by_outcome_and_timed_in_seconds() {
    let recorded = Recorded::new();
    let layer = recorded.local(|| MetricsLayer::new("geocoder"));
    let service = layer.layer(service_fn(|(millis, fail)| timed(millis, fail)));
    assert_eq!(
        calls(&recorded, "geocoder", "success"),
        Some(0),
        "resolved when made"
    );

    for _ in 0..3 {
        service.clone().oneshot((250, false)).await.unwrap();
    }
    for _ in 0..2 {
        service.clone().oneshot((1_500, true)).await.unwrap_err();
    }
    assert_eq!(calls(&recorded, "geocoder", "success"), Some(3));
    assert_eq!(calls(&recorded, "geocoder", "failure"), Some(2));
    assert_eq!(calls(&recorded, "geocoder", "ignored"), Some(0));
    let mut seconds = recorded.histogram(CALL_DURATION, &[("service", "geocoder")]);
    seconds.sort_by(f64::total_cmp);
    assert_eq!(seconds, [0.25, 0.25, 0.25, 1.5, 1.5]);
    assert_eq!(in_flight(&recorded, "geocoder"), Some(0.0));
}

#[tokio::test(start_paused = true)]
async fn a_call_is_in_flight_until_its_outcome_and_a_dropped_one_is_ignored() {
    let recorded = Recorded::new();
    let layer = recorded.local(|| MetricsLayer::new("calendar"));
    let mut service = layer.layer(service_fn(|(millis, fail)| timed(millis, fail)));
    let mut cx = Context::from_waker(std::task::Waker::noop());

    let mut first = Box::pin(service.call((100, false)));
    let second = service.call((100, false));
    assert!(first.as_mut().poll(&mut cx).is_pending());
    assert_eq!(in_flight(&recorded, "calendar"), Some(2.0));
    drop(second);
    assert_eq!(in_flight(&recorded, "calendar"), Some(1.0));
    assert_eq!(calls(&recorded, "calendar", "ignored"), Some(1));

    assert!(first.await.is_ok());
    assert_eq!(in_flight(&recorded, "calendar"), Some(0.0));
    assert_eq!(calls(&recorded, "calendar", "success"), Some(1));
    assert_eq!(
        recorded.histogram(CALL_DURATION, &[("service", "calendar")]),
        [0.1],
        "a dropped call has no duration"
    );
}

#[tokio::test(start_paused = true)]
async fn the_classifier_decides_the_outcome() {
    let recorded = Recorded::new();
    let layer = recorded.local(|| {
        MetricsLayer::new("search").classifier(|result: Result<&u16, &std::io::Error>| match result
        {
            Ok(404) => Outcome::Ignored,
            Ok(status) if *status >= 500 => Outcome::retryable_failure(),
            Ok(_) => Outcome::Success,
            Err(_) => Outcome::retryable_failure(),
        })
    });
    let service = layer.layer(service_fn(|status: u16| async move {
        Ok::<_, std::io::Error>(status)
    }));
    for status in [200, 503, 404, 201] {
        service.clone().oneshot(status).await.unwrap();
    }
    assert_eq!(calls(&recorded, "search", "success"), Some(2));
    assert_eq!(calls(&recorded, "search", "failure"), Some(1));
    assert_eq!(calls(&recorded, "search", "ignored"), Some(1));
    assert_eq!(
        recorded
            .histogram(CALL_DURATION, &[("service", "search")])
            .len(),
        3,
        "an ignored outcome has no duration"
    );
}

#[cfg(feature = "http")]
#[tokio::test]
async fn http_statuses_are_classified_as_the_breaker_classifies_them() {
    let recorded = Recorded::new();
    let layer = recorded.local(|| MetricsLayer::http("payments"));
    let service = layer.layer(service_fn(|status: u16| async move {
        Ok::<_, std::io::Error>(http::Response::builder().status(status).body(()).unwrap())
    }));
    for status in [200, 404, 500, 503, 429] {
        service.clone().oneshot(status).await.unwrap();
    }
    assert_eq!(calls(&recorded, "payments", "success"), Some(2));
    assert_eq!(calls(&recorded, "payments", "failure"), Some(3));
}

struct NeverReady;

impl Service<()> for NeverReady {
    type Response = ();
    type Error = std::io::Error;
    type Future = std::future::Ready<Result<(), std::io::Error>>;
    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Pending
    }
    fn call(&mut self, _: ()) -> Self::Future {
        std::future::ready(Ok(()))
    }
}

#[test]
fn readiness_passes_through_and_is_not_a_call() {
    let recorded = Recorded::new();
    let mut service = recorded
        .local(|| MetricsLayer::new("sms"))
        .layer(NeverReady);
    let mut cx = Context::from_waker(std::task::Waker::noop());
    assert!(service.poll_ready(&mut cx).is_pending());
    assert_eq!(in_flight(&recorded, "sms"), Some(0.0));
    let mut ready = pin!(service.ready());
    assert!(ready.as_mut().poll(&mut cx).is_pending());
}

#[test]
fn the_layer_names_its_service() {
    let layer = MetricsLayer::new("email");
    assert_eq!(layer.service(), "email");
    assert!(format!("{layer:?}").contains("email"));
}

#[cfg(feature = "grpc")]
mod streaming {
    use super::*;
    use bytes::Bytes;
    use fusebox_metrics::StreamingMetricsLayer;
    use http::{HeaderMap, HeaderValue, Response};
    use http_body_util::{BodyExt, Full};
    use std::convert::Infallible;

    /// One message, then `grpc-status: <status>` in the trailers.
    fn stream_ending_in(
        status: &'static str,
    ) -> Response<impl http_body::Body<Data = Bytes, Error = Infallible>> {
        let mut trailers = HeaderMap::new();
        trailers.insert("grpc-status", HeaderValue::from_static(status));
        let body = Full::new(Bytes::from_static(b"\0\0\0\0\x01a"))
            .with_trailers(async move { Some(Ok::<_, Infallible>(trailers)) });
        Response::builder()
            .header("content-type", "application/grpc")
            .body(body)
            .unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn a_stream_s_outcome_and_duration_are_recorded_when_its_body_ends() {
        let recorded = Recorded::new();
        let layer = recorded.local(|| StreamingMetricsLayer::grpc("search"));
        assert_eq!(layer.service(), "search");
        let client = layer.layer(service_fn(|status: &'static str| async move {
            Ok::<_, Infallible>(stream_ending_in(status))
        }));

        let response = client.clone().oneshot("14").await.unwrap();
        assert_eq!(
            calls(&recorded, "search", "failure"),
            Some(0),
            "not decided yet"
        );
        assert_eq!(
            in_flight(&recorded, "search"),
            Some(1.0),
            "until the body ends"
        );
        tokio::time::advance(Duration::from_millis(300)).await;
        response.into_body().collect().await.unwrap();
        assert_eq!(calls(&recorded, "search", "failure"), Some(1));
        assert_eq!(in_flight(&recorded, "search"), Some(0.0));
        assert_eq!(
            recorded.histogram(CALL_DURATION, &[("service", "search")]),
            [0.3],
            "up to the end of the body"
        );

        let response = client.clone().oneshot("0").await.unwrap();
        response.into_body().collect().await.unwrap();
        assert_eq!(calls(&recorded, "search", "success"), Some(1));

        drop(client.clone().oneshot("0").await.unwrap());
        assert_eq!(
            calls(&recorded, "search", "ignored"),
            Some(1),
            "a body dropped early"
        );
        assert_eq!(in_flight(&recorded, "search"), Some(0.0));
    }

    #[tokio::test(start_paused = true)]
    async fn a_stream_s_key_and_slo_are_recorded_when_its_body_ends() {
        let recorded = Recorded::new();
        let tracker = fusebox_metrics::SloTracker::builder(
            fusebox_metrics::Slo::builder("search")
                .availability(0.9)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
        let layer = recorded.local(|| {
            StreamingMetricsLayer::grpc("search")
                .key_by(1, |tenant: &(&'static str, &'static str)| {
                    Some(tenant.0.to_owned())
                })
                .slo(&tracker)
        });
        let mut client = layer.layer(service_fn(
            |(_, status): (&'static str, &'static str)| async move {
                Ok::<_, Infallible>(stream_ending_in(status))
            },
        ));
        for request in [("acme", "0"), ("acme", "14"), ("globex", "0")] {
            client.ready().await.unwrap();
            let call = recorded.local(|| client.call(request));
            call.await.unwrap().into_body().collect().await.unwrap();
        }
        let keyed = |key: &str, outcome: &str| {
            recorded.counter(
                CALLS,
                &[("service", "search"), ("key", key), ("outcome", outcome)],
            )
        };
        assert_eq!(
            (keyed("acme", "success"), keyed("acme", "failure")),
            (Some(1), Some(1))
        );
        assert_eq!(
            keyed("__other__", "success"),
            Some(1),
            "past the cap of one key"
        );
        let availability = tracker.report().availability.unwrap();
        assert_eq!((availability.calls, availability.good), (3, 2));
    }

    /// An HTTP service whose readiness never comes.
    struct NeverReadyHttp;

    impl Service<()> for NeverReadyHttp {
        type Response = Response<Full<Bytes>>;
        type Error = Infallible;
        type Future = std::future::Ready<Result<Self::Response, Infallible>>;
        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            Poll::Pending
        }
        fn call(&mut self, _: ()) -> Self::Future {
            std::future::ready(Ok(Response::new(Full::new(Bytes::new()))))
        }
    }

    #[test]
    fn the_streaming_layer_passes_readiness_on() {
        let mut service = StreamingMetricsLayer::grpc("search").layer(NeverReadyHttp);
        let mut cx = Context::from_waker(std::task::Waker::noop());
        assert!(service.poll_ready(&mut cx).is_pending());
    }

    #[tokio::test]
    async fn a_trailers_only_answer_is_decided_from_its_head() {
        let recorded = Recorded::new();
        let layer = recorded.local(|| StreamingMetricsLayer::grpc("search"));
        let client = layer.layer(service_fn(|()| async {
            Ok::<_, Infallible>(
                Response::builder()
                    .header("content-type", "application/grpc")
                    .header("grpc-status", "14")
                    .body(Full::new(Bytes::new()))
                    .unwrap(),
            )
        }));
        let response = client.oneshot(()).await.unwrap();
        assert_eq!(
            calls(&recorded, "search", "failure"),
            Some(1),
            "before the body"
        );
        drop(response);
        assert_eq!(calls(&recorded, "search", "ignored"), Some(0));
    }
}

#[tokio::test(start_paused = true)]
async fn a_key_label_is_opt_in_and_bounded() {
    let recorded = Recorded::new();
    let tracker = fusebox_metrics::SloTracker::builder(
        fusebox_metrics::Slo::builder("calendar")
            .availability(0.99)
            .build()
            .unwrap(),
    )
    .build()
    .unwrap();
    let layer = recorded.local(|| {
        MetricsLayer::new("calendar")
            .key_by(2, |tenant: &(Option<&'static str>, bool)| {
                tenant.0.map(str::to_owned)
            })
            .slo(&tracker)
    });
    let mut service = layer.layer(service_fn(|(_, fail): (Option<&'static str>, bool)| {
        timed(5, fail)
    }));
    for request in [
        (Some("acme"), false),
        (Some("acme"), true),
        (Some("globex"), false),
        // Past the cap of two keys: counted under the overflow key.
        (Some("initech"), false),
        (Some("umbrella"), true),
        // No key: the service alone.
        (None, false),
    ] {
        service.ready().await.unwrap();
        // A new key's handles are resolved from the recorder installed when it is first seen.
        let call = recorded.local(|| service.call(request));
        let _ = call.await;
    }
    let keyed = |key: &str, outcome: &str| {
        recorded.counter(
            CALLS,
            &[("service", "calendar"), ("key", key), ("outcome", outcome)],
        )
    };
    assert_eq!(
        (keyed("acme", "success"), keyed("acme", "failure")),
        (Some(1), Some(1))
    );
    assert_eq!(keyed("globex", "success"), Some(1));
    assert_eq!(keyed("__other__", "success"), Some(1));
    assert_eq!(keyed("__other__", "failure"), Some(1));
    assert_eq!(
        keyed("initech", "success"),
        None,
        "never labelled: the cap was reached"
    );
    assert_eq!(
        calls(&recorded, "calendar", "success"),
        Some(1),
        "the unkeyed call"
    );
    let durations = recorded.histogram(CALL_DURATION, &[("service", "calendar"), ("key", "acme")]);
    assert_eq!(durations, vec![0.005, 0.005]);
    // Every call, keyed or not, reached the service's tracker.
    let availability = tracker.report().availability.unwrap();
    assert_eq!((availability.calls, availability.good), (6, 4));
}

#[cfg(feature = "http")]
#[tokio::test]
async fn a_header_can_be_the_key() {
    let recorded = Recorded::new();
    let layer = recorded.local(|| {
        MetricsLayer::new("search").key_by(
            10,
            fusebox_metrics::HeaderKey::new(http::HeaderName::from_static("x-tenant-id")),
        )
    });
    let mut service = layer.layer(service_fn(|_: http::Request<()>| async {
        Ok::<_, std::io::Error>(())
    }));
    for tenant in ["acme", "acme", "globex"] {
        let request = http::Request::builder()
            .header("x-tenant-id", tenant)
            .body(())
            .unwrap();
        service.ready().await.unwrap();
        let call = recorded.local(|| service.call(request));
        call.await.unwrap();
    }
    let keyed = |key: &str| {
        recorded.counter(
            CALLS,
            &[("service", "search"), ("key", key), ("outcome", "success")],
        )
    };
    assert_eq!((keyed("acme"), keyed("globex")), (Some(2), Some(1)));
}
