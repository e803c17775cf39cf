//! [`HttpCheck`]: an HTTP GET, judged by its status and optionally its body.

use crate::check::{CheckFuture, HealthCheck, Probe};
use bytes::Bytes;
use fusebox_core::ConfigError;
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::fmt;
use std::ops::RangeInclusive;
use std::sync::Arc;
use tokio::time::Instant;

/// The most of a response body a check reads for its predicate: 64 KiB.
pub const MAX_CHECKED_BODY: usize = 64 * 1024;

type BodyPredicate = Arc<dyn Fn(&[u8]) -> bool + Send + Sync>;

/// An HTTP GET of a URL (plain `http://`; hyper's client, one connection pool per check):
/// passes when the status is in the expected range (2xx unless
/// [`expect_status`](Self::expect_status) says otherwise) and, if a
/// [`body`](Self::body) predicate is set, the body (its first 64 KiB) satisfies it. The time
/// to the response is its observed value, in milliseconds; a failure says what was wrong (the
/// status, the body, the connection).
///
/// ```
/// use fusebox_health::{HealthCheck, HttpCheck};
///
/// let calendar = HttpCheck::new("calendar:responseTime", "http://127.0.0.1:8080/v1/user")?
///     .expect_status(200..=299)
///     .body(|body| !body.is_empty());
/// assert_eq!(calendar.name(), "calendar:responseTime");
/// assert_eq!(
///     HttpCheck::new("calendar", "not a url").unwrap_err().field(),
///     "url"
/// );
/// # Ok::<(), fusebox_core::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct HttpCheck {
    name: String,
    uri: http::Uri,
    expected: RangeInclusive<u16>,
    body: Option<BodyPredicate>,
    client: Client<HttpConnector, Empty<Bytes>>,
}

impl fmt::Debug for HttpCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpCheck")
            .field("name", &self.name)
            .field("uri", &self.uri)
            .field("expected", &self.expected)
            .finish_non_exhaustive()
    }
}

impl HttpCheck {
    /// A check named `name` of `url`, or an error naming the `url` when it is not an absolute
    /// `http://` URL.
    pub fn new(name: impl Into<String>, url: &str) -> Result<Self, ConfigError> {
        let uri: http::Uri = url
            .parse()
            .map_err(|_invalid| ConfigError::new("url", "an absolute http:// URL", url))?;
        if uri.scheme_str() != Some("http") || uri.authority().is_none() {
            return Err(ConfigError::new("url", "an absolute http:// URL", url));
        }
        Ok(HttpCheck {
            name: name.into(),
            uri,
            expected: 200..=299,
            body: None,
            client: Client::builder(TokioExecutor::new()).build_http(),
        })
    }

    /// The statuses that pass (default `200..=299`).
    #[must_use]
    pub fn expect_status(mut self, statuses: RangeInclusive<u16>) -> Self {
        self.expected = statuses;
        self
    }

    /// Also requires the body (its first 64 KiB) to satisfy `predicate`.
    #[must_use]
    pub fn body(mut self, predicate: impl Fn(&[u8]) -> bool + Send + Sync + 'static) -> Self {
        self.body = Some(Arc::new(predicate));
        self
    }

    async fn probe(&self) -> Probe {
        let start = Instant::now();
        let request = match http::Request::get(self.uri.clone()).body(Empty::new()) {
            Ok(request) => request,
            Err(e) => return Probe::fail(format!("cannot build the request: {e}")),
        };
        let response = match self.client.request(request).await {
            Ok(response) => response,
            Err(e) => return Probe::fail(format!("GET {} failed: {e}", self.uri)),
        };
        let ms = crate::check::millis(start.elapsed());
        let status = response.status();
        if !self.expected.contains(&status.as_u16()) {
            return Probe::fail(format!(
                "GET {} answered {status}, expected {}..={}",
                self.uri,
                self.expected.start(),
                self.expected.end()
            ))
            .observed(ms, "ms");
        }
        if let Some(predicate) = &self.body {
            let body = match Limited::new(response.into_body(), MAX_CHECKED_BODY)
                .collect()
                .await
            {
                Ok(body) => body.to_bytes(),
                Err(e) => {
                    return Probe::fail(format!("GET {}: reading the body: {e}", self.uri))
                        .observed(ms, "ms");
                }
            };
            if !predicate(&body) {
                return Probe::fail(format!("GET {}: the body is not as expected", self.uri))
                    .observed(ms, "ms");
            }
        }
        Probe::pass().observed(ms, "ms")
    }
}

impl HealthCheck for HttpCheck {
    fn name(&self) -> &str {
        &self.name
    }

    fn check(&self) -> CheckFuture<'_> {
        Box::pin(self.probe())
    }
}
