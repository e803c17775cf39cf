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
    farthest(Duration::from_nanos(nanos), |offset| {
        epoch.checked_add(offset)
    })
}

/// The instant `by` before `at`; on a platform whose clock cannot represent it, the earliest
/// instant that can be reached from `at`.
#[inline]
pub fn before(at: Instant, by: Duration) -> Instant {
    farthest(by, |offset| at.checked_sub(offset))
}

/// `step(offset)` for the longest offset, halving from `offset`, that the clock can represent
/// (`step(0)` always can).
#[inline]
fn farthest(mut offset: Duration, step: impl Fn(Duration) -> Option<Instant>) -> Instant {
    loop {
        if let Some(at) = step(offset) {
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
        let later = epoch + Duration::from_secs(10);
        assert_eq!(
            before(later, Duration::from_secs(4)),
            epoch + Duration::from_secs(6)
        );
        assert!(before(later, Duration::MAX) <= epoch);
    }
}
