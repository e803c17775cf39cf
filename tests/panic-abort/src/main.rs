//! Run by `scripts/test` built with `-C panic=abort`: in a Tokio runtime without a time driver,
//! a breaker that trips must not make a timer (Tokio would panic, and the panic would abort
//! the process); its open periods end on the first call after them. Exits 0 when they do.

use fusebox_breaker::{Breaker, CircuitState};
use std::time::Duration;

fn main() {
    if cfg!(panic = "unwind") {
        eprintln!("build this with RUSTFLAGS=\"-C panic=abort\": it checks that build");
        std::process::exit(2);
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime without a time driver");
    runtime.block_on(async {
        let breaker = Breaker::builder("abort")
            .consecutive_failures(1)
            .open_duration(Duration::from_millis(1))
            .build()
            .expect("valid settings");
        for trip in 1..=3 {
            breaker
                .try_acquire()
                .expect("closed or half-open")
                .failure();
            assert_eq!(breaker.state(), CircuitState::Open, "trip {trip}");
            assert!(breaker.try_acquire().is_err(), "rejected while open");
            std::thread::sleep(Duration::from_millis(2));
            let probe = breaker
                .try_acquire()
                .unwrap_or_else(|e| panic!("trip {trip}: the open period did not end: {e}"));
            assert!(probe.is_probe());
            if trip == 3 {
                probe.success();
            } else {
                // Trip again from half-open.
                probe.failure();
                std::thread::sleep(Duration::from_millis(2));
            }
        }
        assert_eq!(breaker.state(), CircuitState::Closed);
    });
    println!("panic = \"abort\": breakers work in a runtime without a time driver");
}
