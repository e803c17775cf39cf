//! The Redis check against a real `redis-server` the test starts, kills and starts again.

use fusebox_health::{run_check, RedisCheck, Status};
use fusebox_testkit::RedisServer;
use std::time::Duration;

#[tokio::test]
async fn fails_within_its_timeout_while_redis_is_down_and_recovers_after_a_restart() {
    let mut redis = RedisServer::start();
    let url = redis.url();
    let check = RedisCheck::new("redis", &url).unwrap();
    let timeout = Duration::from_secs(2);

    let result = run_check(&check, timeout).await;
    assert_eq!(result.status(), Status::Pass, "{result:?}");
    assert_eq!(result.probe().observed_unit(), Some("ms"));

    redis.stop();
    let result = run_check(&check, timeout).await;
    assert_eq!(result.status(), Status::Fail);
    assert!(
        result.latency() <= timeout + Duration::from_millis(500),
        "{result:?}"
    );
    let detail = result.probe().detail().unwrap();
    assert!(
        detail.starts_with("cannot connect to Redis") || detail.starts_with("timed out"),
        "{detail}"
    );

    let port: u16 = url
        .trim_end_matches('/')
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("the URL's port");
    let _restarted = RedisServer::start_on(port);
    let result = run_check(&check, timeout).await;
    assert_eq!(result.status(), Status::Pass, "{result:?}");
}

#[test]
fn a_url_redis_cannot_read_is_refused() {
    for bad in ["http://localhost/", "not a url"] {
        assert_eq!(
            RedisCheck::new("redis", bad).unwrap_err().field(),
            "url",
            "{bad}"
        );
    }
}

#[tokio::test]
async fn a_server_that_refuses_ping_fails_the_check() {
    // A password the check does not give: the server answers PING with NOAUTH.
    let redis = RedisServer::start_with(fusebox_testkit::free_port(), &["--requirepass", "s3cret"]);
    let check = RedisCheck::new("redis", &redis.url()).unwrap();
    let result = run_check(&check, Duration::from_secs(2)).await;
    assert_eq!(result.status(), Status::Fail, "{result:?}");
    let detail = result.probe().detail().unwrap();
    assert!(
        detail.contains("NOAUTH") || detail.contains("Authentication"),
        "{detail}"
    );
}
