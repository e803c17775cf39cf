//! The `grpc.health.v1` service fed from a registry, queried by a real tonic client over
//! 127.0.0.1: `Check` for the server and for one check, and `Watch` seeing a change.

mod support;

use fusebox_health::{grpc_health_service, CheckSettings, HealthRegistry};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use support::switch;
use tonic::transport::{server::TcpIncoming, Channel, Server};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

fn request(service: &str) -> HealthCheckRequest {
    HealthCheckRequest {
        service: service.to_owned(),
    }
}

#[tokio::test]
async fn check_and_watch_follow_the_registry() {
    let failing = Arc::new(AtomicBool::new(false));
    let calendar = switch("calendar", &failing);
    let registry = HealthRegistry::builder()
        .check(
            calendar,
            CheckSettings::default()
                .interval(Duration::from_millis(10))
                .failing_interval(Duration::from_millis(10))
                .jitter(0.0),
        )
        .build()
        .unwrap();
    let (service, _feed) = grpc_health_service(&registry).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(
        Server::builder()
            .add_service(service)
            .serve_with_incoming(TcpIncoming::from(listener)),
    );
    let channel = Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client = HealthClient::new(channel);
    let status = |response: tonic::Response<tonic_health::pb::HealthCheckResponse>| {
        ServingStatus::try_from(response.into_inner().status).unwrap()
    };

    // Not started: no critical check probed yet, so the server is not serving.
    let before = status(client.check(request("")).await.unwrap());
    assert_eq!(before, ServingStatus::NotServing);
    let mut watch = client.watch(request("")).await.unwrap().into_inner();
    let first = watch.message().await.unwrap().unwrap().status;
    assert_eq!(
        ServingStatus::try_from(first).unwrap(),
        ServingStatus::NotServing
    );

    let running = registry.start();
    let next = tokio::time::timeout(Duration::from_secs(10), watch.message())
        .await
        .expect("Watch sees the first probe")
        .unwrap()
        .unwrap();
    assert_eq!(
        ServingStatus::try_from(next.status).unwrap(),
        ServingStatus::Serving
    );
    assert_eq!(
        status(client.check(request("calendar")).await.unwrap()),
        ServingStatus::Serving
    );

    failing.store(true, Ordering::SeqCst);
    let next = tokio::time::timeout(Duration::from_secs(10), watch.message())
        .await
        .expect("Watch sees the failure")
        .unwrap()
        .unwrap();
    assert_eq!(
        ServingStatus::try_from(next.status).unwrap(),
        ServingStatus::NotServing
    );
    assert_eq!(
        status(client.check(request("calendar")).await.unwrap()),
        ServingStatus::NotServing
    );
    let unknown = client.check(request("nothing")).await.unwrap_err();
    assert_eq!(unknown.code(), tonic::Code::NotFound);
    running.stop().await;
}
