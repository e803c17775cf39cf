//! Sliding windows of call outcomes, O(1) per call whatever their size.
//!
//! Both windows keep running totals next to their slots, updated by the same call that changes a
//! slot, so reading the rate never scans the window. Totals are raised before slots and lowered
//! only by what is swapped out of a slot, so they never go below the slots' sum.

use crate::config::WindowKind;
use crate::stats::Stats;
use crate::sync::atomic::{
    AtomicBool, AtomicU64, AtomicU8,
    Ordering::{AcqRel, Acquire, Relaxed},
};
use crossbeam_utils::CachePadded;
use std::time::Duration;

const FAILED: u8 = 0b01;
const SLOW: u8 = 0b10;
const PRESENT: u8 = 0b100;
const LOW: u64 = u32::MAX as u64;

/// Division by a number fixed when a window is made, by multiplication: `⌊2⁶⁴ / d⌋` gives a
/// quotient that is exact or one short, which one comparison corrects. A 64-bit division costs
/// tens of cycles; this, a few.
#[derive(Clone, Copy, Debug)]
struct Divisor {
    d: u64,
    /// `⌊2⁶⁴ / d⌋`; 0 for `d` = 1, whose quotient is the number itself.
    m: u64,
}

impl Divisor {
    fn new(d: u64) -> Self {
        let d = d.max(1);
        let m = if d == 1 {
            0
        } else {
            // 2⁶⁴ / d for d ≥ 2 fits 64 bits.
            u64::try_from((1u128 << 64) / u128::from(d)).unwrap_or(u64::MAX)
        };
        Divisor { d, m }
    }

    /// `n / d`.
    #[inline]
    fn div(self, n: u64) -> u64 {
        if self.m == 0 {
            return n;
        }
        // `n × m / 2⁶⁴` lies in (n / d − 1, n / d]: exact, or one short.
        let q = ((u128::from(n) * u128::from(self.m)) >> 64) as u64;
        if n - q * self.d >= self.d {
            q + 1
        } else {
            q
        }
    }

    /// `n % d`.
    #[inline]
    fn rem(self, n: u64) -> u64 {
        n - self.div(n) * self.d
    }
}

/// When a success happened, as far as a window needs to know.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum When {
    /// In nanoseconds since the owner's epoch (a count window ignores it).
    At(u64),
    /// About then, by the coarse clock: nanoseconds after `clock::base()`. Only a tallied time
    /// window is given these.
    About(u64),
}

/// What a window holds now.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    pub(crate) calls: u64,
    pub(crate) failures: u64,
    pub(crate) slow: u64,
}

#[derive(Debug)]
pub(crate) enum Window {
    Count(CountWindow),
    Time(TimeWindow),
}

impl Window {
    pub(crate) fn new(kind: WindowKind) -> Self {
        match kind {
            WindowKind::Count(n) => Window::Count(CountWindow::new(n)),
            WindowKind::Time { duration, buckets } => {
                Window::Time(TimeWindow::new(duration, buckets))
            }
        }
    }

    /// Records one outcome; `now_nanos` is the time since the breaker's epoch (time windows
    /// only), and `stats` the slot's counters (a tallied time window's successes).
    #[inline]
    pub(crate) fn record(&self, failed: bool, slow: bool, now_nanos: u64, stats: &Stats) -> Counts {
        match self {
            Window::Count(w) => w.record(failed, slow),
            Window::Time(w) => w.record(failed, slow, now_nanos, stats),
        }
    }

    /// Records a success that was not slow, before the slot counts it in `stats`: nothing to
    /// evaluate, as a success never trips.
    #[inline(always)]
    pub(crate) fn record_success(&self, when: When, stats: &Stats) {
        match self {
            Window::Count(w) => {
                w.record(false, false);
            }
            Window::Time(w) => w.record_success(when, stats),
        }
    }

    pub(crate) fn counts(&self, now_nanos: u64, stats: &Stats) -> Counts {
        match self {
            Window::Count(w) => w.counts(),
            Window::Time(w) => w.counts(now_nanos, stats),
        }
    }

    /// Empties the window, which goes on from the same time (a transition).
    pub(crate) fn reset(&self, stats: &Stats) {
        match self {
            Window::Count(w) => w.reset(),
            Window::Time(w) => w.reset(stats),
        }
    }

    /// Empties the window for a new owner, whose times count from its own epoch (`epoch`
    /// nanoseconds after `clock::base()`); a time window is `tallied` if the slot counts its
    /// successes for it.
    pub(crate) fn clear(&self, tallied: bool, epoch: u64, stats: &Stats) {
        match self {
            Window::Count(w) => w.reset(),
            Window::Time(w) => w.clear(tallied, epoch, stats),
        }
    }
}

/// The last `size` outcomes in a ring; totals of failures (low half) and slow calls (high half)
/// packed in one word.
#[derive(Debug)]
pub(crate) struct CountWindow {
    size: u64,
    /// `⌈2⁶⁴ / size⌉`, for taking a 32-bit position modulo `size` with two multiplications
    /// instead of a division (Lemire, Kaser and Kurz, "Faster Remainder by Direct Computation"),
    /// which measured faster here than [`Divisor`] for the count window.
    magic: u64,
    position: CachePadded<AtomicU64>,
    totals: CachePadded<AtomicU64>,
    slots: Box<[AtomicU8]>,
}

impl CountWindow {
    fn new(size: u32) -> Self {
        CountWindow {
            size: u64::from(size),
            magic: (u64::MAX / u64::from(size.max(1))).wrapping_add(1),
            position: CachePadded::new(AtomicU64::new(0)),
            totals: CachePadded::new(AtomicU64::new(0)),
            slots: (0..size).map(|_| AtomicU8::new(0)).collect(),
        }
    }

    /// The counts a slot's `code` adds to the window's totals: failures in the low half, slow
    /// calls in the high half. (Added, not or-ed: the halves never overlap, and a sum is what
    /// the totals take.)
    #[inline]
    fn packed(code: u8) -> u64 {
        u64::from(code & FAILED) + (u64::from((code & SLOW) >> 1) << 32)
    }

    #[inline]
    fn record(&self, failed: bool, slow: bool) -> Counts {
        if !failed && !slow && self.is_full_of_successes() {
            // A full window of successes is the same window one success later: the success
            // takes no position and writes nothing, and nobody evaluates a success.
            return Counts::default();
        }
        let code = PRESENT | if failed { FAILED } else { 0 } | if slow { SLOW } else { 0 };
        let position = self.position.fetch_add(1, Relaxed);
        let slot = &self.slots[self.slot(position)];
        // A slot already holding this outcome (successes after successes, in a healthy
        // service) is left as it is: reading it is what the swap would have returned, and
        // writing the same value changes nothing, so a plain load saves a locked instruction.
        let held = slot.load(Relaxed);
        let old = if held == code {
            held
        } else {
            slot.swap(code, Relaxed)
        };
        let (add, sub) = (Self::packed(code), Self::packed(old));
        // Totals are updated with acquire-release ordering, and the position is read again
        // after them: of two calls recorded at once, the one that updates the totals last
        // sees both calls and both outcomes (with the position it was handed, it could see
        // the other's call but not its failure, and a window that just filled with failures
        // would not trip). On x86 this costs nothing: the updates are locked instructions.
        let totals = if add != sub {
            // Raise first, lower second: the totals never dip below what the slots hold.
            let raised = if add != 0 {
                self.totals.fetch_add(add, AcqRel).wrapping_add(add)
            } else {
                self.totals.load(Acquire)
            };
            if sub != 0 {
                self.totals.fetch_sub(sub, AcqRel).wrapping_sub(sub)
            } else {
                raised
            }
        } else if failed || slow {
            self.totals.load(Acquire)
        } else {
            // A success replacing a success changes no total, and nobody evaluates a success.
            return Counts::default();
        };
        // At least `position + 1`: a load sees this thread's own `fetch_add` or a later one.
        let recorded = self.position.load(Acquire);
        self.decode(recorded, totals)
    }

    /// Whether the window holds `size` outcomes and none failed or was slow: every slot holds
    /// a success, so the order of its slots does not matter. Positions count the calls that
    /// took one, so a failure that comes next leaves after `size` more calls all the same.
    #[inline]
    fn is_full_of_successes(&self) -> bool {
        self.totals.load(Acquire) == 0 && self.position.load(Relaxed) >= self.size
    }

    /// `position % size`: by multiplication while the position fits 32 bits (the first four
    /// billion calls), by division after.
    #[inline]
    fn slot(&self, position: u64) -> usize {
        let index = match u32::try_from(position) {
            Ok(p) => {
                let low = self.magic.wrapping_mul(u64::from(p));
                ((u128::from(low) * u128::from(self.size)) >> 64) as u64
            }
            Err(_) => position % self.size,
        };
        // Below `size`, at most 16,777,216.
        index as usize
    }

    fn decode(&self, recorded: u64, totals: u64) -> Counts {
        let calls = recorded.min(self.size);
        Counts {
            calls,
            failures: (totals & LOW).min(calls),
            slow: (totals >> 32).min(calls),
        }
    }

    fn counts(&self) -> Counts {
        self.decode(self.position.load(Relaxed), self.totals.load(Relaxed))
    }

    fn reset(&self) {
        for slot in self.slots.iter() {
            slot.store(0, Relaxed);
        }
        self.totals.store(0, Relaxed);
        self.position.store(0, Relaxed);
    }
}

#[derive(Debug, Default)]
struct Bucket {
    /// Calls (low half) and failures (high half).
    calls_failures: AtomicU64,
    slow: AtomicU64,
    /// In a tallied window, the slot's tally of its own successes when the bucket began.
    tally: AtomicU64,
}

/// Where a window stands: the newest bucket, and where it ends.
#[derive(Debug, Default)]
struct Head {
    newest: AtomicU64,
    /// In a tallied window, the end of the newest bucket, on the coarse clock's scale
    /// (nanoseconds after `clock::base()`, so a success compares it with the clock as read):
    /// the first success at or past it moves the window on.
    ends: AtomicU64,
    /// The owner's epoch, in nanoseconds after `clock::base()`.
    epoch: AtomicU64,
    /// Whether the window takes its successes from the slot's tally of them
    /// ([`Stats::slot_successes`]) rather than counting them in its buckets.
    tallied: AtomicBool,
}

/// A ring of time buckets. The bucket index is the absolute bucket number since the epoch; the
/// thread that first sees a newer bucket number empties the buckets that fell out of the window
/// and takes their counts off the totals.
///
/// A *tallied* window (successes dated by the coarse clock) counts no success in its buckets:
/// the slot counts them anyway, in its per-thread stripes, and each bucket notes that tally as
/// it begins. The successes in the window are the tally now less the oldest bucket's: a success
/// reads where the newest bucket ends, and writes nothing here but, once per bucket, the start
/// of the next. Reading such a window's counts (a failure's evaluation, the metrics) sums the
/// slot's counters: one load per stripe, up to 65.
#[derive(Debug)]
pub(crate) struct TimeWindow {
    /// A bucket's length in nanoseconds, and the number of buckets, to divide by without a
    /// division.
    bucket_of: Divisor,
    ring_of: Divisor,
    head: CachePadded<Head>,
    calls_failures: CachePadded<AtomicU64>,
    slow: AtomicU64,
    buckets: Box<[Bucket]>,
}

impl TimeWindow {
    fn new(duration: Duration, buckets: u32) -> Self {
        let bucket_nanos = u64::try_from((duration / buckets).as_nanos()).unwrap_or(u64::MAX);
        TimeWindow {
            bucket_of: Divisor::new(bucket_nanos),
            ring_of: Divisor::new(u64::from(buckets)),
            head: CachePadded::new(Head::default()),
            calls_failures: CachePadded::new(AtomicU64::new(0)),
            slow: AtomicU64::new(0),
            buckets: (0..buckets).map(|_| Bucket::default()).collect(),
        }
    }

    /// Makes `index` the newest bucket, if it is newer.
    #[inline]
    fn advance(&self, index: u64, stats: &Stats) {
        let newest = self.head.newest.load(Relaxed);
        if index > newest {
            self.advance_from(newest, index, stats);
        }
    }

    /// Empties the buckets that fall out of the window as `index` becomes the newest.
    #[inline(never)]
    fn advance_from(&self, mut newest: u64, index: u64, stats: &Stats) {
        let len = self.buckets.len() as u64;
        while index > newest {
            match self
                .head
                .newest
                .compare_exchange_weak(newest, index, Relaxed, Relaxed)
            {
                Ok(_) => {
                    let tallied = self.head.tallied.load(Relaxed);
                    let tally = if tallied { stats.slot_successes() } else { 0 };
                    let first = newest + 1 + (index - newest).saturating_sub(len);
                    for expired in first..=index {
                        let bucket = &self.buckets[(expired % len) as usize];
                        bucket.tally.store(tally, Relaxed);
                        let cf = bucket.calls_failures.swap(0, Relaxed);
                        let slow = bucket.slow.swap(0, Relaxed);
                        if cf != 0 {
                            self.calls_failures.fetch_sub(cf, Relaxed);
                        }
                        if slow != 0 {
                            self.slow.fetch_sub(slow, Relaxed);
                        }
                    }
                    if tallied {
                        self.head.ends.fetch_max(self.end_of(index), Relaxed);
                    }
                    return;
                }
                Err(current) => newest = current,
            }
        }
    }

    /// Where bucket `index` ends, on the coarse clock's scale.
    fn end_of(&self, index: u64) -> u64 {
        let since_epoch = index.saturating_add(1).saturating_mul(self.bucket_of.d);
        since_epoch.saturating_add(self.head.epoch.load(Relaxed))
    }

    /// The bucket of `now_nanos`, once the window has moved on to it; `None` for a time so
    /// long ago (a thread descheduled for a whole window) that its bucket now holds a newer
    /// period: left out rather than counted in the wrong one.
    #[inline]
    fn bucket(&self, now_nanos: u64, stats: &Stats) -> Option<&Bucket> {
        let index = self.bucket_of.div(now_nanos);
        self.advance(index, stats);
        if index + (self.buckets.len() as u64) <= self.head.newest.load(Relaxed) {
            return None;
        }
        Some(&self.buckets[self.ring_of.rem(index) as usize])
    }

    /// Records a success that was not slow, before the slot counts it: what
    /// [`TimeWindow::record`] does, without working out counts that nobody evaluates. A tallied
    /// window (given the coarse clock's reading) only moves on if the newest bucket has ended,
    /// so that the success counts in the next.
    #[inline]
    fn record_success(&self, when: When, stats: &Stats) {
        match when {
            When::About(recent) => {
                if recent >= self.head.ends.load(Relaxed) {
                    self.cross(recent, stats);
                }
            }
            When::At(now_nanos) => {
                if let Some(bucket) = self.bucket(now_nanos, stats) {
                    self.calls_failures.fetch_add(1, Relaxed);
                    bucket.calls_failures.fetch_add(1, Relaxed);
                }
            }
        }
    }

    /// A tallied window's success, at `recent` on the coarse clock, found the newest bucket
    /// ended: moves on to its own.
    #[cold]
    #[inline(never)]
    fn cross(&self, recent: u64, stats: &Stats) {
        let now_nanos = recent.saturating_sub(self.head.epoch.load(Relaxed));
        let index = self.bucket_of.div(now_nanos);
        self.advance(index, stats);
        self.head.ends.fetch_max(self.end_of(index), Relaxed);
    }

    #[inline]
    fn record(&self, failed: bool, slow: bool, now_nanos: u64, stats: &Stats) -> Counts {
        let Some(bucket) = self.bucket(now_nanos, stats) else {
            return Counts::default();
        };
        // One call in the low half, a failure in the high half.
        let add = 1 + (u64::from(failed) << 32);
        let cf = self
            .calls_failures
            .fetch_add(add, Relaxed)
            .wrapping_add(add);
        bucket.calls_failures.fetch_add(add, Relaxed);
        let slow_total = if slow {
            let s = self.slow.fetch_add(1, Relaxed) + 1;
            bucket.slow.fetch_add(1, Relaxed);
            s
        } else {
            self.slow.load(Relaxed)
        };
        self.decode(cf, slow_total, stats)
    }

    /// A tallied window's successes since its oldest bucket began; 0 for a window that counts
    /// its successes itself.
    fn tallied_successes(&self, stats: &Stats) -> u64 {
        if !self.head.tallied.load(Relaxed) {
            return 0;
        }
        // The oldest bucket of the window shares its place in the ring with the one after
        // the newest.
        let newest = self.head.newest.load(Relaxed);
        let oldest = &self.buckets[self.ring_of.rem(newest.saturating_add(1)) as usize];
        stats
            .slot_successes()
            .saturating_sub(oldest.tally.load(Relaxed))
    }

    fn decode(&self, cf: u64, slow: u64, stats: &Stats) -> Counts {
        let counted = cf & LOW;
        let calls = counted.saturating_add(self.tallied_successes(stats));
        Counts {
            calls,
            failures: (cf >> 32).min(calls),
            slow: slow.min(calls),
        }
    }

    fn counts(&self, now_nanos: u64, stats: &Stats) -> Counts {
        self.advance(self.bucket_of.div(now_nanos), stats);
        self.decode(
            self.calls_failures.load(Relaxed),
            self.slow.load(Relaxed),
            stats,
        )
    }

    /// Empties the window; a tallied one starts from the slot's tally now.
    fn reset(&self, stats: &Stats) {
        let tally = stats.slot_successes();
        for bucket in self.buckets.iter() {
            bucket.calls_failures.store(0, Relaxed);
            bucket.slow.store(0, Relaxed);
            bucket.tally.store(tally, Relaxed);
        }
        self.calls_failures.store(0, Relaxed);
        self.slow.store(0, Relaxed);
    }

    /// Empties the window for a new owner whose times count from its own epoch, tallied or
    /// not.
    fn clear(&self, tallied: bool, epoch: u64, stats: &Stats) {
        self.head.newest.store(0, Relaxed);
        self.head.ends.store(0, Relaxed);
        self.head.epoch.store(epoch, Relaxed);
        self.head.tallied.store(tallied, Relaxed);
        self.reset(stats);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::Layout;

    #[test]
    fn a_divisor_divides_exactly() {
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut divisors = vec![1, 2, 3, 7, 10, 100, 1_000, 1_000_000, 999_999_937];
        divisors.extend([1 << 32, (1 << 32) + 1, u64::MAX / 3, u64::MAX - 1, u64::MAX]);
        for _ in 0..200 {
            divisors.push(next() >> (next() % 64));
        }
        for d in divisors {
            let div = Divisor::new(d);
            let d = d.max(1);
            let mut numbers = vec![0, 1, d - 1, d, d.saturating_add(1), u64::MAX - 1, u64::MAX];
            numbers.extend([
                d.wrapping_mul(12_345),
                (u64::MAX / d) * d,
                (u64::MAX / d) * d - 1,
            ]);
            for _ in 0..200 {
                numbers.push(next());
                numbers.push(next() >> 32);
            }
            for n in numbers {
                assert_eq!(div.div(n), n / d, "{n} / {d}");
                assert_eq!(div.rem(n), n % d, "{n} % {d}");
            }
        }
    }

    #[test]
    fn a_slot_is_the_position_modulo_the_size() {
        for size in [
            1u32,
            2,
            3,
            7,
            10,
            100,
            1_000,
            65_535,
            160_000,
            crate::config::MAX_COUNT_WINDOW,
        ] {
            let w = CountWindow::new(size);
            let size = u64::from(size);
            let mut positions = vec![0, 1, 2, 99, 100, 101, 65_536, 1 << 31];
            positions.extend([u64::from(u32::MAX) - 1, u64::from(u32::MAX)]);
            positions.extend([u64::from(u32::MAX) + 1, u64::MAX - 1, u64::MAX]);
            let mut x = 0x9E37_79B9_7F4A_7C15u64;
            for _ in 0..10_000 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                positions.push(x >> 32);
                positions.push(x);
            }
            for p in positions {
                assert_eq!(w.slot(p) as u64, p % size, "position {p}, size {size}");
            }
        }
    }

    #[test]
    fn count_window_slides_one_outcome_at_a_time() {
        let w = CountWindow::new(3);
        w.record(true, false);
        w.record(true, false);
        assert_eq!(
            w.counts(),
            Counts {
                calls: 2,
                failures: 2,
                slow: 0
            }
        );
        w.record(false, true);
        assert_eq!(
            w.counts(),
            Counts {
                calls: 3,
                failures: 2,
                slow: 1
            }
        );
        // The first failure leaves as the fourth outcome arrives.
        w.record(false, false);
        assert_eq!(
            w.counts(),
            Counts {
                calls: 3,
                failures: 1,
                slow: 1
            }
        );
        w.record(false, false);
        w.record(false, false);
        assert_eq!(
            w.counts(),
            Counts {
                calls: 3,
                failures: 0,
                slow: 0
            }
        );
        w.reset();
        assert_eq!(w.counts(), Counts::default());
    }

    #[test]
    fn successes_through_a_full_window_of_successes_take_no_position() {
        let w = CountWindow::new(3);
        let counts = |calls, failures, slow| Counts {
            calls,
            failures,
            slow,
        };
        // Filling, every success counts.
        w.record(false, false);
        assert_eq!(w.counts(), counts(1, 0, 0));
        w.record(false, false);
        w.record(false, false);
        let full = w.position.load(Relaxed);
        for _ in 0..10 {
            w.record(false, false);
        }
        assert_eq!(w.position.load(Relaxed), full, "no position taken");
        assert_eq!(w.counts(), counts(3, 0, 0));
        // A failure still leaves after three more calls.
        assert_eq!(w.record(true, false), counts(3, 1, 0));
        w.record(false, false);
        w.record(false, false);
        assert_eq!(w.counts(), counts(3, 1, 0), "two calls later, still in");
        w.record(false, false);
        assert_eq!(w.counts(), counts(3, 0, 0), "three calls later, out");
        let again = w.position.load(Relaxed);
        w.record(false, false);
        assert_eq!(w.position.load(Relaxed), again, "successes pass again");
        // A slow success takes its position, and leaves in turn.
        w.record(false, true);
        assert_eq!(w.counts(), counts(3, 0, 1));
        for _ in 0..3 {
            w.record(false, false);
        }
        assert_eq!(w.counts(), counts(3, 0, 0));
    }

    #[test]
    fn time_window_drops_whole_buckets_as_time_passes() {
        // 4 buckets of 10ns.
        let w = TimeWindow::new(Duration::from_nanos(40), 4);
        let stats = &Stats::new(Layout::Single);
        w.record(true, false, 0, stats);
        w.record(false, false, 5, stats);
        w.record(true, true, 15, stats);
        assert_eq!(
            w.counts(15, stats),
            Counts {
                calls: 3,
                failures: 2,
                slow: 1
            }
        );
        // Bucket 0 leaves when bucket 4 starts.
        assert_eq!(
            w.counts(39, stats),
            Counts {
                calls: 3,
                failures: 2,
                slow: 1
            }
        );
        assert_eq!(
            w.counts(40, stats),
            Counts {
                calls: 1,
                failures: 1,
                slow: 1
            }
        );
        // A jump over the whole window empties it.
        assert_eq!(w.counts(1_000, stats), Counts::default());
        let c = w.record(true, false, 1_001, stats);
        assert_eq!(
            c,
            Counts {
                calls: 1,
                failures: 1,
                slow: 0
            }
        );
    }

    #[test]
    fn a_tallied_time_window_takes_its_successes_from_the_slots_count() {
        // 4 buckets of 10ns.
        let w = TimeWindow::new(Duration::from_nanos(40), 4);
        let stats = &Stats::new(Layout::Single);
        // An epoch at 0: the coarse clock's scale and the window's are the same.
        w.clear(true, 0, stats);
        let success = |at| {
            w.record_success(When::About(at), stats);
            stats.success();
        };
        let counts = |calls, failures, slow| Counts {
            calls,
            failures,
            slow,
        };
        w.record(true, false, 0, stats);
        success(5);
        w.record(true, true, 15, stats);
        assert_eq!(w.counts(15, stats), counts(3, 2, 1));
        success(17);
        assert_eq!(w.counts(39, stats), counts(4, 2, 1));
        // Bucket 0 (a failure and a success) leaves when bucket 4 starts.
        assert_eq!(w.counts(40, stats), counts(2, 1, 1));
        // A success is the first to see that its bucket began: the window moves on first, so
        // it counts in its own bucket and the one before leaves in time.
        success(55);
        assert_eq!(
            w.counts(59, stats),
            counts(1, 0, 0),
            "bucket 1 left as 5 began"
        );
        assert_eq!(
            w.counts(89, stats),
            counts(1, 0, 0),
            "bucket 5 stays to the end"
        );
        assert_eq!(w.counts(90, stats), counts(0, 0, 0), "bucket 5 left");
        // A jump over the whole window empties it.
        success(1_000);
        assert_eq!(w.counts(1_001, stats), counts(1, 0, 0));
        assert_eq!(w.counts(5_000, stats), Counts::default());
        // A reset (a transition) empties it while the slot's count goes on.
        success(5_001);
        w.reset(stats);
        assert_eq!(w.counts(5_002, stats), Counts::default());
        success(5_003);
        assert_eq!(w.counts(5_004, stats), counts(1, 0, 0));
        assert_eq!(stats.slot_successes(), 6);
        // Not tallied, successes count in the buckets.
        w.clear(false, 0, stats);
        w.record_success(When::At(3), stats);
        assert_eq!(w.counts(4, stats), counts(1, 0, 0));
        // Tallied, from an epoch 1,000 ns after the coarse clock's: its buckets end there.
        w.clear(true, 1_000, stats);
        success(1_005);
        assert_eq!(w.counts(5, stats), counts(1, 0, 0));
        success(1_015);
        assert_eq!(w.counts(15, stats), counts(2, 0, 0));
        assert_eq!(w.counts(45, stats), counts(1, 0, 0), "bucket 0 left");
    }

    #[test]
    fn concurrent_records_keep_exact_totals() {
        // Failures one call in 4, and one in 3,000 (a window mostly full of successes, which
        // successes pass without a position, while failures come and go).
        for every in [4, 3_000] {
            let w = std::sync::Arc::new(CountWindow::new(1_000));
            let threads: Vec<_> = (0..4)
                .map(|t| {
                    let w = w.clone();
                    std::thread::spawn(move || {
                        for i in 0..10_000u32 {
                            w.record((i + t) % every == 0, false);
                        }
                    })
                })
                .collect();
            for t in threads {
                t.join().unwrap();
            }
            let expected = w
                .slots
                .iter()
                .filter(|s| s.load(Relaxed) & FAILED != 0)
                .count() as u64;
            assert_eq!(w.counts().failures, expected, "one in {every}");
            assert_eq!(w.counts().calls, 1_000);
        }
    }

    #[test]
    fn concurrent_successes_and_failures_through_a_tallied_window_are_all_counted() {
        // 10 buckets of a second: every call below falls in the first.
        let w = std::sync::Arc::new(TimeWindow::new(Duration::from_secs(10), 10));
        let stats = std::sync::Arc::new(Stats::new(Layout::PerThread));
        w.clear(true, 0, &stats);
        let threads: Vec<_> = (0..4u64)
            .map(|t| {
                let (w, stats) = (w.clone(), stats.clone());
                std::thread::spawn(move || {
                    for i in 0..10_000u64 {
                        let at = t * 10_000 + i;
                        if i % 10 == 0 {
                            w.record(true, false, at, &stats);
                        } else {
                            w.record_success(When::About(at), &stats);
                            stats.success();
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let counts = w.counts(50_000, &stats);
        assert_eq!((counts.calls, counts.failures), (40_000, 4_000));
    }
}
