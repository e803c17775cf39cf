use super::service::StreamingCircuitBreaker;
use crate::breaker::Breaker;
use std::fmt;
use tower_layer::Layer;

/// Wraps HTTP services in a [`StreamingCircuitBreaker`]: like
/// [`CircuitBreakerLayer`](crate::CircuitBreakerLayer), with a two-stage classifier
/// ([`ClassifyResponse`](fusebox_core::ClassifyResponse)) whose verdict may wait for the end of
/// the response body.
#[derive(Clone)]
pub struct StreamingCircuitBreakerLayer<C> {
    breaker: Breaker,
    classifier: C,
}

impl<C> fmt::Debug for StreamingCircuitBreakerLayer<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamingCircuitBreakerLayer")
            .field("breaker", &self.breaker)
            .finish_non_exhaustive()
    }
}

impl<C> StreamingCircuitBreakerLayer<C> {
    /// A layer guarding services with `breaker`, classifying responses with `classifier`.
    pub fn new(breaker: Breaker, classifier: C) -> Self {
        StreamingCircuitBreakerLayer {
            breaker,
            classifier,
        }
    }

    /// The breaker this layer installs.
    pub fn breaker(&self) -> &Breaker {
        &self.breaker
    }
}

#[cfg(feature = "grpc")]
#[cfg_attr(docsrs, doc(cfg(feature = "grpc")))]
impl StreamingCircuitBreakerLayer<fusebox_core::GrpcClassifier> {
    /// A layer for gRPC clients: a trailers-only response is classified by its
    /// `grpc-status` header, a streaming one by its `grpc-status` trailer.
    pub fn grpc(breaker: Breaker) -> Self {
        StreamingCircuitBreakerLayer::new(breaker, fusebox_core::GrpcClassifier::new())
    }
}

impl<S, C: Clone> Layer<S> for StreamingCircuitBreakerLayer<C> {
    type Service = StreamingCircuitBreaker<S, C>;

    fn layer(&self, inner: S) -> Self::Service {
        StreamingCircuitBreaker::new(inner, self.breaker.clone(), self.classifier.clone())
    }
}
