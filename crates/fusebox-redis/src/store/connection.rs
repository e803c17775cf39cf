//! Reaching Redis: one server or a cluster, a connection made on demand with a backoff after
//! failures, and the store's health (degraded, recovered) with rate-limited warnings.

use super::Inner;
use fusebox_core::sync::lock;
use fusebox_core::{Event, EventKind};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use std::time::Duration;
use tokio::time::Instant;

/// How the store reaches Redis: one server, or a cluster.
pub(super) enum Backend {
    Single(Box<redis::Client>),
    #[cfg(feature = "cluster")]
    Cluster(Box<redis::cluster::ClusterClient>),
}

/// A live connection to the backend.
#[derive(Clone)]
pub(super) enum Connection {
    Single(ConnectionManager),
    #[cfg(feature = "cluster")]
    Cluster(redis::cluster_async::ClusterConnection),
}

impl Connection {
    pub(super) async fn invoke<T: redis::FromRedisValue>(
        &mut self,
        invocation: &redis::ScriptInvocation<'_>,
    ) -> redis::RedisResult<T> {
        match self {
            Connection::Single(c) => invocation.invoke_async(c).await,
            #[cfg(feature = "cluster")]
            Connection::Cluster(c) => invocation.invoke_async(c).await,
        }
    }
}

impl Inner {
    pub(super) async fn connection(&self) -> Option<Connection> {
        let mut slot = self.connection.lock().await;
        if slot.is_none() {
            if !lock(&self.health).reconnect.may_try() {
                return None;
            }
            let timeout = self.settings.command_timeout;
            let connect = async {
                match &self.backend {
                    Backend::Single(client) => {
                        let config = ConnectionManagerConfig::new()
                            .set_connection_timeout(Some(timeout))
                            .set_response_timeout(Some(timeout))
                            .set_number_of_retries(1);
                        ConnectionManager::new_with_config((**client).clone(), config)
                            .await
                            .map(Connection::Single)
                    }
                    #[cfg(feature = "cluster")]
                    Backend::Cluster(client) => {
                        client.get_async_connection().await.map(Connection::Cluster)
                    }
                }
            };
            match tokio::time::timeout(timeout * 2, connect).await {
                Ok(Ok(manager)) => {
                    lock(&self.health).reconnect.succeeded();
                    *slot = Some(manager);
                }
                Ok(Err(e)) => self.connect_failed(&e.to_string()),
                Err(_) => self.connect_failed("connection timed out"),
            }
        }
        slot.clone()
    }

    /// Backs off the next connection attempt ([`Reconnect`]) and reports the store degraded.
    pub(super) fn connect_failed(&self, error: &str) {
        lock(&self.health).reconnect.failed();
        self.degraded(error);
    }

    pub(super) fn degraded(&self, error: &str) {
        let mut health = lock(&self.health);
        let first = !health.degraded;
        health.degraded = true;
        let warn = health
            .last_warning
            .is_none_or(|at| at.elapsed() >= Duration::from_secs(10));
        if warn {
            health.last_warning = Some(Instant::now());
            tracing::warn!(
                namespace = %self.settings.namespace,
                error,
                "Redis unavailable; breakers keep deciding locally"
            );
        }
        drop(health);
        if first {
            self.events
                .emit(|| Event::new(&self.settings.namespace, EventKind::StoreDegraded));
        }
    }

    pub(super) fn recovered(&self) {
        let mut health = lock(&self.health);
        if health.degraded {
            health.degraded = false;
            drop(health);
            tracing::info!(namespace = %self.settings.namespace, "Redis reachable again; sharing resumed");
            self.events
                .emit(|| Event::new(&self.settings.namespace, EventKind::StoreRecovered));
        }
    }

    pub(super) async fn run<T: redis::FromRedisValue>(
        &self,
        invocation: &mut redis::ScriptInvocation<'_>,
    ) -> Option<T> {
        let mut connection = self.connection().await?;
        let result = tokio::time::timeout(
            self.settings.command_timeout,
            connection.invoke::<T>(invocation),
        )
        .await;
        match result {
            Ok(Ok(reply)) => {
                self.recovered();
                Some(reply)
            }
            Ok(Err(e)) => {
                self.degraded(&e.to_string());
                None
            }
            Err(_) => {
                self.degraded("command timed out");
                None
            }
        }
    }
}

/// When the store may try to connect again: at once at first and after a success; after a
/// failure, not before a wait of 50 ms, doubling with each further failure, at most 2 s. Read
/// on Tokio's clock, so paused-time tests drive it.
#[derive(Debug, Default)]
pub(super) struct Reconnect {
    /// No attempt before this instant, and the wait that led to it.
    next: Option<(Instant, Duration)>,
}

impl Reconnect {
    const FIRST_WAIT: Duration = Duration::from_millis(50);
    const MAX_WAIT: Duration = Duration::from_secs(2);

    /// Whether an attempt may be made now.
    pub(super) fn may_try(&self) -> bool {
        self.next
            .is_none_or(|(not_before, _)| Instant::now() >= not_before)
    }

    /// An attempt failed: wait longer before the next.
    pub(super) fn failed(&mut self) {
        let wait = self.next.map_or(Reconnect::FIRST_WAIT, |(_, w)| {
            (w * 2).min(Reconnect::MAX_WAIT)
        });
        self.next = Some((Instant::now() + wait, wait));
    }

    /// An attempt succeeded: the next failure starts over from the first wait.
    pub(super) fn succeeded(&mut self) {
        self.next = None;
    }
}

#[cfg(test)]
mod tests {
    use super::Reconnect;
    use std::time::Duration;
    use tokio::time::advance;

    const MS: Duration = Duration::from_millis(1);

    /// How long after a failure the next attempt becomes allowed, to the millisecond.
    async fn wait_after_failure(reconnect: &mut Reconnect) -> Duration {
        reconnect.failed();
        let mut waited = Duration::ZERO;
        while !reconnect.may_try() {
            advance(MS).await;
            waited += MS;
        }
        waited
    }

    #[tokio::test(start_paused = true)]
    async fn reconnecting_backs_off_by_doubling_up_to_two_seconds_and_resets_on_success() {
        let mut reconnect = Reconnect::default();
        assert!(reconnect.may_try(), "the first attempt is at once");
        let mut waits = Vec::new();
        for _ in 0..8 {
            waits.push(wait_after_failure(&mut reconnect).await.as_millis());
        }
        assert_eq!(waits, [50, 100, 200, 400, 800, 1600, 2000, 2000]);
        reconnect.succeeded();
        assert!(reconnect.may_try());
        assert_eq!(
            wait_after_failure(&mut reconnect).await,
            50 * MS,
            "starts over"
        );
    }
}
