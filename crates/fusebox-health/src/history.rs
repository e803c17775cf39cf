//! [`History`]: a check's last probes in a ring of fixed size, and the statistics over them.

use crate::check::{CheckResult, Status};
use crate::recurrence::Recurrence;
use fusebox_core::ConfigError;
use std::collections::VecDeque;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The most samples a history keeps.
pub const MAX_HISTORY: usize = 1_000_000;

/// Samples a history keeps by default: a day of probes every 30 s.
pub const DEFAULT_HISTORY: usize = 2_880;

/// One probe as a history keeps it, in 16 bytes: when it ended (to the millisecond, by the wall
/// clock), its status and its latency (to the microsecond, up to about 71 minutes; longer
/// latencies are kept as that).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sample {
    at_ms: u64,
    latency_us: u32,
    status: Status,
}

impl Sample {
    /// A probe that ended at `at` with `status` after `latency`. A time before 1970 is kept as
    /// 1970.
    pub fn new(at: SystemTime, status: Status, latency: Duration) -> Self {
        let at_ms = at.duration_since(UNIX_EPOCH).map_or(0, |since| {
            u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
        });
        Sample {
            at_ms,
            latency_us: u32::try_from(latency.as_micros()).unwrap_or(u32::MAX),
            status,
        }
    }

    /// When the probe ended.
    pub fn at(&self) -> SystemTime {
        UNIX_EPOCH
            .checked_add(Duration::from_millis(self.at_ms))
            .unwrap_or(UNIX_EPOCH)
    }

    /// Milliseconds since the Unix epoch at which the probe ended.
    pub fn at_millis(&self) -> u64 {
        self.at_ms
    }

    /// The probe's status.
    pub fn status(&self) -> Status {
        self.status
    }

    /// How long the probe took.
    pub fn latency(&self) -> Duration {
        Duration::from_micros(u64::from(self.latency_us))
    }

    pub(crate) fn failed(&self) -> bool {
        self.status == Status::Fail
    }
}

impl From<&CheckResult> for Sample {
    fn from(result: &CheckResult) -> Self {
        Sample::new(result.time(), result.status(), result.latency())
    }
}

/// A check's last probes, oldest first, at most [`capacity`](Self::capacity) of them: a new
/// sample past that replaces the oldest. Its memory is fixed when it is made: 16 bytes a
/// sample (a day of probes every 30 s, 2,880 samples, is 45 KiB), and 776 bytes that remember
/// which quarter-hours of the last 64 days had a failure (for
/// [`PredictionKind::RecurringFailure`](crate::PredictionKind::RecurringFailure)).
///
/// ```
/// use fusebox_health::{History, Sample, Status};
/// use std::time::{Duration, SystemTime};
///
/// let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
/// let mut history = History::new(100)?;
/// for (minute, status) in [Status::Pass, Status::Fail, Status::Pass, Status::Pass].into_iter().enumerate() {
///     let at = start + Duration::from_secs(60 * minute as u64);
///     history.push(Sample::new(at, status, Duration::from_millis(20)));
/// }
/// let stats = history.stats(Duration::from_secs(240), start + Duration::from_secs(240));
/// assert_eq!(stats.uptime, Some(0.75)); // down from minute 1 to minute 2
/// assert_eq!((stats.failures, stats.recoveries), (1, 1));
/// assert_eq!(stats.mean_time_to_recover, Some(Duration::from_secs(60)));
/// # Ok::<(), fusebox_core::ConfigError>(())
/// ```
#[derive(Clone, Debug)]
pub struct History {
    samples: VecDeque<Sample>,
    capacity: usize,
    recurrence: Box<Recurrence>,
}

impl History {
    /// A history of at most `capacity` samples, or an error unless it is in
    /// 1..=[`MAX_HISTORY`].
    pub fn new(capacity: usize) -> Result<Self, ConfigError> {
        if !(1..=MAX_HISTORY).contains(&capacity) {
            return Err(ConfigError::new(
                "history",
                "between 1 and 1000000 samples",
                capacity,
            ));
        }
        Ok(History {
            samples: VecDeque::with_capacity(capacity),
            capacity,
            recurrence: Box::default(),
        })
    }

    /// Adds a sample, dropping the oldest when full.
    pub fn push(&mut self, sample: Sample) {
        if self.samples.len() == self.capacity {
            self.samples.pop_front();
        }
        self.samples.push_back(sample);
        self.recurrence.record(sample.at_ms, sample.failed());
    }

    pub(crate) fn recurrence(&self) -> &Recurrence {
        &self.recurrence
    }

    /// How many samples it keeps at most.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// How many samples it holds.
    pub fn len(&self) -> usize {
        self.samples.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    /// The samples, oldest first.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &Sample> + ExactSizeIterator {
        self.samples.iter()
    }

    /// The samples that ended at or after `since`, oldest first.
    pub fn since(&self, since: SystemTime) -> impl DoubleEndedIterator<Item = &Sample> {
        let from = Sample::new(since, Status::Pass, Duration::ZERO).at_ms;
        let start = self.samples.partition_point(|s| s.at_ms < from);
        self.samples.range(start..)
    }

    /// The statistics of the samples of the `window` up to `now` (see [`Stats`]).
    pub fn stats(&self, window: Duration, now: SystemTime) -> Stats {
        let start = now.checked_sub(window).unwrap_or(UNIX_EPOCH);
        let before = self.samples.iter().rev().find(|s| s.at() < start).copied();
        let samples: Vec<Sample> = self
            .since(start)
            .take_while(|s| s.at() <= now)
            .copied()
            .collect();
        Stats::of(&samples, before, start, now)
    }
}

/// Which way a measure is going over a window, by a least-squares line through its samples
/// (see [`Stats::latency_trend`] and [`Stats::failure_trend`] for the thresholds).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trend {
    /// Getting better by more than the threshold.
    Improving,
    /// Within the threshold.
    Stable,
    /// Getting worse by more than the threshold.
    Degrading,
    /// Fewer than [`TREND_MIN_SAMPLES`] samples: too few to say.
    Unknown,
}

impl Trend {
    /// `"improving"`, `"stable"`, `"degrading"` or `"unknown"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Trend::Improving => "improving",
            Trend::Stable => "stable",
            Trend::Degrading => "degrading",
            Trend::Unknown => "unknown",
        }
    }
}

/// Samples a trend needs.
pub const TREND_MIN_SAMPLES: usize = 10;

/// Relative change of latency across a window past which its trend is not stable (20 %).
pub const LATENCY_TREND_THRESHOLD: f64 = 0.2;

/// The least change of latency across a window that is a trend (1 ms): below it, sub-millisecond
/// noise (a breaker's state read, a probe on loopback) would read as a large relative change.
pub const LATENCY_TREND_MIN_CHANGE: Duration = Duration::from_millis(1);

/// Change of the failure rate across a window past which its trend is not stable (10 points).
pub const FAILURE_TREND_THRESHOLD: f64 = 0.1;

/// Latencies of a window's probes that did not fail.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LatencyStats {
    /// The shortest.
    pub min: Duration,
    /// The mean.
    pub avg: Duration,
    /// The longest.
    pub max: Duration,
    /// The median (nearest rank).
    pub p50: Duration,
    /// The 95th percentile (nearest rank).
    pub p95: Duration,
    /// The 99th percentile (nearest rank).
    pub p99: Duration,
}

/// What a check's history says over a window (from [`History::stats`]).
///
/// - **Uptime** is by time: each sample's status holds until the next sample (the last one's
///   until the window's end), and the window starts with the status of the last sample before
///   it, if any (else at its first sample). A warning counts as up.
/// - **Latency** is over the probes that did not fail (a refused connection's few
///   microseconds, or a timeout, say nothing of the dependency's speed).
/// - A **failure** is a run of failed samples; it **recovers** at the first sample after it
///   that did not fail, and its time to recover runs from its first failed sample to then. A
///   failure under way when the window starts did not start in it; when its failed samples go
///   on into the window, its recovery counts, timed from the first of them. **MTBF** is the
///   time up divided by the failures that started in the window.
/// - **Trends** fit a least-squares line to the samples against time. Latency (of probes that
///   did not fail): the line's rise across the window divided by the mean latency; past
///   +[`LATENCY_TREND_THRESHOLD`] it is degrading, below its negative improving (a rise under
///   [`LATENCY_TREND_MIN_CHANGE`] is stable whatever its share). Failures
///   (each sample 1 if it failed, else 0): the line's rise across the window, the change of
///   the failure rate; past ±[`FAILURE_TREND_THRESHOLD`] likewise. Fewer than
///   [`TREND_MIN_SAMPLES`] points: unknown.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Stats {
    /// Samples in the window.
    pub samples: usize,
    /// The share of the window's time the check was up (passing or warning), in [0, 1];
    /// `None` with no sample to tell.
    pub uptime: Option<f64>,
    /// Latencies of the probes that did not fail; `None` without one.
    pub latency: Option<LatencyStats>,
    /// Failed samples at the end of the window, one after another.
    pub current_failure_streak: usize,
    /// The longest run of failed samples in the window.
    pub longest_failure_streak: usize,
    /// Failures (runs of failed samples) that started in the window.
    pub failures: usize,
    /// Failures that recovered in the window.
    pub recoveries: usize,
    /// The mean time from a failure's first failed sample to its recovery.
    pub mean_time_to_recover: Option<Duration>,
    /// The longest of those.
    pub max_time_to_recover: Option<Duration>,
    /// Mean time between failures: time up over failures started; `None` without a failure.
    pub mtbf: Option<Duration>,
    /// Which way latency is going.
    pub latency_trend: Trend,
    /// Which way the failure rate is going.
    pub failure_trend: Trend,
}

impl Stats {
    fn of(samples: &[Sample], before: Option<Sample>, start: SystemTime, end: SystemTime) -> Self {
        let (uptime, up) = uptime(samples, before, start, end);
        let mut latencies: Vec<Duration> = samples
            .iter()
            .filter(|s| !s.failed())
            .map(Sample::latency)
            .collect();
        latencies.sort_unstable();

        let mut streak = 0;
        let mut longest = 0;
        let mut failures = 0;
        let mut recover_times = Vec::new();
        // A failure under way when the window starts did not start in it; its recovery in the
        // window counts, timed from the window's first sample.
        let mut failing_since = None;
        for (i, s) in samples.iter().enumerate() {
            if s.failed() {
                streak += 1;
                longest = longest.max(streak);
                if streak == 1 && !(i == 0 && before.is_some_and(|b| b.failed())) {
                    failures += 1;
                }
                failing_since.get_or_insert(s.at_ms);
            } else {
                streak = 0;
                if let Some(since) = failing_since.take() {
                    recover_times.push(Duration::from_millis(s.at_ms.saturating_sub(since)));
                }
            }
        }
        let recoveries = recover_times.len();
        let mean_time_to_recover = mean(&recover_times);
        let max_time_to_recover = recover_times.iter().max().copied();

        // Time in milliseconds: a trend is the line's rise across the window, whatever the
        // unit of time.
        let latency_points: Vec<(f64, f64)> = samples
            .iter()
            .filter(|s| !s.failed())
            .map(|s| (s.at_ms as f64, s.latency().as_secs_f64()))
            .collect();
        let failure_points: Vec<(f64, f64)> = samples
            .iter()
            .map(|s| (s.at_ms as f64, f64::from(u8::from(s.failed()))))
            .collect();

        Stats {
            samples: samples.len(),
            uptime,
            latency: latency_stats(&latencies),
            current_failure_streak: streak,
            longest_failure_streak: longest,
            failures,
            recoveries,
            mean_time_to_recover,
            max_time_to_recover,
            mtbf: (failures > 0).then(|| up / u32::try_from(failures).unwrap_or(u32::MAX)),
            latency_trend: trend(
                &latency_points,
                true,
                LATENCY_TREND_THRESHOLD,
                LATENCY_TREND_MIN_CHANGE.as_secs_f64(),
            ),
            failure_trend: trend(&failure_points, false, FAILURE_TREND_THRESHOLD, 0.0),
        }
    }
}

/// The share of `start..end` up, and the time up.
fn uptime(
    samples: &[Sample],
    before: Option<Sample>,
    start: SystemTime,
    end: SystemTime,
) -> (Option<f64>, Duration) {
    let start_ms = Sample::new(start, Status::Pass, Duration::ZERO).at_ms;
    let end_ms = Sample::new(end, Status::Pass, Duration::ZERO).at_ms;
    // Each status holds from its sample to the next; the one before the window from its start.
    let mut spans = Vec::with_capacity(samples.len() + 1);
    if let Some(b) = before {
        spans.push((start_ms, b.failed()));
    }
    spans.extend(samples.iter().map(|s| (s.at_ms.max(start_ms), s.failed())));
    let mut up = 0u64;
    let mut total = 0u64;
    for (i, &(from, failed)) in spans.iter().enumerate() {
        let to = spans.get(i + 1).map_or(end_ms, |next| next.0).max(from);
        let span = to - from;
        total += span;
        if !failed {
            up += span;
        }
    }
    let share = match (spans.last(), total) {
        (None, _) => None,
        // Only instants: the last sample tells.
        (Some(&(_, failed)), 0) => Some(if failed { 0.0 } else { 1.0 }),
        (Some(_), total) => Some(up as f64 / total as f64),
    };
    (share, Duration::from_millis(up))
}

fn latency_stats(sorted: &[Duration]) -> Option<LatencyStats> {
    let (&min, &max) = (sorted.first()?, sorted.last()?);
    let total: Duration = sorted.iter().sum();
    Some(LatencyStats {
        min,
        avg: total / u32::try_from(sorted.len()).unwrap_or(u32::MAX),
        max,
        p50: nearest_rank(sorted, 0.50),
        p95: nearest_rank(sorted, 0.95),
        p99: nearest_rank(sorted, 0.99),
    })
}

/// The nearest-rank percentile `q` of sorted, non-empty `values`: the smallest value with at
/// least `q` of the values at or below it.
pub(crate) fn nearest_rank(sorted: &[Duration], q: f64) -> Duration {
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn mean(values: &[Duration]) -> Option<Duration> {
    let n = u32::try_from(values.len()).ok().filter(|n| *n > 0)?;
    Some(values.iter().sum::<Duration>() / n)
}

/// The trend of `points` (time in any unit, value): the least-squares line's rise from the
/// first point's time to the last's, relative to the mean value when `relative`, against
/// `threshold`; a rise smaller than `min_change` (in the values' unit) is stable. For
/// failures, higher is worse; for latency too.
pub(crate) fn trend(
    points: &[(f64, f64)],
    relative: bool,
    threshold: f64,
    min_change: f64,
) -> Trend {
    if points.len() < TREND_MIN_SAMPLES {
        return Trend::Unknown;
    }
    let n = points.len() as f64;
    let t0 = points[0].0;
    let mean_t = points.iter().map(|p| p.0 - t0).sum::<f64>() / n;
    let mean_y = points.iter().map(|p| p.1).sum::<f64>() / n;
    // With the times centred (their deviations sum to zero), Σ dt·(y − ȳ) is Σ dt·y.
    let (mut sxy, mut sxx) = (0.0, 0.0);
    for &(t, y) in points {
        let dt = t - t0 - mean_t;
        sxy += dt * y;
        sxx += dt * dt;
    }
    if sxx == 0.0 {
        return Trend::Stable;
    }
    let span = points[points.len() - 1].0 - t0;
    let mut rise = sxy / sxx * span;
    if rise.abs() < min_change {
        return Trend::Stable;
    }
    if relative {
        if mean_y <= 0.0 {
            return Trend::Stable;
        }
        rise /= mean_y;
    }
    if rise > threshold {
        Trend::Degrading
    } else if rise < -threshold {
        Trend::Improving
    } else {
        Trend::Stable
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sample_is_sixteen_bytes_and_keeps_its_fields() {
        assert_eq!(std::mem::size_of::<Sample>(), 16);
        let at = UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        let s = Sample::new(at, Status::Warn, Duration::from_micros(1_234));
        assert_eq!(
            (s.at(), s.status(), s.latency()),
            (at, Status::Warn, Duration::from_micros(1_234))
        );
        let long = Sample::new(at, Status::Pass, Duration::from_secs(10_000));
        assert_eq!(long.latency(), Duration::from_micros(u64::from(u32::MAX)));
        let early = Sample::new(
            UNIX_EPOCH - Duration::from_secs(1),
            Status::Pass,
            Duration::ZERO,
        );
        assert_eq!(early.at(), UNIX_EPOCH);
    }

    #[test]
    fn nearest_rank_takes_the_smallest_value_covering_the_share() {
        let values: Vec<Duration> = (1..=10).map(Duration::from_millis).collect();
        assert_eq!(nearest_rank(&values, 0.5), Duration::from_millis(5));
        assert_eq!(nearest_rank(&values, 0.95), Duration::from_millis(10));
        assert_eq!(nearest_rank(&values, 0.0), Duration::from_millis(1));
        assert_eq!(nearest_rank(&values[..1], 0.99), Duration::from_millis(1));
    }
}
