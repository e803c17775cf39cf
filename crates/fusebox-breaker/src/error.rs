use fusebox_core::CircuitOpen;
use std::fmt;

/// The error of a [`CircuitBreaker`](crate::CircuitBreaker) service: the circuit was open, or
/// the inner service failed.
///
/// Kept as a concrete enum so a rejection allocates nothing. It converts into `tower::BoxError`
/// (a `Box<dyn Error + Send + Sync>`) by unwrapping: the box holds the [`CircuitOpen`] or the
/// inner error itself, so `err.is::<CircuitOpen>()` works after `?` or `.into()`. For that
/// reason it deliberately does not implement `std::error::Error` itself.
///
/// ```
/// use fusebox_breaker::{CircuitBreakerError, CircuitOpen};
///
/// fn is_rejection(err: CircuitBreakerError<std::io::Error>) -> bool {
///     let boxed: Box<dyn std::error::Error + Send + Sync> = err.into();
///     boxed.is::<CircuitOpen>()
/// }
/// assert!(!is_rejection(CircuitBreakerError::Inner(std::io::ErrorKind::Other.into())));
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum CircuitBreakerError<E> {
    /// The breaker rejected the call.
    Open(CircuitOpen),
    /// The inner service failed.
    Inner(E),
}

impl<E> CircuitBreakerError<E> {
    /// Whether the breaker rejected the call.
    pub fn is_open(&self) -> bool {
        matches!(self, CircuitBreakerError::Open(_))
    }

    /// The rejection, if this is one.
    pub fn as_open(&self) -> Option<&CircuitOpen> {
        match self {
            CircuitBreakerError::Open(open) => Some(open),
            CircuitBreakerError::Inner(_) => None,
        }
    }

    /// The inner error, if this is one.
    pub fn into_inner(self) -> Option<E> {
        match self {
            CircuitBreakerError::Inner(e) => Some(e),
            CircuitBreakerError::Open(_) => None,
        }
    }
}

impl<E: fmt::Display> fmt::Display for CircuitBreakerError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CircuitBreakerError::Open(open) => open.fmt(f),
            CircuitBreakerError::Inner(e) => e.fmt(f),
        }
    }
}

impl<E> From<CircuitBreakerError<E>> for Box<dyn std::error::Error + Send + Sync>
where
    E: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    fn from(err: CircuitBreakerError<E>) -> Self {
        match err {
            CircuitBreakerError::Open(open) => Box::new(open),
            CircuitBreakerError::Inner(e) => e.into(),
        }
    }
}
