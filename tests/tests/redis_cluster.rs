//! Sharing through a real three-node Redis Cluster.

use fusebox::breaker::{Breaker, CircuitState};
use fusebox::redis::RedisStore;
use fusebox_testkit::{eventually, RedisCluster};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn breakers_share_state_through_a_cluster() {
    let cluster = RedisCluster::start();
    // Several breakers, so their keys land in different slots and nodes.
    let names = ["payments", "calendar", "telephony", "email", "search"];
    let instances: Vec<(RedisStore, Vec<Breaker>)> = (0..2)
        .map(|_| {
            let store = RedisStore::cluster_builder(cluster.urls(), "cluster")
                .flush_interval(Duration::from_millis(20))
                .build()
                .unwrap();
            let breakers = names
                .iter()
                .map(|name| {
                    let b = Breaker::builder(*name)
                        .consecutive_failures(2)
                        .open_duration(Duration::from_secs(30))
                        .build()
                        .unwrap();
                    b.share_with(&store);
                    b
                })
                .collect();
            (store, breakers)
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    for b in &instances[0].1 {
        b.try_acquire().unwrap().failure();
        b.try_acquire().unwrap().failure();
    }
    eventually(
        "every breaker open on the other instance",
        Duration::from_secs(5),
        || {
            instances[1]
                .1
                .iter()
                .all(|b| b.state() == CircuitState::Open)
        },
    )
    .await;
    assert!(!instances[1].0.is_degraded());
    instances[1].1[0].reset();
    eventually(
        "the reset reached the first instance",
        Duration::from_secs(5),
        || instances[0].1[0].state() == CircuitState::Closed,
    )
    .await;
}
