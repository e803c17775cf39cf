//! Breakers in several instances sharing state through a real redis-server.

use fusebox_breaker::{Breaker, CircuitState};
use fusebox_core::{Event, EventKind};
use fusebox_redis::RedisStore;
use fusebox_testkit::{eventually, free_port, RedisServer};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const BOUND: Duration = Duration::from_secs(3);

fn store(url: &str, namespace: &str) -> RedisStore {
    RedisStore::builder(url, namespace)
        .flush_interval(Duration::from_millis(20))
        .build()
        .unwrap()
}

fn rate_breaker() -> Breaker {
    Breaker::builder("payments")
        .failure_rate(0.5)
        .count_window(100)
        .min_calls(10)
        .open_duration(Duration::from_secs(30))
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_spread_across_instances_trip_all_of_them() {
    let redis = RedisServer::start();
    let instances: Vec<(RedisStore, Breaker)> = (0..3)
        .map(|_| {
            let s = store(&redis.url(), "spread");
            let b = rate_breaker();
            s.attach(&b);
            (s, b)
        })
        .collect();
    // Four failures each: under every instance's own minimum of ten calls.
    for (_, b) in &instances {
        for _ in 0..4 {
            b.try_acquire().unwrap().failure();
        }
        assert_eq!(b.state(), CircuitState::Closed);
    }
    let took = eventually("every instance open", BOUND, || {
        instances
            .iter()
            .all(|(_, b)| b.state() == CircuitState::Open)
    })
    .await;
    println!("shared trip reached all three instances in {took:?}");
    let remaining = instances[2]
        .1
        .try_acquire()
        .unwrap_err()
        .retry_after()
        .unwrap();
    assert!(
        remaining > Duration::from_secs(25),
        "open-until comes from Redis: {remaining:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trip_or_a_reset_in_one_instance_reaches_every_instance() {
    let redis = RedisServer::start();
    let breakers: Vec<(RedisStore, Breaker)> = (0..3)
        .map(|_| {
            let s = store(&redis.url(), "spread-local");
            let b = Breaker::builder("telephony")
                .consecutive_failures(3)
                .open_duration(Duration::from_secs(30))
                .build()
                .unwrap();
            s.attach(&b);
            (s, b)
        })
        .collect();
    for _ in 0..3 {
        breakers[0].1.try_acquire().unwrap().failure();
    }
    assert_eq!(breakers[0].1.state(), CircuitState::Open);
    let took = eventually("open everywhere", BOUND, || {
        breakers
            .iter()
            .all(|(_, b)| b.state() == CircuitState::Open)
    })
    .await;
    println!("a local trip reached every instance in {took:?}");

    breakers[1].1.reset();
    eventually("closed everywhere", BOUND, || {
        breakers
            .iter()
            .all(|(_, b)| b.state() == CircuitState::Closed)
    })
    .await;
    breakers[2].1.force_open();
    eventually("forced open everywhere", BOUND, || {
        breakers
            .iter()
            .all(|(_, b)| b.state() == CircuitState::ForcedOpen)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_send_no_redis_commands() {
    let redis = RedisServer::start();
    let store = RedisStore::builder(redis.url(), "quiet")
        .flush_interval(Duration::from_millis(50))
        .build()
        .unwrap();
    let b = rate_breaker();
    store.attach(&b);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let before = redis.commands().await;
    let started = std::time::Instant::now();
    for round in 0..10 {
        for _ in 0..10_000 {
            b.try_acquire().unwrap().success();
        }
        if round % 2 == 0 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let elapsed = started.elapsed();
    let after = redis.commands().await;
    let (commands, scripts) = (after.0 - before.0 - 1, after.1 - before.1); // minus one INFO
    let flushes = (elapsed.as_millis() / 50) as u64 + 2;
    println!(
        "{scripts} script calls ({commands} commands with those the scripts ran) \
         for 100,000 calls over {elapsed:?}"
    );
    assert!(
        scripts <= flushes,
        "{scripts} script calls for 100,000 calls; expected at most one per flush ({flushes})"
    );
    // Each flush script runs a handful of commands inside Redis; none of it scales with calls.
    assert!(commands <= flushes * 8, "{commands} commands in all");
    assert_eq!(b.metrics().successes, 100_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_breakers_are_read_back_at_the_poll_interval_only() {
    const BREAKERS: u64 = 200;
    let redis = RedisServer::start();
    let store = RedisStore::builder(redis.url(), "idle")
        .flush_interval(Duration::from_millis(20))
        .poll_interval(Duration::from_millis(400))
        .build()
        .unwrap();
    let breakers: Vec<Breaker> = (0..BREAKERS)
        .map(|i| {
            let b = Breaker::builder(format!("tenant-{i}")).build().unwrap();
            store.attach(&b);
            b
        })
        .collect();
    // Each is read once as soon as it is attached.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let before = redis.commands().await.1;
    let started = std::time::Instant::now();
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    let elapsed = started.elapsed();
    let polls = redis.commands().await.1 - before;
    let flushes = elapsed.as_millis() as u64 / 20;
    let poll_rounds = elapsed.as_millis() as u64 / 400 + 1;
    println!("{polls} scripts for {BREAKERS} idle breakers over {elapsed:?}");
    assert!(
        polls <= BREAKERS * poll_rounds,
        "{polls} scripts: idle breakers were flushed every interval ({} would be)",
        BREAKERS * flushes
    );
    assert!(
        polls >= BREAKERS,
        "{polls} scripts: idle breakers were never polled"
    );
    drop(breakers);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_down_fails_no_call_and_sharing_resumes_when_it_returns() {
    let port = free_port();
    let url = format!("redis://127.0.0.1:{port}/");
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = events.clone();
    let a = store(&url, "outage");
    a.subscribe(move |e: &Event<'_>| sink.lock().unwrap().push(e.kind))
        .detach();
    let breaker_a = Breaker::builder("email")
        .consecutive_failures(3)
        .open_duration(Duration::from_secs(30))
        .build()
        .unwrap();
    a.attach(&breaker_a);

    // No Redis yet: calls work, the breaker decides locally, the store says it is degraded.
    for _ in 0..1_000 {
        breaker_a.try_acquire().unwrap().success();
    }
    eventually("degraded", BOUND, || a.is_degraded()).await;
    assert_eq!(
        events.lock().unwrap().first(),
        Some(&EventKind::StoreDegraded)
    );

    let mut redis = RedisServer::start_on(port);
    eventually("recovered", Duration::from_secs(10), || !a.is_degraded()).await;
    assert!(events.lock().unwrap().contains(&EventKind::StoreRecovered));

    // Sharing works: a trip in another instance reaches this one.
    let b = store(&url, "outage");
    let breaker_b = Breaker::builder("email")
        .consecutive_failures(3)
        .open_duration(Duration::from_secs(30))
        .build()
        .unwrap();
    b.attach(&breaker_b);
    tokio::time::sleep(Duration::from_millis(100)).await;
    for _ in 0..3 {
        breaker_b.try_acquire().unwrap().failure();
    }
    eventually("the trip reached the recovered instance", BOUND, || {
        breaker_a.state() == CircuitState::Open
    })
    .await;

    // Redis goes away under load: still no call fails because of the store.
    breaker_a.reset();
    breaker_b.reset();
    redis.stop();
    for _ in 0..10_000 {
        breaker_a.try_acquire().unwrap().success();
    }
    eventually("degraded again", BOUND, || a.is_degraded()).await;
    assert_eq!(breaker_a.metrics().successes, 11_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_instances_flushing_at_once_lose_no_counts() {
    let redis = RedisServer::start();
    const INSTANCES: usize = 8;
    let instances: Vec<(RedisStore, Breaker)> = (0..INSTANCES)
        .map(|_| {
            let s = RedisStore::builder(redis.url(), "counts")
                .flush_interval(Duration::from_millis(5))
                .window(Duration::from_secs(60))
                .build()
                .unwrap();
            // A rule that cannot trip: the window only counts.
            let b = Breaker::builder("ledger")
                .failure_rate(1.0)
                .time_window(Duration::from_secs(60), 10)
                .min_calls(1_000_000)
                .build()
                .unwrap();
            s.attach(&b);
            (s, b)
        })
        .collect();
    let tasks: Vec<_> = instances
        .iter()
        .map(|(_, b)| {
            let b = b.clone();
            tokio::spawn(async move {
                for i in 0..2_000u32 {
                    let p = b.try_acquire().unwrap();
                    if i % 4 == 0 {
                        p.failure();
                    } else {
                        p.success();
                    }
                    if i % 100 == 0 {
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let client = redis::Client::open(redis.url()).unwrap();
    let mut con = client.get_multiplexed_async_connection().await.unwrap();
    let mut totals = (0u64, 0u64);
    let expected = (INSTANCES as u64 * 2_000, INSTANCES as u64 * 500);
    eventually("every count flushed", BOUND, || {
        let window: std::collections::HashMap<String, u64> = futures_block(async {
            redis::cmd("HGETALL")
                .arg("fusebox:{counts:ledger}:win")
                .query_async(&mut con)
                .await
                .unwrap()
        });
        totals = window.iter().fold((0, 0), |(c, f), (k, v)| {
            if k.starts_with("c:") {
                (c + v, f)
            } else {
                (c, f + v)
            }
        });
        totals == expected
    })
    .await;
    assert_eq!(totals, expected);
}

/// Runs a future to completion from synchronous code inside the multi-thread runtime.
fn futures_block<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::task::block_in_place(|| tokio::runtime::Handle::current().block_on(f))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_reseed_a_redis_restarted_empty() {
    let port = free_port();
    let mut redis = RedisServer::start_on(port);
    let url = redis.url();
    let a = store(&url, "reseed");
    let breaker_a = Breaker::builder("search")
        .consecutive_failures(1)
        .open_duration(Duration::from_secs(30))
        .build()
        .unwrap();
    a.attach(&breaker_a);
    tokio::time::sleep(Duration::from_millis(100)).await;
    breaker_a.try_acquire().unwrap().failure();
    assert_eq!(breaker_a.state(), CircuitState::Open);
    tokio::time::sleep(Duration::from_millis(100)).await;

    redis.stop();
    let _redis = RedisServer::start_on(port);
    // A new instance, started after the restart, learns the open state from the old one.
    let c = store(&url, "reseed");
    let breaker_c = Breaker::builder("search")
        .consecutive_failures(1)
        .open_duration(Duration::from_secs(30))
        .build()
        .unwrap();
    c.attach(&breaker_c);
    eventually(
        "the restarted Redis is re-seeded",
        Duration::from_secs(10),
        || breaker_c.state() == CircuitState::Open,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_that_knew_older_generations_follow_a_redis_restarted_empty() {
    let port = free_port();
    let mut redis = RedisServer::start_on(port);
    let url = redis.url();
    let instance = || {
        let s = store(&url, "restart-gens");
        let b = Breaker::builder("search")
            .consecutive_failures(1)
            .open_duration(Duration::from_secs(30))
            .build()
            .unwrap();
        s.attach(&b);
        (s, b)
    };
    let (_a, on_a) = instance();
    let (_b, on_b) = instance();
    tokio::time::sleep(Duration::from_millis(100)).await;
    // Several shared transitions: both instances have seen a high generation.
    for _ in 0..3 {
        on_a.try_acquire().unwrap().failure();
        eventually("b learns the trip", BOUND, || {
            on_b.state() == CircuitState::Open
        })
        .await;
        on_a.reset();
        eventually("b learns the reset", BOUND, || {
            on_b.state() == CircuitState::Closed
        })
        .await;
    }
    redis.stop();
    let _redis = RedisServer::start_on(port);
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Redis starts counting generations again from nothing.
    on_a.try_acquire().unwrap().failure();
    eventually(
        "b follows a trip shared after the restart",
        Duration::from_secs(5),
        || on_b.state() == CircuitState::Open,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_breaker_attached_twice_counts_once() {
    let redis = RedisServer::start();
    let a = store(&redis.url(), "twice");
    let b = store(&redis.url(), "twice");
    let (on_a, on_b) = (rate_breaker(), rate_breaker());
    a.attach(&on_a);
    a.attach(&on_a.clone());
    b.attach(&on_b);
    assert_eq!(a.attached(), 1);
    tokio::time::sleep(Duration::from_millis(100)).await;
    // Six failures: below the minimum of ten calls, unless they were counted twice.
    for _ in 0..6 {
        on_a.try_acquire().unwrap().failure();
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        on_b.state(),
        CircuitState::Closed,
        "the window saw 12 calls"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_resets_or_forces_open_from_redis_directly() {
    // The commands docs/distributed.md gives for operating without an instance.
    let redis = RedisServer::start();
    let instances: Vec<(RedisStore, Breaker)> = (0..2)
        .map(|_| {
            let s = store(&redis.url(), "checkout");
            let b = Breaker::builder("payments")
                .consecutive_failures(1)
                .open_duration(Duration::from_secs(60))
                .build()
                .unwrap();
            s.attach(&b);
            (s, b)
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(100)).await;
    instances[0].1.try_acquire().unwrap().failure();
    eventually("open everywhere", BOUND, || {
        instances
            .iter()
            .all(|(_, b)| b.state() == CircuitState::Open)
    })
    .await;

    let client = redis::Client::open(redis.url()).unwrap();
    let mut con = client.get_multiplexed_async_connection().await.unwrap();
    let key = "fusebox:{checkout:payments}";
    let operate = |state: &'static str| {
        let mut con = con.clone();
        async move {
            let gen: i64 = redis::cmd("HINCRBY")
                .arg(format!("{key}:state"))
                .arg("gen")
                .arg(1)
                .query_async(&mut con)
                .await
                .unwrap();
            let _: () = redis::pipe()
                .cmd("HSET")
                .arg(format!("{key}:state"))
                .arg("state")
                .arg(state)
                .arg("until")
                .arg(0)
                .ignore()
                .cmd("DEL")
                .arg(format!("{key}:win"))
                .arg(format!("{key}:probe"))
                .ignore()
                .cmd("PUBLISH")
                .arg("fusebox:checkout:transitions")
                .arg(format!("payments\t{state}\t{gen}\t0"))
                .ignore()
                .query_async(&mut con)
                .await
                .unwrap();
        }
    };
    operate("closed").await;
    eventually("closed everywhere", BOUND, || {
        instances
            .iter()
            .all(|(_, b)| b.state() == CircuitState::Closed)
    })
    .await;
    operate("forced_open").await;
    eventually("forced open everywhere", BOUND, || {
        instances
            .iter()
            .all(|(_, b)| b.state() == CircuitState::ForcedOpen)
    })
    .await;
    let _: () = redis::cmd("PING").query_async(&mut con).await.unwrap();
}

/// Freezes the server for `seconds` with `DEBUG SLEEP`; the returned task ends when it thaws.
async fn stall(redis: &RedisServer, seconds: u64) -> tokio::task::JoinHandle<()> {
    let client = redis::Client::open(redis.url()).unwrap();
    let patient =
        redis::AsyncConnectionConfig::new().set_response_timeout(Some(Duration::from_secs(10)));
    let mut con = client
        .get_multiplexed_async_connection_with_config(&patient)
        .await
        .unwrap();
    let stall = tokio::spawn(async move {
        let _: () = redis::cmd("DEBUG")
            .arg("SLEEP")
            .arg(seconds)
            .query_async(&mut con)
            .await
            .unwrap();
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    stall
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trip_that_could_not_be_shared_is_shared_once_redis_answers() {
    let redis = RedisServer::start();
    let instance = || {
        let s = store(&redis.url(), "unshared");
        let b = Breaker::builder("mail")
            .consecutive_failures(1)
            .open_duration(Duration::from_secs(30))
            .build()
            .unwrap();
        s.attach(&b);
        (s, b)
    };
    let (a, on_a) = instance();
    let (_b, on_b) = instance();
    tokio::time::sleep(Duration::from_millis(100)).await;
    // Redis knows the breaker (closed, after a trip and a reset), so nothing re-seeds it later.
    on_a.try_acquire().unwrap().failure();
    eventually("b learns the trip", BOUND, || {
        on_b.state() == CircuitState::Open
    })
    .await;
    on_a.reset();
    eventually("b learns the reset", BOUND, || {
        on_b.state() == CircuitState::Closed
    })
    .await;
    // Redis refuses every write for a while (out of memory): the trip cannot be shared.
    let client = redis::Client::open(redis.url()).unwrap();
    let mut con = client.get_multiplexed_async_connection().await.unwrap();
    let config = |name: &'static str, value: &'static str| {
        let mut con = con.clone();
        async move {
            let _: () = redis::cmd("CONFIG")
                .arg("SET")
                .arg(name)
                .arg(value)
                .query_async(&mut con)
                .await
                .unwrap();
        }
    };
    config("maxmemory-policy", "noeviction").await;
    config("maxmemory", "1").await;
    on_a.try_acquire().unwrap().failure();
    eventually("a's store cannot share it", BOUND, || a.is_degraded()).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(on_b.state(), CircuitState::Closed, "nothing reached Redis");
    config("maxmemory", "0").await;
    let _: () = redis::cmd("PING").query_async(&mut con).await.unwrap();
    eventually(
        "b learns the trip once Redis answers again",
        Duration::from_secs(5),
        || on_b.state() == CircuitState::Open,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_redis_does_not_hold_up_calls() {
    let redis = RedisServer::start();
    let s = store(&redis.url(), "stalled");
    let b = rate_breaker();
    s.attach(&b);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let stall = stall(&redis, 2).await;
    // Redis is frozen for two seconds; calls go on regardless.
    for _ in 0..100_000 {
        b.try_acquire().unwrap().success();
    }
    assert!(
        !stall.is_finished(),
        "the calls finished while Redis was still stalled"
    );
    eventually("the store noticed", BOUND, || s.is_degraded()).await;
    stall.await.unwrap();
    eventually("and recovered", BOUND, || !s.is_degraded()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quorum_keeps_one_bad_instance_from_tripping_the_fleet() {
    let redis = RedisServer::start();
    let instances: Vec<(RedisStore, Breaker)> = (0..3)
        .map(|_| {
            let s = RedisStore::builder(redis.url(), "quorum")
                .flush_interval(Duration::from_millis(20))
                .quorum(2)
                .build()
                .unwrap();
            let b = rate_breaker();
            s.attach(&b);
            (s, b)
        })
        .collect();
    // Only one instance sees failures: 9 (under its own minimum of 10); with the others'
    // successes the shared window holds 15 calls, 60% failed, which meets the rate rule.
    for _ in 0..9 {
        instances[0].1.try_acquire().unwrap().failure();
    }
    for (_, b) in &instances[1..] {
        for _ in 0..3 {
            b.try_acquire().unwrap().success();
        }
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        instances
            .iter()
            .all(|(_, b)| b.state() == CircuitState::Closed),
        "one reporting instance is not a quorum of two"
    );
    // A second instance sees failures too: now the fleet trips.
    instances[1].1.try_acquire().unwrap().failure();
    eventually("the fleet trips with a quorum", BOUND, || {
        instances
            .iter()
            .all(|(_, b)| b.state() == CircuitState::Open)
    })
    .await;
    let err = RedisStore::builder(redis.url(), "q")
        .quorum(0)
        .build()
        .unwrap_err();
    assert_eq!(err.to_string(), "quorum must be at least 1, got 0");
}

#[test]
fn invalid_settings_are_named() {
    let err = RedisStore::builder("redis://127.0.0.1:1/", "x")
        .build()
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "runtime must be a Tokio runtime (call build inside one), got \"none\""
    );
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let _guard = runtime.enter();
    let err = RedisStore::builder("redis://127.0.0.1:1/", "a{b}")
        .build()
        .unwrap_err();
    assert_eq!(err.field(), "namespace");
    let err = RedisStore::builder("not a url", "x").build().unwrap_err();
    assert_eq!(err.field(), "url");
    let err = RedisStore::builder("redis://127.0.0.1:1/", "x")
        .flush_interval(Duration::ZERO)
        .build()
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "flush_interval must be in (0, 1h], got 0ns"
    );
    let build = |b: fusebox_redis::RedisStoreBuilder| b.build().unwrap_err().to_string();
    let store = || RedisStore::builder("redis://127.0.0.1:1/", "x");
    for (builder, message) in [
        (
            store().key_ttl(Duration::from_millis(1)),
            "key_ttl must be at least the window (and 1s), at most 366 days, got 1ms",
        ),
        (
            store().key_ttl(Duration::from_secs(5)),
            "key_ttl must be at least the window (and 1s), at most 366 days, got 5s",
        ),
        (
            store().key_ttl(Duration::MAX),
            "key_ttl must be at least the window (and 1s), at most 366 days, got 18446744073709551615.999999999s",
        ),
        (
            store().window(Duration::MAX),
            "window must be in [10ms, 1d], got 18446744073709551615.999999999s",
        ),
        (
            store().poll_interval(Duration::MAX),
            "poll_interval must be in (0, 1d], got 18446744073709551615.999999999s",
        ),
        (
            store().command_timeout(Duration::from_secs(61)),
            "command_timeout must be in (0, 1min], got 61s",
        ),
        (store().quorum(0), "quorum must be at least 1, got 0"),
    ] {
        assert_eq!(build(builder), message);
    }
}

/// Subscribers of the namespace's transition channel, as Redis counts them.
async fn subscribers(redis: &RedisServer, namespace: &str) -> u64 {
    let client = redis::Client::open(redis.url()).unwrap();
    let mut con = client.get_multiplexed_async_connection().await.unwrap();
    let (_, count): (String, u64) = redis::cmd("PUBSUB")
        .arg("NUMSUB")
        .arg(format!("fusebox:{namespace}:transitions"))
        .query_async(&mut con)
        .await
        .unwrap();
    count
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_store_closes_its_subscription_on_a_quiet_channel() {
    let redis = RedisServer::start();
    let store = RedisStore::builder(redis.url(), "quiet").build().unwrap();
    let started = std::time::Instant::now();
    while subscribers(&redis, "quiet").await != 1 {
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "never subscribed"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    drop(store);
    // Nothing is ever published on the channel: only the store's going can end the task.
    let started = std::time::Instant::now();
    while subscribers(&redis, "quiet").await != 0 {
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "the subscription outlived its store"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
