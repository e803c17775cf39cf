//! [`HttpCheck`]: an HTTP GET, judged by its status and optionally its body.

use crate::check::{CheckFuture, HealthCheck, Probe};
use bytes::Bytes;
use fusebox_core::ConfigError;
use http_body_util::{BodyExt, Empty, Limited};
#[cfg(feature = "https")]
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
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

#[cfg(feature = "https")]
type Connector = HttpsConnector<HttpConnector>;
#[cfg(not(feature = "https"))]
type Connector = HttpConnector;

/// The schemes a check takes, as its errors name them.
#[cfg(feature = "https")]
const URL: &str = "an absolute http:// or https:// URL";
#[cfg(not(feature = "https"))]
const URL: &str = "an absolute http:// URL (https:// needs the feature `https`)";

/// An HTTP GET of a URL (hyper's client, one connection pool per check; `https://` with the
/// feature `https`, through rustls, trusting the system's root certificates unless
/// `tls` gives a configuration of your own):
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
    client: Client<Connector, Empty<Bytes>>,
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
    /// `http://` URL (or `https://`, with the feature `https`; the system's root
    /// certificates must load then, else an error names `tls`).
    pub fn new(name: impl Into<String>, url: &str) -> Result<Self, ConfigError> {
        let uri: http::Uri = url
            .parse()
            .map_err(|_invalid| ConfigError::new("url", URL, url))?;
        let https = cfg!(feature = "https") && uri.scheme_str() == Some("https");
        if !(uri.scheme_str() == Some("http") || https) || uri.authority().is_none() {
            return Err(ConfigError::new("url", URL, url));
        }
        Ok(HttpCheck {
            name: name.into(),
            uri,
            expected: 200..=299,
            body: None,
            client: client(https)?,
        })
    }

    /// The same check, its TLS connections made with `config` (your own root certificates, a
    /// client certificate) instead of the system's roots.
    #[cfg(feature = "https")]
    #[cfg_attr(docsrs, doc(cfg(feature = "https")))]
    #[must_use]
    pub fn tls(mut self, config: rustls::ClientConfig) -> Self {
        self.client = build(
            HttpsConnectorBuilder::new()
                .with_tls_config(config)
                .https_or_http()
                .enable_http1()
                .build(),
        );
        self
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

fn build(connector: Connector) -> Client<Connector, Empty<Bytes>> {
    Client::builder(TokioExecutor::new()).build(connector)
}

/// The client of a check: for an `https://` URL, with the system's root certificates.
#[cfg(feature = "https")]
fn client(https: bool) -> Result<Client<Connector, Empty<Bytes>>, ConfigError> {
    let builder = HttpsConnectorBuilder::new();
    let builder = if https {
        builder
            .with_provider_and_native_roots(rustls::crypto::ring::default_provider())
            .map_err(|e| {
                ConfigError::new(
                    "tls",
                    "the system's root certificates, readable",
                    e.to_string(),
                )
            })?
    } else {
        // Plain HTTP never uses them: no need to read the system's store.
        builder.with_tls_config(
            rustls::ClientConfig::builder_with_provider(ring())
                .with_safe_default_protocol_versions()
                .map_err(|e| ConfigError::new("tls", "a TLS configuration", e.to_string()))?
                .with_root_certificates(rustls::RootCertStore::empty())
                .with_no_client_auth(),
        )
    };
    Ok(build(builder.https_or_http().enable_http1().build()))
}

#[cfg(feature = "https")]
fn ring() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

#[cfg(not(feature = "https"))]
fn client(_https: bool) -> Result<Client<Connector, Empty<Bytes>>, ConfigError> {
    let mut connector = HttpConnector::new();
    connector.enforce_http(true);
    Ok(build(connector))
}

impl HealthCheck for HttpCheck {
    fn name(&self) -> &str {
        &self.name
    }

    fn check(&self) -> CheckFuture<'_> {
        Box::pin(self.probe())
    }
}
