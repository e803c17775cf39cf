//! Heap bytes a registry holds per check after a day of probes every 30 s, counted by a
//! global allocator: the goal is at most 48 KiB a check.
//!
//! Runs without the test harness (whose threads may allocate during a measurement), on paused
//! time: a day of probes takes a moment.

use fusebox_health::{CheckSettings, FnCheck, HealthRegistry, Probe};
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};
use std::alloc::System;
use std::time::Duration;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const CHECKS: usize = 10;
const GOAL: usize = 48 * 1024;

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap();
    rt.block_on(async {
        let region = Region::new(GLOBAL);
        let mut builder = HealthRegistry::builder();
        for i in 0..CHECKS {
            let check = FnCheck::new(format!("dependency-{i}:responseTime"), move || async move {
                if i % 2 == 0 {
                    Probe::pass().observed(12.5, "ms")
                } else {
                    Probe::fail("connection refused by 127.0.0.1:1")
                }
            });
            let settings = CheckSettings::default()
                .interval(Duration::from_secs(30))
                .failing_interval(Duration::from_secs(30))
                .jitter(0.0);
            builder = builder.check(check, settings);
        }
        let registry = builder.build().unwrap();
        let running = registry.start();
        let day = 24 * 60 * 2;
        for _ in 0..day {
            tokio::time::advance(Duration::from_secs(30)).await;
            for _ in 0..4 {
                tokio::task::yield_now().await;
            }
        }
        let samples = registry
            .history("dependency-0:responseTime", Duration::from_secs(86_400))
            .unwrap()
            .len();
        assert_eq!(samples, 2_880, "a day of samples, the ring full");
        let change = region.change();
        let per_check = (change.bytes_allocated - change.bytes_deallocated) / CHECKS;
        println!("{per_check} bytes held per check after a day of probes every 30 s");
        assert!(
            per_check <= GOAL,
            "{per_check} bytes per check, more than the goal of {GOAL}"
        );
        running.stop().await;
    });
}
