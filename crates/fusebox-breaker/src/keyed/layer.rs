use super::extract::KeyExtractor;
use super::map::KeyedBreakers;
use crate::error::CircuitBreakerError;
use crate::future::ResponseFuture;
use fusebox_core::{Classify, ResultClassifier};
use std::fmt;
use std::task::{Context, Poll};
use tower_layer::Layer;
use tower_service::Service;

/// Guards each request with the breaker of its key; builds [`KeyedCircuitBreaker`].
///
/// ```
/// use fusebox_breaker::{Breaker, HeaderKey, KeyedCircuitBreakerLayer};
///
/// let tenants = Breaker::builder("calendar")
///     .consecutive_failures(5)
///     .keyed()
///     .key_label("tenant_id")
///     .build()?;
/// let layer = KeyedCircuitBreakerLayer::new(
///     tenants,
///     HeaderKey::new(http::HeaderName::from_static("x-tenant-id")),
/// );
/// # Ok::<(), fusebox_breaker::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct KeyedCircuitBreakerLayer<K, C = ResultClassifier> {
    breakers: KeyedBreakers,
    extractor: K,
    classifier: C,
}

impl<K, C> fmt::Debug for KeyedCircuitBreakerLayer<K, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedCircuitBreakerLayer")
            .field("breakers", &self.breakers)
            .finish_non_exhaustive()
    }
}

impl<K> KeyedCircuitBreakerLayer<K> {
    /// Picks each request's breaker from `breakers` by `extractor`; every `Err` is a failure.
    pub fn new(breakers: KeyedBreakers, extractor: K) -> Self {
        KeyedCircuitBreakerLayer {
            breakers,
            extractor,
            classifier: ResultClassifier,
        }
    }
}

impl<K, C> KeyedCircuitBreakerLayer<K, C> {
    /// Uses `classifier` to decide what counts as a failure.
    pub fn classifier<C2>(self, classifier: C2) -> KeyedCircuitBreakerLayer<K, C2> {
        KeyedCircuitBreakerLayer {
            breakers: self.breakers,
            extractor: self.extractor,
            classifier,
        }
    }

    /// The breakers this layer picks from.
    pub fn breakers(&self) -> &KeyedBreakers {
        &self.breakers
    }
}

impl<S, K: Clone, C: Clone> Layer<S> for KeyedCircuitBreakerLayer<K, C> {
    type Service = KeyedCircuitBreaker<S, K, C>;

    fn layer(&self, inner: S) -> Self::Service {
        KeyedCircuitBreaker {
            inner,
            breakers: self.breakers.clone(),
            extractor: self.extractor.clone(),
            classifier: self.classifier.clone(),
        }
    }
}

/// A service guarded by one breaker per key; built by [`KeyedCircuitBreakerLayer`].
///
/// Behaves as [`CircuitBreaker`](crate::CircuitBreaker) does, with the breaker chosen per
/// request: the rejection ([`CircuitOpen`](crate::CircuitOpen)) names the key.
#[derive(Clone)]
pub struct KeyedCircuitBreaker<S, K, C = ResultClassifier> {
    inner: S,
    breakers: KeyedBreakers,
    extractor: K,
    classifier: C,
}

impl<S: fmt::Debug, K, C> fmt::Debug for KeyedCircuitBreaker<S, K, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedCircuitBreaker")
            .field("inner", &self.inner)
            .field("breakers", &self.breakers)
            .finish_non_exhaustive()
    }
}

impl<S, K, C> KeyedCircuitBreaker<S, K, C> {
    /// The breakers this service picks from.
    pub fn breakers(&self) -> &KeyedBreakers {
        &self.breakers
    }

    fusebox_core::define_inner_service_accessors!();
}

impl<S, K, C, Request> Service<Request> for KeyedCircuitBreaker<S, K, C>
where
    S: Service<Request>,
    K: KeyExtractor<Request>,
    C: Classify<S::Response, S::Error> + Clone,
{
    type Response = S::Response;
    type Error = CircuitBreakerError<S::Error>;
    type Future = ResponseFuture<S::Future, C>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner
            .poll_ready(cx)
            .map_err(CircuitBreakerError::Inner)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let breaker = match self.extractor.extract(&request) {
            Some(key) => self.breakers.get(&key),
            None => self.breakers.unkeyed().clone(),
        };
        match breaker.try_acquire_owned() {
            Ok(permit) => {
                ResponseFuture::called(self.inner.call(request), permit, self.classifier.clone())
            }
            Err(open) => ResponseFuture::rejected(open, self.classifier.clone()),
        }
    }
}
