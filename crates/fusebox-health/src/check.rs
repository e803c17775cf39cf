//! The check contract: what a probe says, and running one with a timeout.

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, SystemTime};
use tokio::time::Instant;

/// How a dependency is doing: `pass`, `warn` or `fail` (fusebox-core's `HealthStatus`, which
/// events carry).
pub use fusebox_core::HealthStatus as Status;

/// What one probe found: a status, optionally an observed value with its unit (a latency, a
/// queue's depth) and a line of detail for people (an error's message).
#[derive(Clone, Debug, PartialEq)]
pub struct Probe {
    status: Status,
    observed_value: Option<f64>,
    observed_unit: Option<Cow<'static, str>>,
    output: Option<String>,
}

impl Probe {
    /// A probe that passed.
    pub fn pass() -> Self {
        Probe::with_status(Status::Pass)
    }

    /// A probe that found the dependency degraded, saying why.
    pub fn warn(output: impl Into<String>) -> Self {
        Probe::with_status(Status::Warn).output(output)
    }

    /// A probe that failed, saying why.
    pub fn fail(output: impl Into<String>) -> Self {
        Probe::with_status(Status::Fail).output(output)
    }

    /// A probe with `status` and nothing else.
    pub fn with_status(status: Status) -> Self {
        Probe {
            status,
            observed_value: None,
            observed_unit: None,
            output: None,
        }
    }

    /// The same probe, with the value it observed and its unit (`"ms"`, `"items"`).
    #[must_use]
    pub fn observed(mut self, value: f64, unit: impl Into<Cow<'static, str>>) -> Self {
        self.observed_value = Some(value);
        self.observed_unit = Some(unit.into());
        self
    }

    /// The same probe, with a line of detail.
    #[must_use]
    pub fn output(mut self, output: impl Into<String>) -> Self {
        self.output = Some(output.into());
        self
    }

    /// The status.
    pub fn status(&self) -> Status {
        self.status
    }

    /// The value observed, if any.
    pub fn observed_value(&self) -> Option<f64> {
        self.observed_value
    }

    /// The observed value's unit, if any.
    pub fn observed_unit(&self) -> Option<&str> {
        self.observed_unit.as_deref()
    }

    /// The detail, if any.
    pub fn detail(&self) -> Option<&str> {
        self.output.as_deref()
    }
}

/// The future of one probe, boxed so that checks of different types live side by side.
pub type CheckFuture<'a> = Pin<Box<dyn Future<Output = Probe> + Send + 'a>>;

/// A probe of one dependency. Implement it for a check of your own, or use a built-in one
/// (`HttpCheck` with the feature `http`, [`TcpCheck`](crate::TcpCheck),
/// [`FnCheck`](crate::FnCheck), [`CircuitCheck`](crate::CircuitCheck)).
///
/// A check need not enforce a timeout: [`run_check`] does, and times it.
pub trait HealthCheck: Send + Sync + 'static {
    /// The check's name, as health JSON keys it: `component:measurement`
    /// (`"calendar:responseTime"`), or just the component.
    fn name(&self) -> &str;

    /// Probes the dependency once.
    fn check(&self) -> CheckFuture<'_>;
}

/// One run of a check: what it found, how long it took, and when it ended.
#[derive(Clone, Debug, PartialEq)]
pub struct CheckResult {
    probe: Probe,
    latency: Duration,
    pub(crate) time: SystemTime,
}

impl CheckResult {
    /// What the probe found.
    pub fn probe(&self) -> &Probe {
        &self.probe
    }

    /// The probe's status.
    pub fn status(&self) -> Status {
        self.probe.status
    }

    /// How long the probe took (the timeout, for one that did not finish).
    pub fn latency(&self) -> Duration {
        self.latency
    }

    /// When it ended, by the wall clock.
    pub fn time(&self) -> SystemTime {
        self.time
    }
}

/// Runs `check` once, failing it if it has not finished within `timeout`, and times it.
///
/// A probe still running at the timeout is dropped (a hung connection is closed) and fails
/// with `timed out after …`; the caller never waits longer than `timeout`.
pub async fn run_check(check: &dyn HealthCheck, timeout: Duration) -> CheckResult {
    let start = Instant::now();
    let probe = match tokio::time::timeout(timeout, check.check()).await {
        Ok(probe) => probe,
        Err(_) => Probe::fail(format!("timed out after {}", humanize(timeout))),
    };
    CheckResult {
        probe,
        latency: start.elapsed(),
        time: SystemTime::now(),
    }
}

/// A duration in milliseconds, the unit checks observe latencies in.
pub(crate) fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e3
}

/// A duration for people: `250ms`, `5s`, `1.5s`.
pub(crate) fn humanize(duration: Duration) -> String {
    if duration < Duration::from_secs(1) {
        format!("{}ms", duration.as_millis())
    } else {
        format!("{}s", duration.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_probe_carries_its_value_unit_and_detail() {
        let probe = Probe::warn("slow").observed(812.0, "ms");
        assert_eq!(probe.status(), Status::Warn);
        assert_eq!(probe.observed_value(), Some(812.0));
        assert_eq!(probe.observed_unit(), Some("ms"));
        assert_eq!(probe.detail(), Some("slow"));
        let failed = Probe::fail("refused");
        assert_eq!(
            (failed.status(), failed.detail()),
            (Status::Fail, Some("refused"))
        );
        assert_eq!(Probe::pass().detail(), None);
    }

    #[test]
    fn durations_read_as_people_write_them() {
        assert_eq!(humanize(Duration::from_millis(250)), "250ms");
        assert_eq!(humanize(Duration::from_secs(5)), "5s");
        assert_eq!(humanize(Duration::from_millis(1_500)), "1.5s");
        assert_eq!(humanize(Duration::from_secs(1)), "1s");
        assert_eq!(humanize(Duration::from_millis(999)), "999ms");
    }

    #[test]
    fn latencies_are_observed_in_milliseconds() {
        assert_eq!(millis(Duration::from_millis(1_500)), 1_500.0);
        assert_eq!(millis(Duration::from_micros(250)), 0.25);
    }
}
