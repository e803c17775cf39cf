//! What `MetricsLayer` costs per call, with the Prometheus recorder installed, against the bare
//! service and the breaker alone in the same run; and what each clock costs to read (the
//! layer reads one twice a call).
//!
//! ```text
//! cargo bench -p fusebox-benches --bench metrics
//! ```

use fusebox::metrics::{MetricsLayer, PrometheusExporter};
use fusebox_benches::contenders::*;
use fusebox_benches::harness::*;
use std::hint::black_box;
use std::time::Instant;
use tower::Layer;

/// Nanoseconds per read of a clock, the median of `rounds` runs of a million reads.
fn per_read(rounds: usize, read: impl Fn() -> u64) -> f64 {
    const READS: u32 = 1_000_000;
    let mut samples: Vec<f64> = (0..rounds)
        .map(|_| {
            let started = Instant::now();
            let mut sum = 0u64;
            for _ in 0..READS {
                sum = sum.wrapping_add(read());
            }
            black_box(sum);
            started.elapsed().as_nanos() as f64 / f64::from(READS)
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

fn main() {
    if only_checking_build() {
        return;
    }
    let exporter = PrometheusExporter::install().expect("the only recorder of this benchmark");
    let rounds = Rounds::from_env();
    rounds.announce();
    let rt = current_thread();
    let watched = consecutive(Handle::Counted);
    let subscription = watched.subscribe(exporter.events().clone());
    let held = consecutive(Handle::Counted);
    let circuit = fusebox::core::CircuitRef::from(held.clone());
    let held_subscription = held.subscribe(exporter.events().for_circuit(&*circuit));
    let mut one = vec![
        Contender::one_task("bare service", &rt, inner(false)),
        Contender::one_task(
            "`MetricsLayer`",
            &rt,
            MetricsLayer::new("metrics-only").layer(inner(false)),
        ),
        Contender::one_task(
            "breaker, consecutive failures, `build()`",
            &rt,
            fusebox(consecutive(Handle::Counted), false),
        ),
        Contender::one_task(
            "`MetricsLayer` over the breaker",
            &rt,
            MetricsLayer::new("layered").layer(fusebox(consecutive(Handle::Counted), false)),
        ),
        Contender::one_task(
            "breaker with `EventMetrics` subscribed",
            &rt,
            fusebox(watched.clone(), false),
        ),
        Contender::one_task(
            "breaker with `EventMetrics::for_circuit` subscribed",
            &rt,
            fusebox(held, false),
        ),
        Contender::one_task(
            "`MetricsLayer` over the breaker with `EventMetrics` subscribed",
            &rt,
            MetricsLayer::new("everything").layer(fusebox(watched, false)),
        ),
    ];
    rounds.run(&mut one);
    let refs: Vec<&Contender<'_>> = one.iter().collect();
    print_table("Metrics, one task", refs[0], &refs);
    println!(
        "\n`MetricsLayer` over the bare service: {:.1} ns a call; over the breaker, {:.1} ns more \
         than the breaker alone (medians of the rounds)",
        per_round(refs[1], refs[0], |a, b| a - b),
        per_round(refs[3], refs[2], |a, b| a - b),
    );

    println!(
        "\n### Reading a clock (ns per read, median of {} runs)\n",
        rounds.rounds
    );
    println!("| clock | ns |\n|---|---:|");
    let std_clock = per_read(rounds.rounds, || {
        Instant::now().elapsed().subsec_nanos().into()
    });
    let base = Instant::now();
    let std_now = per_read(rounds.rounds, || {
        u64::try_from(Instant::now().duration_since(base).as_nanos()).unwrap_or(0)
    });
    let tokio_now = rt.block_on(async {
        let base = tokio::time::Instant::now();
        per_read(rounds.rounds, || {
            u64::try_from(tokio::time::Instant::now().duration_since(base).as_nanos()).unwrap_or(0)
        })
    });
    let quanta_clock = quanta::Clock::new();
    let quanta_now = per_read(rounds.rounds, || quanta_clock.raw());
    println!("| `std::time::Instant::now()` | {std_now:.1} |");
    println!("| `std::time::Instant::now()` and `elapsed()` (two reads) | {std_clock:.1} |");
    println!("| `tokio::time::Instant::now()` (what `MetricsLayer` reads) | {tokio_now:.1} |");
    println!("| `quanta::Clock::raw()` | {quanta_now:.1} |");
    drop((subscription, held_subscription));
}
