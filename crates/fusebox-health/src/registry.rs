//! [`HealthRegistry`]: checks probed on their own schedules, in the background.

use crate::check::{run_check, CheckResult, HealthCheck, Status};
use fusebox_core::sync::lock;
use fusebox_core::{ConfigError, Event, EventBus, EventKind, EventListener, Subscription};
use std::collections::HashSet;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The shortest interval or timeout a check takes.
pub const MIN_CHECK_INTERVAL: Duration = Duration::from_millis(10);

/// How often and how patiently one check is probed, and what its failure means.
///
/// Defaults: every 30 s, a 5 s timeout, no initial delay, up to 10 % of the interval of jitter,
/// critical, and every 10 s while failing.
#[derive(Clone, Copy, Debug, PartialEq)]
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
        }
    }
}

impl CheckSettings {
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
        Ok(())
    }
}

/// Settings of a [`HealthRegistry`]; from [`HealthRegistry::builder`].
#[derive(Default)]
pub struct HealthRegistryBuilder {
    checks: Vec<(Arc<dyn HealthCheck>, CheckSettings)>,
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

    /// Delivers the registry's events to `listener`: a `HealthChanged` each time a check's
    /// status changes (its first probe included).
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
        let checks = self
            .checks
            .into_iter()
            .map(|(check, settings)| Scheduled {
                check,
                settings,
                latest: Mutex::new(None),
            })
            .collect();
        Ok(HealthRegistry {
            inner: Arc::new(Inner {
                checks,
                events: self.events,
            }),
        })
    }
}

struct Scheduled {
    check: Arc<dyn HealthCheck>,
    settings: CheckSettings,
    latest: Mutex<Option<CheckResult>>,
}

struct Inner {
    checks: Vec<Scheduled>,
    events: EventBus,
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
        let scheduled = self.inner.checks.iter().find(|c| c.check.name() == name)?;
        lock(&scheduled.latest).clone()
    }

    /// Every check's name, whether it is critical, and its last result.
    pub fn statuses(&self) -> Vec<(String, bool, Option<CheckResult>)> {
        self.inner
            .checks
            .iter()
            .map(|c| {
                (
                    c.check.name().to_owned(),
                    c.settings.critical,
                    lock(&c.latest).clone(),
                )
            })
            .collect()
    }

    /// Listens to the registry's events until the returned subscription is dropped (see
    /// [`HealthRegistryBuilder::on_event`]).
    pub fn subscribe(&self, listener: impl EventListener) -> Subscription {
        self.inner.events.subscribe(listener)
    }

    /// Whether every critical check's last probe did not fail (and has run at least once).
    pub fn is_ready(&self) -> bool {
        self.inner.checks.iter().all(|c| {
            !c.settings.critical
                || lock(&c.latest)
                    .as_ref()
                    .is_some_and(|r| r.status() != Status::Fail)
        })
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
        let result = tokio::select! {
            result = run_check(&*scheduled.check, settings.timeout) => result,
            _ = stopped.wait_for(|stop| *stop) => return,
        };
        let base = if result.status() == Status::Fail {
            settings.failing_interval
        } else {
            settings.interval
        };
        let to = result.status();
        let from = lock(&scheduled.latest).replace(result).map(|r| r.status());
        if from != Some(to) {
            inner.events.emit(|| {
                Event::new(
                    scheduled.check.name(),
                    EventKind::HealthChanged { from, to },
                )
            });
        }
        wait = base.saturating_add(base.mul_f64(settings.jitter * fastrand::f64()));
    }
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
