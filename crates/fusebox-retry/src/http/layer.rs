//! The body-buffering layer.

use super::service::BufferBody;
use tower_layer::Layer;

/// Buffers request bodies up to `limit` bytes so they can be re-sent; builds [`BufferBody`](super::BufferBody).
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
