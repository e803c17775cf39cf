//! The breaker registry: per-name configuration, operations, cascades, history.

use fusebox_breaker::{Breaker, BreakerRegistry, CircuitState};
use std::time::Duration;

fn registry() -> BreakerRegistry {
    BreakerRegistry::new(|name| match name {
        "payments" => Breaker::builder(name)
            .consecutive_failures(1)
            .open_duration(Duration::from_secs(10)),
        _ => Breaker::builder(name)
            .consecutive_failures(3)
            .open_duration(Duration::from_secs(10)),
    })
}

fn fail(b: &Breaker, n: usize) {
    for _ in 0..n {
        if let Ok(p) = b.try_acquire() {
            p.failure();
        }
    }
}

#[tokio::test(start_paused = true)]
async fn each_name_gets_its_own_configuration() {
    let r = registry();
    let payments = r.get("payments").unwrap();
    let email = r.get("email").unwrap();
    fail(&payments, 1);
    fail(&email, 2);
    assert_eq!(payments.state(), CircuitState::Open);
    assert_eq!(email.state(), CircuitState::Closed);
    assert_eq!(
        r.list()
            .iter()
            .map(|s| (s.name.as_str(), s.state))
            .collect::<Vec<_>>(),
        [
            ("email", CircuitState::Closed),
            ("payments", CircuitState::Open)
        ]
    );
    // The same name gives the same breaker.
    fail(&r.get("email").unwrap(), 1);
    assert_eq!(email.state(), CircuitState::Open);
}

#[tokio::test(start_paused = true)]
async fn the_summary_counts_by_state_and_the_registry_is_a_set_of_circuits() {
    use fusebox_core::{Circuit, Circuits};
    let r = registry();
    for name in ["appointments", "calendar", "telephony", "oauth", "email"] {
        r.get(name).unwrap();
    }
    fail(&r.find("oauth").unwrap(), 3);
    let s = r.summary();
    assert_eq!((s.total, s.open, s.closed, s.half_open), (5, 1, 4, 0));
    let mut seen = Vec::new();
    r.for_each_circuit(&mut |c: &dyn Circuit| seen.push((c.name().to_owned(), c.state())));
    assert_eq!(seen.len(), 5);
    assert!(seen.contains(&("oauth".to_owned(), CircuitState::Open)));
}

#[tokio::test(start_paused = true)]
async fn reset_all_and_force_open() {
    let r = registry();
    r.force_open("payments").unwrap();
    r.force_open("email").unwrap();
    assert_eq!(r.summary().open, 2);
    assert!(r.reset("payments"));
    assert!(!r.reset("missing"));
    assert_eq!(r.find("payments").unwrap().state(), CircuitState::Closed);
    r.reset_all();
    assert_eq!(r.summary().closed, 2);
    r.disable("payments").unwrap();
    assert_eq!(r.find("payments").unwrap().state(), CircuitState::Disabled);
}

#[test]
fn invalid_per_name_configuration_is_reported() {
    let r = BreakerRegistry::new(|name| Breaker::builder(name).failure_rate(1.5));
    let err = r.get("x").unwrap_err();
    assert_eq!(err.to_string(), "failure_rate must be in (0, 1], got 1.5");
}

#[test]
fn a_factory_that_builds_another_name_is_an_error() {
    let registry = BreakerRegistry::new(|_| Breaker::builder("always-this"));
    let err = registry.get("calendar").unwrap_err();
    assert_eq!(err.field(), "factory");
    assert!(
        err.to_string().contains("always-this for calendar"),
        "{err}"
    );
    assert!(registry.find("calendar").is_none());
    assert!(registry.get("always-this").is_ok());
}

#[test]
fn registering_a_second_breaker_under_a_taken_name_is_an_error() {
    let registry = BreakerRegistry::new(|name| Breaker::builder(name));
    let first = registry.get("calendar").unwrap();
    let second = Breaker::builder("calendar")
        .consecutive_failures(1)
        .build()
        .unwrap();
    let err = registry.register(second).unwrap_err();
    assert_eq!(
        err.to_string(),
        "name must be a name no other breaker of the registry has, got \"calendar\""
    );
    first.force_open();
    assert_eq!(
        registry.find("calendar").unwrap().state(),
        fusebox_breaker::CircuitState::ForcedOpen,
        "the first is kept"
    );
}

#[tokio::test(start_paused = true)]
async fn a_store_set_later_shares_the_breakers_made_from_then_on() {
    use fusebox_core::{StateStore, StoredRef};
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Kept(Arc<Mutex<Vec<String>>>);
    impl StateStore for Kept {
        fn attach(&self, circuit: &StoredRef) {
            self.0.lock().unwrap().push(circuit.name().to_owned());
        }
    }

    let registry = registry();
    registry.get("calendar").unwrap();
    let store = Kept::default();
    registry.set_store(store.clone());
    registry.get("calendar").unwrap();
    registry.get("payments").unwrap();
    assert_eq!(
        *store.0.lock().unwrap(),
        ["payments"],
        "a breaker made before keeps its own state"
    );
}

#[tokio::test(start_paused = true)]
async fn the_summary_counts_each_state() {
    let r = registry();
    for name in ["payments", "calendar", "email", "sms", "search", "maps"] {
        r.get(name).unwrap();
    }
    fail(&r.find("payments").unwrap(), 1);
    // The open period's timer runs as the test sleeps past it.
    tokio::time::sleep(Duration::from_millis(10_001)).await;
    assert_eq!(r.find("payments").unwrap().state(), CircuitState::HalfOpen);
    fail(&r.find("calendar").unwrap(), 3);
    r.force_open("email").unwrap();
    r.disable("sms").unwrap();
    r.disable("search").unwrap();
    let s = r.summary();
    assert_eq!(
        (s.total, s.closed, s.open, s.half_open, s.disabled),
        (6, 1, 2, 1, 2)
    );
}

#[tokio::test(start_paused = true)]
async fn a_transition_listener_hears_every_breaker_made_before_and_after() {
    use fusebox_core::{Event, EventKind};
    use std::sync::{Arc, Mutex};

    let r = registry();
    r.get("payments").unwrap();
    let heard = Arc::new(Mutex::new(Vec::new()));
    let log = heard.clone();
    r.on_transition(move |e: &Event<'_>| {
        if let EventKind::StateTransition { to, .. } = e.kind {
            log.lock().unwrap().push((e.source.to_owned(), to));
        }
    });
    let email = r.get("email").unwrap();
    fail(&r.find("payments").unwrap(), 1);
    fail(&email, 3);
    email.reset();
    r.find("payments").unwrap().try_acquire().unwrap_err();
    assert_eq!(
        *heard.lock().unwrap(),
        [
            ("payments".to_owned(), CircuitState::Open),
            ("email".to_owned(), CircuitState::Open),
            ("email".to_owned(), CircuitState::Closed),
        ],
        "transitions only, not the rejected call"
    );
}
