//! The future of a guarded route.

use crate::error::CircuitBreakerError;
use crate::future::ResponseFuture;
use axum::response::{IntoResponse, Response};
use fusebox_core::HttpClassifier;
use pin_project_lite::pin_project;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

pin_project! {
    /// The future of [`CircuitBreakerRoute`] and [`KeyedCircuitBreakerRoute`].
    pub struct RouteFuture<F> {
        #[pin]
        pub(super) inner: ResponseFuture<F, HttpClassifier>,
    }
}

impl<F> std::fmt::Debug for RouteFuture<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RouteFuture").finish_non_exhaustive()
    }
}

impl<F, E> Future for RouteFuture<F>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match ready!(self.project().inner.poll(cx)) {
            Ok(response) => Poll::Ready(Ok(response)),
            Err(CircuitBreakerError::Open(open)) => Poll::Ready(Ok(open.into_response())),
            Err(CircuitBreakerError::Inner(e)) => Poll::Ready(Err(e)),
        }
    }
}
