//! Keyed sets and the registry share state through a store they attach their breakers to.

use fusebox::breaker::{Breaker, BreakerRegistry, CircuitState};
use fusebox::redis::RedisStore;
use fusebox_testkit::{eventually, RedisServer};
use std::time::Duration;

const BOUND: Duration = Duration::from_secs(3);

fn store(url: &str) -> RedisStore {
    RedisStore::builder(url, "shared-keys")
        .flush_interval(Duration::from_millis(20))
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_tenants_breaker_is_shared_and_only_that_tenants() {
    let redis = RedisServer::start();
    let set = |store: RedisStore| {
        Breaker::builder("calendar")
            .consecutive_failures(2)
            .open_duration(Duration::from_secs(30))
            .keyed()
            .key_label("tenant_id")
            .store(store)
            .build()
            .unwrap()
    };
    let a = set(store(&redis.url()));
    let b = set(store(&redis.url()));
    // Instance b already serves both tenants.
    let b_acme = b.get("acme");
    let b_globex = b.get("globex");
    tokio::time::sleep(Duration::from_millis(100)).await;
    for _ in 0..2 {
        a.get("acme").try_acquire().unwrap().failure();
    }
    eventually("acme open on the other instance", BOUND, || {
        b_acme.state() == CircuitState::Open
    })
    .await;
    assert_eq!(b_globex.state(), CircuitState::Closed);
    assert_eq!(b.get("acme").key(), Some("acme"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousands_of_tenants_tripping_at_once_all_reach_the_other_instance() {
    const TENANTS: usize = 3_000;
    let redis = RedisServer::start();
    let set = |store: RedisStore| {
        Breaker::builder("payments")
            .consecutive_failures(1)
            .open_duration(Duration::from_secs(60))
            .keyed()
            .max_keys(TENANTS)
            .store(store)
            .build()
            .unwrap()
    };
    let tenants: Vec<String> = (0..TENANTS).map(|i| format!("tenant-{i}")).collect();
    // Redis already knows every tenant, closed (as after an earlier outage and its recovery),
    // so no instance re-seeds it: a trip reaches the other instance only by being shared.
    let client = redis::Client::open(redis.url()).unwrap();
    let mut con = client.get_multiplexed_async_connection().await.unwrap();
    let mut pipe = redis::pipe();
    for t in &tenants {
        pipe.hset_multiple(
            format!("fusebox:{{shared-keys:payments:{t}}}:state"),
            &[("state", "closed"), ("gen", "1"), ("until", "0")],
        )
        .ignore();
    }
    pipe.query_async::<()>(&mut con).await.unwrap();
    let a = set(store(&redis.url()));
    let b = set(store(&redis.url()));
    let on_b: Vec<Breaker> = tenants.iter().map(|t| b.get(t)).collect();
    tokio::time::sleep(Duration::from_millis(100)).await;
    // An outage trips every tenant on instance a within a few milliseconds: far more
    // transitions than the store shares in that time.
    for t in &tenants {
        a.get(t).try_acquire().unwrap().failure();
    }
    let took = eventually(
        "every tenant open on the other instance",
        Duration::from_secs(30),
        || on_b.iter().all(|b| b.state() == CircuitState::Open),
    )
    .await;
    println!("the last of {TENANTS} tenant trips reached the other instance {took:?} after it");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn evicted_breakers_are_forgotten_by_the_store() {
    let redis = RedisServer::start();
    let shared = store(&redis.url());
    let set = Breaker::builder("api")
        .keyed()
        .idle_timeout(Duration::from_millis(200))
        .store(shared.clone())
        .build()
        .unwrap();
    for i in 0..20 {
        set.get(&format!("tenant-{i}"));
    }
    // The store holds them weakly: nothing keeps them alive but the set.
    assert_eq!(
        shared.attached(),
        22,
        "twenty tenants, the overflow and the unkeyed breakers"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    // A breaker being flushed at that instant is held for a moment and left for the next sweep.
    let mut evicted = 0;
    eventually("all idle tenants evicted", BOUND, || {
        evicted += set.evict_idle();
        evicted == 20
    })
    .await;
    eventually("forgotten", BOUND, || shared.attached() == 2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registries_share_their_named_breakers() {
    let redis = RedisServer::start();
    let registry = |store: RedisStore| {
        let r = BreakerRegistry::new(|name| {
            Breaker::builder(name)
                .consecutive_failures(1)
                .open_duration(Duration::from_secs(30))
        });
        r.set_store(store);
        r
    };
    let one = registry(store(&redis.url()));
    let two = registry(store(&redis.url()));
    let calendar_two = two.get("calendar").unwrap();
    let email_two = two.get("email").unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    one.force_open("calendar").unwrap();
    eventually("forced open on the other instance", BOUND, || {
        calendar_two.state() == CircuitState::ForcedOpen
    })
    .await;
    assert_eq!(email_two.state(), CircuitState::Closed);
    assert_eq!(two.summary().open, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn breakers_whose_names_look_alike_share_nothing() {
    let redis = RedisServer::start();
    let (on_a, on_b) = (store(&redis.url()), store(&redis.url()));
    let plain = |store: &RedisStore| {
        let b = Breaker::builder("a:b")
            .consecutive_failures(1)
            .open_duration(Duration::from_secs(30))
            .build()
            .unwrap();
        b.share_with(store);
        b
    };
    let set = |store: &RedisStore| {
        Breaker::builder("a")
            .consecutive_failures(1)
            .open_duration(Duration::from_secs(30))
            .keyed()
            .store(store.clone())
            .build()
            .unwrap()
    };
    let (a_plain, b_plain) = (plain(&on_a), plain(&on_b));
    let (a_set, b_set) = (set(&on_a), set(&on_b));
    // On b: the key `b` of set `a`, and a tenant literally named like the overflow breaker.
    let b_key = b_set.get("b");
    let b_named_overflow = b_set.get(fusebox::breaker::OVERFLOW_KEY);
    a_plain.try_acquire().unwrap().failure();
    a_set.overflow().try_acquire().unwrap().failure();
    // Once both trips have reached b (the same messages a collision would have delivered to
    // the look-alikes), the look-alikes are still closed.
    eventually("both trips reach b", BOUND, || {
        b_plain.state() == CircuitState::Open && b_set.overflow().state() == CircuitState::Open
    })
    .await;
    assert_eq!(b_key.state(), CircuitState::Closed);
    assert_eq!(b_named_overflow.state(), CircuitState::Closed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_with_a_long_key_shares_its_breaker_across_instances() {
    let redis = RedisServer::start();
    let set = |store: RedisStore| {
        Breaker::builder("calendar")
            .consecutive_failures(1)
            .open_duration(Duration::from_secs(30))
            .keyed()
            .store(store)
            .build()
            .unwrap()
    };
    let (a, b) = (set(store(&redis.url())), set(store(&redis.url())));
    let tenant = format!("tenant-{}", "x".repeat(150));
    assert_eq!(tenant.len(), 157);
    let on_b = b.get(&tenant);
    assert_eq!(a.get(&tenant).key(), on_b.key(), "the same shortened name");
    a.get(&tenant).try_acquire().unwrap().failure();
    eventually("the long tenant's trip reaches b", BOUND, || {
        on_b.state() == CircuitState::Open
    })
    .await;
}
