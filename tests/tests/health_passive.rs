//! A passive health check fed by a real breaker's events: live calls mark the dependency
//! degraded, then failing, before and as the breaker opens, and the registry's readiness
//! follows, without a single probe sent to the dependency.

use fusebox::breaker::{Breaker, CircuitBreakerLayer};
use fusebox::health::{CheckSettings, HealthRegistry, PassiveCheck, Status};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tower::{service_fn, BoxError, ServiceBuilder, ServiceExt};

async fn settle() {
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
}

#[tokio::test(start_paused = true)]
async fn live_calls_degrade_then_fail_the_dependency_without_probes() {
    let breaker = Breaker::builder("calendar")
        .failure_rate(0.5)
        .count_window(20)
        .min_calls(20)
        .open_duration(Duration::from_secs(30))
        .build()
        .unwrap();
    let passive = PassiveCheck::builder("calendar:calls")
        .source("calendar")
        .min_calls(10)
        .build()
        .unwrap();
    breaker.subscribe(passive.clone()).detach();
    let registry = HealthRegistry::builder()
        .check(
            passive,
            CheckSettings::default()
                .interval(Duration::from_secs(1))
                .failing_interval(Duration::from_secs(1))
                .jitter(0.0),
        )
        .build()
        .unwrap();
    let running = registry.start();

    let reached = Arc::new(AtomicUsize::new(0));
    let failing = Arc::new(AtomicBool::new(false));
    let (count, down) = (reached.clone(), failing.clone());
    let calendar = ServiceBuilder::new()
        .layer(CircuitBreakerLayer::new(breaker.clone()))
        .service(service_fn(move |_: ()| {
            count.fetch_add(1, Ordering::SeqCst);
            let failed = down.load(Ordering::SeqCst);
            async move {
                if failed {
                    Err::<(), BoxError>("503 from the calendar".into())
                } else {
                    Ok(())
                }
            }
        }));
    let calls = |n: usize| {
        let calendar = calendar.clone();
        async move {
            for _ in 0..n {
                let _ = calendar.clone().oneshot(()).await;
            }
        }
    };

    settle().await;
    assert_eq!(
        registry.latest("calendar:calls").unwrap().status(),
        Status::Pass
    );
    // 8 good calls, 2 failed: 20 %, degraded; the breaker (50 % of 20) is still closed.
    calls(8).await;
    failing.store(true, Ordering::SeqCst);
    calls(2).await;
    tokio::time::advance(Duration::from_secs(1)).await;
    settle().await;
    let latest = registry.latest("calendar:calls").unwrap();
    assert_eq!(latest.status(), Status::Warn);
    assert_eq!(
        latest.probe().detail(),
        Some("2 of the last 10 calls failed (20.0 %)")
    );
    assert!(registry.is_ready(), "degraded, still ready");
    assert_eq!(breaker.state(), fusebox::CircuitState::Closed);

    // 10 more failures: 12 of 20, the breaker opens; the check fails, readiness with it.
    calls(10).await;
    assert_eq!(breaker.state(), fusebox::CircuitState::Open);
    tokio::time::advance(Duration::from_secs(1)).await;
    settle().await;
    let latest = registry.latest("calendar:calls").unwrap();
    assert_eq!(latest.status(), Status::Fail);
    assert!(latest
        .probe()
        .detail()
        .unwrap()
        .starts_with("the circuit is open"));
    assert!(!registry.is_ready());
    // Every request the dependency saw was a live call: the check sent none of its own.
    assert_eq!(reached.load(Ordering::SeqCst), 20);
    running.stop().await;
}

/// A keyed set's circuits as one check: one tenant's open circuit degrades, every tenant's
/// fails; and a breaker registry the same way.
#[tokio::test(start_paused = true)]
async fn a_keyed_set_and_a_registry_are_checked_through_their_circuits() {
    use fusebox::breaker::BreakerRegistry;
    use fusebox::health::{run_check, CircuitsCheck};
    let tenants = Breaker::builder("calendar")
        .consecutive_failures(3)
        .keyed()
        .max_keys(10)
        .build()
        .unwrap();
    let (acme, globex) = (tenants.get("acme"), tenants.get("globex"));
    let check = CircuitsCheck::new("calendar:tenants", Arc::new(tenants.clone()));
    let timeout = Duration::from_secs(1);
    assert_eq!(run_check(&check, timeout).await.status(), Status::Pass);
    acme.force_open();
    let result = run_check(&check, timeout).await;
    assert_eq!(result.status(), Status::Warn);
    assert_eq!(
        result.probe().detail(),
        Some("1 of 2 circuits reject calls: calendar[acme]")
    );
    assert_eq!(result.probe().observed_value(), Some(1.0));
    globex.force_open();
    assert_eq!(run_check(&check, timeout).await.status(), Status::Fail);

    let registry = BreakerRegistry::new(|name| Breaker::builder(name).consecutive_failures(3));
    registry.get("payments").unwrap();
    registry.get("email").unwrap();
    let check = CircuitsCheck::new("breakers", Arc::new(registry.clone()));
    assert_eq!(run_check(&check, timeout).await.status(), Status::Pass);
    registry.force_open("email").unwrap();
    let result = run_check(&check, timeout).await;
    assert_eq!(
        (result.status(), result.probe().detail()),
        (Status::Warn, Some("1 of 2 circuits reject calls: email"))
    );
}
