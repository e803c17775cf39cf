//! Which server the other tests in this crate run against. The server that answers must be the
//! binary the harness starts (its `--version`), always; `scripts/test` runs the tests once per
//! server (Redis 7, Redis 6, Valkey) and sets `FUSEBOX_REDIS_VERSION` to the version it meant to
//! start, so a run that silently fell back to another server fails here.

use fusebox_testkit::{server_version, RedisServer};

#[tokio::test]
async fn the_started_server_is_the_one_asked_for() {
    let server = RedisServer::start();
    let info = server.info("server").await;
    let version = |field: &str| {
        info.lines()
            .find_map(|line| line.strip_prefix(field))
            .map(|v| v.trim().to_owned())
    };
    let redis = version("redis_version:").expect("INFO server reports redis_version");
    // Valkey reports the Redis version it is compatible with, and its own beside it.
    let actual = version("valkey_version:").unwrap_or(redis);
    eprintln!("running against server version {actual}");
    let binary = server_version().unwrap();
    assert_eq!(
        actual, binary,
        "another server answered than the one started"
    );
    if let Ok(expected) = std::env::var("FUSEBOX_REDIS_VERSION") {
        assert_eq!(
            actual, expected,
            "FUSEBOX_REDIS_VERSION names another server"
        );
    }
}
