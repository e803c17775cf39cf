//! [`RedisCheck`]: a Redis server answering `PING`.

use crate::check::{millis, CheckFuture, HealthCheck, Probe};
use fusebox_core::ConfigError;
use tokio::time::Instant;

/// Passes when the Redis server at its URL answers `PING` (the `redis` crate, a
/// fresh connection per probe, so a server that went away is noticed at the next probe), with
/// the time to connect and answer as its observed value in milliseconds; fails with the
/// connection's or the command's error. The probe's timeout is [`run_check`](crate::run_check)'s.
///
/// ```
/// use fusebox_health::{HealthCheck, RedisCheck};
///
/// let cache = RedisCheck::new("redis", "redis://127.0.0.1:6379/")?;
/// assert_eq!(cache.name(), "redis");
/// assert_eq!(RedisCheck::new("redis", "http://x").unwrap_err().field(), "url");
/// # Ok::<(), fusebox_core::ConfigError>(())
/// ```
#[derive(Clone, Debug)]
pub struct RedisCheck {
    name: String,
    client: redis::Client,
}

impl RedisCheck {
    /// A check named `name` of the server at `url` (`redis://host:port/db`), or an error
    /// naming the `url` when the `redis` crate cannot read it.
    pub fn new(name: impl Into<String>, url: &str) -> Result<Self, ConfigError> {
        let client = redis::Client::open(url)
            .map_err(|_invalid| ConfigError::new("url", "a redis:// URL", url))?;
        Ok(RedisCheck {
            name: name.into(),
            client,
        })
    }

    async fn ping(&self) -> Probe {
        let start = Instant::now();
        let mut connection = match self.client.get_multiplexed_async_connection().await {
            Ok(connection) => connection,
            Err(e) => return Probe::fail(format!("cannot connect to Redis: {e}")),
        };
        // A server answers a bare PING with PONG or an error (`NOAUTH`, `LOADING`, …).
        let answer: redis::RedisResult<String> =
            redis::cmd("PING").query_async(&mut connection).await;
        let ms = millis(start.elapsed());
        match answer {
            Ok(_pong) => Probe::pass().observed(ms, "ms"),
            Err(e) => Probe::fail(format!("PING failed: {e}")).observed(ms, "ms"),
        }
    }
}

impl HealthCheck for RedisCheck {
    fn name(&self) -> &str {
        &self.name
    }

    fn check(&self) -> CheckFuture<'_> {
        Box::pin(self.ping())
    }
}
