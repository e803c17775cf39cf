//! Metrics for fusebox's middleware, recorded through the [`metrics`] facade.
//!
//! - [`MetricsLayer`] (and [`StreamingMetricsLayer`] for outcomes decided at the end of a
//!   response body): per service, calls by outcome as the one classifier decides, a latency
//!   histogram in seconds and the calls in flight.
//! - [`EventMetrics`]: a listener that turns the events of breakers, retries and stores into
//!   their metrics: state, transitions, time in each state, calls by kind, retries by result.
//! - [`History`]: the last transitions of every breaker, bounded, with snapshots of their
//!   states and the patterns of their trips (times opened, time open, hour of the day).
//! - [`Slo`] and [`BurnRatePolicy`]: objectives per service, and the Prometheus recording and
//!   alerting rules of the SRE workbook's multi-window, multi-burn-rate alerts for them.
//! - [`PrometheusExporter`] (feature `prometheus`): the Prometheus recorder and the scrape
//!   text, with an axum router serving it at `/metrics` (feature `axum`).
//!
//! Every metric is listed in [`names`], and described with its type, labels and the names
//! resilience4j and Polly users know in the metrics guide (`docs/metrics.md`).
//!
//! Metric handles are resolved from the recorder installed when a layer is made: install the
//! recorder first.
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "axum")]
mod axum;
mod call;
mod events;
mod future;
mod history;
mod key;
mod layer;
pub mod names;
#[cfg(feature = "prometheus")]
mod prometheus;
mod recorders;
mod service;
mod slo;
#[cfg(feature = "http")]
mod streaming;
mod tracker;

#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub use axum::CONTENT_TYPE_TEXT;
pub use call::Call;
pub use events::{state_code, CircuitMetrics, EventMetrics};
pub use future::ResponseFuture;
pub use history::{BreakerPattern, History, Snapshot, TransitionRecord};
#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
pub use key::HeaderKey;
pub use key::{MetricsKey, NoKey};
pub use layer::MetricsLayer;
#[cfg(feature = "prometheus")]
#[cfg_attr(docsrs, doc(cfg(feature = "prometheus")))]
pub use prometheus::{
    ExporterError, PrometheusExporter, PrometheusExporterBuilder, DEFAULT_DURATION_BUCKETS,
};
pub use service::MetricsService;
pub use slo::{alert_name, error_ratio_rule, BurnRatePolicy, BurnRateWindow, Slo, SloBuilder};
#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
pub use streaming::{StreamingMetricsLayer, StreamingMetricsService, StreamingResponseFuture};
pub use tracker::{
    cascading_failure, BurnRateReport, LatencyReport, ObjectiveReport, RecoveryReport, SloAlert,
    SloReport, SloTracker, SloTrackerBuilder, MAX_SLO_BUCKETS,
};
