//! The breaker's state machine: one atomic word, transitions by compare-and-swap.
//!
//! The word packs the state, a timer flag, the half-open probe counters and a generation that
//! every transition bumps. A call remembers the generation it was admitted in; its outcome is
//! dropped if the generation moved on, so a late result never counts toward a later period.
//! Keeping the probe counters in the same word makes "admit a probe" and "record a probe" exact
//! under contention: both are a single compare-and-swap against the whole state.

mod admit;
mod record;
mod remote;
pub(crate) mod slot;
mod timer;
mod transition;
mod word;

use crate::clock::Epoch;
use crate::config::Config;
use crate::stats::Layout;
use crate::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering::Relaxed};
use crate::sync::lock;
use crate::window::Counts;
use fusebox_core::{CircuitState, Event, EventBus, EventKind, TransitionReason, Watch};
pub(crate) use slot::Slot;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;
use word::Word;

/// What kind of admission a call got.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Admission {
    Closed,
    Probe,
    Disabled,
}

/// Carried by an admitted call until its outcome is recorded.
///
/// The generation, the admission and whether the outcome was recorded share one `u64` (the
/// generation above a recorded bit and two bits of admission), a whole word with no padding
/// beside it: with a `u32` and a one-byte enum the compiler split the generation into bytes and
/// joined them again to fill the padding of the future holding the ticket (14 instructions per
/// call, counted with `benches/src/bin/closed_calls.rs`, docs/benchmarks.md), and a separate
/// `bool` made a permit 48 bytes instead of 40.
///
/// The start of a timed call is kept as nanoseconds since the breaker's epoch, plus one (zero:
/// not timed), so a ticket is two words and a permit 32 bytes.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Ticket {
    key: u64,
    started: u64,
}

/// The ticket's bit saying its outcome was recorded; the generation is above it.
const RECORDED: u64 = 0b100;
const GENERATION_AT: u32 = 3;

impl Ticket {
    #[inline]
    fn new(generation: u32, admission: Admission, started: Option<u64>) -> Ticket {
        let admission = match admission {
            Admission::Closed => 0,
            Admission::Probe => 1,
            Admission::Disabled => 2,
        };
        // A generation has 28 bits (`word::GENERATION_MASK`), so the shift loses none.
        Ticket {
            key: (u64::from(generation) << GENERATION_AT) | admission,
            started: started.map_or(0, |nanos| nanos.saturating_add(1)),
        }
    }

    /// When the call started, in nanoseconds since the breaker's epoch, if it is timed.
    #[inline]
    pub(crate) fn started(self) -> Option<u64> {
        self.started.checked_sub(1)
    }

    /// The generation of the state that admitted the call.
    #[inline]
    pub(crate) fn generation(self) -> u32 {
        (self.key >> GENERATION_AT) as u32
    }

    /// Whether the call's outcome was recorded.
    #[inline]
    pub(crate) fn recorded(self) -> bool {
        self.key & RECORDED != 0
    }

    /// Marks the call's outcome recorded.
    #[inline]
    pub(crate) fn mark_recorded(&mut self) {
        self.key |= RECORDED;
    }

    /// Whether the call was admitted by a closed breaker (the common case, tested without
    /// decoding the admission).
    #[inline]
    pub(crate) fn admitted_closed(self) -> bool {
        self.key & 0b11 == 0
    }

    /// How the call was admitted.
    #[inline]
    pub(crate) fn admission(self) -> Admission {
        match self.key & 0b11 {
            0 => Admission::Closed,
            1 => Admission::Probe,
            _ => Admission::Disabled,
        }
    }
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

/// What a breaker's events name, and the bus they go on: kept with the breaker and, for its
/// calls, with its slot, so that a call whose outcome only needs announcing does not reach the
/// breaker.
#[derive(Debug)]
pub(crate) struct Ident {
    pub(crate) name: Box<str>,
    /// The key (tenant, route, host) of a breaker made by a keyed layer.
    pub(crate) key: Option<Box<str>>,
    pub(crate) events: EventBus,
}

impl Ident {
    /// An event from this breaker, with its key.
    #[inline]
    pub(crate) fn event(&self, kind: EventKind) -> Event<'_> {
        Event::new(&self.name, kind).with_key(self.key.as_deref())
    }
}

/// A reference to a breaker's shared state: counted (freed with the last handle) or static
/// (lives for the rest of the process, so clones touch no reference count).
pub(crate) type Handle = fusebox_core::Handle<Shared>;

/// Held by timers, so a pending timer does not keep a counted breaker alive.
pub(crate) type WeakHandle = fusebox_core::WeakHandle<Shared>;

#[derive(Debug)]
pub(crate) struct Shared {
    /// The state word and the counts: what calls touch, in memory that outlives the breaker
    /// and is then reused, so a call holds it without a reference count (`slot.rs`).
    pub(crate) slot: &'static Slot,
    /// Keeps the listening bit of `slot.route` following whether `events` has listeners.
    watch: Option<Watch>,
    trips: AtomicU32,
    /// Times a policy fired while disabled.
    suppressed: AtomicU64,
    open_until: AtomicU64,
    entered_at: AtomicU64,
    pub(crate) epoch: Epoch,
    last: Mutex<Option<Transition>>,
    /// The name, the key and the event bus, which the slot shares.
    pub(crate) ident: Arc<Ident>,
    /// What the key is, in responses and logs (`"tenant_id"`).
    pub(crate) key_label: &'static str,
    /// Whether this is the breaker a full keyed set shares among new keys.
    pub(crate) overflow: bool,
    pub(crate) config: Config,
    /// Listeners to transitions only: a shared-state store hears local decisions without
    /// making every call build an event.
    pub(crate) transitions: EventBus,
    /// The transition listeners of the keyed set this breaker belongs to, if any.
    set_transitions: Option<EventBus>,
    /// A slow-call policy: each call's start is read at admission, to time it. The slot's
    /// route says so too (`TIMED`); reading it there instead costs 5 instructions per call.
    times_calls: bool,
    /// A time window: the recording of an outcome reads the clock once, to pick its bucket.
    dates_outcomes: bool,
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
        let handle = if leak {
            let leaked: &'static Shared = Box::leak(Box::new(shared));
            leaked.me.get_or_init(|| WeakHandle::Static(leaked));
            Handle::Static(leaked)
        } else {
            Handle::Counted(std::sync::Arc::new_cyclic(|me| {
                shared.me.get_or_init(|| WeakHandle::Counted(me.clone()));
                shared
            }))
        };
        handle.slot.own(handle.downgrade(), handle.ident.clone());
        handle
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
        let slot = Slot::take(&config, layout);
        let watch = events.watch(&slot.route, slot::LISTENING);
        let ident = Arc::new(Ident {
            name: name.into_boxed_str(),
            key,
            events,
        });
        Shared {
            slot,
            watch: Some(watch),
            trips: AtomicU32::new(0),
            suppressed: AtomicU64::new(0),
            open_until: AtomicU64::new(0),
            entered_at: AtomicU64::new(0),
            epoch: Epoch::at_offset(slot.epoch_offset()),
            last: Mutex::new(None),
            ident,
            key_label,
            overflow,
            times_calls: config.slow_call.is_some(),
            dates_outcomes: matches!(config.window, Some(crate::config::WindowKind::Time { .. })),
            probe_gate: AtomicBool::new(false),
            me: std::sync::OnceLock::new(),
            config,
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
        self.ident.event(kind)
    }

    #[inline]
    fn load(&self) -> Word {
        self.slot.load()
    }

    #[inline]
    fn cas(&self, current: Word, new: Word) -> Result<(), Word> {
        self.slot.cas(current, new)
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
        self.slot
            .window
            .as_ref()
            .map(|w| w.counts(self.epoch.now_nanos(), &self.slot.stats))
    }

    pub(crate) fn consecutive_failures(&self) -> u32 {
        self.slot.consecutive.load(Relaxed)
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

impl Drop for Shared {
    fn drop(&mut self) {
        // The flag stops following the bus before the slot can change hands.
        drop(self.watch.take());
        self.slot.retire();
    }
}

#[cfg(test)]
mod tests {
    use super::word::GENERATION_MASK;
    use super::{Admission, Ticket};

    #[test]
    fn a_ticket_gives_back_its_generation_and_admission() {
        let largest = u32::try_from(GENERATION_MASK).expect("28 bits");
        for generation in [0, 1, 2, 3, 0x00FF_FFFF, largest - 1, largest] {
            for admission in [Admission::Closed, Admission::Probe, Admission::Disabled] {
                let ticket = Ticket::new(generation, admission, None);
                assert_eq!(ticket.started(), None);
                for at in [0, 1, u64::MAX - 1] {
                    assert_eq!(
                        Ticket::new(generation, admission, Some(at)).started(),
                        Some(at)
                    );
                }
                assert_eq!(ticket.generation(), generation);
                assert_eq!(ticket.admission(), admission, "generation {generation}");
                assert_eq!(ticket.admitted_closed(), admission == Admission::Closed);
                let mut marked = ticket;
                assert!(!marked.recorded());
                marked.mark_recorded();
                assert!(marked.recorded());
                assert_eq!(marked.generation(), generation);
                assert_eq!(marked.admission(), admission);
                assert_eq!(marked.admitted_closed(), admission == Admission::Closed);
            }
        }
    }
}
