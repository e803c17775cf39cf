//! A probe result counts only while its lease is held: the fencing in the transition script.

use fusebox_testkit::RedisServer;

const TRANSITION: &str = include_str!("../src/store/transition.lua");

async fn close_with(con: &mut redis::aio::MultiplexedConnection, lease: &str) -> String {
    let (state, _, _): (String, i64, u64) = redis::Script::new(TRANSITION)
        .key("fusebox:{t:b}:state")
        .key("fusebox:{t:b}:win")
        .key("fusebox:{t:b}:probe")
        .arg("close")
        .arg(1_000)
        .arg(60_000)
        .arg("fusebox:t:transitions")
        .arg("b")
        .arg(lease)
        .invoke_async(con)
        .await
        .unwrap();
    state
}

#[tokio::test]
async fn a_stale_probe_result_cannot_close_the_breaker() {
    let redis = RedisServer::start();
    let client = redis::Client::open(redis.url()).unwrap();
    let mut con = client.get_multiplexed_async_connection().await.unwrap();
    let _: () = redis::cmd("HSET")
        .arg("fusebox:{t:b}:state")
        .arg(&["state", "open", "gen", "3", "until", "0"])
        .query_async(&mut con)
        .await
        .unwrap();
    // Instance b holds the lease now; instance a's lease expired earlier.
    let _: () = redis::cmd("SET")
        .arg("fusebox:{t:b}:probe")
        .arg("b:8")
        .query_async(&mut con)
        .await
        .unwrap();
    assert_eq!(
        close_with(&mut con, "a:7").await,
        "open",
        "a's late success is ignored"
    );
    assert_eq!(close_with(&mut con, "").await, "open", "no lease, no close");
    assert_eq!(
        close_with(&mut con, "b:8").await,
        "closed",
        "the holder's success counts"
    );
    let lease: Option<String> = redis::cmd("GET")
        .arg("fusebox:{t:b}:probe")
        .query_async(&mut con)
        .await
        .unwrap();
    assert_eq!(lease, None, "the lease is freed with the result");
}
