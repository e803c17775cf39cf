//! The [`ResponseFuture`] of [`CircuitBreaker`](crate::CircuitBreaker).

use crate::breaker::Permit;
use crate::error::CircuitBreakerError;
use fusebox_core::CircuitOpen;
use fusebox_core::Classify;
use pin_project_lite::pin_project;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

pin_project! {
    /// Completes with the inner service's result, recording its outcome on the breaker; or, for
    /// a rejected call, completes at once with [`CircuitBreakerError::Open`].
    ///
    /// Dropping the future before it completes counts the call as ignored and frees its
    /// half-open probe slot.
    pub struct ResponseFuture<F, C> {
        #[pin]
        state: State<F>,
        classifier: C,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F> {
        Called {
            #[pin]
            future: F,
            permit: Permit,
        },
        Rejected {
            open: Option<CircuitOpen>,
        },
    }
}

impl<F, C> ResponseFuture<F, C> {
    pub(crate) fn called(future: F, permit: Permit, classifier: C) -> Self {
        ResponseFuture {
            state: State::Called { future, permit },
            classifier,
        }
    }

    pub(crate) fn rejected(open: CircuitOpen, classifier: C) -> Self {
        ResponseFuture {
            state: State::Rejected { open: Some(open) },
            classifier,
        }
    }
}

impl<F, C> fmt::Debug for ResponseFuture<F, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Called { .. } => "called",
            State::Rejected { .. } => "rejected",
        };
        f.debug_struct("ResponseFuture")
            .field("state", &state)
            .finish()
    }
}

impl<F, C, T, E> Future for ResponseFuture<F, C>
where
    F: Future<Output = Result<T, E>>,
    C: Classify<T, E>,
{
    type Output = Result<T, CircuitBreakerError<E>>;

    #[inline(always)]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        match this.state.project() {
            StateProj::Called { future, permit } => {
                let result = ready!(future.poll(cx));
                let outcome = this.classifier.classify(result.as_ref());
                crate::span::finished(&outcome);
                // Recorded in place: moving the permit out would cost a copy on every call.
                permit.finish(outcome);
                Poll::Ready(result.map_err(CircuitBreakerError::Inner))
            }
            StateProj::Rejected { open } => match open.take() {
                Some(open) => Poll::Ready(Err(CircuitBreakerError::Open(rejection(open)))),
                None => panic!("ResponseFuture polled after completion"),
            },
        }
    }
}

/// A rejection as the caller gets it: with the call's correlation id, logged at `DEBUG`.
#[inline(always)]
pub(crate) fn rejection(open: CircuitOpen) -> CircuitOpen {
    let open = open.with_correlation_id(fusebox_core::CorrelationId::current());
    if tracing::level_enabled!(tracing::Level::DEBUG) {
        log_rejection(&open);
    }
    open
}

#[cold]
#[inline(never)]
fn log_rejection(open: &CircuitOpen) {
    tracing::debug!(
        breaker = open.name(),
        key = open.key(),
        state = %open.state(),
        correlation_id = open.correlation_id().map(|id| id.as_str()),
        "call rejected"
    );
}
