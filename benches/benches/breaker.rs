//! ns per call of a bare ready service, of fusebox around it, and of the breakers a user would
//! otherwise pick (tower-resilience, failsafe, recloser), all in one run.
//!
//! ```text
//! cargo bench -p fusebox-benches --bench breaker
//! ```

mod common;

use common::*;
use std::time::{Duration, Instant};
use tower::{Service, ServiceExt};

const RUNS: usize = 9;
const TARGET: Duration = Duration::from_millis(150);

/// Median ns per call over `RUNS` runs, each sized to last about `TARGET`.
fn measure<S: Service<u64>>(svc: &mut S) -> f64 {
    drive(svc, 10_000);
    let t = Instant::now();
    drive(svc, 10_000);
    let per_call = t.elapsed().as_secs_f64() / 10_000.0;
    let calls = ((TARGET.as_secs_f64() / per_call) as u64).clamp(10_000, 50_000_000);
    median_ns_per_call(RUNS, calls, |calls| {
        std::hint::black_box(drive(svc, calls));
    })
}

/// Two tasks on a two-thread runtime, each with its own clone of one service (one shared
/// breaker); median wall-clock ns per call per task.
fn measure_two_tasks<S>(svc: S) -> f64
where
    S: Service<u64> + Clone + Send + 'static,
    S::Future: Send,
    S::Error: Send,
    S::Response: Send,
{
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .expect("a runtime");
    let calls: u64 = 2_000_000;
    let mut samples: Vec<f64> = (0..RUNS)
        .map(|_| {
            let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(3));
            let tasks: Vec<_> = (0..2)
                .map(|_| {
                    let mut svc = svc.clone();
                    let barrier = barrier.clone();
                    runtime.spawn(async move {
                        barrier.wait().await;
                        for i in 0..calls {
                            if let Ok(ready) = svc.ready().await {
                                let _ = std::hint::black_box(ready.call(i).await.is_ok());
                            }
                        }
                    })
                })
                .collect();
            runtime.block_on(async {
                barrier.wait().await;
                let t = Instant::now();
                for task in tasks {
                    task.await.expect("task");
                }
                t.elapsed().as_nanos() as f64 / calls as f64
            })
        })
        .collect();
    samples.sort_by(|a, b| a.total_cmp(b));
    samples[RUNS / 2]
}

struct Row {
    name: &'static str,
    ns: f64,
}

fn print_section(title: &str, baseline: Option<f64>, rows: &[Row]) {
    println!("\n{title}");
    println!("  {:<44} {:>10} {:>12}", "contender", "ns/call", "overhead");
    for row in rows {
        let overhead = baseline.map_or(String::from("-"), |b| format!("{:+.1} ns", row.ns - b));
        println!("  {:<44} {:>10.1} {:>12}", row.name, row.ns, overhead);
    }
}

fn main() {
    if only_checking_build() {
        return;
    }
    let runtime = current_thread_runtime();
    let _guard = runtime.enter();

    // Closed path, one task.
    let bare = measure(&mut Bare { fail: false });
    let closed = vec![
        Row {
            name: "bare service (baseline)",
            ns: bare,
        },
        Row {
            name: "fusebox (consecutive failures)",
            ns: measure(&mut fusebox(fusebox_breaker(true), false)),
        },
        Row {
            name: "fusebox, counted handle (consecutive)",
            ns: measure(&mut fusebox(fusebox_breaker(false), false)),
        },
        Row {
            name: "fusebox (failure rate, count window 10)",
            ns: measure(&mut fusebox(fusebox_window(10), false)),
        },
        Row {
            name: "fusebox (failure rate, count window 160000)",
            ns: measure(&mut fusebox(fusebox_window(160_000), false)),
        },
        Row {
            name: "failsafe 1.3 (consecutive failures)",
            ns: measure(&mut failsafe(false)),
        },
        Row {
            name: "recloser 1.4 (count window 100)",
            ns: measure(&mut recloser(false)),
        },
        Row {
            name: "tower-resilience 0.14 (consecutive failures)",
            ns: runtime.block_on(async { measure(&mut tower_resilience(false)) }),
        },
    ];
    print_section("closed breaker, one task", Some(bare), &closed);

    // Open path: every call rejected.
    let mut t = Tripped::new(&runtime);
    let open = vec![
        Row {
            name: "fusebox",
            ns: measure(&mut t.fusebox_static),
        },
        Row {
            name: "fusebox, counted handle",
            ns: measure(&mut t.fusebox_counted),
        },
        Row {
            name: "failsafe 1.3",
            ns: measure(&mut t.failsafe),
        },
        Row {
            name: "recloser 1.4",
            ns: measure(&mut t.recloser),
        },
        Row {
            name: "tower-resilience 0.14",
            ns: runtime.block_on(async { measure(&mut t.tower_resilience) }),
        },
    ];
    print_section("open breaker, rejected call, one task", None, &open);

    // Two tasks on two threads sharing one breaker.
    let bare2 = measure_two_tasks(Bare { fail: false });
    let shared = vec![
        Row {
            name: "bare service (baseline)",
            ns: bare2,
        },
        Row {
            name: "fusebox (consecutive failures)",
            ns: measure_two_tasks(fusebox(fusebox_breaker(true), false)),
        },
        Row {
            name: "fusebox, counted handle (consecutive)",
            ns: measure_two_tasks(fusebox(fusebox_breaker(false), false)),
        },
        Row {
            name: "failsafe 1.3 (consecutive failures)",
            ns: measure_two_tasks(failsafe(false)),
        },
        Row {
            name: "recloser 1.4 (count window 100)",
            ns: measure_two_tasks(recloser(false)),
        },
        Row {
            name: "tower-resilience 0.14 (consecutive failures)",
            ns: measure_two_tasks(tower_resilience(false)),
        },
    ];
    print_section(
        "closed breaker, two tasks on two threads, one shared breaker",
        Some(bare2),
        &shared,
    );

    let overhead = |rows: &[Row], i: usize, base: f64| rows[i].ns - base;
    let fb = overhead(&closed, 1, bare);
    let fastest_peer = (5..=6)
        .map(|i| overhead(&closed, i, bare))
        .fold(f64::INFINITY, f64::min);
    let tr_overhead = overhead(&closed, 7, bare);
    println!("\nratios (same run)");
    println!(
        "  closed overhead, fusebox / fastest peer (failsafe, recloser): {:.2}   (target <= 0.50)",
        fb / fastest_peer
    );
    println!(
        "  closed overhead, tower-resilience / fusebox:                  {:.0}x  (target >= 25x)",
        tr_overhead / fb
    );
    let fastest_reject = (2..=3).map(|i| open[i].ns).fold(f64::INFINITY, f64::min);
    println!(
        "  rejection, fusebox / fastest peer (failsafe, recloser):       {:.2}   (target <= 0.50)",
        open[0].ns / fastest_reject
    );
    let fastest_shared = (3..=4)
        .map(|i| shared[i].ns - bare2)
        .fold(f64::INFINITY, f64::min);
    println!(
        "  two tasks, overhead fusebox / fastest peer:                   {:.2}   (target <= 0.50)",
        (shared[1].ns - bare2) / fastest_shared
    );
    println!(
        "  count window 160000 / count window 10:                        {:.2}   (target ~1.00)",
        closed[4].ns / closed[3].ns
    );
}
