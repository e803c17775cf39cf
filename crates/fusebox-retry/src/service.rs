use crate::config::PolicyHandle;
use crate::future::ResponseFuture;
use crate::policy::{CloneRequest, ResendPolicy};
use fusebox_core::{MakeClassify, ResultClassifier};
use std::fmt;
use std::task::{Context, Poll};
use tower_service::Service;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A service that re-sends retryable failures; built by [`RetryLayer`](crate::RetryLayer).
///
/// `poll_ready` passes through. Each call keeps a ready clone of the inner service for its
/// later attempts, and a copy of the request made by the [`ResendPolicy`].
///
/// # Why the error is boxed
///
/// Unlike tower's `Retry`, which keeps the inner error type, this service returns
/// `tower::BoxError`; the error of the last attempt is inside, and downcasts to its own type.
/// The retry adds no failure of its own, but it must recognise an inner circuit breaker's
/// rejection ([`CircuitOpen`](fusebox_core::CircuitOpen)) wherever it sits, to wait for the
/// breaker's next probe instead of hammering it. That takes an error it can walk:
/// `dyn Error` and its `source()` chain, which an arbitrary `S::Error` is not. A breaker's own
/// `CircuitBreakerError` is not an `Error` either (so that a rejection allocates nothing); it
/// becomes one by converting into a `BoxError`, which unwraps it. Converting once, here, is
/// what lets a rejection be found under any number of layers.
#[derive(Clone)]
pub struct Retry<S, C = ResultClassifier, R = CloneRequest> {
    inner: S,
    policy: PolicyHandle,
    classifier: C,
    requests: R,
}

impl<S: fmt::Debug, C, R> fmt::Debug for Retry<S, C, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Retry")
            .field("inner", &self.inner)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl<S, C, R> Retry<S, C, R> {
    pub(crate) fn from_parts(inner: S, policy: PolicyHandle, classifier: C, requests: R) -> Self {
        Retry {
            inner,
            policy,
            classifier,
            requests,
        }
    }

    fusebox_core::define_inner_service_accessors!();
}

impl<S, C, R, Req> Service<Req> for Retry<S, C, R>
where
    S: Service<Req> + Clone,
    S::Error: Into<BoxError>,
    C: MakeClassify<Req, S::Response, S::Error>,
    R: ResendPolicy<Req> + Clone,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S, Req, C::Classify, R>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    #[inline]
    fn call(&mut self, request: Req) -> Self::Future {
        // Keep the service that was made ready for this call; leave a fresh clone behind.
        let clone = self.inner.clone();
        let service = std::mem::replace(&mut self.inner, clone);
        let spare = self.requests.resend(&request);
        // One classifier for every attempt of the call, made from its request.
        let classifier = self.classifier.make_classify(&request);
        ResponseFuture::start(
            service,
            request,
            spare,
            self.policy.clone(),
            classifier,
            self.requests.clone(),
        )
    }
}
