//! The standard gRPC health service (`grpc.health.v1.Health`, through `tonic-health`), fed
//! from a [`HealthRegistry`].

use crate::check::Status;
use crate::registry::HealthRegistry;
use tokio::task::JoinHandle;
use tonic_health::pb::health_server::{Health, HealthServer};
use tonic_health::server::{health_reporter, HealthReporter};
use tonic_health::ServingStatus;

/// The `grpc.health.v1.Health` service of `registry` (feature `grpc`), to add to a tonic
/// server, its statuses set from the registry's before it returns, and the task that keeps
/// them current ([`GrpcHealthFeed`]).
///
/// The service `""` (the whole server, what a Kubernetes gRPC probe asks by default) is
/// `SERVING` while the registry is ready ([`HealthRegistry::is_ready`]) and `NOT_SERVING`
/// otherwise; each check, by its name, is `SERVING` unless its last probe failed or it has
/// not been probed yet. `Check` answers the status now and `Watch` streams each change, as the
/// registry's statuses change.
///
/// # Panics
///
/// Outside a Tokio runtime, as `tokio::spawn` does.
///
/// ```no_run
/// use fusebox_health::{grpc_health_service, CheckSettings, FnCheck, HealthRegistry, Probe};
///
/// # async fn serve() -> Result<(), Box<dyn std::error::Error>> {
/// let registry = HealthRegistry::builder()
///     .check(FnCheck::new("db", || async { Probe::pass() }), CheckSettings::default())
///     .build()?;
/// let _running = registry.start();
/// let (health, _feed) = grpc_health_service(&registry).await;
/// tonic::transport::Server::builder()
///     .add_service(health)
///     .serve("127.0.0.1:50051".parse()?)
///     .await?;
/// # Ok(()) }
/// ```
pub async fn grpc_health_service(
    registry: &HealthRegistry,
) -> (HealthServer<impl Health>, GrpcHealthFeed) {
    let (reporter, server) = health_reporter();
    let registry = registry.clone();
    // Subscribed before the first report, so no change falls between the two.
    let mut changes = registry.changes();
    report(&registry, &reporter).await;
    let task = tokio::spawn(async move {
        while changes.changed().await.is_ok() {
            report(&registry, &reporter).await;
        }
    });
    (server, GrpcHealthFeed { task })
}

/// Sets every status the service serves from the registry's.
async fn report(registry: &HealthRegistry, reporter: &HealthReporter) {
    let serving = |up: bool| {
        if up {
            ServingStatus::Serving
        } else {
            ServingStatus::NotServing
        }
    };
    reporter
        .set_service_status("", serving(registry.is_ready()))
        .await;
    for check in registry.checks() {
        let up = check
            .latest
            .as_ref()
            .is_some_and(|r| r.status() != Status::Fail);
        reporter.set_service_status(&check.name, serving(up)).await;
    }
}

/// The task that keeps a [`grpc_health_service`] current; it ends when this is dropped or
/// [`stop`](Self::stop)ped (the service then keeps the last statuses it was given).
#[derive(Debug)]
pub struct GrpcHealthFeed {
    task: JoinHandle<()>,
}

impl GrpcHealthFeed {
    /// Stops feeding the service.
    pub fn stop(self) {}
}

impl Drop for GrpcHealthFeed {
    fn drop(&mut self) {
        self.task.abort();
    }
}
