//! After an open period, exactly one instance of the cluster probes.

use fusebox::breaker::{Breaker, CircuitState, Permit};
use fusebox::redis::RedisStore;
use fusebox_testkit::{eventually, RedisServer};
use std::time::{Duration, Instant};

fn instance(url: &str, max_wait: Duration) -> (RedisStore, Breaker) {
    let store = RedisStore::builder(url, "probe")
        .flush_interval(Duration::from_millis(20))
        .build()
        .unwrap();
    let breaker = Breaker::builder("calendar")
        .consecutive_failures(1)
        .open_duration(Duration::from_millis(200))
        .half_open_max_wait(max_wait)
        .build()
        .unwrap();
    breaker.share_with(&store);
    (store, breaker)
}

/// Every instance tries a call every 5 ms for `during`; returns the probes admitted, held.
async fn collect_probes(
    instances: &[(Option<RedisStore>, Breaker)],
    during: Duration,
) -> Vec<(usize, Permit)> {
    let mut held = Vec::new();
    let started = Instant::now();
    while started.elapsed() < during {
        for (i, (_, b)) in instances.iter().enumerate() {
            if let Ok(permit) = b.try_acquire() {
                assert!(
                    permit.is_probe(),
                    "instance {i} admitted a call that is not a probe"
                );
                held.push((i, permit));
            }
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    held
}

/// Three instances sharing one breaker, tripped open everywhere.
async fn tripped_cluster(url: &str, max_wait: Duration) -> Vec<(Option<RedisStore>, Breaker)> {
    let instances: Vec<(Option<RedisStore>, Breaker)> = (0..3)
        .map(|_| {
            let (s, b) = instance(url, max_wait);
            (Some(s), b)
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(100)).await;
    instances[0].1.try_acquire().unwrap().failure();
    eventually("open everywhere", Duration::from_secs(3), || {
        instances
            .iter()
            .all(|(_, b)| b.state() == CircuitState::Open)
    })
    .await;
    instances
}

/// The probes admitted in the first 20 ms window in which any instance admits one.
async fn first_probes(
    instances: &[(Option<RedisStore>, Breaker)],
    what: &str,
) -> (Vec<(usize, Permit)>, Duration) {
    let started = Instant::now();
    loop {
        assert!(started.elapsed() < Duration::from_secs(3), "{what}");
        let probes = collect_probes(instances, Duration::from_millis(20)).await;
        if !probes.is_empty() {
            return (probes, started.elapsed());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exactly_one_instance_probes_and_its_success_closes_all() {
    let redis = RedisServer::start();
    let instances = tripped_cluster(&redis.url(), Duration::from_secs(5)).await;

    let mut probes = collect_probes(&instances, Duration::from_millis(1_500)).await;
    assert_eq!(probes.len(), 1, "one probe for the whole cluster");
    let (_, probe) = probes.pop().unwrap();
    probe.success();
    eventually("closed everywhere", Duration::from_secs(3), || {
        instances
            .iter()
            .all(|(_, b)| b.state() == CircuitState::Closed)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prober_that_dies_loses_its_lease_and_another_instance_probes() {
    let redis = RedisServer::start();
    let mut instances = tripped_cluster(&redis.url(), Duration::from_millis(500)).await;
    let (first, _) = first_probes(&instances, "no instance probed").await;
    assert_eq!(first.len(), 1);
    let dead = first[0].0;
    // The prober dies mid-probe: its store stops, its probe never completes.
    instances[dead].0 = None;
    let others: Vec<(Option<RedisStore>, Breaker)> = instances
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != dead)
        .map(|(_, (s, b))| (s.clone(), b.clone()))
        .collect();
    let (second, took) = first_probes(&others, "no other instance took over the probe").await;
    assert_eq!(second.len(), 1, "one instance took over");
    assert!(
        took >= Duration::from_millis(300),
        "not before the dead prober's lease could expire: {took:?}"
    );
    drop(first);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_failed_probe_every_instance_waits_out_the_new_open_period() {
    let redis = RedisServer::start();
    let instances = tripped_cluster(&redis.url(), Duration::from_secs(5)).await;
    let (mut probes, _) = first_probes(&instances, "no instance probed").await;
    assert_eq!(probes.len(), 1);
    let (prober, probe) = probes.pop().unwrap();
    // The others wait for the lease for at most an open period (200 ms) from now; the probe
    // fails 100 ms later, which opens the shared state for 200 ms from then.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let half_opened = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let _subscriptions: Vec<_> = instances
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != prober)
        .map(|(i, (_, b))| {
            let log = half_opened.clone();
            let failed_at = Instant::now();
            b.subscribe(move |e: &fusebox::core::Event<'_>| {
                if let fusebox::core::EventKind::StateTransition {
                    to: CircuitState::HalfOpen,
                    ..
                } = e.kind
                {
                    log.lock().unwrap().push((i, failed_at.elapsed()));
                }
            })
        })
        .collect();
    probe.failure();
    tokio::time::sleep(Duration::from_millis(170)).await;
    assert_eq!(
        *half_opened.lock().unwrap(),
        [],
        "an instance went half-open before the fleet's new open period ended"
    );
    // And the next round still has exactly one prober.
    let (next, _) = first_probes(&instances, "no instance probed again").await;
    assert_eq!(next.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_instance_makes_only_the_transitions_the_cluster_makes() {
    const ROUNDS: usize = 4;
    let redis = RedisServer::start();
    let instances: Vec<(RedisStore, Breaker)> = (0..3)
        .map(|_| instance(&redis.url(), Duration::from_secs(5)))
        .collect();
    type Log = std::sync::Arc<std::sync::Mutex<Vec<(CircuitState, CircuitState)>>>;
    let logs: Vec<Log> = instances.iter().map(|_| Log::default()).collect();
    let _subscriptions: Vec<_> = instances
        .iter()
        .zip(&logs)
        .map(|((_, b), log)| {
            let log = log.clone();
            b.subscribe(move |e: &fusebox::core::Event<'_>| {
                if let fusebox::core::EventKind::StateTransition { from, to, .. } = e.kind {
                    log.lock().unwrap().push((from, to));
                }
            })
        })
        .collect();
    let mut probes_by = [0usize; 3];
    for round in 0..ROUNDS {
        instances[round % 3].1.try_acquire().unwrap().failure();
        eventually("open everywhere", Duration::from_secs(3), || {
            instances
                .iter()
                .all(|(_, b)| b.state() == CircuitState::Open)
        })
        .await;
        // Every instance tries calls until the cluster's one probe has closed it everywhere.
        let started = Instant::now();
        while !instances
            .iter()
            .all(|(_, b)| b.state() == CircuitState::Closed)
        {
            assert!(started.elapsed() < Duration::from_secs(5), "round {round}");
            for (i, (_, b)) in instances.iter().enumerate() {
                if let Ok(permit) = b.try_acquire() {
                    if permit.is_probe() {
                        probes_by[i] += 1;
                    }
                    permit.success();
                }
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    assert_eq!(
        probes_by.iter().sum::<usize>(),
        ROUNDS,
        "one probe per round"
    );
    use CircuitState::{Closed, HalfOpen, Open};
    for (i, log) in logs.iter().enumerate() {
        let log = log.lock().unwrap();
        let count = |t: (CircuitState, CircuitState)| log.iter().filter(|x| **x == t).count();
        assert_eq!(count((Closed, Open)), ROUNDS, "instance {i}: {log:?}");
        assert_eq!(
            count((Open, HalfOpen)),
            probes_by[i],
            "instance {i}: {log:?}"
        );
        assert_eq!(
            count((HalfOpen, Closed)),
            probes_by[i],
            "instance {i}: {log:?}"
        );
        assert_eq!(
            count((Open, Closed)),
            ROUNDS - probes_by[i],
            "instance {i}: {log:?}"
        );
        assert_eq!(
            log.len(),
            2 * ROUNDS + probes_by[i],
            "instance {i}: no other transition (no half-open and back): {log:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_longest_half_open_wait_still_lets_one_instance_probe() {
    let redis = RedisServer::start();
    let instances = tripped_cluster(&redis.url(), fusebox::breaker::MAX_DURATION).await;
    let (probes, _) = first_probes(&instances, "no instance probed").await;
    assert_eq!(probes.len(), 1, "the lease is valid: one prober");
    for (_, store) in instances
        .iter()
        .filter_map(|(s, b)| s.as_ref().map(|s| (b, s)))
    {
        assert!(!store.is_degraded());
    }
}
