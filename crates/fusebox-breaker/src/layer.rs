use crate::breaker::Breaker;
use crate::service::CircuitBreaker;
use fusebox_core::ResultClassifier;
use std::fmt;
use tower_layer::Layer;

/// Wraps services in a [`CircuitBreaker`] guarded by one shared [`Breaker`].
///
/// The classifier decides what counts as a failure: [`ResultClassifier`] (every `Err`) by
/// default, [`HttpClassifier`](fusebox_core::HttpClassifier) with [`http`](Self::http) (5xx, 408,
/// 429 and transport errors), or, with [`classifier`](Self::classifier), any closure, any
/// [`MakeClassify`](fusebox_core::MakeClassify) (a classifier made from each request by
/// [`PerRequest`](fusebox_core::PerRequest), so a rule can depend on the method or a header),
/// or a classifier type of your own in [`EveryRequest`](fusebox_core::EveryRequest).
///
/// ```
/// use fusebox_breaker::{Breaker, CircuitBreakerLayer};
/// use tower::{service_fn, ServiceBuilder, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
/// let breaker = Breaker::builder("geocoder").consecutive_failures(3).build()?;
/// let service = ServiceBuilder::new()
///     .layer(CircuitBreakerLayer::new(breaker.clone()))
///     .service(service_fn(|city: &'static str| async move {
///         Ok::<_, std::io::Error>(city.len())
///     }));
/// assert_eq!(service.oneshot("Lisbon").await?, 6);
/// assert_eq!(breaker.metrics().successes, 1);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct CircuitBreakerLayer<C = ResultClassifier> {
    breaker: Breaker,
    classifier: C,
}

impl<C> fmt::Debug for CircuitBreakerLayer<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreakerLayer")
            .field("breaker", &self.breaker)
            .finish_non_exhaustive()
    }
}

impl CircuitBreakerLayer {
    /// A layer that counts every `Err` as a failure.
    pub fn new(breaker: Breaker) -> Self {
        CircuitBreakerLayer {
            breaker,
            classifier: ResultClassifier,
        }
    }
}

#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
impl CircuitBreakerLayer<fusebox_core::HttpClassifier> {
    /// A layer for HTTP services: 5xx, 408, 429 and transport errors are failures.
    pub fn http(breaker: Breaker) -> Self {
        CircuitBreakerLayer {
            breaker,
            classifier: fusebox_core::HttpClassifier::new(),
        }
    }
}

impl<C> CircuitBreakerLayer<C> {
    /// Uses `classifier` to decide what counts as a failure: a closure, a classifier of
    /// fusebox's, or any [`MakeClassify`](fusebox_core::MakeClassify), whose classifier for
    /// each call is made from its request before the call is sent.
    pub fn classifier<C2>(self, classifier: C2) -> CircuitBreakerLayer<C2> {
        CircuitBreakerLayer {
            breaker: self.breaker,
            classifier,
        }
    }

    /// The breaker this layer installs.
    pub fn breaker(&self) -> &Breaker {
        &self.breaker
    }
}

impl<S, C: Clone> Layer<S> for CircuitBreakerLayer<C> {
    type Service = CircuitBreaker<S, C>;

    fn layer(&self, inner: S) -> Self::Service {
        CircuitBreaker::with_classifier(inner, self.breaker.clone(), self.classifier.clone())
    }
}

/// A breaker alone is a layer that counts every `Err` as a failure.
impl From<Breaker> for CircuitBreakerLayer {
    fn from(breaker: Breaker) -> Self {
        CircuitBreakerLayer::new(breaker)
    }
}
