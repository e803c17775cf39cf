//! Health checks of a service's dependencies, for readiness probes and health pages.
//!
//! A [`HealthCheck`] probes one dependency and says [`Status::Pass`], [`Status::Warn`] or
//! [`Status::Fail`], with an observed value and a line of detail ([`Probe`]).
//! [`run_check`] runs one with a timeout it enforces (a hung probe is a failure, never a stuck
//! caller) and times it ([`CheckResult`]); a [`HealthRegistry`] runs many in the background,
//! each on its own schedule ([`CheckSettings`]: interval, timeout, initial delay, jitter,
//! criticality, a shorter interval while failing). Built in:
//!
//! | check | probes |
//! |---|---|
//! | `HttpCheck` (feature `http`) | an HTTP GET: the status in an expected range, optionally a predicate on the body; `https://` with the feature `https` |
//! | [`TcpCheck`] | a TCP connection to an address |
//! | `RedisCheck` (feature `redis`) | a Redis server answering `PING` |
//! | [`FnCheck`] | any async closure: a database's `SELECT 1`, a queue's depth |
//! | [`CircuitCheck`] | a circuit breaker's state, through [`fusebox_core::Circuit`] |
//! | [`PassiveCheck`] | no probe: the outcomes of live calls, from a breaker's events |
//! | [`CircuitsCheck`] | every circuit of a keyed set or a breaker registry, through [`fusebox_core::Circuits`] |
//!
//! Each check keeps a bounded [`History`] of its probes, from which the registry gives
//! [`Stats`] over any window (uptime, latency percentiles, failure streaks, time to recover,
//! MTBF, [`Trend`]s), a [`health_score`] from 0 to 100 and [`Prediction`]s of likely failures.
//! Components depend on others ([`HealthRegistryBuilder::depends_on`]): a failing root is
//! named as the cause of its dependents' degradation ([`ComponentHealth`]). The service's
//! liveness, startup and readiness follow documented rules ([`HealthRegistry::status`]); it
//! is served over HTTP by `HealthRoutes` (feature `axum`, the IETF `application/health+json`
//! shape) and over gRPC by `grpc_health_service` (feature `grpc`, `grpc.health.v1`). See
//! docs/health.md.
//!
//! ```
//! use fusebox_health::{run_check, FnCheck, Probe, Status};
//! use std::time::Duration;
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let queue = FnCheck::new("queue:depth", || async {
//!     let depth = 12.0; // read from the queue
//!     Probe::pass().observed(depth, "items")
//! });
//! let result = run_check(&queue, Duration::from_secs(1)).await;
//! assert_eq!(result.status(), Status::Pass);
//! assert_eq!(result.probe().observed_value(), Some(12.0));
//! # }
//! ```
#![cfg_attr(docsrs, feature(doc_cfg))]

mod check;
mod circuit;
mod func;
mod graph;
#[cfg(feature = "grpc")]
mod grpc;
mod history;
#[cfg(feature = "http")]
mod http;
mod passive;
mod predict;
mod recurrence;
#[cfg(feature = "redis")]
mod redis;
mod registry;
#[cfg(feature = "axum")]
mod router;
mod score;
mod tcp;

pub use check::{run_check, CheckFuture, CheckResult, HealthCheck, Probe, Status};
pub use circuit::{CircuitCheck, CircuitsCheck};
pub use func::FnCheck;
pub use graph::{component_of, ComponentHealth};
#[cfg(feature = "grpc")]
#[cfg_attr(docsrs, doc(cfg(feature = "grpc")))]
pub use grpc::{grpc_health_service, GrpcHealthFeed};
pub use history::{
    History, LatencyStats, Sample, Stats, Trend, DEFAULT_HISTORY, FAILURE_TREND_THRESHOLD,
    LATENCY_TREND_MIN_CHANGE, LATENCY_TREND_THRESHOLD, MAX_HISTORY, TREND_MIN_SAMPLES,
};
#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
pub use http::{HttpCheck, MAX_CHECKED_BODY};
pub use passive::{PassiveCheck, PassiveCheckBuilder, MAX_PASSIVE_WINDOW};
pub use predict::{
    predict, Prediction, PredictionKind, BAND_ALPHA, BAND_CONSECUTIVE, BAND_FLOOR, BAND_K,
    BAND_MIN_SAMPLES, PREDICTION_WINDOW, RECURRING_HORIZON, RECURRING_LOOKBACK_DAYS,
    RECURRING_MIN_DAYS,
};
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use redis::RedisCheck;
pub use registry::{
    CheckSettings, CheckView, HealthRegistry, HealthRegistryBuilder, Running, MIN_CHECK_INTERVAL,
};
#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub use router::{HealthRoutes, HEALTH_JSON, MAX_CACHE_FOR, MAX_HISTORY_MINUTES};
pub use score::{health_score, SCORE_WINDOW};
pub use tcp::TcpCheck;
