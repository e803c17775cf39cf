//! [`PassiveCheck`]: a dependency's health from the outcomes of live calls, without probes.

use crate::check::{CheckFuture, HealthCheck, Probe};
use fusebox_core::{CircuitState, ConfigError, Event, EventKind, EventListener};
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// Slices of a passive check's window.
const SLICES: usize = 6;

/// The longest window a passive check takes.
pub const MAX_PASSIVE_WINDOW: Duration = Duration::from_secs(86_400);

/// A dependency's health judged from the calls the service makes to it anyway, sending no
/// probe: what the seeds call a failure detector. It listens to a circuit breaker's events
/// (subscribe it with the breaker's `on_event` or `subscribe`), so each call is classified
/// once, by the breaker's classifier, and counted once; then, as a [`HealthCheck`] the
/// registry reads on its schedule, it reports on the calls of its sliding window (60 s by
/// default, in six slices):
///
/// | status | when |
/// |---|---|
/// | `fail` | the breaker is open (its last transition was to open or forced open), or at least [`min_calls`](PassiveCheckBuilder::min_calls) calls ended and the share that failed is at least [`fail_rate`](PassiveCheckBuilder::fail_rate) (50 %) |
/// | `warn` | with as many calls, the share that failed is at least [`warn_rate`](PassiveCheckBuilder::warn_rate) (10 %) or the share slower than the breaker's slow-call threshold at least [`slow_rate`](PassiveCheckBuilder::slow_rate) (50 %); or calls were rejected (half-open) |
/// | `pass` | otherwise, and with too few calls to judge |
///
/// The observed value is the failure rate in `%`; the detail names the counts. Counting is
/// lock-free (a few atomic additions per call); a slice being recycled while another thread
/// counts in it may lose that call, never more.
///
/// ```
/// use fusebox_core::{Event, EventBus, EventKind};
/// use fusebox_health::{HealthCheck, PassiveCheck, Status};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() -> Result<(), fusebox_core::ConfigError> {
/// let calendar = PassiveCheck::builder("calendar:calls").min_calls(4).build()?;
/// let events = EventBus::new(); // a breaker's, in a service
/// events.subscribe(calendar.clone()).detach();
/// for failed in [false, false, true, true] {
///     let kind = if failed {
///         EventKind::CallFailed { elapsed: None, slow: false }
///     } else {
///         EventKind::CallSucceeded { elapsed: None, slow: false }
///     };
///     events.emit(|| Event::new("calendar", kind));
/// }
/// let probe = calendar.check().await;
/// assert_eq!(probe.status(), Status::Fail);
/// assert_eq!(probe.detail(), Some("2 of the last 4 calls failed (50.0 %)"));
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct PassiveCheck {
    inner: Arc<Inner>,
}

struct Inner {
    name: String,
    source: Option<String>,
    settings: Settings,
    start: Instant,
    slice_nanos: u64,
    slices: [Slice; SLICES],
    open: AtomicBool,
}

#[derive(Clone, Copy, Debug)]
struct Settings {
    window: Duration,
    min_calls: u64,
    warn_rate: f64,
    fail_rate: f64,
    slow_rate: f64,
}

#[derive(Default)]
struct Slice {
    /// The slice's number since `start` plus one (0: never used).
    epoch: AtomicU64,
    calls: AtomicU64,
    failures: AtomicU64,
    slow: AtomicU64,
    rejected: AtomicU64,
}

impl fmt::Debug for PassiveCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PassiveCheck")
            .field("name", &self.inner.name)
            .field("source", &self.inner.source)
            .field("settings", &self.inner.settings)
            .finish_non_exhaustive()
    }
}

/// Settings of a [`PassiveCheck`]; from [`PassiveCheck::builder`].
#[derive(Clone, Debug)]
pub struct PassiveCheckBuilder {
    name: String,
    source: Option<String>,
    settings: Settings,
}

impl PassiveCheck {
    /// Starts a passive check named `name`.
    pub fn builder(name: impl Into<String>) -> PassiveCheckBuilder {
        PassiveCheckBuilder {
            name: name.into(),
            source: None,
            settings: Settings {
                window: Duration::from_secs(60),
                min_calls: 10,
                warn_rate: 0.1,
                fail_rate: 0.5,
                slow_rate: 0.5,
            },
        }
    }

    /// The calls counted in the window: ended, failed, slow, rejected.
    fn counts(&self) -> [u64; 4] {
        let inner = &self.inner;
        let now = inner.epoch();
        let mut sums = [0; 4];
        for slice in &inner.slices {
            let epoch = slice.epoch.load(Ordering::Acquire);
            if epoch != 0 && epoch + (SLICES as u64) > now && epoch <= now {
                for (sum, counter) in sums.iter_mut().zip([
                    &slice.calls,
                    &slice.failures,
                    &slice.slow,
                    &slice.rejected,
                ]) {
                    *sum += counter.load(Ordering::Relaxed);
                }
            }
        }
        sums
    }
}

impl PassiveCheckBuilder {
    /// Counts only the events of the component named `source` (a breaker's name); by
    /// default every event it is given.
    #[must_use]
    pub fn source(mut self, source: impl Into<String>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// The sliding window of calls it judges (60 s by default; 6 ms to a day).
    #[must_use]
    pub fn window(mut self, window: Duration) -> Self {
        self.settings.window = window;
        self
    }

    /// Calls the window needs before rates count (10 by default, at least 1).
    #[must_use]
    pub fn min_calls(mut self, calls: u64) -> Self {
        self.settings.min_calls = calls;
        self
    }

    /// The failure rate that warns (0.1 by default), in (0, 1].
    #[must_use]
    pub fn warn_rate(mut self, rate: f64) -> Self {
        self.settings.warn_rate = rate;
        self
    }

    /// The failure rate that fails (0.5 by default), in (0, 1], at least the warning rate.
    #[must_use]
    pub fn fail_rate(mut self, rate: f64) -> Self {
        self.settings.fail_rate = rate;
        self
    }

    /// The share of slow calls that warns (0.5 by default), in (0, 1].
    #[must_use]
    pub fn slow_rate(mut self, rate: f64) -> Self {
        self.settings.slow_rate = rate;
        self
    }

    /// The check, or an error naming the first setting that is wrong.
    pub fn build(self) -> Result<PassiveCheck, ConfigError> {
        let s = self.settings;
        let field = |what: &str| format!("{}.{what}", self.name);
        let slice = s.window / SLICES as u32;
        if slice < Duration::from_millis(1) || s.window > MAX_PASSIVE_WINDOW {
            return Err(ConfigError::new(
                field("window"),
                "from 6ms to 1 day",
                s.window,
            ));
        }
        if s.min_calls == 0 {
            return Err(ConfigError::new(
                field("min_calls"),
                "at least 1",
                s.min_calls,
            ));
        }
        for (what, rate) in [
            ("warn_rate", s.warn_rate),
            ("fail_rate", s.fail_rate),
            ("slow_rate", s.slow_rate),
        ] {
            if !(rate > 0.0 && rate <= 1.0) {
                return Err(ConfigError::new(field(what), "in (0, 1]", rate));
            }
        }
        if s.fail_rate < s.warn_rate {
            return Err(ConfigError::new(
                field("fail_rate"),
                "at least the warning rate",
                s.fail_rate,
            ));
        }
        Ok(PassiveCheck {
            inner: Arc::new(Inner {
                name: self.name,
                source: self.source,
                settings: s,
                start: Instant::now(),
                // At most a day over six: fits.
                slice_nanos: u64::try_from(slice.as_nanos()).unwrap_or(u64::MAX),
                slices: Default::default(),
                open: AtomicBool::new(false),
            }),
        })
    }
}

impl Inner {
    /// The current slice's number since the start, plus one.
    fn epoch(&self) -> u64 {
        let elapsed = u64::try_from(self.start.elapsed().as_nanos()).unwrap_or(u64::MAX);
        elapsed / self.slice_nanos + 1
    }

    /// The current slice, recycled first if it holds an older one's counts.
    fn slice(&self) -> &Slice {
        let epoch = self.epoch();
        let slice = &self.slices[usize::try_from(epoch % SLICES as u64).unwrap_or(0)];
        let seen = slice.epoch.load(Ordering::Acquire);
        if seen != epoch
            && slice
                .epoch
                .compare_exchange(seen, epoch, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        {
            for counter in [&slice.calls, &slice.failures, &slice.slow, &slice.rejected] {
                counter.store(0, Ordering::Relaxed);
            }
        }
        slice
    }
}

impl EventListener for PassiveCheck {
    fn on_event(&self, event: &Event<'_>) {
        let inner = &self.inner;
        if inner.source.as_deref().is_some_and(|s| s != event.source) {
            return;
        }
        let add = |counter: &AtomicU64| {
            counter.fetch_add(1, Ordering::Relaxed);
        };
        match event.kind {
            EventKind::CallSucceeded { slow, .. } | EventKind::CallFailed { slow, .. } => {
                let slice = inner.slice();
                add(&slice.calls);
                if matches!(event.kind, EventKind::CallFailed { .. }) {
                    add(&slice.failures);
                }
                if slow {
                    add(&slice.slow);
                }
            }
            EventKind::CallRejected { .. } => add(&inner.slice().rejected),
            EventKind::StateTransition { to, .. } => {
                let open = matches!(to, CircuitState::Open | CircuitState::ForcedOpen);
                inner.open.store(open, Ordering::Release);
            }
            _ => {}
        }
    }
}

impl HealthCheck for PassiveCheck {
    fn name(&self) -> &str {
        &self.inner.name
    }

    fn check(&self) -> CheckFuture<'_> {
        let [calls, failures, slow, rejected] = self.counts();
        let s = self.inner.settings;
        let rate = |n: u64| {
            if calls == 0 {
                0.0
            } else {
                n as f64 / calls as f64
            }
        };
        let (failure_rate, slow_rate) = (rate(failures), rate(slow));
        let judged = calls >= s.min_calls;
        let failed = format!(
            "{failures} of the last {calls} calls failed ({:.1} %)",
            100.0 * failure_rate
        );
        let probe = if self.inner.open.load(Ordering::Acquire) {
            Probe::fail(format!("the circuit is open: calls are rejected; {failed}"))
        } else if judged && failure_rate >= s.fail_rate {
            Probe::fail(failed)
        } else if judged && failure_rate >= s.warn_rate {
            Probe::warn(failed)
        } else if judged && slow_rate >= s.slow_rate {
            Probe::warn(format!("{slow} of the last {calls} calls were slow"))
        } else if rejected > 0 {
            Probe::warn(format!("{rejected} calls rejected by the circuit"))
        } else {
            Probe::pass()
        };
        let probe = probe.observed(100.0 * failure_rate, "%");
        Box::pin(std::future::ready(probe))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Status;
    use fusebox_core::TransitionReason;

    fn call(check: &PassiveCheck, failed: bool, slow: bool) {
        let kind = if failed {
            EventKind::CallFailed {
                elapsed: None,
                slow,
            }
        } else {
            EventKind::CallSucceeded {
                elapsed: None,
                slow,
            }
        };
        check.on_event(&Event::new("calendar", kind));
    }

    async fn status(check: &PassiveCheck) -> (Status, Option<String>) {
        let probe = check.check().await;
        (probe.status(), probe.detail().map(str::to_owned))
    }

    #[tokio::test(start_paused = true)]
    async fn rates_warn_and_fail_once_enough_calls_ended() {
        let check = PassiveCheck::builder("calendar:calls")
            .min_calls(10)
            .build()
            .unwrap();
        assert_eq!(check.name(), "calendar:calls");
        for _ in 0..9 {
            call(&check, true, false);
        }
        assert_eq!(status(&check).await.0, Status::Pass, "nine calls: too few");
        call(&check, false, false);
        assert_eq!(
            status(&check).await,
            (
                Status::Fail,
                Some("9 of the last 10 calls failed (90.0 %)".into())
            )
        );
        assert_eq!(check.check().await.observed_value(), Some(90.0));
        // The window slides past them: 60 s later, nothing counted.
        tokio::time::advance(Duration::from_secs(60)).await;
        assert_eq!(check.counts(), [0; 4]);
        for i in 0..10 {
            call(&check, i == 0, i < 5);
        }
        assert_eq!(status(&check).await.0, Status::Warn, "10 % failed");
        for _ in 0..10 {
            call(&check, false, false);
        }
        // 1 of 20 failed (5 %); 5 of 20 slow (25 %): passes.
        assert_eq!(status(&check).await.0, Status::Pass);
        for _ in 0..20 {
            call(&check, false, true);
        }
        assert_eq!(
            status(&check).await,
            (
                Status::Warn,
                Some("25 of the last 40 calls were slow".into())
            )
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_window_slides_by_slices() {
        let check = PassiveCheck::builder("calendar:calls")
            .min_calls(1)
            .build()
            .unwrap();
        call(&check, true, false); // in the slice 0–10 s
        tokio::time::advance(Duration::from_secs(50)).await;
        call(&check, false, false); // in 50–60 s
        assert_eq!(check.counts()[..2], [2, 1]);
        tokio::time::advance(Duration::from_secs(10)).await;
        assert_eq!(
            check.counts()[..2],
            [1, 0],
            "the first slice left the window"
        );
        call(&check, false, false); // in 60–70 s: recycles the first slice's slot
        assert_eq!(check.counts()[..2], [2, 0]);
        assert_eq!(
            check
                .inner
                .slices
                .iter()
                .map(|s| s.failures.load(Ordering::Relaxed))
                .sum::<u64>(),
            0
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_open_circuit_fails_and_rejections_warn() {
        let check = PassiveCheck::builder("calendar:calls")
            .source("calendar")
            .build()
            .unwrap();
        let transition = |to| EventKind::StateTransition {
            from: CircuitState::Closed,
            to,
            reason: TransitionReason::ConsecutiveFailures { count: 5 },
        };
        check.on_event(&Event::new("calendar", transition(CircuitState::Open)));
        assert_eq!(status(&check).await.0, Status::Fail);
        check.on_event(&Event::new("calendar", transition(CircuitState::HalfOpen)));
        check.on_event(&Event::new(
            "calendar",
            EventKind::CallRejected {
                state: CircuitState::HalfOpen,
            },
        ));
        assert_eq!(
            status(&check).await,
            (Status::Warn, Some("1 calls rejected by the circuit".into()))
        );
        // Another breaker's events are not its own.
        check.on_event(&Event::new("email", transition(CircuitState::Open)));
        assert_eq!(status(&check).await.0, Status::Warn);
    }

    #[test]
    fn bad_settings_are_named() {
        let field = |b: PassiveCheckBuilder| b.build().unwrap_err().field().to_owned();
        let b = || PassiveCheck::builder("c");
        assert_eq!(field(b().window(Duration::from_millis(5))), "c.window");
        assert_eq!(field(b().window(Duration::from_secs(86_401))), "c.window");
        assert_eq!(field(b().min_calls(0)), "c.min_calls");
        assert_eq!(field(b().warn_rate(0.0)), "c.warn_rate");
        assert_eq!(field(b().fail_rate(1.5)), "c.fail_rate");
        assert_eq!(field(b().slow_rate(f64::NAN)), "c.slow_rate");
        assert_eq!(field(b().warn_rate(0.6).fail_rate(0.5)), "c.fail_rate");
        assert!(b().window(Duration::from_millis(6)).build().is_ok());
        assert!(
            b().warn_rate(0.5).fail_rate(0.5).build().is_ok(),
            "equal rates"
        );
        assert!(b().window(Duration::from_secs(86_400)).build().is_ok());
    }
}
