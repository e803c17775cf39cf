//! [`HealthRegistry`]: checks probed on their own schedules, in the background.

use crate::check::{run_check, CheckResult, HealthCheck, Status};
use crate::graph::{component_of, ComponentHealth, Graph};
use crate::history::{History, Sample, Stats, DEFAULT_HISTORY, MAX_HISTORY};
use crate::predict::{predict, Prediction};
use crate::score::{health_score, SCORE_WINDOW};
use crate::CircuitCheck;
use fusebox_core::sync::lock;
use fusebox_core::{
    CircuitRef, ConfigError, Event, EventBus, EventKind, EventListener, Subscription,
};
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// The shortest interval or timeout a check takes.
pub const MIN_CHECK_INTERVAL: Duration = Duration::from_millis(10);

/// How often and how patiently one check is probed, and what its failure means.
///
/// Defaults: every 30 s, a 5 s timeout, no initial delay, up to 10 % of the interval of jitter,
/// critical, every 10 s while failing, a history of a day of probes every 30 s (2,880) and no
/// latency target.
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub struct CheckSettings {
    /// Time between the end of a probe and the start of the next, while passing or warning.
    pub interval: Duration,
    /// Time between probes while failing: shorter, to notice a recovery sooner (never longer
    /// than `interval`).
    pub failing_interval: Duration,
    /// How long a probe may take; a probe still running then fails.
    pub timeout: Duration,
    /// Time before the first probe.
    pub initial_delay: Duration,
    /// Up to this share of the interval (in [0, 1)) is added at random to each wait, so a
    /// fleet of instances does not probe a dependency in lockstep.
    pub jitter: f64,
    /// Whether a failure makes the service not ready (`true`), or only degraded.
    pub critical: bool,
    /// How many probes its history keeps (1 to [`MAX_HISTORY`](crate::MAX_HISTORY)).
    pub history: usize,
    /// The latency its health score measures against ([`health_score`]); `None` leaves
    /// latency out of it.
    pub latency_target: Option<Duration>,
}

impl Default for CheckSettings {
    fn default() -> Self {
        CheckSettings {
            interval: Duration::from_secs(30),
            failing_interval: Duration::from_secs(10),
            timeout: Duration::from_secs(5),
            initial_delay: Duration::ZERO,
            jitter: 0.1,
            critical: true,
            history: DEFAULT_HISTORY,
            latency_target: None,
        }
    }
}

impl CheckSettings {
    /// The settings for a circuit breaker's state ([`HealthRegistryBuilder::circuit`]): read
    /// every second, no jitter (reading it sends nothing), an hour of history.
    pub fn circuit(critical: bool) -> Self {
        CheckSettings {
            interval: Duration::from_secs(1),
            failing_interval: Duration::from_secs(1),
            timeout: Duration::from_secs(1),
            jitter: 0.0,
            critical,
            history: 3_600,
            ..CheckSettings::default()
        }
    }

    /// The same settings, probed every `interval`; the interval while failing is lowered to
    /// it when longer (set [`failing_interval`](Self::failing_interval) after this to choose
    /// another).
    #[must_use]
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self.failing_interval = self.failing_interval.min(interval);
        self
    }

    /// The same settings, probed every `interval` while failing.
    #[must_use]
    pub fn failing_interval(mut self, interval: Duration) -> Self {
        self.failing_interval = interval;
        self
    }

    /// The same settings, with a probe's `timeout`.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The same settings, first probed after `delay`.
    #[must_use]
    pub fn initial_delay(mut self, delay: Duration) -> Self {
        self.initial_delay = delay;
        self
    }

    /// The same settings, with up to `share` of the interval added at random to each wait.
    #[must_use]
    pub fn jitter(mut self, share: f64) -> Self {
        self.jitter = share;
        self
    }

    /// The same settings, critical (a failure makes the service not ready) or not.
    #[must_use]
    pub fn critical(mut self, critical: bool) -> Self {
        self.critical = critical;
        self
    }

    /// The same settings, keeping the last `samples` probes.
    #[must_use]
    pub fn history(mut self, samples: usize) -> Self {
        self.history = samples;
        self
    }

    /// The same settings, scoring latency against `target`.
    #[must_use]
    pub fn latency_target(mut self, target: Duration) -> Self {
        self.latency_target = Some(target);
        self
    }

    fn validate(&self, name: &str) -> Result<(), ConfigError> {
        let field = |what: &str| format!("{name}.{what}");
        for (what, value) in [
            ("interval", self.interval),
            ("failing_interval", self.failing_interval),
            ("timeout", self.timeout),
        ] {
            if value < MIN_CHECK_INTERVAL {
                return Err(ConfigError::new(field(what), "at least 10ms", value));
            }
        }
        if self.failing_interval > self.interval {
            return Err(ConfigError::new(
                field("failing_interval"),
                "no longer than the interval",
                self.failing_interval,
            ));
        }
        if !(0.0..1.0).contains(&self.jitter) {
            return Err(ConfigError::new(field("jitter"), "in [0, 1)", self.jitter));
        }
        if let Some(target) = self.latency_target.filter(|t| t.is_zero()) {
            return Err(ConfigError::new(
                field("latency_target"),
                "more than zero",
                target,
            ));
        }
        if !(1..=MAX_HISTORY).contains(&self.history) {
            return Err(ConfigError::new(
                field("history"),
                "between 1 and 1000000 samples",
                self.history,
            ));
        }
        Ok(())
    }
}

/// Settings of a [`HealthRegistry`]; from [`HealthRegistry::builder`].
#[derive(Default)]
pub struct HealthRegistryBuilder {
    checks: Vec<(Arc<dyn HealthCheck>, CheckSettings)>,
    graph: Graph,
    events: EventBus,
}

impl fmt::Debug for HealthRegistryBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HealthRegistryBuilder")
            .field("checks", &self.checks.len())
            .finish()
    }
}

impl HealthRegistryBuilder {
    /// Adds `check`, probed as `settings` say.
    #[must_use]
    pub fn check(mut self, check: impl HealthCheck, settings: CheckSettings) -> Self {
        self.checks.push((Arc::new(check), settings));
        self
    }

    /// Adds a circuit breaker's state as a check (a [`CircuitCheck`], named
    /// `<name>:circuit`), read every second ([`CheckSettings::circuit`]): an open breaker
    /// fails it, so a critical one makes the service not ready, and its open periods count as
    /// failures in its history and score.
    #[must_use]
    pub fn circuit(self, circuit: impl Into<CircuitRef>, critical: bool) -> Self {
        self.check(
            CircuitCheck::new(circuit.into()),
            CheckSettings::circuit(critical),
        )
    }

    /// Declares that `component` depends on each of `dependencies` (components: a check's
    /// name up to its first `:`, see [`component_of`](crate::component_of)). When one of them
    /// fails, directly or through its own dependencies, `component` is reported degraded with
    /// that root as the cause ([`HealthRegistry::component`]). Cycles are safe.
    #[must_use]
    pub fn depends_on<I, S>(mut self, component: &str, dependencies: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.graph
            .add(component, dependencies.into_iter().map(Into::into));
        self
    }

    /// Delivers the registry's events to `listener`: a `HealthProbed` after each probe, and a
    /// `HealthChanged` each time a check's status changes (its first probe included).
    #[must_use]
    pub fn on_event(self, listener: impl EventListener) -> Self {
        self.events.subscribe(listener).detach();
        self
    }

    /// The registry, or an error naming the first setting that is wrong (or a name used
    /// twice).
    pub fn build(self) -> Result<HealthRegistry, ConfigError> {
        let mut names = HashSet::new();
        for (check, settings) in &self.checks {
            settings.validate(check.name())?;
            if !names.insert(check.name().to_owned()) {
                return Err(ConfigError::new("name", "unique", check.name()));
            }
        }
        let mut checks = Vec::with_capacity(self.checks.len());
        for (check, settings) in self.checks {
            checks.push(Scheduled {
                state: Mutex::new(CheckState {
                    latest: None,
                    history: History::new(settings.history)?,
                }),
                check,
                settings,
            });
        }
        Ok(HealthRegistry {
            inner: Arc::new(Inner {
                checks,
                graph: self.graph,
                events: self.events,
                clock: Clock::new(),
                changes: watch::channel(0).0,
            }),
        })
    }
}

struct Scheduled {
    check: Arc<dyn HealthCheck>,
    settings: CheckSettings,
    state: Mutex<CheckState>,
}

struct CheckState {
    latest: Option<CheckResult>,
    history: History,
}

struct Inner {
    checks: Vec<Scheduled>,
    graph: Graph,
    events: EventBus,
    clock: Clock,
    /// Counts status changes, for those who wait for one.
    changes: watch::Sender<u64>,
}

impl Inner {
    fn find(&self, name: &str) -> Option<&Scheduled> {
        self.checks.iter().find(|c| c.check.name() == name)
    }
}

/// The wall clock as Tokio's clock moves it: the wall time when the registry was built plus
/// the Tokio time since, so that paused time in tests moves histories too.
struct Clock {
    wall: SystemTime,
    start: Instant,
}

impl Clock {
    fn new() -> Self {
        Clock {
            wall: SystemTime::now(),
            start: Instant::now(),
        }
    }

    fn now(&self) -> SystemTime {
        self.wall
            .checked_add(self.start.elapsed())
            .unwrap_or_else(SystemTime::now)
    }
}

/// One check as the registry sees it now: from [`HealthRegistry::checks`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct CheckView {
    /// The check's name.
    pub name: String,
    /// Whether a failure makes the service not ready.
    pub critical: bool,
    /// Its last result; `None` before its first probe ends.
    pub latest: Option<CheckResult>,
    /// What it adds to the service's status (see [`HealthRegistry::status`]).
    pub contribution: Status,
    /// Its health score over the last hour; `None` before its first probe.
    pub score: Option<u8>,
    /// The failing root of something its component depends on, if any.
    pub cause: Option<String>,
}

/// What one check adds to the service's status: its last status, except that a non-critical
/// failure only warns, and a check not probed yet fails when critical (the service has not
/// started) and warns otherwise.
fn contribution(critical: bool, latest: Option<Status>) -> Status {
    match (latest, critical) {
        (Some(Status::Fail) | None, true) => Status::Fail,
        (Some(Status::Fail) | None, false) => Status::Warn,
        (Some(status), _) => status,
    }
}

/// Checks probed in the background, each on its own schedule ([`CheckSettings`]), at most one
/// probe of a check in flight, every probe's timeout enforced (a hung probe fails; the
/// schedule goes on). [`start`](Self::start) runs them on the current Tokio runtime until the
/// returned [`Running`] is stopped or dropped. Cheap to clone.
///
/// ```
/// use fusebox_health::{CheckSettings, FnCheck, HealthRegistry, Probe, Status};
/// use std::time::Duration;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() -> Result<(), fusebox_core::ConfigError> {
/// let registry = HealthRegistry::builder()
///     .check(FnCheck::new("queue", || async { Probe::pass() }), CheckSettings::default())
///     .build()?;
/// let running = registry.start();
/// tokio::time::sleep(Duration::from_millis(1)).await; // the first probe runs at once
/// assert_eq!(registry.latest("queue").map(|r| r.status()), Some(Status::Pass));
/// running.stop().await;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct HealthRegistry {
    inner: Arc<Inner>,
}

impl fmt::Debug for HealthRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.inner.checks.iter().map(|c| c.check.name()).collect();
        f.debug_struct("HealthRegistry")
            .field("checks", &names)
            .finish()
    }
}

impl HealthRegistry {
    /// Starts a registry.
    pub fn builder() -> HealthRegistryBuilder {
        HealthRegistryBuilder::default()
    }

    /// The last result of the check named `name`; `None` before its first probe ends, or for
    /// a name not registered.
    pub fn latest(&self, name: &str) -> Option<CheckResult> {
        lock(&self.inner.find(name)?.state).latest.clone()
    }

    /// The names of the checks, in the order added.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.inner.checks.iter().map(|c| c.check.name())
    }

    /// Every check as it stands: its last result, what it adds to the service's status, its
    /// score and the root cause of its component's degradation, in the order added.
    pub fn checks(&self) -> Vec<CheckView> {
        self.snapshot().0
    }

    /// Every check and every component from one reading of each check's state, so that a
    /// health page never shows a check passing beside a component failing because of it.
    pub(crate) fn snapshot(&self) -> (Vec<CheckView>, Vec<ComponentHealth>) {
        let now = self.now();
        let rows: Vec<(&Scheduled, Option<CheckResult>, Option<u8>)> = self
            .inner
            .checks
            .iter()
            .map(|c| {
                let state = lock(&c.state);
                let score = score_of(&state.history, c.settings.latency_target, now);
                (c, state.latest.clone(), score)
            })
            .collect();
        let own = own_statuses(
            rows.iter()
                .map(|(c, latest, _)| (c.check.name(), latest.as_ref().map(CheckResult::status))),
        );
        let graph = &self.inner.graph;
        let names: BTreeSet<&str> = rows
            .iter()
            .map(|(c, _, _)| component_of(c.check.name()))
            .chain(graph.names())
            .collect();
        let components = names.into_iter().map(|n| graph.health(n, &own)).collect();
        let views = rows
            .into_iter()
            .map(|(c, latest, score)| CheckView {
                name: c.check.name().to_owned(),
                critical: c.settings.critical,
                contribution: contribution(
                    c.settings.critical,
                    latest.as_ref().map(CheckResult::status),
                ),
                cause: graph.health(component_of(c.check.name()), &own).cause,
                latest,
                score,
            })
            .collect();
        (views, components)
    }

    /// The samples of the check named `name` in the last `window`, oldest first; `None` for
    /// a name not registered.
    pub fn history(&self, name: &str, window: Duration) -> Option<Vec<Sample>> {
        let now = self.now();
        let since = now.checked_sub(window).unwrap_or(SystemTime::UNIX_EPOCH);
        let state = lock(&self.inner.find(name)?.state);
        Some(state.history.since(since).copied().collect())
    }

    /// The statistics of the check named `name` over the last `window` (see [`Stats`]);
    /// `None` for a name not registered.
    pub fn stats(&self, name: &str, window: Duration) -> Option<Stats> {
        let now = self.now();
        Some(
            lock(&self.inner.find(name)?.state)
                .history
                .stats(window, now),
        )
    }

    /// The health score of the check named `name` over the last hour ([`health_score`]);
    /// `None` before its first probe, or for a name not registered.
    pub fn score(&self, name: &str) -> Option<u8> {
        let scheduled = self.inner.find(name)?;
        let state = lock(&scheduled.state);
        score_of(
            &state.history,
            scheduled.settings.latency_target,
            self.now(),
        )
    }

    /// The predictions for every check, from its history (see [`Prediction`]).
    pub fn predictions(&self) -> Vec<Prediction> {
        let now = self.now();
        self.inner
            .checks
            .iter()
            .flat_map(|c| predict(c.check.name(), &lock(&c.state).history, now))
            .collect()
    }

    /// The health of `component` (a check's name up to its first `:`, or a name declared
    /// with [`depends_on`](HealthRegistryBuilder::depends_on)): its own checks' worst
    /// status and the failing root of what it depends on; `None` for a name neither.
    pub fn component(&self, component: &str) -> Option<ComponentHealth> {
        self.components().into_iter().find(|c| c.name == component)
    }

    /// The components `component` was declared to depend on, in the order declared.
    pub fn dependencies(&self, component: &str) -> &[String] {
        self.inner.graph.dependencies(component)
    }

    /// The health of every component, by name.
    pub fn components(&self) -> Vec<ComponentHealth> {
        self.snapshot().1
    }

    /// The service's status: the worst of what each check adds to it. A check adds its last
    /// status, except that a non-critical failure only warns, and one not probed yet fails
    /// when critical and warns otherwise. `pass` with no check.
    pub fn status(&self) -> Status {
        self.inner
            .checks
            .iter()
            .map(|c| {
                let latest = lock(&c.state).latest.as_ref().map(CheckResult::status);
                contribution(c.settings.critical, latest)
            })
            .max()
            .unwrap_or(Status::Pass)
    }

    /// Whether the process can serve: always `pass` while it can answer. A dependency being
    /// down never fails liveness (restarting the process would not bring it back).
    pub fn liveness(&self) -> Status {
        Status::Pass
    }

    /// Whether the service has started: `pass` once every critical check has been probed,
    /// `fail` before.
    pub fn startup(&self) -> Status {
        let started = self
            .inner
            .checks
            .iter()
            .all(|c| !c.settings.critical || lock(&c.state).latest.is_some());
        if started {
            Status::Pass
        } else {
            Status::Fail
        }
    }

    /// A receiver that sees a new value each time a check's status changes.
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.inner.changes.subscribe()
    }

    /// The registry's wall clock: the wall time when it was built plus Tokio's time since
    /// (so paused time in tests moves it too). Probes are stamped with it.
    pub fn now(&self) -> SystemTime {
        self.inner.clock.now()
    }

    /// Listens to the registry's events until the returned subscription is dropped (see
    /// [`HealthRegistryBuilder::on_event`]).
    pub fn subscribe(&self, listener: impl EventListener) -> Subscription {
        self.inner.events.subscribe(listener)
    }

    /// Whether the service is ready for traffic: every critical check has been probed and
    /// its last probe did not fail (the [`status`](Self::status) is not `fail`).
    pub fn is_ready(&self) -> bool {
        self.status() != Status::Fail
    }

    /// Runs every check on its schedule, on the current Tokio runtime, until the returned
    /// handle is stopped or dropped.
    ///
    /// # Panics
    ///
    /// Outside a Tokio runtime, as `tokio::spawn` does.
    pub fn start(&self) -> Running {
        let (stop, stopped) = watch::channel(false);
        let tasks = (0..self.inner.checks.len())
            .map(|index| {
                let inner = self.inner.clone();
                let stopped = stopped.clone();
                tokio::spawn(async move { schedule(inner, index, stopped).await })
            })
            .collect();
        Running { stop, tasks }
    }
}

/// One check's schedule, until told to stop.
async fn schedule(inner: Arc<Inner>, index: usize, mut stopped: watch::Receiver<bool>) {
    let scheduled = &inner.checks[index];
    let settings = scheduled.settings;
    let mut wait = settings.initial_delay;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stopped.wait_for(|stop| *stop) => return,
        }
        let mut result = tokio::select! {
            result = run_check(&*scheduled.check, settings.timeout) => result,
            _ = stopped.wait_for(|stop| *stop) => return,
        };
        let now = inner.clock.now();
        result.time = now;
        let base = if result.status() == Status::Fail {
            settings.failing_interval
        } else {
            settings.interval
        };
        let (to, latency) = (result.status(), result.latency());
        let detail = result.probe().detail().map(str::to_owned);
        let (from, score) = {
            let mut state = lock(&scheduled.state);
            state.history.push(Sample::from(&result));
            let score = score_of(&state.history, settings.latency_target, now);
            (state.latest.replace(result).map(|r| r.status()), score)
        };
        let name = scheduled.check.name();
        inner.events.emit(|| {
            Event::new(
                name,
                EventKind::HealthProbed {
                    status: to,
                    latency,
                    score: score.unwrap_or(0),
                },
            )
        });
        if from != Some(to) {
            log_change(name, from, to, detail.as_deref());
            inner
                .events
                .emit(|| Event::new(name, EventKind::HealthChanged { from, to }));
            inner.changes.send_modify(|n| *n = n.wrapping_add(1));
        }
        wait = base.saturating_add(base.mul_f64(settings.jitter * fastrand::f64()));
    }
}

/// One line per change of a check's status: `WARN` when it fails or degrades, `INFO` when it
/// recovers, `DEBUG` for a first probe that passes.
fn log_change(check: &str, from: Option<Status>, to: Status, detail: Option<&str>) {
    let detail = detail.unwrap_or("");
    match (from, to) {
        (_, Status::Fail) => tracing::warn!(check, detail, "health check failing"),
        (_, Status::Warn) => tracing::warn!(check, detail, "health check degraded"),
        (None, Status::Pass) => tracing::debug!(check, "health check passing"),
        (Some(from), Status::Pass) => {
            tracing::info!(check, from = from.as_str(), "health check recovered");
        }
    }
}

fn score_of(history: &History, target: Option<Duration>, now: SystemTime) -> Option<u8> {
    health_score(&history.stats(SCORE_WINDOW, now), target)
}

/// The worst last status of each component's checks.
fn own_statuses<'a>(
    checks: impl Iterator<Item = (&'a str, Option<Status>)>,
) -> BTreeMap<&'a str, Status> {
    let mut own = BTreeMap::new();
    for (name, status) in checks {
        if let Some(status) = status {
            let entry = own.entry(component_of(name)).or_insert(status);
            *entry = (*entry).max(status);
        }
    }
    own
}

/// The checks of a started [`HealthRegistry`] running; [`stop`](Self::stop) ends them (a probe
/// in flight is dropped), as dropping it does without waiting: the schedules end when the
/// channel it holds closes.
#[derive(Debug)]
pub struct Running {
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Running {
    /// Stops every check and waits until each has stopped.
    pub async fn stop(self) {
        let Running { stop, tasks } = self;
        let _ = stop.send(true);
        for task in tasks {
            let _ = task.await;
        }
    }
}
