//! The registry's schedules on paused time: intervals, the initial delay, the shorter interval
//! while failing, jitter's bounds, timeouts that never stall a schedule, readiness, and stop.

mod support;

use fusebox_health::{CheckSettings, FnCheck, HealthRegistry, Probe, Running, Status};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::switch;
use tokio::time::Instant;

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// A check that records when each probe starts, fails while `failing` is set, and hangs
/// while `hanging` is set; `in_flight` counts probes under way, `most` the most at once.
#[derive(Clone, Default)]
struct Script {
    starts: Arc<Mutex<Vec<Duration>>>,
    failing: Arc<AtomicBool>,
    hanging: Arc<AtomicBool>,
    in_flight: Arc<AtomicUsize>,
    most: Arc<AtomicUsize>,
}

impl Script {
    fn check(&self, name: &str, origin: Instant) -> impl fusebox_health::HealthCheck {
        let script = self.clone();
        FnCheck::new(name, move || {
            let script = script.clone();
            async move {
                script.starts.lock().unwrap().push(origin.elapsed());
                let now = script.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                script.most.fetch_max(now, Ordering::SeqCst);
                struct Done(Arc<AtomicUsize>);
                impl Drop for Done {
                    fn drop(&mut self) {
                        self.0.fetch_sub(1, Ordering::SeqCst);
                    }
                }
                let _done = Done(script.in_flight.clone());
                if script.hanging.load(Ordering::SeqCst) {
                    std::future::pending::<()>().await;
                }
                if script.failing.load(Ordering::SeqCst) {
                    Probe::fail("down")
                } else {
                    Probe::pass()
                }
            }
        })
    }

    fn starts(&self) -> Vec<Duration> {
        self.starts.lock().unwrap().clone()
    }
}

/// Lets the spawned schedules run up to the current (paused) time.
async fn settle() {
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
}

async fn advance(by: Duration) {
    tokio::time::advance(by).await;
    settle().await;
}

/// A registry of one scripted check, `calendar`, started, its schedule under way.
async fn started(settings: CheckSettings) -> (Script, HealthRegistry, Running) {
    let script = Script::default();
    let registry = HealthRegistry::builder()
        .check(script.check("calendar", Instant::now()), settings)
        .build()
        .unwrap();
    let running = registry.start();
    settle().await;
    (script, registry, running)
}

fn settings() -> CheckSettings {
    CheckSettings::default()
        .interval(secs(30))
        .failing_interval(secs(10))
        .timeout(secs(2))
        .initial_delay(secs(5))
        .jitter(0.0)
        .critical(true)
}

#[tokio::test(start_paused = true)]
async fn probes_follow_the_initial_delay_the_interval_and_the_failing_interval() {
    let (script, registry, running) = started(settings()).await;
    assert!(!registry.is_ready(), "not ready before the first probe");
    assert_eq!(registry.latest("calendar"), None);
    advance(secs(5)).await;
    assert_eq!(script.starts(), [secs(5)]);
    assert!(registry.is_ready());
    advance(secs(30)).await;
    assert_eq!(script.starts(), [secs(5), secs(35)]);
    // Failing: the next probes come every 10 s, and the service is not ready.
    script.failing.store(true, Ordering::SeqCst);
    advance(secs(30)).await;
    assert_eq!(registry.latest("calendar").unwrap().status(), Status::Fail);
    assert!(!registry.is_ready());
    advance(secs(10)).await;
    advance(secs(10)).await;
    assert_eq!(script.starts(), [5, 35, 65, 75, 85].map(secs));
    // Recovered: back to every 30 s.
    script.failing.store(false, Ordering::SeqCst);
    advance(secs(10)).await;
    assert!(registry.is_ready());
    advance(secs(29)).await;
    assert_eq!(script.starts().len(), 6, "{:?}", script.starts());
    advance(secs(1)).await;
    assert_eq!(script.starts().last(), Some(&secs(125)));
    running.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_hung_probe_fails_at_its_timeout_and_the_schedule_goes_on() {
    let (script, registry, running) = started(settings()).await;
    script.hanging.store(true, Ordering::SeqCst);
    advance(secs(5)).await;
    advance(secs(2)).await;
    let result = registry
        .latest("calendar")
        .expect("the timeout ended the probe");
    assert_eq!(result.status(), Status::Fail);
    assert_eq!(result.probe().detail(), Some("timed out after 2s"));
    assert_eq!(result.latency(), secs(2));
    // The next probe, 10 s (failing) after the timeout.
    advance(secs(10)).await;
    assert_eq!(script.starts(), [secs(5), secs(17)]);
    assert_eq!(
        script.most.load(Ordering::SeqCst),
        1,
        "one probe in flight at most"
    );
    running.stop().await;
    assert_eq!(
        script.in_flight.load(Ordering::SeqCst),
        0,
        "the hung probe was dropped"
    );
}

#[tokio::test(start_paused = true)]
async fn a_non_critical_failure_leaves_the_service_ready() {
    let origin = Instant::now();
    let (critical, optional) = (Script::default(), Script::default());
    optional.failing.store(true, Ordering::SeqCst);
    let registry = HealthRegistry::builder()
        .check(critical.check("db", origin), settings())
        .check(
            optional.check("recommendations", origin),
            settings().critical(false),
        )
        .build()
        .unwrap();
    let running = registry.start();
    settle().await;
    advance(secs(5)).await;
    assert!(registry.is_ready());
    let checks = registry.checks();
    assert_eq!(checks.len(), 2);
    assert_eq!(checks[1].name, "recommendations");
    assert!(!checks[1].critical);
    assert_eq!(checks[1].latest.as_ref().unwrap().status(), Status::Fail);
    assert_eq!(
        checks[1].contribution,
        Status::Warn,
        "a non-critical failure warns"
    );
    assert_eq!(registry.status(), Status::Warn);
    critical.failing.store(true, Ordering::SeqCst);
    advance(secs(30)).await;
    assert!(!registry.is_ready());
    running.stop().await;
}

#[tokio::test(start_paused = true)]
async fn jitter_stays_within_its_share_of_the_interval() {
    let jittered = settings().initial_delay(Duration::ZERO).jitter(0.5);
    let (script, _registry, running) = started(jittered).await;
    for _ in 0..100 {
        advance(secs(1)).await;
    }
    let starts = script.starts();
    assert!(starts.len() >= 3, "{starts:?}");
    for pair in starts.windows(2) {
        let gap = pair[1] - pair[0];
        assert!(gap >= secs(30) && gap <= secs(45), "{gap:?} in {starts:?}");
    }
    running.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_stopped_registry_probes_no_more() {
    let (script, registry, running) = started(settings()).await;
    advance(secs(5)).await;
    running.stop().await;
    advance(secs(300)).await;
    assert_eq!(script.starts(), [secs(5)]);
    // Dropping the handle stops the schedules too.
    let dropped = registry.start();
    settle().await;
    drop(dropped);
    advance(secs(300)).await;
    assert_eq!(script.starts(), [secs(5)], "no probe after the drop");
}

#[test]
fn bad_settings_name_the_check_and_the_field() {
    let build = |settings: CheckSettings| {
        HealthRegistry::builder()
            .check(FnCheck::new("db", || async { Probe::pass() }), settings)
            .build()
            .unwrap_err()
            .field()
            .to_owned()
    };
    let base = CheckSettings::default();
    assert_eq!(
        build(base.interval(Duration::from_millis(9))),
        "db.interval"
    );
    assert_eq!(build(base.timeout(Duration::ZERO)), "db.timeout");
    assert_eq!(
        build(base.failing_interval(secs(60))),
        "db.failing_interval"
    );
    assert_eq!(build(base.jitter(1.0)), "db.jitter");
    assert_eq!(build(base.jitter(-0.1)), "db.jitter");
    assert_eq!(
        build(base.interval(secs(5)).failing_interval(secs(6))),
        "db.failing_interval"
    );
    // A shorter interval brings the failing interval down with it.
    let short = base.interval(secs(5));
    assert_eq!((short.interval, short.failing_interval), (secs(5), secs(5)));
    assert_eq!(base.interval(secs(60)).failing_interval, secs(10));
    assert_eq!(build(base.history(0)), "db.history");
    assert_eq!(build(base.history(1_000_001)), "db.history");
    assert_eq!(
        build(base.latency_target(Duration::ZERO)),
        "db.latency_target"
    );
    let twice = HealthRegistry::builder()
        .check(FnCheck::new("db", || async { Probe::pass() }), base)
        .check(FnCheck::new("db", || async { Probe::pass() }), base)
        .build()
        .unwrap_err();
    assert_eq!(twice.field(), "name");
    // The bounds themselves are accepted.
    let least = base
        .interval(Duration::from_millis(10))
        .failing_interval(Duration::from_millis(10))
        .timeout(Duration::from_millis(10))
        .history(1);
    assert!(HealthRegistry::builder()
        .check(FnCheck::new("db", || async { Probe::pass() }), least)
        .build()
        .is_ok());
}

#[tokio::test(start_paused = true)]
async fn each_change_of_status_is_an_event_and_only_a_change_is() {
    use fusebox_core::{Event, EventKind};
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    let script = Script::default();
    let registry = HealthRegistry::builder()
        .check(script.check("calendar", Instant::now()), settings())
        .on_event(move |e: &Event<'_>| {
            if let EventKind::HealthChanged { from, to } = e.kind {
                sink.lock().unwrap().push((e.source.to_owned(), from, to));
            }
        })
        .build()
        .unwrap();
    let also = Arc::new(AtomicUsize::new(0));
    let counted = also.clone();
    let probed = Arc::new(Mutex::new(Vec::new()));
    let probes = probed.clone();
    let _subscription = registry.subscribe(move |e: &Event<'_>| match e.kind {
        EventKind::HealthChanged { .. } => {
            counted.fetch_add(1, Ordering::SeqCst);
        }
        EventKind::HealthProbed { status, score, .. } => {
            probes.lock().unwrap().push((status, score));
        }
        _ => {}
    });
    let running = registry.start();
    settle().await;
    advance(secs(5)).await; // passes
    script.failing.store(true, Ordering::SeqCst);
    advance(secs(30)).await; // fails
    advance(secs(10)).await; // fails again: no event
    script.failing.store(false, Ordering::SeqCst);
    advance(secs(10)).await; // passes
    running.stop().await;
    let calendar = || "calendar".to_owned();
    assert_eq!(
        *seen.lock().unwrap(),
        [
            (calendar(), None, Status::Pass),
            (calendar(), Some(Status::Pass), Status::Fail),
            (calendar(), Some(Status::Fail), Status::Pass),
        ]
    );
    assert_eq!(
        also.load(Ordering::SeqCst),
        3,
        "a subscriber hears the same"
    );
    // Every probe is an event too, with the score counting it (each status holds from its
    // probe on): up all along, 100; a failure just seen, still up 30 s of 30 s but one trip
    // (60 + 25 + 15 / 2 = 92.5); down 10 s of 40 (45 + 32.5 = 77.5); down 20 s of 50, the
    // last probe passing (36 + 32.5 = 68.5).
    assert_eq!(
        *probed.lock().unwrap(),
        [
            (Status::Pass, 100),
            (Status::Fail, 93),
            (Status::Fail, 78),
            (Status::Pass, 69)
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_failing_root_is_the_cause_two_levels_up_and_a_cycle_is_safe() {
    let calendar_down = Arc::new(AtomicBool::new(false));
    let fine = Arc::new(AtomicBool::new(false));
    let every = settings()
        .initial_delay(Duration::ZERO)
        .failing_interval(secs(30));
    let registry = HealthRegistry::builder()
        .check(switch("calendar:responseTime", &calendar_down), every)
        .check(switch("telephony:responseTime", &fine), every)
        .depends_on("appointments", ["telephony"])
        .depends_on("telephony", ["calendar"])
        // A cycle: the walk ends where it started.
        .depends_on("calendar", ["appointments"])
        .build()
        .unwrap();
    let running = registry.start();
    settle().await;
    let names: Vec<String> = registry.components().into_iter().map(|c| c.name).collect();
    assert_eq!(names, ["appointments", "calendar", "telephony"]);
    assert!(registry.components().iter().all(|c| c.cause.is_none()));
    assert_eq!(registry.component("appointments").unwrap().status(), None);

    calendar_down.store(true, Ordering::SeqCst);
    advance(secs(30)).await;
    let appointments = registry.component("appointments").unwrap();
    assert_eq!(appointments.cause.as_deref(), Some("calendar"));
    assert_eq!(appointments.status(), Some(Status::Warn));
    let telephony = registry.component("telephony").unwrap();
    assert_eq!(
        (telephony.own, telephony.cause.as_deref()),
        (Some(Status::Pass), Some("calendar"))
    );
    assert_eq!(telephony.status(), Some(Status::Warn));
    let calendar = registry.component("calendar").unwrap();
    assert_eq!((calendar.own, calendar.cause), (Some(Status::Fail), None));
    // The check's view names the cause of its component's degradation.
    let views = registry.checks();
    assert_eq!(views[1].name, "telephony:responseTime");
    assert_eq!(views[1].cause.as_deref(), Some("calendar"));
    assert_eq!(registry.component("nothing"), None);

    calendar_down.store(false, Ordering::SeqCst);
    advance(secs(30)).await;
    assert!(registry.components().iter().all(|c| c.cause.is_none()));
    running.stop().await;
}

#[tokio::test(start_paused = true)]
async fn startup_readiness_and_liveness_follow_their_rules() {
    let db_down = Arc::new(AtomicBool::new(false));
    let cache_down = Arc::new(AtomicBool::new(true));
    let registry = HealthRegistry::builder()
        .check(switch("db", &db_down), settings())
        .check(
            switch("cache", &cache_down),
            settings().critical(false).initial_delay(secs(60)),
        )
        .build()
        .unwrap();
    let running = registry.start();
    settle().await;
    // Before the critical check's first probe: not started, not ready, but live.
    assert_eq!(registry.startup(), Status::Fail);
    assert_eq!(registry.status(), Status::Fail);
    assert_eq!(registry.liveness(), Status::Pass);
    advance(secs(5)).await;
    // Started; the non-critical check not probed yet only warns.
    assert_eq!(registry.startup(), Status::Pass);
    assert_eq!(registry.status(), Status::Warn);
    assert!(registry.is_ready());
    advance(secs(55)).await;
    assert_eq!(registry.latest("cache").unwrap().status(), Status::Fail);
    assert_eq!(
        registry.status(),
        Status::Warn,
        "a non-critical failure warns"
    );
    cache_down.store(false, Ordering::SeqCst);
    advance(secs(10)).await;
    assert_eq!(registry.status(), Status::Pass);
    let mut changes = registry.changes();
    changes.mark_unchanged();
    db_down.store(true, Ordering::SeqCst);
    advance(secs(30)).await;
    assert!(
        changes.has_changed().unwrap(),
        "a change of status is signalled"
    );
    assert_eq!(registry.status(), Status::Fail);
    assert!(!registry.is_ready());
    assert_eq!(
        registry.liveness(),
        Status::Pass,
        "a dependency down is still live"
    );
    assert_eq!(registry.startup(), Status::Pass);
    running.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_breaker_is_a_check_read_every_second_and_its_trips_count() {
    use fusebox_core::{Circuit, CircuitState, Handle};
    use std::sync::atomic::AtomicU8;
    struct Switch(AtomicU8);
    impl Circuit for Switch {
        fn name(&self) -> &str {
            "payments"
        }
        fn state(&self) -> CircuitState {
            match self.0.load(Ordering::SeqCst) {
                0 => CircuitState::Closed,
                _ => CircuitState::Open,
            }
        }
    }
    static SWITCH: Switch = Switch(AtomicU8::new(0));
    let registry = HealthRegistry::builder()
        .circuit(Handle::<dyn Circuit>::Static(&SWITCH), true)
        .build()
        .unwrap();
    let running = registry.start();
    settle().await;
    assert!(registry.is_ready());
    SWITCH.0.store(1, Ordering::SeqCst);
    advance(secs(1)).await;
    assert!(!registry.is_ready(), "an open critical breaker: not ready");
    SWITCH.0.store(0, Ordering::SeqCst);
    advance(secs(1)).await;
    assert!(registry.is_ready());
    let stats = registry.stats("payments:circuit", secs(3_600)).unwrap();
    assert_eq!((stats.samples, stats.failures, stats.recoveries), (3, 1, 1));
    // Up 1 s of 2, one trip: 30 + 25 + 7.5.
    assert_eq!(registry.score("payments:circuit"), Some(63));
    assert_eq!(
        registry.history("payments:circuit", secs(1)).unwrap().len(),
        2
    );
    assert_eq!(registry.score("nothing"), None);
    running.stop().await;
}
