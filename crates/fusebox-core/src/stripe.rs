//! Counters that threads bump without atomic read-modify-write instructions, for fusebox's own
//! crates.
//!
//! Every live thread owns an index, unique among live threads and handed back when the thread
//! exits ([`thread_index`]). A striped counter keeps one cache-line-padded stripe per index up
//! to a bound ([`owned_stripes`]); a thread writes only its own stripe, so it adds with a plain
//! load and store (no `lock` prefix, no cache line shared with other writers). Threads past the
//! bound share one more stripe, updated with `fetch_add`. Readers sum all stripes.

use crate::sync::lock;
use crossbeam_utils::CachePadded;
use std::cell::Cell;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Mutex, OnceLock};

/// Stripes a per-thread counter keeps: twice the cores, between 4 and 64.
pub fn owned_stripes() -> usize {
    static COUNT: OnceLock<usize> = OnceLock::new();
    *COUNT.get_or_init(|| stripes_for(std::thread::available_parallelism().map_or(1, |n| n.get())))
}

/// [`owned_stripes`] on a machine of `cores` cores.
fn stripes_for(cores: usize) -> usize {
    cores.saturating_mul(2).clamp(4, 64)
}

static FREE_INDICES: Mutex<BinaryHeap<Reverse<usize>>> = Mutex::new(BinaryHeap::new());
static NEXT_INDEX: AtomicUsize = AtomicUsize::new(0);

/// A thread's index before it claims one, and after it gave it back (past every stripe).
const UNCLAIMED: usize = usize::MAX;

thread_local! {
    // Read on every call: a const initialiser and no destructor make it a plain TLS load.
    static THREAD_INDEX: Cell<usize> = const { Cell::new(UNCLAIMED) };
    // Touched once per thread, only to give the index back when the thread exits.
    static INDEX_RELEASE: IndexRelease = const { IndexRelease };
}

struct IndexRelease;

impl Drop for IndexRelease {
    fn drop(&mut self) {
        let index = THREAD_INDEX.with(|i| i.replace(UNCLAIMED));
        if index != UNCLAIMED {
            lock(&FREE_INDICES).push(Reverse(index));
        }
    }
}

/// This thread's index: unique among live threads, small, and reused after a thread exits. A
/// thread being torn down gets an index past every stripe, so it counts in the shared one.
#[inline]
pub fn thread_index() -> usize {
    let index = THREAD_INDEX.with(Cell::get);
    if index == UNCLAIMED {
        claim_index()
    } else {
        index
    }
}

#[cold]
fn claim_index() -> usize {
    // Without a release guard (thread teardown) the thread counts in the shared stripe.
    if INDEX_RELEASE.try_with(|_| ()).is_err() {
        return UNCLAIMED;
    }
    let reused = lock(&FREE_INDICES).pop().map(|Reverse(i)| i);
    let index = reused.unwrap_or_else(|| NEXT_INDEX.fetch_add(1, Relaxed));
    THREAD_INDEX.with(|i| i.set(index));
    index
}

/// One value per live thread up to [`owned_stripes`] (or none, for the smallest layout), each
/// cache-line padded, and one more that every other thread shares: the layout of every striped
/// counter in fusebox.
#[derive(Debug)]
pub struct Stripes<T> {
    owned: Box<[CachePadded<T>]>,
    overflow: CachePadded<T>,
}

impl<T: Default> Stripes<T> {
    /// `owned` stripes (an empty boxed slice allocates nothing: with 0, every thread uses the
    /// shared one) and the shared stripe, each `T::default()`.
    pub fn new(owned: usize) -> Self {
        Stripes {
            owned: (0..owned).map(|_| CachePadded::default()).collect(),
            overflow: CachePadded::default(),
        }
    }
}

impl<T> Stripes<T> {
    /// This thread's stripe, and whether the thread owns it (only it writes there, so it may
    /// add with a plain load and store) or shares it (add with `fetch_add`).
    #[inline]
    pub fn mine(&self) -> (&T, bool) {
        match self.owned.get(thread_index()) {
            Some(stripe) => (stripe, true),
            None => (&self.overflow, false),
        }
    }

    /// Every stripe, the shared one last.
    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.owned
            .iter()
            .map(|stripe| &**stripe)
            .chain(std::iter::once(&*self.overflow))
    }
}

/// Adds `n` to `counter` of a stripe from [`Stripes::mine`], wrapping: a plain load and store
/// in an `owned` stripe, which only this thread writes, loses nothing; `fetch_add` otherwise.
#[inline]
pub fn add(counter: &AtomicU64, n: u64, owned: bool) {
    if owned {
        counter.store(counter.load(Relaxed).wrapping_add(n), Relaxed);
    } else {
        counter.fetch_add(n, Relaxed);
    }
}

/// One `u64` counter, striped per thread; it wraps on overflow, so readers compare totals with
/// wrapping arithmetic.
#[derive(Debug)]
pub struct StripedCounter(Stripes<AtomicU64>);

impl Default for StripedCounter {
    fn default() -> Self {
        StripedCounter::new()
    }
}

impl StripedCounter {
    /// A counter at zero, with [`owned_stripes`] stripes (128 bytes each).
    pub fn new() -> Self {
        StripedCounter(Stripes::new(owned_stripes()))
    }

    /// Adds `n` (wrapping).
    #[inline]
    pub fn add(&self, n: u64) {
        let (stripe, owned) = self.0.mine();
        add(stripe, n, owned);
    }

    /// The sum of every stripe (wrapping). Read while threads add, it counts every addition
    /// that happened before the read began, and perhaps some made during it.
    pub fn sum(&self) -> u64 {
        self.0
            .iter()
            .fold(0u64, |sum, s| sum.wrapping_add(s.load(Relaxed)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn many_threads_lose_nothing_even_past_the_owned_stripes() {
        let counter = Arc::new(StripedCounter::new());
        let threads = owned_stripes() * 2 + 3;
        // All start together, so their additions overlap: threads sharing a stripe with plain
        // loads and stores would lose some.
        let start = Arc::new(std::sync::Barrier::new(threads));
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                let counter = counter.clone();
                let start = start.clone();
                std::thread::spawn(move || {
                    start.wait();
                    for _ in 0..200_000 {
                        counter.add(3);
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(counter.sum(), threads as u64 * 600_000);
    }

    #[test]
    fn live_threads_have_distinct_indices() {
        let threads = 8;
        let start = std::sync::Barrier::new(threads);
        let done = std::sync::Barrier::new(threads);
        let indices: std::collections::BTreeSet<usize> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..threads)
                .map(|_| {
                    scope.spawn(|| {
                        start.wait();
                        let index = thread_index();
                        // Asked again, the same index.
                        assert_eq!(thread_index(), index);
                        // Nobody exits, and gives its index back, before all have one.
                        done.wait();
                        index
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert_eq!(indices.len(), threads, "{indices:?}");
    }

    #[test]
    fn a_counter_wraps() {
        let counter = StripedCounter::new();
        counter.add(u64::MAX);
        counter.add(2);
        assert_eq!(counter.sum(), 1);
    }

    #[test]
    fn a_counter_keeps_two_stripes_per_core_within_its_bounds() {
        let expected = [
            (1, 4),
            (2, 4),
            (3, 6),
            (16, 32),
            (32, 64),
            (33, 64),
            (usize::MAX, 64),
        ];
        for (cores, stripes) in expected {
            assert_eq!(stripes_for(cores), stripes, "{cores} cores");
        }
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        assert_eq!(owned_stripes(), stripes_for(cores));
    }

    #[test]
    fn exited_threads_give_their_index_back() {
        // A hundred threads one after another: with indices handed back, they keep reusing a
        // few low ones (other tests' threads may hold some meanwhile); without, all differ.
        let indices: std::collections::BTreeSet<usize> = (0..100)
            .map(|_| std::thread::spawn(thread_index).join().unwrap())
            .collect();
        assert!(indices.len() < 50, "{} distinct indices", indices.len());
    }
}
