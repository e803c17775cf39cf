//! An SLO computed in process: availability, latency percentiles, time in each breaker state,
//! recovery times, error budget and the multi-window burn-rate alerts, over time buckets of
//! bounded size — the same objectives and windows as the Prometheus rules of
//! [`BurnRatePolicy::prometheus_rules`].

use crate::names;
use crate::slo::{BurnRatePolicy, BurnRateWindow, Slo};
use fusebox_core::{CircuitState, ConfigError, Event, EventKind, EventListener, Outcome};
use metrics_util::storage::Summary;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::time::Instant;

/// The most time buckets a tracker keeps (its longest window divided by its bucket width).
pub const MAX_SLO_BUCKETS: usize = 100_000;
// The build error's message spells the number out.
const _: () = assert!(MAX_SLO_BUCKETS == 100_000);

/// How many slices the percentile window is cut into: percentiles cover between five and six
/// sixths of [`SloTrackerBuilder::latency_window`] once it has run that long.
const LATENCY_SLICES: usize = 6;

/// The five breaker states, in the order of [`SloReport::time_in_state_seconds`]' keys' codes.
const STATES: [CircuitState; 5] = [
    CircuitState::Closed,
    CircuitState::Open,
    CircuitState::HalfOpen,
    CircuitState::Disabled,
    CircuitState::ForcedOpen,
];

/// One service's SLO, computed in process from its calls (through
/// [`MetricsLayer::slo`](crate::MetricsLayer::slo) or [`record`](Self::record)) and its
/// breaker's transitions (subscribe the tracker to the breaker: it is an [`EventListener`]).
/// Cheap to clone; every clone feeds and reports the same figures.
///
/// Memory is fixed when it is built: one 32-byte bucket per [`bucket`](SloTrackerBuilder::bucket)
/// of its longest window (4,320 buckets, 135 KiB, for the default policy's three days in
/// one-minute buckets), and six latency sketches of at most 2,048 bins each.
///
/// ```
/// use fusebox_metrics::{Slo, SloTracker};
/// use fusebox_core::Outcome;
/// use std::time::Duration;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() -> Result<(), fusebox_core::ConfigError> {
/// let slo = Slo::builder("payments")
///     .availability(0.999)
///     .latency(Duration::from_secs(1), 0.99)
///     .recovery(Duration::from_secs(300))
///     .build()?;
/// let tracker = SloTracker::builder(slo).build()?;
/// for _ in 0..999 {
///     tracker.record(&Outcome::Success, Duration::from_millis(20));
/// }
/// tracker.record(&Outcome::retryable_failure(), Duration::from_millis(20));
/// let report = tracker.report();
/// let availability = report.availability.unwrap();
/// assert_eq!(availability.actual, Some(0.999));
/// assert!(report.alerts.is_empty());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct SloTracker {
    inner: Arc<Inner>,
}

/// Settings of an [`SloTracker`]; from [`SloTracker::builder`].
#[derive(Clone, Debug)]
pub struct SloTrackerBuilder {
    slo: Slo,
    policy: BurnRatePolicy,
    bucket: Duration,
    budget_window: Option<Duration>,
    latency_window: Duration,
}

struct Inner {
    slo: Slo,
    policy: BurnRatePolicy,
    bucket_nanos: u64,
    budget_window: Duration,
    slice_nanos: u64,
    start: Instant,
    state: Mutex<State>,
}

struct State {
    buckets: Vec<Bucket>,
    slices: Vec<Slice>,
    breaker: BreakerTime,
}

/// The calls of one time bucket. `number` is the bucket's number since the tracker started,
/// plus one (zero: never used).
#[derive(Clone, Copy, Default)]
struct Bucket {
    number: u64,
    calls: u64,
    failed: u64,
    slow: u64,
}

/// The durations of one slice of the percentile window, in seconds.
struct Slice {
    number: u64,
    durations: Summary,
}

/// The breaker's time in each state and its outages.
struct BreakerTime {
    state: CircuitState,
    since: Instant,
    in_state: [Duration; 5],
    /// When the current outage began: the breaker left `Closed` or `Disabled` for `Open` or
    /// `ForcedOpen`, and has not closed since.
    outage_since: Option<Instant>,
    recoveries: u64,
    recovered_in: Duration,
    longest_recovery: Duration,
}

impl fmt::Debug for SloTracker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SloTracker")
            .field("service", &self.inner.slo.service())
            .finish_non_exhaustive()
    }
}

fn new_summary() -> Summary {
    // 1 % relative error; bins are bounded, so a sketch's memory is too.
    Summary::new(0.01, 2_048, 1.0e-9)
}

fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

impl SloTracker {
    /// Starts a tracker of `slo`, alerting by the SRE workbook's burn-rate windows unless
    /// [`policy`](SloTrackerBuilder::policy) chooses others.
    pub fn builder(slo: Slo) -> SloTrackerBuilder {
        SloTrackerBuilder {
            slo,
            policy: BurnRatePolicy::default(),
            bucket: Duration::from_secs(60),
            budget_window: None,
            latency_window: Duration::from_secs(3_600),
        }
    }

    /// The objectives tracked.
    pub fn slo(&self) -> &Slo {
        &self.inner.slo
    }

    /// Counts one call: its outcome as the classifier decided it, and how long it took. An
    /// ignored call counts nowhere.
    pub fn record(&self, outcome: &Outcome, elapsed: Duration) {
        if !(outcome.is_success() || outcome.is_failure()) {
            return;
        }
        let inner = &*self.inner;
        let since_start = nanos(Instant::now().saturating_duration_since(inner.start));
        let slow = inner
            .slo
            .latency()
            .is_some_and(|(threshold, _)| elapsed > threshold);
        let mut state = inner.lock();
        let number = since_start / inner.bucket_nanos;
        let len = state.buckets.len() as u64;
        let bucket = &mut state.buckets[usize::try_from(number % len).unwrap_or(0)];
        if bucket.number != number + 1 {
            *bucket = Bucket {
                number: number + 1,
                ..Bucket::default()
            };
        }
        bucket.calls = bucket.calls.saturating_add(1);
        bucket.failed = bucket
            .failed
            .saturating_add(u64::from(outcome.is_failure()));
        bucket.slow = bucket.slow.saturating_add(u64::from(slow));
        let slice_number = since_start / inner.slice_nanos;
        let slice =
            &mut state.slices[usize::try_from(slice_number % LATENCY_SLICES as u64).unwrap_or(0)];
        if slice.number != slice_number + 1 {
            *slice = Slice {
                number: slice_number + 1,
                durations: new_summary(),
            };
        }
        slice.durations.add(elapsed.as_secs_f64());
    }

    /// The objectives as they stand now.
    pub fn report(&self) -> SloReport {
        let inner = &*self.inner;
        let now = Instant::now();
        let state = inner.lock();
        let now_bucket = nanos(now.saturating_duration_since(inner.start)) / inner.bucket_nanos;
        let sum = |window: Duration| state.sum(now_bucket, inner.buckets_in(window));
        let budget = sum(inner.budget_window);
        let window_seconds = inner.budget_window.as_secs_f64();

        let availability = inner
            .slo
            .availability()
            .map(|target| objective(target, window_seconds, budget.calls, budget.failed));
        let percentiles = state
            .percentiles(nanos(now.saturating_duration_since(inner.start)) / inner.slice_nanos);
        let latency = inner
            .slo
            .latency()
            .map(|(threshold, target)| LatencyReport {
                threshold_seconds: threshold.as_secs_f64(),
                share: objective(target, window_seconds, budget.calls, budget.slow),
                percentile_window_seconds: inner.slice_nanos as f64 * LATENCY_SLICES as f64 / 1e9,
                p50_seconds: percentiles.as_ref().and_then(|p| p.quantile(0.50)),
                p95_seconds: percentiles.as_ref().and_then(|p| p.quantile(0.95)),
                p99_seconds: percentiles.as_ref().and_then(|p| p.quantile(0.99)),
                target_quantile_seconds: percentiles.as_ref().and_then(|p| p.quantile(target)),
            });

        let mut burn_rates = Vec::new();
        let objectives = [
            ("availability", inner.slo.availability(), false),
            ("latency", inner.slo.latency().map(|(_, t)| t), true),
        ];
        for (objective, target, slow) in objectives {
            let Some(target) = target else { continue };
            for (severity, windows) in [
                ("page", &inner.policy.page),
                ("ticket", &inner.policy.ticket),
            ] {
                for window in windows {
                    burn_rates.push(burn_rate(objective, severity, window, target, slow, &sum));
                }
            }
        }

        let breaker = &state.breaker;
        let mut in_state = breaker.in_state;
        in_state[state_index(breaker.state)] += now.saturating_duration_since(breaker.since);
        let time_in_state_seconds = STATES
            .iter()
            .zip(in_state)
            .map(|(state, time)| (state.as_str(), time.as_secs_f64()))
            .collect();
        let open_for = breaker
            .outage_since
            .map(|since| now.saturating_duration_since(since));
        let recovery = RecoveryReport {
            objective_seconds: inner.slo.recovery().map(|d| d.as_secs_f64()),
            recoveries: breaker.recoveries,
            mean_seconds: (breaker.recoveries > 0)
                .then(|| breaker.recovered_in.as_secs_f64() / breaker.recoveries as f64),
            max_seconds: (breaker.recoveries > 0).then_some(breaker.longest_recovery.as_secs_f64()),
            open_for_seconds: open_for.map(|d| d.as_secs_f64()),
        };

        let mut alerts = Vec::new();
        if let (Some(open), Some(objective)) = (open_for, inner.slo.recovery()) {
            if open > objective {
                alerts.push(SloAlert::BreakerOpenTooLong {
                    open_seconds: open.as_secs_f64(),
                    objective_seconds: objective.as_secs_f64(),
                });
            }
        }
        if let Some(a) = &availability {
            if let Some(actual) = a.actual.filter(|&actual| actual < a.target) {
                alerts.push(SloAlert::AvailabilityUnderTarget {
                    actual,
                    target: a.target,
                });
            }
        }
        if let Some(l) = &latency {
            if let Some(observed) = l
                .target_quantile_seconds
                .filter(|&q| q > l.threshold_seconds)
            {
                alerts.push(SloAlert::LatencyOverTarget {
                    quantile: l.share.target,
                    observed_seconds: observed,
                    threshold_seconds: l.threshold_seconds,
                });
            }
        }
        for rate in burn_rates.iter().filter(|rate| rate.firing) {
            alerts.push(SloAlert::BurnRate {
                objective: rate.objective,
                severity: rate.severity,
                factor: rate.factor,
                long_rate: rate.long_rate.unwrap_or(0.0),
                short_rate: rate.short_rate.unwrap_or(0.0),
            });
        }
        SloReport {
            service: inner.slo.service().to_owned(),
            availability,
            latency,
            recovery,
            time_in_state_seconds,
            burn_rates,
            alerts,
        }
    }

    /// Sets the `fusebox_slo_*` gauges of this service from a fresh [`report`](Self::report),
    /// and returns the report (call it on a timer, or before each scrape).
    pub fn publish(&self) -> SloReport {
        let report = self.report();
        report.publish();
        report
    }
}

impl Inner {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock leaves whole counts behind: keep them.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// How many buckets `window` spans, rounded up.
    fn buckets_in(&self, window: Duration) -> u64 {
        nanos(window).div_ceil(self.bucket_nanos)
    }
}

/// The calls of a window.
#[derive(Clone, Copy, Default)]
struct Sum {
    calls: u64,
    failed: u64,
    slow: u64,
}

impl State {
    /// The calls of the `span` buckets up to and including bucket `now`.
    fn sum(&self, now: u64, span: u64) -> Sum {
        let mut sum = Sum::default();
        for bucket in &self.buckets {
            let Some(number) = bucket.number.checked_sub(1) else {
                continue;
            };
            if number <= now && now - number < span {
                sum.calls = sum.calls.saturating_add(bucket.calls);
                sum.failed = sum.failed.saturating_add(bucket.failed);
                sum.slow = sum.slow.saturating_add(bucket.slow);
            }
        }
        sum
    }

    /// The durations of the slices of the percentile window up to slice `now`, merged.
    fn percentiles(&self, now: u64) -> Option<Summary> {
        let mut merged = new_summary();
        for slice in &self.slices {
            let Some(number) = slice.number.checked_sub(1) else {
                continue;
            };
            if number <= now && now - number < LATENCY_SLICES as u64 {
                // Same configuration on both sides: merging cannot fail.
                merged.merge(&slice.durations).ok()?;
            }
        }
        (!merged.is_empty()).then_some(merged)
    }
}

/// An objective's figures when `bad` of `calls` missed it.
fn objective(target: f64, window_seconds: f64, calls: u64, bad: u64) -> ObjectiveReport {
    let actual = ratio(calls - bad, calls);
    ObjectiveReport {
        target,
        window_seconds,
        calls,
        good: calls - bad,
        actual,
        error_budget_remaining: actual.map(|a| budget_left(a, target)),
    }
}

fn ratio(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

/// The share of the error budget left when the good share is `actual`: 1 untouched, 0 spent,
/// below 0 overspent.
fn budget_left(actual: f64, target: f64) -> f64 {
    1.0 - (1.0 - actual) / (1.0 - target)
}

fn burn_rate(
    objective: &'static str,
    severity: &'static str,
    window: &BurnRateWindow,
    target: f64,
    slow: bool,
    sum: &impl Fn(Duration) -> Sum,
) -> BurnRateReport {
    let rate = |range: Duration| {
        let s = sum(range);
        let bad = if slow { s.slow } else { s.failed };
        ratio(bad, s.calls).map(|error| error / (1.0 - target))
    };
    let (long_rate, short_rate) = (rate(window.long), rate(window.short));
    let over = |rate: Option<f64>| rate.is_some_and(|rate| rate > window.factor);
    BurnRateReport {
        objective,
        severity,
        factor: window.factor,
        long_window_seconds: window.long.as_secs_f64(),
        short_window_seconds: window.short.as_secs_f64(),
        long_rate,
        short_rate,
        firing: over(long_rate) && over(short_rate),
    }
}

fn state_index(state: CircuitState) -> usize {
    STATES.iter().position(|&s| s == state).unwrap_or(0)
}

impl EventListener for SloTracker {
    /// Follows the breaker's transitions: time in each state, outages and recoveries.
    fn on_event(&self, event: &Event<'_>) {
        let EventKind::StateTransition { to, .. } = event.kind else {
            return;
        };
        let now = Instant::now();
        let mut state = self.inner.lock();
        let breaker = &mut state.breaker;
        let spent = now.saturating_duration_since(breaker.since);
        let slot = &mut breaker.in_state[state_index(breaker.state)];
        *slot = slot.saturating_add(spent);
        breaker.state = to;
        breaker.since = now;
        match to {
            CircuitState::Open | CircuitState::ForcedOpen => {
                breaker.outage_since.get_or_insert(now);
            }
            CircuitState::Closed | CircuitState::Disabled => {
                if let Some(since) = breaker.outage_since.take() {
                    let took = now.saturating_duration_since(since);
                    breaker.recoveries += 1;
                    breaker.recovered_in = breaker.recovered_in.saturating_add(took);
                    breaker.longest_recovery = breaker.longest_recovery.max(took);
                }
            }
            _ => {}
        }
    }
}

impl SloTrackerBuilder {
    /// The burn-rate windows to alert on (default: [`BurnRatePolicy::default`]).
    pub fn policy(mut self, policy: BurnRatePolicy) -> Self {
        self.policy = policy;
        self
    }

    /// The width of a time bucket (default one minute): the resolution of every window.
    pub fn bucket(mut self, width: Duration) -> Self {
        self.bucket = width;
        self
    }

    /// The window availability, the latency share and the error budget are computed over
    /// (default: the policy's longest window, three days for the default policy).
    pub fn budget_window(mut self, window: Duration) -> Self {
        self.budget_window = Some(window);
        self
    }

    /// The window of the latency percentiles (default one hour).
    pub fn latency_window(mut self, window: Duration) -> Self {
        self.latency_window = window;
        self
    }

    /// The tracker, or an error naming the first setting that is wrong.
    pub fn build(self) -> Result<SloTracker, ConfigError> {
        self.policy.validate()?;
        if self.bucket < Duration::from_millis(1) {
            return Err(ConfigError::new("bucket", "at least 1ms", self.bucket));
        }
        let longest_burn = self
            .policy
            .page
            .iter()
            .chain(&self.policy.ticket)
            .map(|w| w.long)
            .max()
            .unwrap_or(Duration::ZERO);
        let budget_window = self.budget_window.unwrap_or(longest_burn.max(self.bucket));
        if budget_window < self.bucket {
            return Err(ConfigError::new(
                "budget_window",
                "at least one bucket",
                budget_window,
            ));
        }
        let bucket_nanos = nanos(self.bucket);
        let longest = nanos(budget_window.max(longest_burn));
        let buckets = usize::try_from(longest.div_ceil(bucket_nanos))
            .ok()
            .filter(|&n| n <= MAX_SLO_BUCKETS)
            .ok_or_else(|| {
                ConfigError::new(
                    "bucket",
                    "wide enough for at most 100000 buckets (MAX_SLO_BUCKETS) in the longest window",
                    self.bucket,
                )
            })?;
        let slice_nanos = nanos(self.latency_window) / LATENCY_SLICES as u64;
        if slice_nanos == 0 {
            return Err(ConfigError::new(
                "latency_window",
                "at least 6ns",
                self.latency_window,
            ));
        }
        let start = Instant::now();
        Ok(SloTracker {
            inner: Arc::new(Inner {
                slo: self.slo,
                policy: self.policy,
                bucket_nanos,
                budget_window,
                slice_nanos,
                start,
                state: Mutex::new(State {
                    buckets: vec![Bucket::default(); buckets],
                    slices: (0..LATENCY_SLICES)
                        .map(|_| Slice {
                            number: 0,
                            durations: new_summary(),
                        })
                        .collect(),
                    breaker: BreakerTime {
                        state: CircuitState::Closed,
                        since: start,
                        in_state: [Duration::ZERO; 5],
                        outage_since: None,
                        recoveries: 0,
                        recovered_in: Duration::ZERO,
                        longest_recovery: Duration::ZERO,
                    },
                }),
            }),
        })
    }
}

/// One service's objectives as they stand, from [`SloTracker::report`]. Serialises to JSON
/// (`serde`) for an admin API or a dashboard; shares are in [0, 1], times in seconds.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct SloReport {
    /// The service.
    pub service: String,
    /// The availability objective, if set.
    pub availability: Option<ObjectiveReport>,
    /// The latency objective and percentiles, if set.
    pub latency: Option<LatencyReport>,
    /// The breaker's recoveries against the recovery-time objective.
    pub recovery: RecoveryReport,
    /// Seconds the breaker has spent in each state since the tracker started (`closed`,
    /// `open`, `half_open`, `disabled`, `forced_open`).
    pub time_in_state_seconds: BTreeMap<&'static str, f64>,
    /// Every burn-rate window of the policy, for each objective.
    pub burn_rates: Vec<BurnRateReport>,
    /// What is wrong now; empty when nothing is.
    pub alerts: Vec<SloAlert>,
}

/// An objective's good share over the budget window: for availability, the calls that
/// succeeded; for latency, those that finished under the threshold.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct ObjectiveReport {
    /// The share of calls that must be good.
    pub target: f64,
    /// The window it is computed over.
    pub window_seconds: f64,
    /// Calls counted (successes and failures).
    pub calls: u64,
    /// Good calls.
    pub good: u64,
    /// `good / calls`; `None` before any call.
    pub actual: Option<f64>,
    /// The share of the error budget left: 1 untouched, 0 spent, below 0 overspent.
    pub error_budget_remaining: Option<f64>,
}

/// A latency objective over the budget window, and the percentiles of the latency window.
/// Serialised flat: the share's fields sit beside the threshold and the percentiles.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct LatencyReport {
    /// The threshold calls must finish under.
    pub threshold_seconds: f64,
    /// The share of calls that finished under it.
    #[serde(flatten)]
    pub share: ObjectiveReport,
    /// The window of the percentiles (the latency window).
    pub percentile_window_seconds: f64,
    /// Median duration (1 % relative error).
    pub p50_seconds: Option<f64>,
    /// 95th percentile.
    pub p95_seconds: Option<f64>,
    /// 99th percentile.
    pub p99_seconds: Option<f64>,
    /// The percentile the objective names (the 99th for a target of 0.99).
    pub target_quantile_seconds: Option<f64>,
}

/// The breaker's outages and recoveries.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct RecoveryReport {
    /// How soon an outage must end (open to closed), if set.
    pub objective_seconds: Option<f64>,
    /// Outages that ended (the breaker closed again).
    pub recoveries: u64,
    /// Their mean length.
    pub mean_seconds: Option<f64>,
    /// The longest.
    pub max_seconds: Option<f64>,
    /// How long the current outage has lasted, if the breaker is open now (or half-open
    /// since it opened).
    pub open_for_seconds: Option<f64>,
}

/// One burn-rate window of one objective.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct BurnRateReport {
    /// `availability` or `latency`.
    pub objective: &'static str,
    /// `page` or `ticket`.
    pub severity: &'static str,
    /// The rate at which it fires.
    pub factor: f64,
    /// The long window.
    pub long_window_seconds: f64,
    /// The short window.
    pub short_window_seconds: f64,
    /// How many times faster than allowed the budget burns over the long window; `None`
    /// without calls.
    pub long_rate: Option<f64>,
    /// The same over the short window.
    pub short_rate: Option<f64>,
    /// Both above `factor`.
    pub firing: bool,
}

/// Something wrong with a service's objectives, in [`SloReport::alerts`]. Serialised with a
/// `kind` field (`"breaker_open_too_long"`, …).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum SloAlert {
    /// The breaker has been open longer than the recovery-time objective.
    BreakerOpenTooLong {
        /// How long it has been open.
        open_seconds: f64,
        /// The objective.
        objective_seconds: f64,
    },
    /// The objective's percentile is over the latency threshold.
    LatencyOverTarget {
        /// The percentile, as a share (0.99).
        quantile: f64,
        /// Its value over the latency window.
        observed_seconds: f64,
        /// The threshold.
        threshold_seconds: f64,
    },
    /// Availability over the budget window is under the target.
    AvailabilityUnderTarget {
        /// The share that succeeded.
        actual: f64,
        /// The target.
        target: f64,
    },
    /// A burn-rate window fires: the budget burns `factor` times too fast over both windows.
    BurnRate {
        /// `availability` or `latency`.
        objective: &'static str,
        /// `page` or `ticket`.
        severity: &'static str,
        /// The window's factor.
        factor: f64,
        /// The rate over the long window.
        long_rate: f64,
        /// The rate over the short window.
        short_rate: f64,
    },
    /// Several services are in an outage at once (breaker open, or a paging burn): likely
    /// one cause upstream of them, from [`cascading_failure`].
    CascadingFailure {
        /// The services in an outage.
        services: Vec<String>,
    },
}

impl SloReport {
    /// Whether the service is in an outage: its breaker open, or a paging burn rate firing.
    pub fn in_outage(&self) -> bool {
        self.recovery.open_for_seconds.is_some()
            || self.alerts.iter().any(|a| {
                matches!(
                    a,
                    SloAlert::BurnRate {
                        severity: "page",
                        ..
                    }
                )
            })
    }

    /// Sets the `fusebox_slo_*` gauges of this report's service.
    pub fn publish(&self) {
        let service = || (names::SERVICE_LABEL, self.service.clone());
        let set = |name: &'static str, labels: Vec<(&'static str, String)>, value: Option<f64>| {
            // A figure not known yet (no calls) is NaN, which Prometheus shows as such.
            metrics::gauge!(name, &labels).set(value.unwrap_or(f64::NAN));
        };
        let objectives = [
            ("availability", self.availability.as_ref()),
            ("latency", self.latency.as_ref().map(|l| &l.share)),
        ];
        for (slo, figures) in objectives {
            let Some(figures) = figures else { continue };
            let (actual, left) = (figures.actual, figures.error_budget_remaining);
            let labels = || vec![service(), ("slo", slo.to_owned())];
            set(names::SLO_RATIO, labels(), actual);
            set(names::SLO_ERROR_BUDGET_REMAINING, labels(), left);
        }
        if let Some(latency) = &self.latency {
            for (quantile, value) in [
                ("0.5", latency.p50_seconds),
                ("0.95", latency.p95_seconds),
                ("0.99", latency.p99_seconds),
            ] {
                set(
                    names::SLO_LATENCY,
                    vec![service(), ("quantile", quantile.to_owned())],
                    value,
                );
            }
        }
        for rate in &self.burn_rates {
            for (window, value) in [
                (rate.long_window_seconds, rate.long_rate),
                (rate.short_window_seconds, rate.short_rate),
            ] {
                set(
                    names::SLO_BURN_RATE,
                    vec![
                        service(),
                        ("slo", rate.objective.to_owned()),
                        ("window", format!("{window}s")),
                    ],
                    value,
                );
            }
        }
        for (stat, value) in [
            ("mean", self.recovery.mean_seconds),
            ("max", self.recovery.max_seconds),
        ] {
            set(
                names::SLO_RECOVERY,
                vec![service(), ("stat", stat.to_owned())],
                value,
            );
        }
        set(
            names::SLO_ALERTS,
            vec![service()],
            Some(self.alerts.len() as f64),
        );
    }
}

/// A [`SloAlert::CascadingFailure`] when at least `at_least` of `reports` are in an outage
/// ([`SloReport::in_outage`]) at once; `None` otherwise. `at_least` below 2 counts as 2: one
/// service down is its own outage, not a cascade.
pub fn cascading_failure(reports: &[SloReport], at_least: usize) -> Option<SloAlert> {
    let services: Vec<String> = reports
        .iter()
        .filter(|r| r.in_outage())
        .map(|r| r.service.clone())
        .collect();
    (services.len() >= at_least.max(2)).then_some(SloAlert::CascadingFailure { services })
}
