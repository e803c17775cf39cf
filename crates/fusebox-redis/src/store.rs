use fusebox_core::sync::lock;
use fusebox_core::{
    CircuitState, ConfigError, Event, EventBus, EventKind, EventListener, Role, StateStore,
    StoredCircuit, StoredRef, Subscription, TransitionReason, WeakStoredRef,
};
use futures_util::StreamExt;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::Script;
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;

const FLUSH: &str = include_str!("flush.lua");
const TRANSITION: &str = include_str!("transition.lua");
const PROBE: &str = include_str!("probe.lua");

static INSTANCES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

const MINUTE: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3_600);
const DAY: Duration = Duration::from_secs(86_400);
const MAX_KEY_TTL: Duration = Duration::from_secs(366 * 86_400);
/// Longest time sent to Redis in a script, in milliseconds: Lua numbers are doubles, exact up
/// to 2^53, and Redis adds TTLs to its clock. About 285,000 years, past any breaker duration.
const MAX_SCRIPT_MS: u64 = 1 << 53;

/// `d` in whole milliseconds for a script, at least `floor` and at most [`MAX_SCRIPT_MS`]:
/// never a truncated `u128`.
fn script_ms(d: Duration, floor: u64) -> u64 {
    u64::try_from(d.as_millis())
        .unwrap_or(u64::MAX)
        .clamp(floor, MAX_SCRIPT_MS)
}

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
    url: String,
    /// Cluster nodes, when the store talks to a Redis Cluster.
    cluster: Option<Vec<String>>,
    namespace: String,
    flush_interval: Duration,
    poll_interval: Duration,
    command_timeout: Duration,
    window: Duration,
    key_ttl: Duration,
    quorum: u32,
    #[cfg(feature = "tls")]
    tls: Tls,
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
fn redacted(url: &str) -> std::borrow::Cow<'_, str> {
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
struct Tls {
    root: Option<Vec<u8>>,
    client: Option<(Vec<u8>, Vec<u8>)>,
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
    fn is_set(&self) -> bool {
        self.root.is_some() || self.client.is_some()
    }

    fn certificates(&self) -> redis::TlsCertificates {
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
fn ensure_crypto_provider() {
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
    fn client(&self, url: &str) -> Result<redis::Client, ConfigError> {
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

/// Shares the state of attached breakers with every instance using the same Redis namespace.
/// Cheap to clone; dropping the last clone stops its background tasks.
#[derive(Clone)]
pub struct RedisStore {
    inner: Arc<Inner>,
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("namespace", &self.inner.settings.namespace)
            .field("degraded", &self.is_degraded())
            .finish_non_exhaustive()
    }
}

/// How the store reaches Redis: one server, or a cluster.
enum Backend {
    Single(Box<redis::Client>),
    #[cfg(feature = "cluster")]
    Cluster(Box<redis::cluster::ClusterClient>),
}

impl Backend {
    fn new(settings: &RedisStoreBuilder, single: redis::Client) -> Result<Backend, ConfigError> {
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

/// A live connection to the backend.
#[derive(Clone)]
enum Connection {
    Single(ConnectionManager),
    #[cfg(feature = "cluster")]
    Cluster(redis::cluster_async::ClusterConnection),
}

impl Connection {
    async fn invoke<T: redis::FromRedisValue>(
        &mut self,
        invocation: &redis::ScriptInvocation<'_>,
    ) -> redis::RedisResult<T> {
        match self {
            Connection::Single(c) => invocation.invoke_async(c).await,
            #[cfg(feature = "cluster")]
            Connection::Cluster(c) => invocation.invoke_async(c).await,
        }
    }
}

struct Inner {
    backend: Backend,
    /// Clients for the pub/sub subscription, tried in turn.
    subscribers: Vec<redis::Client>,
    settings: RedisStoreBuilder,
    channel: String,
    /// Names this instance in probe leases.
    instance: String,
    attached: Mutex<HashMap<String, Vec<Arc<Attached>>>>,
    /// Breakers with local transitions to share.
    transitions: mpsc::UnboundedSender<Arc<Attached>>,
    events: EventBus,
    health: Mutex<Health>,
    connection: tokio::sync::Mutex<Option<Connection>>,
    /// Its receiver, in the subscription task, learns that the store is gone.
    _stop: tokio::sync::watch::Sender<()>,
    /// Flush rounds completed.
    rounds: std::sync::atomic::AtomicU64,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // The breakers outlive their store: from now on they decide alone, and one that waits
        // for the store's answer to "who probes?" probes on its own.
        for attached in lock(&self.attached).values().flatten() {
            if let Some(breaker) = attached.breaker.upgrade() {
                breaker.gate_probes(false);
            }
        }
    }
}

#[derive(Default)]
struct Health {
    degraded: bool,
    last_warning: Option<Instant>,
    /// No connection attempt before this, and the wait after the next failure.
    next_connect: Option<(Instant, Duration)>,
}

struct Attached {
    /// Weak, so a keyed set can still evict the breaker; the store forgets it then.
    breaker: WeakStoredRef,
    /// The breaker's name in Redis (see [`shared_id`]).
    id: String,
    /// The shared generation last applied or written; older news is ignored.
    generation: Mutex<i64>,
    /// Successes and failures already sent.
    flushed: Mutex<(u64, u64)>,
    /// The probe lease this instance holds (`<instance>:<token>`), if any.
    lease: Mutex<String>,
    /// Local transitions not yet shared.
    pending: Mutex<Pending>,
    /// Whether a flush has read the shared state back yet: the first one is not put off.
    read: std::sync::atomic::AtomicBool,
}

/// A breaker's local transitions waiting to be shared, newest last: at most two, because a
/// newer transition supersedes the older ones. The one exception is a request to probe right
/// after the trip that opened the breaker, which keeps the trip too, so Redis learns of the
/// open period before it is asked who probes after it. However fast a keyed set's tenants
/// trip, nothing is dropped and memory stays bounded by the number of attached breakers.
#[derive(Debug, Default)]
struct Pending {
    actions: Vec<(&'static str, Duration)>,
}

impl Pending {
    /// Adds `action`; `true` if nothing was pending before (the breaker must be queued).
    fn push(&mut self, action: &'static str, open_for: Duration) -> bool {
        let was_empty = self.actions.is_empty();
        let follows_trip = action == "probe" && matches!(self.actions.last(), Some(("open", _)));
        if !follows_trip {
            self.actions.clear();
        }
        self.actions.push((action, open_for));
        was_empty
    }

    fn take(&mut self) -> Vec<(&'static str, Duration)> {
        std::mem::take(&mut self.actions)
    }

    /// Puts back `unsent` actions, older than anything pushed since they were taken.
    fn restore(&mut self, unsent: Vec<(&'static str, Duration)>) {
        let newer = self.take();
        for (action, open_for) in unsent.into_iter().chain(newer) {
            self.push(action, open_for);
        }
    }
}

impl RedisStore {
    /// Starts building a store on a Redis Cluster reached through any of `nodes`
    /// (`redis://host:port`), sharing state with every instance that uses the same `namespace`.
    /// All keys of one breaker share a hash tag, so every script touches one slot.
    #[cfg(feature = "cluster")]
    #[cfg_attr(docsrs, doc(cfg(feature = "cluster")))]
    pub fn cluster_builder(
        nodes: impl IntoIterator<Item = impl Into<String>>,
        namespace: impl Into<String>,
    ) -> RedisStoreBuilder {
        let nodes: Vec<String> = nodes.into_iter().map(Into::into).collect();
        let mut builder =
            RedisStore::builder(nodes.first().cloned().unwrap_or_default(), namespace);
        builder.cluster = Some(nodes);
        builder
    }

    /// Starts building a store on the Redis at `url` (`redis://host:port/db`), sharing state
    /// with every instance that uses the same `namespace`.
    pub fn builder(url: impl Into<String>, namespace: impl Into<String>) -> RedisStoreBuilder {
        RedisStoreBuilder {
            url: url.into(),
            cluster: None,
            namespace: namespace.into(),
            flush_interval: Duration::from_millis(100),
            poll_interval: Duration::from_secs(1),
            command_timeout: Duration::from_millis(250),
            window: Duration::from_secs(10),
            key_ttl: Duration::from_secs(3600),
            quorum: 1,
            #[cfg(feature = "tls")]
            tls: Tls::default(),
        }
    }

    /// How many breakers the store shares (breakers dropped, or evicted from a keyed set, are
    /// forgotten at the next flush).
    pub fn attached(&self) -> usize {
        lock(&self.inner.attached).values().map(Vec::len).sum()
    }

    /// Flush rounds the store has completed: one per flush interval, in which every attached
    /// breaker that saw calls (or is due for a poll) sent one script. For monitoring, and for
    /// waiting until a flush is known to have run.
    pub fn flush_rounds(&self) -> u64 {
        self.inner.rounds.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Whether Redis is unreachable or failing right now.
    pub fn is_degraded(&self) -> bool {
        lock(&self.inner.health).degraded
    }

    /// Listens to the store's `StoreDegraded` and `StoreRecovered` events.
    pub fn subscribe(&self, listener: impl EventListener) -> Subscription {
        self.inner.events.subscribe(listener)
    }
}

impl StateStore for RedisStore {
    /// Shares `breaker`'s state from now on. Breakers with the same name, in any instance of
    /// the namespace, share one state; attaching the same breaker again does nothing. The hot
    /// path is untouched: the store reads the breaker's counters on its own schedule and
    /// listens only to its transitions. The store holds the breaker weakly: once the breaker
    /// is dropped (or evicted from a keyed set), the store forgets it.
    fn attach(&self, breaker: &StoredRef) {
        let id = shared_id(&**breaker);
        let already = lock(&self.inner.attached).get(&id).is_some_and(|list| {
            list.iter()
                .any(|a| a.breaker.upgrade().is_some_and(|b| b.ptr_eq(breaker)))
        });
        if already {
            // Attaching twice (a registry's store and a direct call, say) would count every
            // call twice in the shared window.
            return;
        }
        breaker.gate_probes(true);
        let attached = Arc::new(Attached {
            breaker: breaker.downgrade(),
            id: id.clone(),
            generation: Mutex::new(0),
            flushed: Mutex::new(breaker.outcome_totals()),
            lease: Mutex::new(String::new()),
            pending: Mutex::new(Pending::default()),
            read: std::sync::atomic::AtomicBool::new(false),
        });
        let sender = self.inner.transitions.clone();
        // Weak: the breaker holds this listener, and the store holds the breaker.
        let me = Arc::downgrade(&attached);
        breaker
            .on_transition(Box::new(move |e: &Event<'_>| {
                let action = match e.kind {
                    // The open period ended: ask the cluster who probes.
                    EventKind::ProbeRequested => "probe",
                    EventKind::StateTransition { to, reason, .. } => match (to, reason) {
                        (_, TransitionReason::Remote) => return,
                        (CircuitState::Open, _) => "open",
                        (CircuitState::Closed, TransitionReason::Reset) => "reset",
                        (CircuitState::Closed, _) => "close",
                        (CircuitState::ForcedOpen, _) => "forced_open",
                        (CircuitState::Disabled, _) => "disabled",
                        // Half-open because this instance won the lease: nothing to share.
                        _ => return,
                    },
                    _ => return,
                };
                let Some(me) = me.upgrade() else {
                    return;
                };
                let Some(breaker) = me.breaker.upgrade() else {
                    return;
                };
                let open_for = breaker.open_remaining().unwrap_or_default();
                if lock(&me.pending).push(action, open_for) {
                    // An error means the store is gone; the breaker goes on alone.
                    let _ = sender.send(me.clone());
                }
            }))
            .detach();
        lock(&self.inner.attached)
            .entry(id)
            .or_default()
            .push(attached);
    }
}

/// A breaker's name in Redis keys and messages, the same in every instance and different for
/// every breaker: the escaped name; for a keyed set's breakers `:` and the escaped key, or
/// `:%none` (requests without a key) or `:%overflow` (new keys of a full set). Escaping turns
/// `%`, `:`, braces and control characters into `%XX`, so `%` followed by a letter never comes
/// from a name or key, and `a:b` names a breaker `a:b`, never the key `b` of a set `a`.
pub(crate) fn shared_id(breaker: &dyn StoredCircuit) -> String {
    let mut id = String::new();
    escape_into(&mut id, breaker.name());
    match breaker.role() {
        Role::Plain => {}
        Role::Key(key) => {
            id.push(':');
            escape_into(&mut id, key);
        }
        Role::Keyless => id.push_str(":%none"),
        Role::Overflow => id.push_str(":%overflow"),
        // A role this version does not know: still apart from every name and key above.
        _ => id.push_str(":%other"),
    }
    id
}

fn escape_into(out: &mut String, text: &str) {
    use std::fmt::Write;
    for c in text.chars() {
        if matches!(c, '%' | ':' | '{' | '}') || c.is_ascii_control() {
            let _ = write!(out, "%{:02X}", u32::from(c));
        } else {
            out.push(c);
        }
    }
}

/// The keys of one breaker; one hash tag, so every script touches one slot.
fn keys(namespace: &str, id: &str) -> [String; 4] {
    let base = format!("fusebox:{{{namespace}:{id}}}");
    [
        format!("{base}:state"),
        format!("{base}:win"),
        format!("{base}:probe"),
        format!("{base}:reporters"),
    ]
}

impl Inner {
    async fn connection(&self) -> Option<Connection> {
        let mut slot = self.connection.lock().await;
        if slot.is_none() {
            if let Some((not_before, _)) = lock(&self.health).next_connect {
                if Instant::now() < not_before {
                    return None;
                }
            }
            let timeout = self.settings.command_timeout;
            let connect = async {
                match &self.backend {
                    Backend::Single(client) => {
                        let config = ConnectionManagerConfig::new()
                            .set_connection_timeout(Some(timeout))
                            .set_response_timeout(Some(timeout))
                            .set_number_of_retries(1);
                        ConnectionManager::new_with_config((**client).clone(), config)
                            .await
                            .map(Connection::Single)
                    }
                    #[cfg(feature = "cluster")]
                    Backend::Cluster(client) => {
                        client.get_async_connection().await.map(Connection::Cluster)
                    }
                }
            };
            match tokio::time::timeout(timeout * 2, connect).await {
                Ok(Ok(manager)) => {
                    lock(&self.health).next_connect = None;
                    *slot = Some(manager);
                }
                Ok(Err(e)) => self.connect_failed(&e.to_string()),
                Err(_) => self.connect_failed("connection timed out"),
            }
        }
        slot.clone()
    }

    /// Backs off the next connection attempt: 50 ms, doubling, at most 2 s.
    fn connect_failed(&self, error: &str) {
        {
            let mut health = lock(&self.health);
            let wait = health
                .next_connect
                .map_or(Duration::from_millis(50), |(_, w)| {
                    (w * 2).min(Duration::from_secs(2))
                });
            health.next_connect = Some((Instant::now() + wait, wait));
        }
        self.degraded(error);
    }

    fn degraded(&self, error: &str) {
        let mut health = lock(&self.health);
        let first = !health.degraded;
        health.degraded = true;
        let warn = health
            .last_warning
            .is_none_or(|at| at.elapsed() >= Duration::from_secs(10));
        if warn {
            health.last_warning = Some(Instant::now());
            tracing::warn!(
                namespace = %self.settings.namespace,
                error,
                "Redis unavailable; breakers keep deciding locally"
            );
        }
        drop(health);
        if first {
            self.events
                .emit(|| Event::new(&self.settings.namespace, EventKind::StoreDegraded));
        }
    }

    fn recovered(&self) {
        let mut health = lock(&self.health);
        if health.degraded {
            health.degraded = false;
            drop(health);
            tracing::info!(namespace = %self.settings.namespace, "Redis reachable again; sharing resumed");
            self.events
                .emit(|| Event::new(&self.settings.namespace, EventKind::StoreRecovered));
        }
    }

    async fn run<T: redis::FromRedisValue>(
        &self,
        invocation: &mut redis::ScriptInvocation<'_>,
    ) -> Option<T> {
        let mut connection = self.connection().await?;
        let result = tokio::time::timeout(
            self.settings.command_timeout,
            connection.invoke::<T>(invocation),
        )
        .await;
        match result {
            Ok(Ok(reply)) => {
                self.recovered();
                Some(reply)
            }
            Ok(Err(e)) => {
                self.degraded(&e.to_string());
                None
            }
            Err(_) => {
                self.degraded("command timed out");
                None
            }
        }
    }

    /// Sends one breaker's counts and applies the shared state; `false` once the breaker is
    /// gone. A breaker with no new calls is skipped unless `poll` (or it was never read).
    async fn flush(&self, flush: &Script, attached: &Attached, poll: bool) -> bool {
        let Some(breaker) = attached.breaker.upgrade() else {
            return false;
        };
        let b: &dyn StoredCircuit = &*breaker;
        let now = b.outcome_totals();
        let before = *lock(&attached.flushed);
        let calls = (now.0 + now.1).saturating_sub(before.0 + before.1);
        let failures = now.1.saturating_sub(before.1);
        let read = attached.read.load(std::sync::atomic::Ordering::Relaxed);
        if calls == 0 && !poll && read {
            return true;
        }
        let [state_key, window_key, _, reporters_key] =
            keys(&self.settings.namespace, &attached.id);
        let buckets = 10u64;
        let bucket_ms = (script_ms(self.settings.window, 1) / buckets).max(1);
        let policy = b.shared_policy();
        let open_ms = script_ms(policy.open_duration, 1);
        let mut invocation = flush.key(&state_key);
        invocation
            .key(&window_key)
            .key(&reporters_key)
            .arg(calls)
            .arg(failures)
            .arg(bucket_ms)
            .arg(buckets)
            .arg(policy.failure_rate.unwrap_or(0.0))
            .arg(policy.min_calls)
            .arg(open_ms)
            .arg(script_ms(self.settings.key_ttl, 1))
            .arg(&self.channel)
            .arg(&attached.id)
            .arg(&self.instance)
            .arg(self.settings.quorum);
        if let Some((state, generation, remaining)) =
            self.run::<(String, i64, u64)>(&mut invocation).await
        {
            // Sent: later flushes count from here.
            *lock(&attached.flushed) = now;
            attached
                .read
                .store(true, std::sync::atomic::Ordering::Relaxed);
            if generation == 0 {
                // Redis has no state for this breaker (new, expired, or restarted empty): if
                // this instance knows better, it seeds it.
                self.reseed(attached, b).await;
            } else {
                apply(attached, b, &state, generation, remaining);
            }
        }
        true
    }

    async fn reseed(&self, attached: &Attached, b: &dyn StoredCircuit) {
        let action = match b.state() {
            CircuitState::Open => "open",
            CircuitState::ForcedOpen => "forced_open",
            CircuitState::Disabled => "disabled",
            _ => return,
        };
        let open_for = b.open_remaining().unwrap_or_default();
        if action == "open" && open_for.is_zero() {
            return;
        }
        let script = Script::new(TRANSITION);
        self.share(&script, attached, action, open_for).await;
    }

    /// Records a local transition in Redis; `false` if Redis did not answer.
    async fn share(
        &self,
        script: &Script,
        attached: &Attached,
        action: &str,
        open_for: Duration,
    ) -> bool {
        let [state_key, window_key, probe_key, _] = keys(&self.settings.namespace, &attached.id);
        let open_ms = script_ms(open_for, 1);
        let lease = std::mem::take(&mut *lock(&attached.lease));
        let mut invocation = script.key(&state_key);
        invocation
            .key(&window_key)
            .key(&probe_key)
            .arg(action)
            .arg(open_ms)
            .arg(script_ms(self.settings.key_ttl, 1))
            .arg(&self.channel)
            .arg(&attached.id)
            .arg(&lease);
        match self.run::<(String, i64, u64)>(&mut invocation).await {
            Some((state, generation, remaining)) => {
                // The reply is the shared state after the action, which may not be the one
                // asked for (a close refused for a lost lease, an open already superseded):
                // apply it like any news, rather than only note its generation, which would
                // make this instance skip that state when it arrives by message or flush.
                if let Some(b) = attached.breaker.upgrade() {
                    apply(attached, &*b, &state, generation, remaining);
                }
                true
            }
            None => {
                // Kept for the next try, unless a newer lease came meanwhile.
                let mut slot = lock(&attached.lease);
                if slot.is_empty() {
                    *slot = lease;
                }
                false
            }
        }
    }

    /// Sends a breaker's pending transitions. Those Redis did not answer go back to wait for
    /// the next flush interval (newer ones still supersede them), so a trip made while Redis
    /// was unreachable reaches the fleet once it answers; meanwhile the shared state does not
    /// override it. Probe requests are not kept: one that Redis cannot answer lets the local
    /// breaker probe on its own at once.
    async fn send_pending(&self, transition: &Script, probe: &Script, attached: &Attached) {
        let actions = lock(&attached.pending).take();
        let mut unsent = Vec::new();
        for (action, open_for) in actions {
            if action == "probe" {
                self.request_probe(probe, attached).await;
            } else if !self.share(transition, attached, action, open_for).await {
                unsent.push((action, open_for));
            }
        }
        if !unsent.is_empty() {
            lock(&attached.pending).restore(unsent);
        }
    }

    /// The open period ended here: probe if this instance wins the cluster's lease, otherwise
    /// stay open until the lease (or a newer open period) ends. If Redis cannot be asked, the
    /// local breaker probes on its own.
    async fn request_probe(&self, script: &Script, attached: &Attached) {
        let Some(breaker) = attached.breaker.upgrade() else {
            return;
        };
        let b: &dyn StoredCircuit = &*breaker;
        let [state_key, window_key, probe_key, _] = keys(&self.settings.namespace, &attached.id);
        let lease_ms = script_ms(b.shared_policy().half_open_max_wait, 1);
        let mut invocation = script.key(&state_key);
        invocation
            .key(&window_key)
            .key(&probe_key)
            .arg(&self.instance)
            .arg(lease_ms);
        let asked = *lock(&attached.generation);
        match self
            .run::<(String, u64, String, i64)>(&mut invocation)
            .await
        {
            Some((decision, wait_ms, lease, generation)) => {
                on_probe_reply(attached, b, asked, &decision, wait_ms, lease, generation);
            }
            None => {
                b.grant_probes();
            }
        }
    }
}

/// Applies the cluster's answer to a request to probe, asked when the breaker had seen shared
/// generation `asked`. The answer can arrive after newer news (the prober's close, by pub/sub):
/// an answer made in an older generation than the breaker has seen since, or one for a
/// breaker that no longer waits for it, changes nothing.
fn on_probe_reply(
    attached: &Attached,
    b: &dyn StoredCircuit,
    asked: i64,
    decision: &str,
    wait_ms: u64,
    lease: String,
    generation: i64,
) {
    let stale = generation < (*lock(&attached.generation)).max(asked);
    match decision {
        "granted" => {
            // Kept even if the breaker moved on meanwhile: its next shared transition frees
            // the lease, so others need not wait for it to expire.
            *lock(&attached.lease) = lease;
            b.grant_probes();
        }
        "wait" if !stale => {
            // Look again after an open period at most, whatever the lease says.
            let wait = Duration::from_millis(wait_ms.max(1)).min(b.shared_policy().open_duration);
            b.defer_probe(wait);
        }
        "closed" if !stale => b.apply_remote_state(CircuitState::Closed),
        "forced_open" if !stale => b.apply_remote_state(CircuitState::ForcedOpen),
        "wait" | "closed" | "forced_open" => {}
        _ => {
            b.grant_probes();
        }
    }
}

/// Applies shared state `generation` to a local breaker, once.
fn apply(
    attached: &Attached,
    b: &dyn StoredCircuit,
    state: &str,
    generation: i64,
    remaining_ms: u64,
) {
    if !lock(&attached.pending).actions.is_empty() {
        // This instance decided something Redis has not heard yet (a breaker that tripped
        // before its first flush, say): the local news is newer, and Redis's answer to it
        // comes back once it is shared.
        return;
    }
    {
        let mut seen = lock(&attached.generation);
        if generation <= *seen {
            return;
        }
        *seen = generation;
    }
    let local = b.state();
    match state {
        // An open breaker is extended if the shared period ends later (no new transition).
        "open" if remaining_ms > 0 => b.apply_remote_open(Duration::from_millis(remaining_ms)),
        "closed" if local != CircuitState::Closed => b.apply_remote_state(CircuitState::Closed),
        "forced_open" if local != CircuitState::ForcedOpen => {
            b.apply_remote_state(CircuitState::ForcedOpen);
        }
        "disabled" if local != CircuitState::Disabled => {
            b.apply_remote_state(CircuitState::Disabled);
        }
        _ => {}
    }
}

/// Flush scripts sent at once, per store.
const FLUSHES_IN_FLIGHT: usize = 64;

/// Flushes every attached breaker on the interval, and shares local transitions as they come.
async fn drive(
    inner: std::sync::Weak<Inner>,
    mut transitions: mpsc::UnboundedReceiver<Arc<Attached>>,
) {
    let flush = Script::new(FLUSH);
    let transition = Script::new(TRANSITION);
    let probe = Script::new(PROBE);
    let (interval, poll_every) = match inner.upgrade() {
        Some(inner) => {
            let s = &inner.settings;
            let every = s
                .poll_interval
                .as_nanos()
                .div_ceil(s.flush_interval.as_nanos());
            (
                s.flush_interval,
                u64::try_from(every).unwrap_or(u64::MAX).max(1),
            )
        }
        None => return,
    };
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut ticks = 0u64;
    loop {
        tokio::select! {
            // Local transitions first: a flush of many breakers must not hold them up.
            biased;
            message = transitions.recv() => {
                let Some(attached) = message else { return };
                let Some(inner) = inner.upgrade() else { return };
                inner.send_pending(&transition, &probe, &attached).await;
            }
            _ = ticker.tick() => {
                let Some(inner) = inner.upgrade() else { return };
                let poll = ticks.is_multiple_of(poll_every);
                ticks = ticks.wrapping_add(1);
                let all: Vec<Arc<Attached>> =
                    lock(&inner.attached).values().flatten().cloned().collect();
                // Transitions that Redis did not answer earlier, first.
                for attached in &all {
                    if !lock(&attached.pending).actions.is_empty() {
                        inner.send_pending(&transition, &probe, attached).await;
                    }
                }
                // Many scripts in flight at once on the multiplexed connection: a flush of
                // thousands of breakers takes a few dozen round trips, not thousands.
                let (inner, flush) = (&inner, &flush);
                let gone = futures_util::stream::iter(all)
                    .map(|attached| async move { !inner.flush(flush, &attached, poll).await })
                    .buffer_unordered(FLUSHES_IN_FLIGHT)
                    .fold(false, |gone, this| async move { gone | this })
                    .await;
                if gone {
                    let mut map = lock(&inner.attached);
                    for list in map.values_mut() {
                        list.retain(|a| a.breaker.upgrade().is_some());
                    }
                    map.retain(|_, list| !list.is_empty());
                }
                inner.rounds.fetch_add(1, std::sync::atomic::Ordering::Release);
            }
        }
    }
}

/// Applies transitions published by any instance; reconnects with backoff when the
/// subscription drops. Ends, closing its connection, as soon as the store is dropped.
async fn listen(inner: std::sync::Weak<Inner>, mut stopped: tokio::sync::watch::Receiver<()>) {
    let mut backoff = Duration::from_millis(50);
    let mut attempt = 0usize;
    loop {
        let (client, channel) = match inner.upgrade() {
            Some(inner) => {
                let clients = &inner.subscribers;
                (
                    clients[attempt % clients.len()].clone(),
                    inner.channel.clone(),
                )
            }
            None => return,
        };
        attempt = attempt.wrapping_add(1);
        let subscribed = async {
            let mut pubsub =
                tokio::time::timeout(Duration::from_secs(1), client.get_async_pubsub())
                    .await
                    .ok()?
                    .ok()?;
            pubsub.subscribe(&channel).await.ok()?;
            Some(pubsub)
        };
        let pubsub = tokio::select! {
            pubsub = subscribed => pubsub,
            _ = stopped.changed() => return,
        };
        if let Some(mut pubsub) = pubsub {
            backoff = Duration::from_millis(50);
            let mut messages = pubsub.on_message();
            loop {
                let message = tokio::select! {
                    message = messages.next() => message,
                    _ = stopped.changed() => return,
                };
                let Some(message) = message else { break };
                let Some(inner) = inner.upgrade() else { return };
                if let Ok(payload) = message.get_payload::<String>() {
                    on_message(&inner, &payload);
                }
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = stopped.changed() => return,
        }
        backoff = (backoff * 2).min(Duration::from_secs(2));
    }
}

/// Applies one published transition, `id\tstate\tgeneration\tremaining_ms`, to the breakers
/// attached under `id`; a malformed message is ignored.
fn on_message(inner: &Inner, payload: &str) {
    // The id may hold anything; the last three fields are numbers and a word.
    let mut parts = payload.rsplitn(4, '\t');
    let (Some(remaining), Some(generation), Some(state), Some(id)) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return;
    };
    let (Ok(generation), Ok(remaining)) = (generation.parse::<i64>(), remaining.parse::<u64>())
    else {
        return;
    };
    let targets = lock(&inner.attached).get(id).cloned().unwrap_or_default();
    for attached in targets {
        if let Some(b) = attached.breaker.upgrade() {
            apply(&attached, &*b, state, generation, remaining);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{apply, on_probe_reply, redacted, Attached, Pending};
    use fusebox_core::{
        Circuit, CircuitState, Event, EventBus, Role, SharedPolicy, StoredCircuit, Subscription,
    };
    use std::sync::Mutex;
    use std::time::Duration;

    proptest::proptest! {
        /// However transitions come (and fail to be sent), a breaker keeps at most two, the
        /// newest pushed is always kept and last, and a probe request is kept only right after
        /// the trip that preceded it.
        #[test]
        fn pending_transitions_stay_bounded_and_keep_the_newest(
            steps in proptest::collection::vec((0usize..7, proptest::bool::ANY), 1..60)
        ) {
            const ACTIONS: [&str; 6] = ["open", "probe", "close", "reset", "forced_open", "disabled"];
            let mut p = Pending::default();
            let mut newest: Option<&str>;
            for (choice, fail) in steps {
                if choice < ACTIONS.len() {
                    let action = ACTIONS[choice];
                    p.push(action, Duration::ZERO);
                    newest = Some(action);
                } else {
                    // A send: everything taken, the non-probe ones failed and put back if
                    // `fail`.
                    // (Probe requests are answered either way.)
                    let taken = p.take();
                    if fail {
                        let unsent: Vec<_> =
                            taken.into_iter().filter(|(a, _)| *a != "probe").collect();
                        newest = unsent.last().map(|(a, _)| *a);
                        p.restore(unsent);
                    } else {
                        newest = None;
                    }
                }
                proptest::prop_assert!(p.actions.len() <= 2, "{:?}", p.actions);
                if let Some(action) = newest {
                    if action != "probe" || !p.actions.is_empty() {
                        proptest::prop_assert_eq!(p.actions.last().map(|(a, _)| *a), Some(action));
                    }
                }
                if p.actions.len() == 2 {
                    proptest::prop_assert_eq!(p.actions[0].0, "open");
                    proptest::prop_assert_eq!(p.actions[1].0, "probe");
                }
            }
        }
    }

    /// A circuit that does what a store asks of it as a breaker would, and logs each request:
    /// the store's side of the contract, seen from the circuit.
    struct Recorder {
        name: &'static str,
        role: Role<'static>,
        state: Mutex<CircuitState>,
        /// An open period ended and the circuit waits for the store's answer.
        awaiting: Mutex<bool>,
        log: Mutex<Vec<String>>,
    }

    impl Recorder {
        fn awaiting_probe() -> Recorder {
            let recorder = Recorder::in_state(CircuitState::Open);
            *recorder.awaiting.lock().unwrap() = true;
            recorder
        }

        fn in_state(state: CircuitState) -> Recorder {
            Recorder {
                name: "x",
                role: Role::Plain,
                state: Mutex::new(state),
                awaiting: Mutex::new(false),
                log: Mutex::new(Vec::new()),
            }
        }

        fn named(name: &'static str, role: Role<'static>) -> Recorder {
            Recorder {
                name,
                role,
                ..Recorder::in_state(CircuitState::Closed)
            }
        }

        fn state(&self) -> CircuitState {
            *self.state.lock().unwrap()
        }

        fn log(&self) -> Vec<String> {
            self.log.lock().unwrap().clone()
        }

        fn note(&self, entry: String) {
            self.log.lock().unwrap().push(entry);
        }
    }

    impl Circuit for Recorder {
        fn name(&self) -> &str {
            self.name
        }
        fn role(&self) -> Role<'_> {
            self.role
        }
        fn state(&self) -> CircuitState {
            Recorder::state(self)
        }
    }

    impl StoredCircuit for Recorder {
        fn outcome_totals(&self) -> (u64, u64) {
            (0, 0)
        }
        fn shared_policy(&self) -> SharedPolicy {
            SharedPolicy::new(Duration::from_secs(1), Duration::from_secs(5))
        }
        fn open_remaining(&self) -> Option<Duration> {
            None
        }
        fn apply_remote_state(&self, state: CircuitState) {
            if Recorder::state(self) != state {
                *self.state.lock().unwrap() = state;
                *self.awaiting.lock().unwrap() = false;
                self.note(format!("-> {state}"));
            }
        }
        fn apply_remote_open(&self, remaining: Duration) {
            *self.state.lock().unwrap() = CircuitState::Open;
            self.note(format!("open for {remaining:?}"));
        }
        fn gate_probes(&self, on: bool) {
            self.note(format!("gate {on}"));
        }
        fn grant_probes(&self) -> bool {
            let waiting = std::mem::take(&mut *self.awaiting.lock().unwrap());
            if waiting {
                *self.state.lock().unwrap() = CircuitState::HalfOpen;
                self.note("-> half_open".to_owned());
            }
            waiting
        }
        fn defer_probe(&self, wait: Duration) -> bool {
            let waiting = std::mem::take(&mut *self.awaiting.lock().unwrap());
            if waiting {
                self.note(format!("deferred {wait:?}"));
            }
            waiting
        }
        fn on_transition(
            &self,
            _: Box<dyn Fn(&Event<'_>) + Send + Sync + 'static>,
        ) -> Subscription {
            EventBus::new().subscribe(())
        }
    }

    fn attached_to(generation: i64) -> Attached {
        Attached {
            breaker: fusebox_core::Handle::<dyn StoredCircuit>::Static(Box::leak(Box::new(
                Recorder::in_state(CircuitState::Closed),
            )))
            .downgrade(),
            id: "x".to_owned(),
            generation: Mutex::new(generation),
            flushed: Mutex::new((0, 0)),
            lease: Mutex::new(String::new()),
            pending: Mutex::new(Pending::default()),
            read: std::sync::atomic::AtomicBool::new(false),
        }
    }

    #[test]
    fn a_late_wait_reply_does_not_reopen_a_closed_breaker() {
        let b = Recorder::awaiting_probe();
        // The lease request was asked in shared generation 5. Before its reply arrives, the
        // prober's close (generation 6) comes by pub/sub...
        let attached = attached_to(5);
        apply(&attached, &b, "closed", 6, 0);
        assert_eq!(b.state(), CircuitState::Closed);
        // ...then the reply: "wait, another instance holds the lease", made in generation 5.
        on_probe_reply(&attached, &b, 5, "wait", 2_000, String::new(), 5);
        // A late "closed" reply to a closed breaker, and an old closed state: no request.
        on_probe_reply(&attached, &b, 5, "closed", 0, String::new(), 6);
        apply(&attached, &b, "closed", 7, 0);
        assert_eq!(
            b.log(),
            ["-> closed"],
            "the stale replies asked for nothing"
        );
    }

    #[test]
    fn an_instance_without_the_lease_stays_open_with_no_transition() {
        let b = Recorder::awaiting_probe();
        let attached = attached_to(5);
        on_probe_reply(&attached, &b, 5, "wait", 300, String::new(), 5);
        assert_eq!(b.state(), CircuitState::Open);
        // The prober's success arrives: the one transition the cluster made.
        apply(&attached, &b, "closed", 6, 0);
        assert_eq!(b.log(), ["deferred 300ms", "-> closed"]);
    }

    #[test]
    fn a_wait_is_cut_to_one_open_period() {
        let b = Recorder::awaiting_probe();
        on_probe_reply(&attached_to(5), &b, 5, "wait", 60_000, String::new(), 5);
        assert_eq!(
            b.log(),
            ["deferred 1s"],
            "asked again after an open period at most"
        );
    }

    #[test]
    fn the_instance_that_wins_the_lease_goes_half_open() {
        let b = Recorder::awaiting_probe();
        let attached = attached_to(5);
        on_probe_reply(&attached, &b, 5, "granted", 0, "me:9".to_owned(), 5);
        assert_eq!(b.state(), CircuitState::HalfOpen);
        assert_eq!(*attached.lease.lock().unwrap(), "me:9");
        assert_eq!(b.log(), ["-> half_open"]);
    }

    #[test]
    fn an_answer_this_version_does_not_know_lets_the_breaker_probe() {
        let b = Recorder::awaiting_probe();
        on_probe_reply(&attached_to(5), &b, 5, "later", 0, String::new(), 5);
        assert_eq!(b.state(), CircuitState::HalfOpen);
    }

    #[test]
    fn shared_state_waits_while_a_local_transition_is_unshared() {
        let b = Recorder::in_state(CircuitState::Open);
        let attached = attached_to(0);
        attached
            .pending
            .lock()
            .unwrap()
            .push("open", Duration::from_secs(30));
        // Redis still says closed: it has not heard of the trip.
        apply(&attached, &b, "closed", 5, 0);
        assert_eq!(b.state(), CircuitState::Open, "the local trip is newer");
        attached.pending.lock().unwrap().take();
        // Once shared, a newer closed state (an operator's reset, say) applies.
        apply(&attached, &b, "closed", 6, 0);
        assert_eq!(b.state(), CircuitState::Closed);
        // An open state extends with what is left of the shared period.
        apply(&attached, &b, "open", 7, 1_500);
        assert_eq!(b.log(), ["-> closed", "open for 1.5s"]);
    }

    #[test]
    fn pending_transitions_keep_the_newest_and_a_trip_before_its_probe() {
        let mut p = Pending::default();
        let s = Duration::from_secs(1);
        assert!(p.push("open", s), "the first queues the breaker");
        assert!(!p.push("probe", s), "already queued");
        assert_eq!(p.actions, [("open", s), ("probe", s)]);
        p.push("close", s);
        assert_eq!(p.actions, [("close", s)], "a close supersedes both");
        p.push("probe", s);
        assert_eq!(p.actions, [("probe", s)], "no trip to keep before it");
        p.push("open", s);
        p.push("open", s);
        assert_eq!(p.actions, [("open", s)]);
        assert_eq!(p.take(), [("open", s)]);
        assert!(p.push("reset", s), "queued again once taken");
        // Unsent actions go back before newer ones, which still supersede them.
        p.take();
        p.push("probe", s);
        p.restore(vec![("open", s)]);
        assert_eq!(p.actions, [("open", s), ("probe", s)]);
        p.take();
        p.push("close", s);
        p.restore(vec![("open", s)]);
        assert_eq!(p.actions, [("close", s)]);
    }

    #[test]
    fn shared_ids_never_collide() {
        use super::shared_id;
        let ids = [
            shared_id(&Recorder::named("a:b", Role::Plain)),
            shared_id(&Recorder::named("a", Role::Key("b"))),
            shared_id(&Recorder::named("a", Role::Key("%none"))),
            shared_id(&Recorder::named("a", Role::Key("(overflow)"))),
            shared_id(&Recorder::named("a", Role::Overflow)),
            shared_id(&Recorder::named("a", Role::Keyless)),
            shared_id(&Recorder::named("a", Role::Plain)),
            shared_id(&Recorder::named("a{x}\t", Role::Plain)),
        ];
        assert_eq!(
            ids,
            [
                "a%3Ab",
                "a:b",
                "a:%25none",
                "a:(overflow)",
                "a:%overflow",
                "a:%none",
                "a",
                "a%7Bx%7D%09",
            ]
        );
    }

    #[test]
    fn passwords_are_redacted_from_urls() {
        for (url, shown) in [
            ("redis://:s3cret@host:6379/0", "redis://:***@host:6379/0"),
            ("rediss://user:p@ss:w@host/", "rediss://user:***@host/"),
            ("redis://user@host/", "redis://user@host/"),
            ("redis://host:6379/", "redis://host:6379/"),
            ("redis://host/path@x", "redis://host/path@x"),
            ("not a url", "not a url"),
        ] {
            assert_eq!(redacted(url), shown, "{url}");
        }
        let builder = crate::RedisStore::builder("redis://:s3cret@127.0.0.1:1/", "ns");
        let debug = format!("{builder:?}");
        assert!(
            !debug.contains("s3cret") && debug.contains(":***@"),
            "{debug}"
        );
    }
}
