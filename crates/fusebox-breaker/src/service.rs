use crate::breaker::Breaker;
use crate::error::CircuitBreakerError;
use crate::future::ResponseFuture;
use fusebox_core::{Classify, ResultClassifier};
use std::fmt;
use std::task::{Context, Poll};
use tower_service::Service;

/// A service guarded by a circuit breaker; built by
/// [`CircuitBreakerLayer`](crate::CircuitBreakerLayer).
///
/// `poll_ready` passes through to the inner service. `call` asks the breaker first: an open
/// circuit answers at once with [`CircuitBreakerError::Open`] without calling the inner service;
/// otherwise the call goes through and its result is classified and counted when it completes.
#[derive(Clone)]
pub struct CircuitBreaker<S, C = ResultClassifier> {
    inner: S,
    breaker: Breaker,
    classifier: C,
}

impl<S: fmt::Debug, C> fmt::Debug for CircuitBreaker<S, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreaker")
            .field("inner", &self.inner)
            .field("breaker", &self.breaker)
            .finish_non_exhaustive()
    }
}

impl<S> CircuitBreaker<S> {
    /// Guards `inner` with `breaker`, counting every `Err` as a failure.
    pub fn new(inner: S, breaker: Breaker) -> Self {
        CircuitBreaker::with_classifier(inner, breaker, ResultClassifier)
    }
}

impl<S, C> CircuitBreaker<S, C> {
    /// Guards `inner` with `breaker`, classifying results with `classifier`.
    pub fn with_classifier(inner: S, breaker: Breaker, classifier: C) -> Self {
        CircuitBreaker {
            inner,
            breaker,
            classifier,
        }
    }

    /// The breaker guarding this service.
    pub fn breaker(&self) -> &Breaker {
        &self.breaker
    }

    fusebox_core::define_inner_service_accessors!();
}

impl<S, C, Request> Service<Request> for CircuitBreaker<S, C>
where
    S: Service<Request>,
    C: Classify<S::Response, S::Error> + Clone,
{
    type Response = S::Response;
    type Error = CircuitBreakerError<S::Error>;
    type Future = ResponseFuture<S::Future, C>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner
            .poll_ready(cx)
            .map_err(CircuitBreakerError::Inner)
    }

    #[inline]
    fn call(&mut self, request: Request) -> Self::Future {
        match self.breaker.try_acquire() {
            Ok(permit) => {
                ResponseFuture::called(self.inner.call(request), permit, self.classifier.clone())
            }
            Err(open) => ResponseFuture::rejected(open, self.classifier.clone()),
        }
    }
}
