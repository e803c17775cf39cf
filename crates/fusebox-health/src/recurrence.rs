//! Which quarter-hours of the last 64 days had a failure, for recurring failures.

const DAY_MS: u64 = 86_400_000;
const SLOT_MS: u64 = 900_000;
const SLOTS: usize = 96;

/// Which days failed at which quarter-hour, for the last 64 days: 776 bytes a check.
#[derive(Clone, Debug)]
pub(crate) struct Recurrence {
    /// Days since the Unix epoch of the newest sample; bit `n` of the masks is `n` days before.
    latest_day: u64,
    observed: u64,
    failed: [u64; SLOTS],
}

impl Default for Recurrence {
    fn default() -> Self {
        Recurrence {
            latest_day: 0,
            observed: 0,
            failed: [0; SLOTS],
        }
    }
}

impl Recurrence {
    /// Records a probe that ended `at` milliseconds after the Unix epoch.
    pub(crate) fn record(&mut self, at: u64, failed: bool) {
        let day = at / DAY_MS;
        if day > self.latest_day {
            let shift = day - self.latest_day;
            if shift >= 64 {
                self.observed = 0;
                self.failed = [0; SLOTS];
            } else {
                self.observed <<= shift;
                for mask in &mut self.failed {
                    *mask <<= shift;
                }
            }
            self.latest_day = day;
        }
        let Some(bit) = self.bit(day) else { return };
        self.observed |= bit;
        if failed {
            self.failed[slot_of(at)] |= bit;
        }
    }

    /// The mask bit of `day`, if the masks still hold it.
    fn bit(&self, day: u64) -> Option<u64> {
        let back = self.latest_day.checked_sub(day)?;
        (back < 64).then(|| 1 << back)
    }

    /// The first quarter-hour from `now` (milliseconds since the epoch) to the horizon that
    /// failed on enough recent days: its start (milliseconds into the day), the days it failed
    /// and the days probed.
    /// `horizon` and `lookback` are milliseconds ahead and days back; `min_days` the days
    /// that must have failed.
    pub(crate) fn recurring(
        &self,
        now: u64,
        horizon: u64,
        lookback: u64,
        min_days: u32,
    ) -> Option<(u64, u32, u32)> {
        let slots = horizon.div_ceil(SLOT_MS);
        (0..=slots).find_map(|ahead| {
            let at = now.saturating_add(ahead * SLOT_MS);
            let (day, slot) = (at / DAY_MS, slot_of(at));
            let (mut failed, mut observed) = (0, 0);
            for back in 1..=lookback {
                let Some(bit) = day.checked_sub(back).and_then(|d| self.bit(d)) else {
                    continue;
                };
                if self.observed & bit != 0 {
                    observed += 1;
                    if self.failed[slot] & bit != 0 {
                        failed += 1;
                    }
                }
            }
            (failed >= min_days).then_some((slot as u64 * SLOT_MS, failed, observed))
        })
    }
}

fn slot_of(at: u64) -> usize {
    // Below 96 by construction.
    usize::try_from(at % DAY_MS / SLOT_MS).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_day_64_days_back_is_gone_and_63_is_kept() {
        let mut r = Recurrence::default();
        let day = 20_000 * DAY_MS;
        r.record(day, false);
        r.record(day - 63 * DAY_MS, true);
        r.record(day - 64 * DAY_MS, true);
        assert_eq!(r.observed, 1 | 1 << 63);
        assert_eq!(r.failed[0], 1 << 63);
        assert_eq!(r.bit(20_000 - 64), None);
        // 64 days on, everything is forgotten; 63 on, the oldest day is still there.
        let mut later = r.clone();
        later.record(day + 64 * DAY_MS, false);
        assert_eq!((later.observed, later.failed[0]), (1, 0));
        r.record(day + 63 * DAY_MS, false);
        assert_eq!(r.observed, 1 | 1 << 63);
    }

    #[test]
    fn only_days_probed_count_as_observed() {
        let mut r = Recurrence::default();
        let day = 20_000 * DAY_MS;
        // Four days probed of the seven before day 20,000, each failing at midnight.
        for back in [1, 2, 3, 5] {
            r.record(day - back * DAY_MS, true);
        }
        assert_eq!(r.recurring(day, 0, 7, 3), Some((0, 4, 4)));
        assert_eq!(r.recurring(day, 0, 7, 5), None);
        assert_eq!(
            r.recurring(day + SLOT_MS, 0, 7, 1),
            None,
            "another quarter-hour"
        );
    }
}
