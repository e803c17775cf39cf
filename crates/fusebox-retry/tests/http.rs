//! HTTP requests through `BufferBodyLayer` and the retry's `HttpRequests`: what the service
//! behind them receives on each attempt, which requests are sent again, and what a body over
//! the buffering limit does.

use bytes::Bytes;
use fusebox_core::{Event, EventKind, GiveUpReason};
use fusebox_retry::http::{BufferBodyLayer, HttpRequests, ReplayBody};
use fusebox_retry::RetryLayer;
use http::header::HeaderName;
use http::{HeaderMap, Request, Response};
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use tower::{service_fn, BoxError, Service, ServiceBuilder, ServiceExt};

/// A request body made of given frames, as a client streams it; its size hint is exact.
struct Frames(VecDeque<Result<Frame<Bytes>, BoxError>>);

impl Frames {
    fn data(chunks: &[&'static str]) -> Self {
        Frames(
            chunks
                .iter()
                .map(|c| Ok(Frame::data(Bytes::from_static(c.as_bytes()))))
                .collect(),
        )
    }

    fn with_trailers(mut self, trailers: HeaderMap) -> Self {
        self.0.push_back(Ok(Frame::trailers(trailers)));
        self
    }

    fn then_error(mut self) -> Self {
        self.0.push_back(Err("client went away".into()));
        self
    }
}

impl Body for Frames {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        Poll::Ready(self.0.pop_front())
    }

    fn is_end_stream(&self) -> bool {
        self.0.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        let len = self
            .0
            .iter()
            .flatten()
            .filter_map(Frame::data_ref)
            .map(Bytes::len)
            .sum::<usize>();
        SizeHint::with_exact(u64::try_from(len).unwrap())
    }
}

/// The reasons a retry gave up for, and the correlation id of each of its events.
type Events = Arc<Mutex<(Vec<GiveUpReason>, Vec<Option<String>>)>>;

/// The bodies the service behind the retry received, one per attempt.
type Bodies = Arc<Mutex<Vec<Received>>>;

/// What the service behind the retry saw of one attempt's body, before and after reading it.
#[derive(Debug, Clone, PartialEq)]
struct Received {
    replayable: bool,
    ended_before: bool,
    size: (u64, Option<u64>),
    data: String,
    trailers: Option<HeaderMap>,
}

/// Behind the retry: records each attempt's body and answers with `statuses` in turn (the last
/// one repeated).
fn upstream(
    statuses: &'static [u16],
) -> (
    Bodies,
    impl Service<
            Request<ReplayBody<Frames>>,
            Response = Response<()>,
            Error = BoxError,
            Future: Send,
        > + Clone,
) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let svc = service_fn(move |request: Request<ReplayBody<Frames>>| {
        let log = log.clone();
        async move {
            let body = request.into_body();
            let replayable = body.is_replayable();
            let ended_before = body.is_end_stream();
            let hint = body.size_hint();
            let collected = body.collect().await?;
            let trailers = collected.trailers().cloned();
            let data = String::from_utf8(collected.to_bytes().to_vec()).unwrap();
            let mut log = log.lock().unwrap();
            log.push(Received {
                replayable,
                ended_before,
                size: (hint.lower(), hint.upper()),
                data,
                trailers,
            });
            let status = statuses[(log.len() - 1).min(statuses.len() - 1)];
            Ok::<_, BoxError>(Response::builder().status(status).body(()).unwrap())
        }
    });
    (seen, svc)
}

/// The reasons the retry gave up for and the correlation ids its events carried.
fn events() -> (Events, impl Fn(&Event<'_>) + Send + Sync + 'static) {
    let log = Arc::new(Mutex::new((Vec::new(), Vec::new())));
    let sink = log.clone();
    let listener = move |e: &Event<'_>| {
        let mut log = sink.lock().unwrap();
        if let EventKind::RetryGaveUp { reason, .. } = e.kind {
            log.0.push(reason);
        }
        log.1.push(e.correlation_id.map(str::to_owned));
    };
    (log, listener)
}

const LIMIT: usize = 10;

async fn send(
    statuses: &'static [u16],
    requests: HttpRequests,
    request: Request<Frames>,
) -> (
    Result<Response<()>, BoxError>,
    Vec<Received>,
    (Vec<GiveUpReason>, Vec<Option<String>>),
) {
    let (seen, svc) = upstream(statuses);
    let (log, listener) = events();
    let retry = RetryLayer::builder("api")
        .http()
        .requests(requests)
        .max_attempts(3)
        .on_event(listener)
        .build()
        .unwrap();
    let service = ServiceBuilder::new()
        .layer(BufferBodyLayer::new(LIMIT))
        .layer(retry)
        .service(svc);
    let result = service.oneshot(request).await;
    let seen = seen.lock().unwrap().clone();
    let log = log.lock().unwrap().clone();
    (result, seen, log)
}

fn put(body: Frames) -> Request<Frames> {
    Request::put("http://127.0.0.1/items/1").body(body).unwrap()
}

#[tokio::test(start_paused = true)]
async fn a_body_up_to_the_limit_is_sent_whole_on_every_attempt() {
    let mut trailers = HeaderMap::new();
    trailers.insert("checksum", "5d41".parse().unwrap());
    for (chunks, trailers) in [
        (&["hello", "world"][..], None),
        (&["0123456789"][..], None),
        (&["abc"][..], Some(trailers)),
        (&[][..], None),
    ] {
        let body = Frames::data(chunks);
        let body = match trailers.clone() {
            Some(t) => body.with_trailers(t),
            None => body,
        };
        let (result, seen, _) = send(&[503, 200], HttpRequests::new(), put(body)).await;
        assert_eq!(result.unwrap().status(), 200);
        let sent = chunks.concat();
        let len = sent.len() as u64;
        let expected = Received {
            replayable: true,
            ended_before: sent.is_empty() && trailers.is_none(),
            size: (len, Some(len)),
            data: sent,
            trailers: trailers.clone(),
        };
        assert_eq!(seen, [expected.clone(), expected], "{chunks:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_body_over_the_limit_streams_through_once_and_is_not_retried() {
    for chunks in [&["0123456789X"][..], &["01234", "56789", "XY", "Z"][..]] {
        let (result, seen, (reasons, _)) =
            send(&[503, 200], HttpRequests::new(), put(Frames::data(chunks))).await;
        assert_eq!(result.unwrap().status(), 503, "the one attempt's answer");
        let sent = chunks.concat();
        let len = sent.len() as u64;
        assert_eq!(
            seen,
            [Received {
                replayable: false,
                ended_before: false,
                size: (len, Some(len)),
                data: sent,
                trailers: None,
            }],
            "{chunks:?}"
        );
        assert_eq!(reasons, [GiveUpReason::BodyTooLarge]);
    }
}

/// `body` sent as a PUT through a buffering layer (no retry) to `svc`: its response.
async fn buffered<S>(svc: S, body: Frames) -> S::Response
where
    S: Service<Request<ReplayBody<Frames>>, Error = BoxError> + Clone,
{
    let service = ServiceBuilder::new()
        .layer(BufferBodyLayer::new(LIMIT))
        .service(svc);
    service.oneshot(put(body)).await.unwrap()
}

#[tokio::test(start_paused = true)]
async fn a_streamed_body_keeps_going_after_what_was_read_of_it() {
    // The first chunks go over the limit; the rest is still to come when the call starts.
    let (seen, svc) = upstream(&[200]);
    let response = buffered(svc, Frames::data(&["0123456789AB", "more", "end"])).await;
    assert_eq!(response.status(), 200);
    let seen = seen.lock().unwrap();
    assert!(!seen[0].ended_before, "the rest is still to come");
    assert_eq!(
        seen[0].size,
        (19, Some(19)),
        "what was read and what is left"
    );
    assert_eq!(seen[0].data, "0123456789ABmoreend");
}

#[tokio::test(start_paused = true)]
async fn a_body_that_fails_while_read_fails_the_call_unsent() {
    let (result, seen, _) = send(
        &[200],
        HttpRequests::new(),
        put(Frames::data(&["abc"]).then_error()),
    )
    .await;
    assert_eq!(result.unwrap_err().to_string(), "client went away");
    assert!(seen.is_empty(), "nothing was sent");
}

#[tokio::test(start_paused = true)]
async fn the_buffering_layer_is_ready_only_when_its_service_is() {
    let open = tower::service_fn(|_: Request<ReplayBody<Frames>>| async {
        Ok::<_, BoxError>(Response::new(()))
    });
    let mut ready = ServiceBuilder::new()
        .layer(BufferBodyLayer::new(LIMIT))
        .service(open);
    assert!(ready.ready().await.is_ok());
    let mut closed = ServiceBuilder::new()
        .layer(BufferBodyLayer::new(LIMIT))
        .service(Closed);
    let Err(err) = closed.ready().await else {
        panic!("ready, though its service is not");
    };
    assert_eq!(err.to_string(), "connection pool closed");
}

/// A client whose connection pool is closed: never ready.
#[derive(Clone)]
struct Closed;

impl Service<Request<ReplayBody<Frames>>> for Closed {
    type Response = Response<()>;
    type Error = BoxError;
    type Future = std::future::Ready<Result<Response<()>, BoxError>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Err("connection pool closed".into()))
    }

    fn call(&mut self, _: Request<ReplayBody<Frames>>) -> Self::Future {
        std::future::ready(Err("called while not ready".into()))
    }
}

#[tokio::test(start_paused = true)]
async fn a_post_is_retried_only_with_the_opt_in_header_the_layer_names() {
    let post = |header: Option<&'static str>| {
        let mut request = Request::post("http://127.0.0.1/payments")
            .body(Frames::data(&["{}"]))
            .unwrap();
        if let Some(name) = header {
            request.headers_mut().insert(name, "key-1".parse().unwrap());
        }
        request
    };
    let requests = || HttpRequests::new().opt_in_header(HeaderName::from_static("x-dedupe"));
    let (_, seen, (reasons, _)) = send(&[503, 200], requests(), post(Some("x-dedupe"))).await;
    assert_eq!(seen.len(), 2, "opted in by the layer's header");
    assert!(reasons.is_empty());
    let (_, seen, (reasons, _)) =
        send(&[503, 200], requests(), post(Some("idempotency-key"))).await;
    assert_eq!(seen.len(), 1, "the default header is not this layer's");
    assert_eq!(reasons, [GiveUpReason::NotIdempotent]);
}

#[tokio::test(start_paused = true)]
async fn events_carry_the_id_from_the_correlation_header_the_layer_names() {
    let mut request = put(Frames::data(&["x"]));
    request
        .headers_mut()
        .insert("x-trace", "trace-7".parse().unwrap());
    request
        .headers_mut()
        .insert("x-request-id", "other".parse().unwrap());
    let requests = HttpRequests::new().correlation_header(HeaderName::from_static("x-trace"));
    let (_, _, (_, ids)) = send(&[503, 200], requests, request).await;
    assert!(!ids.is_empty());
    assert!(
        ids.iter().all(|id| id.as_deref() == Some("trace-7")),
        "{ids:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn requests_of_a_plain_retry_carry_no_correlation_id() {
    let ids = Arc::new(Mutex::new(Vec::new()));
    let sink = ids.clone();
    let layer = RetryLayer::builder("t")
        .on_event(move |e: &Event<'_>| {
            sink.lock()
                .unwrap()
                .push(e.correlation_id.map(str::to_owned));
        })
        .build()
        .unwrap();
    let svc = service_fn(|n: u32| async move { Ok::<_, BoxError>(n) });
    tower::Layer::layer(&layer, svc).oneshot(1).await.unwrap();
    let ids = ids.lock().unwrap();
    assert!(!ids.is_empty());
    assert!(ids.iter().all(Option::is_none), "{ids:?}");
}

#[test]
fn a_replay_body_knows_whether_it_can_be_sent_again() {
    let body: ReplayBody<Frames> = ReplayBody::buffered("abc");
    assert!(body.is_replayable());
    assert!(body.try_clone().is_some());
}

#[tokio::test(start_paused = true)]
async fn a_streamed_body_ends_only_after_what_was_read_and_the_rest() {
    let svc = service_fn(|request: Request<ReplayBody<Frames>>| async move {
        let mut body = request.into_body();
        let mut ends = vec![body.is_end_stream()];
        while let Some(frame) = body.frame().await {
            frame?;
            ends.push(body.is_end_stream());
        }
        Ok::<_, BoxError>(ends)
    });
    let ends = buffered(svc, Frames::data(&["0123456789AB", "more", "end"])).await;
    assert_eq!(
        ends,
        [false, false, false, true],
        "after the prefix, the rest is to come"
    );
}
