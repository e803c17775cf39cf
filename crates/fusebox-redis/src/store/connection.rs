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
            if let Some((not_before, _)) = lock(&self.health).next_connect {
                if Instant::now() < not_before {
                    return None;
                }
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
                    lock(&self.health).next_connect = None;
                    *slot = Some(manager);
                }
                Ok(Err(e)) => self.connect_failed(&e.to_string()),
                Err(_) => self.connect_failed("connection timed out"),
            }
        }
        slot.clone()
    }

    /// Backs off the next connection attempt: 50 ms, doubling, at most 2 s.
    pub(super) fn connect_failed(&self, error: &str) {
        {
            let mut health = lock(&self.health);
            let wait = health
                .next_connect
                .map_or(Duration::from_millis(50), |(_, w)| {
                    (w * 2).min(Duration::from_secs(2))
                });
            health.next_connect = Some((Instant::now() + wait, wait));
        }
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
