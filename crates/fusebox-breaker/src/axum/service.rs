//! The guarded route.

use super::future::RouteFuture;
use crate::breaker::Breaker;
use crate::keyed::ByKey;
use crate::service::{CircuitBreaker, PickBreaker};
use axum::response::Response;
use fusebox_core::HttpClassifier;
use std::task::{Context, Poll};
use tower_service::Service;

/// A route guarded by a breaker, answering `503` when open; built by
/// [`CircuitBreakerRouteLayer`](super::CircuitBreakerRouteLayer), or with one breaker per key ([`KeyedCircuitBreakerRoute`]) by
/// [`KeyedCircuitBreakerRouteLayer`](super::KeyedCircuitBreakerRouteLayer).
#[derive(Clone, Debug)]
pub struct CircuitBreakerRoute<S, B = Breaker> {
    pub(super) inner: CircuitBreaker<S, HttpClassifier, B>,
}

impl<S, B> CircuitBreakerRoute<S, B> {
    /// The breaker guarding this route (for a keyed route, what picks it).
    pub fn breaker(&self) -> &B {
        self.inner.breaker()
    }
}

impl<S, B, Request> Service<Request> for CircuitBreakerRoute<S, B>
where
    S: Service<Request, Response = Response>,
    B: PickBreaker<Request>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = RouteFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.get_mut().poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        RouteFuture {
            inner: self.inner.call(request),
        }
    }
}

/// A route guarded by one breaker per key, answering `503` when the key's breaker is open;
/// built by [`KeyedCircuitBreakerRouteLayer`](super::KeyedCircuitBreakerRouteLayer).
pub type KeyedCircuitBreakerRoute<S, K> = CircuitBreakerRoute<S, ByKey<K>>;
