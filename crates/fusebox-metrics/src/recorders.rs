//! What a layer records one service's calls with: shared by `MetricsLayer` and
//! `StreamingMetricsLayer`.

use crate::call::{Call, CallMetrics};
use crate::key::KeyedMetrics;
use std::sync::Arc;

/// Everything a layer records one service's calls with: its handles, those of each key when
/// keyed ([`MetricsLayer::key_by`](crate::MetricsLayer::key_by)), and its SLO tracker, if any.
/// Cheap to clone.
#[derive(Clone, Debug)]
pub(crate) struct ServiceMetrics {
    metrics: Arc<CallMetrics>,
    keyed: Option<Arc<KeyedMetrics>>,
    slo: Option<crate::SloTracker>,
}

impl ServiceMetrics {
    pub(crate) fn new(service: &str) -> Self {
        ServiceMetrics {
            metrics: Arc::new(CallMetrics::new(service)),
            keyed: None,
            slo: None,
        }
    }

    pub(crate) fn service(&self) -> &str {
        self.metrics.service()
    }

    /// The same, also counting every call in `tracker`.
    pub(crate) fn with_slo(mut self, tracker: &crate::SloTracker) -> Self {
        self.slo = Some(tracker.clone());
        self.metrics = Arc::new(CallMetrics::new(self.metrics.service()).with_slo(tracker.clone()));
        match self.keyed.take() {
            Some(keyed) => self.with_keys(keyed.cap()),
            None => self,
        }
    }

    /// The same, with a fresh set of keyed handles, up to `cap` keys.
    pub(crate) fn with_keys(mut self, cap: usize) -> Self {
        let slo = self.slo.clone();
        let make = move |service: &str, key: &str| {
            let metrics = CallMetrics::keyed(service, key);
            match &slo {
                Some(tracker) => metrics.with_slo(tracker.clone()),
                None => metrics,
            }
        };
        let keyed = KeyedMetrics::new(self.metrics.service(), cap, make);
        self.keyed = Some(Arc::new(keyed));
        self
    }

    /// Starts a call, of `key` when the layer is keyed and the request has one.
    #[inline]
    pub(crate) fn start(&self, key: Option<std::borrow::Cow<'_, str>>) -> Call {
        match (&self.keyed, key) {
            (Some(keyed), Some(key)) => keyed.with(&key, Call::start),
            _ => Call::start(&self.metrics),
        }
    }
}
