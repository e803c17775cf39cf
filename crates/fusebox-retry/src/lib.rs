//! Retry for tower services: backoff with jitter, retry budgets, `Retry-After`, deadlines and
//! re-sendable HTTP requests.
//!
//! [`RetryLayer`] re-sends a request when the shared classifier
//! ([`Classify`](fusebox_core::Classify)) calls its outcome retryable, waiting between attempts
//! as its [`Backoff`] says, or as long as the dependency asked with `Retry-After`. It stops at
//! `max_attempts`, before any wait that would pass the call's deadline, when the
//! [`RetryBudget`] is empty, or when the failure is permanent. An inner circuit breaker's
//! rejection ([`CircuitOpen`](fusebox_core::CircuitOpen), found anywhere in the error's
//! `source()` chain) is retried only once its next probe is due, and only if that fits the
//! deadline. The crate depends on fusebox-core's rejection contract only, not on the breaker.
//!
//! The retry classifies a response from its head (the classifier's first stage). A response
//! whose outcome waits for its trailers (a gRPC stream, whose status comes after its
//! messages) is already the caller's stream when it could be judged, so it is never retried;
//! a breaker below the retry still counts it at the end of its body.
//!
//! ```
//! use fusebox_retry::{Backoff, Jitter, RetryLayer};
//! use std::time::Duration;
//! use tower::{service_fn, ServiceBuilder, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), tower::BoxError> {
//! let retry = RetryLayer::builder("geocoder")
//!     .backoff(Backoff::exponential(Duration::from_millis(100), 2.0).jitter(Jitter::Full))
//!     .max_attempts(3)
//!     .deadline(Duration::from_secs(2))
//!     .build()?;
//! let service = ServiceBuilder::new()
//!     .layer(retry)
//!     .service(service_fn(|city: &'static str| async move { Ok::<_, std::io::Error>(city.len()) }));
//! assert_eq!(service.oneshot("Porto").await?, 5);
//! # Ok(())
//! # }
//! ```
//!
//! Every attempt is an event ([`fusebox_core::EventKind`]): attempt started, retry scheduled
//! (with its delay), retry denied by the budget, gave up (and why), succeeded after *n* attempts;
//! each carries the request's correlation id when it has one.
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `http` | yes | [`http::HttpRequests`]: idempotent methods only, `Idempotency-Key` opt-in, buffered re-sendable bodies, `x-request-id` correlation |
//! | `grpc` | no | gRPC status classification |
#![cfg_attr(docsrs, feature(doc_cfg))]

mod backoff;
mod budget;
mod builder;
mod config;
pub mod future;
#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
pub mod http;
mod layer;
mod policy;
mod random;
mod service;
mod settings;

pub use backoff::{Backoff, BackoffKind, Jitter, RandomSource};
pub use budget::{RetryBudget, RetryBudgetBuilder};
pub use builder::RetryLayerBuilder;
pub use config::MAX_ATTEMPTS;
/// The random number generator [`RandomSource`] is implemented for, re-exported so that
/// [`RetryLayerBuilder::random_source`] needs no dependency of your own.
pub use fastrand;
pub use fusebox_core::ConfigError;
pub use fusebox_core::GiveUpReason;
pub use layer::RetryLayer;
pub use policy::{CloneRequest, ResendPolicy};
pub use service::Retry;
pub use settings::RetrySettings;
