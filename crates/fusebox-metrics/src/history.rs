//! [`History`]: the transitions breakers made, bounded, and what they show: how often each
//! opened, for how long, at what time of day, and snapshots of every breaker's state.

use fusebox_core::sync::lock;
use fusebox_core::{CircuitState, Event, EventKind, EventListener};
use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use tokio::time::Instant;

/// One state change, as [`History`] keeps it.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct TransitionRecord {
    /// The breaker's name.
    pub breaker: String,
    /// The key, for a keyed set's breaker.
    pub key: Option<String>,
    /// The state it left.
    pub from: CircuitState,
    /// The state it entered.
    pub to: CircuitState,
    /// Why, as a label name (`"consecutive_failures"`).
    pub reason: &'static str,
    /// When, on the monotonic clock (Tokio's, so paused time in tests moves it).
    pub at: Instant,
    /// When, on the wall clock.
    pub wall: SystemTime,
}

/// What the remembered transitions say of one breaker; from [`History::patterns`].
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct BreakerPattern {
    /// The breaker's name.
    pub breaker: String,
    /// The key, for a keyed set's breaker.
    pub key: Option<String>,
    /// Times it opened (entered `open` or `forced_open` from a state that lets calls
    /// through).
    pub times_opened: usize,
    /// Mean time from opening to letting calls through again, over the open periods that
    /// ended (`None` if none has).
    pub mean_time_open: Option<Duration>,
    /// The longest of those periods.
    pub max_time_open: Option<Duration>,
    /// Its trips by hour of the day (UTC, 0–23, of the wall clock): a failure that recurs at
    /// the same time of day shows here.
    pub trips_by_hour: [u32; 24],
}

/// Every breaker's last known state at one moment; from [`History::snapshot`].
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Snapshot {
    /// When it was taken, on the wall clock.
    pub taken_at: SystemTime,
    /// Each breaker (and key) seen in the remembered transitions, with the state its last
    /// transition entered, by name.
    pub states: Vec<(String, Option<String>, CircuitState)>,
}

/// A listener that remembers breakers' transitions, up to a capacity (the oldest go first),
/// and snapshots of their states, up to another: bounded whatever the traffic. Subscribe it
/// to transitions only (`Breaker::on_transition`, `KeyedBreakers::on_transition`), so that
/// calls build no events for it.
///
/// ```
/// use fusebox_core::{CircuitState, Event, EventBus, EventKind, TransitionReason};
/// use fusebox_metrics::History;
///
/// let history = History::new();
/// let bus = EventBus::new();
/// let _subscription = bus.subscribe(history.clone());
/// bus.emit(|| {
///     Event::new(
///         "payments",
///         EventKind::StateTransition {
///             from: CircuitState::Closed,
///             to: CircuitState::Open,
///             reason: TransitionReason::ConsecutiveFailures { count: 5 },
///         },
///     )
/// });
/// assert_eq!(history.patterns()[0].times_opened, 1);
/// ```
#[derive(Clone)]
pub struct History {
    inner: Arc<Mutex<Log>>,
    wall_clock: fn() -> SystemTime,
}

struct Log {
    transitions: VecDeque<TransitionRecord>,
    transition_capacity: usize,
    snapshots: VecDeque<Snapshot>,
    snapshot_capacity: usize,
}

impl fmt::Debug for History {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let log = lock(&self.inner);
        f.debug_struct("History")
            .field("transitions", &log.transitions.len())
            .field("transition_capacity", &log.transition_capacity)
            .field("snapshots", &log.snapshots.len())
            .field("snapshot_capacity", &log.snapshot_capacity)
            .finish()
    }
}

impl Default for History {
    fn default() -> Self {
        Self::new()
    }
}

/// Whether `state` rejects every call (a half-open breaker lets probes through).
fn is_open(state: CircuitState) -> bool {
    matches!(state, CircuitState::Open | CircuitState::ForcedOpen)
}

impl History {
    /// The number of transitions [`new`](Self::new) remembers.
    pub const DEFAULT_TRANSITIONS: usize = 1_000;
    /// The number of snapshots [`new`](Self::new) keeps.
    pub const DEFAULT_SNAPSHOTS: usize = 60;

    /// A history of the last 1,000 transitions and 60 snapshots.
    pub fn new() -> Self {
        Self::with_capacity(Self::DEFAULT_TRANSITIONS, Self::DEFAULT_SNAPSHOTS)
    }

    /// A history of the last `transitions` transitions and `snapshots` snapshots (each at
    /// least 1). A transition takes about 100 bytes and a snapshot about 50 per breaker.
    pub fn with_capacity(transitions: usize, snapshots: usize) -> Self {
        let transitions = transitions.max(1);
        let snapshots = snapshots.max(1);
        History {
            inner: Arc::new(Mutex::new(Log {
                transitions: VecDeque::with_capacity(transitions.min(1_024)),
                transition_capacity: transitions,
                snapshots: VecDeque::with_capacity(snapshots.min(1_024)),
                snapshot_capacity: snapshots,
            })),
            wall_clock: SystemTime::now,
        }
    }

    /// The same history, dating transitions and snapshots on the wall with `clock` instead
    /// of [`SystemTime::now`] (for tests of the time of day, or a replay).
    pub fn wall_clock(mut self, clock: fn() -> SystemTime) -> Self {
        self.wall_clock = clock;
        self
    }

    /// The remembered transitions, oldest first.
    pub fn transitions(&self) -> Vec<TransitionRecord> {
        lock(&self.inner).transitions.iter().cloned().collect()
    }

    /// What the remembered transitions say of each breaker, by name and key.
    pub fn patterns(&self) -> Vec<BreakerPattern> {
        #[derive(Default)]
        struct Tally {
            opened: usize,
            since: Option<Instant>,
            total: Duration,
            max: Option<Duration>,
            periods: u32,
            by_hour: [u32; 24],
        }
        let log = lock(&self.inner);
        let mut by_breaker: BTreeMap<(&str, Option<&str>), Tally> = BTreeMap::new();
        for t in &log.transitions {
            let tally = by_breaker
                .entry((&t.breaker, t.key.as_deref()))
                .or_default();
            if is_open(t.to) {
                if !is_open(t.from) {
                    tally.opened += 1;
                    tally.by_hour[hour_of_day(t.wall)] += 1;
                    tally.since = Some(t.at);
                }
            } else if let Some(start) = tally.since.take() {
                let open = t.at.saturating_duration_since(start);
                tally.total = tally.total.saturating_add(open);
                tally.max = Some(tally.max.map_or(open, |m| m.max(open)));
                tally.periods = tally.periods.saturating_add(1);
            }
        }
        by_breaker
            .into_iter()
            .map(|((breaker, key), t)| BreakerPattern {
                breaker: breaker.to_owned(),
                key: key.map(str::to_owned),
                times_opened: t.opened,
                mean_time_open: t.total.checked_div(t.periods),
                max_time_open: t.max,
                trips_by_hour: t.by_hour,
            })
            .collect()
    }

    /// Takes a snapshot of every breaker's last known state now, keeps it (dropping the
    /// oldest past the capacity), and returns it.
    pub fn snapshot(&self) -> Snapshot {
        let mut log = lock(&self.inner);
        let mut last: BTreeMap<(&str, Option<&str>), CircuitState> = BTreeMap::new();
        for t in &log.transitions {
            last.insert((&t.breaker, t.key.as_deref()), t.to);
        }
        let snapshot = Snapshot {
            taken_at: (self.wall_clock)(),
            states: last
                .into_iter()
                .map(|((breaker, key), state)| (breaker.to_owned(), key.map(str::to_owned), state))
                .collect(),
        };
        if log.snapshots.len() == log.snapshot_capacity {
            log.snapshots.pop_front();
        }
        log.snapshots.push_back(snapshot.clone());
        snapshot
    }

    /// The kept snapshots, oldest first.
    pub fn snapshots(&self) -> Vec<Snapshot> {
        lock(&self.inner).snapshots.iter().cloned().collect()
    }
}

/// The UTC hour of the day of `wall` (0 before 1970).
fn hour_of_day(wall: SystemTime) -> usize {
    let seconds = wall
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    usize::try_from(seconds / 3_600 % 24).unwrap_or(0)
}

impl EventListener for History {
    fn on_event(&self, event: &Event<'_>) {
        if let EventKind::StateTransition { from, to, reason } = event.kind {
            let record = TransitionRecord {
                breaker: event.source.to_owned(),
                key: event.key.map(str::to_owned),
                from,
                to,
                reason: reason.as_str(),
                at: Instant::now(),
                wall: (self.wall_clock)(),
            };
            let mut log = lock(&self.inner);
            if log.transitions.len() == log.transition_capacity {
                log.transitions.pop_front();
            }
            log.transitions.push_back(record);
        }
    }
}
