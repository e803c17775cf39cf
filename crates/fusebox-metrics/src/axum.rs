//! The scrape endpoint for axum.

use crate::PrometheusExporter;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

/// The content type of Prometheus's text exposition format.
pub const CONTENT_TYPE_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

impl PrometheusExporter {
    /// A router answering `GET /metrics` with the scrape text; merge it into the
    /// application's router, or serve it on a port of its own.
    ///
    /// ```
    /// use fusebox_metrics::PrometheusExporter;
    ///
    /// # fn main() -> Result<(), fusebox_core::ConfigError> {
    /// let (exporter, _recorder) = PrometheusExporter::builder().build()?;
    /// let app: axum::Router = axum::Router::new().merge(exporter.router());
    /// # drop(app);
    /// # Ok(())
    /// # }
    /// ```
    pub fn router<S: Clone + Send + Sync + 'static>(&self) -> Router<S> {
        let exporter = self.clone();
        Router::new().route("/metrics", get(move || scrape(exporter.clone())))
    }

    /// The scrape as an axum response, for a handler of one's own.
    pub fn response(&self) -> Response {
        ([(CONTENT_TYPE, CONTENT_TYPE_TEXT)], self.render()).into_response()
    }
}

async fn scrape(exporter: PrometheusExporter) -> Response {
    exporter.response()
}
