//! Time as nanoseconds since a fixed instant, so that it fits in an atomic.

pub(crate) use fusebox_core::time::nanos;
use tokio::time::Instant;

/// The instant a component's stored times count from.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Epoch(Instant);

impl Epoch {
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
