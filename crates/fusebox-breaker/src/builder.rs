//! [`BreakerBuilder`]: edits one breaker's [`BreakerSettings`], which `build()` checks into a
//! [`Config`]; and the settings' own way to a builder.

use crate::breaker::Breaker;
use crate::config::{Config, ConfigError};
use crate::settings::BreakerSettings;
use fusebox_core::StateStore;
use fusebox_core::{EventBus, EventListener};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

impl Breaker {
    /// Starts building a breaker named `name` (used in errors, events, logs and metrics).
    pub fn builder(name: impl Into<String>) -> BreakerBuilder {
        BreakerBuilder::new(name.into())
    }
}

/// Builds a [`Breaker`]; every setting is checked by [`build`](BreakerBuilder::build).
///
/// With no trip policy chosen, the breaker trips after 5 consecutive failures. Choosing a
/// failure rate or slow-call rate without a window uses a count window of 100 calls. Policies
/// combine: the breaker trips when any of them says so.
///
/// | setting | default |
/// |---|---|
/// | `consecutive_failures` | 5, when no rate policy is set |
/// | `failure_rate` / `slow_call` window | count window of 100 calls |
/// | `min_calls` | 10 (never more than a count window) |
/// | `open_duration` | 30 s, fixed |
/// | `half_open_probes` | 1 concurrent probe |
/// | `half_open_successes` | 1 success closes |
/// | `half_open_max_wait` | 30 s |
///
/// ```
/// use fusebox_breaker::Breaker;
/// use std::time::Duration;
///
/// let breaker = Breaker::builder("calendar")
///     .failure_rate(0.5)
///     .time_window(Duration::from_secs(60), 12)
///     .min_calls(20)
///     .slow_call(Duration::from_secs(2), 0.8)
///     .open_duration_backoff(Duration::from_secs(5), 2.0, Duration::from_secs(300))
///     .half_open_probes(3)
///     .half_open_successes(3)
///     .build()?;
/// assert_eq!(breaker.name(), "calendar");
/// # Ok::<(), fusebox_breaker::ConfigError>(())
/// ```
pub struct BreakerBuilder {
    name: String,
    /// Every setting as given; `build` checks them and fills in the defaults.
    settings: BreakerSettings,
    events: EventBus,
    store: Option<Arc<dyn StateStore>>,
}

impl fmt::Debug for BreakerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BreakerBuilder")
            .field("name", &self.name)
            .field("settings", &self.settings)
            .field("store", &self.store.as_ref().map(|_| "set"))
            .finish_non_exhaustive()
    }
}

impl BreakerBuilder {
    pub(crate) fn new(name: String) -> Self {
        BreakerBuilder {
            name,
            settings: BreakerSettings::default(),
            events: EventBus::new(),
            store: None,
        }
    }

    /// Trips after `n` failures in a row (a success resets the count).
    pub fn consecutive_failures(mut self, n: u32) -> Self {
        self.settings.consecutive_failures = Some(n);
        self
    }

    /// Trips when the failure rate over the window reaches `rate`, in `(0, 1]`.
    pub fn failure_rate(mut self, rate: f64) -> Self {
        self.settings.failure_rate = Some(rate);
        self
    }

    /// Computes rates over the last `calls` calls.
    pub fn count_window(mut self, calls: u32) -> Self {
        let s = &mut self.settings;
        (s.count_window, s.time_window, s.time_window_buckets) = (Some(calls), None, None);
        self
    }

    /// Computes rates over the last `duration`, kept as `buckets` time buckets.
    ///
    /// Failures, slow calls and every decision are dated by the exact clock. Successes, when
    /// there is no slow-call policy and buckets are at least 100 ms long, are dated by a
    /// coarse clock that a background thread moves on every millisecond, so a success costs a
    /// load instead of a clock read: it may be dated up to about a millisecond early (more
    /// only if the machine keeps that thread from running). A breaker built while Tokio's
    /// clock is paused (`#[tokio::test(start_paused = true)]`) dates every call by Tokio's
    /// clock, so that `tokio::time::advance` moves its window.
    pub fn time_window(mut self, duration: Duration, buckets: u32) -> Self {
        let s = &mut self.settings;
        (s.count_window, s.time_window, s.time_window_buckets) =
            (None, Some(duration), Some(buckets));
        self
    }

    /// Calls the window must hold before a rate may trip the breaker. Applies as soon as it is
    /// reached, not only once the window has filled. At most the count window's size, and at
    /// most [`MAX_COUNT_WINDOW`](crate::MAX_COUNT_WINDOW) for a time window: a rate waiting for more would never act.
    pub fn min_calls(mut self, calls: u32) -> Self {
        self.settings.min_calls = Some(calls);
        self
    }

    /// Calls taking `threshold` or longer are slow; trips when the slow-call rate over the window
    /// reaches `rate`, in `(0, 1]`. A slow half-open probe counts as a failed probe.
    pub fn slow_call(mut self, threshold: Duration, rate: f64) -> Self {
        self.settings.slow_call_duration = Some(threshold);
        self.settings.slow_call_rate = Some(rate);
        self
    }

    /// Stays open for `duration` after every trip.
    pub fn open_duration(mut self, duration: Duration) -> Self {
        let s = &mut self.settings;
        (
            s.open_duration,
            s.open_duration_multiplier,
            s.open_duration_max,
        ) = (Some(duration), None, None);
        self
    }

    /// Stays open `initial × multiplier^(trips − 1)`, capped at `max`, where `trips` counts trips
    /// since the breaker last closed.
    pub fn open_duration_backoff(
        mut self,
        initial: Duration,
        multiplier: f64,
        max: Duration,
    ) -> Self {
        let s = &mut self.settings;
        (
            s.open_duration,
            s.open_duration_multiplier,
            s.open_duration_max,
        ) = (Some(initial), Some(multiplier), Some(max));
        self
    }

    /// Concurrent probe calls admitted while half-open; others are rejected.
    pub fn half_open_probes(mut self, n: u32) -> Self {
        self.settings.half_open_probes = Some(n);
        self
    }

    /// Probe successes that close the breaker; any probe failure reopens it.
    pub fn half_open_successes(mut self, n: u32) -> Self {
        self.settings.half_open_successes = Some(n);
        self
    }

    /// If the breaker stays half-open this long (a probe that never completes), the next
    /// rejected call reopens it, and a fresh half-open period follows the open one.
    pub fn half_open_max_wait(mut self, wait: Duration) -> Self {
        self.settings.half_open_max_wait = Some(wait);
        self
    }

    /// Starts the breaker [disabled](Breaker::disable): it lets every call through and reports
    /// the trips its policies would have made, until [`reset`](Breaker::reset). Every breaker a
    /// [keyed set](Self::keyed) makes starts so too, which is how per-tenant breakers are tried
    /// on live traffic before they reject anything.
    ///
    /// With a shared state store, a state already shared by other instances (an operator's
    /// reset, say) replaces this starting state once the store learns it.
    ///
    /// ```
    /// use fusebox_breaker::{Breaker, CircuitState};
    ///
    /// let tenants = Breaker::builder("calendar").start_disabled(true).keyed().build()?;
    /// assert_eq!(tenants.get("acme").state(), CircuitState::Disabled);
    /// # Ok::<(), fusebox_breaker::ConfigError>(())
    /// ```
    pub fn start_disabled(mut self, disabled: bool) -> Self {
        self.settings.start_disabled = Some(disabled);
        self
    }

    /// Shares the breaker's state through `store` (`fusebox_redis::RedisStore`, say) from the
    /// moment it is built, as [`KeyedBuilder::store`](crate::KeyedBuilder::store) does for a
    /// keyed set's breakers; for [`keyed`](Self::keyed), it becomes the set's store.
    ///
    /// ```
    /// use fusebox_breaker::{Breaker, StateStore};
    /// use fusebox_core::StoredRef;
    /// use std::sync::{Arc, Mutex};
    ///
    /// /// Keeps a list of the breakers it was given (a real store would start sharing them).
    /// #[derive(Clone, Default)]
    /// struct Roster(Arc<Mutex<Vec<String>>>);
    ///
    /// impl StateStore for Roster {
    ///     fn attach(&self, circuit: &StoredRef) {
    ///         let key = circuit.key().unwrap_or("-");
    ///         self.0.lock().unwrap().push(format!("{}/{key}", circuit.name()));
    ///     }
    /// }
    ///
    /// let roster = Roster::default();
    /// let payments = Breaker::builder("payments").store(roster.clone()).build()?;
    /// let tenants = Breaker::builder("calendar").keyed().store(roster.clone()).build()?;
    /// tenants.get("acme");
    /// tenants.get("acme");
    /// assert_eq!(
    ///     *roster.0.lock().unwrap(),
    ///     ["payments/-", "calendar/(overflow)", "calendar/-", "calendar/acme"],
    ///     "the plain breaker; the set's overflow and unkeyed breakers, then each key once"
    /// );
    /// # Ok::<(), fusebox_breaker::ConfigError>(())
    /// ```
    pub fn store(mut self, store: impl StateStore) -> Self {
        self.store = Some(Arc::new(store));
        self
    }

    /// Adds an event listener for the life of the breaker (see also [`Breaker::subscribe`]).
    pub fn on_event(self, listener: impl EventListener) -> Self {
        self.events.subscribe(listener).detach();
        self
    }

    /// Checks every setting and builds the breaker.
    pub fn build(self) -> Result<Breaker, ConfigError> {
        let config = self.validate()?;
        let breaker = Breaker::from_parts(self.name, config, self.events);
        if let Some(store) = &self.store {
            breaker.share_with(store.as_ref());
        }
        Ok(breaker)
    }

    /// Checks every setting and builds a breaker that lives for the rest of the process: its
    /// memory is never freed, and in exchange clones, calls and rejections touch no reference
    /// count, which makes it the fastest kind (see `docs/benchmarks.md`).
    ///
    /// Meant for breakers made once at start-up, one per dependency. Never build one per key,
    /// per tenant or per request: each leaks its few hundred bytes for good.
    ///
    /// ```
    /// use fusebox_breaker::Breaker;
    ///
    /// let payments = Breaker::builder("payments").build_static()?;
    /// assert!(payments.is_static());
    /// # Ok::<(), fusebox_breaker::ConfigError>(())
    /// ```
    pub fn build_static(self) -> Result<Breaker, ConfigError> {
        let config = self.validate()?;
        let breaker = Breaker::from_parts_static(self.name, config, self.events);
        if let Some(store) = &self.store {
            breaker.share_with(store.as_ref());
        }
        Ok(breaker)
    }

    /// The store set with [`store`](Self::store), taken out (a keyed set attaches its own
    /// breakers to it).
    pub(crate) fn take_store(&mut self) -> Option<Arc<dyn StateStore>> {
        self.store.take()
    }

    pub(crate) fn into_parts(self) -> Result<(String, Config, EventBus), ConfigError> {
        let config = self.validate()?;
        Ok((self.name, config, self.events))
    }

    fn validate(&self) -> Result<Config, ConfigError> {
        if self.name.trim().is_empty() {
            return Err(ConfigError::new("name", "a non-empty string", &self.name));
        }
        self.settings.validate()
    }
}

impl BreakerSettings {
    /// `builder` with these settings laid over its own: what these set wins, what they leave
    /// unset keeps the builder's. [`BreakerBuilder::build`] then checks them.
    pub fn apply(&self, mut builder: BreakerBuilder) -> BreakerBuilder {
        builder.settings = self.or(&builder.settings);
        builder
    }

    /// Builds a breaker named `name` from these settings.
    pub fn build(&self, name: &str) -> Result<Breaker, ConfigError> {
        self.apply(Breaker::builder(name)).build()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{OpenDuration, WindowKind, MAX_DURATION};

    fn err(b: BreakerBuilder) -> String {
        b.build().unwrap_err().to_string()
    }

    fn b() -> BreakerBuilder {
        Breaker::builder("x")
    }

    #[test]
    fn every_invalid_setting_names_its_field_and_value() {
        let s = Duration::from_secs(1);
        let cases: Vec<(BreakerBuilder, &str)> = vec![
            (Breaker::builder(" "), "name must be a non-empty string, got \" \""),
            (b().consecutive_failures(0), "consecutive_failures must be at least 1, got 0"),
            (b().failure_rate(0.0), "failure_rate must be in (0, 1], got 0.0"),
            (b().failure_rate(1.5), "failure_rate must be in (0, 1], got 1.5"),
            (b().failure_rate(f64::NAN), "failure_rate must be in (0, 1], got NaN"),
            (b().failure_rate(0.5).count_window(0), "count_window must be in 1..=16777216, got 0"),
            (
                b().failure_rate(0.5).time_window(Duration::ZERO, 10),
                "time_window must be greater than zero, got 0ns",
            ),
            (
                b().failure_rate(0.5).time_window(s, 0),
                "time_window_buckets must be in 1..=1000, got 0",
            ),
            (
                b().failure_rate(0.5).time_window(Duration::from_micros(500), 1),
                "time_window must be at least 1ms per bucket, got 500µs",
            ),
            (b().failure_rate(0.5).min_calls(0), "min_calls must be at least 1, got 0"),
            (
                b().failure_rate(0.5).time_window(s * 60, 60).min_calls(u32::MAX),
                "min_calls must be at most 16777216, got 4294967295",
            ),
            (
                b().failure_rate(0.5).count_window(10).min_calls(11),
                "min_calls must be at most the count_window size, got 11",
            ),
            (b().slow_call(Duration::ZERO, 0.5), "slow_call_duration must be greater than zero, got 0ns"),
            (b().slow_call(s, 2.0), "slow_call_rate must be in (0, 1], got 2.0"),
            (b().open_duration(Duration::ZERO), "open_duration must be greater than zero, got 0ns"),
            (
                b().open_duration_backoff(s, 0.5, s),
                "open_duration_multiplier must be a finite number of at least 1, got 0.5",
            ),
            (
                b().open_duration_backoff(s * 2, 2.0, s),
                "open_duration_max must be at least the initial open_duration, got 1s",
            ),
            (b().half_open_probes(0), "half_open_probes must be in 1..=65535, got 0"),
            (b().half_open_probes(70_000), "half_open_probes must be in 1..=65535, got 70000"),
            (b().half_open_successes(0), "half_open_successes must be in 1..=65535, got 0"),
            (
                b().half_open_max_wait(Duration::ZERO),
                "half_open_max_wait must be greater than zero, got 0ns",
            ),
            (
                b().open_duration(Duration::MAX),
                "open_duration must be at most 18446744073709551615ns (about 584 years), got 18446744073709551615.999999999s",
            ),
            (
                b().open_duration_backoff(s, 2.0, Duration::MAX),
                "open_duration_max must be at most 18446744073709551615ns (about 584 years), got 18446744073709551615.999999999s",
            ),
            (
                b().half_open_max_wait(MAX_DURATION + Duration::from_nanos(1)),
                "half_open_max_wait must be at most 18446744073709551615ns (about 584 years), got 18446744073.709551616s",
            ),
            (
                b().failure_rate(0.5).time_window(Duration::MAX, 10),
                "time_window must be at most 18446744073709551615ns (about 584 years), got 18446744073709551615.999999999s",
            ),
            (
                b().count_window(10),
                "failure_rate must be set (or slow_call set) when a window is configured, got \"none\"",
            ),
        ];
        for (builder, message) in cases {
            assert_eq!(err(builder), message);
        }
    }

    #[test]
    fn defaults_fill_in_what_is_not_chosen() {
        let c = b().validate().unwrap();
        assert_eq!(c.consecutive_failures, Some(5));
        assert_eq!(c.window, None);
        let c = b().failure_rate(0.5).validate().unwrap();
        assert_eq!(c.consecutive_failures, None);
        assert_eq!(c.window, Some(WindowKind::Count(100)));
        assert_eq!(c.min_calls, 10);
        let c = b().failure_rate(0.5).count_window(4).validate().unwrap();
        assert_eq!(
            c.min_calls, 4,
            "the default minimum is cut to a smaller window"
        );
    }

    #[test]
    fn exponential_open_duration_grows_and_is_capped() {
        let o = OpenDuration::Exponential {
            initial: Duration::from_secs(1),
            multiplier: 2.0,
            max: Duration::from_secs(10),
        };
        let got: Vec<u64> = (1..=6).map(|t| o.for_trip(t).as_secs()).collect();
        assert_eq!(got, vec![1, 2, 4, 8, 10, 10]);
        assert_eq!(o.for_trip(u32::MAX), Duration::from_secs(10));
    }
}
