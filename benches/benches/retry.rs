//! ns per call on the success path (no retry needed) of the retry layer, against the bare
//! service in the same run, alone and stacked on a breaker.
//!
//! ```text
//! cargo bench -p fusebox-benches --bench retry
//! ```

mod common;

use common::*;
use fusebox::retry::RetryLayer;
use std::time::Duration;
use tower::{Layer, Service};

const RUNS: usize = 9;

fn measure<S: Service<u64>>(svc: &mut S) -> f64 {
    drive(svc, 10_000);
    median_ns_per_call(RUNS, 2_000_000, |calls| {
        std::hint::black_box(drive(svc, calls));
    })
}

fn main() {
    if only_checking_build() {
        return;
    }
    let runtime = current_thread_runtime();
    let _guard = runtime.enter();
    let retry = || {
        RetryLayer::builder("bench")
            .max_attempts(3)
            .build()
            .expect("valid layer")
    };
    let retry_static = RetryLayer::builder("bench")
        .max_attempts(3)
        .build_static()
        .expect("valid layer");
    let with_deadline = || {
        RetryLayer::builder("bench")
            .max_attempts(3)
            .deadline(Duration::from_secs(5))
            .build()
            .expect("valid layer")
    };

    let bare = measure(&mut Bare { fail: false });
    let rows = [
        ("bare service (baseline)", bare),
        ("retry", measure(&mut retry().layer(Bare { fail: false }))),
        (
            "retry, static policy (build_static)",
            measure(&mut retry_static.layer(Bare { fail: false })),
        ),
        (
            "retry with a deadline (reads the clock)",
            measure(&mut with_deadline().layer(Bare { fail: false })),
        ),
        (
            "retry + breaker (static)",
            measure(&mut retry().layer(fusebox(fusebox_breaker(true), false))),
        ),
        (
            "retry (static) + breaker (static)",
            measure(&mut retry_static.layer(fusebox(fusebox_breaker(true), false))),
        ),
    ];
    println!("success path, one task");
    println!("  {:<44} {:>10} {:>12}", "contender", "ns/call", "overhead");
    for (name, ns) in rows {
        println!("  {name:<44} {ns:>10.1} {:>+9.1} ns", ns - bare);
    }
}
