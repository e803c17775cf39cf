//! Breakers in several instances sharing state through a real redis-server.

use fusebox::breaker::{Breaker, CircuitState};
use fusebox::core::{Event, EventKind};
use fusebox::redis::RedisStore;
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

/// An instance: a store on `url` and a breaker `name` attached to it that trips on one
/// failure and stays open 30 s.
fn instance(url: &str, namespace: &str, name: &str) -> (RedisStore, Breaker) {
    let s = store(url, namespace);
    let b = Breaker::builder(name)
        .consecutive_failures(1)
        .open_duration(Duration::from_secs(30))
        .build()
        .unwrap();
    b.share_with(&s);
    (s, b)
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
            b.share_with(&s);
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
            b.share_with(&s);
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

/// Waits until `store` has completed `rounds` more flush rounds.
async fn flush_rounds(store: &RedisStore, rounds: u64) {
    let until = store.flush_rounds() + rounds;
    eventually("flush rounds", Duration::from_secs(10), || {
        store.flush_rounds() >= until
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
    b.share_with(&store);
    flush_rounds(&store, 2).await;
    let before = redis.commands().await;
    let rounds_before = store.flush_rounds();
    for round in 0..10 {
        for _ in 0..10_000 {
            b.try_acquire().unwrap().success();
        }
        if round % 2 == 0 {
            flush_rounds(&store, 1).await;
        }
    }
    // Two more rounds: the last calls are flushed, whatever the machine's speed.
    flush_rounds(&store, 2).await;
    let after = redis.commands().await;
    let rounds = store.flush_rounds() - rounds_before + 1;
    let (commands, scripts) = (after.0 - before.0 - 1, after.1 - before.1); // minus one INFO
    println!(
        "{scripts} script calls ({commands} commands with those the scripts ran) \
         for 100,000 calls over {rounds} flush rounds"
    );
    assert!(
        scripts <= rounds,
        "{scripts} script calls for 100,000 calls; expected at most one per flush ({rounds})"
    );
    // Each flush script runs a handful of commands inside Redis; none of it scales with calls.
    assert!(commands <= rounds * 8, "{commands} commands in all");
    assert_eq!(b.metrics().successes, 100_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_breakers_are_read_back_at_the_poll_interval_only() {
    const BREAKERS: u64 = 200;
    const ROUNDS: u64 = 40;
    let redis = RedisServer::start();
    // A poll every 20 flush rounds.
    let store = RedisStore::builder(redis.url(), "idle")
        .flush_interval(Duration::from_millis(20))
        .poll_interval(Duration::from_millis(400))
        .build()
        .unwrap();
    let breakers: Vec<Breaker> = (0..BREAKERS)
        .map(|i| {
            let b = Breaker::builder(format!("tenant-{i}")).build().unwrap();
            b.share_with(&store);
            b
        })
        .collect();
    // Each is read once as soon as it is attached.
    flush_rounds(&store, 2).await;
    let before = redis.commands().await.1;
    flush_rounds(&store, ROUNDS).await;
    let polls = redis.commands().await.1 - before;
    println!("{polls} scripts for {BREAKERS} idle breakers over {ROUNDS} flush rounds");
    // Two polls of each in 40 rounds (the counting may start or end inside a poll round),
    // never one script per breaker per round.
    assert!(
        (BREAKERS..=BREAKERS * 3).contains(&polls),
        "{polls} scripts: expected {}..={} ({} if flushed every round)",
        BREAKERS,
        BREAKERS * 3,
        BREAKERS * ROUNDS
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
    breaker_a.share_with(&a);

    // No Redis yet: calls work, the breaker decides locally, the store says it is degraded.
    for _ in 0..1_000 {
        breaker_a.try_acquire().unwrap().success();
    }
    eventually("degraded", BOUND, || a.is_degraded()).await;
    assert_eq!(
        events.lock().unwrap().first(),
        Some(&EventKind::StoreDegraded)
    );
    // What Redis has not received is said after each round: the 1,000 calls wait.
    let pending = |events: &Mutex<Vec<EventKind>>| {
        events
            .lock()
            .unwrap()
            .iter()
            .rev()
            .find_map(|kind| match *kind {
                EventKind::StorePending { calls, transitions } => Some((calls, transitions)),
                _ => None,
            })
    };
    eventually("pending calls reported", BOUND, || {
        pending(&events) == Some((1_000, 0))
    })
    .await;

    let mut redis = RedisServer::start_on(port);
    eventually("recovered", Duration::from_secs(10), || !a.is_degraded()).await;
    assert!(events.lock().unwrap().contains(&EventKind::StoreRecovered));
    eventually("nothing pending once sent", BOUND, || {
        pending(&events) == Some((0, 0))
    })
    .await;

    // Sharing works: a trip in another instance reaches this one.
    let b = store(&url, "outage");
    let breaker_b = Breaker::builder("email")
        .consecutive_failures(3)
        .open_duration(Duration::from_secs(30))
        .build()
        .unwrap();
    breaker_b.share_with(&b);
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
            b.share_with(&s);
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
    breaker_a.share_with(&a);
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
    breaker_c.share_with(&c);
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
    let instance = || instance(&url, "restart-gens", "search");
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
    on_a.share_with(&a);
    on_a.clone().share_with(&a);
    on_b.share_with(&b);
    assert_eq!(a.attached(), 1);
    // Six failures: below the minimum of ten calls, unless they were counted twice.
    for _ in 0..6 {
        on_a.try_acquire().unwrap().failure();
    }
    // Once the shared window holds them, and b has flushed since, b has read the verdict.
    eventually("the window holds a's calls", BOUND, || {
        window(&redis, "twice", "payments").0 >= 6
    })
    .await;
    flush_rounds(&b, 2).await;
    assert_eq!(window(&redis, "twice", "payments"), (6, 6), "counted once");
    assert_eq!(shared_state(&redis, "twice", "payments"), None);
    assert_eq!(on_b.state(), CircuitState::Closed);
}

/// Calls and failures in a breaker's shared window.
fn window(redis: &RedisServer, namespace: &str, name: &str) -> (u64, u64) {
    let fields: std::collections::HashMap<String, u64> = query(
        redis,
        redis::cmd("HGETALL").arg(format!("fusebox:{{{namespace}:{name}}}:win")),
    );
    fields.iter().fold((0, 0), |(c, f), (k, v)| {
        if k.starts_with("c:") {
            (c + v, f)
        } else {
            (c, f + v)
        }
    })
}

/// The shared state of a breaker (`open`, `closed`…), if Redis has one.
fn shared_state(redis: &RedisServer, namespace: &str, name: &str) -> Option<String> {
    query(
        redis,
        redis::cmd("HGET")
            .arg(format!("fusebox:{{{namespace}:{name}}}:state"))
            .arg("state"),
    )
}

/// One command, from synchronous code inside the multi-thread runtime.
fn query<T: redis::FromRedisValue>(redis: &RedisServer, cmd: &mut redis::Cmd) -> T {
    let client = redis::Client::open(redis.url()).unwrap();
    futures_block(async {
        let mut con = client.get_multiplexed_async_connection().await.unwrap();
        cmd.query_async(&mut con).await.unwrap()
    })
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
            b.share_with(&s);
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
    // The script docs/distributed.md gives, word for word.
    let script = redis::Script::new(
        "local gen = redis.call('HINCRBY', KEYS[1], 'gen', 1)
  redis.call('HSET', KEYS[1], 'state', ARGV[1], 'until', 0)
  redis.call('DEL', KEYS[2], KEYS[3])
  redis.call('PUBLISH', ARGV[2], ARGV[3] .. '\\t' .. ARGV[1] .. '\\t' .. gen .. '\\t0')
  return gen",
    );
    let docs = include_str!("../../docs/distributed.md");
    assert!(
        docs.contains(
            "redis.call('PUBLISH', ARGV[2], ARGV[3] .. '\\t' .. ARGV[1] .. '\\t' .. gen .. '\\t0')"
        ),
        "the test runs the script the docs give"
    );
    let operate = |state: &'static str| {
        let mut con = con.clone();
        let script = script.clone();
        async move {
            let _: i64 = script
                .key(format!("{key}:state"))
                .key(format!("{key}:win"))
                .key(format!("{key}:probe"))
                .arg(state)
                .arg("fusebox:checkout:transitions")
                .arg("payments")
                .invoke_async(&mut con)
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trip_that_could_not_be_shared_is_shared_once_redis_answers() {
    let redis = RedisServer::start();
    let instance = || instance(&redis.url(), "unshared", "mail");
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
    // Reads still work: Redis still says closed, so b has nothing to learn.
    assert_eq!(
        shared_state(&redis, "unshared", "mail").as_deref(),
        Some("closed"),
        "nothing reached Redis"
    );
    assert_eq!(on_b.state(), CircuitState::Closed);
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
    b.share_with(&s);
    flush_rounds(&s, 2).await;
    // Redis answers nothing until thawed, however long the calls below take.
    redis.freeze();
    for _ in 0..100_000 {
        b.try_acquire().unwrap().success();
    }
    assert_eq!(
        b.metrics().successes,
        100_000,
        "every call ran with Redis frozen"
    );
    eventually("the store noticed", BOUND, || s.is_degraded()).await;
    redis.thaw();
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
            b.share_with(&s);
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
    // Every call is in the shared window, so the rule was checked with all of them.
    eventually("the window holds every call", BOUND, || {
        window(&redis, "quorum", "payments") == (15, 9)
    })
    .await;
    assert_eq!(shared_state(&redis, "quorum", "payments"), None);
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
    let build = |b: fusebox::redis::RedisStoreBuilder| b.build().unwrap_err().to_string();
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
    let baseline = clients(&redis).await;
    let store = RedisStore::builder(redis.url(), "quiet").build().unwrap();
    let b = rate_breaker();
    b.share_with(&store);
    let started = std::time::Instant::now();
    while subscribers(&redis, "quiet").await != 1 {
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "never subscribed"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    flush_rounds(&store, 1).await;
    assert!(
        clients(&redis).await >= baseline + 2,
        "a command and a subscriber connection"
    );
    drop(store);
    // Nothing is ever published on the channel: only the store's going can end the task.
    let started = std::time::Instant::now();
    while subscribers(&redis, "quiet").await != 0 || clients(&redis).await != baseline {
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "the store's connections outlived it: {} clients, {baseline} before",
            clients(&redis).await
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    drop(b);
}

/// Clients connected to the server (`INFO clients`), not counting the one asking.
async fn clients(redis: &RedisServer) -> u64 {
    let info = redis.info("clients").await;
    let connected: u64 = info
        .lines()
        .find_map(|l| l.strip_prefix("connected_clients:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("INFO clients reports connected_clients");
    connected - 1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_message_is_caught_by_the_next_flush() {
    let redis = RedisServer::start();
    let a = store(&redis.url(), "lost");
    let on_a = rate_breaker();
    on_a.share_with(&a);
    flush_rounds(&a, 2).await;
    // The fleet's state changes in Redis and its message never goes out (as when a
    // subscription drops at the wrong moment): only the flush can tell the instance.
    let time: Vec<u64> = query(&redis, &mut redis::cmd("TIME"));
    let now_ms = time[0] * 1_000 + time[1] / 1_000;
    // A newer generation than any so far (they are at least Redis's clock in ms).
    let _: () = query(
        &redis,
        redis::cmd("HSET")
            .arg("fusebox:{lost:payments}:state")
            .arg("state")
            .arg("open")
            .arg("gen")
            .arg(now_ms + 1_000_000)
            .arg("until")
            .arg(now_ms + 60_000),
    );
    // A breaker that sees calls reads the state back with each flush.
    on_a.try_acquire().unwrap().success();
    eventually("the flush brings the lost trip", BOUND, || {
        on_a.state() == CircuitState::Open
    })
    .await;
    let remaining = on_a.try_acquire().unwrap_err().retry_after().unwrap();
    assert!(remaining > Duration::from_secs(50), "{remaining:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disabling_reaches_every_instance_and_survives_a_restart_of_redis() {
    let port = free_port();
    let mut redis = RedisServer::start_on(port);
    let url = redis.url();
    let instance = || instance(&url, "disabled", "search");
    let (a, on_a) = instance();
    let (_b, on_b) = instance();
    flush_rounds(&a, 2).await;
    on_a.disable();
    eventually("b is disabled too", BOUND, || {
        on_b.state() == CircuitState::Disabled
    })
    .await;
    // Disabled lets calls through: a failure trips nothing, anywhere.
    on_b.try_acquire().unwrap().failure();
    assert_eq!(on_b.state(), CircuitState::Disabled);

    // Redis restarts with nothing; an instance started after it learns the state from the
    // instances that knew it.
    redis.stop();
    let _redis = RedisServer::start_on(port);
    let (_c, on_c) = instance();
    eventually(
        "the restarted Redis is re-seeded with disabled",
        Duration::from_secs(10),
        || on_c.state() == CircuitState::Disabled,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_breaker_given_a_store_when_built_shares_its_state() {
    let redis = RedisServer::start();
    let built = |store: RedisStore| {
        Breaker::builder("billing")
            .consecutive_failures(1)
            .open_duration(Duration::from_secs(30))
            .store(store)
            .build()
            .unwrap()
    };
    let (a, b) = (store(&redis.url(), "built"), store(&redis.url(), "built"));
    let (on_a, on_b) = (built(a.clone()), built(b.clone()));
    assert_eq!((a.attached(), b.attached()), (1, 1));
    // A keyed set made from such a builder shares through the same store.
    let tenants = Breaker::builder("billing-tenants")
        .store(b.clone())
        .keyed()
        .build()
        .unwrap();
    tenants.get("acme");
    assert_eq!(
        b.attached(),
        4,
        "billing, and the set's overflow, keyless and acme breakers"
    );
    on_a.try_acquire().unwrap().failure();
    eventually("the trip reaches b", BOUND, || {
        on_b.state() == CircuitState::Open
    })
    .await;
}
