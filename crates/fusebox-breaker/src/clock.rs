//! Time as nanoseconds since a fixed instant, so that it fits in an atomic.

pub(crate) use fusebox_core::time::nanos;
use tokio::time::Instant;

/// The instant a component's stored times count from.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Epoch(Instant);

/// The instant every breaker's epoch is counted from, so that an epoch fits in an atomic (a
/// breaker's slot keeps its owner's epoch as nanoseconds since it): a day before the first
/// call of this function, on the process's real clock, or as long before as the platform's
/// clock can go. Tokio's paused clocks start at the real time when they are paused, so every
/// instant a breaker meets is later (unless a clock was paused a day before the first breaker
/// was made).
pub(crate) fn base() -> Instant {
    static BASE: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    *BASE.get_or_init(|| {
        let now = Instant::from_std(std::time::Instant::now());
        fusebox_core::time::before(now, std::time::Duration::from_secs(86_400))
    })
}

impl Epoch {
    /// The epoch `nanos` after [`base`].
    pub(crate) fn at_offset(nanos: u64) -> Epoch {
        Epoch(fusebox_core::time::after(base(), nanos))
    }

    /// Now, as nanoseconds after [`base`] (0 for an earlier instant).
    pub(crate) fn offset_now() -> u64 {
        nanos(Instant::now().saturating_duration_since(base()))
    }

    pub(crate) fn now() -> Epoch {
        Epoch(Instant::now())
    }

    /// `at`, in nanoseconds since the epoch (0 for an earlier instant).
    pub(crate) fn nanos_at(self, at: Instant) -> u64 {
        nanos(at.saturating_duration_since(self.0))
    }

    /// Now, in nanoseconds since the epoch.
    pub(crate) fn now_nanos(self) -> u64 {
        self.nanos_at(Instant::now())
    }

    /// The instant `nanos` after the epoch; on a platform whose clock cannot represent it
    /// (some 584 years on), the latest instant that can be reached from the epoch.
    #[inline]
    pub(crate) fn instant_at(self, nanos: u64) -> Instant {
        fusebox_core::time::after(self.0, nanos)
    }
}

/// Whether Tokio's clock, as this thread sees it, runs with the process's real clock: `false`
/// while a test has paused it. A paused clock reads the same before and after a real-clock
/// reading; a running one reads no later than the real clock read after it, and no earlier
/// than the one read before.
pub(crate) fn runs_in_real_time() -> bool {
    let before = Instant::now();
    let real = Instant::from_std(std::time::Instant::now());
    let after = Instant::now();
    before <= real && real <= after
}

/// A clock read with a load instead of a system call: a thread stores the time every
/// [`coarse::PERIOD`], and a reader takes the last value stored, at most a period old (more
/// only if the machine keeps that thread from running). A time window dates its successes by
/// it; every decision reads the exact clock.
///
/// The thread starts with the first reading and sleeps, holding no value, after a second in
/// which nobody read it; the next reader wakes it and reads the exact clock meanwhile. It
/// follows the real clock, not a paused Tokio clock: breakers built while Tokio's clock is
/// paused keep reading Tokio's.
#[cfg(not(fusebox_loom))]
pub(crate) mod coarse {
    use super::Epoch;
    use std::sync::atomic::{
        AtomicBool, AtomicU64,
        Ordering::{AcqRel, Acquire, Relaxed, Release},
    };
    use std::sync::OnceLock;
    use std::time::Duration;

    /// How often the coarse clock moves on.
    pub(crate) const PERIOD: Duration = Duration::from_millis(1);
    /// Periods without a reader after which the clock's thread sleeps.
    const IDLE_PERIODS: u32 = 1_000;

    /// The value and the reader's mark, on one line: a reader loads both, and the thread writes
    /// it once a period.
    #[repr(align(64))]
    struct Shared {
        /// Now, in nanoseconds after `base()`, as of the last period; 0 while the thread
        /// sleeps or before it starts.
        recent: AtomicU64,
        /// Set by a reader, cleared by the thread every period.
        read: AtomicBool,
    }

    static CLOCK: Shared = Shared {
        recent: AtomicU64::new(0),
        read: AtomicBool::new(false),
    };
    /// Set by the thread as it goes to sleep; the reader that clears it wakes the thread.
    static ASLEEP: AtomicBool = AtomicBool::new(false);
    /// The clock's thread, once started (`None` if it could not be).
    static THREAD: OnceLock<Option<std::thread::Thread>> = OnceLock::new();

    /// Now, in nanoseconds after `base()`: at most about a period old.
    #[inline]
    pub(crate) fn offset_now() -> u64 {
        let recent = CLOCK.recent.load(Acquire);
        if recent == 0 {
            return wake();
        }
        if !CLOCK.read.load(Relaxed) {
            CLOCK.read.store(true, Relaxed);
        }
        recent
    }

    /// The exact time, with the clock's thread started or woken to have it next time.
    #[cold]
    #[inline(never)]
    fn wake() -> u64 {
        // Read before the thread runs again: what it publishes next is no earlier.
        let now = Epoch::offset_now();
        let thread = THREAD.get_or_init(start);
        if let Some(thread) = thread {
            if ASLEEP.swap(false, AcqRel) {
                thread.unpark();
            }
        }
        now
    }

    /// Starts the clock's thread, and waits for its first value: the thread's own start-up,
    /// which allocates, is over by then, so calls made after the first allocate nothing, on
    /// any thread.
    fn start() -> Option<std::thread::Thread> {
        let (ready, started) = std::sync::mpsc::sync_channel(1);
        let handle = std::thread::Builder::new()
            .name("fusebox-clock".into())
            .spawn(move || run(ready))
            .ok()?;
        // An error means the thread ended before its first value (it cannot, short of a
        // panic): readers then read the exact clock.
        let _ = started.recv();
        Some(handle.thread().clone())
    }

    /// The clock's thread: tells `ready` once it has published its first value.
    fn run(ready: std::sync::mpsc::SyncSender<()>) {
        let mut ready = Some(ready);
        loop {
            let mut idle = 0;
            while idle < IDLE_PERIODS {
                // Never 0, which means "no value".
                CLOCK.recent.store(Epoch::offset_now().max(1), Release);
                if let Some(ready) = ready.take() {
                    let _ = ready.send(());
                }
                std::thread::sleep(PERIOD);
                if CLOCK.read.swap(false, Relaxed) {
                    idle = 0;
                } else {
                    idle += 1;
                }
            }
            CLOCK.recent.store(0, Release);
            ASLEEP.store(true, Release);
            // A reader sees no value from here on, so the next one clears `ASLEEP`.
            while ASLEEP.load(Acquire) {
                std::thread::park();
            }
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        /// Waits, up to a minute of real time, for the clock's thread to publish (`true`) or
        /// withdraw (`false`) a value.
        fn wait_until_published(published: bool) {
            let deadline = std::time::Instant::now() + Duration::from_secs(60);
            while (CLOCK.recent.load(Acquire) != 0) != published {
                assert!(
                    std::time::Instant::now() < deadline,
                    "the coarse clock's thread did not {} a value within a minute",
                    if published { "publish" } else { "withdraw" }
                );
                std::thread::sleep(PERIOD);
            }
        }

        #[test]
        fn the_coarse_clock_follows_the_exact_one_sleeps_when_unread_and_wakes_when_read() {
            let first = offset_now();
            wait_until_published(true);
            let mut last = first.min(offset_now());
            for _ in 0..1_000 {
                let (recent, exact) = (offset_now(), Epoch::offset_now());
                assert!(recent <= exact, "{recent} after the exact {exact}");
                assert!(recent >= last, "went back from {last} to {recent}");
                assert!(
                    exact - recent < 1_000_000_000,
                    "{recent} long before {exact}"
                );
                last = recent;
            }
            // Unread for a thousand periods, the thread withdraws its value and sleeps; the
            // next reader gets the exact time and wakes it.
            wait_until_published(false);
            let woken = offset_now();
            assert!(
                woken >= last && woken <= Epoch::offset_now(),
                "read while asleep: {woken}"
            );
            wait_until_published(true);
            assert!(offset_now() >= woken);
        }
    }
}

/// Under loom, the exact clock: loom models no background thread. In a file of its own, which
/// mutation runs leave out (`.cargo/mutants.toml`), since no test of the usual build runs it.
#[cfg(fusebox_loom)]
#[path = "clock/stand_in.rs"]
pub(crate) mod coarse;
