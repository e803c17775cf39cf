//! fusebox and the libraries a user would otherwise pick, each around [`Inner`] and adapted to
//! `tower::Service` the way a user would adapt it.

use crate::harness::{inner, Inner};
use failsafe::futures::CircuitBreaker as _;
use fusebox::breaker::{
    key_fn, Breaker, CircuitBreaker, CircuitBreakerLayer, KeyExtractor, KeyFn, KeyedCircuitBreaker,
    KeyedCircuitBreakerLayer,
};
use fusebox::retry::{Retry, RetryBudget, RetryLayer};
use std::borrow::Cow;
use std::future::{Future, Ready};
use std::task::{Context, Poll};
use std::time::Duration;
use tower::{Layer, Service};

/// How long a tripped breaker stays open: longer than any benchmark.
pub const OPEN_FOR: Duration = Duration::from_secs(3600);

/// Failures in a row that trip the consecutive-failure contenders.
pub const CONSECUTIVE: u32 = 5;

/// A fusebox breaker with the default handle (`build()`) or one for the process
/// (`build_static()`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Handle {
    /// `build()`, reference-counted: the default.
    Counted,
    /// `build_static()`.
    Static,
}

fn finish(builder: fusebox::breaker::BreakerBuilder, handle: Handle) -> Breaker {
    match handle {
        Handle::Counted => builder.build(),
        Handle::Static => builder.build_static(),
    }
    .expect("valid breaker")
}

/// A consecutive-failure breaker.
pub fn consecutive(handle: Handle) -> Breaker {
    finish(
        Breaker::builder("bench")
            .consecutive_failures(CONSECUTIVE)
            .open_duration(OPEN_FOR),
        handle,
    )
}

/// A failure-rate breaker over a count window of `size` calls.
pub fn count_window(size: u32, handle: Handle) -> Breaker {
    finish(
        Breaker::builder("bench")
            .failure_rate(0.5)
            .count_window(size)
            .min_calls(size.min(10))
            .open_duration(OPEN_FOR),
        handle,
    )
}

/// A failure-rate breaker over a time window of `length` in 10 buckets.
pub fn time_window(length: Duration, handle: Handle) -> Breaker {
    finish(
        Breaker::builder("bench")
            .failure_rate(0.5)
            .time_window(length, 10)
            .min_calls(10)
            .open_duration(OPEN_FOR),
        handle,
    )
}

/// `breaker` with one event listener that does nothing, subscribed for the life of the
/// breaker: every call then builds an event and delivers it.
pub fn listened(breaker: Breaker) -> Breaker {
    breaker
        .subscribe(|event: &fusebox::core::Event<'_>| {
            std::hint::black_box(event);
        })
        .detach();
    breaker
}

/// `breaker` around the inner service.
pub fn fusebox(breaker: Breaker, fail: bool) -> CircuitBreaker<Inner> {
    fusebox_around(breaker, inner(fail))
}

/// fusebox's breaker around `inner`.
pub fn fusebox_around(breaker: Breaker, inner: Inner) -> CircuitBreaker<Inner> {
    CircuitBreakerLayer::new(breaker).layer(inner)
}

/// 1,000 tenant names, each made once for the life of the process.
pub fn tenants() -> &'static [&'static str] {
    static TENANTS: std::sync::OnceLock<Vec<&'static str>> = std::sync::OnceLock::new();
    TENANTS.get_or_init(|| {
        (0..1_000)
            .map(|i| &*Box::leak(format!("tenant-{i}").into_boxed_str()))
            .collect()
    })
}

/// The request's tenant, borrowed from [`tenants`]: requests `0..n` cycle through `n` of them.
#[derive(Clone, Copy, Debug)]
pub struct Tenant {
    /// Tenants in turn.
    pub of: usize,
}

impl KeyExtractor<u64> for Tenant {
    fn extract<'r>(&self, request: &'r u64) -> Option<Cow<'r, str>> {
        let i = usize::try_from(*request).unwrap_or(0) % self.of;
        Some(Cow::Borrowed(tenants()[i]))
    }
}

/// A keyed consecutive-failure breaker around the inner service, keyed by `keys`.
pub fn keyed<K: KeyExtractor<u64> + Clone>(keys: K) -> KeyedCircuitBreaker<Inner, K> {
    let set = Breaker::builder("bench")
        .consecutive_failures(CONSECUTIVE)
        .open_duration(OPEN_FOR)
        .keyed()
        .max_keys(10_000)
        .build()
        .expect("valid set");
    KeyedCircuitBreakerLayer::new(set, keys).layer(inner(false))
}

/// The closure a user writes for a key: its `String` is made on every call.
pub fn closure_key(of: usize) -> impl Fn(&u64) -> Option<String> + Clone {
    move |request: &u64| {
        let i = usize::try_from(*request).unwrap_or(0) % of;
        Some(tenants()[i].to_owned())
    }
}

/// The closure a user writes with [`key_fn`]: it borrows the key, so nothing is allocated.
pub fn borrowing_closure_key(
    of: usize,
) -> KeyFn<impl for<'r> Fn(&'r u64) -> Option<&'r str> + Clone> {
    key_fn(move |request: &u64| {
        let i = usize::try_from(*request).unwrap_or(0) % of;
        Some(tenants()[i])
    })
}

/// fusebox's retry, 3 attempts, around `svc`.
pub fn retry<S>(handle: Handle, budget: bool, svc: S) -> Retry<S> {
    let builder = RetryLayer::builder("bench").max_attempts(3);
    let builder = if budget {
        builder.budget(RetryBudget::builder().build().expect("valid budget"))
    } else {
        builder
    };
    match handle {
        Handle::Counted => builder.build(),
        Handle::Static => builder.build_static(),
    }
    .expect("valid retry")
    .layer(svc)
}

/// tower's own retry policy for the comparison: as many more attempts after a failure as it holds,
/// the request copied for each (as tower's documentation writes it).
#[derive(Clone, Copy, Debug)]
pub struct Attempts(pub u32);

impl<E> tower::retry::Policy<u64, u64, E> for Attempts {
    type Future = Ready<()>;

    fn retry(&mut self, _: &mut u64, result: &mut Result<u64, E>) -> Option<Self::Future> {
        if result.is_err() && self.0 > 0 {
            self.0 -= 1;
            Some(std::future::ready(()))
        } else {
            None
        }
    }

    fn clone_request(&mut self, request: &u64) -> Option<u64> {
        Some(*request)
    }
}

/// tower's `Retry` with [`Attempts`]`(2)`: three attempts in all.
pub fn tower_retry<S>(svc: S) -> tower::retry::Retry<Attempts, S> {
    tower::retry::RetryLayer::new(Attempts(2)).layer(svc)
}

/// failsafe around a tower service.
pub struct Failsafe<S, P> {
    inner: S,
    breaker: failsafe::StateMachine<P, ()>,
}

impl<S: Clone, P> Clone for Failsafe<S, P> {
    fn clone(&self) -> Self {
        Failsafe {
            inner: self.inner.clone(),
            breaker: self.breaker.clone(),
        }
    }
}

impl<S, P> Service<u64> for Failsafe<S, P>
where
    S: Service<u64>,
    S::Future: Future<Output = Result<S::Response, S::Error>>,
    P: failsafe::failure_policy::FailurePolicy + Send + Sync,
{
    type Response = S::Response;
    type Error = failsafe::Error<S::Error>;
    type Future = failsafe::futures::ResponseFuture<S::Future, P, (), failsafe::Any>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(failsafe::Error::Inner)
    }

    fn call(&mut self, n: u64) -> Self::Future {
        self.breaker.call(self.inner.call(n))
    }
}

/// failsafe's consecutive-failure policy.
pub type FailsafePolicy =
    failsafe::failure_policy::ConsecutiveFailures<std::iter::Repeat<Duration>>;

/// failsafe 1.3, consecutive failures, around the inner service.
pub fn failsafe(fail: bool) -> Failsafe<Inner, FailsafePolicy> {
    let policy = failsafe::failure_policy::consecutive_failures(
        CONSECUTIVE,
        failsafe::backoff::constant(OPEN_FOR),
    );
    Failsafe {
        inner: inner(fail),
        breaker: failsafe::Config::new().failure_policy(policy).build(),
    }
}

/// recloser around a tower service.
#[derive(Clone)]
pub struct Reclosed<S> {
    inner: S,
    breaker: std::sync::Arc<recloser::AsyncRecloser>,
}

impl<S> Service<u64> for Reclosed<S>
where
    S: Service<u64>,
{
    type Response = S::Response;
    type Error = recloser::Error<S::Error>;
    type Future = recloser::RecloserFuture<S::Future, recloser::AnyError>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(recloser::Error::Inner)
    }

    fn call(&mut self, n: u64) -> Self::Future {
        self.breaker.call(self.inner.call(n))
    }
}

/// recloser 1.4, failure rate over a ring buffer of `len` calls, around the inner service.
pub fn recloser(len: usize, fail: bool) -> Reclosed<Inner> {
    recloser_around(len, inner(fail))
}

/// recloser's breaker, with a ring buffer of `len` calls, around `inner`.
pub fn recloser_around(len: usize, inner: Inner) -> Reclosed<Inner> {
    let r = recloser::Recloser::custom()
        .error_rate(0.5)
        .closed_len(len)
        .open_wait(OPEN_FOR)
        .build();
    Reclosed {
        inner,
        breaker: std::sync::Arc::new(recloser::AsyncRecloser::from(r)),
    }
}

/// tower-resilience's breaker around the inner service.
pub type TowerResilience = tower_resilience_circuitbreaker::CircuitBreaker<
    Inner,
    tower_resilience_circuitbreaker::DefaultClassifier,
>;

/// tower-resilience 0.14, consecutive failures, around the inner service.
pub fn tower_resilience(fail: bool) -> TowerResilience {
    tower_resilience_circuitbreaker::CircuitBreakerLayer::builder()
        .consecutive_failures(usize::try_from(CONSECUTIVE).expect("small"))
        .wait_duration_in_open(OPEN_FOR)
        .build()
        .expect("valid breaker")
        .layer(inner(fail))
}
