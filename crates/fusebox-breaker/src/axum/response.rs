//! A breaker's errors as responses: a rejection as fusebox-core's `503 Service Unavailable`,
//! an inner error as its own response.

use crate::error::CircuitBreakerError;
use axum::response::{IntoResponse, Response};

impl<E: IntoResponse> IntoResponse for CircuitBreakerError<E> {
    fn into_response(self) -> Response {
        match self {
            CircuitBreakerError::Open(open) => open.into_response(),
            CircuitBreakerError::Inner(e) => e.into_response(),
        }
    }
}
