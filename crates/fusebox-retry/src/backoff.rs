//! How long to wait before each retry.

use fusebox_core::ConfigError;
use std::time::Duration;

/// The default backoff's first delay.
pub(crate) const DEFAULT_BACKOFF_BASE: Duration = Duration::from_millis(100);
/// The default exponential backoff's factor.
pub(crate) const DEFAULT_BACKOFF_MULTIPLIER: f64 = 2.0;
/// The default backoff's cap.
pub(crate) const DEFAULT_MAX_DELAY: Duration = Duration::from_secs(10);
/// The default backoff's jitter.
pub(crate) const DEFAULT_JITTER: Jitter = Jitter::Full;

/// A source of uniform random numbers in `[0, 1)`, injectable so delays are reproducible.
///
/// Implemented for [`fastrand::Rng`] (seed it with `fastrand::Rng::with_seed`) and for closures.
pub trait RandomSource {
    /// The next number in `[0, 1)`.
    fn next_f64(&mut self) -> f64;
}

impl RandomSource for fastrand::Rng {
    fn next_f64(&mut self) -> f64 {
        self.f64()
    }
}

impl<F: FnMut() -> f64> RandomSource for F {
    fn next_f64(&mut self) -> f64 {
        self().clamp(0.0, 1.0)
    }
}

/// How a computed delay is randomised, so that many clients that failed together do not retry
/// together.
///
/// The formulas are those of the AWS Architecture Blog's "Exponential Backoff And Jitter", with
/// `d` the delay of the schedule (constant, linear or exponential, capped at the maximum) and `r`
/// a uniform random number in `[0, 1)`:
///
/// | jitter | delay |
/// |---|---|
/// | `None` | `d` |
/// | `Full` | `r × d` |
/// | `Equal` | `d / 2 + r × d / 2` |
/// | `Decorrelated` | `min(max, base + r × (3 × previous − base))`, `previous` starting at `base` |
///
/// For decorrelated jitter `base` is the schedule's first delay, and each delay depends on the
/// one before rather than on the attempt number. fusebox uses the AWS formula rather than the
/// smoother one Polly adopted (its "V2", built on a `tanh` curve of the attempt number) because
/// its bounds are easy to state: every delay lies in `[base, 3 × previous]` and under the cap,
/// which the property tests check. Its known weakness, an occasional run of long waits, is
/// bounded by the cap and by the call's deadline.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(rename_all = "lowercase")
)]
#[non_exhaustive]
pub enum Jitter {
    /// No randomness.
    #[default]
    None,
    /// Anywhere between zero and the delay: spreads retries the most.
    Full,
    /// Half the delay, plus up to half again at random: never retries sooner than half the delay.
    Equal,
    /// Random between the base delay and three times the previous delay.
    Decorrelated,
}

/// The shape of a backoff schedule, as [`RetrySettings::backoff`](crate::RetrySettings::backoff)
/// names it (`"constant"`, `"linear"` or `"exponential"` in serde formats).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(rename_all = "lowercase")
)]
#[non_exhaustive]
pub enum BackoffKind {
    /// The same delay before every retry ([`Backoff::constant`]).
    Constant,
    /// A delay growing by a fixed step ([`Backoff::linear`]).
    Linear,
    /// A delay growing by a factor ([`Backoff::exponential`]).
    #[default]
    Exponential,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Schedule {
    Constant(Duration),
    Linear { initial: Duration, step: Duration },
    Exponential { base: Duration, multiplier: f64 },
}

/// The delay schedule of a retry: constant, linear or exponential, capped, with optional jitter.
///
/// Delays are a pure function of the retry number, the previous delay and a random source, so a
/// seeded source gives an exact sequence:
///
/// ```
/// use fusebox_retry::{Backoff, Jitter};
/// use std::time::Duration;
///
/// let backoff = Backoff::exponential(Duration::from_millis(100), 2.0)
///     .max_delay(Duration::from_secs(1))
///     .jitter(Jitter::None);
/// let delays: Vec<_> = (1..=5).map(|n| backoff.base_delay(n).as_millis()).collect();
/// assert_eq!(delays, [100, 200, 400, 800, 1000]);
///
/// // Full jitter with a fixed "random" source: half of each delay.
/// let mut half = || 0.5;
/// let jittered = backoff.jitter(Jitter::Full);
/// assert_eq!(jittered.delay(3, Duration::ZERO, &mut half), Duration::from_millis(200));
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Backoff {
    pub(crate) schedule: Schedule,
    pub(crate) max_delay: Duration,
    pub(crate) jitter: Jitter,
}

impl Default for Backoff {
    /// Exponential from 100 ms, doubling, capped at 10 s, with full jitter.
    fn default() -> Self {
        Backoff::exponential(DEFAULT_BACKOFF_BASE, DEFAULT_BACKOFF_MULTIPLIER)
            .max_delay(DEFAULT_MAX_DELAY)
            .jitter(DEFAULT_JITTER)
    }
}

impl Backoff {
    /// The same delay before every retry.
    pub fn constant(delay: Duration) -> Self {
        Backoff {
            schedule: Schedule::Constant(delay),
            max_delay: Duration::MAX,
            jitter: Jitter::None,
        }
    }

    /// `initial`, then `initial + step`, `initial + 2 × step`, …
    pub fn linear(initial: Duration, step: Duration) -> Self {
        Backoff {
            schedule: Schedule::Linear { initial, step },
            max_delay: Duration::MAX,
            jitter: Jitter::None,
        }
    }

    /// `base`, then `base × multiplier`, `base × multiplier²`, …
    pub fn exponential(base: Duration, multiplier: f64) -> Self {
        Backoff {
            schedule: Schedule::Exponential { base, multiplier },
            max_delay: Duration::MAX,
            jitter: Jitter::None,
        }
    }

    /// Caps every delay, before and after jitter.
    pub fn max_delay(mut self, max: Duration) -> Self {
        self.max_delay = max;
        self
    }

    /// Randomises delays (see [`Jitter`]).
    pub fn jitter(mut self, jitter: Jitter) -> Self {
        self.jitter = jitter;
        self
    }

    /// The cap on every delay.
    pub fn max(&self) -> Duration {
        self.max_delay
    }

    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if self.max_delay.is_zero() {
            return Err(ConfigError::new(
                "max_delay",
                "greater than zero",
                self.max_delay,
            ));
        }
        match self.schedule {
            Schedule::Exponential { base, multiplier } => {
                if base.is_zero() {
                    return Err(ConfigError::new("backoff_base", "greater than zero", base));
                }
                if !(multiplier.is_finite() && multiplier >= 1.0) {
                    return Err(ConfigError::new(
                        "backoff_multiplier",
                        "a finite number of at least 1",
                        multiplier,
                    ));
                }
            }
            Schedule::Linear { .. } | Schedule::Constant(_) => {}
        }
        if self.jitter == Jitter::Decorrelated && self.base_delay(1).is_zero() {
            return Err(ConfigError::new(
                "backoff_base",
                "greater than zero with decorrelated jitter",
                self.base_delay(1),
            ));
        }
        Ok(())
    }

    /// The capped delay of the schedule before retry number `retry` (1 is the first retry),
    /// without jitter.
    pub fn base_delay(&self, retry: u32) -> Duration {
        let n = retry.max(1) - 1;
        let delay = match self.schedule {
            Schedule::Constant(d) => d,
            Schedule::Linear { initial, step } => initial.saturating_add(step.saturating_mul(n)),
            Schedule::Exponential { base, multiplier } => {
                let exponent = i32::try_from(n).unwrap_or(i32::MAX);
                let secs = base.as_secs_f64() * multiplier.powi(exponent);
                if secs >= self.max_delay.as_secs_f64() {
                    self.max_delay
                } else {
                    Duration::try_from_secs_f64(secs).unwrap_or(self.max_delay)
                }
            }
        };
        delay.min(self.max_delay)
    }

    /// The delay before retry number `retry` (1 is the first retry). `previous` is the delay
    /// before the previous retry (ignored for the first retry; only decorrelated jitter uses it).
    pub fn delay(
        &self,
        retry: u32,
        previous: Duration,
        random: &mut impl RandomSource,
    ) -> Duration {
        let d = self.base_delay(retry);
        let delay = match self.jitter {
            Jitter::None => d,
            Jitter::Full => between(Duration::ZERO, d, random),
            Jitter::Equal => {
                let half = d / 2;
                half + between(Duration::ZERO, d - half, random)
            }
            Jitter::Decorrelated => {
                let base = self.base_delay(1);
                let previous = if retry <= 1 { base } else { previous.max(base) };
                between(base, previous.saturating_mul(3), random)
            }
        };
        delay.min(self.max_delay)
    }
}

/// `low + r × (high − low)`, in whole nanoseconds.
fn between(low: Duration, high: Duration, random: &mut impl RandomSource) -> Duration {
    let span = high.saturating_sub(low).as_nanos() as f64;
    let r = random.next_f64();
    let r = if r.is_finite() {
        r.clamp(0.0, 1.0)
    } else {
        0.0
    };
    low.saturating_add(Duration::from_nanos((span * r).min(u64::MAX as f64) as u64))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MS: Duration = Duration::from_millis(1);

    fn script(values: &'static [f64]) -> impl FnMut() -> f64 {
        let mut i = 0;
        move || {
            let v = values[i % values.len()];
            i += 1;
            v
        }
    }

    fn sequence(b: Backoff, mut random: impl RandomSource, n: u32) -> Vec<u128> {
        let mut previous = Duration::ZERO;
        (1..=n)
            .map(|retry| {
                previous = b.delay(retry, previous, &mut random);
                previous.as_millis()
            })
            .collect()
    }

    #[test]
    fn schedules_without_jitter() {
        let none = || 0.0;
        assert_eq!(
            sequence(Backoff::constant(MS * 50), none, 4),
            [50, 50, 50, 50]
        );
        assert_eq!(
            sequence(
                Backoff::linear(MS * 100, MS * 50).max_delay(MS * 220),
                none,
                5
            ),
            [100, 150, 200, 220, 220]
        );
        assert_eq!(
            sequence(
                Backoff::exponential(MS * 100, 3.0).max_delay(MS * 2000),
                none,
                5
            ),
            [100, 300, 900, 2000, 2000]
        );
    }

    #[test]
    fn full_and_equal_jitter_follow_their_formulas() {
        let b = Backoff::exponential(MS * 100, 2.0).max_delay(MS * 1000);
        let r = script(&[0.5, 0.25, 1.0, 0.0, 0.1]);
        assert_eq!(
            sequence(b.jitter(Jitter::Full), r, 5),
            [50, 50, 400, 0, 100]
        );
        let r = script(&[0.5, 0.25, 1.0, 0.0, 0.1]);
        // d/2 + r × d/2
        assert_eq!(
            sequence(b.jitter(Jitter::Equal), r, 5),
            [75, 125, 400, 400, 550]
        );
    }

    #[test]
    fn decorrelated_jitter_grows_from_the_previous_delay() {
        let b = Backoff::exponential(MS * 100, 2.0)
            .max_delay(MS * 1000)
            .jitter(Jitter::Decorrelated);
        // base + r × (3 × previous − base); previous starts at base.
        let r = script(&[0.5, 0.5, 1.0, 0.0]);
        assert_eq!(sequence(b, r, 4), [200, 350, 1000, 100]);
    }

    #[test]
    fn seeded_sources_repeat_exactly() {
        let b = Backoff::default();
        let a = sequence(b, fastrand::Rng::with_seed(7), 8);
        assert_eq!(a, sequence(b, fastrand::Rng::with_seed(7), 8));
        assert_ne!(a, sequence(b, fastrand::Rng::with_seed(8), 8));
    }

    #[test]
    fn huge_retry_numbers_saturate_at_the_cap() {
        let b = Backoff::exponential(MS, 10.0).max_delay(MS * 5);
        assert_eq!(b.base_delay(u32::MAX), MS * 5);
        let l = Backoff::linear(Duration::MAX, Duration::MAX);
        assert_eq!(l.base_delay(u32::MAX), Duration::MAX);
    }

    fn backoffs() -> impl Strategy<Value = Backoff> {
        let jitter = prop_oneof![
            Just(Jitter::None),
            Just(Jitter::Full),
            Just(Jitter::Equal),
            Just(Jitter::Decorrelated)
        ];
        let schedule = prop_oneof![
            (1u64..5_000).prop_map(|ms| Backoff::constant(MS * ms as u32)),
            (1u64..5_000, 0u64..5_000)
                .prop_map(|(a, b)| Backoff::linear(MS * a as u32, MS * b as u32)),
            (1u64..5_000, 1.0f64..10.0).prop_map(|(ms, m)| Backoff::exponential(MS * ms as u32, m)),
        ];
        (schedule, 1u64..60_000, jitter)
            .prop_map(|(b, max, j)| b.max_delay(MS * max as u32).jitter(j))
    }

    proptest! {
        #[test]
        fn delays_never_exceed_the_maximum(b in backoffs(), seed in any::<u64>(), n in 1u32..50) {
            let mut rng = fastrand::Rng::with_seed(seed);
            let mut previous = Duration::ZERO;
            for retry in 1..=n {
                let d = b.delay(retry, previous, &mut rng);
                prop_assert!(d <= b.max(), "{d:?} over {:?}", b.max());
                if b.jitter == Jitter::Decorrelated {
                    prop_assert!(d >= b.base_delay(1).min(b.max()));
                }
                previous = d;
            }
        }
    }
}
