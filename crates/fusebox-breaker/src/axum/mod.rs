//! axum integration: an open circuit answers `503 Service Unavailable`.
//!
//! The response carries a `Retry-After` header (whole seconds, rounded up) and a JSON body:
//!
//! ```json
//! {"error": "circuit breaker is open", "service": "payments", "state": "open",
//!  "retry_after": "2026-11-23T21:40:17Z"}
//! ```
//!
//! A keyed breaker adds its key under its label: `"tenant_id": "acme"`. A
//! [forced-open](crate::Breaker::force_open) breaker has no time to come back: its response has
//! no `Retry-After` header and `"retry_after": null`. The breaker a full keyed set shares among
//! new keys adds `"overflow": true`.
//!
//! Put [`CircuitBreakerRouteLayer`] (or [`KeyedCircuitBreakerRouteLayer`], one breaker per
//! tenant, route or host) on routes (`Router::route_layer`): it keeps the route's error type
//! (axum routes are infallible) and turns rejections into that response.
//!
//! ```
//! use axum::{routing::get, Router};
//! use fusebox_breaker::{axum::CircuitBreakerRouteLayer, Breaker};
//!
//! let breaker = Breaker::builder("calendar").build()?;
//! let app: Router = Router::new()
//!     .route("/events", get(|| async { "[]" }))
//!     .route_layer(CircuitBreakerRouteLayer::new(breaker));
//! # Ok::<(), fusebox_breaker::ConfigError>(())
//! ```

mod future;
mod layer;
mod response;
mod service;

pub use future::RouteFuture;
pub use layer::{CircuitBreakerRouteLayer, KeyedCircuitBreakerRouteLayer};
pub use service::{CircuitBreakerRoute, KeyedCircuitBreakerRoute};
