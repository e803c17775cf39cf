//! Validated breaker settings, and the limits they are checked against. Imports nothing else
//! of the crate: every other module builds on it.

pub use fusebox_core::ConfigError;
use std::time::Duration;

/// Largest count window, in calls (16.7 million outcomes, 16 MiB of ring).
pub const MAX_COUNT_WINDOW: u32 = 1 << 24;
/// Largest number of buckets in a time window.
pub const MAX_TIME_BUCKETS: u32 = 1_000;
/// Largest number of concurrent half-open probes, and of probe successes required to close.
pub const MAX_PROBES: u32 = u16::MAX as u32;
/// Longest duration a breaker setting takes (`u64::MAX` nanoseconds, about 584 years): a
/// breaker keeps its deadlines as nanoseconds in atomics. A longer one is rejected by
/// [`BreakerBuilder::build`](crate::BreakerBuilder::build), naming its field, rather than cut.
pub const MAX_DURATION: Duration = Duration::from_nanos(u64::MAX);

/// How long a tripped breaker stays open before it lets probes through.
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub enum OpenDuration {
    /// The same duration after every trip.
    Fixed(Duration),
    /// `initial × multiplier^(trips − 1)`, capped at `max`, where `trips` counts the trips since
    /// the breaker last closed: a dependency that keeps failing is probed less and less often.
    Exponential {
        /// Duration after the first trip.
        initial: Duration,
        /// Growth per further trip (at least 1).
        multiplier: f64,
        /// Upper bound.
        max: Duration,
    },
}

impl OpenDuration {
    /// The open duration after the `trips`-th trip in a row (1-based).
    pub fn for_trip(&self, trips: u32) -> Duration {
        match *self {
            OpenDuration::Fixed(d) => d,
            OpenDuration::Exponential {
                initial,
                multiplier,
                max,
            } => {
                let exponent = trips.saturating_sub(1).min(i32::MAX as u32) as i32;
                let secs =
                    (initial.as_secs_f64() * multiplier.powi(exponent)).min(max.as_secs_f64());
                Duration::try_from_secs_f64(secs).unwrap_or(max).min(max)
            }
        }
    }

    /// The duration after the first trip.
    pub fn initial(&self) -> Duration {
        self.for_trip(1)
    }
}

/// The sliding window over which failure and slow-call rates are computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum WindowKind {
    /// The last `n` calls: each new outcome pushes out the oldest.
    Count(u32),
    /// The calls of the last `duration`, kept in `buckets` equal time buckets; the oldest bucket
    /// leaves whole as time moves on.
    Time {
        /// Length of the window.
        duration: Duration,
        /// Number of buckets the window is split into.
        buckets: u32,
    },
}

/// The defaults of every setting left unset, in one place: what
/// [`BreakerSettings::validate`](crate::BreakerSettings) fills in.
pub(crate) const DEFAULT_CONSECUTIVE_FAILURES: u32 = 5;
pub(crate) const DEFAULT_COUNT_WINDOW: u32 = 100;
pub(crate) const DEFAULT_TIME_BUCKETS: u32 = 10;
pub(crate) const DEFAULT_MIN_CALLS: u32 = 10;
pub(crate) const DEFAULT_OPEN_DURATION: Duration = Duration::from_secs(30);
pub(crate) const DEFAULT_OPEN_DURATION_MULTIPLIER: f64 = 2.0;
pub(crate) const DEFAULT_HALF_OPEN_PROBES: u32 = 1;
pub(crate) const DEFAULT_HALF_OPEN_SUCCESSES: u32 = 1;
pub(crate) const DEFAULT_HALF_OPEN_MAX_WAIT: Duration = Duration::from_secs(30);

/// Validated breaker settings.
#[derive(Clone, Debug)]
pub(crate) struct Config {
    pub(crate) consecutive_failures: Option<u32>,
    pub(crate) failure_rate: Option<f64>,
    pub(crate) window: Option<WindowKind>,
    pub(crate) min_calls: u32,
    pub(crate) slow_call: Option<(Duration, f64)>,
    pub(crate) open: OpenDuration,
    pub(crate) half_open_probes: u32,
    pub(crate) half_open_successes: u32,
    pub(crate) half_open_max_wait: Duration,
    pub(crate) start_disabled: bool,
}
