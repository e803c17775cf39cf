//! A lock-free, allocation-free circuit breaker for tower services, axum routes and any client.
//!
//! A [`Breaker`] watches the outcomes of calls to one dependency and, when its trip policy says
//! the dependency is failing, rejects calls at once instead of letting them pile up. After an
//! open period it lets a few probe calls through; if they succeed it closes again.
//!
//! ```
//! use fusebox_breaker::{Breaker, CircuitBreakerLayer, CircuitOpen, CircuitState};
//! use std::time::Duration;
//! use tower::{service_fn, BoxError, ServiceBuilder, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), BoxError> {
//! let breaker = Breaker::builder("payments")
//!     .consecutive_failures(3)
//!     .open_duration(Duration::from_secs(30))
//!     .build()?;
//! let client = ServiceBuilder::new()
//!     .layer(CircuitBreakerLayer::new(breaker.clone()))
//!     .service(service_fn(|_: ()| async { Err::<(), _>("connection refused") }));
//!
//! for _ in 0..3 {
//!     assert!(client.clone().oneshot(()).await.is_err());
//! }
//! assert_eq!(breaker.state(), CircuitState::Open);
//!
//! // Rejected at once, without calling the dependency.
//! let err: BoxError = client.oneshot(()).await.unwrap_err().into();
//! let open = err.downcast_ref::<CircuitOpen>().unwrap();
//! assert_eq!(open.name(), "payments");
//! assert!(open.retry_after() <= Some(Duration::from_secs(30)));
//! # Ok(())
//! # }
//! ```
//!
//! # States and policies
//!
//! - **Closed**: calls flow. Trip policies, combinable: consecutive failures; failure rate over a
//!   count window (the last *n* calls) or a time window (a ring of time buckets); slow-call rate.
//!   Rates wait for [`min_calls`](BreakerBuilder::min_calls) calls, applied as soon as the window
//!   holds that many. Windows truly slide and cost O(1) per call whatever their size.
//! - **Open**: calls are rejected with [`CircuitOpen`] for a fixed or exponentially growing open
//!   duration. A Tokio timer ends the period, so deciding to reject takes one atomic load and
//!   no clock read (without a runtime, rejected calls compare the clock with the deadline
//!   instead).
//! - **Half-open**: exactly [`half_open_probes`](BreakerBuilder::half_open_probes) concurrent
//!   probes; [`half_open_successes`](BreakerBuilder::half_open_successes) successes close, any
//!   failure reopens. A probe that never completes cannot wedge the breaker: after
//!   [`half_open_max_wait`](BreakerBuilder::half_open_max_wait) it reopens.
//! - **Disabled** and **`ForcedOpen`**: set by [`Breaker::disable`] and [`Breaker::force_open`],
//!   left by [`Breaker::reset`].
//!
//! Every transition bumps a generation; a call that started in an earlier generation does not
//! count toward the current one.
//!
//! # Cost
//!
//! A call through a closed breaker takes no lock and allocates nothing: an atomic load of the
//! state, a striped counter increment, and a write to the consecutive-failure counter only when
//! it changes. The clock is read only when a slow-call policy needs it, or by a time window
//! for a failure (it dates successes by a coarse clock, with a load). See
//! `docs/benchmarks.md` in the repository for measurements against other breakers.
//!
//! # Features
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `http` | yes | [`CircuitBreakerLayer::http`], classifying `http::Response`s; [`StreamingCircuitBreakerLayer`], whose classifier may wait for the end of the body |
//! | `grpc` | no | [`StreamingCircuitBreakerLayer::grpc`]: gRPC status from headers or trailers |
//! | `axum` | no | `503` responses for open circuits, [`axum::CircuitBreakerRouteLayer`] |
//! | `serde` | no | [`BreakerSettings`] and [`RegistrySettings`] from any serde format |
#![cfg_attr(docsrs, feature(doc_cfg))]

mod breaker;
mod builder;
mod circuit;
mod clock;
mod config;
mod error;
pub mod future;
mod keyed;
mod layer;
mod machine;
mod registry;
mod service;
mod settings;
mod span;
mod stats;
#[cfg(feature = "http")]
mod streaming;
mod sync;
mod window;

#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub mod axum;

pub use breaker::{Breaker, BreakerMetrics, Permit, WindowMetrics};
pub use builder::BreakerBuilder;
pub use config::{
    ConfigError, OpenDuration, WindowKind, MAX_COUNT_WINDOW, MAX_DURATION, MAX_PROBES,
    MAX_TIME_BUCKETS,
};
pub use error::CircuitBreakerError;
pub use fusebox_core::{CircuitOpen, CircuitState, LocalState, StateStore, TransitionReason};
pub use keyed::{
    key_fn, ByKey, KeyExtractor, KeyFn, KeyedBreakers, KeyedBuilder, KeyedCircuitBreaker,
    KeyedCircuitBreakerLayer, OVERFLOW_KEY,
};
#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
pub use keyed::{HeaderKey, HostKey, PathKey};
pub use layer::CircuitBreakerLayer;
pub use machine::Transition;
pub use registry::{BreakerRegistry, BreakerStatus, RegistryBuilder, RegistrySummary};
pub use registry::{EnvSettings, RegistrySettings};
pub use service::{CircuitBreaker, PickBreaker};
pub use settings::{env_name, parse_duration, BreakerSettings};
#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
pub use streaming::{
    StreamingCircuitBreaker, StreamingCircuitBreakerLayer, StreamingResponseFuture,
};
