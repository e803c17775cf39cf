//! [`MetricsService`], made by [`MetricsLayer`](crate::MetricsLayer).

use crate::call::{Call, CallMetrics};
use crate::future::ResponseFuture;
use fusebox_core::MakeClassify;
use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};
use tower_service::Service;

/// A service whose calls are recorded; built by [`MetricsLayer`](crate::MetricsLayer).
#[derive(Clone)]
pub struct MetricsService<S, C> {
    inner: S,
    metrics: Arc<CallMetrics>,
    classifier: C,
}

impl<S: fmt::Debug, C> fmt::Debug for MetricsService<S, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MetricsService")
            .field("inner", &self.inner)
            .field("service", &self.metrics.service())
            .finish_non_exhaustive()
    }
}

impl<S, C> MetricsService<S, C> {
    pub(crate) fn new(inner: S, metrics: Arc<CallMetrics>, classifier: C) -> Self {
        MetricsService {
            inner,
            metrics,
            classifier,
        }
    }

    fusebox_core::define_inner_service_accessors!();
}

impl<S, C, Request> Service<Request> for MetricsService<S, C>
where
    S: Service<Request>,
    C: MakeClassify<Request, S::Response, S::Error>,
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
        let call = Call::start(&self.metrics);
        ResponseFuture::new(self.inner.call(request), call, classifier)
    }
}
