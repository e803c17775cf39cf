//! Per-call overhead of a keyed breaker against a plain one, in the same run, and resident
//! memory under 100,000 distinct keys.
//!
//! ```text
//! cargo bench -p fusebox-benches --bench keyed
//! ```

mod common;

use common::*;
use fusebox::breaker::{Breaker, CircuitBreakerLayer, KeyExtractor, KeyedCircuitBreakerLayer};
use std::borrow::Cow;
use std::future::{ready, Future, Ready};
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;
use tower::{Layer, Service};

const RUNS: usize = 9;

/// A bare service taking a tenant name.
#[derive(Clone, Copy)]
struct Tenanted;

impl Service<&'static str> for Tenanted {
    type Response = ();
    type Error = Failed;
    type Future = Ready<Result<(), Failed>>;
    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Failed>> {
        Poll::Ready(Ok(()))
    }
    fn call(&mut self, _: &'static str) -> Self::Future {
        ready(Ok(()))
    }
}

/// The request is its own key, borrowed: no allocation per call.
#[derive(Clone, Copy)]
struct Itself;

impl KeyExtractor<&'static str> for Itself {
    fn extract<'r>(&self, request: &'r &'static str) -> Option<Cow<'r, str>> {
        Some(Cow::Borrowed(request))
    }
}

fn drive_keys<S: Service<&'static str>>(svc: &mut S, keys: &[&'static str], calls: usize) {
    let mut cx = Context::from_waker(Waker::noop());
    for i in 0..calls {
        if let Poll::Ready(Ok(())) = svc.poll_ready(&mut cx) {
            let fut = pin!(svc.call(keys[i % keys.len()]));
            let _ = std::hint::black_box(fut.poll(&mut cx));
        }
    }
}

fn measure<S: Service<&'static str>>(svc: &mut S, keys: &[&'static str]) -> f64 {
    drive_keys(svc, keys, 10_000);
    median_ns_per_call(RUNS, 1_000_000, |calls| {
        drive_keys(svc, keys, calls as usize);
    })
}

fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

fn main() {
    if only_checking_build() {
        return;
    }
    let runtime = current_thread_runtime();
    let _guard = runtime.enter();
    let keys_1000: Vec<&'static str> = (0..1_000)
        .map(|i| &*Box::leak(format!("tenant-{i}").into_boxed_str()))
        .collect();
    let one = ["acme"];
    let keyed = |max_keys: usize| {
        Breaker::builder("bench")
            .consecutive_failures(5)
            .open_duration(Duration::from_secs(3600))
            .keyed()
            .max_keys(max_keys)
            .build()
            .expect("valid set")
    };

    let bare = measure(&mut Tenanted, &one);
    let plain = measure(
        &mut CircuitBreakerLayer::new(fusebox_breaker(false)).layer(Tenanted),
        &one,
    );
    let keyed_one = measure(
        &mut KeyedCircuitBreakerLayer::new(keyed(10_000), Itself).layer(Tenanted),
        &one,
    );
    let keyed_many = measure(
        &mut KeyedCircuitBreakerLayer::new(keyed(10_000), Itself).layer(Tenanted),
        &keys_1000,
    );
    println!("closed path, one task");
    println!("  {:<44} {:>10} {:>12}", "contender", "ns/call", "overhead");
    for (name, ns) in [
        ("bare service (baseline)", bare),
        ("plain breaker (counted handle)", plain),
        ("keyed breaker, one key", keyed_one),
        ("keyed breaker, 1,000 keys in turn", keyed_many),
    ] {
        println!("  {name:<44} {ns:>10.1} {:>+9.1} ns", ns - bare);
    }
    println!(
        "  keyed overhead / plain overhead: {:.1}x (one key), {:.1}x (1,000 keys)",
        (keyed_one - bare) / (plain - bare),
        (keyed_many - bare) / (plain - bare)
    );

    println!("\nresident memory under 100,000 distinct keys");
    for max_keys in [10_000, 100_000] {
        let set = keyed(max_keys);
        let before = resident_bytes();
        for i in 0..100_000 {
            drop(set.get(&format!("attacker-{max_keys}-{i:08}")));
        }
        let grown = resident_bytes().saturating_sub(before);
        println!(
            "  max_keys {max_keys:>7}: {:>6} live breakers, resident memory +{:.1} MiB ({:.0} bytes per live breaker)",
            set.len(),
            grown as f64 / (1024.0 * 1024.0),
            grown as f64 / set.len() as f64
        );
    }
}
