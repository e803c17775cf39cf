//! The breaker's state machine: one atomic word, transitions by compare-and-swap.
//!
//! The word packs the state, a timer flag, the half-open probe counters and a generation that
//! every transition bumps. A call remembers the generation it was admitted in; its outcome is
//! dropped if the generation moved on, so a late result never counts toward a later period.
//! Keeping the probe counters in the same word makes "admit a probe" and "record a probe" exact
//! under contention: both are a single compare-and-swap against the whole state.

use crate::clock::{nanos, Epoch};
use crate::config::Config;
use crate::stats::{Layout, Stats};
use crate::sync::atomic::{
    AtomicBool, AtomicU32, AtomicU64,
    Ordering::{AcqRel, Acquire, Relaxed},
};
use crate::sync::lock;
use crate::window::{Counts, Window};
use crossbeam_utils::CachePadded;
use fusebox_core::{CircuitState, Event, EventBus, EventKind, Outcome, TransitionReason};
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

const CLOSED: u64 = 0;
const OPEN: u64 = 1;
const HALF_OPEN: u64 = 2;
const DISABLED: u64 = 3;
const FORCED_OPEN: u64 = 4;
/// Open, its period over, waiting for a shared store to say whether this instance probes
/// ([`Shared::set_probe_gate`]); reported as `Open`.
const AWAITING_PROBE: u64 = 5;
const STATE_MASK: u64 = 0b111;
const TIMER: u64 = 1 << 3;
const IN_FLIGHT_SHIFT: u32 = 4;
const SUCCESSES_SHIFT: u32 = 20;
const FIELD_MASK: u64 = 0xFFFF;
const GENERATION_SHIFT: u32 = 36;
const GENERATION_MASK: u64 = (1 << 28) - 1;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Word(u64);

impl Word {
    fn new(state: u64, generation: u32) -> Word {
        Word(state | ((u64::from(generation) & GENERATION_MASK) << GENERATION_SHIFT))
    }
    fn code(self) -> u64 {
        self.0 & STATE_MASK
    }
    fn state(self) -> CircuitState {
        match self.code() {
            CLOSED => CircuitState::Closed,
            OPEN | AWAITING_PROBE => CircuitState::Open,
            HALF_OPEN => CircuitState::HalfOpen,
            DISABLED => CircuitState::Disabled,
            _ => CircuitState::ForcedOpen,
        }
    }
    fn generation(self) -> u32 {
        ((self.0 >> GENERATION_SHIFT) & GENERATION_MASK) as u32
    }
    fn next(self, state: u64) -> Word {
        Word::new(state, self.generation().wrapping_add(1))
    }
    /// Open, its period running or over and waiting for a store's word.
    fn is_open(self) -> bool {
        matches!(self.code(), OPEN | AWAITING_PROBE)
    }
    fn timer_armed(self) -> bool {
        self.0 & TIMER != 0
    }
    fn in_flight(self) -> u32 {
        ((self.0 >> IN_FLIGHT_SHIFT) & FIELD_MASK) as u32
    }
    fn successes(self) -> u32 {
        ((self.0 >> SUCCESSES_SHIFT) & FIELD_MASK) as u32
    }
    fn with_probes(self, in_flight: u32, successes: u32) -> Word {
        let cleared = self.0 & !((FIELD_MASK << IN_FLIGHT_SHIFT) | (FIELD_MASK << SUCCESSES_SHIFT));
        Word(
            cleared
                | (u64::from(in_flight) << IN_FLIGHT_SHIFT)
                | (u64::from(successes) << SUCCESSES_SHIFT),
        )
    }
}

/// What kind of admission a call got.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Admission {
    Closed,
    Probe,
    Disabled,
}

/// Carried by an admitted call until its outcome is recorded.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Ticket {
    generation: u32,
    pub(crate) admission: Admission,
    started: Option<Instant>,
}

/// Why a call was refused, with what is needed to say when to come back.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Refusal {
    pub(crate) state: CircuitState,
    /// Nanoseconds since the epoch when a call may next be admitted; `None` for "when an
    /// operator acts" (forced open).
    pub(crate) retry_at: Option<u64>,
    /// Whether a call may be admitted any moment before `retry_at`, which is then only the
    /// latest: probes are under way (here, or on the instance a store chose).
    pub(crate) awaits_probe: bool,
}

/// The most recent transition.
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub struct Transition {
    /// State before.
    pub from: CircuitState,
    /// State after.
    pub to: CircuitState,
    /// Why.
    pub reason: TransitionReason,
    /// When.
    pub at: Instant,
}

/// A reference to a breaker's shared state: counted (freed with the last handle) or static
/// (lives for the rest of the process, so clones touch no reference count).
pub(crate) type Handle = fusebox_core::Handle<Shared>;

/// Held by timers, so a pending timer does not keep a counted breaker alive.
pub(crate) type WeakHandle = fusebox_core::WeakHandle<Shared>;

#[derive(Debug)]
pub(crate) struct Shared {
    word: CachePadded<AtomicU64>,
    consecutive: CachePadded<AtomicU32>,
    pub(crate) stats: Stats,
    /// Boxed: a window's padded counters would make every breaker 500 bytes larger, with a
    /// window or without.
    window: Option<Box<Window>>,
    trips: AtomicU32,
    /// Times a policy fired while disabled.
    suppressed: AtomicU64,
    open_until: AtomicU64,
    entered_at: AtomicU64,
    pub(crate) epoch: Epoch,
    last: Mutex<Option<Transition>>,
    pub(crate) name: Box<str>,
    /// The key (tenant, route, host) of a breaker made by a keyed layer.
    pub(crate) key: Option<Box<str>>,
    /// What the key is, in responses and logs (`"tenant_id"`).
    pub(crate) key_label: &'static str,
    /// Whether this is the breaker a full keyed set shares among new keys.
    pub(crate) overflow: bool,
    pub(crate) config: Config,
    pub(crate) events: EventBus,
    /// Listeners to transitions only: a shared-state store hears local decisions without
    /// making every call build an event.
    pub(crate) transitions: EventBus,
    /// The transition listeners of the keyed set this breaker belongs to, if any.
    set_transitions: Option<EventBus>,
    needs_clock: bool,
    plain_success_path: bool,
    /// When set, an open period ends in `AWAITING_PROBE` until `grant_probes`: a shared store
    /// lets one instance of a cluster probe.
    probe_gate: AtomicBool,
    /// This breaker itself, weakly: what the core traits' `&self` methods, which a store or a
    /// retry calls, need to arm a timer. Set once, when the breaker is shared.
    me: std::sync::OnceLock<WeakHandle>,
}

impl Shared {
    /// Shares a new breaker: reference-counted, or leaked for the rest of the process.
    pub(crate) fn share(shared: Shared, leak: bool) -> Handle {
        if leak {
            let leaked: &'static Shared = Box::leak(Box::new(shared));
            leaked.me.get_or_init(|| WeakHandle::Static(leaked));
            Handle::Static(leaked)
        } else {
            Handle::Counted(std::sync::Arc::new_cyclic(|me| {
                shared.me.get_or_init(|| WeakHandle::Counted(me.clone()));
                shared
            }))
        }
    }

    /// A handle to this breaker, for a caller that holds only `&Shared` (and so keeps it alive).
    pub(crate) fn handle(&self) -> Option<Handle> {
        self.me.get().and_then(WeakHandle::upgrade)
    }

    pub(crate) fn new(
        name: String,
        key: Option<(Box<str>, &'static str)>,
        overflow: bool,
        config: Config,
        events: EventBus,
        set_transitions: Option<EventBus>,
        layout: Layout,
    ) -> Shared {
        let (key, key_label) = match key {
            Some((key, label)) => (Some(key), label),
            None => (None, "key"),
        };
        Shared {
            word: CachePadded::new(AtomicU64::new(
                Word::new(
                    if config.start_disabled {
                        DISABLED
                    } else {
                        CLOSED
                    },
                    0,
                )
                .0,
            )),
            consecutive: CachePadded::new(AtomicU32::new(0)),
            stats: Stats::new(layout),
            window: config.window.map(|kind| Box::new(Window::new(kind))),
            trips: AtomicU32::new(0),
            suppressed: AtomicU64::new(0),
            open_until: AtomicU64::new(0),
            entered_at: AtomicU64::new(0),
            epoch: Epoch::now(),
            last: Mutex::new(None),
            name: name.into_boxed_str(),
            key,
            key_label,
            overflow,
            needs_clock: config.needs_clock(),
            plain_success_path: !config.needs_clock() && config.window.is_none(),
            probe_gate: AtomicBool::new(false),
            me: std::sync::OnceLock::new(),
            config,
            events,
            transitions: EventBus::new(),
            set_transitions,
        }
    }

    /// A breaker of its own, outside any keyed set.
    pub(crate) fn unkeyed(name: String, config: Config, events: EventBus) -> Shared {
        Shared::new(name, None, false, config, events, None, Layout::PerThread)
    }

    /// Whether a keyed set made this breaker.
    pub(crate) fn in_keyed_set(&self) -> bool {
        self.set_transitions.is_some()
    }

    /// An event from this breaker, with its key.
    #[inline]
    fn event(&self, kind: EventKind) -> Event<'_> {
        Event::new(&self.name, kind).with_key(self.key.as_deref())
    }

    #[inline]
    fn load(&self) -> Word {
        Word(self.word.load(Acquire))
    }

    #[inline]
    fn cas(&self, current: Word, new: Word) -> Result<(), Word> {
        self.word
            .compare_exchange(current.0, new.0, AcqRel, Acquire)
            .map(|_| ())
            .map_err(Word)
    }

    /// Publishes `until` as the open period's deadline, then moves from `word` to `new`: whoever
    /// sees the new state sees its deadline. If the move loses a race, the previous deadline is
    /// put back (unless someone published another meanwhile).
    fn move_with_deadline(&self, word: Word, new: Word, until: u64) -> Result<(), Word> {
        let previous = self.open_until.swap(until, Relaxed);
        self.cas(word, new).inspect_err(|_| {
            self.open_until
                .compare_exchange(until, previous, Relaxed, Relaxed)
                .ok();
        })
    }

    pub(crate) fn state(&self) -> CircuitState {
        self.load().state()
    }

    /// Admits a call or refuses it. The closed path is one atomic load (plus a clock read only
    /// when slow-call or time-window policies need it).
    #[inline(always)]
    pub(crate) fn acquire(this: &Handle) -> Result<Ticket, Refusal> {
        let mut word = this.load();
        loop {
            let admission = match word.code() {
                CLOSED => Admission::Closed,
                DISABLED => Admission::Disabled,
                _ => match Shared::acquire_slow(this, word) {
                    Ok(ticket) => return Ok(ticket),
                    Err(Some(refusal)) => return Err(refusal),
                    Err(None) => {
                        word = this.load();
                        continue;
                    }
                },
            };
            return Ok(Ticket {
                generation: word.generation(),
                admission,
                started: this.needs_clock.then(Instant::now),
            });
        }
    }

    /// Open, half-open and forced-open. `Err(None)` means the state moved: look again.
    fn acquire_slow(this: &Handle, word: Word) -> Result<Ticket, Option<Refusal>> {
        match word.code() {
            OPEN | AWAITING_PROBE => {
                let open_until = this.open_until.load(Relaxed);
                // With a timer armed, the timer ends the open period: a rejection reads no clock.
                if !word.timer_armed() && this.epoch.now_nanos() >= open_until {
                    Shared::end_open_period(this, word.generation());
                    return Err(None);
                }
                let awaiting = word.code() == AWAITING_PROBE;
                Err(Some(this.refuse(
                    CircuitState::Open,
                    Some(open_until),
                    awaiting,
                )))
            }
            HALF_OPEN => {
                let in_flight = word.in_flight();
                if in_flight < this.config.half_open_probes {
                    let admitted = word.with_probes(in_flight + 1, word.successes());
                    return match this.cas(word, admitted) {
                        Ok(()) => Ok(Ticket {
                            generation: word.generation(),
                            admission: Admission::Probe,
                            started: this.needs_clock.then(Instant::now),
                        }),
                        Err(_) => Err(None),
                    };
                }
                let entered = this.entered_at.load(Relaxed);
                let deadline = entered.saturating_add(nanos(this.config.half_open_max_wait));
                if this.epoch.now_nanos() >= deadline {
                    if let Some(new) = this.open(word, TransitionReason::ProbeTimedOut) {
                        Shared::arm_timer(this, new.generation());
                    }
                    return Err(None);
                }
                Err(Some(this.refuse(
                    CircuitState::HalfOpen,
                    Some(deadline),
                    true,
                )))
            }
            _ => Err(Some(this.refuse(CircuitState::ForcedOpen, None, false))),
        }
    }

    fn refuse(&self, state: CircuitState, retry_at: Option<u64>, awaits_probe: bool) -> Refusal {
        self.stats.rejection();
        self.events
            .emit(|| self.event(EventKind::CallRejected { state }));
        Refusal {
            state,
            retry_at,
            awaits_probe,
        }
    }

    /// Records the outcome of an admitted call.
    #[inline(always)]
    pub(crate) fn record(this: &Handle, ticket: Ticket, outcome: Outcome) {
        // The common case, a success through a closed breaker that measures no time and keeps
        // no window: count it, and write the consecutive-failure count only if it changes.
        if this.plain_success_path
            && ticket.admission == Admission::Closed
            && matches!(outcome, Outcome::Success)
        {
            this.stats.success(false);
            this.events.emit(|| {
                this.event(EventKind::CallSucceeded {
                    elapsed: None,
                    slow: false,
                })
            });
            if this.consecutive.load(Relaxed) != 0 && this.load().generation() == ticket.generation
            {
                this.consecutive.store(0, Relaxed);
            }
            return;
        }
        Shared::record_outcome(this, ticket, outcome);
    }

    #[inline(never)]
    fn record_outcome(this: &Handle, ticket: Ticket, outcome: Outcome) {
        let (elapsed, now_nanos) = match ticket.started {
            Some(started) => {
                let now = Instant::now();
                (
                    Some(now.saturating_duration_since(started)),
                    this.epoch.nanos_at(now),
                )
            }
            None => (None, 0),
        };
        let slow = match (elapsed, this.config.slow_call) {
            (Some(e), Some((threshold, _))) => e >= threshold,
            _ => false,
        };
        let failed = match outcome {
            Outcome::Success => {
                this.stats.success(slow);
                this.events
                    .emit(|| this.event(EventKind::CallSucceeded { elapsed, slow }));
                false
            }
            Outcome::Failure { .. } => {
                this.stats.failure(slow);
                this.events
                    .emit(|| this.event(EventKind::CallFailed { elapsed, slow }));
                true
            }
            _ => {
                this.stats.ignored();
                this.events.emit(|| this.event(EventKind::CallIgnored));
                if ticket.admission == Admission::Probe {
                    this.release_probe(ticket.generation);
                }
                return;
            }
        };
        match ticket.admission {
            Admission::Closed => {
                Shared::record_closed(this, ticket.generation, failed, slow, now_nanos);
            }
            Admission::Probe => Shared::record_probe(this, ticket.generation, failed, slow),
            Admission::Disabled => {
                let word = this.load();
                if word.generation() == ticket.generation {
                    if let Some(reason) = this.count_against_policy(failed, slow, now_nanos) {
                        this.suppress_trip(word, reason);
                    }
                }
            }
        }
    }

    #[inline]
    fn record_closed(this: &Handle, generation: u32, failed: bool, slow: bool, now_nanos: u64) {
        let word = this.load();
        if word.generation() != generation {
            return;
        }
        if let Some(reason) = this.count_against_policy(failed, slow, now_nanos) {
            Shared::trip(this, word, reason);
        }
    }

    /// Counts an outcome in the consecutive-failure count and the window; returns why the
    /// breaker should trip if a policy fires.
    #[inline]
    fn count_against_policy(
        &self,
        failed: bool,
        slow: bool,
        now_nanos: u64,
    ) -> Option<TransitionReason> {
        if let Some(threshold) = self.config.consecutive_failures {
            if failed {
                let count = self.consecutive.fetch_add(1, Relaxed).saturating_add(1);
                if count >= threshold {
                    return Some(TransitionReason::ConsecutiveFailures { count });
                }
            } else if self.consecutive.load(Relaxed) != 0 {
                // Written only when it changes: successes after successes touch no shared line.
                self.consecutive.store(0, Relaxed);
            }
        }
        if let Some(window) = &self.window {
            let counts = window.record(failed, slow, now_nanos);
            if failed || slow {
                return self.evaluate(counts);
            }
        }
        None
    }

    /// A disabled breaker's policy fired: say so, and start counting again. Moving to the next
    /// generation (still disabled) lets one caller win, and drops the outcomes of calls admitted
    /// before, as a real trip would.
    #[cold]
    fn suppress_trip(&self, word: Word, reason: TransitionReason) {
        if self.cas(word, word.next(DISABLED)).is_err() {
            return;
        }
        self.clear_counts();
        self.suppressed.fetch_add(1, Relaxed);
        let (name, key) = (&*self.name, self.key.as_deref());
        tracing::warn!(
            breaker = name,
            key,
            %reason,
            "circuit breaker would have opened, but it is disabled"
        );
        self.events
            .emit(|| self.event(EventKind::TripSuppressed { reason }));
    }

    fn evaluate(&self, counts: Counts) -> Option<TransitionReason> {
        if counts.calls < u64::from(self.config.min_calls) || counts.calls == 0 {
            return None;
        }
        let calls = counts.calls as f64;
        if let Some(threshold) = self.config.failure_rate {
            let rate = counts.failures as f64 / calls;
            if rate >= threshold {
                return Some(TransitionReason::FailureRate {
                    rate,
                    threshold,
                    calls: counts.calls,
                });
            }
        }
        if let Some((_, threshold)) = self.config.slow_call {
            let rate = counts.slow as f64 / calls;
            if rate >= threshold {
                return Some(TransitionReason::SlowCallRate {
                    rate,
                    threshold,
                    calls: counts.calls,
                });
            }
        }
        None
    }

    fn record_probe(this: &Handle, generation: u32, failed: bool, slow: bool) {
        let failed = failed || (slow && this.config.slow_call.is_some());
        let mut word = this.load();
        loop {
            if word.code() != HALF_OPEN || word.generation() != generation {
                return;
            }
            if failed {
                if let Some(new) = this.open(word, TransitionReason::ProbeFailed) {
                    Shared::arm_timer(this, new.generation());
                    return;
                }
                word = this.load();
                continue;
            }
            let successes = word.successes() + 1;
            if successes >= this.config.half_open_successes {
                // Clear the counts while still half-open: nothing records into them now.
                this.clear_counts();
                match this.cas(word, word.next(CLOSED)) {
                    Ok(()) => {
                        this.trips.store(0, Relaxed);
                        this.transitioned(
                            CircuitState::HalfOpen,
                            CircuitState::Closed,
                            TransitionReason::ProbesSucceeded { successes },
                            Instant::now(),
                        );
                        return;
                    }
                    Err(current) => word = current,
                }
            } else {
                let updated = word.with_probes(word.in_flight().saturating_sub(1), successes);
                match this.cas(word, updated) {
                    Ok(()) => return,
                    Err(current) => word = current,
                }
            }
        }
    }

    fn release_probe(&self, generation: u32) {
        let mut word = self.load();
        while word.code() == HALF_OPEN && word.generation() == generation {
            let updated = word.with_probes(word.in_flight().saturating_sub(1), word.successes());
            match self.cas(word, updated) {
                Ok(()) => return,
                Err(current) => word = current,
            }
        }
    }

    fn clear_counts(&self) {
        self.consecutive.store(0, Relaxed);
        if let Some(window) = &self.window {
            window.reset();
        }
    }

    fn trip(this: &Handle, word: Word, reason: TransitionReason) {
        if let Some(new) = this.open(word, reason) {
            Shared::arm_timer(this, new.generation());
        }
    }

    /// Moves from `word` to OPEN; returns the new word if this call made the transition.
    fn open(&self, word: Word, reason: TransitionReason) -> Option<Word> {
        let trips = self.trips.load(Relaxed).saturating_add(1);
        let now = Instant::now();
        let until = self
            .epoch
            .nanos_at(now)
            .saturating_add(nanos(self.config.open.for_trip(trips)));
        let new = word.next(OPEN);
        if self.move_with_deadline(word, new, until).is_err() {
            return None;
        }
        self.trips.store(trips, Relaxed);
        self.transitioned(word.state(), CircuitState::Open, reason, now);
        Some(new)
    }

    /// OPEN → `HALF_OPEN` now, if the open period's deadline has passed (one clock read).
    pub(crate) fn end_open_period_if_due(this: &Handle) {
        let word = this.load();
        if word.is_open() && this.epoch.now_nanos() >= this.open_until.load(Relaxed) {
            Shared::end_open_period(this, word.generation());
        }
    }

    /// OPEN → `HALF_OPEN` when the open period of `generation` ends. With a probe gate, the
    /// breaker stays open instead and asks its store whether it probes (again, if a wait for
    /// the store's answer ran out), waiting at most the half-open maximum wait for the answer.
    fn end_open_period(this: &Handle, generation: u32) {
        let mut word = this.load();
        while word.is_open() && word.generation() == generation {
            if this.probe_gate.load(Relaxed) {
                let until = this
                    .epoch
                    .now_nanos()
                    .saturating_add(nanos(this.config.half_open_max_wait));
                let awaiting = word.next(AWAITING_PROBE);
                match this.move_with_deadline(word, awaiting, until) {
                    Ok(()) => {
                        Shared::arm_timer(this, awaiting.generation());
                        let event = || this.event(EventKind::ProbeRequested);
                        this.events.emit(event);
                        this.transitions.emit(event);
                        return;
                    }
                    Err(current) => {
                        word = current;
                        continue;
                    }
                }
            }
            match this.cas(word, word.next(HALF_OPEN)) {
                Ok(()) => {
                    // Half-open from the moment the open period ended, however late the timer.
                    let ended = match word.code() {
                        OPEN => this.epoch.instant_at(this.open_until.load(Relaxed)),
                        _ => Instant::now(),
                    };
                    this.transitioned(
                        CircuitState::Open,
                        CircuitState::HalfOpen,
                        TransitionReason::OpenPeriodElapsed,
                        ended,
                    );
                    return;
                }
                Err(current) => word = current,
            }
        }
    }

    /// Spawns a timer that ends the open period of `generation`, so rejected calls read no clock.
    /// Without a Tokio runtime, or in one without a time driver, rejected calls compare the
    /// clock with the deadline instead.
    fn arm_timer(this: &Handle, generation: u32) {
        if !timers_allowed() {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        // The deadline is published before the state, so it is this period's.
        let deadline = this.epoch.instant_at(this.open_until.load(Relaxed));
        // Tokio panics when a timer is made in a runtime without a time driver: catch that
        // once, and let open periods end by clock checks from then on.
        let Ok(sleep) = std::panic::catch_unwind(|| tokio::time::sleep_until(deadline)) else {
            if !NO_TIME_DRIVER.swap(true, std::sync::atomic::Ordering::Relaxed) {
                tracing::warn!(
                    "a circuit breaker's timer could not be made (a Tokio runtime without a \
                     time driver: call enable_time or enable_all on its builder); breakers now \
                     end open periods on the first call after them"
                );
            }
            return;
        };
        let mut word = this.load();
        loop {
            if !word.is_open() || word.generation() != generation {
                return;
            }
            match this.cas(word, Word(word.0 | TIMER)) {
                Ok(()) => break,
                Err(current) => word = current,
            }
        }
        // Built outside the task, so that a task dropped unpolled (runtime shutting down) still
        // disarms and the clock check takes over.
        let mut guard = TimerGuard {
            shared: this.downgrade(),
            generation,
            fired: false,
        };
        runtime.spawn(async move {
            sleep.await;
            guard.fired = true;
            if let Some(shared) = guard.shared.upgrade() {
                Shared::end_open_period(&shared, guard.generation);
            }
        });
    }

    /// With the gate on, an open period ends in [`AWAITING_PROBE`] until the store answers.
    /// Turned off (the store is gone), a breaker waiting for an answer probes on its own.
    pub(crate) fn set_probe_gate(this: &Handle, on: bool) {
        this.probe_gate.store(on, Relaxed);
        if !on {
            Shared::grant_probes(this);
        }
    }

    /// This instance probes: a breaker waiting for the store's answer goes half-open. `false`
    /// if it was not waiting (it closed or reopened meanwhile).
    pub(crate) fn grant_probes(this: &Handle) -> bool {
        let mut word = this.load();
        while word.code() == AWAITING_PROBE {
            match this.cas(word, word.next(HALF_OPEN)) {
                Ok(()) => {
                    this.transitioned(
                        CircuitState::Open,
                        CircuitState::HalfOpen,
                        TransitionReason::OpenPeriodElapsed,
                        Instant::now(),
                    );
                    return true;
                }
                Err(current) => word = current,
            }
        }
        false
    }

    /// Another instance probes: a breaker waiting for the store's answer stays open for
    /// `wait` more, with no transition, and asks again then (unless the prober's result came
    /// first). `false` if it was not waiting.
    pub(crate) fn defer_probe(this: &Handle, wait: Duration) -> bool {
        let until = this.epoch.now_nanos().saturating_add(nanos(wait));
        let mut word = this.load();
        while word.code() == AWAITING_PROBE {
            let open = word.next(OPEN);
            match this.move_with_deadline(word, open, until) {
                Ok(()) => {
                    Shared::arm_timer(this, open.generation());
                    return true;
                }
                Err(current) => word = current,
            }
        }
        false
    }

    /// Moves to `target` from whatever state, as an operator or a shared store asks.
    pub(crate) fn force(this: &Handle, target: CircuitState, reason: TransitionReason) {
        Shared::force_for(this, target, reason, None);
    }

    /// Moves the end of the current open period to `open_for` from now, if that is later,
    /// without a transition: a shared store learned that the fleet stays open longer. `false`
    /// if the breaker is not open (nothing done).
    pub(crate) fn extend_open(this: &Handle, open_for: Duration) -> bool {
        let until = this.epoch.now_nanos().saturating_add(nanos(open_for));
        let mut word = this.load();
        loop {
            if !word.is_open() {
                return false;
            }
            // While awaiting the store's word, `open_until` is only how long to wait for it.
            if word.code() == OPEN && this.open_until.load(Relaxed) >= until {
                return true;
            }
            // A new generation (still open), so the timer armed for the old deadline cannot
            // end the longer period.
            let extended = word.next(OPEN);
            match this.move_with_deadline(word, extended, until) {
                Ok(()) => {
                    Shared::arm_timer(this, extended.generation());
                    return true;
                }
                Err(current) => word = current,
            }
        }
    }

    /// Like [`force`](Self::force); an `Open` target stays open for `open_for` when given,
    /// instead of the breaker's own open duration.
    pub(crate) fn force_for(
        this: &Handle,
        target: CircuitState,
        reason: TransitionReason,
        open_for: Option<Duration>,
    ) {
        let code = match target {
            CircuitState::Closed => CLOSED,
            CircuitState::Open => OPEN,
            CircuitState::HalfOpen => HALF_OPEN,
            CircuitState::Disabled => DISABLED,
            _ => FORCED_OPEN,
        };
        if code == CLOSED {
            this.clear_counts();
            this.trips.store(0, Relaxed);
        }
        if code == OPEN {
            let trips = this.trips.load(Relaxed).saturating_add(1);
            this.trips.store(trips, Relaxed);
            let open_for = open_for.unwrap_or_else(|| this.config.open.for_trip(trips));
            let until = this.epoch.now_nanos().saturating_add(nanos(open_for));
            this.open_until.store(until, Relaxed);
        }
        let mut word = this.load();
        loop {
            match this.cas(word, word.next(code)) {
                Ok(()) => break,
                Err(current) => word = current,
            }
        }
        this.transitioned(word.state(), target, reason, Instant::now());
        if code == OPEN {
            Shared::arm_timer(this, word.next(code).generation());
        }
    }

    fn transitioned(
        &self,
        from: CircuitState,
        to: CircuitState,
        reason: TransitionReason,
        at: Instant,
    ) {
        self.entered_at.store(self.epoch.nanos_at(at), Relaxed);
        *lock(&self.last) = Some(Transition {
            from,
            to,
            reason,
            at,
        });
        let name = &*self.name;
        let key = self.key.as_deref();
        if to == CircuitState::Open || to == CircuitState::ForcedOpen {
            tracing::warn!(breaker = name, key, %from, %to, %reason, "circuit breaker opened");
        } else {
            tracing::info!(breaker = name, key, %from, %to, %reason, "circuit breaker changed state");
        }
        let event = || self.event(EventKind::StateTransition { from, to, reason });
        self.events.emit(event);
        self.transitions.emit(event);
        if let Some(set) = &self.set_transitions {
            set.emit(event);
        }
    }

    pub(crate) fn last_transition(&self) -> Option<Transition> {
        *lock(&self.last)
    }

    pub(crate) fn time_in_state(&self) -> Duration {
        Duration::from_nanos(
            self.epoch
                .now_nanos()
                .saturating_sub(self.entered_at.load(Relaxed)),
        )
    }

    pub(crate) fn window_counts(&self) -> Option<Counts> {
        self.window
            .as_ref()
            .map(|w| w.counts(self.epoch.now_nanos()))
    }

    pub(crate) fn consecutive_failures(&self) -> u32 {
        self.consecutive.load(Relaxed)
    }

    pub(crate) fn trips(&self) -> u32 {
        self.trips.load(Relaxed)
    }

    pub(crate) fn suppressed_trips(&self) -> u64 {
        self.suppressed.load(Relaxed)
    }

    /// When the current open period ends, if the breaker is open.
    pub(crate) fn open_until(&self) -> Option<Instant> {
        self.load()
            .is_open()
            .then(|| self.epoch.instant_at(self.open_until.load(Relaxed)))
    }
}

/// Whether breakers may make Tokio timers. Tokio offers no way to ask whether a runtime has a
/// time driver short of the panic it raises when it has none, which the breaker catches; in a
/// program built with `panic = "abort"` that panic would end the process, so there no breaker
/// makes timers: open periods end on the first call after them (one clock read per rejected
/// call), exactly as after a caught panic.
fn timers_allowed() -> bool {
    cfg!(panic = "unwind") && !NO_TIME_DRIVER.load(std::sync::atomic::Ordering::Relaxed)
}

/// Set once a timer could not be made because the runtime has no time driver (Tokio panics,
/// which the panic hook prints once): from then on no breaker in the process arms timers, and
/// open periods end on the first call after them. Correct either way; a timer only saves
/// rejected calls a clock read.
static NO_TIME_DRIVER: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

struct TimerGuard {
    shared: WeakHandle,
    generation: u32,
    fired: bool,
}

impl Drop for TimerGuard {
    fn drop(&mut self) {
        if self.fired {
            return;
        }
        if let Some(shared) = self.shared.upgrade() {
            let mut word = shared.load();
            while word.is_open() && word.generation() == self.generation && word.timer_armed() {
                match shared.cas(word, Word(word.0 & !TIMER)) {
                    Ok(()) => return,
                    Err(current) => word = current,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn word_fields_do_not_overlap() {
        let w = Word::new(HALF_OPEN, 7).with_probes(65_535, 65_535);
        assert_eq!(w.state(), CircuitState::HalfOpen);
        assert_eq!(w.generation(), 7);
        assert_eq!(w.in_flight(), 65_535);
        assert_eq!(w.successes(), 65_535);
        assert!(!w.timer_armed());
        let n = Word::new(OPEN, (1 << 28) - 1).next(CLOSED);
        assert_eq!(n.generation(), 0, "generations wrap");
        assert_eq!(n.state(), CircuitState::Closed);
    }
}
