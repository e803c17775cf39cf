//! [`MetricsLayer`]: calls, outcomes, latency and calls in flight of one service.

use crate::key::NoKey;
use crate::recorders::ServiceMetrics;
use crate::service::MetricsService;
use fusebox_core::ResultClassifier;
use std::fmt;
use tower_layer::Layer;

/// Records every call through the services it wraps: `fusebox_calls_total` by outcome, as
/// the classifier decides, `fusebox_call_duration_seconds` and `fusebox_calls_in_flight`, all
/// labelled with the service's name.
///
/// The metric handles are resolved once, when the layer is made, from the
/// [`metrics`] recorder installed then: install the recorder (a
/// [`PrometheusExporter`](crate::PrometheusExporter), say) first. A call then looks nothing up
/// and allocates nothing; it reads the clock once, at its start, and once at its outcome.
///
/// The classifier is the one the breaker and the retry use: [`ResultClassifier`] (every `Err`
/// a failure) by default, [`HttpClassifier`](fusebox_core::HttpClassifier) with
/// [`http`](Self::http), or any closure or [`MakeClassify`](fusebox_core::MakeClassify) with
/// [`classifier`](Self::classifier). A call dropped before its outcome counts as `ignored`,
/// with no duration. For outcomes decided at the end of a response body (gRPC trailers),
/// use [`StreamingMetricsLayer`](crate::StreamingMetricsLayer). A key label per tenant, route
/// or host is opt-in, bounded: [`key_by`](Self::key_by).
///
/// ```
/// use fusebox_metrics::MetricsLayer;
/// use tower::{service_fn, ServiceBuilder, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), std::io::Error> {
/// let service = ServiceBuilder::new()
///     .layer(MetricsLayer::new("geocoder"))
///     .service(service_fn(|city: &'static str| async move {
///         Ok::<_, std::io::Error>(city.len())
///     }));
/// assert_eq!(service.oneshot("Lisbon").await?, 6);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct MetricsLayer<C = ResultClassifier, K = NoKey> {
    metrics: ServiceMetrics,
    key: K,
    classifier: C,
}

impl<C, K> fmt::Debug for MetricsLayer<C, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MetricsLayer")
            .field("metrics", &self.metrics)
            .finish_non_exhaustive()
    }
}

impl MetricsLayer {
    /// A layer recording calls of `service`, every `Err` a failure.
    pub fn new(service: &str) -> Self {
        MetricsLayer {
            metrics: ServiceMetrics::new(service),
            key: NoKey,
            classifier: ResultClassifier,
        }
    }
}

#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
impl MetricsLayer<fusebox_core::HttpClassifier> {
    /// A layer for an HTTP service: 5xx, 408, 429 and transport errors are failures.
    pub fn http(service: &str) -> Self {
        MetricsLayer::new(service).classifier(fusebox_core::HttpClassifier::new())
    }
}

impl<C, K> MetricsLayer<C, K> {
    /// Uses `classifier` to decide each call's outcome: a closure, a classifier of fusebox's,
    /// or any [`MakeClassify`](fusebox_core::MakeClassify).
    pub fn classifier<C2>(self, classifier: C2) -> MetricsLayer<C2, K> {
        MetricsLayer {
            metrics: self.metrics,
            key: self.key,
            classifier,
        }
    }

    /// Labels each call with its request's key as well (`key`: a tenant, a route, a host),
    /// from `key` (a closure `Fn(&Request) -> Option<String>`, or a `HeaderKey` with feature
    /// `http`: any [`MetricsKey`](crate::MetricsKey)), for the
    /// first `cap` keys seen; later keys share the `__other__` key's series, so a hostile or
    /// unbounded key cannot grow the metrics without bound. A request without a key is
    /// counted under the service alone. Each new key's handles are resolved once; a call of a
    /// known key takes a read lock to find them.
    ///
    /// ```
    /// use fusebox_metrics::MetricsLayer;
    ///
    /// let layer = MetricsLayer::new("calendar")
    ///     .key_by(100, |tenant: &String| Some(tenant.clone()));
    /// # drop(layer);
    /// ```
    pub fn key_by<K2>(self, cap: usize, key: K2) -> MetricsLayer<C, K2> {
        MetricsLayer {
            metrics: self.metrics.with_keys(cap),
            key,
            classifier: self.classifier,
        }
    }

    /// The name of the service whose calls this layer records.
    pub fn service(&self) -> &str {
        self.metrics.service()
    }

    /// Also counts every call's outcome and duration in `tracker`, the in-process view of the
    /// service's objectives (one lock per call, taken after the call).
    pub fn slo(mut self, tracker: &crate::SloTracker) -> Self {
        self.metrics = self.metrics.with_slo(tracker);
        self
    }
}

impl<S, C: Clone, K: Clone> Layer<S> for MetricsLayer<C, K> {
    type Service = MetricsService<S, C, K>;

    fn layer(&self, inner: S) -> Self::Service {
        MetricsService::new(
            inner,
            self.metrics.clone(),
            self.key.clone(),
            self.classifier.clone(),
        )
    }
}
