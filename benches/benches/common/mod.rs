//! Contenders shared by the benchmarks: the same bare service, wrapped by fusebox and by the
//! breakers a user would otherwise pick, each adapted to `tower::Service` the way a user would.

#![allow(dead_code, unreachable_pub, missing_docs)]

use failsafe::futures::CircuitBreaker as _;
use fusebox::breaker::{Breaker, CircuitBreaker, CircuitBreakerLayer};
use std::future::{ready, Future, Ready};
use std::pin::{pin, Pin};
use std::task::{Context, Poll, Waker};
use std::time::Duration;
use tower::{Layer, Service};

/// The failure the bare service returns when asked to.
#[derive(Debug, Clone, Copy)]
pub struct Failed;

impl std::fmt::Display for Failed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("failed")
    }
}

impl std::error::Error for Failed {}

/// A ready service: answers at once, failing when built to fail.
#[derive(Debug, Clone, Copy)]
pub struct Bare {
    pub fail: bool,
}

impl Service<u64> for Bare {
    type Response = u64;
    type Error = Failed;
    type Future = Ready<Result<u64, Failed>>;

    #[inline]
    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Failed>> {
        Poll::Ready(Ok(()))
    }

    #[inline]
    fn call(&mut self, n: u64) -> Self::Future {
        ready(if self.fail { Err(Failed) } else { Ok(n) })
    }
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

pub type TowerResilience = tower_resilience_circuitbreaker::CircuitBreaker<
    Bare,
    tower_resilience_circuitbreaker::DefaultClassifier,
>;

pub const OPEN_FOR: Duration = Duration::from_secs(3600);

/// A consecutive-failure breaker; `process_lifetime` builds it with `build_static`.
pub fn fusebox_breaker(process_lifetime: bool) -> Breaker {
    let builder = Breaker::builder("bench")
        .consecutive_failures(5)
        .open_duration(OPEN_FOR);
    if process_lifetime {
        builder.build_static().expect("valid breaker")
    } else {
        builder.build().expect("valid breaker")
    }
}

pub fn fusebox_window(size: u32) -> Breaker {
    Breaker::builder("bench")
        .failure_rate(0.5)
        .count_window(size)
        .min_calls(size.min(10))
        .open_duration(OPEN_FOR)
        .build_static()
        .expect("valid breaker")
}

pub fn fusebox(breaker: Breaker, fail: bool) -> CircuitBreaker<Bare> {
    CircuitBreakerLayer::new(breaker).layer(Bare { fail })
}

pub type FailsafePolicy =
    failsafe::failure_policy::ConsecutiveFailures<std::iter::Repeat<Duration>>;

pub fn failsafe(fail: bool) -> Failsafe<Bare, FailsafePolicy> {
    let policy =
        failsafe::failure_policy::consecutive_failures(5, failsafe::backoff::constant(OPEN_FOR));
    Failsafe {
        inner: Bare { fail },
        breaker: failsafe::Config::new().failure_policy(policy).build(),
    }
}

pub fn recloser(fail: bool) -> Reclosed<Bare> {
    let r = recloser::Recloser::custom()
        .error_rate(0.5)
        .closed_len(100)
        .open_wait(OPEN_FOR)
        .build();
    Reclosed {
        inner: Bare { fail },
        breaker: std::sync::Arc::new(recloser::AsyncRecloser::from(r)),
    }
}

pub fn tower_resilience(fail: bool) -> TowerResilience {
    tower_resilience_circuitbreaker::CircuitBreakerLayer::builder()
        .consecutive_failures(5)
        .wait_duration_in_open(OPEN_FOR)
        .build()
        .expect("valid breaker")
        .layer(Bare { fail })
}

/// Polls `calls` calls to completion on this thread; returns how many succeeded.
#[inline(never)]
pub fn drive<S: Service<u64>>(svc: &mut S, calls: u64) -> u64 {
    let mut cx = Context::from_waker(Waker::noop());
    let mut ok = 0;
    for i in 0..calls {
        if let Poll::Ready(Ok(())) = svc.poll_ready(&mut cx) {
            let fut = pin!(svc.call(std::hint::black_box(i)));
            if let Poll::Ready(Ok(_)) = fut.poll(&mut cx) {
                ok += 1;
            }
        }
    }
    ok
}

/// Drives calls until the breaker rejects them (failing calls trip it).
pub fn trip<S: Service<u64>>(svc: &mut S) {
    drive(svc, 200);
}

pub type BoxedFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// `cargo test` runs bench targets with `--test` only to check they build; measure nothing then.
pub fn only_checking_build() -> bool {
    std::env::args().any(|a| a == "--test" || a == "--list")
}

/// The single-thread runtime the one-task measurements run in (tower-resilience needs one).
pub fn current_thread_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
}

/// Every contender, tripped open: each call is rejected.
pub struct Tripped {
    pub fusebox_static: CircuitBreaker<Bare>,
    pub fusebox_counted: CircuitBreaker<Bare>,
    pub failsafe: Failsafe<Bare, FailsafePolicy>,
    pub recloser: Reclosed<Bare>,
    pub tower_resilience: TowerResilience,
}

impl Tripped {
    pub fn new(runtime: &tokio::runtime::Runtime) -> Tripped {
        let mut t = Tripped {
            fusebox_static: fusebox(fusebox_breaker(true), true),
            fusebox_counted: fusebox(fusebox_breaker(false), true),
            failsafe: failsafe(true),
            recloser: recloser(true),
            tower_resilience: tower_resilience(true),
        };
        trip(&mut t.fusebox_static);
        trip(&mut t.fusebox_counted);
        trip(&mut t.failsafe);
        trip(&mut t.recloser);
        runtime.block_on(async { trip(&mut t.tower_resilience) });
        assert!(
            t.fusebox_static.breaker().state().may_reject(),
            "fusebox tripped"
        );
        t
    }
}

/// Runs `run(calls)` `runs` times and returns the median nanoseconds per call.
pub fn median_ns_per_call(runs: usize, calls: u64, mut run: impl FnMut(u64)) -> f64 {
    let mut samples: Vec<f64> = (0..runs)
        .map(|_| {
            let t = std::time::Instant::now();
            run(calls);
            t.elapsed().as_nanos() as f64 / calls as f64
        })
        .collect();
    samples.sort_by(|a, b| a.total_cmp(b));
    samples[runs / 2]
}
