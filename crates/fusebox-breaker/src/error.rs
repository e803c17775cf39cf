use crate::breaker::Breaker;
use crate::machine::Refusal;
use fusebox_core::CircuitState;
use std::fmt;
use std::time::Duration;
use tokio::time::Instant;

/// A call was rejected because the circuit is open.
///
/// Carries the breaker's name, its key (for a breaker of a keyed set), the state that rejected
/// the call, and when a call may next be admitted. Converts into `tower::BoxError` and downcasts back:
///
/// ```
/// use fusebox_breaker::{Breaker, CircuitOpen};
///
/// let breaker = Breaker::builder("payments").build()?;
/// breaker.force_open();
/// let boxed: Box<dyn std::error::Error + Send + Sync> = breaker.try_acquire().unwrap_err().into();
/// assert!(boxed.is::<CircuitOpen>());
/// # Ok::<(), fusebox_breaker::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct CircuitOpen {
    breaker: Breaker,
    refusal: Refusal,
}

impl CircuitOpen {
    pub(crate) fn new(breaker: Breaker, refusal: Refusal) -> Self {
        CircuitOpen { breaker, refusal }
    }

    /// The breaker's name.
    pub fn name(&self) -> &str {
        self.breaker.name()
    }

    /// The key of the rejecting breaker, for a breaker of a keyed set (the tenant, route or
    /// host); `None` for a plain breaker.
    pub fn key(&self) -> Option<&str> {
        self.breaker.key()
    }

    /// The state that rejected the call: `Open`, `HalfOpen` (all probe slots taken) or
    /// `ForcedOpen`.
    pub fn state(&self) -> CircuitState {
        self.refusal.state
    }

    /// When a call may next be admitted, or `None` when only an operator can end the
    /// rejection (a [forced-open](Breaker::force_open) breaker: nothing to wait for).
    ///
    /// For an open breaker, the end of its open period. For a half-open breaker whose probe
    /// slots are all taken, the end of its half-open maximum wait: the latest the breaker can
    /// stay so, although it usually closes or reopens much sooner, when its probes finish.
    pub fn retry_at(&self) -> Option<Instant> {
        self.refusal
            .retry_at
            .map(|at| self.breaker.shared.epoch.instant_at(at))
    }

    /// Whether a call may be admitted any moment before [`retry_at`](Self::retry_at), which is
    /// then only the latest time: the breaker is half-open with every probe slot taken, or open
    /// and waiting for another instance's probe (with a shared store). A caller that wants to
    /// call again soon looks again after a short wait rather than waiting until `retry_at`.
    pub fn awaits_probe(&self) -> bool {
        self.refusal.awaits_probe
    }

    /// Time from now until [`retry_at`](Self::retry_at), or `None` when only an operator can
    /// end the rejection; reads the clock, so it is computed only when asked.
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_at()
            .map(|at| at.saturating_duration_since(Instant::now()))
    }

    /// The breaker that rejected the call.
    pub fn breaker(&self) -> &Breaker {
        &self.breaker
    }
}

impl fmt::Debug for CircuitOpen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitOpen")
            .field("name", &self.name())
            .field("key", &self.key())
            .field("state", &self.state())
            .field("retry_after", &self.retry_after())
            .finish()
    }
}

impl fmt::Display for CircuitOpen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "circuit breaker `{}`", self.name())?;
        if let Some(key) = self.key() {
            write!(f, " for {} `{key}`", self.breaker.key_label())?;
        }
        write!(f, " is {}", self.state())?;
        match self.retry_after() {
            Some(wait) => write!(f, "; retry in {:.1}s", wait.as_secs_f64()),
            None => f.write_str(" until an operator resets it"),
        }
    }
}

impl std::error::Error for CircuitOpen {}

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
