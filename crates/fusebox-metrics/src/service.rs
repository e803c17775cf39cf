//! [`MetricsService`], made by [`MetricsLayer`](crate::MetricsLayer).

use crate::future::ResponseFuture;
use crate::key::{MetricsKey, NoKey};
use crate::recorders::ServiceMetrics;
use fusebox_core::MakeClassify;
use std::fmt;
use std::task::{Context, Poll};
use tower_service::Service;

/// A service whose calls are recorded; built by [`MetricsLayer`](crate::MetricsLayer).
#[derive(Clone)]
pub struct MetricsService<S, C, K = NoKey> {
    inner: S,
    metrics: ServiceMetrics,
    key: K,
    classifier: C,
}

impl<S: fmt::Debug, C, K> fmt::Debug for MetricsService<S, C, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MetricsService")
            .field("inner", &self.inner)
            .field("service", &self.metrics.service())
            .finish_non_exhaustive()
    }
}

impl<S, C, K> MetricsService<S, C, K> {
    pub(crate) fn new(inner: S, metrics: ServiceMetrics, key: K, classifier: C) -> Self {
        MetricsService {
            inner,
            metrics,
            key,
            classifier,
        }
    }

    fusebox_core::define_inner_service_accessors!();
}

impl<S, C, K, Request> Service<Request> for MetricsService<S, C, K>
where
    S: Service<Request>,
    C: MakeClassify<Request, S::Response, S::Error>,
    K: MetricsKey<Request>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, C::Classify>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    #[inline]
    fn call(&mut self, request: Request) -> Self::Future {
        let classifier = self.classifier.make_classify(&request);
        let call = self.metrics.start(self.key.key(&request));
        ResponseFuture::new(self.inner.call(request), call, classifier)
    }
}
