//! Predictions: heuristics that flag a likely failure before it happens, from a check's
//! history.

use crate::history::{History, Sample, Trend};
use std::fmt::Write as _;
use std::time::{Duration, SystemTime};

/// The window predictions look at (the last hour).
pub const PREDICTION_WINDOW: Duration = Duration::from_secs(3_600);

/// The weight of each new latency in the band's moving average and variance.
pub const BAND_ALPHA: f64 = 0.1;

/// How many standard deviations above the moving average the band ends.
pub const BAND_K: f64 = 3.0;

/// Latencies the band needs before it judges one.
pub const BAND_MIN_SAMPLES: usize = 20;

/// How far above its mean the band ends at least, as a share of the mean (10 %): a perfectly
/// steady latency does not flag a microsecond's change.
pub const BAND_FLOOR: f64 = 0.1;

/// Probes in a row above the band that flag it.
pub const BAND_CONSECUTIVE: usize = 2;

/// Days of the same quarter-hour that must have failed to call a failure recurring.
pub const RECURRING_MIN_DAYS: u32 = 3;

/// Days back a recurring failure is looked for.
pub const RECURRING_LOOKBACK_DAYS: u64 = 7;

/// How far ahead a recurring failure is flagged (the next hour).
pub const RECURRING_HORIZON: Duration = Duration::from_secs(3_600);

/// What a prediction is based on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PredictionKind {
    /// The last probes' latencies are above the band of the ones before: mean plus
    /// [`BAND_K`] standard deviations, both exponentially weighted ([`BAND_ALPHA`]).
    LatencyAboveBand,
    /// The failure rate of the last hour is rising (its trend is degrading, with at least two
    /// failed probes).
    RisingFailureRate,
    /// The dependency failed in one of the coming hour's quarter-hours on
    /// [`RECURRING_MIN_DAYS`] or more of the last [`RECURRING_LOOKBACK_DAYS`] days.
    RecurringFailure,
}

impl PredictionKind {
    /// `"latency_above_band"`, `"rising_failure_rate"` or `"recurring_failure"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            PredictionKind::LatencyAboveBand => "latency_above_band",
            PredictionKind::RisingFailureRate => "rising_failure_rate",
            PredictionKind::RecurringFailure => "recurring_failure",
        }
    }
}

/// A likely failure of one check, why it is thought likely, and what to do about it.
///
/// These are heuristics and err on the side of speaking up: a one-off slow pair of probes on a
/// very steady dependency crosses the band, two failures close together in a quiet hour read
/// as a rising rate, and a nightly maintenance window reads as a recurring failure (which it
/// is). None of them changes a status: they inform people, not readiness.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Prediction {
    /// The check's name.
    pub check: String,
    /// What it is based on.
    pub kind: PredictionKind,
    /// What was seen, in a sentence.
    pub message: String,
    /// What to do, in a sentence.
    pub recommendation: String,
}

/// The predictions for the check `name` from its `history`, at `now` (a
/// [`HealthRegistry`](crate::HealthRegistry) makes them for its checks with
/// [`predictions`](crate::HealthRegistry::predictions)).
pub fn predict(name: &str, history: &History, now: SystemTime) -> Vec<Prediction> {
    let mut found = Vec::new();
    let start = now.checked_sub(PREDICTION_WINDOW).unwrap_or(now);
    let window: Vec<Sample> = history
        .since(start)
        .take_while(|s| s.at() <= now)
        .copied()
        .collect();
    let prediction = |kind, message: String, recommendation: &str| Prediction {
        check: name.to_owned(),
        kind,
        message,
        recommendation: recommendation.to_owned(),
    };

    if let Some((last, band)) = latency_band(&window) {
        found.push(prediction(
            PredictionKind::LatencyAboveBand,
            format!(
                "the last {BAND_CONSECUTIVE} probes took {} or more, above the usual band of {} \
                 (moving average plus {BAND_K} standard deviations)",
                millis(last),
                millis(band)
            ),
            "look at the dependency's load and latency now: a slowdown often comes before \
             timeouts that open its breaker; consider shedding or deferring calls to it",
        ));
    }

    let stats = history.stats(PREDICTION_WINDOW, now);
    let failed = window.iter().filter(|s| s.failed()).count();
    if stats.failure_trend == Trend::Degrading && failed >= 2 {
        found.push(prediction(
            PredictionKind::RisingFailureRate,
            format!(
                "{failed} of the last hour's {} probes failed, more of them recently",
                window.len()
            ),
            "check the dependency's status page and error logs: failures are becoming more \
             frequent and its breaker may open soon",
        ));
    }

    let now_ms = Sample::new(now, crate::Status::Pass, Duration::ZERO).at_millis();
    let horizon = u64::try_from(RECURRING_HORIZON.as_millis()).unwrap_or(u64::MAX);
    if let Some((slot, days, observed)) =
        history
            .recurrence()
            .recurring(now_ms, horizon, RECURRING_LOOKBACK_DAYS, RECURRING_MIN_DAYS)
    {
        let mut at = String::new();
        let (h, m) = (slot / 3_600_000, slot % 3_600_000 / 60_000);
        let _ = write!(at, "{h:02}:{m:02} UTC");
        found.push(prediction(
            PredictionKind::RecurringFailure,
            format!(
                "it failed around {at} on {days} of the {observed} days probed in the last \
                 {RECURRING_LOOKBACK_DAYS}"
            ),
            "expect it to fail again then: look for a scheduled job or maintenance window on \
             its side, and move batch work away from that time",
        ));
    }
    found
}

/// The last latency and the band it crossed, when the last [`BAND_CONSECUTIVE`] probes that
/// did not fail were all above the band of the ones before them.
fn latency_band(window: &[Sample]) -> Option<(Duration, Duration)> {
    let latencies: Vec<f64> = window
        .iter()
        .filter(|s| !s.failed())
        .map(|s| s.latency().as_secs_f64())
        .collect();
    let split = latencies.len().checked_sub(BAND_CONSECUTIVE)?;
    if split < BAND_MIN_SAMPLES {
        return None;
    }
    let (history, recent) = latencies.split_at(split);
    let mut mean = history[0];
    let mut variance = 0.0;
    for &x in &history[1..] {
        let diff = x - mean;
        let increment = BAND_ALPHA * diff;
        mean += increment;
        variance = (1.0 - BAND_ALPHA) * (variance + diff * increment);
    }
    let band = mean + (BAND_K * variance.sqrt()).max(BAND_FLOOR * mean);
    let lowest = recent.iter().copied().fold(f64::INFINITY, f64::min);
    (lowest > band).then(|| {
        (
            Duration::from_secs_f64(lowest),
            Duration::from_secs_f64(band),
        )
    })
}

fn millis(duration: Duration) -> String {
    format!("{:.1}ms", duration.as_secs_f64() * 1e3)
}
