//! Named breakers with per-name configuration.

mod settings;
mod summary;

pub use settings::{EnvSettings, RegistrySettings};
pub use summary::RegistrySummary;

use crate::breaker::{Breaker, BreakerMetrics};
use crate::builder::BreakerBuilder;
use crate::sync::{lock, read, write};
use fusebox_core::{CircuitState, ConfigError, EventListener};
use fusebox_core::{LocalState, StateStore};
use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex, RwLock};

/// A listener of every breaker's transitions, shared by each breaker it listens to.
type TransitionListener = Arc<dyn EventListener>;

type Factory = dyn Fn(&str) -> BreakerBuilder + Send + Sync;

/// The breakers of a service, by name: one per dependency (`calendar`, `telephony`, `payments`).
///
/// - **Per-name configuration**: breakers are made on first use by a function from name to
///   [`BreakerBuilder`] (or registered ready-made), so each dependency has its own thresholds.
/// - **Operations**: list all with their state and metrics, reset one or all, force one open,
///   and a [`summary`](Self::summary) of how many are open, half-open or closed.
/// - **Health**: the registry is a set of circuits ([`fusebox_core::Circuits`]), so
///   fusebox-health checks its breakers; which dependency degrades which is that crate's
///   dependency graph.
/// - **Transitions**: [`on_transition`](Self::on_transition) listens to every breaker's,
///   those made later included (fusebox-metrics' `History` keeps them, and the patterns of
///   their trips).
///
/// ```
/// use fusebox_breaker::{Breaker, BreakerRegistry, CircuitState};
///
/// let registry = BreakerRegistry::new(|name| match name {
///     "payments" => Breaker::builder(name).consecutive_failures(3),
///     _ => Breaker::builder(name).consecutive_failures(10),
/// });
/// registry.get("appointments")?;
/// registry.get("telephony")?;
/// registry.force_open("calendar")?;
///
/// assert_eq!(registry.find("calendar").map(|b| b.state()), Some(CircuitState::ForcedOpen));
/// let summary = registry.summary();
/// assert_eq!((summary.total, summary.open, summary.closed), (3, 1, 2));
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
    /// Given to every breaker registered, those already in when each was added.
    transition_listeners: Mutex<Vec<TransitionListener>>,
}

impl fmt::Debug for BreakerRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<String> = self.breakers().keys().cloned().collect();
        f.debug_struct("BreakerRegistry")
            .field("breakers", &names)
            .finish_non_exhaustive()
    }
}

/// Builds a [`BreakerRegistry`]: its factory, and the store every breaker it makes is shared
/// through.
pub struct RegistryBuilder {
    factory: Box<Factory>,
    store: Arc<dyn StateStore>,
}

impl fmt::Debug for RegistryBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegistryBuilder").finish_non_exhaustive()
    }
}

impl RegistryBuilder {
    /// Shares the state of every breaker the registry makes or registers through `store`.
    pub fn store(mut self, store: impl StateStore) -> Self {
        self.store = Arc::new(store);
        self
    }

    /// The registry.
    pub fn build(self) -> BreakerRegistry {
        BreakerRegistry {
            inner: Arc::new(Inner {
                factory: self.factory,
                store: RwLock::new(self.store),
                breakers: RwLock::new(BTreeMap::new()),
                transition_listeners: Mutex::new(Vec::new()),
            }),
        }
    }
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

impl BreakerRegistry {
    /// A registry that makes breakers on first use with `factory(name)`; the same as
    /// `BreakerRegistry::builder(factory).build()`.
    pub fn new(factory: impl Fn(&str) -> BreakerBuilder + Send + Sync + 'static) -> Self {
        BreakerRegistry::builder(factory).build()
    }

    /// Starts building a registry that makes breakers on first use with `factory(name)`.
    ///
    /// ```
    /// use fusebox_breaker::{Breaker, BreakerRegistry, LocalState};
    ///
    /// let factory = |name: &str| Breaker::builder(name).consecutive_failures(3);
    /// let registry = BreakerRegistry::builder(factory)
    ///     .store(LocalState)
    ///     .build();
    /// assert_eq!(registry.get("calendar")?.name(), "calendar");
    /// # Ok::<(), fusebox_breaker::ConfigError>(())
    /// ```
    pub fn builder(
        factory: impl Fn(&str) -> BreakerBuilder + Send + Sync + 'static,
    ) -> RegistryBuilder {
        RegistryBuilder {
            factory: Box::new(factory),
            store: Arc::new(LocalState),
        }
    }

    /// Shares the state of every breaker the registry makes or registers from now on through
    /// `store`.
    pub fn set_store(&self, store: impl StateStore) {
        *write(&self.inner.store) = Arc::new(store);
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
        // Transitions only: registering a breaker must not make its calls build events.
        for listener in lock(&self.inner.transition_listeners).iter() {
            let listener = listener.clone();
            breaker
                .on_transition(move |e: &fusebox_core::Event<'_>| listener.on_event(e))
                .detach();
        }
        map.insert(name.to_owned(), breaker.clone());
        drop(map);
        let store = read(&self.inner.store).clone();
        breaker.share_with(store.as_ref());
        breaker
    }

    /// Gives `listener` the transitions of every breaker of the registry, those made or
    /// registered later included, for the registry's life; calls build no event for it.
    ///
    /// ```
    /// use fusebox_breaker::{Breaker, BreakerRegistry};
    /// use fusebox_core::{Event, EventKind};
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    ///
    /// let registry = BreakerRegistry::new(|name| Breaker::builder(name).consecutive_failures(1));
    /// let opened = Arc::new(AtomicUsize::new(0));
    /// let seen = opened.clone();
    /// registry.on_transition(move |e: &Event<'_>| {
    ///     if let EventKind::StateTransition { .. } = e.kind {
    ///         seen.fetch_add(1, Ordering::Relaxed);
    ///     }
    /// });
    /// registry.get("sms")?.try_acquire().unwrap().failure();
    /// assert_eq!(opened.load(Ordering::Relaxed), 1);
    /// # Ok::<(), fusebox_breaker::ConfigError>(())
    /// ```
    pub fn on_transition(&self, listener: impl EventListener) {
        let listener: TransitionListener = Arc::new(listener);
        // The breakers' lock first, as `insert` takes them: a breaker is registered either
        // before (and listened to here) or after (and given the listener there).
        let breakers = write(&self.inner.breakers);
        lock(&self.inner.transition_listeners).push(listener.clone());
        for breaker in breakers.values() {
            let listener = listener.clone();
            breaker
                .on_transition(move |e: &fusebox_core::Event<'_>| listener.on_event(e))
                .detach();
        }
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
}

/// Every breaker of the registry, in name order.
impl fusebox_core::Circuits for BreakerRegistry {
    fn for_each_circuit(&self, visit: &mut dyn FnMut(&dyn fusebox_core::Circuit)) {
        for breaker in self.breakers().values() {
            visit(&*breaker.shared);
        }
    }
}
