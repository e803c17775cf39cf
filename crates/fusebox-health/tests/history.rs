//! Statistics, trends, scores and predictions against hand-computed synthetic histories.

use fusebox_health::{
    health_score, predict, History, PredictionKind, Sample, Status, Trend, DEFAULT_HISTORY,
};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// Midnight UTC of day 20,000 since the epoch.
fn day0() -> SystemTime {
    UNIX_EPOCH + secs(20_000 * 86_400)
}

fn at(offset: Duration) -> SystemTime {
    day0() + offset
}

/// Minutes 0 to 9: pass, pass, fail, fail, pass, pass, pass, fail, pass, pass; the passes
/// took 10, 20, … 70 ms, the failures 5 ms.
fn ten_minutes() -> History {
    let statuses = "PPFFPPPFPP";
    let mut history = History::new(100).unwrap();
    let mut latency = 0;
    for (minute, status) in statuses.chars().enumerate() {
        let (status, took) = if status == 'F' {
            (Status::Fail, 5)
        } else {
            latency += 10;
            (Status::Pass, latency)
        };
        history.push(Sample::new(at(secs(60 * minute as u64)), status, ms(took)));
    }
    history
}

#[test]
fn statistics_over_a_whole_window() {
    let stats = ten_minutes().stats(secs(600), at(secs(600)));
    assert_eq!(stats.samples, 10);
    // Down for minutes 2, 3 and 7: 180 s of 600.
    assert_eq!(stats.uptime, Some(0.7));
    let latency = stats.latency.unwrap();
    assert_eq!(
        [latency.min, latency.avg, latency.max],
        [ms(10), ms(40), ms(70)]
    );
    // Nearest rank of seven: the 4th, then the 7th twice.
    assert_eq!(
        [latency.p50, latency.p95, latency.p99],
        [ms(40), ms(70), ms(70)]
    );
    assert_eq!(
        (stats.current_failure_streak, stats.longest_failure_streak),
        (0, 2)
    );
    assert_eq!((stats.failures, stats.recoveries), (2, 2));
    // Recovered after 120 s (minute 2 to 4) and 60 s (7 to 8).
    assert_eq!(stats.mean_time_to_recover, Some(secs(90)));
    assert_eq!(stats.max_time_to_recover, Some(secs(120)));
    // 420 s up over two failures.
    assert_eq!(stats.mtbf, Some(secs(210)));
    // Seven latencies are too few for a trend; the failures' line falls by 0.16 across nine
    // minutes (slope -1.5 / 82.5 a minute), past the 0.1 threshold.
    assert_eq!(stats.latency_trend, Trend::Unknown);
    assert_eq!(stats.failure_trend, Trend::Improving);
}

#[test]
fn a_window_starts_with_the_status_before_it() {
    let history = ten_minutes();
    // From minute 5: minute 4's pass holds at the start; minute 7 down, 60 s of 300.
    let stats = history.stats(secs(300), at(secs(600)));
    assert_eq!(stats.samples, 5);
    assert_eq!(stats.uptime, Some(0.8));
    assert_eq!((stats.failures, stats.recoveries), (1, 1));
    // From 3 min 30 s: minute 3's failure holds until minute 4 (30 s), then minute 7 (60 s):
    // 90 s down of 390. That failure did not start in the window, nor did its failed samples
    // go on into it: one failure, one recovery.
    let stats = history.stats(secs(390), at(secs(600)));
    assert_eq!(stats.uptime, Some(300.0 / 390.0));
    assert_eq!((stats.failures, stats.recoveries), (1, 1));
    assert_eq!(stats.mtbf, Some(secs(300)));
    // From minute 3: its failure is in the window but started before it; it recovers 60 s on.
    let stats = history.stats(secs(420), at(secs(600)));
    assert_eq!((stats.failures, stats.recoveries), (1, 2));
    assert_eq!(stats.max_time_to_recover, Some(secs(60)));
    // Ending at minute 3: failing now, two in a row.
    let stats = history.stats(secs(600), at(secs(180)));
    assert_eq!(stats.current_failure_streak, 2);
    assert_eq!(stats.recoveries, 0);
    assert_eq!(stats.mean_time_to_recover, None);
    // An empty window says nothing.
    let empty = History::new(1).unwrap().stats(secs(60), at(secs(60)));
    assert_eq!(
        (empty.uptime, empty.latency, empty.mtbf),
        (None, None, None)
    );
    assert_eq!(health_score(&empty, None), None);
}

fn latencies(values: impl IntoIterator<Item = u64>) -> History {
    let mut history = History::new(DEFAULT_HISTORY).unwrap();
    for (i, value) in values.into_iter().enumerate() {
        history.push(Sample::new(
            at(secs(30 * i as u64)),
            Status::Pass,
            ms(value),
        ));
    }
    history
}

#[test]
fn latency_trends_by_the_least_squares_line_against_twenty_percent() {
    let end = at(secs(30 * 19));
    let window = secs(3_600);
    // 100 to 195 ms: the line rises 95 ms over a mean of 147.5, +64 %.
    let rising = latencies((0..20).map(|i| 100 + 5 * i));
    assert_eq!(rising.stats(window, end).latency_trend, Trend::Degrading);
    let falling = latencies((0..20).map(|i| 195 - 5 * i));
    assert_eq!(falling.stats(window, end).latency_trend, Trend::Improving);
    // 100 to 119 ms: +19 ms over 109.5, +17 %: stable.
    let slight = latencies((0..20).map(|i| 100 + i));
    assert_eq!(slight.stats(window, end).latency_trend, Trend::Stable);
    let steady = latencies([100; 20]);
    assert_eq!(steady.stats(window, end).latency_trend, Trend::Stable);
    let names = [
        Trend::Improving,
        Trend::Stable,
        Trend::Degrading,
        Trend::Unknown,
    ]
    .map(Trend::as_str);
    assert_eq!(names, ["improving", "stable", "degrading", "unknown"]);
    let kinds = [
        PredictionKind::LatencyAboveBand,
        PredictionKind::RisingFailureRate,
        PredictionKind::RecurringFailure,
    ]
    .map(PredictionKind::as_str);
    assert_eq!(
        kinds,
        [
            "latency_above_band",
            "rising_failure_rate",
            "recurring_failure"
        ]
    );
    // Microseconds tripling is noise, not a trend: the rise is under 1 ms.
    let mut tiny = History::new(100).unwrap();
    for i in 0..20u64 {
        let took = Duration::from_micros(100 + 20 * i);
        tiny.push(Sample::new(at(secs(30 * i)), Status::Pass, took));
    }
    assert_eq!(tiny.stats(window, end).latency_trend, Trend::Stable);
    // 1 to 2.9 ms: a rise of 1.9 ms, +97 %: degrading.
    let mut small = History::new(100).unwrap();
    for i in 0..20u64 {
        let took = Duration::from_micros(1_000 + 100 * i);
        small.push(Sample::new(at(secs(30 * i)), Status::Pass, took));
    }
    assert_eq!(small.stats(window, end).latency_trend, Trend::Degrading);
}

#[test]
fn scores_follow_the_formula() {
    let history = ten_minutes();
    let stats = history.stats(secs(600), at(secs(600)));
    // 60 × 0.7 + 25 × 1 + 15 / 3 = 72; against a 35 ms target, p95 70 ms: 42 + 12.5 + 5.
    assert_eq!(health_score(&stats, None), Some(72));
    assert_eq!(health_score(&stats, Some(ms(35))), Some(60));
    // A target above p95 costs nothing.
    assert_eq!(health_score(&stats, Some(ms(500))), Some(72));
    let mut down = History::new(10).unwrap();
    down.push(Sample::new(at(secs(0)), Status::Fail, ms(5)));
    // Down the whole window, one failure: 0 + 25 + 7.5.
    let stats = down.stats(secs(60), at(secs(60)));
    assert_eq!(health_score(&stats, Some(ms(1))), Some(33));
    // Down since before the window: no failure started in it, 25 + 15.
    down.push(Sample::new(at(secs(120)), Status::Fail, ms(5)));
    let stats = down.stats(secs(60), at(secs(150)));
    assert_eq!((stats.uptime, stats.failures), (Some(0.0), 0));
    assert_eq!(health_score(&stats, None), Some(40));
}

#[test]
fn a_full_history_drops_its_oldest_sample() {
    let mut history = History::new(3).unwrap();
    for i in 0..5 {
        history.push(Sample::new(at(secs(i)), Status::Pass, ms(i)));
    }
    let kept: Vec<Duration> = history.iter().map(Sample::latency).collect();
    assert_eq!(kept, [ms(2), ms(3), ms(4)]);
    assert_eq!((history.len(), history.capacity()), (3, 3));
    assert!(!history.is_empty());
    assert!(History::new(3).unwrap().is_empty());
    assert_eq!(History::new(0).unwrap_err().field(), "history");
    assert_eq!(History::new(1_000_001).unwrap_err().field(), "history");
    assert!(History::new(1_000_000).is_ok());
}

fn kinds(history: &History, now: SystemTime) -> Vec<PredictionKind> {
    predict("calendar", history, now)
        .into_iter()
        .map(|p| p.kind)
        .collect()
}

#[test]
fn latency_above_the_band_is_flagged_after_two_probes() {
    let end = at(secs(30 * 31));
    // Thirty probes at 100 ms: the band is the 10 % floor, 110 ms.
    let steady = latencies([100; 30].into_iter().chain([150, 150]));
    let found = predict("calendar", &steady, end);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].kind, PredictionKind::LatencyAboveBand);
    assert_eq!(found[0].check, "calendar");
    assert_eq!(
        found[0].message,
        "the last 2 probes took 150.0ms or more, above the usual band of 110.0ms (moving \
         average plus 3 standard deviations)"
    );
    assert!(found[0].recommendation.contains("breaker"));
    // One slow probe is not enough, nor two within the band.
    assert_eq!(
        kinds(&latencies([100; 31].into_iter().chain([150])), end),
        []
    );
    assert_eq!(
        kinds(&latencies([100; 30].into_iter().chain([108, 109])), end),
        []
    );
    // A noisy dependency's band is wider: 80 and 120 ms alternating put it near 160 ms.
    let noisy = latencies(
        (0..30)
            .map(|i| if i % 2 == 0 { 80 } else { 120 })
            .chain([150, 150]),
    );
    assert_eq!(kinds(&noisy, end), []);
    // Too few probes to judge: 19 before the last two; 20 are enough.
    assert_eq!(
        kinds(&latencies([100; 19].into_iter().chain([500, 500])), end),
        []
    );
    assert_eq!(
        kinds(&latencies([100; 20].into_iter().chain([500, 500])), end),
        [PredictionKind::LatencyAboveBand]
    );
}

#[test]
fn the_band_is_the_weighted_mean_plus_three_weighted_deviations() {
    let end = at(secs(30 * 21));
    // Nineteen at 100 ms, then 200: the mean moves a tenth of the way (110 ms), the variance
    // to 0.9 × (100 × 10) = 900 ms², a deviation of 30 ms: the band ends at 110 + 90 = 200.
    let band = |last: u64| latencies([100; 19].into_iter().chain([200, last, last]));
    let found = predict("calendar", &band(202), end);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0]
            .message
            .contains("took 202.0ms or more, above the usual band of 200.0ms"),
        "{}",
        found[0].message
    );
    assert_eq!(kinds(&band(198), end), []);
}

fn statuses(pattern: &str) -> History {
    let mut history = History::new(DEFAULT_HISTORY).unwrap();
    for (i, c) in pattern.chars().enumerate() {
        let status = if c == 'F' { Status::Fail } else { Status::Pass };
        history.push(Sample::new(at(secs(120 * i as u64)), status, ms(20)));
    }
    history
}

#[test]
fn a_rising_failure_rate_is_flagged_from_two_failures() {
    let end = at(secs(120 * 29));
    let rising = statuses("PPPPPPPPPPPPPPPPPPPPPPPPPFPFPF");
    let found = predict("calendar", &rising, end);
    assert_eq!(
        found.iter().map(|p| p.kind).collect::<Vec<_>>(),
        [PredictionKind::RisingFailureRate]
    );
    assert_eq!(
        found[0].message,
        "3 of the last hour's 30 probes failed, more of them recently"
    );
    // A single failure is not a rate.
    assert_eq!(kinds(&statuses("PPPPPPPPPPPPPPPPPPPPPPPPPPPPPF"), end), []);
    // Failures spread evenly are not rising.
    assert_eq!(kinds(&statuses("PPPPPFPPPPPPPPFPPPPPPPPFPPPPPP"), end), []);
}

/// Seven days of probes every 15 minutes, failing at 14:00 on the days in `failing` (days
/// before day 7).
fn week(failing: &[u64]) -> History {
    week_at(failing, 14 * 3_600)
}

/// The same, failing at `second` of the day.
fn week_at(failing: &[u64], second: u64) -> History {
    let mut history = History::new(100).unwrap();
    for slot in 0..(7 * 96) {
        let when = secs(900 * slot);
        let (day, time) = (slot / 96, when.as_secs() % 86_400);
        let status = if failing.contains(&(7 - day)) && time == second {
            Status::Fail
        } else {
            Status::Pass
        };
        history.push(Sample::new(at(when), status, ms(20)));
    }
    history
}

#[test]
fn a_failure_at_the_same_time_on_three_days_is_flagged_an_hour_ahead() {
    let today = secs(7 * 86_400);
    let history = week(&[1, 2, 4]);
    // At 13:30, the next hour covers 14:00; the ring of 100 samples holds only the last day,
    // but the days' failures are kept apart from it.
    let found = predict("calendar", &history, at(today + secs(13 * 3_600 + 1_800)));
    assert_eq!(
        found.iter().map(|p| p.kind).collect::<Vec<_>>(),
        [PredictionKind::RecurringFailure]
    );
    assert_eq!(
        found[0].message,
        "it failed around 14:00 UTC on 3 of the 7 days probed in the last 7"
    );
    // At noon, 14:00 is past the horizon.
    assert_eq!(kinds(&history, at(today + secs(12 * 3_600))), []);
    // Two days are not a pattern.
    assert_eq!(
        kinds(&week(&[1, 3]), at(today + secs(13 * 3_600 + 1_800))),
        []
    );
    // A quarter past: named to the minute.
    let quarter = week_at(&[1, 2, 3], 14 * 3_600 + 900);
    let found = predict("calendar", &quarter, at(today + secs(13 * 3_600 + 1_800)));
    assert_eq!(
        found[0].message,
        "it failed around 14:15 UTC on 3 of the 7 days probed in the last 7"
    );
}
