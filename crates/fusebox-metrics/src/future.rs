//! The [`ResponseFuture`] of [`MetricsService`](crate::MetricsService).

use crate::call::Call;
use fusebox_core::Classify;
use pin_project_lite::pin_project;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

pin_project! {
    /// Completes with the inner service's result, recording its outcome and duration.
    /// Dropped before it completes, it counts the call as ignored.
    pub struct ResponseFuture<F, C> {
        #[pin]
        future: F,
        call: Call,
        classifier: C,
    }
}

impl<F, C> ResponseFuture<F, C> {
    pub(crate) fn new(future: F, call: Call, classifier: C) -> Self {
        ResponseFuture {
            future,
            call,
            classifier,
        }
    }
}

impl<F, C> fmt::Debug for ResponseFuture<F, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("call", &self.call)
            .finish_non_exhaustive()
    }
}

impl<F, C, T, E> Future for ResponseFuture<F, C>
where
    F: Future<Output = Result<T, E>>,
    C: Classify<T, E>,
{
    type Output = Result<T, E>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = ready!(this.future.poll(cx));
        this.call.finish(this.classifier.classify(result.as_ref()));
        Poll::Ready(result)
    }
}
