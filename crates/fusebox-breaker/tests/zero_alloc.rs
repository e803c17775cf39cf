//! The closed and the open path allocate nothing, counted by a global allocator.
//!
//! The allocator counts every thread, so this binary runs without the test harness (whose own
//! threads may allocate while a measurement runs): `main` is the only thread.

use fusebox_breaker::{
    key_fn, Breaker, CircuitBreakerLayer, KeyedBreakers, KeyedCircuitBreakerLayer,
};
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};
use std::alloc::System;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;
use tower::{service_fn, Layer, Service};

mod support;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const CALLS: usize = 100_000;

fn drive<S: Service<u32>>(svc: &mut S, calls: usize) -> (usize, usize) {
    let mut cx = Context::from_waker(Waker::noop());
    let (mut ok, mut err) = (0, 0);
    for i in 0..calls {
        assert!(svc.poll_ready(&mut cx).is_ready());
        let fut = pin!(svc.call(i as u32));
        match fut.poll(&mut cx) {
            Poll::Ready(Ok(_)) => ok += 1,
            Poll::Ready(Err(_)) => err += 1,
            Poll::Pending => unreachable!("ready futures"),
        }
    }
    (ok, err)
}

fn allocations_for(breaker: Breaker, fail_every: u32) -> (usize, (usize, usize)) {
    let mut svc = CircuitBreakerLayer::new(breaker).layer(service_fn(move |n: u32| {
        std::future::ready(if fail_every != 0 && n.is_multiple_of(fail_every) {
            Err("unavailable")
        } else {
            Ok(n)
        })
    }));
    drive(&mut svc, 1_000); // warm-up: thread-local stripe index, lazy statics
    let region = Region::new(GLOBAL);
    let counts = drive(&mut svc, CALLS);
    let change = region.change();
    (change.allocations + change.reallocations, counts)
}

fn main() {
    let consecutive = Breaker::builder("consecutive")
        .consecutive_failures(5)
        .build()
        .unwrap();
    let (allocs, (ok, _)) = allocations_for(consecutive, 0);
    assert_eq!(ok, CALLS);
    assert_eq!(allocs, 0, "closed path, consecutive-failure policy");

    let process_lifetime = Breaker::builder("static").build_static().unwrap();
    let (allocs, (ok, _)) = allocations_for(process_lifetime, 0);
    assert_eq!(ok, CALLS);
    assert_eq!(allocs, 0, "closed path, static breaker");

    // What a shared-state store attaches: a transition listener.
    let followed = Breaker::builder("followed").build().unwrap();
    support::stored(&followed)
        .on_transition(Box::new(|_: &fusebox_core::Event<'_>| {}))
        .detach();
    let (allocs, (ok, _)) = allocations_for(followed, 0);
    assert_eq!(ok, CALLS);
    assert_eq!(allocs, 0, "closed path with a transition listener");

    // A breaker in a registry, which follows its transitions.
    let registry = fusebox_breaker::BreakerRegistry::new(|name| Breaker::builder(name));
    let registered = registry.get("registered").unwrap();
    let (allocs, (ok, _)) = allocations_for(registered, 0);
    assert_eq!(ok, CALLS);
    assert_eq!(allocs, 0, "closed path, breaker in a registry");

    // Occasional failures exercise the failure path without tripping.
    let failing = Breaker::builder("failures")
        .consecutive_failures(5)
        .build()
        .unwrap();
    let (allocs, (_, err)) = allocations_for(failing, 10);
    assert_eq!(err, CALLS / 10);
    assert_eq!(allocs, 0, "closed path with failures");

    let count_window = Breaker::builder("count")
        .failure_rate(0.5)
        .count_window(1_000)
        .build()
        .unwrap();
    let (allocs, _) = allocations_for(count_window, 10);
    assert_eq!(allocs, 0, "closed path, count window");

    // Successes dated by the coarse clock, failures by the exact one.
    let coarse = Breaker::builder("coarse")
        .failure_rate(0.5)
        .time_window(Duration::from_secs(60), 60)
        .build()
        .unwrap();
    let (allocs, (_, err)) = allocations_for(coarse, 10);
    assert_eq!(err, CALLS / 10);
    assert_eq!(allocs, 0, "closed path, time window");

    let time_window = Breaker::builder("time")
        .failure_rate(0.5)
        .time_window(Duration::from_secs(60), 60)
        .slow_call(Duration::from_secs(1), 0.9)
        .build()
        .unwrap();
    let (allocs, _) = allocations_for(time_window, 10);
    assert_eq!(allocs, 0, "closed path, time window and slow calls");

    let static_open = Breaker::builder("static-open").build_static().unwrap();
    static_open.force_open();
    let (allocs, (_, err)) = allocations_for(static_open, 0);
    assert_eq!(err, CALLS);
    assert_eq!(allocs, 0, "open path, static breaker");

    let open = Breaker::builder("open").build().unwrap();
    open.force_open();
    let (allocs, (_, err)) = allocations_for(open.clone(), 0);
    assert_eq!(err, CALLS);
    assert_eq!(allocs, 0, "open path");
    assert_eq!(open.metrics().rejections as usize, CALLS + 1_000);

    // A keyed set whose closure borrows each request's key: 1,000 tenants in turn, each
    // breaker made during the warm-up. (The closure's key must borrow from the request or be
    // `'static`; these names live for the rest of the test.)
    let tenants: &'static [String] = Vec::leak((0..1_000).map(|i| format!("tenant-{i}")).collect());
    let set = Breaker::builder("keyed").keyed().build().unwrap();
    let allocs = keyed_allocations(&set, tenants);
    assert_eq!(allocs, 0, "closed path, keyed by a borrowing closure");

    // Keys longer than `max_key_len`, cut and hashed on every call: 100 of them in turn.
    let long: &'static [String] = Vec::leak(
        (0..100)
            .map(|i| format!("{}-{i}", "tenant".repeat(40)))
            .collect(),
    );
    let set = Breaker::builder("long")
        .keyed()
        .max_key_len(64)
        .build()
        .unwrap();
    let allocs = keyed_allocations(&set, long);
    assert_eq!(allocs, 0, "closed path, keys cut and hashed");
}

/// Allocations over [`CALLS`] calls through a layer of `set` keyed by a closure that borrows
/// each request's key from `keys`, in turn, after a warm-up that makes each key's breaker.
fn keyed_allocations(set: &KeyedBreakers, keys: &'static [String]) -> usize {
    let mut svc = KeyedCircuitBreakerLayer::new(
        set.clone(),
        key_fn(move |n: &u32| Some(keys[*n as usize % keys.len()].as_str())),
    )
    .layer(service_fn(|n: u32| std::future::ready(Ok::<_, &str>(n))));
    drive(&mut svc, 1_000);
    assert_eq!(set.len(), keys.len());
    let region = Region::new(GLOBAL);
    let (ok, _) = drive(&mut svc, CALLS);
    let change = region.change();
    assert_eq!(ok, CALLS);
    assert_eq!(set.len(), keys.len(), "each key kept its breaker");
    change.allocations + change.reallocations
}
