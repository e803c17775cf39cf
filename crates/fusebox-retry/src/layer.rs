use crate::config::PolicyHandle;
use crate::policy::CloneRequest;
use crate::service::Retry;
use fusebox_core::{EventListener, ResultClassifier, Subscription};
use std::fmt;
use tower_layer::Layer;

/// Re-sends requests whose outcome the classifier calls retryable; builds [`Retry`].
///
/// ```
/// use fusebox_retry::{Backoff, RetryLayer};
/// use std::sync::atomic::{AtomicU32, Ordering};
/// use std::sync::Arc;
/// use std::time::Duration;
/// use tower::{service_fn, ServiceBuilder, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), tower::BoxError> {
/// let calls = Arc::new(AtomicU32::new(0));
/// let seen = calls.clone();
/// let flaky = service_fn(move |n: u32| {
///     let attempt = seen.fetch_add(1, Ordering::SeqCst) + 1;
///     async move {
///         if attempt < 3 { Err("connection reset") } else { Ok(n * 2) }
///     }
/// });
/// let service = ServiceBuilder::new()
///     .layer(RetryLayer::builder("doubler")
///         .backoff(Backoff::constant(Duration::from_millis(10)))
///         .max_attempts(3)
///         .build()?)
///     .service(flaky);
/// assert_eq!(service.oneshot(21).await?, 42);
/// assert_eq!(calls.load(Ordering::SeqCst), 3);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct RetryLayer<C = ResultClassifier, R = CloneRequest> {
    policy: PolicyHandle,
    classifier: C,
    requests: R,
}

impl<C, R> fmt::Debug for RetryLayer<C, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryLayer")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl<C, R> RetryLayer<C, R> {
    pub(crate) fn from_parts(policy: PolicyHandle, classifier: C, requests: R) -> Self {
        RetryLayer {
            policy,
            classifier,
            requests,
        }
    }

    /// Listens to this layer's events until the returned [`Subscription`] is dropped.
    pub fn subscribe(&self, listener: impl EventListener) -> Subscription {
        self.policy.events.subscribe(listener)
    }
}

impl<S, C: Clone, R: Clone> Layer<S> for RetryLayer<C, R> {
    type Service = Retry<S, C, R>;

    fn layer(&self, inner: S) -> Self::Service {
        Retry::from_parts(
            inner,
            self.policy.clone(),
            self.classifier.clone(),
            self.requests.clone(),
        )
    }
}
