//! Heap allocations per call for each contender, closed and open, counted by a global
//! allocator. Kept apart from the timing benchmark so counting does not slow the timed runs.
//!
//! ```text
//! cargo bench -p fusebox-benches --bench allocations
//! ```

mod common;

use common::*;
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};
use std::alloc::System;
use tower::Service;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const CALLS: u64 = 100_000;

fn per_call<S: Service<u64>>(svc: &mut S) -> f64 {
    drive(svc, 1_000);
    let region = Region::new(GLOBAL);
    drive(svc, CALLS);
    region.change().allocations as f64 / CALLS as f64
}

fn main() {
    if only_checking_build() {
        return;
    }
    let runtime = current_thread_runtime();
    let _guard = runtime.enter();

    let mut open = Tripped::new(&runtime);

    println!("allocations per call ({CALLS} calls)");
    println!("  {:<24} {:>8} {:>8}", "contender", "closed", "open");
    let rows = [
        ("bare service", per_call(&mut Bare { fail: false }), 0.0),
        (
            "fusebox",
            per_call(&mut fusebox(fusebox_breaker(false), false)),
            per_call(&mut open.fusebox_counted),
        ),
        (
            "failsafe 1.3",
            per_call(&mut failsafe(false)),
            per_call(&mut open.failsafe),
        ),
        (
            "recloser 1.4",
            per_call(&mut recloser(false)),
            per_call(&mut open.recloser),
        ),
        (
            "tower-resilience 0.14",
            runtime.block_on(async { per_call(&mut tower_resilience(false)) }),
            runtime.block_on(async { per_call(&mut open.tower_resilience) }),
        ),
    ];
    for (name, closed, open) in rows {
        println!("  {name:<24} {closed:>8.2} {open:>8.2}");
    }
}
