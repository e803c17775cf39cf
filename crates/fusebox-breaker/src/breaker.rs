use crate::config::{BreakerBuilder, Config, OpenDuration, WindowKind};
use crate::error::CircuitOpen;
use crate::machine::{Admission, Handle, Shared, Ticket, Transition, WeakHandle};
use crate::stats::Layout;
use fusebox_core::{
    CircuitState, EventBus, EventListener, Outcome, Subscription, TransitionReason,
};
use std::fmt;
use std::time::Duration;

/// A circuit breaker: a cheap-to-clone handle to one shared state machine.
///
/// Clones share state, so one `Breaker` can guard several services, be kept by an admin
/// endpoint for manual control, and be read for metrics. Wrap a service with
/// [`CircuitBreakerLayer`](crate::CircuitBreakerLayer), or use [`try_acquire`](Self::try_acquire)
/// directly around any call.
///
/// ```
/// use fusebox_breaker::{Breaker, CircuitState};
/// use fusebox_core::Outcome;
///
/// let breaker = Breaker::builder("telephony").consecutive_failures(2).build()?;
/// for _ in 0..2 {
///     let permit = breaker.try_acquire().expect("closed breakers admit calls");
///     permit.record(Outcome::retryable_failure());
/// }
/// assert_eq!(breaker.state(), CircuitState::Open);
/// let open = breaker.try_acquire().unwrap_err();
/// assert_eq!(open.name(), "telephony");
///
/// breaker.reset();
/// assert!(breaker.try_acquire().is_ok());
/// # Ok::<(), fusebox_breaker::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct Breaker {
    pub(crate) shared: Handle,
}

impl fmt::Debug for Breaker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Breaker")
            .field("name", &self.name())
            .field("state", &self.state())
            .finish_non_exhaustive()
    }
}

impl Breaker {
    /// Starts building a breaker named `name` (used in errors, events, logs and metrics).
    pub fn builder(name: impl Into<String>) -> BreakerBuilder {
        BreakerBuilder::new(name.into())
    }

    pub(crate) fn from_parts(name: String, config: Config, events: EventBus) -> Breaker {
        Breaker {
            shared: Handle::counted(Shared::unkeyed(name, config, events)),
        }
    }

    /// A breaker of a keyed set: `layout` is [`Layout::Single`] for the one-per-key breakers,
    /// so a set of many keys costs the same per key on any machine.
    pub(crate) fn from_parts_keyed(
        name: String,
        key: Option<(Box<str>, &'static str)>,
        overflow: bool,
        config: Config,
        events: EventBus,
        set_transitions: EventBus,
        layout: Layout,
    ) -> Breaker {
        Breaker {
            shared: Handle::counted(Shared::new(
                name,
                key,
                overflow,
                config,
                events,
                Some(set_transitions),
                layout,
            )),
        }
    }

    pub(crate) fn from_parts_static(name: String, config: Config, events: EventBus) -> Breaker {
        Breaker {
            shared: Handle::leaked(Shared::unkeyed(name, config, events)),
        }
    }

    /// Whether `other` is this same breaker (a clone of this handle), not merely one with the
    /// same name.
    pub fn same_as(&self, other: &Breaker) -> bool {
        std::ptr::eq::<Shared>(&*self.shared, &*other.shared)
    }

    /// A reference that does not keep the breaker alive.
    pub fn downgrade(&self) -> WeakBreaker {
        WeakBreaker {
            handle: self.shared.downgrade(),
        }
    }

    /// Whether this breaker lives for the rest of the process
    /// ([`BreakerBuilder::build_static`]).
    pub fn is_static(&self) -> bool {
        self.shared.is_static()
    }

    /// The breaker's name.
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// The key (tenant, route, host) of a breaker made by a keyed layer.
    pub fn key(&self) -> Option<&str> {
        self.shared.key.as_deref()
    }

    /// Which breaker of its family this is: a plain one, or a keyed set's breaker for one key,
    /// for requests without a key, or for new keys once the set is full. A shared-state store
    /// names breakers by it, so that a tenant literally called
    /// [`OVERFLOW_KEY`](crate::OVERFLOW_KEY) does not share the overflow breaker's state.
    ///
    /// ```
    /// use fusebox_breaker::{Breaker, Role, OVERFLOW_KEY};
    ///
    /// let tenants = Breaker::builder("calendar").keyed().build()?;
    /// assert_eq!(tenants.get("acme").role(), Role::Key("acme"));
    /// assert_eq!(tenants.get(OVERFLOW_KEY).role(), Role::Key(OVERFLOW_KEY));
    /// assert_eq!(tenants.overflow().role(), Role::Overflow);
    /// assert_eq!(tenants.unkeyed().role(), Role::Keyless);
    /// assert_eq!(Breaker::builder("email").build()?.role(), Role::Plain);
    /// # Ok::<(), fusebox_breaker::ConfigError>(())
    /// ```
    pub fn role(&self) -> Role<'_> {
        let s = &self.shared;
        match (&s.key, s.overflow, s.in_keyed_set()) {
            (_, true, _) => Role::Overflow,
            (Some(key), false, _) => Role::Key(key),
            (None, false, true) => Role::Keyless,
            (None, false, false) => Role::Plain,
        }
    }

    /// What the key is (`"tenant_id"`, `"route"`; `"key"` unless the keyed layer says).
    pub fn key_label(&self) -> &'static str {
        self.shared.key_label
    }

    /// Like [`try_acquire`](Self::try_acquire), consuming this handle instead of cloning it.
    #[inline]
    pub(crate) fn try_acquire_owned(self) -> Result<Permit, CircuitOpen> {
        match Shared::acquire(&self.shared) {
            Ok(ticket) => Ok(Permit {
                breaker: self,
                ticket,
                recorded: false,
            }),
            Err(refusal) => Err(CircuitOpen::new(self, refusal)),
        }
    }

    /// The current state.
    pub fn state(&self) -> CircuitState {
        self.shared.state()
    }

    /// Asks to make one call. On success, record the call's outcome on the returned [`Permit`];
    /// a permit dropped without an outcome counts as ignored (a cancelled call) and frees its
    /// half-open probe slot.
    #[inline]
    pub fn try_acquire(&self) -> Result<Permit, CircuitOpen> {
        match Shared::acquire(&self.shared) {
            Ok(ticket) => Ok(Permit {
                breaker: self.clone(),
                ticket,
                recorded: false,
            }),
            Err(refusal) => Err(CircuitOpen::new(self.clone(), refusal)),
        }
    }

    /// Closes the breaker and clears its counts, from any state (also ends
    /// [`disable`](Self::disable) and [`force_open`](Self::force_open)).
    pub fn reset(&self) {
        Shared::force(&self.shared, CircuitState::Closed, TransitionReason::Reset);
    }

    /// Rejects every call until [`reset`](Self::reset).
    pub fn force_open(&self) {
        Shared::force(
            &self.shared,
            CircuitState::ForcedOpen,
            TransitionReason::ForcedOpen,
        );
    }

    /// Lets every call through and keeps counting outcomes, but never trips, until
    /// [`reset`](Self::reset).
    ///
    /// The trip policies still run: when one fires, the breaker emits
    /// [`EventKind::TripSuppressed`](fusebox_core::EventKind::TripSuppressed), logs a warning,
    /// counts it in [`BreakerMetrics::suppressed_trips`] and starts counting again. A new
    /// breaker can so be tried on live traffic, to see when it would open, before it rejects
    /// anything:
    ///
    /// ```
    /// use fusebox_breaker::Breaker;
    ///
    /// let breaker = Breaker::builder("payments").consecutive_failures(3).build()?;
    /// breaker.disable();
    /// for _ in 0..3 {
    ///     breaker.try_acquire()?.failure(); // never rejected
    /// }
    /// assert_eq!(breaker.metrics().suppressed_trips, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn disable(&self) {
        Shared::force(
            &self.shared,
            CircuitState::Disabled,
            TransitionReason::Disabled,
        );
    }

    /// Applies a state decided elsewhere (another instance, through a shared store): `Open`
    /// starts a normal open period, `Closed` clears the counts, `HalfOpen` admits probes. A
    /// state the breaker is already in changes nothing: no transition, no cleared counts.
    ///
    /// This is the seam a shared state store uses; local decisions keep working without it.
    /// Outcomes stay local; a store batches them by differencing [`metrics`](Self::metrics)
    /// snapshots, whose lifetime counters only grow.
    pub fn apply_remote_state(&self, state: CircuitState) {
        if self.state() == state {
            return;
        }
        Shared::force(&self.shared, state, TransitionReason::Remote);
    }

    /// Opens the breaker for `remaining`, as decided elsewhere (a shared store that keeps the
    /// open-until time on its own clock and sends what is left of it). A breaker already open
    /// stays open until the later of its own deadline and this one, with no new transition:
    /// when another instance reopened the fleet's circuit, this one does not probe early.
    pub fn apply_remote_open(&self, remaining: Duration) {
        if !Shared::extend_open(&self.shared, remaining) {
            Shared::force_for(
                &self.shared,
                CircuitState::Open,
                TransitionReason::Remote,
                Some(remaining),
            );
        }
    }

    /// For shared-state stores: when on, an open period ends with the breaker still open,
    /// rejecting calls, and an [`EventKind::ProbeRequested`](fusebox_core::EventKind) to its
    /// [transition listeners](Self::on_transition); the store answers with
    /// [`grant_probes`](Self::grant_probes) (this instance probes: it goes half-open) or
    /// [`defer_probe`](Self::defer_probe) (another does: it stays open). An answer that does
    /// not come within the half-open maximum wait is asked for again. Turning the gate off
    /// lets a breaker that waits for an answer probe on its own.
    pub fn gate_probes(&self, on: bool) {
        Shared::set_probe_gate(&self.shared, on);
    }

    /// This instance probes: a breaker whose open period ended and that waits for its store's
    /// answer goes half-open. `false` if it was not waiting (it closed or reopened meanwhile).
    pub fn grant_probes(&self) -> bool {
        Shared::grant_probes(&self.shared)
    }

    /// Another instance probes: a breaker that waits for its store's answer stays open for
    /// `wait` more, with no transition, and asks again then, unless the prober's result
    /// reaches it first. `false` if it was not waiting (a late answer changes nothing).
    pub fn defer_probe(&self, wait: Duration) -> bool {
        Shared::defer_probe(&self.shared, wait)
    }

    /// The longest the breaker waits in half-open before reopening.
    pub fn half_open_max_wait(&self) -> Duration {
        self.shared.config.half_open_max_wait
    }

    /// Listens to this breaker's state transitions only, whatever their cause (reason
    /// [`TransitionReason::Remote`] marks those applied from elsewhere). Unlike
    /// [`subscribe`](Self::subscribe), it does not make calls build events, so a shared-state
    /// store can follow local decisions at no cost to the hot path.
    pub fn on_transition(&self, listener: impl EventListener) -> Subscription {
        self.shared.transitions.subscribe(listener)
    }

    /// Listens to this breaker's events until the returned [`Subscription`] is dropped.
    ///
    /// ```
    /// use fusebox_breaker::Breaker;
    /// use fusebox_core::{Event, EventKind};
    /// use std::sync::{Arc, Mutex};
    ///
    /// let breaker = Breaker::builder("email").consecutive_failures(1).build()?;
    /// let transitions = Arc::new(Mutex::new(Vec::new()));
    /// let seen = transitions.clone();
    /// let _subscription = breaker.subscribe(move |e: &Event<'_>| {
    ///     if let EventKind::StateTransition { to, reason, .. } = e.kind {
    ///         seen.lock().unwrap().push(format!("{to}: {reason}"));
    ///     }
    /// });
    /// breaker.try_acquire().unwrap().failure();
    /// assert_eq!(*transitions.lock().unwrap(), ["open: 1 consecutive failures"]);
    /// # Ok::<(), fusebox_breaker::ConfigError>(())
    /// ```
    pub fn subscribe(&self, listener: impl EventListener) -> Subscription {
        self.shared.events.subscribe(listener)
    }

    /// A snapshot of the counters, the window and the state.
    pub fn metrics(&self) -> BreakerMetrics {
        let s = &self.shared;
        let totals = s.stats.totals();
        let window = s.window_counts().map(|c| WindowMetrics {
            calls: c.calls,
            failures: c.failures,
            slow_calls: c.slow,
        });
        BreakerMetrics {
            state: s.state(),
            calls: totals.successes + totals.failures + totals.ignored,
            successes: totals.successes,
            failures: totals.failures,
            slow_calls: totals.slow,
            ignored: totals.ignored,
            rejections: totals.rejections,
            consecutive_failures: s.consecutive_failures(),
            window,
            trips: s.trips(),
            suppressed_trips: s.suppressed_trips(),
            time_in_state: s.time_in_state(),
            open_until: s.open_until(),
            last_transition: s.last_transition(),
        }
    }

    /// Time left in the current open period; `None` unless the breaker is open. Cheaper than
    /// [`metrics`](Self::metrics), which sums every counter.
    pub fn open_remaining(&self) -> Option<Duration> {
        self.shared
            .open_until()
            .map(|until| until.saturating_duration_since(tokio::time::Instant::now()))
    }

    /// Ends the open period now if its deadline has passed (reading the clock once). The
    /// breaker's timer does this on its own; a caller that waited until
    /// [`CircuitOpen::retry_at`] calls it before calling again, so that it does not race the
    /// timer due at the same instant (fusebox's retry does).
    pub fn end_open_period_if_due(&self) {
        Shared::end_open_period_if_due(&self.shared);
    }

    /// The open duration after the first trip.
    pub fn open_duration(&self) -> OpenDuration {
        self.shared.config.open
    }

    /// The sliding window, if a rate policy is configured.
    pub fn window(&self) -> Option<WindowKind> {
        self.shared.config.window
    }

    /// The failure-rate threshold, if a failure-rate policy is configured.
    pub fn failure_rate_threshold(&self) -> Option<f64> {
        self.shared.config.failure_rate
    }

    /// The minimum number of calls before a rate may trip.
    pub fn min_calls(&self) -> u32 {
        self.shared.config.min_calls
    }
}

/// Which breaker of its family a breaker is, from [`Breaker::role`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Role<'a> {
    /// A breaker of its own, outside any keyed set.
    Plain,
    /// A keyed set's breaker for this key.
    Key(&'a str),
    /// A keyed set's breaker for requests that have no key.
    Keyless,
    /// The breaker a full keyed set shares among new keys (its key reads
    /// [`OVERFLOW_KEY`](crate::OVERFLOW_KEY)).
    Overflow,
}

/// A reference to a breaker that does not keep it alive: what a shared-state store holds, so
/// that a keyed set can still evict idle breakers.
#[derive(Clone)]
pub struct WeakBreaker {
    handle: WeakHandle,
}

impl fmt::Debug for WeakBreaker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WeakBreaker").finish_non_exhaustive()
    }
}

impl WeakBreaker {
    /// The breaker, if it still exists.
    pub fn upgrade(&self) -> Option<Breaker> {
        self.handle.upgrade().map(|shared| Breaker { shared })
    }
}

/// Shares breaker state beyond this process. A store is told of each breaker to share
/// ([`attach`](Self::attach)) and then works through the breaker's public seams only:
/// [`Breaker::on_transition`] to hear local decisions, the monotonic counters of
/// [`Breaker::metrics`] to send outcome deltas, [`Breaker::apply_remote_state`] /
/// [`Breaker::apply_remote_open`] for decisions made elsewhere, and
/// [`Breaker::gate_probes`] / [`Breaker::grant_probes`] for one probe per cluster. Nothing of
/// it runs on the path of a call.
///
/// [`KeyedBreakers`](crate::KeyedBreakers) and [`BreakerRegistry`](crate::BreakerRegistry)
/// attach every breaker they make to their store. The in-process default, [`LocalState`],
/// shares nothing.
///
/// ```
/// use fusebox_breaker::{Breaker, StateStore};
/// use std::sync::{Arc, Mutex};
///
/// /// Keeps a list of the breakers it was given (a real store would start sharing them).
/// #[derive(Clone, Default)]
/// struct Roster(Arc<Mutex<Vec<String>>>);
///
/// impl StateStore for Roster {
///     fn attach(&self, breaker: &Breaker) {
///         let key = breaker.key().unwrap_or("-");
///         self.0.lock().unwrap().push(format!("{}/{key}", breaker.name()));
///     }
/// }
///
/// let roster = Roster::default();
/// let tenants = Breaker::builder("calendar").keyed().store(roster.clone()).build()?;
/// tenants.get("acme");
/// tenants.get("acme");
/// assert_eq!(
///     *roster.0.lock().unwrap(),
///     ["calendar/(overflow)", "calendar/-", "calendar/acme"],
///     "the overflow and unkeyed breakers, then each key once"
/// );
/// # Ok::<(), fusebox_breaker::ConfigError>(())
/// ```
pub trait StateStore: Send + Sync + 'static {
    /// Starts sharing `breaker`'s state. Called once per breaker.
    fn attach(&self, breaker: &Breaker);
}

/// The default store: every breaker decides alone, in this process.
#[derive(Clone, Copy, Debug, Default)]
pub struct LocalState;

impl StateStore for LocalState {
    fn attach(&self, _: &Breaker) {}
}

/// Permission to make one call, from [`Breaker::try_acquire`]. Record the outcome with
/// [`record`](Self::record); dropping it unrecorded counts the call as ignored.
#[must_use = "record the call's outcome, or the call counts as ignored"]
pub struct Permit {
    breaker: Breaker,
    ticket: Ticket,
    recorded: bool,
}

impl fmt::Debug for Permit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit")
            .field("breaker", &self.breaker.name())
            .field("probe", &self.is_probe())
            .finish()
    }
}

impl Permit {
    /// Records the call's outcome.
    #[inline]
    pub fn record(mut self, outcome: Outcome) {
        self.finish(outcome);
    }

    /// Records the outcome in place, once; later calls do nothing. Used by futures that keep
    /// the permit in their own state rather than moving it out.
    #[inline(always)]
    pub(crate) fn finish(&mut self, outcome: Outcome) {
        if !self.recorded {
            self.recorded = true;
            Shared::record(&self.breaker.shared, self.ticket, outcome);
        }
    }

    /// Records a success.
    pub fn success(self) {
        self.record(Outcome::Success);
    }

    /// Records a (retryable) failure.
    pub fn failure(self) {
        self.record(Outcome::retryable_failure());
    }

    /// Whether this call is a half-open probe.
    pub fn is_probe(&self) -> bool {
        self.ticket.admission == Admission::Probe
    }

    /// The breaker that issued this permit.
    pub fn breaker(&self) -> &Breaker {
        &self.breaker
    }
}

impl Drop for Permit {
    #[inline]
    fn drop(&mut self) {
        if !self.recorded {
            Shared::record(&self.breaker.shared, self.ticket, Outcome::Ignored);
        }
    }
}

/// Counts in the sliding window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct WindowMetrics {
    /// Calls in the window.
    pub calls: u64,
    /// Failures in the window.
    pub failures: u64,
    /// Slow calls in the window.
    pub slow_calls: u64,
}

impl WindowMetrics {
    /// Failures over calls, `0.0` for an empty window.
    pub fn failure_rate(&self) -> f64 {
        ratio(self.failures, self.calls)
    }

    /// Slow calls over calls, `0.0` for an empty window.
    pub fn slow_call_rate(&self) -> f64 {
        ratio(self.slow_calls, self.calls)
    }
}

fn ratio(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

/// A snapshot of a breaker, from [`Breaker::metrics`]. Lifetime counters only grow.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct BreakerMetrics {
    /// State when the snapshot was taken.
    pub state: CircuitState,
    /// Calls admitted and completed (successes + failures + ignored).
    pub calls: u64,
    /// Calls classified as successes.
    pub successes: u64,
    /// Calls classified as failures.
    pub failures: u64,
    /// Calls slower than the slow-call threshold (only measured when one is set).
    pub slow_calls: u64,
    /// Calls classified as ignored or cancelled.
    pub ignored: u64,
    /// Calls rejected without reaching the dependency.
    pub rejections: u64,
    /// Failures in a row right now.
    pub consecutive_failures: u32,
    /// The sliding window, if a rate policy is configured.
    pub window: Option<WindowMetrics>,
    /// Trips since the breaker last closed.
    pub trips: u32,
    /// Times a trip policy fired while the breaker was disabled: it would have opened
    /// (see [`EventKind::TripSuppressed`](fusebox_core::EventKind::TripSuppressed)).
    pub suppressed_trips: u64,
    /// Time since the last transition (since creation if none).
    pub time_in_state: Duration,
    /// When the current open period ends, if open.
    pub open_until: Option<tokio::time::Instant>,
    /// The most recent transition and its reason.
    pub last_transition: Option<Transition>,
}

impl BreakerMetrics {
    /// The failure rate over the window, or over the breaker's lifetime when it has no window.
    pub fn failure_rate(&self) -> f64 {
        match self.window {
            Some(w) => w.failure_rate(),
            None => ratio(self.failures, self.successes + self.failures),
        }
    }
}
