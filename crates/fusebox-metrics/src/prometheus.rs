//! [`PrometheusExporter`]: the Prometheus recorder, set up for fusebox's metrics, and the
//! scrape text.

use crate::names;
use crate::EventMetrics;
use fusebox_core::ConfigError;
use metrics_exporter_prometheus::{
    Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder,
};
use std::error::Error;
use std::fmt;
use std::time::Duration;

/// The default bounds of `fusebox_call_duration_seconds`' buckets, in seconds: Prometheus
/// clients' own defaults, from 5 ms to 10 s.
pub const DEFAULT_DURATION_BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The Prometheus exposition of fusebox's metrics: the recorder every metric handle records
/// to, and the scrape text it renders.
///
/// Call durations are exported as a histogram with buckets (not a summary), so that latency
/// objectives can be computed from `_bucket` series across instances. Rendering first brings
/// every breaker's seconds in its current state up to date ([`EventMetrics::refresh`]).
///
/// ```
/// use fusebox_metrics::{MetricsLayer, PrometheusExporter};
/// use tower::{service_fn, Layer, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
/// let (exporter, recorder) = PrometheusExporter::builder().build()?;
/// // `install()` instead makes the recorder the process's; here it is used for one block.
/// let layer = metrics::with_local_recorder(&recorder, || MetricsLayer::new("geocoder"));
/// let service = layer.layer(service_fn(|_: ()| async { Ok::<_, std::io::Error>(()) }));
/// service.oneshot(()).await?;
/// let text = exporter.render();
/// assert!(text.contains(r#"fusebox_calls_total{service="geocoder",outcome="success"} 1"#));
/// assert!(text.contains("fusebox_call_duration_seconds_bucket"));
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct PrometheusExporter {
    handle: PrometheusHandle,
    events: EventMetrics,
}

impl fmt::Debug for PrometheusExporter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrometheusExporter")
            .field("events", &self.events)
            .finish_non_exhaustive()
    }
}

/// Settings of a [`PrometheusExporter`]; from [`PrometheusExporter::builder`].
#[derive(Clone, Debug)]
pub struct PrometheusExporterBuilder {
    duration_buckets: Vec<f64>,
    key_cap: Option<usize>,
    upkeep_interval: Duration,
}

/// Why an exporter could not be installed.
#[derive(Debug)]
#[non_exhaustive]
pub enum ExporterError {
    /// A setting is invalid.
    Invalid(ConfigError),
    /// The process already has a `metrics` recorder: there can be only one.
    RecorderInstalled,
}

impl fmt::Display for ExporterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExporterError::Invalid(error) => error.fmt(f),
            ExporterError::RecorderInstalled => f.write_str(
                "a metrics recorder is already installed in this process; \
                 use PrometheusExporter::builder().build() and record through it locally",
            ),
        }
    }
}

impl Error for ExporterError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            ExporterError::Invalid(error) => Some(error),
            ExporterError::RecorderInstalled => None,
        }
    }
}

impl From<ConfigError> for ExporterError {
    fn from(error: ConfigError) -> Self {
        ExporterError::Invalid(error)
    }
}

impl Default for PrometheusExporterBuilder {
    fn default() -> Self {
        PrometheusExporterBuilder {
            duration_buckets: DEFAULT_DURATION_BUCKETS.to_vec(),
            key_cap: None,
            upkeep_interval: Duration::from_secs(5),
        }
    }
}

impl PrometheusExporterBuilder {
    /// The bucket bounds of `fusebox_call_duration_seconds`, in seconds: finite, above zero
    /// and increasing ([`DEFAULT_DURATION_BUCKETS`] by default). Include each latency
    /// objective's threshold, so that the share of calls under it is exact.
    pub fn duration_buckets(mut self, bounds: &[f64]) -> Self {
        self.duration_buckets = bounds.to_vec();
        self
    }

    /// Labels each key of a keyed breaker set, up to `cap` keys per set
    /// ([`EventMetrics::label_keys`]).
    pub fn label_keys(mut self, cap: usize) -> Self {
        self.key_cap = Some(cap);
        self
    }

    /// How often an installed exporter folds the call durations recorded since into its
    /// histograms (5 s by default; at least 1 ms), which bounds the memory they take between
    /// scrapes.
    pub fn upkeep_interval(mut self, interval: Duration) -> Self {
        self.upkeep_interval = interval;
        self
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let bounds = &self.duration_buckets;
        let valid = !bounds.is_empty()
            && bounds.iter().all(|b| b.is_finite() && *b > 0.0)
            && bounds.windows(2).all(|w| w[0] < w[1]);
        if !valid {
            return Err(ConfigError::new(
                "duration_buckets",
                "a non-empty list of finite, increasing bounds above 0",
                bounds,
            ));
        }
        if self.upkeep_interval < Duration::from_millis(1) {
            return Err(ConfigError::new(
                "upkeep_interval",
                "at least 1ms",
                self.upkeep_interval,
            ));
        }
        Ok(())
    }

    /// The exporter and its recorder, not installed: for a recorder used with
    /// [`metrics::with_local_recorder`], or installed by other means. Folding durations into
    /// histograms then happens as each scrape renders them ([`PrometheusExporter::run_upkeep`]
    /// does it between scrapes).
    pub fn build(self) -> Result<(PrometheusExporter, PrometheusRecorder), ConfigError> {
        self.validate()?;
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(
                Matcher::Full(names::CALL_DURATION.to_owned()),
                &self.duration_buckets,
            )
            .map_err(|e| {
                ConfigError::new(
                    "duration_buckets",
                    "accepted by the exporter",
                    e.to_string(),
                )
            })?
            .build_recorder();
        let events = match self.key_cap {
            Some(cap) => EventMetrics::label_keys(cap),
            None => EventMetrics::new(),
        };
        let exporter = PrometheusExporter {
            handle: recorder.handle(),
            events,
        };
        Ok((exporter, recorder))
    }

    /// Installs the recorder as the process's, and starts a thread that runs its upkeep every
    /// [`upkeep_interval`](Self::upkeep_interval). Install it before making any layer: metric
    /// handles come from the recorder installed when they are made.
    pub fn install(self) -> Result<PrometheusExporter, ExporterError> {
        let interval = self.upkeep_interval;
        let (exporter, recorder) = self.build()?;
        metrics::set_global_recorder(recorder)
            .map_err(|_recorder_back| ExporterError::RecorderInstalled)?;
        let handle = exporter.handle.clone();
        // If the thread cannot start, histograms are still folded at each scrape.
        let _ = std::thread::Builder::new()
            .name("fusebox-metrics-upkeep".into())
            .spawn(move || loop {
                std::thread::sleep(interval);
                handle.run_upkeep();
            });
        Ok(exporter)
    }
}

impl PrometheusExporter {
    /// Settings, starting from the defaults.
    pub fn builder() -> PrometheusExporterBuilder {
        PrometheusExporterBuilder::default()
    }

    /// Installs an exporter with the default settings: the same as
    /// `PrometheusExporter::builder().install()`.
    pub fn install() -> Result<Self, ExporterError> {
        Self::builder().install()
    }

    /// The listener to subscribe to breakers, keyed sets, retries and stores: their events
    /// become metrics in this exporter's recorder (when installed, or used locally).
    pub fn events(&self) -> &EventMetrics {
        &self.events
    }

    /// The scrape text, in Prometheus's text exposition format.
    pub fn render(&self) -> String {
        self.events.refresh();
        self.handle.render()
    }

    /// Folds the call durations recorded since the last upkeep into the histograms.
    pub fn run_upkeep(&self) {
        self.handle.run_upkeep();
    }

    /// The exporter's handle, for what this type does not offer (protobuf rendering, say).
    pub fn handle(&self) -> &PrometheusHandle {
        &self.handle
    }
}
