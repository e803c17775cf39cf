//! fusebox: resilience middleware for tower, in one import.
//!
//! Re-exports the fusebox crates behind features and adds [`ServiceBuilderExt`], so stacks read
//! naturally:
//!
//! ```
//! use fusebox::{Breaker, ServiceBuilderExt};
//! use tower::{service_fn, ServiceBuilder, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), tower::BoxError> {
//! let breaker = Breaker::builder("inventory").consecutive_failures(5).build()?;
//! let service = ServiceBuilder::new()
//!     .circuit_breaker(breaker)
//!     .service(service_fn(|n: u32| async move { Ok::<_, std::io::Error>(n * 2) }));
//! assert_eq!(service.oneshot(21).await?, 42);
//! # Ok(())
//! # }
//! ```
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `breaker` | yes | [`breaker`]: the circuit breaker |
//! | `retry` | yes | [`retry`]: retry with backoff, jitter, budgets and `Retry-After` |
//! | `http` | yes | HTTP classification ([`HttpClassifier`]) |
//! | `grpc` | no | gRPC status classification (`GrpcClassifier`) |
//! | `serde` | no | breaker and registry settings from any serde format |
//! | `metrics` | no | `metrics`: call, breaker, retry and store metrics through the `metrics` facade |
//! | `prometheus` | no | the Prometheus exporter of those metrics and an axum router for `/metrics` |
//! | `health` | no | [`health`]: health checks of dependencies (HTTP, TCP, closures, breakers, live calls) on schedules, their history, statistics, score, predictions and dependency graph; with `axum`, the health routes; with `grpc`, the `grpc.health.v1` service |
//! | `health-https` | no | `https://` URLs for the health crate's `HttpCheck`, through rustls |
//! | `redis` | no | [`redis`]: breaker state shared across servers through Redis |
//! | `redis-cluster` | no | the Redis store on a Redis Cluster |
//! | `redis-tls` | no | the Redis store over TLS (`rediss://`), with mutual TLS |
//! | `axum` | no | `503` responses for open circuits, route layers |
#![cfg_attr(docsrs, feature(doc_cfg))]

pub use fusebox_core as core;
pub use fusebox_core::{
    CircuitState, Classify, ConfigError, CorrelationId, Event, EventBus, EventKind, EventListener,
    GiveUpReason, Outcome, ResultClassifier, Subscription, TransitionReason,
};
#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
pub use fusebox_core::{CorrelationLayer, HttpClassifier};

#[cfg(feature = "breaker")]
#[cfg_attr(docsrs, doc(cfg(feature = "breaker")))]
pub use fusebox_breaker as breaker;
/// The breaker types most programs name, at the root (`fusebox::Breaker`).
#[cfg(feature = "breaker")]
#[cfg_attr(docsrs, doc(cfg(feature = "breaker")))]
pub use fusebox_breaker::{
    Breaker, BreakerRegistry, CircuitBreakerLayer, CircuitOpen, KeyedBreakers,
};

#[cfg(feature = "retry")]
#[cfg_attr(docsrs, doc(cfg(feature = "retry")))]
pub use fusebox_retry as retry;
/// The retry types most programs name, at the root (`fusebox::RetryLayer`).
#[cfg(feature = "retry")]
#[cfg_attr(docsrs, doc(cfg(feature = "retry")))]
pub use fusebox_retry::{Backoff, Jitter, RetryBudget, RetryLayer, RetrySettings};

#[cfg(feature = "grpc")]
#[cfg_attr(docsrs, doc(cfg(feature = "grpc")))]
pub use fusebox_core::GrpcClassifier;

#[cfg(feature = "metrics")]
#[cfg_attr(docsrs, doc(cfg(feature = "metrics")))]
pub use fusebox_metrics as metrics;

#[cfg(feature = "health")]
#[cfg_attr(docsrs, doc(cfg(feature = "health")))]
pub use fusebox_health as health;

#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use fusebox_redis as redis;
/// The Redis store, at the root (`fusebox::RedisStore`).
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use fusebox_redis::RedisStore;

mod builder;
pub use builder::ServiceBuilderExt;

/// The samples of README.md and docs/, compiled (and run) as doctests so they cannot drift.
/// They use the `axum`, `health`, `redis`, `grpc` and `prometheus` features (CI tests with all
/// features).
#[cfg(all(
    doctest,
    feature = "axum",
    feature = "health",
    feature = "redis",
    feature = "grpc",
    feature = "prometheus"
))]
mod guides {
    #[doc = include_str!("../../../README.md")]
    struct Readme;
    #[doc = include_str!("../../../docs/breaker.md")]
    struct Breaker;
    #[doc = include_str!("../../../docs/retry.md")]
    struct Retry;
    #[doc = include_str!("../../../docs/distributed.md")]
    struct Distributed;
    #[doc = include_str!("../../../docs/metrics.md")]
    struct Metrics;
    #[doc = include_str!("../../../docs/tracing.md")]
    struct Tracing;
    #[doc = include_str!("../../../docs/health.md")]
    struct Health;
    #[doc = include_str!("../../../docs/benchmarks.md")]
    struct Benchmarks;
    #[doc = include_str!("../../../docs/testing.md")]
    struct Testing;
    #[doc = include_str!("../../../docs/architecture.md")]
    struct Architecture;
}
