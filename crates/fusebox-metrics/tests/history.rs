//! `History` fed scripted transitions with paused time and a wall clock of the test's own.

use fusebox_core::{CircuitState, Event, EventBus, EventKind, TransitionReason};
use fusebox_metrics::History;
use std::cell::Cell;
use std::time::{Duration, SystemTime};
use tokio::time::advance;
use CircuitState::{Closed, ForcedOpen, HalfOpen, Open};

thread_local! {
    /// Seconds since 1970 that the wall clock of this thread's test shows (each test runs
    /// on a thread of its own, its runtime's only one).
    static WALL: Cell<u64> = const { Cell::new(0) };
}

fn wall() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(WALL.with(Cell::get))
}

/// Sets the wall clock to `hour`:00 UTC on some day.
fn at_hour(hour: u64) {
    WALL.with(|w| w.set(20_000 * 86_400 + hour * 3_600));
}

fn go(bus: &EventBus, breaker: &str, key: Option<&str>, from: CircuitState, to: CircuitState) {
    bus.emit(|| {
        Event::new(
            breaker,
            EventKind::StateTransition {
                from,
                to,
                reason: TransitionReason::ConsecutiveFailures { count: 3 },
            },
        )
        .with_key(key)
    });
}

#[tokio::test(start_paused = true)]
async fn patterns_count_trips_time_open_and_hours_of_the_day() {
    let history = History::new().wall_clock(wall);
    let bus = EventBus::new();
    let _s = bus.subscribe(history.clone());
    // Open 4 s at 09:00, then (a failed probe) 2 s more, then 10 s at 14:00; forced open and
    // still open at 23:00.
    at_hour(9);
    go(&bus, "payments", None, Closed, Open);
    advance(Duration::from_secs(4)).await;
    go(&bus, "payments", None, Open, HalfOpen);
    go(&bus, "payments", None, HalfOpen, Open);
    advance(Duration::from_secs(2)).await;
    go(&bus, "payments", None, Open, HalfOpen);
    go(&bus, "payments", None, HalfOpen, Closed);
    at_hour(14);
    go(&bus, "payments", None, Closed, Open);
    advance(Duration::from_secs(10)).await;
    go(&bus, "payments", None, Open, Closed);
    at_hour(23);
    go(&bus, "payments", None, Closed, ForcedOpen);
    go(&bus, "tenants", Some("acme"), Closed, Open);

    let patterns = history.patterns();
    assert_eq!(patterns.len(), 2);
    let p = &patterns[0];
    assert_eq!((p.breaker.as_str(), p.key.as_deref()), ("payments", None));
    assert_eq!(
        p.times_opened, 4,
        "three trips and a forced open, the probe's reopening one"
    );
    assert_eq!(p.mean_time_open, Some(Duration::from_secs(16) / 3));
    assert_eq!(p.max_time_open, Some(Duration::from_secs(10)));
    let mut hours = [0; 24];
    hours[9] = 2;
    hours[14] = 1;
    hours[23] = 1;
    assert_eq!(p.trips_by_hour, hours);
    let t = &patterns[1];
    assert_eq!(
        (t.breaker.as_str(), t.key.as_deref()),
        ("tenants", Some("acme"))
    );
    assert_eq!(
        (t.times_opened, t.mean_time_open, t.max_time_open),
        (1, None, None)
    );

    let transitions = history.transitions();
    assert_eq!(transitions.len(), 9);
    assert_eq!(transitions[0].reason, "consecutive_failures");
    assert_eq!(
        transitions[0].wall,
        SystemTime::UNIX_EPOCH + Duration::from_secs(20_000 * 86_400 + 9 * 3_600)
    );
}

#[tokio::test(start_paused = true)]
async fn only_the_newest_transitions_and_snapshots_are_kept() {
    let history = History::with_capacity(3, 2).wall_clock(wall);
    let bus = EventBus::new();
    let _s = bus.subscribe(history.clone());
    for _ in 0..2 {
        go(&bus, "sms", None, Closed, Open);
        go(&bus, "sms", None, Open, Closed);
    }
    let kept = history.transitions();
    assert_eq!(kept.len(), 3);
    assert_eq!(
        (kept[0].from, kept[0].to),
        (Open, Closed),
        "the oldest went first"
    );

    at_hour(1);
    history.snapshot();
    go(&bus, "email", None, Closed, ForcedOpen);
    at_hour(2);
    history.snapshot();
    at_hour(3);
    let newest = history.snapshot();
    assert_eq!(
        newest.states,
        [
            ("email".to_owned(), None, ForcedOpen),
            ("sms".to_owned(), None, Closed)
        ]
    );
    let snapshots = history.snapshots();
    assert_eq!(snapshots.len(), 2);
    assert_eq!(
        snapshots[0].taken_at,
        SystemTime::UNIX_EPOCH + Duration::from_secs(20_000 * 86_400 + 2 * 3_600)
    );
    assert_eq!(snapshots[1], newest);

    let least = History::with_capacity(0, 0);
    let _l = bus.subscribe(least.clone());
    go(&bus, "sms", None, Closed, Open);
    go(&bus, "sms", None, Open, Closed);
    least.snapshot();
    least.snapshot();
    assert_eq!(
        (least.transitions().len(), least.snapshots().len()),
        (1, 1),
        "at least one each"
    );
}

#[tokio::test(start_paused = true)]
async fn calls_are_not_history() {
    let history = History::new();
    let bus = EventBus::new();
    let _s = bus.subscribe(history.clone());
    bus.emit(|| Event::new("sms", EventKind::CallIgnored));
    assert!(history.transitions().is_empty());
    assert!(history.patterns().is_empty());
    assert!(format!("{history:?}").contains("transition_capacity: 1000"));
}
