use super::future::StreamingResponseFuture;
use crate::breaker::{Breaker, Permit};
use crate::error::CircuitBreakerError;
use crate::service::PickBreaker;
use fusebox_core::{ClassifiedBody, ClassifyResponse, MakeClassifyResponse};
use std::fmt;
use std::task::{Context, Poll};
use tower_service::Service;

/// An HTTP service guarded by a circuit breaker whose classifier may wait for the end of the
/// response body; built by [`StreamingCircuitBreakerLayer`](super::StreamingCircuitBreakerLayer).
///
/// A rejection answers at once with [`CircuitBreakerError::Open`]. An admitted call's outcome
/// is recorded when its response head arrives if the classifier decides from it, otherwise
/// when the response body ends ([`ClassifiedBody`]); a body dropped before its end counts the
/// call as ignored and frees its half-open probe slot.
#[derive(Clone)]
pub struct StreamingCircuitBreaker<S, C, B = Breaker> {
    inner: S,
    breaker: B,
    classifier: C,
}

impl<S: fmt::Debug, C, B: fmt::Debug> fmt::Debug for StreamingCircuitBreaker<S, C, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamingCircuitBreaker")
            .field("inner", &self.inner)
            .field("breaker", &self.breaker)
            .finish_non_exhaustive()
    }
}

impl<S, C, B> StreamingCircuitBreaker<S, C, B> {
    /// Guards `inner` with `breaker` (a [`Breaker`], or any [`PickBreaker`]), classifying
    /// responses with `classifier`.
    pub fn new(inner: S, breaker: B, classifier: C) -> Self {
        StreamingCircuitBreaker {
            inner,
            breaker,
            classifier,
        }
    }

    /// The breaker guarding this service (for a keyed service, what picks it).
    pub fn breaker(&self) -> &B {
        &self.breaker
    }

    fusebox_core::define_inner_service_accessors!();
}

impl<S, C, B, Request, ResBody> Service<Request> for StreamingCircuitBreaker<S, C, B>
where
    S: Service<Request, Response = http::Response<ResBody>>,
    C: MakeClassifyResponse<Request, ResBody, S::Error>,
    B: PickBreaker<Request>,
    ResBody: http_body::Body,
{
    type Response = http::Response<
        ClassifiedBody<ResBody, <C::Classify as ClassifyResponse<ResBody, S::Error>>::Eos, Permit>,
    >;
    type Error = CircuitBreakerError<S::Error>;
    type Future = StreamingResponseFuture<S::Future, C::Classify>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner
            .poll_ready(cx)
            .map_err(CircuitBreakerError::Inner)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let classifier = self.classifier.make_classify_response(&request);
        match self.breaker.acquire(&request) {
            Ok(permit) => {
                // The outcome of a response decided at the end of its body is not recorded
                // in the span: the body outlives the call's future.
                crate::span::admitted(&permit);
                let future = self.inner.call(request);
                StreamingResponseFuture::called(future, permit, classifier)
            }
            Err(open) => StreamingResponseFuture::rejected(open, classifier),
        }
    }
}
