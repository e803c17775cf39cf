//! [`RedisStoreBuilder`]: the store's settings, checked by `build()`, which starts the
//! store's tasks; URL redaction and TLS.

use super::connection::Backend;
use super::sync::{drive, listen};
use super::{Health, Inner, RedisStore};
use fusebox_core::{ConfigError, EventBus};
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;

static INSTANCES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

const MINUTE: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3_600);
const DAY: Duration = Duration::from_secs(86_400);
const MAX_KEY_TTL: Duration = Duration::from_secs(366 * 86_400);

/// Builds a [`RedisStore`]; [`build`](Self::build) checks every setting.
///
/// | setting | default | range |
/// |---|---|---|
/// | `flush_interval` | 100 ms | up to 1 hour |
/// | `poll_interval` | 1 s | up to 1 day |
/// | `command_timeout` | 250 ms | up to 1 minute |
/// | `window` | 10 s, in 10 buckets | 10 ms to 1 day |
/// | `key_ttl` | 1 hour | the window (and 1 s) to 366 days |
/// | `quorum` | 1 instance | at least 1 |
#[derive(Clone)]
pub struct RedisStoreBuilder {
    pub(super) url: String,
    /// Cluster nodes, when the store talks to a Redis Cluster.
    pub(super) cluster: Option<Vec<String>>,
    pub(super) namespace: String,
    pub(super) flush_interval: Duration,
    pub(super) poll_interval: Duration,
    pub(super) command_timeout: Duration,
    pub(super) window: Duration,
    pub(super) key_ttl: Duration,
    pub(super) quorum: u32,
    #[cfg(feature = "tls")]
    pub(super) tls: Tls,
}

impl fmt::Debug for RedisStoreBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("RedisStoreBuilder");
        d.field("url", &redacted(&self.url)).field(
            "cluster",
            &self
                .cluster
                .as_ref()
                .map(|nodes| nodes.iter().map(|n| redacted(n)).collect::<Vec<_>>()),
        );
        d.field("namespace", &self.namespace)
            .field("flush_interval", &self.flush_interval)
            .field("poll_interval", &self.poll_interval)
            .field("command_timeout", &self.command_timeout)
            .field("window", &self.window)
            .field("key_ttl", &self.key_ttl)
            .field("quorum", &self.quorum);
        #[cfg(feature = "tls")]
        d.field("tls", &self.tls);
        d.finish()
    }
}

/// `url` with its password, if any, replaced by `***`, for errors and `Debug`.
pub(super) fn redacted(url: &str) -> std::borrow::Cow<'_, str> {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return url.into();
    };
    let authority_end = url[scheme_end..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |i| scheme_end + i);
    let Some(at) = url[scheme_end..authority_end]
        .rfind('@')
        .map(|i| scheme_end + i)
    else {
        return url.into();
    };
    match url[scheme_end..at].find(':').map(|i| scheme_end + i) {
        Some(colon) => format!("{}***{}", &url[..=colon], &url[at..]).into(),
        None => url.into(),
    }
}

/// Certificates for `rediss://` connections; the key is kept out of `Debug`.
#[cfg(feature = "tls")]
#[derive(Clone, Default)]
pub(super) struct Tls {
    pub(super) root: Option<Vec<u8>>,
    pub(super) client: Option<(Vec<u8>, Vec<u8>)>,
}

#[cfg(feature = "tls")]
impl fmt::Debug for Tls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tls")
            .field("root", &self.root.as_ref().map(|_| "PEM"))
            .field(
                "client",
                &self.client.as_ref().map(|_| "PEM certificate and key"),
            )
            .finish()
    }
}

#[cfg(feature = "tls")]
impl Tls {
    pub(super) fn is_set(&self) -> bool {
        self.root.is_some() || self.client.is_some()
    }

    pub(super) fn certificates(&self) -> redis::TlsCertificates {
        redis::TlsCertificates {
            client_tls: self.client.clone().map(|(client_cert, client_key)| {
                redis::ClientTlsConfig {
                    client_cert,
                    client_key,
                }
            }),
            root_cert: self.root.clone(),
        }
    }
}

/// rustls needs a process-wide crypto provider; install ring's unless the application chose
/// one already.
#[cfg(feature = "tls")]
pub(super) fn ensure_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Losing a race to another installer is fine: a provider is installed either way.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

impl RedisStoreBuilder {
    /// Trips the shared window only when at least `instances` distinct instances reported
    /// failures within it (default 1).
    ///
    /// With 1, one instance whose own network or configuration is broken can open the circuit
    /// for the whole fleet, if its failures alone meet the rule. A higher quorum keeps one bad
    /// instance from poisoning the fleet, at a price: a real outage seen by fewer instances
    /// than the quorum (little traffic, or few instances) trips only each instance's local
    /// breaker. Local breakers always trip on their own failures, whatever the quorum.
    pub fn quorum(mut self, instances: u32) -> Self {
        self.quorum = instances;
        self
    }

    /// How often a breaker that saw calls sends their counts (and reads the shared state back
    /// in the same script).
    pub fn flush_interval(mut self, interval: Duration) -> Self {
        self.flush_interval = interval;
        self
    }

    /// How often a breaker that saw no calls reads the shared state anyway: the safety net for
    /// a missed pub/sub message (rounded up to a whole number of flush intervals). Idle
    /// breakers cost Redis nothing in between, so a keyed set of many quiet tenants stays
    /// cheap.
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval;
        self
    }

    /// The longest a Redis command may take before the store counts Redis as degraded.
    pub fn command_timeout(mut self, timeout: Duration) -> Self {
        self.command_timeout = timeout;
        self
    }

    /// The length of the shared failure-rate window (kept in 10 buckets).
    pub fn window(mut self, window: Duration) -> Self {
        self.window = window;
        self
    }

    /// How long the keys of an unused breaker live.
    pub fn key_ttl(mut self, ttl: Duration) -> Self {
        self.key_ttl = ttl;
        self
    }

    /// Trusts the CA certificates in `pem` (PEM) for `rediss://` connections, instead of the
    /// system's root certificates: for a Redis behind a private CA.
    #[cfg(feature = "tls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
    pub fn tls_root_certificates(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.tls.root = Some(pem.into());
        self
    }

    /// Presents this client certificate and key (both PEM) to a Redis that asks for one
    /// (mutual TLS, `tls-auth-clients yes`).
    #[cfg(feature = "tls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
    pub fn tls_client_certificate(
        mut self,
        certificate_pem: impl Into<Vec<u8>>,
        key_pem: impl Into<Vec<u8>>,
    ) -> Self {
        self.tls.client = Some((certificate_pem.into(), key_pem.into()));
        self
    }

    /// A client for one server (or one cluster node), with this builder's TLS certificates.
    #[cfg_attr(
        not(feature = "tls"),
        expect(
            clippy::unused_self,
            reason = "only the tls feature's certificates are read"
        )
    )]
    pub(super) fn client(&self, url: &str) -> Result<redis::Client, ConfigError> {
        let shown = redacted(url);
        let bad =
            |e: redis::RedisError| ConfigError::new("url", "a Redis URL", format!("{shown} ({e})"));
        let tls = url.starts_with("rediss://");
        #[cfg(not(feature = "tls"))]
        if tls {
            return Err(ConfigError::new(
                "url",
                "a redis:// URL (rediss:// needs fusebox-redis's `tls` feature)",
                &*shown,
            ));
        }
        #[cfg(feature = "tls")]
        {
            if tls {
                ensure_crypto_provider();
            }
            if self.tls.is_set() {
                if !tls {
                    return Err(ConfigError::new(
                        "url",
                        "a rediss:// URL when TLS certificates are set",
                        &*shown,
                    ));
                }
                return redis::Client::build_with_tls(url, self.tls.certificates()).map_err(bad);
            }
        }
        redis::Client::open(url).map_err(bad)
    }

    /// Checks the settings and starts the store's background tasks on the current Tokio
    /// runtime. Does not wait for Redis: an unreachable Redis is retried in the background.
    pub fn build(self) -> Result<RedisStore, ConfigError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_no_runtime| {
            ConfigError::new("runtime", "a Tokio runtime (call build inside one)", "none")
        })?;
        for (field, d, expected, max) in [
            ("flush_interval", self.flush_interval, "in (0, 1h]", HOUR),
            ("poll_interval", self.poll_interval, "in (0, 1d]", DAY),
            (
                "command_timeout",
                self.command_timeout,
                "in (0, 1min]",
                MINUTE,
            ),
        ] {
            if d.is_zero() || d > max {
                return Err(ConfigError::new(field, expected, d));
            }
        }
        if self.window < Duration::from_millis(10) || self.window > DAY {
            return Err(ConfigError::new("window", "in [10ms, 1d]", self.window));
        }
        // Keys that expire sooner than the window forget its counts; and Redis takes TTLs in
        // whole milliseconds.
        if self.key_ttl < self.window.max(Duration::from_secs(1)) || self.key_ttl > MAX_KEY_TTL {
            return Err(ConfigError::new(
                "key_ttl",
                "at least the window (and 1s), at most 366 days",
                self.key_ttl,
            ));
        }
        if self.quorum == 0 {
            return Err(ConfigError::new("quorum", "at least 1", self.quorum));
        }
        if self.namespace.is_empty() || self.namespace.contains(['{', '}']) {
            return Err(ConfigError::new(
                "namespace",
                "a non-empty string without braces",
                &self.namespace,
            ));
        }
        if self.cluster.as_ref().is_some_and(Vec::is_empty) {
            return Err(ConfigError::new("cluster", "at least one node URL", "none"));
        }
        let open = |url: &str| self.client(url);
        // Pub/sub in a cluster reaches every node: subscribing through any one node is enough.
        let subscribers = match &self.cluster {
            Some(nodes) => nodes
                .iter()
                .map(|n| open(n))
                .collect::<Result<Vec<_>, _>>()?,
            None => vec![open(&self.url)?],
        };
        let backend = Backend::new(&self, subscribers[0].clone())?;
        // Unbounded, yet never longer than the number of attached breakers: a breaker is queued
        // only when its pending actions go from none to some (see `Pending`).
        let (transitions, receiver) = mpsc::unbounded_channel();
        // Dropped with the store: ends the subscription even on a channel nobody publishes to.
        let (stop, stopped) = tokio::sync::watch::channel(());
        let inner = Arc::new(Inner {
            backend,
            subscribers,
            channel: format!("fusebox:{}:transitions", self.namespace),
            instance: format!(
                "{}-{:016x}",
                std::process::id(),
                u64::try_from(INSTANCES.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
                    .unwrap_or(u64::MAX)
                    // The low 64 bits of the clock: only for telling instances apart.
                    ^ std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| d.as_nanos() as u64)
            ),
            settings: self,
            attached: Mutex::new(HashMap::new()),
            transitions,
            events: EventBus::new(),
            health: Mutex::new(Health::default()),
            connection: tokio::sync::Mutex::new(None),
            _stop: stop,
            rounds: std::sync::atomic::AtomicU64::new(0),
        });
        runtime.spawn(drive(Arc::downgrade(&inner), receiver));
        runtime.spawn(listen(Arc::downgrade(&inner), stopped));
        Ok(RedisStore { inner })
    }
}

/// The backend the settings describe: one server, or a cluster.
impl Backend {
    pub(super) fn new(
        settings: &RedisStoreBuilder,
        single: redis::Client,
    ) -> Result<Backend, ConfigError> {
        match &settings.cluster {
            None => Ok(Backend::Single(Box::new(single))),
            #[cfg(feature = "cluster")]
            Some(nodes) => {
                let builder = redis::cluster::ClusterClient::builder(nodes.clone())
                    .connection_timeout(settings.command_timeout)
                    .response_timeout(settings.command_timeout);
                #[cfg(feature = "tls")]
                let builder = if settings.tls.is_set() {
                    builder.certs(settings.tls.certificates())
                } else {
                    builder
                };
                builder
                    .build()
                    .map(|client| Backend::Cluster(Box::new(client)))
                    .map_err(|e| {
                        ConfigError::new("cluster", "Redis Cluster node URLs", e.to_string())
                    })
            }
            #[cfg(not(feature = "cluster"))]
            Some(_) => Err(ConfigError::new(
                "cluster",
                "used with the `cluster` feature enabled",
                "nodes",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NS: Duration = Duration::from_nanos(1);

    /// A builder for a Redis nobody listens on: `build` checks settings and starts tasks
    /// that retry in the background, so nothing here waits for a server.
    fn builder() -> RedisStoreBuilder {
        RedisStore::builder("redis://127.0.0.1:1", "fusebox-test")
    }

    /// The field `build` refuses, if any.
    fn refused(builder: RedisStoreBuilder) -> Option<String> {
        builder.build().err().map(|e| e.field().to_owned())
    }

    #[tokio::test]
    async fn every_duration_takes_its_bound_and_refuses_one_past_it() {
        type Set = fn(RedisStoreBuilder, Duration) -> RedisStoreBuilder;
        let bounded: [(&str, Set, Duration); 3] = [
            ("flush_interval", RedisStoreBuilder::flush_interval, HOUR),
            ("poll_interval", RedisStoreBuilder::poll_interval, DAY),
            (
                "command_timeout",
                RedisStoreBuilder::command_timeout,
                MINUTE,
            ),
        ];
        for (field, set, max) in bounded {
            assert_eq!(refused(set(builder(), max)), None, "{field} at its maximum");
            assert_eq!(refused(set(builder(), NS)), None, "{field} at 1ns");
            assert_eq!(refused(set(builder(), max + NS)).as_deref(), Some(field));
            assert_eq!(
                refused(set(builder(), Duration::ZERO)).as_deref(),
                Some(field)
            );
        }
    }

    #[tokio::test]
    async fn the_window_and_the_key_ttl_take_their_bounds() {
        let ten_ms = Duration::from_millis(10);
        let window = |w: Duration| builder().window(w).key_ttl(2 * DAY);
        assert_eq!(refused(window(ten_ms)), None);
        assert_eq!(refused(window(DAY)), None);
        assert_eq!(refused(window(ten_ms - NS)).as_deref(), Some("window"));
        assert_eq!(refused(window(DAY + NS)).as_deref(), Some("window"));

        let ttl = |t: Duration| builder().window(ten_ms).key_ttl(t);
        let year = Duration::from_secs(366 * 86_400);
        assert_eq!(MAX_KEY_TTL, year);
        assert_eq!(
            refused(ttl(Duration::from_secs(1))),
            None,
            "1s for a short window"
        );
        assert_eq!(refused(ttl(year)), None);
        assert_eq!(
            refused(ttl(Duration::from_secs(1) - NS)).as_deref(),
            Some("key_ttl")
        );
        assert_eq!(refused(ttl(year + NS)).as_deref(), Some("key_ttl"));
        let long_window = builder().window(Duration::from_secs(60));
        assert_eq!(
            refused(long_window.key_ttl(Duration::from_secs(59))).as_deref(),
            Some("key_ttl"),
            "shorter than the window"
        );
    }

    #[tokio::test]
    async fn the_quorum_namespace_and_cluster_are_checked() {
        assert_eq!(refused(builder().quorum(0)).as_deref(), Some("quorum"));
        assert_eq!(refused(builder().quorum(1)), None);
        let named = |ns: &str| RedisStore::builder("redis://127.0.0.1:1", ns);
        assert_eq!(refused(named("")).as_deref(), Some("namespace"));
        assert_eq!(refused(named("a{b")).as_deref(), Some("namespace"));
        assert_eq!(refused(named("a}b")).as_deref(), Some("namespace"));
        assert_eq!(refused(named("payments-eu")), None);
        let none: [&str; 0] = [];
        assert_eq!(
            refused(RedisStore::cluster_builder(none, "ns")).as_deref(),
            Some("cluster")
        );
    }

    #[cfg(feature = "tls")]
    #[tokio::test]
    async fn tls_certificates_need_a_rediss_url() {
        let refusal = |b: RedisStoreBuilder| b.build().err().map(|e| e.to_string());
        let plain = || RedisStore::builder("redis://127.0.0.1:1", "ns");
        let expected = "a rediss:// URL when TLS certificates are set";
        let root_only = refusal(plain().tls_root_certificates("not a certificate"));
        assert!(
            root_only.as_deref().is_some_and(|e| e.contains(expected)),
            "{root_only:?}"
        );
        let client_only = refusal(plain().tls_client_certificate("cert", "key"));
        assert!(
            client_only.as_deref().is_some_and(|e| e.contains(expected)),
            "{client_only:?}"
        );
        assert_eq!(refusal(plain()), None, "no certificates, no TLS");

        let secure = RedisStore::builder("rediss://127.0.0.1:1", "ns");
        let with_tls = refusal(secure.tls_root_certificates("not a certificate"));
        assert!(
            !with_tls.as_deref().is_some_and(|e| e.contains(expected)),
            "{with_tls:?}"
        );
        assert!(
            rustls::crypto::CryptoProvider::get_default().is_some(),
            "a rediss:// URL installs a crypto provider"
        );
    }

    #[test]
    fn building_outside_a_runtime_says_so() {
        assert_eq!(refused(builder()).as_deref(), Some("runtime"));
    }
}
