//! Resident memory of a keyed breaker set under 100,000 distinct keys (the per-call cost of
//! keyed breakers is in `hot_path`).
//!
//! ```text
//! cargo bench -p fusebox-benches --bench keyed_memory
//! ```

use fusebox::breaker::Breaker;
use fusebox_benches::harness::only_checking_build;
use std::time::Duration;

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
    let keyed = |max_keys: usize| {
        Breaker::builder("bench")
            .consecutive_failures(5)
            .open_duration(Duration::from_secs(3600))
            .keyed()
            .max_keys(max_keys)
            .build()
            .expect("valid set")
    };
    println!("resident memory under 100,000 distinct keys");
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
