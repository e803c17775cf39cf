//! A gRPC-style streaming response over a real HTTP/2 connection on 127.0.0.1: its status
//! arrives in the trailers, after the messages, and the breaker counts it when the body ends.

use bytes::Bytes;
use fusebox::breaker::{Breaker, CircuitState, StreamingCircuitBreakerLayer};
use fusebox::core::{Classified, ClassifyResponse, GrpcEos, Outcome, PerRequest};
use http::{HeaderMap, HeaderValue, Request, Response};
use http_body_util::{BodyExt, Empty, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::convert::Infallible;
use std::net::SocketAddr;
use tower::{ServiceBuilder, ServiceExt};

type Frames = futures_util::stream::Iter<std::vec::IntoIter<Result<Frame<Bytes>, Infallible>>>;

/// `/stream/<status>`: two messages, then the trailer `grpc-status: <status>`.
/// `/unavailable`: a trailers-only response with `grpc-status: 14` in its headers.
async fn grpc_like(request: Request<Incoming>) -> Result<Response<StreamBody<Frames>>, Infallible> {
    let path = request.uri().path().to_owned();
    let mut frames = Vec::new();
    let mut response = Response::builder().header("content-type", "application/grpc");
    if path == "/unavailable" {
        response = response.header("grpc-status", "14");
    } else {
        let status = path.trim_start_matches("/stream/").to_owned();
        frames.push(Ok(Frame::data(Bytes::from_static(b"\0\0\0\0\x01a"))));
        frames.push(Ok(Frame::data(Bytes::from_static(b"\0\0\0\0\x01b"))));
        let mut trailers = HeaderMap::new();
        trailers.insert("grpc-status", HeaderValue::from_str(&status).unwrap());
        frames.push(Ok(Frame::trailers(trailers)));
    }
    Ok(response
        .body(StreamBody::new(futures_util::stream::iter(frames)))
        .unwrap())
}

/// Serves [`grpc_like`] over HTTP/2 (prior knowledge, as gRPC does) on a free port.
async fn serve() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            tokio::spawn(
                hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), hyper::service::service_fn(grpc_like)),
            );
        }
    });
    addr
}

#[tokio::test]
async fn a_stream_ending_in_unavailable_trips_the_breaker_when_its_body_ends() {
    let addr = serve().await;
    let breaker = Breaker::builder("search")
        .consecutive_failures(2)
        .build()
        .unwrap();
    let http2: Client<_, Empty<Bytes>> = Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build_http();
    let client = ServiceBuilder::new()
        .layer(StreamingCircuitBreakerLayer::grpc(breaker.clone()))
        .service(http2);
    let get = |path: &str| {
        Request::post(format!("http://{addr}{path}"))
            .body(Empty::<Bytes>::new())
            .unwrap()
    };

    // A stream that ends well is a success, counted only once its trailers are read.
    let response = client.clone().oneshot(get("/stream/0")).await.unwrap();
    assert_eq!(breaker.metrics().calls, 0, "nothing decided from the head");
    let body = response.into_body().collect().await.unwrap();
    assert_eq!(body.trailers().unwrap()["grpc-status"], "0");
    assert_eq!(breaker.metrics().successes, 1);

    // `grpc-status: 14` in the trailers of a 200 response is a failure.
    let response = client.clone().oneshot(get("/stream/14")).await.unwrap();
    assert_eq!(response.status(), 200);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body.len(), 12, "both messages passed through untouched");
    assert_eq!(breaker.metrics().failures, 1);

    // A reader that stops early leaves the call ignored: the dependency did not fail.
    let response = client.clone().oneshot(get("/stream/14")).await.unwrap();
    let mut body = response.into_body();
    body.frame().await.unwrap().unwrap();
    drop(body);
    let metrics = breaker.metrics();
    assert_eq!((metrics.failures, metrics.ignored), (1, 1));
    assert_eq!(breaker.state(), CircuitState::Closed);

    // A trailers-only failure is decided from the head; two failures in a row trip it.
    let response = client.clone().oneshot(get("/unavailable")).await.unwrap();
    assert_eq!(
        breaker.metrics().failures,
        2,
        "decided before the body is read"
    );
    drop(response);
    assert_eq!(breaker.state(), CircuitState::Open);
    let rejected = client.clone().oneshot(get("/stream/0")).await.unwrap_err();
    assert!(rejected.is_open(), "{rejected:?}");
}

/// Health probes say nothing about the service's real traffic: their outcome is ignored, and
/// every other call is classified by its gRPC status.
#[derive(Clone, Copy)]
enum ByRequest {
    Grpc(fusebox::core::GrpcClassifier),
    Ignore,
}

impl<B, E> ClassifyResponse<B, E> for ByRequest {
    type Eos = GrpcEos;

    fn classify_response(&self, response: &Response<B>) -> Classified<GrpcEos> {
        match self {
            ByRequest::Grpc(grpc) => ClassifyResponse::<B, E>::classify_response(grpc, response),
            ByRequest::Ignore => Classified::Ready(Outcome::Ignored),
        }
    }

    fn classify_error(&self, _: &E) -> Outcome {
        Outcome::retryable_failure()
    }
}

#[tokio::test]
async fn a_per_request_classifier_picks_the_rule_before_the_stream_starts() {
    let addr = serve().await;
    let breaker = Breaker::builder("search")
        .consecutive_failures(1)
        .build()
        .unwrap();
    let http2: Client<_, Empty<Bytes>> = Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build_http();
    let per_request = PerRequest::new(|request: &Request<Empty<Bytes>>| {
        if request.headers().contains_key("x-health-probe") {
            ByRequest::Ignore
        } else {
            ByRequest::Grpc(fusebox::core::GrpcClassifier::new())
        }
    });
    let client = ServiceBuilder::new()
        .layer(StreamingCircuitBreakerLayer::new(
            breaker.clone(),
            per_request,
        ))
        .service(http2);
    let call = |probe: bool| {
        let mut request = Request::post(format!("http://{addr}/stream/14"));
        if probe {
            request = request.header("x-health-probe", "1");
        }
        request.body(Empty::<Bytes>::new()).unwrap()
    };
    for _ in 0..3 {
        let response = client.clone().oneshot(call(true)).await.unwrap();
        response.into_body().collect().await.unwrap();
    }
    assert_eq!(breaker.metrics().ignored, 3);
    assert_eq!(breaker.state(), CircuitState::Closed);
    let response = client.clone().oneshot(call(false)).await.unwrap();
    response.into_body().collect().await.unwrap();
    assert_eq!(
        breaker.state(),
        CircuitState::Open,
        "the real call's trailer counted"
    );
}
