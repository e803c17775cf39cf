//! Heap allocations per call for each contender, closed and open, counted by a global
//! allocator, with calls made as in `hot_path` (`ready().await` then `call().await`, to
//! completion). Kept apart from the timed benchmark so counting does not slow the timed runs.
//!
//! ```text
//! cargo bench -p fusebox-benches --bench allocations
//! ```

use fusebox_benches::contenders::*;
use fusebox_benches::harness::*;
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};
use std::alloc::System;
use tokio::runtime::Runtime;
use tower::Service;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const CALLS: u64 = 100_000;

/// Allocations per call over `CALLS` calls, after a warm-up; every call must complete.
fn per_call<S: Service<u64>>(rt: &Runtime, mut svc: S) -> f64 {
    rt.block_on(drive(&mut svc, 1_000));
    let region = Region::new(GLOBAL);
    let tally = rt.block_on(drive(&mut svc, CALLS));
    let change = region.change();
    assert_eq!(tally.completed(), CALLS, "every call completes");
    (change.allocations + change.reallocations) as f64 / CALLS as f64
}

/// `svc` (around a failing inner service) tripped open by 200 failed calls.
fn tripped<S: Service<u64>>(rt: &Runtime, mut svc: S) -> S {
    rt.block_on(drive(&mut svc, 200));
    svc
}

fn main() {
    if only_checking_build() {
        return;
    }
    let rt = current_thread();
    println!("| contender | closed | open |\n|---|---:|---:|");
    let row = |name: &str, closed: f64, open: Option<f64>| {
        let open = open.map_or_else(|| "—".to_owned(), |o| format!("{o:.2}"));
        println!("| {name} | {closed:.2} | {open} |");
    };
    row("bare service", per_call(&rt, inner(false)), None);
    for (name, handle) in [
        ("`build()`", Handle::Counted),
        ("`build_static()`", Handle::Static),
    ] {
        row(
            &format!("fusebox, consecutive failures, {name}"),
            per_call(&rt, fusebox(consecutive(handle), false)),
            Some(per_call(
                &rt,
                tripped(&rt, fusebox(consecutive(handle), true)),
            )),
        );
    }
    row(
        "fusebox, count window of 100",
        per_call(&rt, fusebox(count_window(100, Handle::Counted), false)),
        None,
    );
    row(
        "fusebox, time window of 10 s",
        per_call(
            &rt,
            fusebox(
                time_window(std::time::Duration::from_secs(10), Handle::Counted),
                false,
            ),
        ),
        None,
    );
    row(
        "fusebox keyed, borrowed key, 1,000 keys",
        per_call(&rt, keyed(Tenant { of: 1_000 })),
        None,
    );
    row(
        "fusebox keyed, `key_fn` closure, 1,000 keys",
        per_call(&rt, keyed(borrowing_closure_key(1_000))),
        None,
    );
    row(
        "fusebox keyed, closure key (`String`), 1,000 keys",
        per_call(&rt, keyed(closure_key(1_000))),
        None,
    );
    row(
        "fusebox retry, `build()`",
        per_call(&rt, retry(Handle::Counted, false, inner(false))),
        None,
    );
    row(
        "tower `Retry`, 3 attempts",
        per_call(&rt, tower_retry(inner(false))),
        None,
    );
    row(
        "failsafe 1.3",
        per_call(&rt, failsafe(false)),
        Some(per_call(&rt, tripped(&rt, failsafe(true)))),
    );
    row(
        "recloser 1.4",
        per_call(&rt, recloser(100, false)),
        Some(per_call(&rt, tripped(&rt, recloser(100, true)))),
    );
    row(
        "tower-resilience 0.14",
        per_call(&rt, tower_resilience(false)),
        Some(per_call(&rt, tripped(&rt, tower_resilience(true)))),
    );
}
