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

use crate::breaker::Breaker;
use crate::error::{CircuitBreakerError, CircuitOpen};
use crate::future::ResponseFuture;
use crate::keyed::{ByKey, KeyedBreakers, KeyedCircuitBreakerLayer};
use crate::service::{CircuitBreaker, PickBreaker};
use axum::response::{IntoResponse, Response};
use fusebox_core::HttpClassifier;
use http::{header, HeaderValue, StatusCode};
use pin_project_lite::pin_project;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::{Duration, SystemTime};
use tower_layer::Layer;
use tower_service::Service;

impl IntoResponse for CircuitOpen {
    fn into_response(self) -> Response {
        let wait = self.retry_after();
        let mut body = serde_json::json!({
            "error": "circuit breaker is open",
            "service": self.name(),
            "state": self.state().as_str(),
            "retry_after": wait.map(|wait| rfc3339_after(SystemTime::now(), wait)),
        });
        if let Some(key) = self.breaker().key() {
            body[self.breaker().key_label()] = key.into();
        }
        if self.breaker().role() == crate::Role::Overflow {
            // Not that tenant's own breaker: the one a full set shares among new keys.
            body["overflow"] = true.into();
        }
        let mut response = (StatusCode::SERVICE_UNAVAILABLE, body.to_string()).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if let Some(wait) = wait {
            let seconds = wait
                .as_secs()
                .saturating_add(u64::from(wait.subsec_nanos() > 0));
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

/// `now + wait` as an RFC 3339 date, held at the last second RFC 3339 can write
/// (9999-12-31T23:59:59Z) for a wait beyond it.
fn rfc3339_after(now: SystemTime, wait: Duration) -> String {
    const LAST: Duration = Duration::from_secs(253_402_300_799);
    let last = SystemTime::UNIX_EPOCH + LAST;
    let at = now.checked_add(wait).map_or(last, |at| at.min(last));
    humantime::format_rfc3339_seconds(at.max(SystemTime::UNIX_EPOCH)).to_string()
}

impl<E: IntoResponse> IntoResponse for CircuitBreakerError<E> {
    fn into_response(self) -> Response {
        match self {
            CircuitBreakerError::Open(open) => open.into_response(),
            CircuitBreakerError::Inner(e) => e.into_response(),
        }
    }
}

/// Guards axum routes with a breaker; rejections become `503` responses (see the
/// [module docs](self)). Results are classified with [`HttpClassifier`].
#[derive(Clone, Debug)]
pub struct CircuitBreakerRouteLayer {
    breaker: Breaker,
    classifier: HttpClassifier,
}

impl CircuitBreakerRouteLayer {
    /// A route layer for `breaker`.
    pub fn new(breaker: Breaker) -> Self {
        CircuitBreakerRouteLayer {
            breaker,
            classifier: HttpClassifier::new(),
        }
    }

    /// Replaces the HTTP classifier (for example to cap `Retry-After` differently).
    pub fn classifier(mut self, classifier: HttpClassifier) -> Self {
        self.classifier = classifier;
        self
    }
}

impl<S> Layer<S> for CircuitBreakerRouteLayer {
    type Service = CircuitBreakerRoute<S>;

    fn layer(&self, inner: S) -> Self::Service {
        CircuitBreakerRoute {
            inner: CircuitBreaker::with_classifier(inner, self.breaker.clone(), self.classifier),
        }
    }
}

/// A route guarded by a breaker, answering `503` when open; built by
/// [`CircuitBreakerRouteLayer`], or with one breaker per key ([`KeyedCircuitBreakerRoute`]) by
/// [`KeyedCircuitBreakerRouteLayer`].
#[derive(Clone, Debug)]
pub struct CircuitBreakerRoute<S, B = Breaker> {
    inner: CircuitBreaker<S, HttpClassifier, B>,
}

impl<S, B> CircuitBreakerRoute<S, B> {
    /// The breaker guarding this route (for a keyed route, what picks it).
    pub fn breaker(&self) -> &B {
        self.inner.breaker()
    }
}

impl<S, B, Request> Service<Request> for CircuitBreakerRoute<S, B>
where
    S: Service<Request, Response = Response>,
    B: PickBreaker<Request>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = RouteFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.get_mut().poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        RouteFuture {
            inner: self.inner.call(request),
        }
    }
}

/// Guards axum routes with one breaker per key; rejections become `503` responses naming the
/// key. Results are classified with [`HttpClassifier`].
///
/// ```
/// use axum::{routing::get, Router};
/// use fusebox_breaker::{axum::KeyedCircuitBreakerRouteLayer, Breaker, HeaderKey};
///
/// let tenants = Breaker::builder("calendar").keyed().key_label("tenant_id").build()?;
/// let app: Router = Router::new()
///     .route("/events", get(|| async { "[]" }))
///     .route_layer(KeyedCircuitBreakerRouteLayer::new(
///         tenants,
///         HeaderKey::new(http::HeaderName::from_static("x-tenant-id")),
///     ));
/// # Ok::<(), fusebox_breaker::ConfigError>(())
/// ```
#[derive(Clone, Debug)]
pub struct KeyedCircuitBreakerRouteLayer<K> {
    inner: KeyedCircuitBreakerLayer<K, HttpClassifier>,
}

impl<K> KeyedCircuitBreakerRouteLayer<K> {
    /// A route layer picking each request's breaker from `breakers` by `extractor`.
    pub fn new(breakers: KeyedBreakers, extractor: K) -> Self {
        KeyedCircuitBreakerRouteLayer {
            inner: KeyedCircuitBreakerLayer::new(breakers, extractor)
                .classifier(HttpClassifier::new()),
        }
    }
}

impl<S, K: Clone> Layer<S> for KeyedCircuitBreakerRouteLayer<K> {
    type Service = KeyedCircuitBreakerRoute<S, K>;

    fn layer(&self, inner: S) -> Self::Service {
        CircuitBreakerRoute {
            inner: self.inner.layer(inner),
        }
    }
}

/// A route guarded by one breaker per key, answering `503` when the key's breaker is open;
/// built by [`KeyedCircuitBreakerRouteLayer`].
pub type KeyedCircuitBreakerRoute<S, K> = CircuitBreakerRoute<S, ByKey<K>>;

pin_project! {
    /// The future of [`CircuitBreakerRoute`] and [`KeyedCircuitBreakerRoute`].
    pub struct RouteFuture<F> {
        #[pin]
        inner: ResponseFuture<F, HttpClassifier>,
    }
}

impl<F> std::fmt::Debug for RouteFuture<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RouteFuture").finish_non_exhaustive()
    }
}

impl<F, E> Future for RouteFuture<F>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match ready!(self.project().inner.poll(cx)) {
            Ok(response) => Poll::Ready(Ok(response)),
            Err(CircuitBreakerError::Open(open)) => Poll::Ready(Ok(open.into_response())),
            Err(CircuitBreakerError::Inner(e)) => Poll::Ready(Err(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_past_year_9999_are_held_at_its_last_second() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        assert_eq!(rfc3339_after(now, Duration::ZERO), "2027-01-15T08:00:00Z");
        let far = Duration::from_secs(20_000 * 366 * 86_400);
        assert_eq!(rfc3339_after(now, far), "9999-12-31T23:59:59Z");
        assert_eq!(rfc3339_after(now, Duration::MAX), "9999-12-31T23:59:59Z");
    }
}
