//! The health score: one number from 0 to 100 for how a dependency is doing.

use crate::history::Stats;
use std::time::Duration;

/// The window a check's score is computed over (the last hour).
pub const SCORE_WINDOW: Duration = Duration::from_secs(3_600);

/// A dependency's health score from 0 (down) to 100 (healthy), from the statistics of its last
/// hour ([`SCORE_WINDOW`]):
///
/// `score = round(60 × up + 25 × speed + 15 × steadiness)` (a half rounds up)
///
/// - `up`: the share of the window's time it was up ([`Stats::uptime`]);
/// - `speed`: `min(1, target / p95)` of the latencies of probes that did not fail, against the
///   check's latency target; 1 without a target or without such a probe;
/// - `steadiness`: `1 / (1 + failures)`, the failures (runs of failed probes, a breaker's open
///   periods for a circuit's check) that started in the window.
///
/// A dependency always up, fast and without a trip scores 100. Down the whole hour, it scores
/// 32.5, rounded to 33, when the failure began in the hour (25 + 15 / 2), and 40 when it began
/// before (25 + 15: no failure started in the window). `None` with no sample.
///
/// ```
/// use fusebox_health::{health_score, History, Sample, Status};
/// use std::time::{Duration, SystemTime};
///
/// let now = SystemTime::now();
/// let mut history = History::new(100)?;
/// for ago in (1..=60).rev() {
///     let at = now - Duration::from_secs(60 * ago);
///     history.push(Sample::new(at, Status::Pass, Duration::from_millis(200)));
/// }
/// let stats = history.stats(Duration::from_secs(3_600), now);
/// // Always up, no failure; p95 200 ms against a 100 ms target: speed 0.5.
/// assert_eq!(health_score(&stats, Some(Duration::from_millis(100))), Some(88));
/// assert_eq!(health_score(&stats, None), Some(100));
/// # Ok::<(), fusebox_core::ConfigError>(())
/// ```
pub fn health_score(stats: &Stats, latency_target: Option<Duration>) -> Option<u8> {
    let up = stats.uptime?;
    let speed = match (latency_target, stats.latency) {
        // A p95 of zero divides to infinity (or NaN with a zero target), and `min` keeps 1.
        (Some(target), Some(latency)) => {
            (target.as_secs_f64() / latency.p95.as_secs_f64()).min(1.0)
        }
        _ => 1.0,
    };
    let steadiness = 1.0 / (1.0 + stats.failures as f64);
    let score = (60.0 * up + 25.0 * speed + 15.0 * steadiness).round();
    // In [0, 100] since each term is in [0, 1] and the weights sum to 100.
    Some(score.clamp(0.0, 100.0) as u8)
}
