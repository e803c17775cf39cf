//! The body-buffering service.

use super::body::ReplayBody;
use super::future::{BufferFuture, BufferState};
use super::BoxError;
use bytes::BytesMut;
use http::Request;
use http_body::Body;
use std::task::{Context, Poll};
use tower_service::Service;

/// Reads each request's body into memory (up to a limit) before calling the inner service with
/// a [`ReplayBody`](super::ReplayBody); built by [`BufferBodyLayer`](super::BufferBodyLayer).
#[derive(Clone, Debug)]
pub struct BufferBody<S> {
    pub(super) inner: S,
    pub(super) limit: usize,
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
