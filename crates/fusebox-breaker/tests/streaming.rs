//! The streaming layer and the axum route as a caller sees them: an outcome decided at the end
//! of a response body, readiness passed on, and errors answered as responses.

use bytes::Bytes;
use fusebox_breaker::{Breaker, CircuitState};
use http::{HeaderMap, HeaderValue, Response};
use http_body_util::{BodyExt, Full};
use std::convert::Infallible;
use std::task::{Context, Poll};
use tower::{service_fn, Layer, Service, ServiceExt};

/// A service whose readiness never comes, answering `R` if it were called.
struct NeverReady<R>(fn() -> R);

impl<R> Service<()> for NeverReady<R> {
    type Response = R;
    type Error = Infallible;
    type Future = std::future::Ready<Result<R, Infallible>>;
    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Pending
    }
    fn call(&mut self, _: ()) -> Self::Future {
        std::future::ready(Ok((self.0)()))
    }
}

/// Whether `service` is ready after one poll.
fn ready_at_once<Request, S: Service<Request>>(mut service: S) -> bool {
    let mut cx = Context::from_waker(std::task::Waker::noop());
    service.poll_ready(&mut cx).is_ready()
}

#[cfg(feature = "grpc")]
mod grpc {
    use super::*;
    use fusebox_breaker::StreamingCircuitBreakerLayer;

    /// A gRPC-style response: one message, then `grpc-status: <status>` in the trailers.
    fn stream_ending_in(
        status: &'static str,
    ) -> Response<impl http_body::Body<Data = Bytes, Error = Infallible>> {
        let mut trailers = HeaderMap::new();
        trailers.insert("grpc-status", HeaderValue::from_static(status));
        let body = Full::new(Bytes::from_static(b"\0\0\0\0\x01a"))
            .map_err(|never: Infallible| match never {})
            .with_trailers(async move { Some(Ok::<_, Infallible>(trailers)) });
        Response::builder()
            .header("content-type", "application/grpc")
            .body(body)
            .unwrap()
    }

    #[tokio::test]
    async fn a_stream_ending_in_unavailable_counts_as_a_failure_when_its_body_ends() {
        let breaker = Breaker::builder("search")
            .consecutive_failures(2)
            .build()
            .unwrap();
        let layer = StreamingCircuitBreakerLayer::grpc(breaker.clone());
        let client = layer.layer(service_fn(|status: &'static str| async move {
            Ok::<_, Infallible>(stream_ending_in(status))
        }));

        let response = client.clone().oneshot("0").await.unwrap();
        assert_eq!(breaker.metrics().calls, 0, "nothing decided from the head");
        response.into_body().collect().await.unwrap();
        assert_eq!(breaker.metrics().successes, 1, "decided by the trailers");

        for failed in 1..=2 {
            let response = client.clone().oneshot("14").await.unwrap();
            let body = response.into_body().collect().await.unwrap();
            assert_eq!(body.trailers().unwrap()["grpc-status"], "14");
            assert_eq!(breaker.metrics().failures, failed);
        }
        assert_eq!(breaker.state(), CircuitState::Open, "two failed streams");
        let rejected = client.oneshot("0").await.map(drop).unwrap_err();
        assert!(rejected.is_open());
    }

    #[test]
    fn the_streaming_layer_passes_readiness_on() {
        let breaker = Breaker::builder("search").build().unwrap();
        let layer = StreamingCircuitBreakerLayer::grpc(breaker);
        assert!(!ready_at_once(
            layer.layer(NeverReady(|| stream_ending_in("0")))
        ));
        assert!(ready_at_once(layer.layer(service_fn(
            |status: &'static str| async move { Ok::<_, Infallible>(stream_ending_in(status)) }
        ))));
    }
}

#[cfg(feature = "axum")]
mod axum_route {
    use super::*;
    use axum::response::IntoResponse;
    use fusebox_breaker::axum::CircuitBreakerRouteLayer;
    use fusebox_breaker::CircuitBreakerError;
    use http::StatusCode;

    #[test]
    fn the_route_passes_readiness_on() {
        let breaker = Breaker::builder("calendar").build().unwrap();
        let layer = CircuitBreakerRouteLayer::new(breaker);
        assert!(!ready_at_once(
            layer.layer(NeverReady(|| StatusCode::OK.into_response()))
        ));
        assert!(ready_at_once(layer.layer(service_fn(|()| async {
            Ok::<_, Infallible>(StatusCode::OK.into_response())
        }))));
    }

    #[tokio::test(start_paused = true)]
    async fn a_breaker_error_answers_503_when_open_and_the_inner_response_otherwise() {
        let breaker = Breaker::builder("calendar").build().unwrap();
        breaker.force_open();
        let open = breaker.try_acquire().unwrap_err();
        let response = CircuitBreakerError::<StatusCode>::Open(open).into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);

        let inner = CircuitBreakerError::Inner(StatusCode::IM_A_TEAPOT).into_response();
        assert_eq!(inner.status(), StatusCode::IM_A_TEAPOT);
    }
}
