//! The [`ResponseFuture`] of [`Retry`](crate::Retry).

use crate::config::{Policy, PolicyHandle};
use crate::policy::ResendPolicy;
use fusebox_core::{
    CircuitOpen, CircuitRef, Classify, CorrelationId, Event, EventKind, GiveUpReason, Outcome,
};
use pin_project_lite::pin_project;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;
use tokio::time::{Instant, Sleep};
use tower_service::Service;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

pin_project! {
    /// Drives the attempts of one call: send, classify, wait, get the service ready, send again.
    pub struct ResponseFuture<S, Req, C, R>
    where
        S: Service<Req>,
    {
        #[pin]
        state: State<S::Future>,
        service: S,
        spare: Result<Req, GiveUpReason>,
        policy: PolicyHandle,
        classifier: C,
        requests: R,
        progress: Progress,
        span: tracing::Span,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F> {
        Calling {
            #[pin]
            future: F,
        },
        // Waiting out `Progress::waits`.
        Waiting,
        Readying,
    }
}

pin_project! {
    /// What only a call that retries needs: made at its first retry, in one allocation, so a
    /// call that needs none carries (and moves) a pointer instead of a timer.
    struct Waits {
        #[pin]
        sleep: Sleep,
        // The inner circuit whose open period the wait waits out, if any.
        circuit: Option<CircuitRef>,
        // The wait before the attempt in flight (decorrelated jitter grows from it).
        previous_delay: Duration,
        // The call's random source, made on its first computed delay.
        random: Option<crate::random::CallRandom>,
    }
}

impl<S, Req, C, R> fmt::Debug for ResponseFuture<S, Req, C, R>
where
    S: Service<Req>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("retry", &self.policy.name)
            .field("attempt", &self.progress.attempt)
            .finish_non_exhaustive()
    }
}

/// What to do after a retryable failure.
enum Next {
    /// Wait this long (`true`: as the dependency or its breaker asked), then re-check the
    /// circuit whose open period the wait waits out, if any; the call's random source, if one
    /// was drawn from, goes along.
    RetryAfter(
        Duration,
        bool,
        Option<CircuitRef>,
        Option<crate::random::CallRandom>,
    ),
    GiveUp(GiveUpReason),
}

impl<S, Req, C, R> ResponseFuture<S, Req, C, R>
where
    S: Service<Req>,
    R: ResendPolicy<Req>,
{
    /// Sends the first attempt of `request` through `service` (made ready for it) and drives
    /// the call from there.
    #[inline]
    pub(crate) fn start(
        mut service: S,
        request: Req,
        spare: Result<Req, GiveUpReason>,
        policy: PolicyHandle,
        classifier: C,
        requests: R,
    ) -> Self {
        // Read the clock only when a deadline needs it. A deadline too far to be an instant
        // is no deadline.
        let deadline = policy.deadline.and_then(|d| Instant::now().checked_add(d));
        let span = attempt_span(&policy, &requests, &spare, 1);
        emit(
            &policy,
            &requests,
            &spare,
            EventKind::RetryAttemptStarted { attempt: 1 },
        );
        // The layers below open their spans inside the attempt's.
        let future = span.in_scope(|| service.call(request));
        ResponseFuture {
            state: State::Calling { future },
            service,
            spare,
            policy,
            classifier,
            requests,
            progress: Progress {
                attempt: 1,
                deadline,
                waits: None,
            },
            span,
        }
    }
}

/// Delivers the event `kind` of this call, if anyone listens, naming the call's correlation id.
fn emit<Req, R: ResendPolicy<Req>>(
    policy: &Policy,
    requests: &R,
    spare: &Result<Req, GiveUpReason>,
    kind: EventKind,
) {
    if policy.events.has_listeners() {
        let current = CorrelationId::current();
        let id = correlation_id(current.as_ref(), requests, spare);
        policy
            .events
            .emit(|| Event::new(&policy.name, kind).with_correlation_id(id));
    }
}

/// The call's correlation id: the task's ([`CorrelationId::current`], as a
/// [`CorrelationLayer`](fusebox_core::CorrelationLayer) sets it), else the one the request
/// carries.
fn correlation_id<'a, Req, R: ResendPolicy<Req>>(
    current: Option<&'a CorrelationId>,
    requests: &R,
    spare: &'a Result<Req, GiveUpReason>,
) -> Option<&'a str> {
    current
        .map(CorrelationId::as_str)
        .or_else(|| spare.as_ref().ok().and_then(|r| requests.correlation_id(r)))
}

/// The span an attempt runs in. Its fields, the correlation id among them, are worked out only
/// when a subscriber wants the span.
#[inline]
fn attempt_span<Req, R: ResendPolicy<Req>>(
    policy: &Policy,
    requests: &R,
    spare: &Result<Req, GiveUpReason>,
    attempt: u32,
) -> tracing::Span {
    // A breaker below records `breaker`, `key`, `probe` and `outcome` in it.
    let span = tracing::debug_span!(
        "retry_attempt",
        retry = &*policy.name,
        attempt,
        correlation_id = tracing::field::Empty,
        breaker = tracing::field::Empty,
        key = tracing::field::Empty,
        probe = tracing::field::Empty,
        outcome = tracing::field::Empty,
    );
    if !span.is_disabled() {
        let current = CorrelationId::current();
        if let Some(id) = correlation_id(current.as_ref(), requests, spare) {
            span.record("correlation_id", id);
        }
    }
    span
}

impl<S, Req, C, R> Future for ResponseFuture<S, Req, C, R>
where
    S: Service<Req>,
    S::Error: Into<BoxError>,
    C: Classify<S::Response, S::Error>,
    R: ResendPolicy<Req>,
{
    type Output = Result<S::Response, BoxError>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Calling { future } => {
                    let result = {
                        let _entered = this.span.enter();
                        ready!(future.poll(cx))
                    };
                    let outcome = this.classifier.classify(result.as_ref());
                    let attempt = this.progress.attempt;
                    let policy: &Policy = this.policy;
                    let emit = |kind| emit(policy, &*this.requests, &*this.spare, kind);
                    if outcome.is_success() {
                        if let Some(budget) = &policy.budget {
                            budget.deposit();
                        }
                        if attempt > 1 {
                            emit(EventKind::RetrySucceeded { attempts: attempt });
                        }
                    }
                    if !outcome.is_retryable() {
                        if outcome.is_failure() {
                            emit(EventKind::RetryGaveUp {
                                attempts: attempt,
                                reason: GiveUpReason::Permanent,
                            });
                        }
                        return Poll::Ready(result.map_err(Into::into));
                    }
                    let result = result.map_err(Into::into);
                    let next = this.progress.decide(
                        policy,
                        &outcome,
                        result.as_ref().err(),
                        this.spare.as_ref().err().copied(),
                    );
                    match next {
                        Next::GiveUp(reason) => {
                            if reason == GiveUpReason::BudgetExhausted {
                                emit(EventKind::RetryDenied { attempt });
                            }
                            emit(EventKind::RetryGaveUp {
                                attempts: attempt,
                                reason,
                            });
                            policy.give_ups.note(&policy.name, attempt, reason);
                            tracing::debug!(
                                parent: &*this.span,
                                retry = &*policy.name,
                                attempts = attempt,
                                %reason,
                                "not retrying"
                            );
                            return Poll::Ready(result);
                        }
                        Next::RetryAfter(delay, server_hint, circuit, random) => {
                            emit(EventKind::RetryScheduled {
                                attempt: attempt + 1,
                                delay,
                                server_hint,
                            });
                            tracing::debug!(
                                parent: &*this.span,
                                retry = &*policy.name,
                                attempt,
                                delay_ms = delay.as_millis() as u64,
                                server_hint,
                                "attempt failed, retrying"
                            );
                            // The failed response (or error) is dropped before waiting.
                            drop(result);
                            this.progress.wait(delay, circuit, random);
                            this.state.set(State::Waiting);
                        }
                    }
                }
                StateProj::Waiting => {
                    if let Some(waits) = this.progress.waits.as_mut() {
                        let waits = waits.as_mut().project();
                        ready!(waits.sleep.poll(cx));
                        if let Some(circuit) = waits.circuit.take() {
                            circuit.end_open_period_if_due();
                        }
                    }
                    this.state.set(State::Readying);
                }
                StateProj::Readying => {
                    ready!(this.service.poll_ready(cx)).map_err(Into::into)?;
                    let request =
                        match std::mem::replace(this.spare, Err(GiveUpReason::NotCloneable)) {
                            Ok(request) => request,
                            Err(reason) => {
                                // Unreachable in practice: `decide` gives up when there is no spare.
                                *this.spare = Err(reason);
                                return Poll::Ready(Err(RetryExhausted(reason).into()));
                            }
                        };
                    *this.spare = this.requests.resend(&request);
                    this.progress.attempt += 1;
                    let attempt = this.progress.attempt;
                    *this.span = attempt_span(this.policy, &*this.requests, &*this.spare, attempt);
                    emit(
                        this.policy,
                        &*this.requests,
                        &*this.spare,
                        EventKind::RetryAttemptStarted { attempt },
                    );
                    let service = &mut *this.service;
                    let future = this.span.in_scope(|| service.call(request));
                    this.state.set(State::Calling { future });
                }
            }
        }
    }
}

/// Where one call's attempts stand.
struct Progress {
    /// The attempt in flight, from 1.
    attempt: u32,
    /// When the whole call must be over, if it has a deadline.
    deadline: Option<Instant>,
    /// The timer and what else a call needs once it retries; `None` until then.
    waits: Option<Pin<Box<Waits>>>,
}

impl Progress {
    /// What to do after a retryable failure of the current attempt.
    fn decide(
        &mut self,
        policy: &Policy,
        outcome: &Outcome,
        error: Option<&BoxError>,
        not_resendable: Option<GiveUpReason>,
    ) -> Next {
        let attempt = self.attempt;
        if let Some(reason) = not_resendable {
            return Next::GiveUp(reason);
        }
        let mut random = self
            .waits
            .as_mut()
            .and_then(|waits| waits.as_mut().project().random.take());
        if attempt >= policy.max_attempts {
            return Next::GiveUp(GiveUpReason::AttemptsExhausted);
        }
        let mut circuit = None;
        let (delay, server_hint, late_reason) = match circuit_rejection(error) {
            // Forced open: only an operator ends it, so there is nothing to wait for.
            Some(Rejection { wait: None, .. }) => return Next::GiveUp(GiveUpReason::CircuitOpen),
            // Probes under way (every slot taken, or another instance probing): they usually
            // finish long before the breaker's limit, so look again after this retry's backoff.
            Some(Rejection {
                wait: Some(wait),
                probes_busy: true,
                ..
            }) => (
                self.backoff_delay(policy, &mut random).min(wait),
                false,
                GiveUpReason::CircuitOpen,
            ),
            Some(Rejection {
                wait: Some(wait), ..
            }) if wait > policy.max_retry_after => {
                return Next::GiveUp(GiveUpReason::CircuitOpen);
            }
            Some(Rejection {
                wait: Some(wait),
                circuit: rejecting,
                ..
            }) => {
                circuit = rejecting;
                (wait, true, GiveUpReason::CircuitOpen)
            }
            None => match outcome.retry_after() {
                Some(hint) if hint > policy.max_retry_after => {
                    return Next::GiveUp(GiveUpReason::RetryAfterTooLong);
                }
                Some(hint) => (hint, true, GiveUpReason::DeadlineExceeded),
                None => (
                    self.backoff_delay(policy, &mut random),
                    false,
                    GiveUpReason::DeadlineExceeded,
                ),
            },
        };
        if let Some(deadline) = self.deadline {
            // A wait that cannot even be represented as an instant ends after any deadline.
            if Instant::now()
                .checked_add(delay)
                .is_none_or(|resume| resume > deadline)
            {
                return Next::GiveUp(late_reason);
            }
        }
        if let Some(budget) = &policy.budget {
            if !budget.try_withdraw() {
                return Next::GiveUp(GiveUpReason::BudgetExhausted);
            }
        }
        Next::RetryAfter(delay, server_hint, circuit, random)
    }

    /// The backoff's delay before the next attempt, drawing on this call's random source
    /// (made on the first computed delay only, so calls that need no retry draw nothing).
    fn backoff_delay(
        &self,
        policy: &Policy,
        random: &mut Option<crate::random::CallRandom>,
    ) -> Duration {
        let previous = self
            .waits
            .as_ref()
            .map_or(Duration::ZERO, |waits| waits.previous_delay);
        let random = random.get_or_insert_with(|| policy.random.source());
        policy.backoff.delay(self.attempt, previous, random)
    }

    /// Starts waiting `delay` before the next attempt, reusing the allocation of an earlier
    /// wait of the call.
    fn wait(
        &mut self,
        delay: Duration,
        circuit: Option<CircuitRef>,
        random: Option<crate::random::CallRandom>,
    ) {
        let waits = Waits {
            sleep: tokio::time::sleep(delay),
            circuit,
            previous_delay: delay,
            random,
        };
        match &mut self.waits {
            Some(earlier) => earlier.as_mut().set(waits),
            None => self.waits = Some(Box::pin(waits)),
        }
    }
}

/// An inner circuit breaker's rejection of an attempt.
struct Rejection {
    /// Time until a call may be admitted; `None` when only an operator can end it.
    wait: Option<Duration>,
    /// Probes under way: admission may come at any moment before `wait`.
    probes_busy: bool,
    /// The circuit whose open period to end once `wait` has passed: after waiting for its next
    /// probe, the retry asks it to end the period if due (what [`CircuitOpen::recheck`] does)
    /// rather than race the circuit's own timer, due at the same instant.
    circuit: Option<CircuitRef>,
}

/// The rejection, if the error is an inner circuit breaker's, found anywhere in the error's
/// `source()` chain.
fn circuit_rejection(error: Option<&BoxError>) -> Option<Rejection> {
    let open = CircuitOpen::find(error?.as_ref())?;
    let probes_busy = open.awaits_probe();
    Some(Rejection {
        wait: open.retry_after(),
        probes_busy,
        circuit: (!probes_busy).then(|| open.circuit().clone()),
    })
}

/// Returned only if a retry was scheduled without a request to send, which `decide` prevents.
#[derive(Debug)]
struct RetryExhausted(GiveUpReason);

impl fmt::Display for RetryExhausted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "no request left to retry with ({})", self.0)
    }
}

impl std::error::Error for RetryExhausted {}
