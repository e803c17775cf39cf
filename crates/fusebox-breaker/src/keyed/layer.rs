use super::extract::KeyExtractor;
use super::map::KeyedBreakers;
use crate::breaker::Permit;
use crate::service::{CircuitBreaker, PickBreaker};
use fusebox_core::CircuitOpen;
use fusebox_core::ResultClassifier;
use std::fmt;
use tower_layer::Layer;

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
    picker: ByKey<K>,
    classifier: C,
}

impl<K, C> fmt::Debug for KeyedCircuitBreakerLayer<K, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedCircuitBreakerLayer")
            .field("breakers", self.picker.breakers())
            .finish_non_exhaustive()
    }
}

impl<K> KeyedCircuitBreakerLayer<K> {
    /// Picks each request's breaker from `breakers` by `extractor`; every `Err` is a failure.
    pub fn new(breakers: KeyedBreakers, extractor: K) -> Self {
        KeyedCircuitBreakerLayer {
            picker: ByKey::new(breakers, extractor),
            classifier: ResultClassifier,
        }
    }
}

#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
impl<K> KeyedCircuitBreakerLayer<K, fusebox_core::HttpClassifier> {
    /// A layer for HTTP services, one breaker per key: 5xx, 408, 429 and transport errors are
    /// failures.
    pub fn http(breakers: KeyedBreakers, extractor: K) -> Self {
        KeyedCircuitBreakerLayer::new(breakers, extractor)
            .classifier(fusebox_core::HttpClassifier::new())
    }
}

impl<K, C> KeyedCircuitBreakerLayer<K, C> {
    /// Uses `classifier` to decide what counts as a failure.
    pub fn classifier<C2>(self, classifier: C2) -> KeyedCircuitBreakerLayer<K, C2> {
        KeyedCircuitBreakerLayer {
            picker: self.picker,
            classifier,
        }
    }

    /// The breakers this layer picks from.
    pub fn breakers(&self) -> &KeyedBreakers {
        self.picker.breakers()
    }
}

impl<S, K: Clone, C: Clone> Layer<S> for KeyedCircuitBreakerLayer<K, C> {
    type Service = KeyedCircuitBreaker<S, K, C>;

    fn layer(&self, inner: S) -> Self::Service {
        CircuitBreaker::with_classifier(inner, self.picker.clone(), self.classifier.clone())
    }
}

/// Picks each request's breaker from a [`KeyedBreakers`] set by a [`KeyExtractor`]; requests
/// without a key share the set's unkeyed breaker.
#[derive(Clone, Debug)]
pub struct ByKey<K> {
    breakers: KeyedBreakers,
    extractor: K,
}

impl<K> ByKey<K> {
    /// Picks from `breakers` by `extractor`.
    pub fn new(breakers: KeyedBreakers, extractor: K) -> Self {
        ByKey {
            breakers,
            extractor,
        }
    }

    /// The set it picks from.
    pub fn breakers(&self) -> &KeyedBreakers {
        &self.breakers
    }
}

impl<K, Request> PickBreaker<Request> for ByKey<K>
where
    K: KeyExtractor<Request>,
{
    #[inline]
    fn acquire(&self, request: &Request) -> Result<Permit, CircuitOpen> {
        match self.extractor.extract(request) {
            Some(key) => self.breakers.acquire(&key),
            None => self.breakers.unkeyed().try_acquire(),
        }
    }
}

/// A service guarded by one breaker per key; built by [`KeyedCircuitBreakerLayer`].
///
/// Behaves as [`CircuitBreaker`] does, with the breaker chosen per request: the rejection
/// ([`CircuitOpen`]) names the key.
pub type KeyedCircuitBreaker<S, K, C = ResultClassifier> = CircuitBreaker<S, C, ByKey<K>>;
