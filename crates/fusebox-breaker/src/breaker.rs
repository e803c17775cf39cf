use crate::config::{Config, OpenDuration, WindowKind};
use crate::machine::{Admission, Handle, Refusal, Shared, Slot, Ticket, Transition};
use crate::stats::Layout;
use fusebox_core::{
    CircuitOpen, CircuitRef, CircuitState, EventBus, EventListener, Outcome, StateStore, StoredRef,
    Subscription, TransitionReason,
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
    pub(crate) fn from_parts(name: String, config: Config, events: EventBus) -> Breaker {
        Breaker {
            shared: Shared::share(Shared::unkeyed(name, config, events), false),
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
            shared: Shared::share(
                Shared::new(
                    name,
                    key,
                    overflow,
                    config,
                    events,
                    Some(set_transitions),
                    layout,
                ),
                false,
            ),
        }
    }

    pub(crate) fn from_parts_static(name: String, config: Config, events: EventBus) -> Breaker {
        Breaker {
            shared: Shared::share(Shared::unkeyed(name, config, events), true),
        }
    }

    /// Whether `other` is this same breaker (a clone of this handle), not merely one with the
    /// same name.
    pub(crate) fn same_as(&self, other: &Breaker) -> bool {
        self.shared.ptr_eq(&other.shared)
    }

    /// Starts sharing this breaker's state through `store`, as
    /// [`BreakerBuilder::store`](crate::BreakerBuilder::store) does for a breaker it builds. Attaching it to the same store
    /// twice does nothing. Calls through the breaker never wait for the store.
    ///
    /// ```
    /// use fusebox_breaker::Breaker;
    /// use fusebox_core::{StateStore, StoredRef};
    /// use std::sync::{Arc, Mutex};
    ///
    /// #[derive(Clone, Default)]
    /// struct Roster(Arc<Mutex<Vec<String>>>);
    ///
    /// impl StateStore for Roster {
    ///     fn attach(&self, circuit: &StoredRef) {
    ///         self.0.lock().unwrap().push(circuit.name().to_owned());
    ///     }
    /// }
    ///
    /// let roster = Roster::default();
    /// let payments = Breaker::builder("payments").build()?;
    /// payments.share_with(&roster);
    /// assert_eq!(*roster.0.lock().unwrap(), ["payments"]);
    /// # Ok::<(), fusebox_breaker::ConfigError>(())
    /// ```
    pub fn share_with(&self, store: &(impl StateStore + ?Sized)) {
        store.attach(&self.stored());
    }

    /// This breaker as a state store sees it.
    pub(crate) fn stored(&self) -> StoredRef {
        match &self.shared {
            Handle::Counted(shared) => fusebox_core::Handle::Counted(shared.clone()),
            Handle::Static(shared) => fusebox_core::Handle::Static(*shared),
        }
    }

    /// Whether this breaker lives for the rest of the process
    /// ([`BreakerBuilder::build_static`](crate::BreakerBuilder::build_static)).
    pub fn is_static(&self) -> bool {
        self.shared.is_static()
    }

    /// The breaker's name.
    pub fn name(&self) -> &str {
        &self.shared.ident.name
    }

    /// The key (tenant, route, host) of a breaker made by a keyed layer.
    pub fn key(&self) -> Option<&str> {
        self.shared.ident.key.as_deref()
    }

    /// A permit if the breaker is closed (or disabled): the admission that reads one word and
    /// runs no listener, which a keyed set makes while it holds a lock. `None` otherwise: ask
    /// [`try_acquire`](Self::try_acquire).
    #[inline]
    pub(crate) fn try_acquire_closed(&self) -> Option<Permit> {
        Shared::acquire_closed(&self.shared).map(|ticket| Permit {
            slot: self.shared.slot,
            ticket,
        })
    }

    /// The rejection `refusal` stands for, holding this handle.
    #[inline]
    fn rejection(self, refusal: Refusal) -> CircuitOpen {
        // The deadline stays an offset from the breaker's epoch until someone asks for it.
        let open = CircuitOpen::at_offset(CircuitRef::from(self), refusal.state, refusal.retry_at);
        if refusal.awaits_probe {
            open.awaiting_probe()
        } else {
            open
        }
    }

    /// The current state.
    pub fn state(&self) -> CircuitState {
        self.shared.state()
    }

    /// Asks to make one call. On success, record the call's outcome on the returned [`Permit`];
    /// a permit dropped without an outcome counts as ignored (a cancelled call) and frees its
    /// half-open probe slot.
    #[inline(always)]
    pub fn try_acquire(&self) -> Result<Permit, CircuitOpen> {
        match Shared::acquire(&self.shared) {
            Ok(ticket) => Ok(Permit {
                slot: self.shared.slot,
                ticket,
            }),
            Err(refusal) => Err(self.clone().rejection(refusal)),
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

    /// Listens to this breaker's transitions only, until the returned [`Subscription`] is
    /// dropped: calls build no event for it, so they stay as cheap as with no listener
    /// (fusebox-metrics' `History` needs no more).
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
        self.shared.ident.events.subscribe(listener)
    }

    /// A snapshot of the counters, the window and the state.
    pub fn metrics(&self) -> BreakerMetrics {
        let s = &self.shared;
        let totals = s.slot.stats.totals();
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

    /// The open duration after the first trip.
    pub fn open_duration(&self) -> OpenDuration {
        self.shared.config.open
    }

    /// The sliding window, if a rate policy is configured.
    pub fn window(&self) -> Option<WindowKind> {
        self.shared.config.window
    }
}

/// Permission to make one call, from [`Breaker::try_acquire`]. Record the outcome with
/// [`record`](Self::record); dropping it unrecorded counts the call as ignored.
///
/// A permit does not keep its breaker alive: it holds the part of the breaker that calls
/// count in, which outlives the breaker, so that admitting a call touches no reference count.
/// The outcome of a call that ends after every handle to its breaker was dropped is counted
/// nowhere.
#[must_use = "record the call's outcome, or the call counts as ignored"]
pub struct Permit {
    slot: &'static Slot,
    // Also says whether the outcome was recorded: a separate flag would make a permit 32 bytes.
    ticket: Ticket,
}

impl fmt::Debug for Permit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let breaker = self.slot.owner_of(self.ticket);
        f.debug_struct("Permit")
            .field(
                "breaker",
                &breaker.as_ref().map(|shared| &*shared.ident.name),
            )
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
        if !self.ticket.recorded() {
            self.ticket.mark_recorded();
            self.slot.record(self.ticket, outcome);
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
        self.ticket.admission() == Admission::Probe
    }

    /// The breaker that issued this permit, unless every handle to it was dropped since.
    ///
    /// ```
    /// use fusebox_breaker::Breaker;
    ///
    /// let breaker = Breaker::builder("sms").build()?;
    /// let permit = breaker.try_acquire().unwrap();
    /// assert_eq!(permit.breaker().map(|b| b.name().to_owned()).as_deref(), Some("sms"));
    /// drop(breaker);
    /// assert!(permit.breaker().is_none());
    /// permit.success(); // counted nowhere, and no error
    /// # Ok::<(), fusebox_breaker::ConfigError>(())
    /// ```
    pub fn breaker(&self) -> Option<Breaker> {
        self.slot
            .owner_of(self.ticket)
            .map(|shared| Breaker { shared })
    }
}

impl Drop for Permit {
    #[inline]
    fn drop(&mut self) {
        if !self.ticket.recorded() {
            self.slot.record(self.ticket, Outcome::Ignored);
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

impl From<Breaker> for CircuitRef {
    /// The breaker as a [`Circuit`](fusebox_core::Circuit): what health checks and metrics
    /// read, whatever made the circuit. Its [`role`](fusebox_core::Circuit::role) tells a keyed
    /// set's breakers apart:
    ///
    /// ```
    /// use fusebox_breaker::{Breaker, OVERFLOW_KEY};
    /// use fusebox_core::{CircuitRef, Role};
    ///
    /// let role = |b: &Breaker| format!("{:?}", CircuitRef::from(b.clone()).role());
    /// let tenants = Breaker::builder("calendar").keyed().build()?;
    /// assert_eq!(role(&tenants.get("acme")), format!("{:?}", Role::Key("acme")));
    /// assert_eq!(role(&tenants.get(OVERFLOW_KEY)), format!("{:?}", Role::Key(OVERFLOW_KEY)));
    /// assert_eq!(role(tenants.overflow()), format!("{:?}", Role::Overflow));
    /// assert_eq!(role(tenants.unkeyed()), format!("{:?}", Role::Keyless));
    /// assert_eq!(role(&Breaker::builder("email").build()?), format!("{:?}", Role::Plain));
    /// # Ok::<(), fusebox_breaker::ConfigError>(())
    /// ```
    #[inline]
    fn from(breaker: Breaker) -> CircuitRef {
        match breaker.shared {
            Handle::Counted(shared) => fusebox_core::Handle::Counted(shared),
            Handle::Static(shared) => fusebox_core::Handle::Static(shared),
        }
    }
}

#[cfg(all(test, not(fusebox_loom)))]
mod tests {
    use crate::machine::slot::{closed_ticket, pool, GRACE};
    use crate::{Breaker, CircuitState};
    use fusebox_core::Outcome;

    /// A shape no other test uses: the pool is the process's.
    fn rare() -> Breaker {
        Breaker::builder("rare")
            .failure_rate(0.5)
            .count_window(7_919)
            .min_calls(1_000)
            .consecutive_failures(5)
            .build()
            .unwrap()
    }

    #[test]
    fn a_dropped_breakers_slot_serves_the_next_of_its_shape_after_the_grace_period_cleared() {
        let first = rare();
        let slot = first.shared.slot;
        let in_flight = first.try_acquire().unwrap();
        let succeeding = first.try_acquire().unwrap();
        first.try_acquire().unwrap().failure();
        first.try_acquire().unwrap().success();
        let before = first.metrics();
        assert_eq!((before.failures, before.successes), (1, 1));
        first.try_acquire().unwrap().failure();
        assert_eq!(first.metrics().consecutive_failures, 1);
        assert_eq!(pool::waiting(slot), 0);
        drop(first);
        assert!(in_flight.breaker().is_none(), "its breaker is gone");
        assert_eq!(pool::waiting(slot), 1);

        // Within the grace period, a new breaker of the shape gets a new slot.
        let early = rare();
        assert!(!std::ptr::eq(early.shared.slot, slot));

        pool::AHEAD.with(|ahead| ahead.set(GRACE));
        let second = rare();
        pool::AHEAD.with(|ahead| ahead.set(std::time::Duration::ZERO));
        assert!(
            std::ptr::eq(second.shared.slot, slot),
            "the retired slot, reused"
        );
        assert_eq!(pool::waiting(slot), 0);
        let fresh = second.metrics();
        assert_eq!(fresh.state, CircuitState::Closed);
        assert_eq!((fresh.calls, fresh.failures, fresh.successes), (0, 0, 0));
        assert_eq!(fresh.consecutive_failures, 0);
        assert_eq!(fresh.window.map(|w| (w.calls, w.failures)), Some((0, 0)));

        // The call the first breaker admitted ends now: it counts in neither breaker.
        assert!(in_flight.breaker().is_none(), "not the new owner's call");
        in_flight.record(Outcome::retryable_failure());
        succeeding.success();
        let after = second.metrics();
        assert_eq!((after.calls, after.failures, after.successes), (0, 0, 0));
        assert_eq!(after.consecutive_failures, 0);
        assert_eq!(after.window.map(|w| w.calls), Some(0));

        // The new owner's own calls count as usual.
        second.try_acquire().unwrap().failure();
        assert_eq!(second.metrics().failures, 1);
        assert_eq!(second.metrics().consecutive_failures, 1);
        drop(early);
    }

    #[tokio::test(start_paused = true)]
    async fn a_reused_time_window_starts_at_its_new_owners_time() {
        let shaped = || {
            Breaker::builder("rare")
                .failure_rate(0.9)
                .time_window(std::time::Duration::from_secs(7), 7)
                .min_calls(1_000)
                .build()
                .unwrap()
        };
        let first = shaped();
        let slot = first.shared.slot;
        // The first owner's window moves on an hour, then it goes.
        tokio::time::advance(std::time::Duration::from_secs(3_600)).await;
        first.try_acquire().unwrap().failure();
        drop(first);
        pool::AHEAD.with(|ahead| ahead.set(GRACE));
        let second = shaped();
        pool::AHEAD.with(|ahead| ahead.set(std::time::Duration::ZERO));
        assert!(std::ptr::eq(second.shared.slot, slot), "the retired slot");
        // The new owner's calls, an hour earlier on its own epoch, count in its window.
        second.try_acquire().unwrap().failure();
        second.try_acquire().unwrap().success();
        let window = second.metrics().window.unwrap();
        assert_eq!((window.calls, window.failures), (2, 1));
    }

    #[test]
    fn slots_of_different_shapes_wait_apart() {
        let shaped = |size| {
            Breaker::builder("rare")
                .failure_rate(0.5)
                .count_window(size)
                .build()
                .unwrap()
        };
        // Two shapes no other test uses, retired one after the other: each slot waits among
        // its own shape's, and serves a breaker of that shape alone.
        let (first, second) = (shaped(7_907), shaped(7_901));
        let (first_slot, second_slot) = (first.shared.slot, second.shared.slot);
        drop(first);
        drop(second);
        assert_eq!(
            (pool::waiting(first_slot), pool::waiting(second_slot)),
            (1, 1)
        );
        pool::AHEAD.with(|ahead| ahead.set(GRACE));
        let (again_second, again_first) = (shaped(7_901), shaped(7_907));
        pool::AHEAD.with(|ahead| ahead.set(std::time::Duration::ZERO));
        assert!(std::ptr::eq(again_first.shared.slot, first_slot));
        assert!(std::ptr::eq(again_second.shared.slot, second_slot));
    }

    #[test]
    fn a_ticket_belongs_to_its_owner_across_the_generation_wrap() {
        let breaker = Breaker::builder("wrap").build().unwrap();
        let slot = breaker.shared.slot;
        let top = (1 << 28) - 1;
        // The owner started two generations before the top; its generation has wrapped to 1.
        slot.set_generations(top - 1, 1);
        for own in [top - 1, top, 0, 1] {
            assert!(slot.owner_of(closed_ticket(own)).is_some(), "{own}");
        }
        for earlier_or_unknown in [top - 2, top - 100, 2, 1_000] {
            assert!(
                slot.owner_of(closed_ticket(earlier_or_unknown)).is_none(),
                "{earlier_or_unknown}"
            );
        }
    }

    fn time_window(duration: std::time::Duration, buckets: u32) -> Breaker {
        Breaker::builder("dated")
            .failure_rate(0.5)
            .time_window(duration, buckets)
            .min_calls(10)
            .build()
            .unwrap()
    }

    #[tokio::test]
    async fn on_a_running_clock_a_time_window_dates_its_successes_by_the_coarse_clock() {
        let b = time_window(std::time::Duration::from_secs(10), 10);
        assert!(b.shared.slot.dates_coarsely());
        for _ in 0..1_000 {
            b.try_acquire().unwrap().record(Outcome::Success);
        }
        // Every success is in the window, and the failures that follow are weighed against them.
        assert_eq!(b.metrics().window.unwrap().calls, 1_000);
        for _ in 0..999 {
            b.try_acquire()
                .unwrap()
                .record(Outcome::retryable_failure());
        }
        assert_eq!(
            b.state(),
            CircuitState::Closed,
            "999 failures in 1,999 calls"
        );
        b.try_acquire()
            .unwrap()
            .record(Outcome::retryable_failure());
        assert_eq!(
            b.state(),
            CircuitState::Open,
            "1,000 failures in 2,000 calls"
        );
        // The coarse clock is never ahead of the exact one, and not a second behind.
        let (recent, exact) = b.shared.slot.recent_and_exact_nanos();
        assert!(recent <= exact, "{recent} after {exact}");
        assert!(
            exact - recent < 1_000_000_000,
            "{recent} long before {exact}"
        );
    }

    #[tokio::test]
    async fn a_coarsely_dated_success_is_announced_to_listeners_and_counted() {
        use std::sync::atomic::{AtomicU32, Ordering::Relaxed};
        let announced = std::sync::Arc::new(AtomicU32::new(0));
        let seen = announced.clone();
        let b = Breaker::builder("dated")
            .failure_rate(0.5)
            .time_window(std::time::Duration::from_secs(10), 10)
            .on_event(move |event: &fusebox_core::Event<'_>| {
                if let fusebox_core::EventKind::CallSucceeded { elapsed, slow } = event.kind {
                    assert_eq!((elapsed, slow), (None, false));
                    seen.fetch_add(1, Relaxed);
                }
            })
            .build()
            .unwrap();
        assert!(b.shared.slot.dates_coarsely());
        for _ in 0..10 {
            b.try_acquire().unwrap().record(Outcome::Success);
        }
        assert_eq!(announced.load(Relaxed), 10);
        assert_eq!(b.metrics().window.unwrap().calls, 10);
    }

    #[tokio::test]
    async fn coarsely_dated_successes_land_in_the_bucket_of_their_time() {
        // Buckets of 100 ms, the shortest the coarse clock dates.
        let b = time_window(std::time::Duration::from_secs(1), 10);
        assert!(b.shared.slot.dates_coarsely());
        // Past the first whole window, on the real clock: a success dated at the start would
        // be out of the window, and dropped.
        while b.shared.slot.recent_and_exact_nanos().1 < 1_200_000_000 {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        b.try_acquire()
            .unwrap()
            .record(Outcome::retryable_failure());
        for _ in 0..5 {
            b.try_acquire().unwrap().record(Outcome::Success);
        }
        assert_eq!(b.metrics().window.unwrap().calls, 6);
    }

    #[tokio::test]
    async fn buckets_shorter_than_a_tenth_of_a_second_are_dated_by_the_exact_clock() {
        let ms = std::time::Duration::from_millis;
        assert!(!time_window(ms(999), 10).shared.slot.dates_coarsely());
        assert!(time_window(ms(1_000), 10).shared.slot.dates_coarsely());
    }

    #[tokio::test(start_paused = true)]
    async fn on_a_paused_clock_a_time_window_dates_its_successes_by_tokios_clock() {
        let b = time_window(std::time::Duration::from_secs(10), 10);
        assert!(!b.shared.slot.dates_coarsely());
        tokio::time::advance(std::time::Duration::from_secs(60)).await;
        // After the jump, successes are dated in the new bucket, not in the one the real
        // clock is in: they are in the window.
        for _ in 0..10 {
            b.try_acquire().unwrap().record(Outcome::Success);
        }
        assert_eq!(b.metrics().window.unwrap().calls, 10);
    }
}
