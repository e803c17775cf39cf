//! [`StreamingMetricsLayer`]: call metrics for HTTP services whose outcome may wait for the
//! end of the response body (the classifier's second stage, gRPC's trailers).

use crate::call::Call;
use crate::key::{MetricsKey, NoKey};
use crate::recorders::ServiceMetrics;
use fusebox_core::{ClassifiedBody, ClassifyResponse, MakeClassifyResponse};
use pin_project_lite::pin_project;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use tower_layer::Layer;
use tower_service::Service;

/// Records calls as [`MetricsLayer`](crate::MetricsLayer) does, with a two-stage classifier:
/// an outcome decided from the response head is recorded then; one that waits for the end of
/// the body (a gRPC status in the trailers) is recorded when the body ends, with the duration
/// up to that end, and the call stays in flight until then. A body dropped before its end
/// counts the call as ignored. Nothing is buffered.
///
/// ```
/// use fusebox_metrics::StreamingMetricsLayer;
/// use fusebox_core::HttpClassifier;
/// use http_body_util::Empty;
/// use tower::{service_fn, ServiceBuilder, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), std::io::Error> {
/// let client = ServiceBuilder::new()
///     .layer(StreamingMetricsLayer::new("search", HttpClassifier::new()))
///     .service(service_fn(|_: ()| async {
///         Ok::<_, std::io::Error>(http::Response::new(Empty::<bytes::Bytes>::new()))
///     }));
/// assert_eq!(client.oneshot(()).await?.status(), 200);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct StreamingMetricsLayer<C, K = NoKey> {
    metrics: ServiceMetrics,
    key: K,
    classifier: C,
}

impl<C, K> fmt::Debug for StreamingMetricsLayer<C, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamingMetricsLayer")
            .field("metrics", &self.metrics)
            .finish_non_exhaustive()
    }
}

impl<C> StreamingMetricsLayer<C> {
    /// A layer recording calls of `service`, classified by `classifier`.
    pub fn new(service: &str, classifier: C) -> Self {
        StreamingMetricsLayer {
            metrics: ServiceMetrics::new(service),
            key: NoKey,
            classifier,
        }
    }
}

impl<C, K> StreamingMetricsLayer<C, K> {
    /// The name of the service whose calls this layer records.
    pub fn service(&self) -> &str {
        self.metrics.service()
    }

    /// Labels each call with its request's key as well, for the first `cap` keys seen, as
    /// [`MetricsLayer::key_by`](crate::MetricsLayer::key_by) does.
    pub fn key_by<K2>(self, cap: usize, key: K2) -> StreamingMetricsLayer<C, K2> {
        StreamingMetricsLayer {
            metrics: self.metrics.with_keys(cap),
            key,
            classifier: self.classifier,
        }
    }

    /// Also counts every call in `tracker`, as [`MetricsLayer::slo`](crate::MetricsLayer::slo)
    /// does (a streamed call when its body ends).
    pub fn slo(mut self, tracker: &crate::SloTracker) -> Self {
        self.metrics = self.metrics.with_slo(tracker);
        self
    }
}

#[cfg(feature = "grpc")]
#[cfg_attr(docsrs, doc(cfg(feature = "grpc")))]
impl StreamingMetricsLayer<fusebox_core::GrpcClassifier> {
    /// A layer for a gRPC client: the status from the response headers, or from the trailers
    /// when the body ends.
    pub fn grpc(service: &str) -> Self {
        StreamingMetricsLayer::new(service, fusebox_core::GrpcClassifier::new())
    }
}

impl<S, C: Clone, K: Clone> Layer<S> for StreamingMetricsLayer<C, K> {
    type Service = StreamingMetricsService<S, C, K>;

    fn layer(&self, inner: S) -> Self::Service {
        StreamingMetricsService {
            inner,
            metrics: self.metrics.clone(),
            key: self.key.clone(),
            classifier: self.classifier.clone(),
        }
    }
}

/// An HTTP service whose calls are recorded; built by [`StreamingMetricsLayer`].
#[derive(Clone)]
pub struct StreamingMetricsService<S, C, K = NoKey> {
    inner: S,
    metrics: ServiceMetrics,
    key: K,
    classifier: C,
}

impl<S: fmt::Debug, C, K> fmt::Debug for StreamingMetricsService<S, C, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamingMetricsService")
            .field("inner", &self.inner)
            .field("service", &self.metrics.service())
            .finish_non_exhaustive()
    }
}

impl<S, C, K> StreamingMetricsService<S, C, K> {
    fusebox_core::define_inner_service_accessors!();
}

impl<S, C, K, Request, ResBody> Service<Request> for StreamingMetricsService<S, C, K>
where
    S: Service<Request, Response = http::Response<ResBody>>,
    C: MakeClassifyResponse<Request, ResBody, S::Error>,
    K: MetricsKey<Request>,
    ResBody: http_body::Body,
{
    type Response = http::Response<
        ClassifiedBody<ResBody, <C::Classify as ClassifyResponse<ResBody, S::Error>>::Eos, Call>,
    >;
    type Error = S::Error;
    type Future = StreamingResponseFuture<S::Future, C::Classify>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let classifier = self.classifier.make_classify_response(&request);
        let call = self.metrics.start(self.key.key(&request));
        StreamingResponseFuture {
            future: self.inner.call(request),
            call: Some(call),
            classifier,
        }
    }
}

pin_project! {
    /// Completes with the inner service's response, its body wrapped to record the outcome at
    /// its end when the head does not decide it.
    pub struct StreamingResponseFuture<F, C> {
        #[pin]
        future: F,
        call: Option<Call>,
        classifier: C,
    }
}

impl<F, C> fmt::Debug for StreamingResponseFuture<F, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamingResponseFuture")
            .field("call", &self.call)
            .finish_non_exhaustive()
    }
}

impl<F, C, ResBody, E> Future for StreamingResponseFuture<F, C>
where
    F: Future<Output = Result<http::Response<ResBody>, E>>,
    C: ClassifyResponse<ResBody, E>,
    ResBody: http_body::Body,
{
    type Output = Result<http::Response<ClassifiedBody<ResBody, C::Eos, Call>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = ready!(this.future.poll(cx));
        let call = this
            .call
            .take()
            .expect("StreamingResponseFuture polled after completion");
        Poll::Ready(fusebox_core::record_response(this.classifier, result, call))
    }
}
