//! Per-call cost of a breaker shared through Redis against the same breaker kept in-process,
//! in the same run, and Redis commands per 1,000 calls. Starts its own redis-server.
//!
//! ```text
//! cargo bench -p fusebox-benches --bench redis_store
//! ```

mod common;

use common::*;
use fusebox::breaker::Breaker;
use fusebox::redis::RedisStore;
use std::process::{Command, Stdio};
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

fn commands(url: &str, runtime: &tokio::runtime::Runtime) -> u64 {
    runtime.block_on(async {
        let client = redis::Client::open(url).expect("url");
        let mut con = client
            .get_multiplexed_async_connection()
            .await
            .expect("connection");
        let info: String = redis::cmd("INFO")
            .arg("stats")
            .query_async(&mut con)
            .await
            .expect("INFO");
        info.lines()
            .find_map(|l| l.strip_prefix("total_commands_processed:"))
            .and_then(|v| v.trim().parse().ok())
            .expect("total_commands_processed")
    })
}

fn main() {
    if only_checking_build() {
        return;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port");
    let mut server = Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
        ])
        .stdout(Stdio::null())
        .spawn()
        .expect("redis-server must be installed: apt-get install redis-server");
    std::thread::sleep(Duration::from_millis(300));
    let url = format!("redis://127.0.0.1:{port}/");

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
        store.attach(&shared);
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
    let _ = server.kill();
    let _ = server.wait();
}
