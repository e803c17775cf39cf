//! Heap bytes held per keyed breaker, counted by a global allocator.
//!
//! A keyed set may hold a hundred thousand breakers, so what one costs must not grow with the
//! machine: a per-key breaker counts in one shared stripe, not in a 128-byte stripe per core
//! (which would add at least 512 bytes here, and 8 KiB on a 32-core server).
//!
//! Runs without the test harness (whose threads may allocate during a measurement).

use fusebox_breaker::Breaker;
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};
use std::alloc::System;
use std::time::Duration;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const KEYS: usize = 10_000;

fn held_per_breaker(builder: fusebox_breaker::BreakerBuilder) -> usize {
    let set = builder.keyed().max_keys(KEYS).build().unwrap();
    let keys: Vec<String> = (0..KEYS).map(|i| format!("tenant-{i:08}")).collect();
    let region = Region::new(GLOBAL);
    for key in &keys {
        drop(set.get(key));
    }
    let change = region.change();
    assert_eq!(set.len(), KEYS);
    (change.bytes_allocated - change.bytes_deallocated) / KEYS
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _g = rt.enter();
    let consecutive = held_per_breaker(
        Breaker::builder("consecutive")
            .consecutive_failures(5)
            .open_duration(Duration::from_secs(60)),
    );
    let window = held_per_breaker(
        Breaker::builder("window")
            .failure_rate(0.5)
            .count_window(100)
            .min_calls(10),
    );
    println!(
        "heap bytes per keyed breaker: {consecutive} (consecutive failures), {window} (count window of 100)"
    );
    // The breaker (three cache-line-padded atomics among its fields), its key twice, its table
    // slot and its transition bus: about 1.2 KiB.
    assert!(
        consecutive <= 1_400,
        "a keyed breaker holds {consecutive} bytes; more than 1,400 means something per-thread or \
         per-core came back"
    );
    // A count window adds its padded totals (512 bytes) and one byte per slot.
    assert!(
        window - consecutive <= 512 + 100 + 64,
        "a count window of 100 adds {} bytes",
        window - consecutive
    );
}
