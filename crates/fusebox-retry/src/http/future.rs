//! The future of the body-buffering service.

use super::body::{Kind, ReplayBody};
use super::BoxError;
use bytes::{Buf, BytesMut};
use http::Request;
use http_body::Body;
use pin_project_lite::pin_project;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use tower_service::Service;

pin_project! {
    /// The future of [`BufferBody`](super::BufferBody): reads the body, then calls the inner service.
    pub struct BufferFuture<S, B>
    where
        S: Service<Request<ReplayBody<B>>>,
    {
        #[pin]
        pub(super) state: BufferState<S::Future, B>,
        pub(super) service: S,
    }
}

pin_project! {
    #[project = BufferProj]
    pub(super) enum BufferState<F, B> {
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
