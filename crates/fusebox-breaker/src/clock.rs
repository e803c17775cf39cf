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
