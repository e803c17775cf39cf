//! Per-call cost of a breaker shared through Redis against the same breaker kept in-process,
//! in the same run, and Redis commands per 1,000 calls. Starts its own redis-server.
//!
//! ```text
//! cargo bench -p fusebox-benches --bench redis_store
//! ```

use fusebox::breaker::Breaker;
use fusebox::redis::RedisStore;
use fusebox_benches::contenders::OPEN_FOR;
use fusebox_benches::harness::{median, only_checking_build};
use fusebox_testkit::RedisServer;
use std::time::Duration;

const RUNS: usize = 9;

fn breaker() -> Breaker {
    Breaker::builder("bench")
        .failure_rate(0.5)
        .count_window(100)
        .min_calls(20)
        .open_duration(OPEN_FOR)
        .build()
        .expect("valid breaker")
}

/// One section of the server's `INFO`.
fn info(url: &str, runtime: &tokio::runtime::Runtime, section: &str) -> String {
    runtime.block_on(async {
        let client = redis::Client::open(url).expect("url");
        let mut con = client
            .get_multiplexed_async_connection()
            .await
            .expect("connection");
        redis::cmd("INFO")
            .arg(section)
            .query_async(&mut con)
            .await
            .expect("INFO")
    })
}

/// Commands the server has processed so far.
fn commands(url: &str, runtime: &tokio::runtime::Runtime) -> u64 {
    info(url, runtime, "stats")
        .lines()
        .find_map(|l| l.strip_prefix("total_commands_processed:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("total_commands_processed")
}

/// `EVALSHA` calls the server has executed so far.
fn script_calls(url: &str, runtime: &tokio::runtime::Runtime) -> u64 {
    info(url, runtime, "commandstats")
        .lines()
        .find_map(|l| l.strip_prefix("cmdstat_evalsha:calls="))
        .and_then(|v| v.split(',').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// How long one flush of `n` breakers that each saw a call takes, from the calls to the last
/// script counted by Redis (the store flushes every 10 ms, so up to 10 ms of it is waiting).
fn flush_of_many(url: &str, runtime: &tokio::runtime::Runtime, n: usize) -> Duration {
    let (store, breakers) = runtime.block_on(async {
        let store = RedisStore::builder(url, "bench-many")
            .flush_interval(Duration::from_millis(10))
            .poll_interval(Duration::from_secs(3600))
            .build()
            .expect("valid store");
        let breakers: Vec<Breaker> = (0..n)
            .map(|i| {
                let b = Breaker::builder(format!("tenant-{i}"))
                    .build()
                    .expect("valid breaker");
                b.share_with(&store);
                b
            })
            .collect();
        // Every breaker is read once when attached; let that settle.
        tokio::time::sleep(Duration::from_secs(2)).await;
        (store, breakers)
    });
    let before = script_calls(url, runtime);
    let started = std::time::Instant::now();
    for b in &breakers {
        b.try_acquire().expect("closed").success();
    }
    while script_calls(url, runtime) < before + n as u64 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "flush never finished"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    let took = started.elapsed();
    drop(store);
    took
}

/// How long a trip on one instance takes to reach another, over `rounds` trips and resets:
/// (median, 95th percentile, slowest). Each trip is shared by a script and published; the
/// other instance applies it from its subscription.
fn propagation(url: &str, runtime: &tokio::runtime::Runtime, rounds: usize) -> [Duration; 3] {
    runtime.block_on(async {
        let instance = || {
            let store = RedisStore::builder(url, "bench-propagation")
                .build()
                .expect("valid store");
            let b = Breaker::builder("payments")
                .consecutive_failures(1)
                .open_duration(Duration::from_secs(600))
                .build()
                .expect("valid breaker");
            b.share_with(&store);
            (store, b)
        };
        let (_a, on_a) = instance();
        let (_b, on_b) = instance();
        tokio::time::sleep(Duration::from_millis(300)).await;
        let wait_for = |state: fusebox::CircuitState| {
            let on_b = on_b.clone();
            async move {
                let started = std::time::Instant::now();
                while on_b.state() != state {
                    assert!(started.elapsed() < Duration::from_secs(10), "never reached");
                    tokio::task::yield_now().await;
                }
                started.elapsed()
            }
        };
        let mut took = Vec::with_capacity(rounds);
        for _ in 0..rounds {
            on_a.try_acquire().expect("closed").failure();
            took.push(wait_for(fusebox::CircuitState::Open).await);
            on_a.reset();
            wait_for(fusebox::CircuitState::Closed).await;
        }
        took.sort();
        [took[rounds / 2], took[rounds * 95 / 100], took[rounds - 1]]
    })
}

/// Runs `run(calls)` `runs` times; the median ns per call. These calls are `try_acquire` and
/// `success` on a breaker directly, not through a service: what a store adds to the breaker.
fn median_ns_per_call(runs: usize, calls: u64, mut run: impl FnMut(u64)) -> f64 {
    let samples: Vec<f64> = (0..runs)
        .map(|_| {
            let t = std::time::Instant::now();
            run(calls);
            t.elapsed().as_nanos() as f64 / calls as f64
        })
        .collect();
    median(&samples)
}

fn main() {
    if only_checking_build() {
        return;
    }
    let server = RedisServer::start();
    let url = server.url();

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("a runtime");
    let local = breaker();
    let shared = breaker();
    let store = runtime.block_on(async {
        let store = RedisStore::builder(url.clone(), "bench")
            .build()
            .expect("valid store");
        shared.share_with(&store);
        tokio::time::sleep(Duration::from_millis(300)).await;
        store
    });
    let run = |b: &Breaker, calls: u64| {
        for _ in 0..calls {
            b.try_acquire().expect("closed").success();
        }
    };
    let bare = median_ns_per_call(RUNS, 2_000_000, |calls| {
        for i in 0..calls {
            std::hint::black_box(i);
        }
    });
    let in_process = median_ns_per_call(RUNS, 2_000_000, |calls| run(&local, calls));
    let before = commands(&url, &runtime);
    let started = std::time::Instant::now();
    let with_redis = median_ns_per_call(RUNS, 2_000_000, |calls| run(&shared, calls));
    let elapsed = started.elapsed();
    let sent = commands(&url, &runtime) - before - 1;
    let calls = RUNS as f64 * 2_000_000.0;
    println!("closed path, one thread (try_acquire + success)");
    println!("  {:<36} {:>10.1} ns/call", "loop alone (baseline)", bare);
    println!(
        "  {:<36} {:>10.1} ns/call",
        "in-process breaker", in_process
    );
    println!(
        "  {:<36} {:>10.1} ns/call",
        "breaker shared through Redis", with_redis
    );
    println!(
        "  shared / in-process: {:.2}; Redis commands: {sent} for {calls:.0} calls over {:.1} s \
         ({:.4} per 1,000 calls; one flush script per 100 ms, counted with the commands it runs)",
        with_redis / in_process,
        elapsed.as_secs_f64(),
        sent as f64 / calls * 1_000.0
    );
    drop(store);

    let [median, p95, slowest] = propagation(&url, &runtime, 200);
    println!(
        "\na trip on one instance seen by another, 200 trips: median {:.2} ms, p95 {:.2} ms, \
         slowest {:.2} ms",
        median.as_secs_f64() * 1e3,
        p95.as_secs_f64() * 1e3,
        slowest.as_secs_f64() * 1e3
    );

    println!("\nflush of many breakers that each saw a call (one flush script each)");
    for n in [100, 1_000, 3_000] {
        let took = flush_of_many(&url, &runtime, n);
        println!(
            "  {n:>6} breakers: {:>8.1} ms ({:.1} µs per breaker)",
            took.as_secs_f64() * 1e3,
            took.as_secs_f64() * 1e6 / n as f64
        );
    }
    drop(server);
}
