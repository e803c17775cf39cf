//! Three instances of a service, in one process, sharing breaker state through Redis.
//!
//! Each instance has its own `inventory` breaker and its own `RedisStore`. The inventory
//! service fails from 2 s to 5 s. One instance sees the failures and trips; the others learn of
//! it at once through Redis and reject without calling; when the open period ends, one instance
//! alone probes, and its success closes all three.
//!
//! ```text
//! cargo run --example shared_state                       # starts its own redis-server
//! REDIS_URL=redis://127.0.0.1:6379/ cargo run --example shared_state
//! ```

use fusebox::breaker::{Breaker, CircuitState};
use fusebox::redis::RedisStore;
use fusebox::{Event, EventKind, TransitionReason};
use fusebox_testkit::RedisServer;
use std::time::{Duration, Instant};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let (url, _server) = match std::env::var("REDIS_URL") {
        Ok(url) => (url, None),
        Err(_) => {
            let server = RedisServer::try_start()
                .map_err(|e| format!("could not start a Redis server ({e}); or set REDIS_URL"))?;
            (server.url(), Some(server))
        }
    };
    println!("sharing through {url}; inventory fails from 2 s to 5 s\n");
    let started = Instant::now();
    let mut instances = Vec::new();
    for n in 1..=3 {
        let store = RedisStore::builder(url.clone(), "demo").build()?;
        let breaker = Breaker::builder("inventory")
            .consecutive_failures(3)
            .open_duration(Duration::from_secs(1))
            .on_event(move |e: &Event<'_>| {
                if let EventKind::StateTransition { from, to, reason } = e.kind {
                    let how = if reason == TransitionReason::Remote {
                        "learned from Redis".to_owned()
                    } else {
                        reason.to_string()
                    };
                    println!(
                        "[{:>4.1}s] instance {n}: {from} -> {to} ({how})",
                        started.elapsed().as_secs_f64()
                    );
                }
            })
            .build()?;
        breaker.share_with(&store);
        instances.push((store, breaker));
    }

    let failing = |t: Duration| t >= Duration::from_secs(2) && t < Duration::from_secs(5);
    let mut calls = [0u32; 3];
    let mut rejected = [0u32; 3];
    let mut i = 0;
    while started.elapsed() < Duration::from_secs(8) {
        tokio::time::sleep(Duration::from_millis(50)).await;
        i = (i + 1) % 3;
        let (_, breaker) = &instances[i];
        match breaker.try_acquire() {
            Ok(permit) => {
                calls[i] += 1;
                if failing(started.elapsed()) {
                    permit.failure();
                } else {
                    permit.success();
                }
            }
            Err(_) => rejected[i] += 1,
        }
    }
    println!();
    for (n, (store, breaker)) in instances.iter().enumerate() {
        println!(
            "instance {}: {:<7} calls sent {:>3}, rejected locally {:>3}, Redis degraded: {}",
            n + 1,
            breaker.state(),
            calls[n],
            rejected[n],
            store.is_degraded()
        );
    }
    assert!(instances
        .iter()
        .all(|(_, b)| b.state() == CircuitState::Closed));
    Ok(())
}
