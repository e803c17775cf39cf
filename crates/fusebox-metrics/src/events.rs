//! [`EventMetrics`]: breaker, retry and store metrics fed from fusebox's events.

use crate::names;
use fusebox_core::sync::{lock, read, write};
use fusebox_core::{Circuit, CircuitState, Event, EventKind, EventListener, HealthStatus};
use metrics::{Counter, Gauge, Label};
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, RwLock};
use tokio::time::Instant;

/// The states in the order of their [`state_code`].
const STATES: [CircuitState; 5] = [
    CircuitState::Closed,
    CircuitState::HalfOpen,
    CircuitState::Open,
    CircuitState::ForcedOpen,
    CircuitState::Disabled,
];

/// The number `fusebox_breaker_state_code` holds for `state`: 0 closed, 1 half-open, 2 open,
/// 3 forced open, 4 disabled (`None` for a state this version does not know).
pub fn state_code(state: CircuitState) -> Option<u8> {
    let index = STATES.iter().position(|s| *s == state)?;
    u8::try_from(index).ok()
}

/// The kinds of `fusebox_breaker_calls_total`.
const SUCCESSFUL: usize = 0;
const FAILED: usize = 1;
const SLOW: usize = 2;
const REJECTED: usize = 3;
const IGNORED: usize = 4;
const CALL_KINDS: [&str; 5] = ["successful", "failed", "slow", "rejected", "ignored"];

/// A listener that turns the [`Event`]s of breakers, keyed breaker sets, retries and
/// shared-state stores into metrics: each breaker's state (a code, and a 0/1 gauge per state
/// of which exactly one is 1), its transitions, the seconds it spent in each state, its calls
/// by kind and the trips it suppressed while disabled; retries by result and budget denials;
/// a store's degraded state and its changes. [`names`] lists them.
///
/// Subscribe one `EventMetrics` (clones share everything) to every component's events.
/// Metric handles come from the recorder installed when a series is first seen. A breaker's
/// state before its first transition is taken to be `closed`, unless [`track`](Self::track)
/// said otherwise. Seconds in the current state are added by [`refresh`](Self::refresh),
/// which an exporter calls before each scrape ([`PrometheusExporter`](crate::PrometheusExporter)
/// does), so an open period shorter than the scrape interval still shows: in the transition
/// counter, and in the open seconds.
///
/// A keyed set's breakers share their set's name. By default their counts are summed under
/// it, without state gauges (no single state describes many breakers); with
/// [`label_keys`](Self::label_keys), each key gets series of its own under a `key` label, state
/// gauges included, up to a cap beyond which keys are counted together under
/// [`OVERFLOW_KEY_LABEL`](names::OVERFLOW_KEY_LABEL).
///
/// ```
/// use fusebox_core::{CircuitState, Event, EventBus, EventKind, TransitionReason};
/// use fusebox_metrics::EventMetrics;
///
/// let bus = EventBus::new();
/// let metrics = EventMetrics::new();
/// let _subscription = bus.subscribe(metrics.clone());
/// bus.emit(|| {
///     Event::new(
///         "payments",
///         EventKind::StateTransition {
///             from: CircuitState::Closed,
///             to: CircuitState::Open,
///             reason: TransitionReason::ProbeFailed,
///         },
///     )
/// });
/// assert_eq!(metrics.state("payments", None), Some(CircuitState::Open));
/// ```
#[derive(Clone, Default)]
pub struct EventMetrics {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    /// The most keys given a label of their own per breaker name; `None`: keys not labelled.
    key_cap: Option<usize>,
    breakers: RwLock<HashMap<String, BreakerSeries>>,
    retries: RwLock<HashMap<String, Arc<RetryHandles>>>,
    stores: RwLock<HashMap<String, Arc<StoreHandles>>>,
    checks: RwLock<HashMap<String, Arc<CheckHandles>>>,
}

impl fmt::Debug for EventMetrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventMetrics")
            .field("key_cap", &self.inner.key_cap)
            .field("breakers", &read(&self.inner.breakers).len())
            .field("retries", &read(&self.inner.retries).len())
            .field("stores", &read(&self.inner.stores).len())
            .finish()
    }
}

/// The series of one breaker name.
struct BreakerSeries {
    /// The breaker's series without a key label: a plain breaker's, or a keyed set's counts
    /// summed when keys are not labelled.
    whole: Option<Arc<BreakerHandles>>,
    /// Labelled keys' series, at most the cap.
    keys: HashMap<String, Arc<BreakerHandles>>,
    /// The keys past the cap, counted together.
    overflow: Option<Arc<BreakerHandles>>,
}

/// One series' handles.
struct BreakerHandles {
    labels: Vec<Label>,
    calls: [Counter; 5],
    /// Resolved on first use: transitions and suppressed trips are rare.
    transitions: Mutex<HashMap<(CircuitState, CircuitState), Counter>>,
    suppressed: Mutex<HashMap<&'static str, Counter>>,
    /// `None` for a series that sums many breakers.
    state: Option<Mutex<StateTrack>>,
}

/// A breaker's state, when it began, and its gauges.
struct StateTrack {
    current: CircuitState,
    /// When the seconds of the current state were last added.
    counted_until: Instant,
    code: Gauge,
    in_state: [Gauge; 5],
    seconds: [Gauge; 5],
}

impl StateTrack {
    fn new(labels: &[Label], current: CircuitState) -> Self {
        let per_state = |name: &'static str| {
            STATES.map(|state| {
                let mut labels = labels.to_vec();
                labels.push(Label::from_static_parts("state", state.as_str()));
                metrics::gauge!(name, labels)
            })
        };
        let track = StateTrack {
            current,
            counted_until: Instant::now(),
            code: metrics::gauge!(names::BREAKER_STATE_CODE, labels.to_vec()),
            in_state: per_state(names::BREAKER_STATE),
            seconds: per_state(names::BREAKER_STATE_SECONDS),
        };
        track.show();
        track
    }

    /// Sets the state gauges to the current state.
    fn show(&self) {
        for (state, gauge) in STATES.iter().zip(&self.in_state) {
            gauge.set(if *state == self.current { 1.0 } else { 0.0 });
        }
        if let Some(code) = state_code(self.current) {
            self.code.set(f64::from(code));
        }
    }

    /// Adds the seconds since they were last added to the current state's.
    fn count_until(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.counted_until);
        self.counted_until = now;
        if let Some(index) = STATES.iter().position(|s| *s == self.current) {
            self.seconds[index].increment(elapsed.as_secs_f64());
        }
    }

    fn enter(&mut self, state: CircuitState, now: Instant) {
        self.count_until(now);
        self.current = state;
        self.show();
    }
}

impl BreakerHandles {
    fn new(labels: Vec<Label>, tracks_state: Option<CircuitState>) -> Self {
        let calls = CALL_KINDS.map(|kind| {
            let mut labels = labels.clone();
            labels.push(Label::from_static_parts("kind", kind));
            metrics::counter!(names::BREAKER_CALLS, labels)
        });
        BreakerHandles {
            state: tracks_state.map(|state| Mutex::new(StateTrack::new(&labels, state))),
            labels,
            calls,
            transitions: Mutex::new(HashMap::new()),
            suppressed: Mutex::new(HashMap::new()),
        }
    }

    fn on_event(&self, kind: &EventKind) {
        match *kind {
            EventKind::CallSucceeded { slow, .. } => self.call(SUCCESSFUL, slow),
            EventKind::CallFailed { slow, .. } => self.call(FAILED, slow),
            EventKind::CallRejected { .. } => self.call(REJECTED, false),
            EventKind::CallIgnored => self.call(IGNORED, false),
            EventKind::StateTransition { from, to, .. } => {
                let counter = lock(&self.transitions)
                    .entry((from, to))
                    .or_insert_with(|| {
                        let mut labels = self.labels.clone();
                        labels.push(Label::from_static_parts("from", from.as_str()));
                        labels.push(Label::from_static_parts("to", to.as_str()));
                        metrics::counter!(names::BREAKER_TRANSITIONS, labels)
                    })
                    .clone();
                counter.increment(1);
                if let Some(state) = &self.state {
                    lock(state).enter(to, Instant::now());
                }
            }
            EventKind::TripSuppressed { reason } => {
                let reason = reason.as_str();
                let counter = lock(&self.suppressed)
                    .entry(reason)
                    .or_insert_with(|| {
                        let mut labels = self.labels.clone();
                        labels.push(Label::from_static_parts("reason", reason));
                        metrics::counter!(names::BREAKER_SUPPRESSED_TRIPS, labels)
                    })
                    .clone();
                counter.increment(1);
            }
            _ => {}
        }
    }

    #[inline]
    fn call(&self, kind: usize, slow: bool) {
        self.calls[kind].increment(1);
        if slow {
            self.calls[SLOW].increment(1);
        }
    }
}

/// A retry layer's handles.
struct RetryHandles {
    name: String,
    retries: Counter,
    budget_denied: Counter,
    /// By result, resolved on first use.
    results: Mutex<HashMap<&'static str, Counter>>,
}

impl RetryHandles {
    fn new(name: &str) -> Self {
        let labels = || vec![Label::new(names::RETRY_LABEL, name.to_owned())];
        RetryHandles {
            name: name.to_owned(),
            retries: metrics::counter!(names::RETRIES, labels()),
            budget_denied: metrics::counter!(names::RETRY_BUDGET_DENIED, labels()),
            results: Mutex::new(HashMap::new()),
        }
    }

    fn result(&self, result: &'static str) {
        let counter = lock(&self.results)
            .entry(result)
            .or_insert_with(|| {
                metrics::counter!(
                    names::RETRY_CALLS,
                    names::RETRY_LABEL => self.name.clone(),
                    "result" => result,
                )
            })
            .clone();
        counter.increment(1);
    }
}

/// A store's handles.
struct StoreHandles {
    degraded: Gauge,
    pending_calls: Gauge,
    pending_transitions: Gauge,
    to_degraded: Counter,
    to_recovered: Counter,
}

impl StoreHandles {
    fn new(name: &str) -> Self {
        let transitions = |to: &'static str| {
            metrics::counter!(
                names::STORE_TRANSITIONS,
                names::STORE_LABEL => name.to_owned(),
                "to" => to,
            )
        };
        let degraded =
            metrics::gauge!(names::STORE_DEGRADED, names::STORE_LABEL => name.to_owned());
        degraded.set(0.0);
        let pending = |what: &'static str| {
            let gauge = metrics::gauge!(
                names::STORE_PENDING,
                names::STORE_LABEL => name.to_owned(),
                "kind" => what,
            );
            gauge.set(0.0);
            gauge
        };
        StoreHandles {
            degraded,
            pending_calls: pending("calls"),
            pending_transitions: pending("transitions"),
            to_degraded: transitions("degraded"),
            to_recovered: transitions("recovered"),
        }
    }
}

/// A health check's handles.
struct CheckHandles {
    status: Gauge,
    score: Gauge,
    duration: metrics::Histogram,
    changes: [Counter; 3],
}

impl CheckHandles {
    fn new(name: &str) -> Self {
        let change = |to: HealthStatus| {
            metrics::counter!(
                names::HEALTH_CHANGES,
                names::CHECK_LABEL => name.to_owned(),
                "to" => to.as_str(),
            )
        };
        CheckHandles {
            status: metrics::gauge!(names::HEALTH_STATUS, names::CHECK_LABEL => name.to_owned()),
            score: metrics::gauge!(names::HEALTH_SCORE, names::CHECK_LABEL => name.to_owned()),
            duration: metrics::histogram!(
                names::HEALTH_CHECK_DURATION,
                names::CHECK_LABEL => name.to_owned()
            ),
            changes: [
                change(HealthStatus::Pass),
                change(HealthStatus::Warn),
                change(HealthStatus::Fail),
            ],
        }
    }
}

/// A health status as a gauge's value: 0 pass, 1 warn, 2 fail.
fn health_code(status: HealthStatus) -> usize {
    match status {
        HealthStatus::Pass => 0,
        HealthStatus::Warn => 1,
        HealthStatus::Fail => 2,
    }
}

/// Whether `kind` is something a breaker emits.
fn from_breaker(kind: &EventKind) -> bool {
    matches!(
        kind,
        EventKind::CallSucceeded { .. }
            | EventKind::CallFailed { .. }
            | EventKind::CallIgnored
            | EventKind::CallRejected { .. }
            | EventKind::StateTransition { .. }
            | EventKind::TripSuppressed { .. }
    )
}

impl EventMetrics {
    /// Metrics with keys not labelled.
    pub fn new() -> Self {
        Self::default()
    }

    /// Metrics that label each key of a keyed breaker set, up to `cap` keys per set; keys past
    /// the cap are counted together under [`OVERFLOW_KEY_LABEL`](names::OVERFLOW_KEY_LABEL).
    /// Each labelled key adds a dozen series: keep the cap to what a dashboard can show.
    pub fn label_keys(cap: usize) -> Self {
        EventMetrics {
            inner: Arc::new(Inner {
                key_cap: Some(cap),
                ..Inner::default()
            }),
        }
    }

    /// Starts the series of `circuit` in its present state, so its state gauges are right
    /// before its first transition (a breaker built disabled, say).
    pub fn track(&self, circuit: &dyn Circuit) {
        self.series(circuit.name(), circuit.key(), Some(circuit.state()));
    }

    /// A listener for the events of one breaker, `circuit`, whose series it starts in the
    /// circuit's present state (as [`track`](Self::track) does) and holds: its call events
    /// then record without looking the series up by name. Events of another source go
    /// through these metrics as usual.
    ///
    /// ```
    /// use fusebox_core::{Circuit, CircuitState, Event, EventBus, EventKind};
    /// use fusebox_metrics::EventMetrics;
    ///
    /// struct Payments;
    /// impl Circuit for Payments {
    ///     fn name(&self) -> &str { "payments" }
    ///     fn state(&self) -> CircuitState { CircuitState::Closed }
    /// }
    ///
    /// let metrics = EventMetrics::new();
    /// let bus = EventBus::new();
    /// let _subscription = bus.subscribe(metrics.for_circuit(&Payments));
    /// bus.emit(|| Event::new("payments", EventKind::CallIgnored));
    /// assert_eq!(metrics.state("payments", None), Some(CircuitState::Closed));
    /// ```
    pub fn for_circuit(&self, circuit: &dyn Circuit) -> CircuitMetrics {
        CircuitMetrics {
            series: self.series(circuit.name(), circuit.key(), Some(circuit.state())),
            name: circuit.name().to_owned(),
            key: circuit.key().map(str::to_owned),
            all: self.clone(),
        }
    }

    /// The state the metrics show for the breaker `name` (and `key`), if they track one.
    pub fn state(&self, name: &str, key: Option<&str>) -> Option<CircuitState> {
        let breakers = read(&self.inner.breakers);
        let series = breakers.get(name)?;
        let handles = match key {
            None => series.whole.as_ref()?,
            Some(key) => series.keys.get(key)?,
        };
        let current = lock(handles.state.as_ref()?).current;
        Some(current)
    }

    /// Adds, to each breaker's seconds in its current state, the time since they were last
    /// added: call it before the metrics are read (an exporter does, before each scrape).
    pub fn refresh(&self) {
        let now = Instant::now();
        let breakers = read(&self.inner.breakers);
        for series in breakers.values() {
            let handles = series.whole.iter().chain(series.keys.values());
            for state in handles.filter_map(|h| h.state.as_ref()) {
                lock(state).count_until(now);
            }
        }
    }

    /// The handles of a breaker's series, made on first sight (in `initial` state when the
    /// series has a state of its own; closed if `None`).
    fn series(
        &self,
        name: &str,
        key: Option<&str>,
        initial: Option<CircuitState>,
    ) -> Arc<BreakerHandles> {
        if let Some(found) = read(&self.inner.breakers)
            .get(name)
            .and_then(|series| self.pick(series, key))
        {
            return found;
        }
        let mut breakers = write(&self.inner.breakers);
        let series = breakers
            .entry(name.to_owned())
            .or_insert_with(|| BreakerSeries {
                whole: None,
                keys: HashMap::new(),
                overflow: None,
            });
        if let Some(found) = self.pick(series, key) {
            return found;
        }
        let mut labels = vec![Label::new(names::BREAKER_LABEL, name.to_owned())];
        let initial = initial.unwrap_or(CircuitState::Closed);
        let made = match (key, self.inner.key_cap) {
            (None, _) => series
                .whole
                .insert(Arc::new(BreakerHandles::new(labels, Some(initial)))),
            (Some(_), None) => series
                .whole
                .insert(Arc::new(BreakerHandles::new(labels, None))),
            (Some(key), Some(cap)) if series.keys.len() < cap => {
                labels.push(Label::new(names::KEY_LABEL, key.to_owned()));
                series
                    .keys
                    .entry(key.to_owned())
                    .or_insert_with(|| Arc::new(BreakerHandles::new(labels, Some(initial))))
            }
            (Some(_), Some(_)) => {
                labels.push(Label::from_static_parts(
                    names::KEY_LABEL,
                    names::OVERFLOW_KEY_LABEL,
                ));
                series
                    .overflow
                    .get_or_insert_with(|| Arc::new(BreakerHandles::new(labels, None)))
            }
        };
        made.clone()
    }

    /// The existing series an event of `key` belongs to.
    fn pick(&self, series: &BreakerSeries, key: Option<&str>) -> Option<Arc<BreakerHandles>> {
        match (key, self.inner.key_cap) {
            (None, _) | (Some(_), None) => series.whole.clone(),
            (Some(key), Some(cap)) => match series.keys.get(key) {
                Some(found) => Some(found.clone()),
                None if series.keys.len() >= cap => series.overflow.clone(),
                None => None,
            },
        }
    }

    fn retry(&self, name: &str) -> Arc<RetryHandles> {
        if let Some(found) = read(&self.inner.retries).get(name) {
            return found.clone();
        }
        write(&self.inner.retries)
            .entry(name.to_owned())
            .or_insert_with(|| Arc::new(RetryHandles::new(name)))
            .clone()
    }

    fn check(&self, name: &str) -> Arc<CheckHandles> {
        if let Some(found) = read(&self.inner.checks).get(name) {
            return found.clone();
        }
        write(&self.inner.checks)
            .entry(name.to_owned())
            .or_insert_with(|| Arc::new(CheckHandles::new(name)))
            .clone()
    }

    fn store(&self, name: &str) -> Arc<StoreHandles> {
        if let Some(found) = read(&self.inner.stores).get(name) {
            return found.clone();
        }
        write(&self.inner.stores)
            .entry(name.to_owned())
            .or_insert_with(|| Arc::new(StoreHandles::new(name)))
            .clone()
    }
}

/// The listener of one breaker's events, its series held; from [`EventMetrics::for_circuit`].
#[derive(Clone)]
pub struct CircuitMetrics {
    series: Arc<BreakerHandles>,
    name: String,
    key: Option<String>,
    all: EventMetrics,
}

impl fmt::Debug for CircuitMetrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitMetrics")
            .field("name", &self.name)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl EventListener for CircuitMetrics {
    fn on_event(&self, event: &Event<'_>) {
        if from_breaker(&event.kind)
            && event.source == self.name
            && event.key == self.key.as_deref()
        {
            self.series.on_event(&event.kind);
        } else {
            self.all.on_event(event);
        }
    }
}

impl EventListener for EventMetrics {
    fn on_event(&self, event: &Event<'_>) {
        match event.kind {
            // A series first seen through a transition starts closed and enters the new state
            // at once: no time passes in between, so its gauges and seconds are the same as
            // if it had started in the state the transition leaves.
            ref kind if from_breaker(kind) => {
                self.series(event.source, event.key, None).on_event(kind);
            }
            EventKind::RetryScheduled { .. } => self.retry(event.source).retries.increment(1),
            EventKind::RetryDenied { .. } => self.retry(event.source).budget_denied.increment(1),
            EventKind::RetrySucceeded { .. } => {
                self.retry(event.source).result("succeeded_after_retry");
            }
            EventKind::RetryGaveUp { reason, .. } => {
                self.retry(event.source).result(reason.as_str());
            }
            EventKind::StoreDegraded => {
                let store = self.store(event.source);
                store.degraded.set(1.0);
                store.to_degraded.increment(1);
            }
            EventKind::StoreRecovered => {
                let store = self.store(event.source);
                store.degraded.set(0.0);
                store.to_recovered.increment(1);
            }
            EventKind::StorePending { calls, transitions } => {
                let store = self.store(event.source);
                store.pending_calls.set(calls as f64);
                store.pending_transitions.set(transitions as f64);
            }
            EventKind::HealthProbed {
                status,
                latency,
                score,
            } => {
                let check = self.check(event.source);
                check.status.set(health_code(status) as f64);
                check.score.set(f64::from(score));
                check.duration.record(latency.as_secs_f64());
            }
            EventKind::HealthChanged { to, .. } => {
                self.check(event.source).changes[health_code(to)].increment(1);
            }
            _ => {}
        }
    }
}
