use crate::breaker::Permit;
use crate::error::CircuitBreakerError;
use fusebox_core::{CircuitOpen, ClassifiedBody, ClassifyResponse};
use pin_project_lite::pin_project;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

pin_project! {
    /// The future of [`StreamingCircuitBreaker`](super::StreamingCircuitBreaker): completes
    /// with the response, its body wrapped to record the outcome at its end when the head did
    /// not decide it; or, for a rejected call, at once with [`CircuitBreakerError::Open`].
    pub struct StreamingResponseFuture<F, C> {
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
            permit: Option<Permit>,
        },
        Rejected {
            open: Option<CircuitOpen>,
        },
    }
}

impl<F, C> StreamingResponseFuture<F, C> {
    pub(super) fn called(future: F, permit: Permit, classifier: C) -> Self {
        StreamingResponseFuture {
            state: State::Called {
                future,
                permit: Some(permit),
            },
            classifier,
        }
    }

    pub(super) fn rejected(open: CircuitOpen, classifier: C) -> Self {
        StreamingResponseFuture {
            state: State::Rejected { open: Some(open) },
            classifier,
        }
    }
}

impl<F, C> fmt::Debug for StreamingResponseFuture<F, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Called { .. } => "called",
            State::Rejected { .. } => "rejected",
        };
        f.debug_struct("StreamingResponseFuture")
            .field("state", &state)
            .finish()
    }
}

impl<F, C, ResBody, E> Future for StreamingResponseFuture<F, C>
where
    F: Future<Output = Result<http::Response<ResBody>, E>>,
    C: ClassifyResponse<ResBody, E>,
    ResBody: http_body::Body,
{
    type Output =
        Result<http::Response<ClassifiedBody<ResBody, C::Eos, Permit>>, CircuitBreakerError<E>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        match this.state.project() {
            StateProj::Called { future, permit } => {
                let result = ready!(future.poll(cx));
                let permit = permit
                    .take()
                    .expect("StreamingResponseFuture polled after completion");
                Poll::Ready(
                    fusebox_core::record_response(this.classifier, result, permit)
                        .map_err(CircuitBreakerError::Inner),
                )
            }
            StateProj::Rejected { open } => match open.take() {
                Some(open) => Poll::Ready(Err(CircuitBreakerError::Open(
                    crate::future::rejection(open),
                ))),
                None => panic!("StreamingResponseFuture polled after completion"),
            },
        }
    }
}
