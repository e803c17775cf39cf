//! Calls made the way users make them, timed in interleaved rounds.
//!
//! Every call is `ServiceExt::ready().await` then `call(..).await`, driven to completion on a
//! Tokio runtime: a future that returns `Pending` is polled again when woken, as in a server,
//! and its cost is counted. Each contender wraps [`inner`], a `service_fn` over a function
//! pointer hidden from the optimizer, as any real client is opaque to the code around it.
//!
//! Contenders are measured in rounds: every round times each contender once, so a slow
//! moment of the machine falls on all of them rather than on one. A figure is the median of
//! the rounds, with the lowest and highest beside it; an overhead or a ratio is computed within
//! each round first, then its median taken.

use std::future::{poll_fn, Future, Ready};
use std::pin::pin;

use std::time::{Duration, Instant};
use tokio::runtime::Runtime;
use tower::util::ServiceFn;
use tower::{Service, ServiceExt};

/// The failure the inner service returns when asked to.
#[derive(Debug, Clone, Copy)]
pub struct Failed;

impl std::fmt::Display for Failed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("failed")
    }
}

impl std::error::Error for Failed {}

/// The signature of the inner service's function.
pub type InnerFn = fn(u64) -> Ready<Result<u64, Failed>>;

/// The service every contender wraps: answers at once, through a function pointer.
pub type Inner = ServiceFn<InnerFn>;

fn answer(n: u64) -> Ready<Result<u64, Failed>> {
    std::future::ready(Ok(n))
}

fn refuse(_: u64) -> Ready<Result<u64, Failed>> {
    std::future::ready(Err(Failed))
}

/// One call in this many fails, for [`inner_failing_now_and_then`].
pub const FAILS_ONE_IN: u64 = 64;

fn answer_mostly(n: u64) -> Ready<Result<u64, Failed>> {
    std::future::ready(if n.is_multiple_of(FAILS_ONE_IN) {
        Err(Failed)
    } else {
        Ok(n)
    })
}

/// The inner service, failing one call in [`FAILS_ONE_IN`] (those whose request is a multiple
/// of it): a failure-rate breaker's window then holds failures, as a real one mostly does, but
/// never enough to trip.
pub fn inner_failing_now_and_then() -> Inner {
    let f: InnerFn = answer_mostly;
    tower::service_fn(std::hint::black_box(f))
}

/// The inner service, succeeding or failing every call. The function pointer passes through
/// `black_box`, so the optimizer cannot inline it into the contender around it.
pub fn inner(fail: bool) -> Inner {
    let f: InnerFn = if fail { refuse } else { answer };
    tower::service_fn(std::hint::black_box(f))
}

/// What a run of calls came to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// Calls whose response was `Ok`.
    pub ok: u64,
    /// Calls whose response was `Err`, or whose service was not ready.
    pub err: u64,
    /// Polls of `ready()` or `call()` futures that returned `Pending` (counted only by
    /// [`check`]).
    pub pending: u64,
}

impl Tally {
    /// Calls completed, either way.
    pub fn completed(&self) -> u64 {
        self.ok + self.err
    }
}

/// Makes `calls` calls on `svc` exactly as a user would, one after another.
pub async fn drive<S: Service<u64>>(svc: &mut S, calls: u64) -> Tally {
    let mut tally = Tally::default();
    for i in 0..calls {
        match svc.ready().await {
            Ok(ready) => match ready.call(std::hint::black_box(i)).await {
                Ok(response) => {
                    std::hint::black_box(response);
                    tally.ok += 1;
                }
                Err(_) => tally.err += 1,
            },
            Err(_) => tally.err += 1,
        }
    }
    tally
}

/// Polls `future` to completion, counting the polls that returned `Pending`.
async fn counting<F: Future>(future: F, pending: &mut u64) -> F::Output {
    let mut future = pin!(future);
    poll_fn(|cx| {
        let poll = future.as_mut().poll(cx);
        if poll.is_pending() {
            *pending += 1;
        }
        poll
    })
    .await
}

/// Like [`drive`], untimed, counting every `Pending` poll: what a contender's calls do beyond
/// completing at once.
pub async fn check<S: Service<u64>>(svc: &mut S, calls: u64) -> Tally {
    let mut tally = Tally::default();
    for i in 0..calls {
        let mut pending = 0;
        match counting(svc.ready(), &mut pending).await {
            Ok(ready) => match counting(ready.call(i), &mut pending).await {
                Ok(_) => tally.ok += 1,
                Err(_) => tally.err += 1,
            },
            Err(_) => tally.err += 1,
        }
        tally.pending += pending;
    }
    tally
}

/// One timed run: how long `calls` calls took and what they came to.
pub type Run = (Duration, Tally);

/// A contender: a name, and a way to time a run of calls.
pub struct Contender<'a> {
    /// As printed.
    pub name: String,
    run: Box<dyn FnMut(u64) -> Run + 'a>,
    /// What an untimed run of [`CHECKED_CALLS`] calls came to.
    pub checked: Tally,
    /// Calls per timed run and task, chosen so one run lasts about [`Rounds::target`].
    calls: u64,
    /// Tasks making calls at once.
    tasks: u64,
    /// ns per call, one per round.
    samples: Vec<f64>,
}

/// Calls of the untimed run that checks a contender completes its calls.
pub const CHECKED_CALLS: u64 = 10_000;

impl<'a> Contender<'a> {
    /// `svc` called by one task on the current-thread runtime `runtime`.
    pub fn one_task<S>(name: impl Into<String>, runtime: &'a Runtime, mut svc: S) -> Self
    where
        S: Service<u64> + 'a,
    {
        let checked = runtime.block_on(check(&mut svc, CHECKED_CALLS));
        Contender::new(
            name,
            checked,
            1,
            Box::new(move |calls| {
                runtime.block_on(async {
                    let started = Instant::now();
                    let tally = drive(&mut svc, calls).await;
                    (started.elapsed(), tally)
                })
            }),
        )
    }

    /// Two tasks on the multi-thread runtime `runtime`, each calling its own clone of `svc`
    /// (so both share what `svc` shares, such as one breaker); a run's time is the wall-clock
    /// time until both finished `calls` calls each.
    pub fn two_tasks<S>(name: impl Into<String>, runtime: &'a Runtime, svc: S) -> Self
    where
        S: Service<u64> + Clone + Send + 'static,
        S::Future: Send,
        S::Error: Send,
        S::Response: Send,
    {
        let checked = runtime.block_on(check(&mut svc.clone(), CHECKED_CALLS));
        Contender::new(
            name,
            checked,
            2,
            Box::new(move |calls| {
                let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(3));
                let tasks: Vec<_> = (0..2)
                    .map(|_| {
                        let mut svc = svc.clone();
                        let barrier = barrier.clone();
                        runtime.spawn(async move {
                            barrier.wait().await;
                            drive(&mut svc, calls).await
                        })
                    })
                    .collect();
                runtime.block_on(async {
                    barrier.wait().await;
                    let started = Instant::now();
                    let mut tally = Tally::default();
                    for task in tasks {
                        let t = task.await.expect("a benchmark task");
                        tally.ok += t.ok;
                        tally.err += t.err;
                    }
                    (started.elapsed(), tally)
                })
            }),
        )
    }

    fn new(
        name: impl Into<String>,
        checked: Tally,
        tasks: u64,
        run: Box<dyn FnMut(u64) -> Run + 'a>,
    ) -> Self {
        let name = name.into();
        assert_eq!(
            checked.completed(),
            CHECKED_CALLS,
            "{name}: every call of the check run completes"
        );
        Contender {
            name,
            run,
            checked,
            calls: 0,
            tasks,
            samples: Vec::new(),
        }
    }

    /// The median ns per call over the rounds.
    pub fn median(&self) -> f64 {
        median(&self.samples)
    }

    /// The lowest and highest ns per call of the rounds.
    pub fn spread(&self) -> (f64, f64) {
        let lowest = self.samples.iter().copied().fold(f64::INFINITY, f64::min);
        let highest = self.samples.iter().copied().fold(0.0, f64::max);
        (lowest, highest)
    }

    /// The ns per call of each round.
    pub fn samples(&self) -> &[f64] {
        &self.samples
    }
}

/// The median of `values` (the mean of the middle two for an even count).
pub fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

/// How many rounds to run and how long each contender's run in a round should last.
#[derive(Clone, Copy, Debug)]
pub struct Rounds {
    /// Rounds (each times every contender once).
    pub rounds: usize,
    /// About how long one contender's run lasts.
    pub target: Duration,
}

impl Rounds {
    /// From the environment: `FUSEBOX_BENCH_ROUNDS` (default 7) and `FUSEBOX_BENCH_MS` (default
    /// 150).
    pub fn from_env() -> Rounds {
        let read = |name: &str, default: u64| {
            std::env::var(name)
                .ok()
                .and_then(|v| v.parse::<u64>().ok())
                .filter(|&v| v > 0)
                .unwrap_or(default)
        };
        Rounds {
            rounds: usize::try_from(read("FUSEBOX_BENCH_ROUNDS", 7)).unwrap_or(7),
            target: Duration::from_millis(read("FUSEBOX_BENCH_MS", 150)),
        }
    }

    /// Prints what a run is made of, as the first line of a benchmark's output.
    pub fn announce(&self) {
        println!(
            "{} rounds, about {} ms per contender per round",
            self.rounds,
            self.target.as_millis()
        );
    }

    /// Times every contender once per round. Every timed call must complete: a run whose
    /// calls did not all complete stops the benchmark.
    pub fn run(&self, contenders: &mut [Contender<'_>]) {
        for c in contenders.iter_mut() {
            let (took, _) = (c.run)(CHECKED_CALLS);
            let per_call = took.as_secs_f64() / CHECKED_CALLS as f64;
            let calls = (self.target.as_secs_f64() / per_call.max(1e-10)) as u64;
            c.calls = calls.clamp(CHECKED_CALLS, 50_000_000);
        }
        for _ in 0..self.rounds {
            for c in contenders.iter_mut() {
                let (took, tally) = (c.run)(c.calls);
                assert_eq!(
                    tally.completed(),
                    c.tasks * c.calls,
                    "{}: every timed call completes",
                    c.name
                );
                c.samples.push(took.as_nanos() as f64 / c.calls as f64);
            }
        }
    }
}

/// The median over the rounds of `of(contender's ns, baseline's ns)`, taken round by round.
pub fn per_round(a: &Contender<'_>, b: &Contender<'_>, of: impl Fn(f64, f64) -> f64) -> f64 {
    let values: Vec<f64> = a
        .samples
        .iter()
        .zip(&b.samples)
        .map(|(&x, &y)| of(x, y))
        .collect();
    median(&values)
}

/// Prints a section as a Markdown table: ns per call (median, lowest–highest), the overhead
/// over `baseline` (median of the rounds' differences), and what the check run saw.
pub fn print_table(title: &str, baseline: &Contender<'_>, rows: &[&Contender<'_>]) {
    println!("\n### {title}\n");
    println!("| contender | ns per call (median) | lowest–highest | + ns over {} | `Pending` polls per call |", baseline.name);
    println!("|---|---:|---:|---:|---:|");
    for c in rows {
        let (lo, hi) = c.spread();
        println!(
            "| {} | {:.1} | {:.1}–{:.1} | {:+.1} | {:.2} |",
            c.name,
            c.median(),
            lo,
            hi,
            per_round(c, baseline, |x, y| x - y),
            c.checked.pending as f64 / CHECKED_CALLS as f64,
        );
    }
}

/// The median over the rounds of `(a − base) / (b − base)`: how `a`'s overhead compares with
/// `b`'s, round by round.
pub fn overhead_ratio(a: &Contender<'_>, b: &Contender<'_>, base: &Contender<'_>) -> f64 {
    let values: Vec<f64> = a
        .samples
        .iter()
        .zip(&b.samples)
        .zip(&base.samples)
        .map(|((&x, &y), &z)| (x - z) / (y - z))
        .collect();
    median(&values)
}

/// Like [`overhead_ratio`], against the lowest overhead of `peers` in each round.
pub fn overhead_ratio_to_best(
    a: &Contender<'_>,
    peers: &[&Contender<'_>],
    base: &Contender<'_>,
) -> f64 {
    let values: Vec<f64> = (0..a.samples.len())
        .map(|round| {
            let best = peers
                .iter()
                .map(|p| p.samples[round] - base.samples[round])
                .fold(f64::INFINITY, f64::min);
            (a.samples[round] - base.samples[round]) / best
        })
        .collect();
    median(&values)
}

/// Prints one target line: `what`, the measured ratio, the limit, and whether it is met.
pub fn print_target(what: &str, ratio: f64, limit: f64) {
    let verdict = if ratio <= limit { "met" } else { "not met" };
    println!("| {what} | {ratio:.2} | ≤ {limit:.2} | {verdict} |");
}

/// Whether cargo runs this bench target only to check it builds (`cargo test --benches`).
pub fn only_checking_build() -> bool {
    std::env::args().any(|a| a == "--test" || a == "--list")
}

/// A current-thread runtime with time enabled.
pub fn current_thread() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread runtime")
}

/// A multi-thread runtime with two workers and time enabled.
pub fn two_workers() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a two-worker runtime")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_median_of_an_even_count_is_the_mean_of_the_middle_two() {
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), 2.5);
        assert_eq!(median(&[5.0, 1.0, 3.0]), 3.0);
        assert!(median(&[]).is_nan());
    }

    #[test]
    fn a_pending_call_is_counted_and_still_completes() {
        let runtime = current_thread();
        // A service whose call yields once before answering.
        let mut svc = tower::service_fn(|n: u64| async move {
            tokio::task::yield_now().await;
            Ok::<_, Failed>(n)
        });
        let tally = runtime.block_on(check(&mut svc, 5));
        assert_eq!(
            tally,
            Tally {
                ok: 5,
                err: 0,
                pending: 5
            }
        );
        let mut failing = inner(true);
        let tally = runtime.block_on(drive(&mut failing, 3));
        assert_eq!(
            tally,
            Tally {
                ok: 0,
                err: 3,
                pending: 0
            }
        );
    }

    #[test]
    fn two_tasks_make_twice_the_calls() {
        let runtime = two_workers();
        let mut c = Contender::two_tasks("bare", &runtime, inner(false));
        let (_, tally) = (c.run)(100);
        assert_eq!(tally.ok, 200);
    }
}
