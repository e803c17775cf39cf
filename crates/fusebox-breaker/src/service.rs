use crate::breaker::{Breaker, Permit};
use crate::error::CircuitBreakerError;
use crate::future::ResponseFuture;
use fusebox_core::CircuitOpen;
use fusebox_core::{MakeClassify, ResultClassifier};
use std::fmt;
use std::task::{Context, Poll};
use tower_service::Service;

/// Chooses the breaker that guards a request and asks it for a permit.
///
/// [`Breaker`] guards every request; [`ByKey`](crate::ByKey) picks one breaker per key.
pub trait PickBreaker<Request> {
    /// A permit for `request`, or the rejection of its breaker.
    fn acquire(&self, request: &Request) -> Result<Permit, CircuitOpen>;
}

impl<Request> PickBreaker<Request> for Breaker {
    #[inline(always)]
    fn acquire(&self, _: &Request) -> Result<Permit, CircuitOpen> {
        self.try_acquire()
    }
}

/// A service guarded by a circuit breaker; built by
/// [`CircuitBreakerLayer`](crate::CircuitBreakerLayer), or, with one breaker per key
/// (`B` = [`ByKey`](crate::ByKey)), by [`KeyedCircuitBreakerLayer`](crate::KeyedCircuitBreakerLayer).
///
/// `poll_ready` passes through to the inner service. `call` asks the breaker first: an open
/// circuit answers at once with [`CircuitBreakerError::Open`] without calling the inner service;
/// otherwise the call goes through and its result is classified and counted when it completes.
///
/// With `DEBUG` enabled, an admitted call records `breaker`, `key`, `probe` and, once known,
/// `outcome` in the span it runs in (a retry attempt's, or a
/// [`CorrelationLayer`](fusebox_core::CorrelationLayer)'s `fusebox_call`), and a rejection
/// logs a `DEBUG` event; with tracing off, each costs one level check. A rejection carries
/// the call's [`CorrelationId`](fusebox_core::CorrelationId), when it has one.
#[derive(Clone)]
pub struct CircuitBreaker<S, C = ResultClassifier, B = Breaker> {
    inner: S,
    breaker: B,
    classifier: C,
}

impl<S: fmt::Debug, C, B: fmt::Debug> fmt::Debug for CircuitBreaker<S, C, B> {
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

impl<S, C, B> CircuitBreaker<S, C, B> {
    /// Guards `inner` with `breaker` (a [`Breaker`], or any [`PickBreaker`]), classifying
    /// results with `classifier`.
    pub fn with_classifier(inner: S, breaker: B, classifier: C) -> Self {
        CircuitBreaker {
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

impl<S, C, B, Request> Service<Request> for CircuitBreaker<S, C, B>
where
    S: Service<Request>,
    C: MakeClassify<Request, S::Response, S::Error>,
    B: PickBreaker<Request>,
{
    type Response = S::Response;
    type Error = CircuitBreakerError<S::Error>;
    type Future = ResponseFuture<S::Future, C::Classify>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner
            .poll_ready(cx)
            .map_err(CircuitBreakerError::Inner)
    }

    #[inline(always)]
    fn call(&mut self, request: Request) -> Self::Future {
        // The classifier's per-request stage sees the request before it is sent.
        let classifier = self.classifier.make_classify(&request);
        match self.breaker.acquire(&request) {
            Ok(permit) => {
                crate::span::admitted(&permit);
                let future = self.inner.call(request);
                ResponseFuture::called(future, permit, classifier)
            }
            Err(open) => ResponseFuture::rejected(open, classifier),
        }
    }
}
