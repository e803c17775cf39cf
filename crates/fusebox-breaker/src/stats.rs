//! Lifetime call counters, striped across cache lines so threads do not fight over one line.

use crossbeam_utils::CachePadded;
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::OnceLock;

#[derive(Debug, Default)]
struct Stripe {
    successes: AtomicU64,
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

#[derive(Debug)]
pub(crate) struct Stats {
    stripes: Box<[CachePadded<Stripe>]>,
}

fn stripe_count() -> usize {
    static COUNT: OnceLock<usize> = OnceLock::new();
    *COUNT.get_or_init(|| {
        std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .next_power_of_two()
            .min(16)
    })
}

thread_local! {
    static THREAD_INDEX: Cell<usize> = const { Cell::new(usize::MAX) };
}

#[inline]
fn thread_index() -> usize {
    THREAD_INDEX.with(|i| {
        let v = i.get();
        if v != usize::MAX {
            return v;
        }
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let v = NEXT.fetch_add(1, Relaxed);
        i.set(v);
        v
    })
}

impl Stats {
    pub(crate) fn new() -> Self {
        Stats {
            stripes: (0..stripe_count())
                .map(|_| CachePadded::default())
                .collect(),
        }
    }

    #[inline]
    fn stripe(&self) -> &Stripe {
        &self.stripes[thread_index() & (self.stripes.len() - 1)]
    }

    #[inline]
    pub(crate) fn success(&self, slow: bool) {
        let s = self.stripe();
        s.successes.fetch_add(1, Relaxed);
        if slow {
            s.slow.fetch_add(1, Relaxed);
        }
    }

    #[inline]
    pub(crate) fn failure(&self, slow: bool) {
        let s = self.stripe();
        s.failures.fetch_add(1, Relaxed);
        if slow {
            s.slow.fetch_add(1, Relaxed);
        }
    }

    #[inline]
    pub(crate) fn ignored(&self) {
        self.stripe().ignored.fetch_add(1, Relaxed);
    }

    #[inline]
    pub(crate) fn rejection(&self) {
        self.stripe().rejections.fetch_add(1, Relaxed);
    }

    pub(crate) fn totals(&self) -> Totals {
        let mut t = Totals::default();
        for s in self.stripes.iter() {
            t.successes += s.successes.load(Relaxed);
            t.failures += s.failures.load(Relaxed);
            t.slow += s.slow.load(Relaxed);
            t.ignored += s.ignored.load(Relaxed);
            t.rejections += s.rejections.load(Relaxed);
        }
        t
    }
}
