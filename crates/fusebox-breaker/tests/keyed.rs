//! Keyed breakers stay bounded under hostile key cardinality.

use fusebox_breaker::{Breaker, CircuitState, KeyedCircuitBreakerLayer, OVERFLOW_KEY};
use std::time::Duration;
use tower::{service_fn, Layer, ServiceExt};

#[tokio::test(start_paused = true)]
async fn a_hundred_thousand_random_tenants_stay_within_the_bound() {
    const MAX: usize = 1_000;
    let tenants = Breaker::builder("api")
        .consecutive_failures(3)
        .keyed()
        .key_label("tenant_id")
        .max_keys(MAX)
        .idle_timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let svc =
        KeyedCircuitBreakerLayer::new(tenants.clone(), |tenant: &String| Some(tenant.clone()))
            .layer(service_fn(|_: String| async {
                Ok::<_, std::io::Error>(())
            }));

    let mut rng = fastrand::Rng::with_seed(7);
    let mut overflowed = 0;
    for i in 0..100_000u32 {
        let tenant: String = (0..16).map(|_| rng.alphanumeric()).collect();
        svc.clone().oneshot(tenant).await.unwrap();
        assert!(
            tenants.len() <= MAX,
            "{} live after {i} tenants",
            tenants.len()
        );
        if i % 10_000 == 9_999 {
            // Let the earlier tenants go idle; later arrivals evict them.
            tokio::time::advance(Duration::from_secs(61)).await;
        }
        overflowed = tenants.overflow().metrics().calls;
    }
    assert_eq!(tenants.len(), MAX);
    assert!(
        overflowed > 0,
        "tenants beyond the bound shared the overflow breaker"
    );
    let m = tenants.overflow().metrics();
    assert_eq!(m.calls, overflowed);
    assert_eq!(tenants.overflow().key(), Some(OVERFLOW_KEY));
    // Idle eviction let new tenants in after each pause: far more than MAX got their own.
    assert!(
        100_000 - overflowed > 5 * MAX as u64,
        "{overflowed} overflowed"
    );
}

#[tokio::test(start_paused = true)]
async fn one_tenants_failures_do_not_open_another_tenants_breaker() {
    let tenants = Breaker::builder("api")
        .consecutive_failures(2)
        .keyed()
        .build()
        .unwrap();
    let svc = KeyedCircuitBreakerLayer::new(tenants.clone(), |req: &(&'static str, bool)| {
        Some(req.0.to_owned())
    })
    .layer(service_fn(|req: (&'static str, bool)| async move {
        if req.1 {
            Ok(())
        } else {
            Err("down")
        }
    }));
    for _ in 0..2 {
        assert!(svc.clone().oneshot(("a", false)).await.is_err());
    }
    let err = svc.clone().oneshot(("a", true)).await.unwrap_err();
    let open = err.as_open().expect("tenant a is open");
    assert_eq!(open.key(), Some("a"));
    assert!(svc.clone().oneshot(("b", true)).await.is_ok());
    assert_eq!(tenants.get("b").state(), CircuitState::Closed);
    assert_eq!(tenants.get("a").state(), CircuitState::Open);
}

#[tokio::test(start_paused = true)]
async fn tenants_can_start_disabled_and_report_the_trips_they_would_make() {
    let tenants = Breaker::builder("api")
        .consecutive_failures(2)
        .start_disabled(true)
        .keyed()
        .key_label("tenant_id")
        .build()
        .unwrap();
    let suppressed = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = suppressed.clone();
    let _subscription = tenants.subscribe(move |e: &fusebox_core::Event<'_>| {
        if let fusebox_core::EventKind::TripSuppressed { .. } = e.kind {
            sink.lock().unwrap().push(e.key.map(str::to_owned));
        }
    });
    let svc =
        KeyedCircuitBreakerLayer::new(tenants.clone(), |tenant: &&str| Some(tenant.to_string()))
            .layer(service_fn(|tenant: &'static str| async move {
                if tenant == "acme" {
                    Err(std::io::Error::other("down for acme"))
                } else {
                    Ok(())
                }
            }));
    for _ in 0..4 {
        let err = svc.clone().oneshot("acme").await.unwrap_err();
        assert!(
            err.to_string().contains("down for acme"),
            "the call went through: {err}"
        );
        svc.clone().oneshot("globex").await.unwrap();
    }
    assert_eq!(tenants.get("acme").state(), CircuitState::Disabled);
    assert_eq!(tenants.get("acme").metrics().suppressed_trips, 2);
    assert_eq!(tenants.get("globex").metrics().suppressed_trips, 0);
    assert_eq!(
        *suppressed.lock().unwrap(),
        [Some("acme".to_owned()), Some("acme".to_owned())]
    );
}

/// What a health check or a metrics exporter reads, through fusebox-core's traits only.
fn circuits_of(set: &dyn fusebox_core::Circuits) -> Vec<String> {
    let mut seen = Vec::new();
    set.for_each_circuit(&mut |c| {
        seen.push(format!("{}:{:?}:{}", c.name(), c.role(), c.state()));
    });
    seen
}

#[test]
fn a_keyed_set_lists_every_breaker_through_the_core_trait() {
    let tenants = Breaker::builder("calendar")
        .consecutive_failures(1)
        .keyed()
        .build()
        .unwrap();
    tenants.get("acme").try_acquire().unwrap().failure();
    let _globex = tenants.get("globex");
    let mut seen = circuits_of(&tenants);
    seen[2..].sort();
    assert_eq!(
        seen,
        [
            "calendar:Keyless:closed",
            "calendar:Overflow:closed",
            "calendar:Key(\"acme\"):open",
            "calendar:Key(\"globex\"):closed",
        ]
    );
}

#[test]
fn a_registry_lists_its_breakers_in_name_order_through_the_core_trait() {
    let registry = fusebox_breaker::BreakerRegistry::new(|name| Breaker::builder(name));
    registry.get("payments").unwrap().force_open();
    registry.get("email").unwrap();
    assert_eq!(
        circuits_of(&registry),
        ["email:Plain:closed", "payments:Plain:forced_open"]
    );
}

#[test]
fn a_listener_that_makes_keys_while_a_call_is_rejected_does_not_deadlock() {
    // A rejection runs the set's listeners, and a listener may make keys. Were the rejection
    // made under the read lock of the key's table, the listener would wait for that table's
    // write lock forever (two hundred new keys fall in each of the 16 tables but for odds of
    // one in 400,000); were a new breaker's watch of the set's event bus to take the lock the
    // bus holds while its listeners run, likewise.
    let tenants = Breaker::builder("api")
        .consecutive_failures(1)
        .keyed()
        .max_keys(1_000)
        .build()
        .unwrap();
    let made = tenants.clone();
    tenants
        .subscribe(move |e: &fusebox_core::Event<'_>| {
            if matches!(e.kind, fusebox_core::EventKind::CallRejected { .. }) {
                for i in 0..200 {
                    made.get(&format!("new-{i}"));
                }
            }
        })
        .detach();
    tenants.get("acme").try_acquire().unwrap().failure();
    let set = tenants.clone();
    let rejected = fusebox_testkit::within_a_minute("the rejected call", move || {
        let mut svc = KeyedCircuitBreakerLayer::new(set, |t: &&'static str| Some(t.to_string()))
            .layer(service_fn(|_: &'static str| async {
                Ok::<_, std::io::Error>(())
            }));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let result = runtime
            .block_on(async { tower::Service::call(svc.ready().await.unwrap(), "acme").await });
        result.is_err()
    });
    assert!(rejected);
    assert_eq!(tenants.len(), 201);
}
