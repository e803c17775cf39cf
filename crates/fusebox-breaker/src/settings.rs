//! One breaker's settings as data: [`BreakerSettings`] is the one list of them, with the field
//! table the environment and serde loaders read, and `validate`, which checks them into the
//! breaker's [`Config`] with the defaults filled in. [`BreakerBuilder`](crate::BreakerBuilder)
//! edits a `BreakerSettings`; adding a setting is one line below plus its check in `validate`.

use crate::config::{
    Config, ConfigError, OpenDuration, WindowKind, DEFAULT_CONSECUTIVE_FAILURES,
    DEFAULT_COUNT_WINDOW, DEFAULT_HALF_OPEN_MAX_WAIT, DEFAULT_HALF_OPEN_PROBES,
    DEFAULT_HALF_OPEN_SUCCESSES, DEFAULT_MIN_CALLS, DEFAULT_OPEN_DURATION,
    DEFAULT_OPEN_DURATION_MULTIPLIER, DEFAULT_TIME_BUCKETS, MAX_COUNT_WINDOW, MAX_DURATION,
    MAX_PROBES, MAX_TIME_BUCKETS,
};
use std::time::Duration;

/// Defines [`BreakerSettings`] from one list of fields, each with its kind, its type and the
/// environment suffixes it is read from, and derives from that list the merge, the field table
/// and the setter the loaders use: nothing else names every field.
macro_rules! breaker_settings {
    (
        $(#[$struct_attr:meta])*
        pub struct BreakerSettings {
            $(
                $(#[$attr:meta])*
                $field:ident: $kind:ident($ty:ty) = [$($suffix:literal),+],
            )*
        }
    ) => {
        $(#[$struct_attr])*
        pub struct BreakerSettings {
            $(
                $(#[$attr])*
                pub $field: Option<$ty>,
            )*
        }

        impl BreakerSettings {
            /// These settings, with `defaults` filling what they leave unset.
            pub fn or(&self, defaults: &BreakerSettings) -> BreakerSettings {
                BreakerSettings {
                    $($field: self.$field.or(defaults.$field),)*
                }
            }
        }

        /// Every setting: each environment suffix it is read from, its field, its kind.
        pub(crate) const FIELDS: &[(&str, &str, Kind)] = &[
            $($(($suffix, stringify!($field), Kind::$kind),)+)*
        ];

        /// Sets `field`, whose value was parsed as its kind, on `settings`.
        pub(crate) fn set(settings: &mut BreakerSettings, field: &str, value: Value) {
            match (field, value) {
                $((stringify!($field), Value::$kind(v)) => settings.$field = Some(v),)*
                _ => unreachable!("FIELDS pairs each field with its kind"),
            }
        }
    };
}

breaker_settings! {
    /// Every breaker setting, each optional: unset ones fall back to the defaults, then to the
    /// breaker's own defaults (those of [`BreakerBuilder`](crate::BreakerBuilder)). Field names
    /// are those of the errors `build()` gives.
    ///
    /// With the `serde` feature it deserialises from any serde format; durations are written in
    /// human form (`"30s"`, `"2m"`, `"1500ms"`):
    ///
    /// ```toml
    /// consecutive_failures = 5
    /// open_duration = "30s"
    /// half_open_probes = 2
    /// ```
    #[derive(Clone, Debug, Default, PartialEq)]
    #[cfg_attr(
        feature = "serde",
        derive(serde::Serialize, serde::Deserialize),
        serde(default, deny_unknown_fields)
    )]
    #[non_exhaustive]
    pub struct BreakerSettings {
        /// Trip after this many failures in a row (`FAILURE_THRESHOLD` is another name for it
        /// in the environment).
        consecutive_failures: Count(u32) = ["CONSECUTIVE_FAILURES", "FAILURE_THRESHOLD"],
        /// Trip at this failure rate over the window, in `(0, 1]`.
        failure_rate: Rate(f64) = ["FAILURE_RATE"],
        /// A count window of this many calls.
        count_window: Count(u32) = ["COUNT_WINDOW"],
        /// A time window of this length.
        #[cfg_attr(feature = "serde", serde(with = "humantime_serde"))]
        time_window: Duration(Duration) = ["TIME_WINDOW"],
        /// Buckets of the time window (default 10).
        time_window_buckets: Count(u32) = ["TIME_WINDOW_BUCKETS"],
        /// Calls the window must hold before a rate may trip.
        min_calls: Count(u32) = ["MIN_CALLS"],
        /// Calls this slow or slower are slow (set with `slow_call_rate`).
        #[cfg_attr(feature = "serde", serde(with = "humantime_serde"))]
        slow_call_duration: Duration(Duration) = ["SLOW_CALL_DURATION"],
        /// Trip at this slow-call rate, in `(0, 1]` (set with `slow_call_duration`).
        slow_call_rate: Rate(f64) = ["SLOW_CALL_RATE"],
        /// Open duration (the first one, when it grows).
        #[cfg_attr(feature = "serde", serde(with = "humantime_serde"))]
        open_duration: Duration(Duration) = ["OPEN_DURATION"],
        /// Growth of the open duration per repeated trip (default 2 when `open_duration_max`
        /// is set).
        open_duration_multiplier: Rate(f64) = ["OPEN_DURATION_MULTIPLIER"],
        /// Cap of a growing open duration (default 32 × `open_duration` when a multiplier is
        /// set).
        #[cfg_attr(feature = "serde", serde(with = "humantime_serde"))]
        open_duration_max: Duration(Duration) = ["OPEN_DURATION_MAX"],
        /// Concurrent probes while half-open.
        half_open_probes: Count(u32) = ["HALF_OPEN_PROBES"],
        /// Probe successes that close the breaker.
        half_open_successes: Count(u32) = ["HALF_OPEN_SUCCESSES"],
        /// Longest wait in half-open before reopening.
        #[cfg_attr(feature = "serde", serde(with = "humantime_serde"))]
        half_open_max_wait: Duration(Duration) = ["HALF_OPEN_MAX_WAIT"],
        /// Start disabled: calls pass and trips are only reported
        /// ([`BreakerBuilder::start_disabled`](crate::BreakerBuilder::start_disabled)).
        start_disabled: Flag(bool) = ["START_DISABLED"],
    }
}

impl BreakerSettings {
    /// Checks every setting and fills in the defaults: the breaker's validated configuration,
    /// or an error naming the first bad field and its value.
    pub(crate) fn validate(&self) -> Result<Config, ConfigError> {
        fn rate(field: &'static str, r: f64) -> Result<f64, ConfigError> {
            if r > 0.0 && r <= 1.0 {
                Ok(r)
            } else {
                Err(ConfigError::new(field, "in (0, 1]", r))
            }
        }
        fn positive(field: &'static str, d: Duration) -> Result<Duration, ConfigError> {
            if d.is_zero() {
                Err(ConfigError::new(field, "greater than zero", d))
            } else if d > MAX_DURATION {
                Err(ConfigError::new(
                    field,
                    "at most 18446744073709551615ns (about 584 years)",
                    d,
                ))
            } else {
                Ok(d)
            }
        }
        if let Some(n) = self.consecutive_failures {
            if n == 0 {
                return Err(ConfigError::new("consecutive_failures", "at least 1", n));
            }
        }
        let failure_rate = self
            .failure_rate
            .map(|r| rate("failure_rate", r))
            .transpose()?;
        let slow_call = match (self.slow_call_duration, self.slow_call_rate) {
            (Some(threshold), Some(r)) => Some((
                positive("slow_call_duration", threshold)?,
                rate("slow_call_rate", r)?,
            )),
            (None, None) => None,
            (Some(d), None) => {
                return Err(ConfigError::new(
                    "slow_call_duration",
                    "set only with slow_call_rate (which is unset)",
                    d,
                ))
            }
            (None, Some(r)) => {
                return Err(ConfigError::new(
                    "slow_call_rate",
                    "set only with slow_call_duration (which is unset)",
                    r,
                ))
            }
        };
        let wants_window = failure_rate.is_some() || slow_call.is_some();
        // A time window wins over a count window given with it.
        let window = match (
            self.time_window,
            self.time_window_buckets,
            self.count_window,
        ) {
            (Some(duration), buckets, _) => {
                let buckets = buckets.unwrap_or(DEFAULT_TIME_BUCKETS);
                positive("time_window", duration)?;
                if buckets == 0 || buckets > MAX_TIME_BUCKETS {
                    return Err(ConfigError::new(
                        "time_window_buckets",
                        "in 1..=1000",
                        buckets,
                    ));
                }
                if duration / buckets < Duration::from_millis(1) {
                    return Err(ConfigError::new(
                        "time_window",
                        "at least 1ms per bucket",
                        duration,
                    ));
                }
                Some(WindowKind::Time { duration, buckets })
            }
            (None, Some(n), _) => {
                return Err(ConfigError::new(
                    "time_window_buckets",
                    "set only with time_window (which is unset)",
                    n,
                ));
            }
            (None, None, Some(n)) => {
                if n == 0 || n > MAX_COUNT_WINDOW {
                    return Err(ConfigError::new("count_window", "in 1..=16777216", n));
                }
                Some(WindowKind::Count(n))
            }
            (None, None, None) if wants_window => Some(WindowKind::Count(DEFAULT_COUNT_WINDOW)),
            (None, None, None) => None,
        };
        if window.is_some() && !wants_window {
            return Err(ConfigError::new(
                "failure_rate",
                "set (or slow_call set) when a window is configured",
                "none",
            ));
        }
        let min_calls = self.min_calls.unwrap_or(DEFAULT_MIN_CALLS);
        if min_calls == 0 {
            return Err(ConfigError::new("min_calls", "at least 1", min_calls));
        }
        if min_calls > MAX_COUNT_WINDOW {
            // A rate that waits for more calls than the largest window holds would never act.
            return Err(ConfigError::new("min_calls", "at most 16777216", min_calls));
        }
        let min_calls = match window {
            Some(WindowKind::Count(n)) if self.min_calls.is_some() && min_calls > n => {
                return Err(ConfigError::new(
                    "min_calls",
                    "at most the count_window size",
                    min_calls,
                ));
            }
            Some(WindowKind::Count(n)) => min_calls.min(n),
            _ => min_calls,
        };
        let consecutive_failures = match (self.consecutive_failures, wants_window) {
            (None, false) => Some(DEFAULT_CONSECUTIVE_FAILURES),
            (c, _) => c,
        };
        let initial = self.open_duration.unwrap_or(DEFAULT_OPEN_DURATION);
        positive("open_duration", initial)?;
        let open = match (self.open_duration_multiplier, self.open_duration_max) {
            (None, None) => OpenDuration::Fixed(initial),
            (multiplier, max) => {
                let multiplier = multiplier.unwrap_or(DEFAULT_OPEN_DURATION_MULTIPLIER);
                let max = max.unwrap_or(initial.saturating_mul(32));
                if !(multiplier.is_finite() && multiplier >= 1.0) {
                    return Err(ConfigError::new(
                        "open_duration_multiplier",
                        "a finite number of at least 1",
                        multiplier,
                    ));
                }
                if max < initial {
                    return Err(ConfigError::new(
                        "open_duration_max",
                        "at least the initial open_duration",
                        max,
                    ));
                }
                positive("open_duration_max", max)?;
                OpenDuration::Exponential {
                    initial,
                    multiplier,
                    max,
                }
            }
        };
        let half_open_probes = self.half_open_probes.unwrap_or(DEFAULT_HALF_OPEN_PROBES);
        let half_open_successes = self
            .half_open_successes
            .unwrap_or(DEFAULT_HALF_OPEN_SUCCESSES);
        for (field, n) in [
            ("half_open_probes", half_open_probes),
            ("half_open_successes", half_open_successes),
        ] {
            if n == 0 || n > MAX_PROBES {
                return Err(ConfigError::new(field, "in 1..=65535", n));
            }
        }
        let half_open_max_wait = positive(
            "half_open_max_wait",
            self.half_open_max_wait
                .unwrap_or(DEFAULT_HALF_OPEN_MAX_WAIT),
        )?;
        Ok(Config {
            consecutive_failures,
            failure_rate,
            window,
            min_calls,
            slow_call,
            open,
            half_open_probes,
            half_open_successes,
            half_open_max_wait,
            start_disabled: self.start_disabled.unwrap_or(false),
        })
    }
}

#[derive(Clone, Copy)]
pub(crate) enum Kind {
    Count,
    Rate,
    Duration,
    Flag,
}

pub(crate) enum Value {
    Count(u32),
    Rate(f64),
    Duration(Duration),
    Flag(bool),
}

pub(crate) fn parse(variable: &str, value: &str, kind: Kind) -> Result<Value, ConfigError> {
    let v = value.trim();
    match kind {
        Kind::Count => v
            .parse::<u32>()
            .map(Value::Count)
            .map_err(|_not_a_count| ConfigError::new(variable.to_owned(), "a whole number", value)),
        Kind::Rate => v
            .parse::<f64>()
            .map(Value::Rate)
            .map_err(|_not_a_number| ConfigError::new(variable.to_owned(), "a number", value)),
        Kind::Flag => match v.to_ascii_lowercase().as_str() {
            "true" | "yes" | "on" | "1" => Ok(Value::Flag(true)),
            "false" | "no" | "off" | "0" => Ok(Value::Flag(false)),
            _ => Err(ConfigError::new(
                variable.to_owned(),
                "true or false (or yes/no, on/off, 1/0)",
                value,
            )),
        },
        Kind::Duration => parse_duration(v).map(Value::Duration).ok_or_else(|| {
            ConfigError::new(
                variable.to_owned(),
                "a duration such as 30s, 2m or 1500ms",
                value,
            )
        }),
    }
}

/// `30s`, `2m`, `1500ms`, `1h 30m`, or a bare number of seconds, whole or not (`1.5`).
///
/// ```
/// use fusebox_breaker::parse_duration;
/// use std::time::Duration;
///
/// assert_eq!(parse_duration("1.5"), Some(Duration::from_millis(1500)));
/// assert_eq!(parse_duration("2m"), Some(Duration::from_secs(120)));
/// assert_eq!(parse_duration("-1"), None);
/// ```
pub fn parse_duration(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    if value.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return value
            .parse::<f64>()
            .ok()
            .and_then(|secs| Duration::try_from_secs_f64(secs).ok());
    }
    humantime::parse_duration(value).ok()
}

/// A breaker name as it appears in an environment variable: ASCII letters upper-cased and
/// every character that is not an ASCII letter or digit turned into `_` (`payment-gateway`
/// and `Payment.Gateway` are both `PAYMENT_GATEWAY`).
///
/// ```
/// use fusebox_breaker::env_name;
///
/// assert_eq!(env_name("payment-gateway"), "PAYMENT_GATEWAY");
/// assert_eq!(env_name("Calendar.v2"), "CALENDAR_V2");
/// ```
pub fn env_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect()
}

/// The key under which environment settings for `name` are kept (`payment_gateway`).
pub(crate) fn env_key(name: &str) -> String {
    env_name(name).to_ascii_lowercase()
}

/// Words that setting names are made of: a breaker name read from a variable that ends in one
/// of them (`CALENDAR_MAX_OPEN_DURATION` read as breaker `calendar_max`) is likely a misspelt
/// setting.
pub(crate) const SETTING_WORDS: &[&str] = &[
    "buckets",
    "call",
    "calls",
    "consecutive",
    "count",
    "disabled",
    "duration",
    "failure",
    "failures",
    "half",
    "max",
    "min",
    "multiplier",
    "open",
    "probes",
    "rate",
    "slow",
    "start",
    "successes",
    "threshold",
    "time",
    "wait",
    "window",
];

/// The static name of a field, for looking up where it came from.
pub(crate) fn field_name(field: &str) -> &'static str {
    FIELDS
        .iter()
        .map(|&(_, f, _)| f)
        .find(|f| *f == field)
        .unwrap_or("")
}
