//! The route layers.

use super::service::{CircuitBreakerRoute, KeyedCircuitBreakerRoute};
use crate::breaker::Breaker;
use crate::keyed::{KeyedBreakers, KeyedCircuitBreakerLayer};
use crate::service::CircuitBreaker;
use fusebox_core::HttpClassifier;
use tower_layer::Layer;

/// Guards axum routes with a breaker; rejections become `503` responses (see the
/// [module docs](super)). Results are classified with [`HttpClassifier`].
#[derive(Clone, Debug)]
pub struct CircuitBreakerRouteLayer {
    breaker: Breaker,
    classifier: HttpClassifier,
}

impl CircuitBreakerRouteLayer {
    /// A route layer for `breaker`.
    pub fn new(breaker: Breaker) -> Self {
        CircuitBreakerRouteLayer {
            breaker,
            classifier: HttpClassifier::new(),
        }
    }

    /// Replaces the HTTP classifier (for example to cap `Retry-After` differently).
    pub fn classifier(mut self, classifier: HttpClassifier) -> Self {
        self.classifier = classifier;
        self
    }
}

impl<S> Layer<S> for CircuitBreakerRouteLayer {
    type Service = CircuitBreakerRoute<S>;

    fn layer(&self, inner: S) -> Self::Service {
        CircuitBreakerRoute {
            inner: CircuitBreaker::with_classifier(inner, self.breaker.clone(), self.classifier),
        }
    }
}

/// Guards axum routes with one breaker per key; rejections become `503` responses naming the
/// key. Results are classified with [`HttpClassifier`].
///
/// ```
/// use axum::{routing::get, Router};
/// use fusebox_breaker::{axum::KeyedCircuitBreakerRouteLayer, Breaker, HeaderKey};
///
/// let tenants = Breaker::builder("calendar").keyed().key_label("tenant_id").build()?;
/// let app: Router = Router::new()
///     .route("/events", get(|| async { "[]" }))
///     .route_layer(KeyedCircuitBreakerRouteLayer::new(
///         tenants,
///         HeaderKey::new(http::HeaderName::from_static("x-tenant-id")),
///     ));
/// # Ok::<(), fusebox_breaker::ConfigError>(())
/// ```
#[derive(Clone, Debug)]
pub struct KeyedCircuitBreakerRouteLayer<K> {
    inner: KeyedCircuitBreakerLayer<K, HttpClassifier>,
}

impl<K> KeyedCircuitBreakerRouteLayer<K> {
    /// A route layer picking each request's breaker from `breakers` by `extractor`.
    pub fn new(breakers: KeyedBreakers, extractor: K) -> Self {
        KeyedCircuitBreakerRouteLayer {
            inner: KeyedCircuitBreakerLayer::new(breakers, extractor)
                .classifier(HttpClassifier::new()),
        }
    }
}

impl<S, K: Clone> Layer<S> for KeyedCircuitBreakerRouteLayer<K> {
    type Service = KeyedCircuitBreakerRoute<S, K>;

    fn layer(&self, inner: S) -> Self::Service {
        CircuitBreakerRoute {
            inner: self.inner.layer(inner),
        }
    }
}
