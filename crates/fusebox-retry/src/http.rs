//! Retrying HTTP requests: idempotency rules, re-sendable bodies, correlation ids.
//!
//! HTTP requests are not `Clone`, and their bodies may stream. [`BufferBodyLayer`] reads a
//! request's body into memory, up to a size limit, and hands the inner service a request whose
//! [`ReplayBody`] can be sent again; a body over the limit streams through once and is not
//! retried. [`HttpRequests`] then copies requests for later attempts, only for idempotent methods
//! unless the request or the layer opts in:
//!
//! ```
//! use fusebox_retry::http::{BufferBodyLayer, ReplayBody};
//! use fusebox_retry::RetryLayer;
//! use http::{Request, Response};
//! use tower::{service_fn, BoxError, ServiceBuilder, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), BoxError> {
//! // A client taking re-sendable bodies (a hyper client would be `Client<_, ReplayBody<B>>`).
//! let client = service_fn(|request: Request<ReplayBody<String>>| async move {
//!     Ok::<_, BoxError>(Response::new(request.method().to_string()))
//! });
//! let service = ServiceBuilder::new()
//!     .layer(BufferBodyLayer::new(64 * 1024))
//!     .layer(RetryLayer::builder("api").http().build()?)
//!     .service(client);
//! let response = service.oneshot(Request::get("http://127.0.0.1/").body(String::new())?).await?;
//! assert_eq!(response.body(), "GET");
//! # Ok(())
//! # }
//! ```

use bytes::{Buf, Bytes, BytesMut};
use fusebox_core::GiveUpReason;
use http::header::HeaderName;
use http::{HeaderMap, Method, Request};
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use tower_layer::Layer;
use tower_service::Service;

use crate::policy::ResendPolicy;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

pin_project! {
    /// A request body that can be sent again when it was buffered whole, or that streams once
    /// when it was larger than the buffering limit.
    pub struct ReplayBody<B> {
        #[pin]
        kind: Kind<B>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<B> {
        Buffered {
            data: Option<Bytes>,
            trailers: Option<HeaderMap>,
        },
        Streaming {
            prefix: Option<Bytes>,
            #[pin]
            rest: B,
        },
    }
}

impl<B> fmt::Debug for ReplayBody<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Buffered { data, .. } => f
                .debug_struct("ReplayBody")
                .field("buffered", &data.as_ref().map_or(0, Bytes::len))
                .finish(),
            Kind::Streaming { .. } => f
                .debug_struct("ReplayBody")
                .field("streaming", &true)
                .finish(),
        }
    }
}

impl<B> ReplayBody<B> {
    /// A body held whole in memory, which can be sent any number of times.
    pub fn buffered(data: impl Into<Bytes>) -> Self {
        let data = data.into();
        ReplayBody {
            kind: Kind::Buffered {
                data: (!data.is_empty()).then_some(data),
                trailers: None,
            },
        }
    }

    /// Whether the body can be sent again.
    pub fn is_replayable(&self) -> bool {
        matches!(self.kind, Kind::Buffered { .. })
    }

    /// A copy to send again, if the body was buffered whole.
    pub fn try_clone(&self) -> Option<Self> {
        match &self.kind {
            Kind::Buffered { data, trailers } => Some(ReplayBody {
                kind: Kind::Buffered {
                    data: data.clone(),
                    trailers: trailers.clone(),
                },
            }),
            Kind::Streaming { .. } => None,
        }
    }
}

impl<B> Body for ReplayBody<B>
where
    B: Body,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        match self.project().kind.project() {
            KindProj::Buffered { data, trailers } => {
                if let Some(data) = data.take() {
                    return Poll::Ready(Some(Ok(Frame::data(data))));
                }
                Poll::Ready(trailers.take().map(|t| Ok(Frame::trailers(t))))
            }
            KindProj::Streaming { prefix, rest } => {
                if let Some(prefix) = prefix.take() {
                    return Poll::Ready(Some(Ok(Frame::data(prefix))));
                }
                let frame = ready!(rest.poll_frame(cx));
                Poll::Ready(
                    frame.map(|f| f.map(|f| f.map_data(|mut d| d.copy_to_bytes(d.remaining())))),
                )
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Buffered { data, trailers } => data.is_none() && trailers.is_none(),
            Kind::Streaming { prefix, rest } => prefix.is_none() && rest.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Buffered { data, .. } => {
                SizeHint::with_exact(data.as_ref().map_or(0, |d| d.len() as u64))
            }
            Kind::Streaming { prefix, rest } => {
                let extra = prefix.as_ref().map_or(0, |p| p.len() as u64);
                let inner = rest.size_hint();
                let mut hint = SizeHint::new();
                hint.set_lower(inner.lower() + extra);
                if let Some(upper) = inner.upper() {
                    hint.set_upper(upper + extra);
                }
                hint
            }
        }
    }
}

/// Buffers request bodies up to `limit` bytes so they can be re-sent; builds [`BufferBody`].
#[derive(Clone, Copy, Debug)]
pub struct BufferBodyLayer {
    limit: usize,
}

impl BufferBodyLayer {
    /// Buffers bodies of up to `limit` bytes; larger ones stream through once.
    pub fn new(limit: usize) -> Self {
        BufferBodyLayer { limit }
    }
}

impl<S> Layer<S> for BufferBodyLayer {
    type Service = BufferBody<S>;

    fn layer(&self, inner: S) -> Self::Service {
        BufferBody {
            inner,
            limit: self.limit,
        }
    }
}

/// Reads each request's body into memory (up to a limit) before calling the inner service with
/// a [`ReplayBody`]; built by [`BufferBodyLayer`].
#[derive(Clone, Debug)]
pub struct BufferBody<S> {
    inner: S,
    limit: usize,
}

impl<S, B> Service<Request<B>> for BufferBody<S>
where
    S: Service<Request<ReplayBody<B>>> + Clone,
    S::Error: Into<BoxError>,
    B: Body + Unpin,
    B::Error: Into<BoxError>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = BufferFuture<S, B>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let clone = self.inner.clone();
        let service = std::mem::replace(&mut self.inner, clone);
        let (parts, body) = request.into_parts();
        BufferFuture {
            state: BufferState::Reading {
                parts: Some(parts),
                body: Some(body),
                chunks: BytesMut::new(),
                limit: self.limit,
            },
            service,
        }
    }
}

pin_project! {
    /// The future of [`BufferBody`]: reads the body, then calls the inner service.
    pub struct BufferFuture<S, B>
    where
        S: Service<Request<ReplayBody<B>>>,
    {
        #[pin]
        state: BufferState<S::Future, B>,
        service: S,
    }
}

pin_project! {
    #[project = BufferProj]
    enum BufferState<F, B> {
        Reading {
            parts: Option<http::request::Parts>,
            body: Option<B>,
            chunks: BytesMut,
            limit: usize,
        },
        Calling {
            #[pin]
            future: F,
        },
    }
}

impl<S, B> fmt::Debug for BufferFuture<S, B>
where
    S: Service<Request<ReplayBody<B>>>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BufferFuture").finish_non_exhaustive()
    }
}

impl<S, B> Future for BufferFuture<S, B>
where
    S: Service<Request<ReplayBody<B>>>,
    S::Error: Into<BoxError>,
    B: Body + Unpin,
    B::Error: Into<BoxError>,
{
    type Output = Result<S::Response, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                BufferProj::Reading {
                    parts,
                    body,
                    chunks,
                    limit,
                } => {
                    let Some(reading) = body.as_mut() else {
                        panic!("BufferFuture polled after completion");
                    };
                    let replay = match ready!(Pin::new(reading).poll_frame(cx)) {
                        Some(Ok(frame)) => match frame.into_data() {
                            Ok(mut data) => {
                                let over = chunks.len() + data.remaining() > *limit;
                                chunks.extend_from_slice(&data.copy_to_bytes(data.remaining()));
                                if !over {
                                    continue;
                                }
                                tracing::debug!(
                                    limit = *limit,
                                    "request body is over the buffering limit; it will be sent once"
                                );
                                ReplayBody {
                                    kind: Kind::Streaming {
                                        prefix: Some(std::mem::take(chunks).freeze()),
                                        rest: body.take().expect("body present while reading"),
                                    },
                                }
                            }
                            Err(frame) => ReplayBody {
                                kind: Kind::Buffered {
                                    data: (!chunks.is_empty())
                                        .then(|| std::mem::take(chunks).freeze()),
                                    trailers: frame.into_trailers().ok(),
                                },
                            },
                        },
                        Some(Err(e)) => return Poll::Ready(Err(e.into())),
                        None => ReplayBody {
                            kind: Kind::Buffered {
                                data: (!chunks.is_empty()).then(|| std::mem::take(chunks).freeze()),
                                trailers: None,
                            },
                        },
                    };
                    let parts = parts.take().expect("parts present while reading");
                    let future = this.service.call(Request::from_parts(parts, replay));
                    this.state.set(BufferState::Calling { future });
                }
                BufferProj::Calling { future } => {
                    return future.poll(cx).map_err(Into::into);
                }
            }
        }
    }
}

/// Copies HTTP requests for retries, following HTTP's idempotency rules.
///
/// - Only idempotent methods (`GET`, `HEAD`, `OPTIONS`, `PUT`, `DELETE`, `TRACE`) are retried,
///   unless the request carries the opt-in header (`Idempotency-Key` by default) or the layer
///   opts in for every request with [`retry_non_idempotent`](Self::retry_non_idempotent).
/// - The body must have been buffered whole ([`BufferBodyLayer`]); a larger one is sent once.
/// - The correlation header (`x-request-id` by default) travels with every attempt, and its
///   value names the request in every event.
#[derive(Clone, Debug)]
pub struct HttpRequests {
    retry_non_idempotent: bool,
    opt_in_header: HeaderName,
    correlation_header: HeaderName,
}

impl Default for HttpRequests {
    fn default() -> Self {
        HttpRequests {
            retry_non_idempotent: false,
            opt_in_header: HeaderName::from_static("idempotency-key"),
            correlation_header: HeaderName::from_static("x-request-id"),
        }
    }
}

impl HttpRequests {
    /// The default rules.
    pub fn new() -> Self {
        Self::default()
    }

    /// Retries every method, `POST` and `PATCH` included. Only for services that deduplicate
    /// requests themselves.
    pub fn retry_non_idempotent(mut self, retry: bool) -> Self {
        self.retry_non_idempotent = retry;
        self
    }

    /// The header whose presence opts a request in to retries whatever its method.
    pub fn opt_in_header(mut self, name: HeaderName) -> Self {
        self.opt_in_header = name;
        self
    }

    /// The header carrying the request's correlation id.
    pub fn correlation_header(mut self, name: HeaderName) -> Self {
        self.correlation_header = name;
        self
    }

    fn may_retry(&self, method: &Method, headers: &HeaderMap) -> bool {
        self.retry_non_idempotent
            || matches!(
                *method,
                Method::GET
                    | Method::HEAD
                    | Method::OPTIONS
                    | Method::PUT
                    | Method::DELETE
                    | Method::TRACE
            )
            || headers.contains_key(&self.opt_in_header)
    }
}

impl<B> ResendPolicy<Request<ReplayBody<B>>> for HttpRequests {
    fn resend(
        &self,
        request: &Request<ReplayBody<B>>,
    ) -> Result<Request<ReplayBody<B>>, GiveUpReason> {
        if !self.may_retry(request.method(), request.headers()) {
            return Err(GiveUpReason::NotIdempotent);
        }
        let body = request
            .body()
            .try_clone()
            .ok_or(GiveUpReason::BodyTooLarge)?;
        let mut copy = Request::new(body);
        *copy.method_mut() = request.method().clone();
        *copy.uri_mut() = request.uri().clone();
        *copy.version_mut() = request.version();
        *copy.headers_mut() = request.headers().clone();
        *copy.extensions_mut() = request.extensions().clone();
        Ok(copy)
    }

    fn correlation_id<'a>(&self, request: &'a Request<ReplayBody<B>>) -> Option<&'a str> {
        request
            .headers()
            .get(&self.correlation_header)
            .and_then(|v| v.to_str().ok())
    }
}

impl<R> crate::RetryLayerBuilder<fusebox_core::ResultClassifier, R> {
    /// Retries HTTP requests: [`HttpClassifier`](fusebox_core::HttpClassifier) decides (408,
    /// 429, 502, 503, 504 and transport errors are retryable), and [`HttpRequests`] copies
    /// requests. Put a [`BufferBodyLayer`] outside the retry layer.
    pub fn http(self) -> crate::RetryLayerBuilder<fusebox_core::HttpClassifier, HttpRequests> {
        self.classifier(fusebox_core::HttpClassifier::new())
            .requests(HttpRequests::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(method: Method, body: ReplayBody<String>) -> Request<ReplayBody<String>> {
        let mut r = Request::new(body);
        *r.method_mut() = method;
        r
    }

    #[test]
    fn only_idempotent_methods_are_resent_without_opt_in() {
        let p = HttpRequests::new();
        for m in [
            Method::GET,
            Method::HEAD,
            Method::OPTIONS,
            Method::PUT,
            Method::DELETE,
            Method::TRACE,
        ] {
            assert!(
                p.resend(&request(m.clone(), ReplayBody::buffered("")))
                    .is_ok(),
                "{m}"
            );
        }
        for m in [Method::POST, Method::PATCH] {
            assert_eq!(
                p.resend(&request(m.clone(), ReplayBody::buffered("")))
                    .unwrap_err(),
                GiveUpReason::NotIdempotent
            );
            let mut opted = request(m.clone(), ReplayBody::buffered("x"));
            opted
                .headers_mut()
                .insert("idempotency-key", "k1".parse().unwrap());
            assert!(p.resend(&opted).is_ok(), "{m} with Idempotency-Key");
            assert!(HttpRequests::new()
                .retry_non_idempotent(true)
                .resend(&request(m, ReplayBody::buffered("")))
                .is_ok());
        }
    }

    #[test]
    fn copies_keep_headers_and_body() {
        let mut r = request(Method::PUT, ReplayBody::buffered("payload"));
        r.headers_mut()
            .insert("x-request-id", "abc-1".parse().unwrap());
        *r.uri_mut() = "http://127.0.0.1/items/1".parse().unwrap();
        let p = HttpRequests::new();
        let copy = p.resend(&r).unwrap();
        assert_eq!(copy.uri(), r.uri());
        assert_eq!(copy.headers()["x-request-id"], "abc-1");
        assert_eq!(p.correlation_id(&copy), Some("abc-1"));
        assert_eq!(copy.body().size_hint().exact(), Some(7));
    }
}
