//! Time as nanoseconds from an epoch, for fusebox's own crates: what fits in an atomic, and
//! back, without overflow. Not part of the public API.

use std::time::Duration;
use tokio::time::Instant;

/// `d` in whole nanoseconds, saturating at `u64::MAX` (about 584 years).
#[inline]
pub fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// The instant `nanos` after `epoch`; on a platform whose clock cannot represent it, the latest
/// instant that can be reached from `epoch`.
#[inline]
pub fn after(epoch: Instant, nanos: u64) -> Instant {
    let mut offset = Duration::from_nanos(nanos);
    loop {
        if let Some(at) = epoch.checked_add(offset) {
            return at;
        }
        offset /= 2;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn nanoseconds_saturate_and_come_back() {
        assert_eq!(nanos(Duration::MAX), u64::MAX);
        assert_eq!(nanos(Duration::from_millis(3)), 3_000_000);
        let epoch = Instant::now();
        assert_eq!(after(epoch, 3_000_000), epoch + Duration::from_millis(3));
        assert!(after(epoch, u64::MAX) >= epoch + Duration::from_secs(86_400 * 365));
    }
}
