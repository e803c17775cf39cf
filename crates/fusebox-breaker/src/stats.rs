//! Lifetime call counters that threads update without atomic read-modify-write instructions.
//!
//! Every live thread owns an index, unique among live threads and handed back when the thread
//! exits (`fusebox_core::stripe`). A breaker keeps one cache-line-padded stripe of counters per
//! index up to a bound; a thread writes only its own stripe, so it can bump a counter with a
//! plain load and store (no `lock` prefix, no cache line shared with other writers). Threads
//! past the bound share one more stripe, updated with `fetch_add`. Readers sum all stripes.
//!
//! The per-thread stripes cost 128 bytes per core (up to 64 of them) for each breaker, which is
//! right for a breaker in front of a whole dependency but not for one of a hundred thousand
//! per-tenant breakers: those use [`Layout::Single`], the shared stripe alone.

use fusebox_core::stripe::{self, owned_stripes, Stripes};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

#[derive(Debug, Default)]
struct Stripe {
    /// Successes a slot counted on its own (closed, in the generation that admitted them):
    /// a time window dated by the coarse clock takes its successes from these.
    successes: AtomicU64,
    /// Successes the breaker counted (probes, slow calls, a disabled breaker's, and calls of
    /// an earlier generation).
    owner_successes: AtomicU64,
    failures: AtomicU64,
    slow: AtomicU64,
    ignored: AtomicU64,
    rejections: AtomicU64,
}

/// Sums of the counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Totals {
    pub(crate) successes: u64,
    pub(crate) failures: u64,
    pub(crate) slow: u64,
    pub(crate) ignored: u64,
    pub(crate) rejections: u64,
}

/// Where a breaker's threads count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Layout {
    /// A stripe per thread, bumped without `lock` prefix: fastest under many threads, 128 bytes
    /// per core.
    PerThread,
    /// One shared stripe, bumped with `fetch_add`: the same size on any machine.
    Single,
}

#[derive(Debug)]
pub(crate) struct Stats(Stripes<Stripe>);

#[derive(Clone, Copy)]
enum Counter {
    Successes,
    OwnerSuccesses,
    Failures,
    Slow,
    Ignored,
    Rejections,
}

impl Stripe {
    fn counter(&self, c: Counter) -> &AtomicU64 {
        match c {
            Counter::Successes => &self.successes,
            Counter::OwnerSuccesses => &self.owner_successes,
            Counter::Failures => &self.failures,
            Counter::Slow => &self.slow,
            Counter::Ignored => &self.ignored,
            Counter::Rejections => &self.rejections,
        }
    }
}

impl Stats {
    pub(crate) fn new(layout: Layout) -> Self {
        Stats(Stripes::new(match layout {
            Layout::PerThread => owned_stripes(),
            // No owned stripes: every thread counts in the shared stripe, on the same path as
            // threads past the bound.
            Layout::Single => 0,
        }))
    }

    #[inline]
    fn bump(&self, counter: Counter) {
        let (stripe, owned) = self.0.mine();
        stripe::add(stripe.counter(counter), 1, owned);
    }

    /// A success the slot counted on its own (never slow).
    #[inline]
    pub(crate) fn success(&self) {
        self.bump(Counter::Successes);
    }

    /// A success the breaker counted.
    #[inline]
    pub(crate) fn owner_success(&self, slow: bool) {
        self.bump(Counter::OwnerSuccesses);
        if slow {
            self.bump(Counter::Slow);
        }
    }

    /// The successes the slot counted on its own, so far.
    pub(crate) fn slot_successes(&self) -> u64 {
        self.0
            .iter()
            .fold(0, |sum, s| sum.wrapping_add(s.successes.load(Relaxed)))
    }

    #[inline]
    pub(crate) fn failure(&self, slow: bool) {
        self.bump(Counter::Failures);
        if slow {
            self.bump(Counter::Slow);
        }
    }

    #[inline]
    pub(crate) fn ignored(&self) {
        self.bump(Counter::Ignored);
    }

    #[inline]
    pub(crate) fn rejection(&self) {
        self.bump(Counter::Rejections);
    }

    /// Back to zero, for a slot changing hands (nobody counts in it then).
    pub(crate) fn reset(&self) {
        for s in self.0.iter() {
            for c in [
                &s.successes,
                &s.owner_successes,
                &s.failures,
                &s.slow,
                &s.ignored,
                &s.rejections,
            ] {
                c.store(0, Relaxed);
            }
        }
    }

    pub(crate) fn totals(&self) -> Totals {
        let mut t = Totals::default();
        for s in self.0.iter() {
            t.successes += s.successes.load(Relaxed) + s.owner_successes.load(Relaxed);
            t.failures += s.failures.load(Relaxed);
            t.slow += s.slow.load(Relaxed);
            t.ignored += s.ignored.load(Relaxed);
            t.rejections += s.rejections.load(Relaxed);
        }
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn many_threads_lose_no_counts_even_past_the_owned_stripes() {
        many_threads_lose_no_counts(Layout::PerThread);
    }

    #[test]
    fn many_threads_lose_no_counts_in_one_stripe() {
        let stats = Stats::new(Layout::Single);
        assert_eq!(stats.0.iter().count(), 1, "the shared stripe alone");
        many_threads_lose_no_counts(Layout::Single);
    }

    fn many_threads_lose_no_counts(layout: Layout) {
        let stats = Arc::new(Stats::new(layout));
        let threads = owned_stripes() * 2 + 3;
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                let stats = stats.clone();
                std::thread::spawn(move || {
                    for i in 0..10_000 {
                        if i % 4 == 0 {
                            stats.owner_success(true);
                        } else if i % 2 == 0 {
                            stats.success();
                        } else {
                            stats.failure(false);
                        }
                        stats.rejection();
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        let t = stats.totals();
        let n = threads as u64 * 5_000;
        assert_eq!(t.successes, n);
        assert_eq!(stats.slot_successes(), threads as u64 * 2_500);
        assert_eq!(t.failures, n);
        assert_eq!(t.slow, threads as u64 * 2_500);
        assert_eq!(t.rejections, 2 * n);
    }
}
