//! The Redis store: [`RedisStore`] and the breakers it shares (here), its builder and TLS
//! (`builder`), connections and backoff (`connection`), the typed protocol of its Lua scripts
//! (`protocol`), and the loops that keep both sides in step (`sync`).

use fusebox_core::sync::lock;
use fusebox_core::{
    CircuitState, Event, EventBus, EventKind, EventListener, Role, StateStore, StoredCircuit,
    StoredRef, Subscription, TransitionReason, WeakStoredRef,
};
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Longest time sent to Redis in a script, in milliseconds: Lua numbers are doubles, exact up
/// to 2^53, and Redis adds TTLs to its clock. About 285,000 years, past any breaker duration.
const MAX_SCRIPT_MS: u64 = 1 << 53;

/// `d` in whole milliseconds for a script, at least `floor` and at most [`MAX_SCRIPT_MS`]:
/// never a truncated `u128`.
pub(super) fn script_ms(d: Duration, floor: u64) -> u64 {
    u64::try_from(d.as_millis())
        .unwrap_or(u64::MAX)
        .clamp(floor, MAX_SCRIPT_MS)
}

mod builder;
mod connection;
mod protocol;
mod sync;

#[cfg(feature = "tls")]
use builder::Tls;
use connection::{Backend, Connection};
use protocol::Action;

pub use builder::RedisStoreBuilder;

/// Shares the state of attached breakers with every instance using the same Redis namespace.
/// Cheap to clone; dropping the last clone stops its background tasks.
#[derive(Clone)]
pub struct RedisStore {
    inner: Arc<Inner>,
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("namespace", &self.inner.settings.namespace)
            .field("degraded", &self.is_degraded())
            .finish_non_exhaustive()
    }
}

struct Inner {
    backend: Backend,
    /// Clients for the pub/sub subscription, tried in turn.
    subscribers: Vec<redis::Client>,
    settings: RedisStoreBuilder,
    channel: String,
    /// Names this instance in probe leases.
    instance: String,
    attached: Mutex<HashMap<String, Vec<Arc<Attached>>>>,
    /// Breakers with local transitions to share.
    transitions: mpsc::UnboundedSender<Arc<Attached>>,
    events: EventBus,
    health: Mutex<Health>,
    connection: tokio::sync::Mutex<Option<Connection>>,
    /// Its receiver, in the subscription task, learns that the store is gone.
    _stop: tokio::sync::watch::Sender<()>,
    /// Flush rounds completed.
    rounds: std::sync::atomic::AtomicU64,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // The breakers outlive their store: from now on they decide alone, and one that waits
        // for the store's answer to "who probes?" probes on its own.
        for attached in lock(&self.attached).values().flatten() {
            if let Some(breaker) = attached.breaker.upgrade() {
                breaker.gate_probes(false);
            }
        }
    }
}

#[derive(Default)]
struct Health {
    degraded: bool,
    last_warning: Option<Instant>,
    /// When the next connection attempt may be made.
    reconnect: connection::Reconnect,
}

struct Attached {
    /// Weak, so a keyed set can still evict the breaker; the store forgets it then.
    breaker: WeakStoredRef,
    /// The breaker's name in Redis (see [`shared_id`]).
    id: String,
    /// The shared generation last applied or written; older news is ignored.
    generation: Mutex<i64>,
    /// Successes and failures already sent.
    flushed: Mutex<(u64, u64)>,
    /// The probe lease this instance holds (`<instance>:<token>`), if any.
    lease: Mutex<String>,
    /// Local transitions not yet shared.
    pending: Mutex<Pending>,
    /// Whether a flush has read the shared state back yet: the first one is not put off.
    read: std::sync::atomic::AtomicBool,
}

/// A breaker's local transitions waiting to be shared, newest last: at most two, because a
/// newer transition supersedes the older ones. The one exception is a request to probe right
/// after the trip that opened the breaker, which keeps the trip too, so Redis learns of the
/// open period before it is asked who probes after it. However fast a keyed set's tenants
/// trip, nothing is dropped and memory stays bounded by the number of attached breakers.
#[derive(Debug, Default)]
struct Pending {
    actions: Vec<(Action, Duration)>,
}

impl Pending {
    /// Adds `action`; `true` if nothing was pending before (the breaker must be queued).
    fn push(&mut self, action: Action, open_for: Duration) -> bool {
        let was_empty = self.actions.is_empty();
        let follows_trip =
            action == Action::Probe && matches!(self.actions.last(), Some((Action::Open, _)));
        if !follows_trip {
            self.actions.clear();
        }
        self.actions.push((action, open_for));
        was_empty
    }

    fn take(&mut self) -> Vec<(Action, Duration)> {
        std::mem::take(&mut self.actions)
    }

    /// Puts back `unsent` actions, older than anything pushed since they were taken.
    fn restore(&mut self, unsent: Vec<(Action, Duration)>) {
        let newer = self.take();
        for (action, open_for) in unsent.into_iter().chain(newer) {
            self.push(action, open_for);
        }
    }
}

impl RedisStore {
    /// Starts building a store on a Redis Cluster reached through any of `nodes`
    /// (`redis://host:port`), sharing state with every instance that uses the same `namespace`.
    /// All keys of one breaker share a hash tag, so every script touches one slot.
    #[cfg(feature = "cluster")]
    #[cfg_attr(docsrs, doc(cfg(feature = "cluster")))]
    pub fn cluster_builder(
        nodes: impl IntoIterator<Item = impl Into<String>>,
        namespace: impl Into<String>,
    ) -> RedisStoreBuilder {
        let nodes: Vec<String> = nodes.into_iter().map(Into::into).collect();
        let mut builder =
            RedisStore::builder(nodes.first().cloned().unwrap_or_default(), namespace);
        builder.cluster = Some(nodes);
        builder
    }

    /// Starts building a store on the Redis at `url` (`redis://host:port/db`), sharing state
    /// with every instance that uses the same `namespace`.
    pub fn builder(url: impl Into<String>, namespace: impl Into<String>) -> RedisStoreBuilder {
        RedisStoreBuilder {
            url: url.into(),
            cluster: None,
            namespace: namespace.into(),
            flush_interval: Duration::from_millis(100),
            poll_interval: Duration::from_secs(1),
            command_timeout: Duration::from_millis(250),
            window: Duration::from_secs(10),
            key_ttl: Duration::from_secs(3600),
            quorum: 1,
            #[cfg(feature = "tls")]
            tls: Tls::default(),
        }
    }

    /// How many breakers the store shares (breakers dropped, or evicted from a keyed set, are
    /// forgotten at the next flush).
    pub fn attached(&self) -> usize {
        lock(&self.inner.attached).values().map(Vec::len).sum()
    }

    /// Flush rounds the store has completed: one per flush interval, in which every attached
    /// breaker that saw calls (or is due for a poll) sent one script. For monitoring, and for
    /// waiting until a flush is known to have run.
    pub fn flush_rounds(&self) -> u64 {
        self.inner.rounds.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Whether Redis is unreachable or failing right now.
    pub fn is_degraded(&self) -> bool {
        lock(&self.inner.health).degraded
    }

    /// Listens to the store's `StoreDegraded`, `StoreRecovered` and `StorePending` events (the
    /// last after each flush round: calls and transitions not yet sent).
    pub fn subscribe(&self, listener: impl EventListener) -> Subscription {
        self.inner.events.subscribe(listener)
    }
}

impl StateStore for RedisStore {
    /// Shares `breaker`'s state from now on. Breakers with the same name, in any instance of
    /// the namespace, share one state; attaching the same breaker again does nothing. The hot
    /// path is untouched: the store reads the breaker's counters on its own schedule and
    /// listens only to its transitions. The store holds the breaker weakly: once the breaker
    /// is dropped (or evicted from a keyed set), the store forgets it.
    fn attach(&self, breaker: &StoredRef) {
        let id = shared_id(&**breaker);
        let already = lock(&self.inner.attached).get(&id).is_some_and(|list| {
            list.iter()
                .any(|a| a.breaker.upgrade().is_some_and(|b| b.ptr_eq(breaker)))
        });
        if already {
            // Attaching twice (a registry's store and a direct call, say) would count every
            // call twice in the shared window.
            return;
        }
        breaker.gate_probes(true);
        let attached = Arc::new(Attached {
            breaker: breaker.downgrade(),
            id: id.clone(),
            generation: Mutex::new(0),
            flushed: Mutex::new(breaker.outcome_totals()),
            lease: Mutex::new(String::new()),
            pending: Mutex::new(Pending::default()),
            read: std::sync::atomic::AtomicBool::new(false),
        });
        let sender = self.inner.transitions.clone();
        // Weak: the breaker holds this listener, and the store holds the breaker.
        let me = Arc::downgrade(&attached);
        breaker
            .on_transition(Box::new(move |e: &Event<'_>| {
                let action = match e.kind {
                    // The open period ended: ask the cluster who probes.
                    EventKind::ProbeRequested => Action::Probe,
                    EventKind::StateTransition { to, reason, .. } => match (to, reason) {
                        (_, TransitionReason::Remote) => return,
                        (CircuitState::Open, _) => Action::Open,
                        (CircuitState::Closed, TransitionReason::Reset) => Action::Reset,
                        (CircuitState::Closed, _) => Action::Close,
                        (CircuitState::ForcedOpen, _) => Action::ForcedOpen,
                        (CircuitState::Disabled, _) => Action::Disabled,
                        // Half-open because this instance won the lease: nothing to share.
                        _ => return,
                    },
                    _ => return,
                };
                let Some(me) = me.upgrade() else {
                    return;
                };
                let Some(breaker) = me.breaker.upgrade() else {
                    return;
                };
                let open_for = breaker.open_remaining().unwrap_or_default();
                if lock(&me.pending).push(action, open_for) {
                    // An error means the store is gone; the breaker goes on alone.
                    let _ = sender.send(me.clone());
                }
            }))
            .detach();
        lock(&self.inner.attached)
            .entry(id)
            .or_default()
            .push(attached);
    }
}

/// A breaker's name in Redis keys and messages, the same in every instance and different for
/// every breaker: the escaped name; for a keyed set's breakers `:` and the escaped key, or
/// `:%none` (requests without a key) or `:%overflow` (new keys of a full set). Escaping turns
/// `%`, `:`, braces and control characters into `%XX`, so `%` followed by a letter never comes
/// from a name or key, and `a:b` names a breaker `a:b`, never the key `b` of a set `a`.
pub(crate) fn shared_id(breaker: &dyn StoredCircuit) -> String {
    let mut id = String::new();
    escape_into(&mut id, breaker.name());
    match breaker.role() {
        Role::Plain => {}
        Role::Key(key) => {
            id.push(':');
            escape_into(&mut id, key);
        }
        Role::Keyless => id.push_str(":%none"),
        Role::Overflow => id.push_str(":%overflow"),
        // A role this version does not know: still apart from every name and key above.
        _ => id.push_str(":%other"),
    }
    id
}

fn escape_into(out: &mut String, text: &str) {
    use std::fmt::Write;
    for c in text.chars() {
        if matches!(c, '%' | ':' | '{' | '}') || c.is_ascii_control() {
            let _ = write!(out, "%{:02X}", u32::from(c));
        } else {
            out.push(c);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::builder::redacted;
    use super::protocol::{Action, ProbeDecision, SharedState};
    use super::sync::{apply, on_probe_reply};
    use super::{Attached, Pending};
    use fusebox_core::{
        Circuit, CircuitState, Event, EventBus, Role, SharedPolicy, StoredCircuit, Subscription,
    };
    use std::sync::Mutex;
    use std::time::Duration;

    proptest::proptest! {
        /// However transitions come (and fail to be sent), a breaker keeps at most two, the
        /// newest pushed is always kept and last, and a probe request is kept only right after
        /// the trip that preceded it.
        #[test]
        fn pending_transitions_stay_bounded_and_keep_the_newest(
            steps in proptest::collection::vec((0usize..7, proptest::bool::ANY), 1..60)
        ) {
            const ACTIONS: [Action; 6] = [
                Action::Open,
                Action::Probe,
                Action::Close,
                Action::Reset,
                Action::ForcedOpen,
                Action::Disabled,
            ];
            let mut p = Pending::default();
            let mut newest: Option<Action>;
            for (choice, fail) in steps {
                if choice < ACTIONS.len() {
                    let action = ACTIONS[choice];
                    p.push(action, Duration::ZERO);
                    newest = Some(action);
                } else {
                    // A send: everything taken, the non-probe ones failed and put back if
                    // `fail`.
                    // (Probe requests are answered either way.)
                    let taken = p.take();
                    if fail {
                        let unsent: Vec<_> =
                            taken.into_iter().filter(|(a, _)| *a != Action::Probe).collect();
                        newest = unsent.last().map(|(a, _)| *a);
                        p.restore(unsent);
                    } else {
                        newest = None;
                    }
                }
                proptest::prop_assert!(p.actions.len() <= 2, "{:?}", p.actions);
                if let Some(action) = newest {
                    if action != Action::Probe || !p.actions.is_empty() {
                        proptest::prop_assert_eq!(p.actions.last().map(|(a, _)| *a), Some(action));
                    }
                }
                if p.actions.len() == 2 {
                    proptest::prop_assert_eq!(p.actions[0].0, Action::Open);
                    proptest::prop_assert_eq!(p.actions[1].0, Action::Probe);
                }
            }
        }
    }

    /// A circuit that does what a store asks of it as a breaker would, and logs each request:
    /// the store's side of the contract, seen from the circuit.
    struct Recorder {
        name: &'static str,
        role: Role<'static>,
        state: Mutex<CircuitState>,
        /// An open period ended and the circuit waits for the store's answer.
        awaiting: Mutex<bool>,
        log: Mutex<Vec<String>>,
    }

    impl Recorder {
        fn awaiting_probe() -> Recorder {
            let recorder = Recorder::in_state(CircuitState::Open);
            *recorder.awaiting.lock().unwrap() = true;
            recorder
        }

        fn in_state(state: CircuitState) -> Recorder {
            Recorder {
                name: "x",
                role: Role::Plain,
                state: Mutex::new(state),
                awaiting: Mutex::new(false),
                log: Mutex::new(Vec::new()),
            }
        }

        fn named(name: &'static str, role: Role<'static>) -> Recorder {
            Recorder {
                name,
                role,
                ..Recorder::in_state(CircuitState::Closed)
            }
        }

        fn state(&self) -> CircuitState {
            *self.state.lock().unwrap()
        }

        fn log(&self) -> Vec<String> {
            self.log.lock().unwrap().clone()
        }

        fn note(&self, entry: String) {
            self.log.lock().unwrap().push(entry);
        }
    }

    impl Circuit for Recorder {
        fn name(&self) -> &str {
            self.name
        }
        fn role(&self) -> Role<'_> {
            self.role
        }
        fn state(&self) -> CircuitState {
            Recorder::state(self)
        }
    }

    impl StoredCircuit for Recorder {
        fn outcome_totals(&self) -> (u64, u64) {
            (0, 0)
        }
        fn shared_policy(&self) -> SharedPolicy {
            SharedPolicy::new(Duration::from_secs(1), Duration::from_secs(5))
        }
        fn open_remaining(&self) -> Option<Duration> {
            None
        }
        fn apply_remote_state(&self, state: CircuitState) {
            if Recorder::state(self) != state {
                *self.state.lock().unwrap() = state;
                *self.awaiting.lock().unwrap() = false;
                self.note(format!("-> {state}"));
            }
        }
        fn apply_remote_open(&self, remaining: Duration) {
            *self.state.lock().unwrap() = CircuitState::Open;
            self.note(format!("open for {remaining:?}"));
        }
        fn gate_probes(&self, on: bool) {
            self.note(format!("gate {on}"));
        }
        fn grant_probes(&self) -> bool {
            let waiting = std::mem::take(&mut *self.awaiting.lock().unwrap());
            if waiting {
                *self.state.lock().unwrap() = CircuitState::HalfOpen;
                self.note("-> half_open".to_owned());
            }
            waiting
        }
        fn defer_probe(&self, wait: Duration) -> bool {
            let waiting = std::mem::take(&mut *self.awaiting.lock().unwrap());
            if waiting {
                self.note(format!("deferred {wait:?}"));
            }
            waiting
        }
        fn on_transition(
            &self,
            _: Box<dyn Fn(&Event<'_>) + Send + Sync + 'static>,
        ) -> Subscription {
            EventBus::new().subscribe(())
        }
    }

    fn attached_to(generation: i64) -> Attached {
        Attached {
            breaker: fusebox_core::Handle::<dyn StoredCircuit>::Static(Box::leak(Box::new(
                Recorder::in_state(CircuitState::Closed),
            )))
            .downgrade(),
            id: "x".to_owned(),
            generation: Mutex::new(generation),
            flushed: Mutex::new((0, 0)),
            lease: Mutex::new(String::new()),
            pending: Mutex::new(Pending::default()),
            read: std::sync::atomic::AtomicBool::new(false),
        }
    }

    #[test]
    fn a_late_wait_reply_does_not_reopen_a_closed_breaker() {
        let b = Recorder::awaiting_probe();
        // The lease request was asked in shared generation 5. Before its reply arrives, the
        // prober's close (generation 6) comes by pub/sub...
        let attached = attached_to(5);
        apply(&attached, &b, SharedState::Closed, 6, 0);
        assert_eq!(b.state(), CircuitState::Closed);
        // ...then the reply: "wait, another instance holds the lease", made in generation 5.
        on_probe_reply(
            &attached,
            &b,
            5,
            ProbeDecision::Wait,
            2_000,
            String::new(),
            5,
        );
        // A late "closed" reply to a closed breaker, and an old closed state: no request.
        on_probe_reply(&attached, &b, 5, ProbeDecision::Closed, 0, String::new(), 6);
        apply(&attached, &b, SharedState::Closed, 7, 0);
        assert_eq!(
            b.log(),
            ["-> closed"],
            "the stale replies asked for nothing"
        );
    }

    #[test]
    fn an_instance_without_the_lease_stays_open_with_no_transition() {
        let b = Recorder::awaiting_probe();
        let attached = attached_to(5);
        on_probe_reply(&attached, &b, 5, ProbeDecision::Wait, 300, String::new(), 5);
        assert_eq!(b.state(), CircuitState::Open);
        // The prober's success arrives: the one transition the cluster made.
        apply(&attached, &b, SharedState::Closed, 6, 0);
        assert_eq!(b.log(), ["deferred 300ms", "-> closed"]);
    }

    #[test]
    fn a_wait_is_cut_to_one_open_period() {
        let b = Recorder::awaiting_probe();
        on_probe_reply(
            &attached_to(5),
            &b,
            5,
            ProbeDecision::Wait,
            60_000,
            String::new(),
            5,
        );
        assert_eq!(
            b.log(),
            ["deferred 1s"],
            "asked again after an open period at most"
        );
    }

    #[test]
    fn the_instance_that_wins_the_lease_goes_half_open() {
        let b = Recorder::awaiting_probe();
        let attached = attached_to(5);
        on_probe_reply(
            &attached,
            &b,
            5,
            ProbeDecision::Granted,
            0,
            "me:9".to_owned(),
            5,
        );
        assert_eq!(b.state(), CircuitState::HalfOpen);
        assert_eq!(*attached.lease.lock().unwrap(), "me:9");
        assert_eq!(b.log(), ["-> half_open"]);
    }

    #[test]
    fn an_answer_this_version_does_not_know_lets_the_breaker_probe() {
        let b = Recorder::awaiting_probe();
        on_probe_reply(
            &attached_to(5),
            &b,
            5,
            ProbeDecision::Unknown,
            0,
            String::new(),
            5,
        );
        assert_eq!(b.state(), CircuitState::HalfOpen);
    }

    #[test]
    fn shared_state_waits_while_a_local_transition_is_unshared() {
        let b = Recorder::in_state(CircuitState::Open);
        let attached = attached_to(0);
        attached
            .pending
            .lock()
            .unwrap()
            .push(Action::Open, Duration::from_secs(30));
        // Redis still says closed: it has not heard of the trip.
        apply(&attached, &b, SharedState::Closed, 5, 0);
        assert_eq!(b.state(), CircuitState::Open, "the local trip is newer");
        attached.pending.lock().unwrap().take();
        // Once shared, a newer closed state (an operator's reset, say) applies.
        apply(&attached, &b, SharedState::Closed, 6, 0);
        assert_eq!(b.state(), CircuitState::Closed);
        // An open state extends with what is left of the shared period.
        apply(&attached, &b, SharedState::Open, 7, 1_500);
        assert_eq!(b.log(), ["-> closed", "open for 1.5s"]);
    }

    #[test]
    fn pending_transitions_keep_the_newest_and_a_trip_before_its_probe() {
        let mut p = Pending::default();
        let s = Duration::from_secs(1);
        assert!(p.push(Action::Open, s), "the first queues the breaker");
        assert!(!p.push(Action::Probe, s), "already queued");
        assert_eq!(p.actions, [(Action::Open, s), (Action::Probe, s)]);
        p.push(Action::Close, s);
        assert_eq!(p.actions, [(Action::Close, s)], "a close supersedes both");
        p.push(Action::Probe, s);
        assert_eq!(p.actions, [(Action::Probe, s)], "no trip to keep before it");
        p.push(Action::Open, s);
        p.push(Action::Open, s);
        assert_eq!(p.actions, [(Action::Open, s)]);
        assert_eq!(p.take(), [(Action::Open, s)]);
        assert!(p.push(Action::Reset, s), "queued again once taken");
        // Unsent actions go back before newer ones, which still supersede them.
        p.take();
        p.push(Action::Probe, s);
        p.restore(vec![(Action::Open, s)]);
        assert_eq!(p.actions, [(Action::Open, s), (Action::Probe, s)]);
        p.take();
        p.push(Action::Close, s);
        p.restore(vec![(Action::Open, s)]);
        assert_eq!(p.actions, [(Action::Close, s)]);
    }

    #[test]
    fn shared_ids_never_collide() {
        use super::shared_id;
        let ids = [
            shared_id(&Recorder::named("a:b", Role::Plain)),
            shared_id(&Recorder::named("a", Role::Key("b"))),
            shared_id(&Recorder::named("a", Role::Key("%none"))),
            shared_id(&Recorder::named("a", Role::Key("(overflow)"))),
            shared_id(&Recorder::named("a", Role::Overflow)),
            shared_id(&Recorder::named("a", Role::Keyless)),
            shared_id(&Recorder::named("a", Role::Plain)),
            shared_id(&Recorder::named("a{x}\t", Role::Plain)),
        ];
        assert_eq!(
            ids,
            [
                "a%3Ab",
                "a:b",
                "a:%25none",
                "a:(overflow)",
                "a:%overflow",
                "a:%none",
                "a",
                "a%7Bx%7D%09",
            ]
        );
    }

    #[test]
    fn passwords_are_redacted_from_urls() {
        for (url, shown) in [
            ("redis://:s3cret@host:6379/0", "redis://:***@host:6379/0"),
            ("rediss://user:p@ss:w@host/", "rediss://user:***@host/"),
            ("redis://user@host/", "redis://user@host/"),
            ("redis://host:6379/", "redis://host:6379/"),
            ("redis://host/path@x", "redis://host/path@x"),
            ("not a url", "not a url"),
        ] {
            assert_eq!(redacted(url), shown, "{url}");
        }
        let builder = crate::RedisStore::builder("redis://:s3cret@127.0.0.1:1/", "ns");
        let debug = format!("{builder:?}");
        assert!(
            !debug.contains("s3cret") && debug.contains(":***@"),
            "{debug}"
        );
    }
}
