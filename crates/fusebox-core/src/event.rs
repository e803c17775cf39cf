use crate::sync::lock;
use crate::{CircuitState, HealthStatus, TransitionReason};
use arc_swap::ArcSwap;
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

/// Something that happened in a fusebox middleware.
///
/// Events borrow their names from the component that emits them, so emitting one allocates
/// nothing; a listener that keeps an event copies what it needs.
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub struct Event<'a> {
    /// Name of the component (the breaker's name).
    pub source: &'a str,
    /// The key within a keyed component (a tenant, a route), if any.
    pub key: Option<&'a str>,
    /// The correlation id of the request this event concerns (`x-request-id`), if known.
    pub correlation_id: Option<&'a str>,
    /// What happened.
    pub kind: EventKind,
}

impl<'a> Event<'a> {
    /// An event from `source` with no key.
    pub const fn new(source: &'a str, kind: EventKind) -> Self {
        Event {
            source,
            key: None,
            correlation_id: None,
            kind,
        }
    }

    /// The same event, for `key`.
    pub const fn with_key(mut self, key: Option<&'a str>) -> Self {
        self.key = key;
        self
    }

    /// The same event, for the request with this correlation id.
    pub const fn with_correlation_id(mut self, id: Option<&'a str>) -> Self {
        self.correlation_id = id;
        self
    }
}

/// The kinds of [`Event`].
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub enum EventKind {
    /// A call went through and its result was classified as a success.
    CallSucceeded {
        /// How long the call took, when the breaker times calls (a slow-call policy); `None`
        /// otherwise, because reading the clock is not free.
        elapsed: Option<Duration>,
        /// Whether the call was slower than the slow-call threshold.
        slow: bool,
    },
    /// A call went through and its result was classified as a failure.
    CallFailed {
        /// How long the call took, when measured.
        elapsed: Option<Duration>,
        /// Whether the call was slower than the slow-call threshold.
        slow: bool,
    },
    /// A call's result was classified as ignored, or the call was dropped before it completed.
    CallIgnored,
    /// A call was rejected without reaching the dependency.
    CallRejected {
        /// The state that rejected it.
        state: CircuitState,
    },
    /// A disabled breaker's trip policy fired: it would have opened, but it lets calls through.
    /// Its counts start over, as after a real trip, so the next one needs a fresh run of
    /// failures. Disabling a new breaker and watching these is how to try thresholds on live
    /// traffic before they reject anything.
    TripSuppressed {
        /// What would have opened it.
        reason: TransitionReason,
    },
    /// The breaker changed state.
    StateTransition {
        /// State before.
        from: CircuitState,
        /// State after.
        to: CircuitState,
        /// Why.
        reason: TransitionReason,
    },
    /// An attempt of a retried call started (1 is the first send).
    RetryAttemptStarted {
        /// Attempt number, from 1.
        attempt: u32,
    },
    /// An attempt failed and another is scheduled after `delay`.
    RetryScheduled {
        /// The attempt that will be sent next.
        attempt: u32,
        /// The wait before it.
        delay: Duration,
        /// Whether the wait came from the dependency's `Retry-After` (or an open circuit's
        /// next-probe time) rather than from the backoff.
        server_hint: bool,
    },
    /// The retry budget had no token left, so the failure was returned without retrying.
    RetryDenied {
        /// The attempt that failed.
        attempt: u32,
    },
    /// The call was returned without retrying further.
    RetryGaveUp {
        /// Attempts sent.
        attempts: u32,
        /// Why no further attempt was made.
        reason: GiveUpReason,
    },
    /// The call succeeded after more than one attempt.
    RetrySucceeded {
        /// Attempts sent, including the successful one.
        attempts: u32,
    },
    /// The open period ended on a breaker whose probes a shared-state store decides: it stays
    /// open, rejecting calls, while the store asks which instance of the cluster probes. Only
    /// the instance that wins goes half-open; the others make the transition the cluster makes.
    ProbeRequested,
    /// A shared-state store could not reach its backend; breakers keep deciding locally.
    StoreDegraded,
    /// A shared-state store reached its backend again and resumed sharing.
    StoreRecovered,
    /// After each of a shared-state store's flush rounds: what it holds that its backend has
    /// not received yet (all of it while degraded; sent when the backend answers again).
    StorePending {
        /// Calls counted by this instance's breakers and not yet sent.
        calls: u64,
        /// Local transitions not yet shared.
        transitions: u64,
    },
    /// A health check's status changed (the event's source is the check's name).
    HealthChanged {
        /// The status before; `None` for the check's first probe.
        from: Option<HealthStatus>,
        /// The status now.
        to: HealthStatus,
    },
    /// A health check's probe ended (the event's source is the check's name).
    HealthProbed {
        /// What it found.
        status: HealthStatus,
        /// How long it took (its timeout, for a probe that did not finish).
        latency: Duration,
        /// The check's health score (0 to 100) with this probe counted.
        score: u8,
    },
}

/// Why a retried call was returned without a further attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum GiveUpReason {
    /// The maximum number of attempts was reached.
    AttemptsExhausted,
    /// The next wait would run past the call's deadline.
    DeadlineExceeded,
    /// The failure is not retryable.
    Permanent,
    /// The retry budget had no token left.
    BudgetExhausted,
    /// The request's method is not idempotent and it did not opt in to retries.
    NotIdempotent,
    /// The request's body was larger than the buffering limit, so it was sent once.
    BodyTooLarge,
    /// The request could not be copied for another attempt.
    NotCloneable,
    /// An inner circuit breaker rejected the attempt and there is no time worth waiting for:
    /// it was forced open (only an operator ends that), or its next probe falls after the
    /// deadline or beyond the retry's `max_retry_after`.
    CircuitOpen,
    /// The dependency asked to wait (`Retry-After`) longer than the retry's `max_retry_after`:
    /// retrying sooner than asked would only be refused again.
    RetryAfterTooLong,
}

impl GiveUpReason {
    /// The lowercase name used in logs and metrics labels (`"deadline_exceeded"`).
    pub const fn as_str(self) -> &'static str {
        match self {
            GiveUpReason::AttemptsExhausted => "attempts_exhausted",
            GiveUpReason::DeadlineExceeded => "deadline_exceeded",
            GiveUpReason::Permanent => "permanent",
            GiveUpReason::BudgetExhausted => "budget_exhausted",
            GiveUpReason::NotIdempotent => "not_idempotent",
            GiveUpReason::BodyTooLarge => "body_too_large",
            GiveUpReason::NotCloneable => "not_cloneable",
            GiveUpReason::CircuitOpen => "circuit_open",
            GiveUpReason::RetryAfterTooLong => "retry_after_too_long",
        }
    }
}

impl fmt::Display for GiveUpReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Receives events. Implemented for `()` (ignores everything) and for closures.
///
/// Listeners run on the thread that emitted the event, inside the call path: keep them short,
/// and hand heavy work to a channel.
pub trait EventListener: Send + Sync + 'static {
    /// Handles one event.
    fn on_event(&self, event: &Event<'_>);
}

impl EventListener for () {
    fn on_event(&self, _: &Event<'_>) {}
}

impl<F> EventListener for F
where
    F: Fn(&Event<'_>) + Send + Sync + 'static,
{
    fn on_event(&self, event: &Event<'_>) {
        self(event);
    }
}

type Listeners = Vec<(u64, Arc<dyn EventListener>)>;

/// Sets or clears `bit` of `flags`.
fn set_bit(flags: &AtomicU8, bit: u8, on: bool) {
    if on {
        flags.fetch_or(bit, Ordering::Release);
    } else {
        flags.fetch_and(!bit, Ordering::Release);
    }
}

/// The listeners of one component. Emitting to a bus nobody subscribed to is one relaxed atomic
/// load; the event is not even built.
///
/// ```
/// use fusebox_core::{CircuitState, Event, EventBus, EventKind};
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use std::sync::Arc;
///
/// let bus = EventBus::new();
/// let seen = Arc::new(AtomicUsize::new(0));
/// let counter = seen.clone();
/// let subscription = bus.subscribe(move |_: &Event<'_>| {
///     counter.fetch_add(1, Ordering::Relaxed);
/// });
/// bus.emit(|| Event::new("payments", EventKind::CallRejected { state: CircuitState::Open }));
/// drop(subscription); // unsubscribes
/// bus.emit(|| Event::new("payments", EventKind::CallRejected { state: CircuitState::Open }));
/// assert_eq!(seen.load(Ordering::Relaxed), 1);
/// ```
pub struct EventBus {
    inner: Arc<BusInner>,
}

struct BusInner {
    count: AtomicUsize,
    next_id: AtomicU64,
    /// What an event is delivered to: a list replaced whole by each change, read without a
    /// lock, so a listener may subscribe, or drop a subscription (its own included), while it
    /// runs. A delivery under way goes on with the list it started with.
    listeners: ArcSwap<Listeners>,
    /// Taken by each change of the list, so changes (and the counts they publish) come in
    /// order; never held while a listener runs.
    changing: Mutex<()>,
    /// The flags kept saying whether there are listeners, by id (so that a set of 100,000
    /// per-key breakers sharing one bus drops each in O(1)). A lock of their own, never held
    /// while a listener runs: a listener may make a breaker, which watches its bus.
    watchers: Mutex<HashMap<u64, (&'static AtomicU8, u8)>>,
}

impl BusInner {
    /// Publishes the number of listeners, `count`, to the bus's count and its watchers'
    /// flags; called with `changing` held, so publications come in order.
    fn publish(&self, count: usize) {
        self.count.store(count, Ordering::Release);
        for &(flags, bit) in lock(&self.watchers).values() {
            set_bit(flags, bit, count != 0);
        }
    }

    /// Replaces the list of listeners by `change` of it, and publishes its length.
    fn change(&self, change: impl FnOnce(&mut Listeners)) {
        let changing = lock(&self.changing);
        let mut list = Listeners::clone(&self.listeners.load());
        change(&mut list);
        let count = list.len();
        let old = self.listeners.swap(Arc::new(list));
        self.publish(count);
        drop(changing);
        // A listener dropped here may hold a subscription of this bus, whose drop changes
        // the list again: the lock is let go first.
        drop(old);
    }
}

impl Clone for EventBus {
    /// A handle to the same listeners: subscribing through one is seen by all.
    fn clone(&self) -> Self {
        EventBus {
            inner: self.inner.clone(),
        }
    }
}

impl Default for EventBus {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for EventBus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventBus")
            .field("listeners", &self.inner.count.load(Ordering::Relaxed))
            .finish()
    }
}

impl EventBus {
    /// A bus with no listeners.
    pub fn new() -> Self {
        EventBus {
            inner: Arc::new(BusInner {
                count: AtomicUsize::new(0),
                next_id: AtomicU64::new(0),
                listeners: ArcSwap::from_pointee(Vec::new()),
                changing: Mutex::new(()),
                watchers: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// Adds a listener until the returned [`Subscription`] is dropped (or
    /// [`Subscription::detach`]ed, to keep it for the life of the bus).
    pub fn subscribe(&self, listener: impl EventListener) -> Subscription {
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let listener: Arc<dyn EventListener> = Arc::new(listener);
        self.inner.change(|list| list.push((id, listener)));
        Subscription {
            bus: Arc::downgrade(&self.inner),
            id,
            detached: false,
        }
    }

    /// Whether anyone listens.
    #[inline]
    pub fn has_listeners(&self) -> bool {
        self.inner.count.load(Ordering::Relaxed) != 0
    }

    /// Builds the event with `make` and delivers it, only if anyone listens.
    #[inline]
    pub fn emit<'a>(&self, make: impl FnOnce() -> Event<'a>) {
        if self.has_listeners() {
            self.deliver(&make());
        }
    }

    #[cold]
    fn deliver(&self, event: &Event<'_>) {
        let list = self.inner.listeners.load();
        for (_, listener) in list.iter() {
            listener.on_event(event);
        }
    }

    /// Keeps `bit` of `flags` saying whether this bus has listeners, from now until the
    /// returned [`Watch`] is dropped, for fusebox's own crates: a breaker keeps the flag
    /// beside the counters its calls touch, so a call learns that nobody listens without
    /// reaching the bus. The other bits of `flags` are left alone. Not part of the stable API.
    #[doc(hidden)]
    pub fn watch(&self, flags: &'static AtomicU8, bit: u8) -> Watch {
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        // The count is published before the watchers are updated, under their lock: read
        // under it too, it is the last one published, or one whose update of the watchers
        // waits for this watcher to be in.
        let mut watchers = lock(&self.inner.watchers);
        set_bit(flags, bit, self.inner.count.load(Ordering::Acquire) != 0);
        watchers.insert(id, (flags, bit));
        Watch {
            bus: Arc::downgrade(&self.inner),
            id,
            flags,
            bit,
        }
    }
}

/// Keeps a flag following whether a bus has listeners ([`EventBus::watch`]); dropping it
/// stops that and clears the flag.
#[doc(hidden)]
pub struct Watch {
    bus: Weak<BusInner>,
    id: u64,
    flags: &'static AtomicU8,
    bit: u8,
}

impl fmt::Debug for Watch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Watch")
            .field(
                "listening",
                &(self.flags.load(Ordering::Relaxed) & self.bit != 0),
            )
            .finish()
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        if let Some(bus) = self.bus.upgrade() {
            lock(&bus.watchers).remove(&self.id);
        }
        set_bit(self.flags, self.bit, false);
    }
}

/// Keeps a listener subscribed; dropping it unsubscribes.
#[must_use = "dropping a Subscription unsubscribes its listener at once; call `detach` to keep it"]
pub struct Subscription {
    bus: Weak<BusInner>,
    id: u64,
    detached: bool,
}

impl fmt::Debug for Subscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscription")
            .field("id", &self.id)
            .field("detached", &self.detached)
            .finish()
    }
}

impl Subscription {
    /// Keeps the listener subscribed for as long as the bus lives.
    pub fn detach(mut self) {
        self.detached = true;
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        if self.detached {
            return;
        }
        if let Some(bus) = self.bus.upgrade() {
            bus.change(|list| list.retain(|(id, _)| *id != self.id));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[test]
    fn give_up_reasons_have_the_names_logs_and_labels_use() {
        let names = [
            (GiveUpReason::AttemptsExhausted, "attempts_exhausted"),
            (GiveUpReason::DeadlineExceeded, "deadline_exceeded"),
            (GiveUpReason::Permanent, "permanent"),
            (GiveUpReason::BudgetExhausted, "budget_exhausted"),
            (GiveUpReason::NotIdempotent, "not_idempotent"),
            (GiveUpReason::BodyTooLarge, "body_too_large"),
            (GiveUpReason::NotCloneable, "not_cloneable"),
            (GiveUpReason::CircuitOpen, "circuit_open"),
            (GiveUpReason::RetryAfterTooLong, "retry_after_too_long"),
        ];
        for (reason, name) in names {
            assert_eq!(reason.as_str(), name);
            assert_eq!(reason.to_string(), name);
        }
    }

    #[test]
    fn no_listener_means_no_event_is_built() {
        let bus = EventBus::new();
        bus.emit(|| panic!("event built with no listener"));
        assert!(!bus.has_listeners());
    }

    #[test]
    fn a_watched_flag_follows_the_listeners_until_the_watch_is_dropped() {
        const BIT: u8 = 0b100;
        let flags: &'static AtomicU8 = Box::leak(Box::new(AtomicU8::new(BIT | 0b1)));
        let listening = || flags.load(Ordering::Relaxed) & BIT != 0;
        let bus = EventBus::new();
        let watch = bus.watch(flags, BIT);
        assert!(!listening(), "set from the bus at once");
        let first = bus.subscribe(|_: &Event<'_>| {});
        let second = bus.subscribe(|_: &Event<'_>| {});
        assert!(listening());
        drop(first);
        assert!(listening(), "one listener is left");
        drop(second);
        assert!(!listening());
        let kept = bus.subscribe(|_: &Event<'_>| {});
        assert!(listening());
        drop(watch);
        assert!(!listening(), "cleared when the watch goes");
        drop(kept);
        let _again = bus.subscribe(|_: &Event<'_>| {});
        assert!(!listening(), "no longer followed");
        assert_eq!(
            flags.load(Ordering::Relaxed),
            0b1,
            "the other bits untouched"
        );
    }

    #[test]
    fn a_listener_may_subscribe_and_unsubscribe_while_it_runs() {
        fusebox_testkit::within_a_minute(
            "a listener that subscribes and unsubscribes",
            a_listener_subscribes_and_unsubscribes,
        );
    }

    fn a_listener_subscribes_and_unsubscribes() {
        let bus = EventBus::new();
        let seen = Arc::new(Mutex::new(Vec::new()));
        // A one-shot listener: its first event drops its own subscription.
        let own: Arc<Mutex<Option<Subscription>>> = Arc::default();
        let (once, s1) = (own.clone(), seen.clone());
        *own.lock().unwrap() = Some(bus.subscribe(move |e: &Event<'_>| {
            s1.lock().unwrap().push(("once", e.source.to_owned()));
            drop(once.lock().unwrap().take());
        }));
        // A listener that subscribes another on its first event.
        let (added, s2, inner_bus) = (Arc::new(Mutex::new(false)), seen.clone(), bus.clone());
        bus.subscribe(move |e: &Event<'_>| {
            s2.lock().unwrap().push(("adder", e.source.to_owned()));
            let mut added = added.lock().unwrap();
            if !*added {
                *added = true;
                let s3 = s2.clone();
                inner_bus
                    .subscribe(move |e: &Event<'_>| {
                        s3.lock().unwrap().push(("added", e.source.to_owned()));
                    })
                    .detach();
            }
        })
        .detach();
        // Each delivery goes to the listeners there were when it began.
        bus.emit(|| Event::new("a", EventKind::CallIgnored));
        bus.emit(|| Event::new("b", EventKind::CallIgnored));
        assert_eq!(
            *seen.lock().unwrap(),
            vec![
                ("once", "a".to_owned()),
                ("adder", "a".to_owned()),
                ("adder", "b".to_owned()),
                ("added", "b".to_owned()),
            ]
        );
        assert!(own.lock().unwrap().is_none());
    }

    #[test]
    fn a_listener_holding_a_subscription_of_its_bus_can_be_dropped() {
        fusebox_testkit::within_a_minute(
            "dropping a listener that holds a subscription",
            dropping_a_listener_that_holds_a_subscription,
        );
    }

    fn dropping_a_listener_that_holds_a_subscription() {
        let bus = EventBus::new();
        let inner = bus.subscribe(|_: &Event<'_>| {});
        // The outer listener owns the inner subscription: dropping the outer one drops the
        // inner, which changes the list again.
        let outer = bus.subscribe(move |_: &Event<'_>| {
            let _ = &inner;
        });
        assert!(bus.has_listeners());
        drop(outer);
        assert!(!bus.has_listeners(), "both gone");
    }

    #[test]
    fn detached_listeners_stay_and_dropped_ones_leave() {
        let bus = EventBus::new();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s1 = seen.clone();
        bus.subscribe(move |e: &Event<'_>| s1.lock().unwrap().push(("kept", e.source.to_owned())))
            .detach();
        let s2 = seen.clone();
        let temporary = bus
            .subscribe(move |e: &Event<'_>| s2.lock().unwrap().push(("temp", e.source.to_owned())));
        bus.emit(|| Event::new("a", EventKind::CallIgnored));
        drop(temporary);
        bus.emit(|| Event::new("b", EventKind::CallIgnored));
        assert_eq!(
            *seen.lock().unwrap(),
            vec![
                ("kept", "a".to_owned()),
                ("temp", "a".to_owned()),
                ("kept", "b".to_owned())
            ]
        );
    }
}
