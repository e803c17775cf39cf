//! One service's call metrics: handles resolved once, and the record of one call.

use crate::names;
use fusebox_core::Outcome;
use metrics::{Counter, Gauge, Histogram};
use std::fmt;
use std::sync::Arc;
use tokio::time::Instant;

/// The handles a [`MetricsLayer`](crate::MetricsLayer) records to, resolved from the recorder
/// installed when the layer was made: a call looks nothing up.
pub(crate) struct CallMetrics {
    service: String,
    success: Counter,
    failure: Counter,
    ignored: Counter,
    duration: Histogram,
    in_flight: Gauge,
    slo: Option<crate::SloTracker>,
}

impl fmt::Debug for CallMetrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallMetrics")
            .field("service", &self.service)
            .finish_non_exhaustive()
    }
}

impl CallMetrics {
    pub(crate) fn new(service: &str) -> Self {
        CallMetrics::labelled(service, None)
    }

    /// The handles of `service`'s calls with `key` as their key label.
    pub(crate) fn keyed(service: &str, key: &str) -> Self {
        CallMetrics::labelled(service, Some(key))
    }

    fn labelled(service: &str, key: Option<&str>) -> Self {
        let mut labels = vec![metrics::Label::new(
            names::SERVICE_LABEL,
            service.to_owned(),
        )];
        if let Some(key) = key {
            labels.push(metrics::Label::new(names::KEY_LABEL, key.to_owned()));
        }
        let calls = |outcome: &'static str| {
            let mut labels = labels.clone();
            labels.push(metrics::Label::new("outcome", outcome));
            metrics::counter!(names::CALLS, labels)
        };
        CallMetrics {
            service: service.to_owned(),
            success: calls("success"),
            failure: calls("failure"),
            ignored: calls("ignored"),
            duration: metrics::histogram!(names::CALL_DURATION, labels.clone()),
            in_flight: metrics::gauge!(names::CALLS_IN_FLIGHT, labels),
            slo: None,
        }
    }

    /// The same handles, also counting calls in `tracker`.
    pub(crate) fn with_slo(mut self, tracker: crate::SloTracker) -> Self {
        self.slo = Some(tracker);
        self
    }

    pub(crate) fn service(&self) -> &str {
        &self.service
    }
}

/// A call under way: counted in flight from its start until its outcome is recorded, or
/// until it is dropped, which counts it as ignored (a call its caller gave up on says nothing
/// about the dependency).
pub struct Call {
    metrics: Arc<CallMetrics>,
    start: Instant,
    recorded: bool,
}

impl fmt::Debug for Call {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Call")
            .field("service", &self.metrics.service)
            .field("start", &self.start)
            .finish_non_exhaustive()
    }
}

impl Call {
    /// Starts timing a call of `metrics`' service.
    #[inline]
    pub(crate) fn start(metrics: &Arc<CallMetrics>) -> Self {
        metrics.in_flight.increment(1.0);
        Call {
            metrics: metrics.clone(),
            start: Instant::now(),
            recorded: false,
        }
    }

    /// Records the call's outcome and its duration, and takes it out of the in-flight count.
    #[inline]
    pub(crate) fn finish(&mut self, outcome: Outcome) {
        if std::mem::replace(&mut self.recorded, true) {
            return;
        }
        let metrics = &*self.metrics;
        let counted = if outcome.is_success() {
            &metrics.success
        } else if outcome.is_failure() {
            &metrics.failure
        } else {
            &metrics.ignored
        };
        counted.increment(1);
        if outcome.is_success() || outcome.is_failure() {
            let elapsed = self.start.elapsed();
            metrics.duration.record(elapsed.as_secs_f64());
            if let Some(tracker) = &metrics.slo {
                tracker.record(&outcome, elapsed);
            }
        }
        metrics.in_flight.decrement(1.0);
    }
}

impl Drop for Call {
    #[inline]
    fn drop(&mut self) {
        self.finish(Outcome::Ignored);
    }
}

#[cfg(feature = "http")]
impl fusebox_core::RecordOutcome for Call {
    /// Records the outcome decided at the end of a response body.
    fn record_outcome(mut self, outcome: Outcome) {
        self.finish(outcome);
    }
}
