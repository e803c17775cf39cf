//! Named breakers with per-name configuration, dependencies between them, and history.

mod settings;

pub use settings::{EnvSettings, RegistrySettings};

use crate::breaker::{Breaker, BreakerMetrics};
use crate::builder::BreakerBuilder;
use crate::sync::{lock, read, write};
use fusebox_core::{CircuitState, ConfigError, Event, EventKind};
use fusebox_core::{LocalState, StateStore};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::{Duration, SystemTime};
use tokio::time::Instant;

/// How many transitions the registry remembers for [`BreakerRegistry::patterns`].
const TRANSITION_LOG: usize = 4_096;

type Factory = dyn Fn(&str) -> BreakerBuilder + Send + Sync;

/// The breakers of a service, by name: one per dependency (`calendar`, `telephony`, `payments`).
///
/// - **Per-name configuration**: breakers are made on first use by a function from name to
///   [`BreakerBuilder`] (or registered ready-made), so each dependency has its own thresholds.
/// - **Operations**: list all with their state and metrics, reset one or all, force one open,
///   and a [`summary`](Self::summary) of how many are open, half-open, closed or degraded.
/// - **Dependencies**: declare that `appointments` depends on `calendar` and `telephony`; when a
///   root is open, its dependents are reported degraded with the root as the cause
///   ([`health`](Self::health)).
/// - **History**: a bounded ring of timestamped [`snapshots`](Self::snapshot), and
///   [`patterns`](Self::patterns) (how often each breaker opened, mean time open) from the
///   transitions it has seen.
///
/// ```
/// use fusebox_breaker::{Breaker, BreakerRegistry, CircuitState, HealthStatus};
///
/// let registry = BreakerRegistry::new(|name| match name {
///     "payments" => Breaker::builder(name).consecutive_failures(3),
///     _ => Breaker::builder(name).consecutive_failures(10),
/// });
/// registry.depends_on("appointments", ["calendar", "telephony"]);
/// registry.get("appointments")?;
/// registry.get("telephony")?;
/// registry.force_open("calendar")?;
///
/// match registry.health("appointments") {
///     HealthStatus::Degraded { cause, .. } => assert_eq!(cause, "calendar"),
///     other => panic!("expected degraded, got {other:?}"),
/// }
/// assert_eq!(registry.summary().open, 1);
/// # Ok::<(), fusebox_breaker::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct BreakerRegistry {
    inner: Arc<Inner>,
}

struct Inner {
    factory: Box<Factory>,
    store: RwLock<Arc<dyn StateStore>>,
    breakers: RwLock<BTreeMap<String, Breaker>>,
    dependencies: RwLock<HashMap<String, Vec<String>>>,
    transitions: Mutex<VecDeque<LoggedTransition>>,
    snapshots: Mutex<VecDeque<RegistrySnapshot>>,
    snapshot_capacity: AtomicUsize,
}

impl fmt::Debug for BreakerRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<String> = self.breakers().keys().cloned().collect();
        f.debug_struct("BreakerRegistry")
            .field("breakers", &names)
            .finish_non_exhaustive()
    }
}

#[derive(Clone, Debug)]
struct LoggedTransition {
    name: String,
    to: CircuitState,
    at: Instant,
}

/// A breaker's name, state and metrics, from [`BreakerRegistry::list`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct BreakerStatus {
    /// The breaker's name.
    pub name: String,
    /// Its state.
    pub state: CircuitState,
    /// Its metrics snapshot.
    pub metrics: BreakerMetrics,
}

/// How many breakers are in each state, and which are degraded by a dependency.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RegistrySummary {
    /// Breakers in the registry.
    pub total: usize,
    /// Closed breakers.
    pub closed: usize,
    /// Open breakers (forced open included).
    pub open: usize,
    /// Half-open breakers.
    pub half_open: usize,
    /// Disabled breakers.
    pub disabled: usize,
    /// Names whose own breaker is not open but that depend on one that is.
    pub degraded: Vec<String>,
}

/// Whether a named dependency can be used, and if not, why.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum HealthStatus {
    /// Its breaker lets calls through and nothing it depends on is open.
    Healthy,
    /// Its own breaker rejects calls.
    Unavailable {
        /// The breaker's state.
        state: CircuitState,
    },
    /// Its breaker is fine, but a dependency's breaker (`cause`, the root of the failure)
    /// rejects calls.
    Degraded {
        /// The failing root dependency.
        cause: String,
        /// The root's state.
        state: CircuitState,
    },
    /// No breaker and no declared dependency has this name.
    Unknown,
}

impl HealthStatus {
    /// Whether calls to it may work.
    pub fn is_healthy(&self) -> bool {
        matches!(self, HealthStatus::Healthy)
    }
}

impl fmt::Display for HealthStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HealthStatus::Healthy => f.write_str("healthy"),
            HealthStatus::Unavailable { state } => write!(f, "circuit is {state}"),
            HealthStatus::Degraded { cause, state } => {
                write!(
                    f,
                    "degraded: depends on `{cause}`, whose circuit is {state}"
                )
            }
            HealthStatus::Unknown => f.write_str("unknown"),
        }
    }
}

/// The state of every breaker at one moment.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct RegistrySnapshot {
    /// Wall-clock time of the capture.
    pub taken_at: SystemTime,
    /// Every breaker, by name.
    pub breakers: Vec<BreakerStatus>,
}

/// What the registry's history says of one breaker.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct BreakerPattern {
    /// The breaker's name.
    pub name: String,
    /// Times it opened within the remembered history.
    pub times_opened: usize,
    /// Mean time from opening to leaving the open state, over the open periods that ended.
    pub mean_time_open: Option<Duration>,
}

impl BreakerRegistry {
    /// A registry that makes breakers on first use with `factory(name)`.
    pub fn new(factory: impl Fn(&str) -> BreakerBuilder + Send + Sync + 'static) -> Self {
        BreakerRegistry {
            inner: Arc::new(Inner {
                factory: Box::new(factory),
                store: RwLock::new(Arc::new(LocalState)),
                breakers: RwLock::new(BTreeMap::new()),
                dependencies: RwLock::new(HashMap::new()),
                transitions: Mutex::new(VecDeque::new()),
                snapshots: Mutex::new(VecDeque::new()),
                snapshot_capacity: AtomicUsize::new(60),
            }),
        }
    }

    /// Shares the state of every breaker the registry makes or registers from now on through
    /// `store`.
    pub fn set_store(&self, store: impl StateStore) {
        *write(&self.inner.store) = Arc::new(store);
    }

    /// Keeps at most `capacity` snapshots (default 60, at least 1); older ones are dropped.
    pub fn set_snapshot_capacity(&self, capacity: usize) {
        self.inner.snapshot_capacity.store(capacity.max(1), Relaxed);
        let mut ring = lock(&self.inner.snapshots);
        while ring.len() > capacity.max(1) {
            ring.pop_front();
        }
    }

    fn breakers(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, Breaker>> {
        read(&self.inner.breakers)
    }

    /// The breaker named `name`, made with the registry's factory on first use, like
    /// [`KeyedBreakers::get`](crate::KeyedBreakers::get) makes a key's breaker. An error if the
    /// factory's settings are invalid, or name another breaker.
    pub fn get(&self, name: &str) -> Result<Breaker, ConfigError> {
        if let Some(b) = self.find(name) {
            return Ok(b);
        }
        let built = (self.inner.factory)(name).build()?;
        if built.name() != name {
            // Listed under one name and reporting another in errors, events and Redis would
            // mislead whoever operates it.
            return Err(ConfigError::new(
                "factory",
                "a builder for the name it is given",
                format!("{} for {name}", built.name()),
            ));
        }
        Ok(self.insert(name, built))
    }

    /// The breaker named `name` if the registry has one; unlike [`get`](Self::get), makes
    /// none.
    pub fn find(&self, name: &str) -> Option<Breaker> {
        self.breakers().get(name).cloned()
    }

    /// Adds a ready-made breaker under its name. Registering the same breaker again returns
    /// it; another breaker under a name already taken is an error (its settings would be lost
    /// silently otherwise), naming the name.
    ///
    /// ```
    /// use fusebox_breaker::{Breaker, BreakerRegistry};
    ///
    /// let registry = BreakerRegistry::new(|name| Breaker::builder(name));
    /// let calendar = registry.register(Breaker::builder("calendar").build()?)?;
    /// assert!(registry.register(calendar.clone()).is_ok(), "the same breaker again");
    /// let other = Breaker::builder("calendar").consecutive_failures(1).build()?;
    /// assert_eq!(registry.register(other).unwrap_err().field(), "name");
    /// # Ok::<(), fusebox_breaker::ConfigError>(())
    /// ```
    pub fn register(&self, breaker: Breaker) -> Result<Breaker, ConfigError> {
        let name = breaker.name().to_owned();
        let kept = self.insert(&name, breaker.clone());
        if kept.same_as(&breaker) {
            Ok(kept)
        } else {
            Err(ConfigError::new(
                "name",
                "a name no other breaker of the registry has",
                name,
            ))
        }
    }

    fn insert(&self, name: &str, breaker: Breaker) -> Breaker {
        let mut map = write(&self.inner.breakers);
        if let Some(existing) = map.get(name) {
            return existing.clone();
        }
        let weak: Weak<Inner> = Arc::downgrade(&self.inner);
        let logged_name = name.to_owned();
        // Transitions only: registering a breaker must not make its calls build events.
        breaker
            .on_transition(move |e: &Event<'_>| {
                if let EventKind::StateTransition { to, .. } = e.kind {
                    if let Some(inner) = weak.upgrade() {
                        let mut log = lock(&inner.transitions);
                        if log.len() == TRANSITION_LOG {
                            log.pop_front();
                        }
                        log.push_back(LoggedTransition {
                            name: logged_name.clone(),
                            to,
                            at: Instant::now(),
                        });
                    }
                }
            })
            .detach();
        map.insert(name.to_owned(), breaker.clone());
        drop(map);
        let store = read(&self.inner.store).clone();
        breaker.share_with(store.as_ref());
        breaker
    }

    /// Every breaker with its state and metrics, by name.
    pub fn list(&self) -> Vec<BreakerStatus> {
        self.breakers()
            .iter()
            .map(|(name, b)| {
                let metrics = b.metrics();
                BreakerStatus {
                    name: name.clone(),
                    state: metrics.state,
                    metrics,
                }
            })
            .collect()
    }

    /// Resets the breaker named `name`; `false` if there is none.
    pub fn reset(&self, name: &str) -> bool {
        self.find(name).map(|b| b.reset()).is_some()
    }

    /// Resets every breaker.
    pub fn reset_all(&self) {
        for b in self.breakers().values() {
            b.reset();
        }
    }

    /// Forces the breaker named `name` open, making it with the factory if needed.
    pub fn force_open(&self, name: &str) -> Result<(), ConfigError> {
        self.get(name)?.force_open();
        Ok(())
    }

    /// Disables the breaker named `name` (calls pass, trips are only reported), making it with
    /// the factory if needed.
    pub fn disable(&self, name: &str) -> Result<(), ConfigError> {
        self.get(name)?.disable();
        Ok(())
    }

    /// Declares that `name` depends on each of `dependencies`.
    pub fn depends_on<I, S>(&self, name: &str, dependencies: I)
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut deps = write(&self.inner.dependencies);
        let entry = deps.entry(name.to_owned()).or_default();
        for d in dependencies {
            let d = d.into();
            if !entry.contains(&d) {
                entry.push(d);
            }
        }
    }

    /// Whether `name` can be used, and if not, why; a failing dependency is reported as the
    /// cause of its dependents' degradation.
    pub fn health(&self, name: &str) -> HealthStatus {
        let breakers = self.breakers();
        let deps = read(&self.inner.dependencies);
        if let Some(b) = breakers.get(name) {
            let state = b.state();
            if rejects(state) {
                return HealthStatus::Unavailable { state };
            }
        } else if !deps.contains_key(name) {
            return HealthStatus::Unknown;
        }
        let mut seen = HashSet::new();
        match root_cause(name, &breakers, &deps, &mut seen) {
            Some((cause, state)) => HealthStatus::Degraded { cause, state },
            None => HealthStatus::Healthy,
        }
    }

    /// Counts by state, and the names degraded by a failing dependency.
    pub fn summary(&self) -> RegistrySummary {
        let mut s = RegistrySummary::default();
        let names: Vec<String> = {
            let breakers = self.breakers();
            for b in breakers.values() {
                s.total += 1;
                match b.state() {
                    CircuitState::Closed => s.closed += 1,
                    CircuitState::HalfOpen => s.half_open += 1,
                    CircuitState::Disabled => s.disabled += 1,
                    _ => s.open += 1,
                }
            }
            let deps = read(&self.inner.dependencies);
            breakers.keys().chain(deps.keys()).cloned().collect()
        };
        let mut degraded: Vec<String> = names
            .into_iter()
            .filter(|n| matches!(self.health(n), HealthStatus::Degraded { .. }))
            .collect();
        degraded.sort();
        degraded.dedup();
        s.degraded = degraded;
        s
    }

    /// Captures every breaker's state now, keeps it in the bounded ring, and returns it.
    pub fn snapshot(&self) -> RegistrySnapshot {
        let snapshot = RegistrySnapshot {
            taken_at: SystemTime::now(),
            breakers: self.list(),
        };
        let mut ring = lock(&self.inner.snapshots);
        while ring.len() >= self.inner.snapshot_capacity.load(Relaxed) {
            ring.pop_front();
        }
        ring.push_back(snapshot.clone());
        snapshot
    }

    /// The kept snapshots, oldest first.
    pub fn snapshots(&self) -> Vec<RegistrySnapshot> {
        let ring = lock(&self.inner.snapshots);
        ring.iter().cloned().collect()
    }

    /// How often each breaker opened, and its mean time open, over the remembered transitions
    /// (the last 4,096), by name.
    pub fn patterns(&self) -> Vec<BreakerPattern> {
        let log = lock(&self.inner.transitions);
        let mut by_name: BTreeMap<&str, (usize, Option<Instant>, Duration, u32)> = BTreeMap::new();
        for t in log.iter() {
            let (opened, since, total, periods) = by_name.entry(&t.name).or_default();
            if rejects_fully(t.to) {
                if since.is_none() {
                    *opened += 1;
                    *since = Some(t.at);
                }
            } else if let Some(start) = since.take() {
                *total += t.at - start;
                *periods += 1;
            }
        }
        by_name
            .into_iter()
            .map(|(name, (opened, _, total, periods))| BreakerPattern {
                name: name.to_owned(),
                times_opened: opened,
                mean_time_open: (periods > 0).then(|| total / periods),
            })
            .collect()
    }
}

fn rejects(state: CircuitState) -> bool {
    matches!(
        state,
        CircuitState::Open | CircuitState::HalfOpen | CircuitState::ForcedOpen
    )
}

fn rejects_fully(state: CircuitState) -> bool {
    matches!(state, CircuitState::Open | CircuitState::ForcedOpen)
}

/// The first failing dependency found depth-first, reported at its root: a dependency that is
/// itself only degraded passes on its own cause.
fn root_cause(
    name: &str,
    breakers: &BTreeMap<String, Breaker>,
    deps: &HashMap<String, Vec<String>>,
    seen: &mut HashSet<String>,
) -> Option<(String, CircuitState)> {
    if !seen.insert(name.to_owned()) {
        return None;
    }
    for dep in deps.get(name).into_iter().flatten() {
        // A deeper cause explains a failing dependency better than the dependency itself.
        if let Some(deeper) = root_cause(dep, breakers, deps, seen) {
            return Some(deeper);
        }
        if let Some(state) = breakers.get(dep).map(Breaker::state) {
            if rejects(state) {
                return Some((dep.clone(), state));
            }
        }
    }
    None
}

/// Every breaker of the registry, in name order.
impl fusebox_core::Circuits for BreakerRegistry {
    fn for_each_circuit(&self, visit: &mut dyn FnMut(&dyn fusebox_core::Circuit)) {
        for breaker in self.breakers().values() {
            visit(&*breaker.shared);
        }
    }
}
