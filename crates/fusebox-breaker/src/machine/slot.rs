//! The part of a breaker that its calls touch, in memory that is reused rather than freed, so
//! an admitted call holds a plain reference to it and no reference count.
//!
//! A breaker made by `build()` is freed when its last handle goes, and the calls it admitted
//! may still be running then. Were each call to hold the breaker itself, it would clone and
//! drop a reference count: two locked instructions on a line every core writes, about 13 ns a
//! call on the machine of docs/benchmarks.md. A call holds a `&'static Slot` instead: the state
//! word, the counts, the window and the flags that the closed path reads.
//!
//! When its breaker goes, a slot is retired: its generation moves on, so the calls admitted
//! before take the slow path, which finds no owner and counts them nowhere. After a grace
//! period it is handed, cleared, to the next breaker of the same shape (counter layout and
//! window); by then a call that read the slot's generation just before the retirement has long
//! finished writing. Slots are never freed: a process keeps as many as it had breakers alive at
//! once, per shape, plus those retired in the last [`GRACE`].
//!
//! A success, announced to the owner's listeners if there are any, is counted in the slot.
//! Whatever needs the rest of the breaker (a failure, which may trip it; a slow call; a probe;
//! a cancelled call) reaches it through the slot's owner, a weak handle.

use super::word::{Word, CLOSED, DISABLED, GENERATION_MASK};
use super::{Handle, Ident, Shared, Ticket, WeakHandle};
use crate::clock::{nanos, Epoch};
use crate::config::{Config, WindowKind};
use crate::stats::{Layout, Stats};
use crate::sync::atomic::{
    AtomicU32, AtomicU64,
    Ordering::{AcqRel, Acquire, Relaxed, Release},
};
use crate::window::{When, Window};
use crossbeam_utils::CachePadded;
use fusebox_core::{EventKind, Outcome};
use std::fmt;
use std::sync::atomic::{AtomicU8 as StdAtomicU8, Ordering as StdOrdering};
use std::sync::Arc;
use std::time::Duration;

/// How long a retired slot waits before another breaker may have it.
#[cfg_attr(fusebox_loom, allow(dead_code))]
pub(crate) const GRACE: Duration = Duration::from_secs(1);

// The bits of a slot's route. With none set, a success is counted in the slot without
// reading the clock.

/// Someone listens to the owner's events: a success is announced before it is counted.
pub(super) const LISTENING: u8 = 0b001;
/// A time window without a slow-call policy that the coarse clock cannot date (buckets
/// shorter than [`COARSE_BUCKET`], or built on a paused clock): a success is dated, with one
/// clock read.
const DATED: u8 = 0b010;
/// A slow-call policy: a success is timed (one clock read), and one that was slow goes to the
/// owner.
const TIMED: u8 = 0b100;
/// A time window of buckets of at least [`COARSE_BUCKET`], built on a running clock: a success
/// is dated by the coarse clock, with a load.
const COARSE: u8 = 0b1000;

/// The shortest bucket whose successes are dated by the coarse clock: a success may be dated
/// up to about a millisecond early, a hundredth of such a bucket.
const COARSE_BUCKET: Duration = Duration::from_millis(100);

/// How a time window of buckets of `bucket` dates its successes: by the coarse clock, unless
/// its buckets are too short for it or Tokio's clock is paused (a test that advances it expects
/// every call dated by it).
fn dating(bucket: Duration) -> u8 {
    if cfg!(not(fusebox_loom)) && bucket >= COARSE_BUCKET && crate::clock::runs_in_real_time() {
        COARSE
    } else {
        DATED
    }
}

/// What a slot can be reused for: breakers with the same counter layout and window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Shape {
    layout: Layout,
    window: Option<WindowKind>,
}

pub(crate) struct Slot {
    word: CachePadded<AtomicU64>,
    /// Not padded: every success reads it and only failures write it, so it shares a line
    /// with the fields calls only read (128 bytes less per breaker, which a keyed set of
    /// 100,000 tenants feels).
    pub(super) consecutive: AtomicU32,
    pub(crate) stats: Stats,
    /// Boxed: a window's padded counters would make every slot 500 bytes larger, with a window
    /// or without.
    pub(super) window: Option<Box<Window>>,
    /// Where a success goes: [`LISTENING`], with [`COARSE`], [`DATED`] or [`TIMED`] for what dating it
    /// takes, in one byte read once per call. A plain `std` atomic: the owner's event bus
    /// sets the listening bit.
    pub(super) route: StdAtomicU8,
    /// A slow-call policy's threshold, in nanoseconds (for [`TIMED`]).
    slow_nanos: AtomicU64,
    /// The owner's epoch, in nanoseconds after `clock::base()`.
    epoch: AtomicU64,
    /// The generation the current owner started at: a ticket from before it is a previous
    /// owner's.
    first_generation: AtomicU32,
    owner: Owner,
    /// What the owner's events name, and their bus: a success announced to listeners needs
    /// nothing else of the owner.
    ident: Shelf<Ident>,
    /// The owner, when it lives for the rest of the process: such a slot never changes hands,
    /// so its calls reach the owner, and what its events name, without an atomic pointer.
    forever: std::sync::OnceLock<&'static Shared>,
    shape: Shape,
}

impl fmt::Debug for Slot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Slot")
            .field("word", &self.load())
            .field("shape", &self.shape)
            .finish_non_exhaustive()
    }
}

impl Slot {
    fn new(shape: Shape) -> Slot {
        Slot {
            word: CachePadded::new(AtomicU64::new(Word::new(CLOSED, 0).0)),
            consecutive: AtomicU32::new(0),
            stats: Stats::new(shape.layout),
            window: shape.window.map(|kind| Box::new(Window::new(kind))),
            route: StdAtomicU8::new(0),
            slow_nanos: AtomicU64::new(0),
            epoch: AtomicU64::new(0),
            first_generation: AtomicU32::new(0),
            owner: Owner::default(),
            ident: Shelf::default(),
            forever: std::sync::OnceLock::new(),
            shape,
        }
    }

    /// A slot for a new breaker of `config` counting in `layout`: a retired one of the same
    /// shape whose grace period is over, or a new one. Cleared, in the breaker's first state,
    /// in a generation no earlier call holds.
    pub(crate) fn take(config: &Config, layout: Layout) -> &'static Slot {
        let shape = Shape {
            layout,
            window: config.window,
        };
        let slot = pool::reuse(shape).unwrap_or_else(|| Box::leak(Box::new(Slot::new(shape))));
        slot.stats.reset();
        slot.consecutive.store(0, Relaxed);
        let (clock, slow) = match (config.slow_call, config.window) {
            (Some((threshold, _)), _) => (TIMED, nanos(threshold)),
            (None, Some(WindowKind::Time { duration, buckets })) => (dating(duration / buckets), 0),
            (None, _) => (0, 0),
        };
        let epoch = Epoch::offset_now();
        if let Some(window) = &slot.window {
            // A window dated by the coarse clock takes its successes from the slot's count.
            window.clear(clock == COARSE, epoch, &slot.stats);
        }
        // The listening bit is the owner's bus's to set, once the owner watches it.
        slot.route.store(clock, StdOrdering::Relaxed);
        slot.slow_nanos.store(slow, Relaxed);
        slot.epoch.store(epoch, Relaxed);
        let code = if config.start_disabled {
            DISABLED
        } else {
            CLOSED
        };
        let first = slot.load().next(code);
        slot.first_generation.store(first.generation(), Relaxed);
        // Published last: whoever sees the new generation sees cleared counts.
        slot.word.store(first.0, Release);
        slot
    }

    /// Makes `owner`, whose events carry `ident`, the breaker this slot belongs to.
    pub(super) fn own(&self, owner: WeakHandle, ident: Arc<Ident>) {
        if let WeakHandle::Static(forever) = owner {
            // Never dropped, so this slot is never retired.
            let _ = self.forever.set(forever);
        }
        self.ident.set(Some(ident));
        self.owner.set(Some(Arc::new(owner)));
    }

    /// The owner is gone: no earlier call may count any more, and after the grace period the
    /// slot serves another breaker.
    pub(super) fn retire(&'static self) {
        self.owner.set(None);
        self.ident.set(None);
        let mut word = self.load();
        while let Err(current) = self.cas(word, word.next(word.code())) {
            word = current;
        }
        pool::retire(self);
    }

    #[inline]
    pub(super) fn load(&self) -> Word {
        Word(self.word.load(Acquire))
    }

    #[inline]
    pub(super) fn cas(&self, current: Word, new: Word) -> Result<(), Word> {
        self.word
            .compare_exchange(current.0, new.0, AcqRel, Acquire)
            .map(|_| ())
            .map_err(Word)
    }

    /// The owner's epoch, in nanoseconds after `clock::base()`.
    pub(super) fn epoch_offset(&self) -> u64 {
        self.epoch.load(Relaxed)
    }

    /// Now, in nanoseconds since the owner's epoch: the owner's `epoch.now_nanos()`.
    #[inline]
    fn now_nanos(&self) -> u64 {
        Epoch::offset_now().saturating_sub(self.epoch.load(Relaxed))
    }

    /// Records the outcome of a call this slot admitted.
    ///
    /// The common case, a success through a closed breaker that was not slow, in the
    /// generation that admitted it: counted here (dated as the route says), announced from here
    /// if anyone listens, without the rest of the breaker. The consecutive-failure count is
    /// written only if it changes.
    #[inline(always)]
    pub(crate) fn record(&'static self, ticket: Ticket, outcome: Outcome) {
        if ticket.admitted_closed()
            && matches!(outcome, Outcome::Success)
            && self.load().generation() == ticket.generation()
        {
            let when = match self.route.load(StdOrdering::Relaxed) {
                // Nobody listening: the cases of `date`, spelt out here, which the compiler
                // turns into fewer instructions than a call of it (145 against 147–150 per
                // closed call, 161 against 166–170 for a time window, in `closed_calls`).
                0 => Some(When::At(0)),
                COARSE => Some(When::About(crate::clock::coarse::offset_now())),
                DATED => Some(When::At(self.now_nanos())),
                TIMED => self.unless_slow(ticket).map(When::At),
                route => self.announce_success(ticket, route & !LISTENING),
            };
            if let Some(when) = when {
                if let Some(window) = &self.window {
                    window.record_success(when, &self.stats);
                }
                self.stats.success();
                if self.consecutive.load(Relaxed) != 0 {
                    self.consecutive.store(0, Relaxed);
                }
                return;
            }
        }
        self.record_with_owner(ticket, outcome);
    }

    /// When the success of `ticket` happened, as far as its slot's window needs to know, by
    /// the `clock` bits of the route (none: no clock, no window that needs one); `None` if the
    /// call was slow.
    #[inline(always)]
    fn date(&self, ticket: Ticket, clock: u8) -> Option<When> {
        match clock {
            COARSE => Some(When::About(crate::clock::coarse::offset_now())),
            DATED => Some(When::At(self.now_nanos())),
            TIMED => self.unless_slow(ticket).map(When::At),
            _ => Some(When::At(0)),
        }
    }

    /// Now, if the call of `ticket` was not slow; `None` if it was (its success counts toward
    /// the slow-call rate, which the owner evaluates).
    #[inline]
    fn unless_slow(&self, ticket: Ticket) -> Option<u64> {
        let now = self.now_nanos();
        let started = ticket.started()?;
        (now.saturating_sub(started) < self.slow_nanos.load(Relaxed)).then_some(now)
    }

    /// Someone listens: tells them of the success the slot is about to count, as the owner
    /// would, and returns when it happened (by the route's `clock` bits); `None` for a slow call (the owner evaluates it) or
    /// a slot whose owner is gone.
    #[inline(never)]
    fn announce_success(&self, ticket: Ticket, clock: u8) -> Option<When> {
        let when = self.date(ticket, clock)?;
        // As the owner reports it: a timed call (one with a start) says how long it took.
        let elapsed = match (ticket.started(), when) {
            (Some(started), When::At(now)) => {
                Some(Duration::from_nanos(now.saturating_sub(started)))
            }
            _ => None,
        };
        let kind = EventKind::CallSucceeded {
            elapsed,
            slow: false,
        };
        if let Some(forever) = self.forever.get() {
            let ident = &forever.ident;
            ident.events.emit(|| ident.event(kind));
            return Some(when);
        }
        let held = self.ident.get();
        let ident = held.as_deref()?;
        ident.events.emit(|| ident.event(kind));
        Some(when)
    }

    #[inline(never)]
    fn record_with_owner(&'static self, ticket: Ticket, outcome: Outcome) {
        if let Some(owner) = self.owner_of(ticket) {
            Shared::record_outcome(&owner, ticket, outcome);
        }
    }

    /// The breaker that admitted the call of `ticket`, if it is still alive.
    pub(crate) fn owner_of(&self, ticket: Ticket) -> Option<Handle> {
        let owner = match self.forever.get() {
            Some(forever) => Handle::Static(forever),
            None => self.owner.owner()?,
        };
        // Generations run on from the owner's first, wrapping: a ticket further back than the
        // current word is a previous owner's.
        let first = self.first_generation.load(Relaxed);
        let distance =
            |generation: u32| u64::from(generation.wrapping_sub(first)) & GENERATION_MASK;
        (distance(ticket.generation()) <= distance(self.load().generation())).then_some(owner)
    }
}

#[cfg(test)]
impl Slot {
    /// Puts the owner's first generation at `first` and the word's at `current`, for tests of
    /// what happens when generations wrap.
    pub(crate) fn set_generations(&self, first: u32, current: u32) {
        self.first_generation.store(first, Relaxed);
        self.word
            .store(Word::new(self.load().code(), current).0, Release);
    }

    /// Whether this slot's successes are dated by the coarse clock.
    pub(crate) fn dates_coarsely(&self) -> bool {
        self.route.load(StdOrdering::Relaxed) & COARSE != 0
    }

    /// About now (by the coarse clock) and exactly now, in nanoseconds since the owner's
    /// epoch.
    pub(crate) fn recent_and_exact_nanos(&self) -> (u64, u64) {
        let recent = crate::clock::coarse::offset_now().saturating_sub(self.epoch.load(Relaxed));
        (recent, self.now_nanos())
    }
}

/// A ticket of a closed call admitted in `generation` (tests).
#[cfg(test)]
pub(crate) fn closed_ticket(generation: u32) -> Ticket {
    Ticket::new(generation, super::Admission::Closed, None)
}

/// What loom builds in place of `Shelf` and `pool`: in a file of its own, which mutation
/// runs leave out (`.cargo/mutants.toml`), since no test of the usual build runs it.
#[cfg(fusebox_loom)]
mod stand_in;
#[cfg(fusebox_loom)]
pub(crate) use stand_in::pool;
#[cfg(fusebox_loom)]
use stand_in::Shelf;

/// A value a slot holds for its current owner, replaced when the slot changes hands; read
/// without a lock by the calls that need it.
#[cfg(not(fusebox_loom))]
struct Shelf<T>(arc_swap::ArcSwapOption<T>);

#[cfg(not(fusebox_loom))]
impl<T> Default for Shelf<T> {
    fn default() -> Self {
        Shelf(arc_swap::ArcSwapOption::const_empty())
    }
}

#[cfg(not(fusebox_loom))]
impl<T> Shelf<T> {
    fn set(&self, value: Option<Arc<T>>) {
        self.0.store(value);
    }

    /// The value, if any (`.as_deref()` borrows it for as long as the guard lives).
    fn get(&self) -> arc_swap::Guard<Option<Arc<T>>> {
        self.0.load()
    }
}

/// The breaker a slot belongs to, weakly.
type Owner = Shelf<WeakHandle>;

impl Owner {
    /// The owner, if it is still alive.
    fn owner(&self) -> Option<Handle> {
        self.get().as_deref().and_then(WeakHandle::upgrade)
    }
}

/// Retired slots, oldest first per shape.
#[cfg(not(fusebox_loom))]
pub(crate) mod pool {
    use super::{Shape, Slot, GRACE};
    use crate::sync::lock;
    use std::collections::VecDeque;
    use std::sync::Mutex;
    use std::time::Instant;

    type Retired = VecDeque<(&'static Slot, Instant)>;

    static RETIRED: Mutex<Vec<(Shape, Retired)>> = Mutex::new(Vec::new());

    pub(super) fn retire(slot: &'static Slot) {
        let now = Instant::now();
        let mut pool = lock(&RETIRED);
        match pool.iter_mut().find(|(shape, _)| *shape == slot.shape) {
            Some((_, retired)) => retired.push_back((slot, now)),
            None => pool.push((slot.shape, VecDeque::from([(slot, now)]))),
        }
    }

    #[cfg(test)]
    thread_local! {
        /// How far ahead of the clock this thread's reuses look (tests of the grace period).
        pub(crate) static AHEAD: std::cell::Cell<std::time::Duration> =
            const { std::cell::Cell::new(std::time::Duration::ZERO) };
    }

    fn now() -> Instant {
        #[cfg(test)]
        return Instant::now() + AHEAD.with(std::cell::Cell::get);
        #[cfg(not(test))]
        Instant::now()
    }

    pub(super) fn reuse(shape: Shape) -> Option<&'static Slot> {
        let mut pool = lock(&RETIRED);
        let (_, retired) = pool.iter_mut().find(|(s, _)| *s == shape)?;
        let &(slot, at) = retired.front()?;
        if now().saturating_duration_since(at) < GRACE {
            return None;
        }
        retired.pop_front();
        Some(slot)
    }

    /// How many slots of `slot`'s shape wait for reuse (tests).
    #[cfg(test)]
    pub(crate) fn waiting(slot: &Slot) -> usize {
        lock(&RETIRED)
            .iter()
            .find(|(s, _)| *s == slot.shape)
            .map_or(0, |(_, retired)| retired.len())
    }
}
