//! Shared vocabulary of fusebox: what a call's result means, what happened, and who hears of it.
//!
//! Every fusebox middleware (breaker, retry, metrics, fallback) agrees on three things defined
//! here:
//!
//! - [`Classify`] and [`Outcome`]: one decision of whether a result is a success, a failure
//!   (possibly retryable, possibly with a `Retry-After` hint) or ignored. The breaker counts what
//!   the classifier says; nothing else re-interprets results.
//! - [`Event`] and [`EventBus`]: every state transition, rejection and call outcome is a typed
//!   event. Building an event costs nothing when nobody listens.
//! - [`CircuitState`] and [`TransitionReason`]: the breaker states every other crate reports.
//! - [`CorrelationId`]: the id a call's spans, events and errors name, read by every layer
//!   from the call's task; [`CorrelationLayer`] (feature `http`) assigns it to HTTP requests.
//! - [`Circuit`], [`CircuitOpen`] and [`StateStore`]: what a breaker reports, what its
//!   rejection says (found anywhere in an error's `source()` chain), and the seam through
//!   which a store shares its state. A retry, a health check or a shared store depends on
//!   these, never on the breaker crate.
//!
//! ```
//! use fusebox_core::{Classify, Outcome, ResultClassifier};
//!
//! let ok: Result<u32, &str> = Ok(1);
//! let err: Result<u32, &str> = Err("connection reset");
//! assert_eq!(ResultClassifier.classify(ok.as_ref()), Outcome::Success);
//! assert!(ResultClassifier.classify(err.as_ref()).is_failure());
//! ```
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `http` | yes | [`HttpClassifier`] for `http::Response`, `Retry-After` parsing; the end-of-stream stage ([`ClassifyResponse`], [`ClassifiedBody`]) |
//! | `grpc` | no | [`GrpcClassifier`]: gRPC status codes from response headers |
//! | `axum` | no | [`CircuitOpen`] as a `503` response (`axum_core::response::IntoResponse`) |
#![cfg_attr(docsrs, feature(doc_cfg))]

mod circuit;
mod classify;
mod config;
mod correlation;
mod event;
#[cfg(feature = "grpc")]
mod grpc;
mod handle;
#[cfg(feature = "axum")]
mod response;
mod state;
#[cfg(feature = "http")]
mod stream;
#[doc(hidden)]
pub mod stripe;
#[doc(hidden)]
pub mod sync;
#[doc(hidden)]
pub mod time;

/// Defines `get_ref`, `get_mut` and `into_inner` for a middleware service whose wrapped service
/// is the field `inner`. For fusebox's own crates; not part of the public API.
#[doc(hidden)]
#[macro_export]
macro_rules! define_inner_service_accessors {
    () => {
        /// The inner service.
        pub fn get_ref(&self) -> &S {
            &self.inner
        }

        /// The inner service, mutably.
        pub fn get_mut(&mut self) -> &mut S {
            &mut self.inner
        }

        /// Consumes the wrapper, returning the inner service.
        pub fn into_inner(self) -> S {
            self.inner
        }
    };
}

pub use circuit::{
    Circuit, CircuitOpen, CircuitRef, Circuits, LocalState, Role, SharedPolicy, StateStore,
    StoredCircuit, StoredRef, WeakStoredRef,
};
#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
pub use classify::{parse_retry_after, HttpClassifier};
pub use classify::{Classify, EveryRequest, MakeClassify, Outcome, PerRequest, ResultClassifier};
pub use config::ConfigError;
#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
pub use correlation::{Correlation, CorrelationLayer};
pub use correlation::{CorrelationId, MAX_CORRELATION_ID_LEN};
pub use event::{Event, EventBus, EventKind, EventListener, GiveUpReason, Subscription, Watch};
#[cfg(feature = "grpc")]
#[cfg_attr(docsrs, doc(cfg(feature = "grpc")))]
pub use grpc::{GrpcClassifier, GrpcEos};
pub use handle::{Handle, WeakHandle};
pub use state::{CircuitState, HealthStatus, TransitionReason};
#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
pub use stream::{
    record_response, Classified, ClassifiedBody, ClassifyEos, ClassifyResponse,
    MakeClassifyResponse, RecordOutcome,
};
