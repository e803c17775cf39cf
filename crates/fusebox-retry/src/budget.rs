//! A token bucket that caps retries to a share of the traffic that succeeds.

use fusebox_core::stripe::StripedCounter;
use fusebox_core::ConfigError;
use std::fmt;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use tokio::time::Instant;

/// Tokens are counted in millionths, so fractional deposits add up exactly.
const UNIT: i64 = 1_000_000;

/// Limits retries to a share of successful calls, so retries cannot multiply load during an
/// outage. Shared by every clone, and by every retry layer it is given to.
///
/// In the spirit of gRPC retry throttling and Finagle's retry budgets: each successful call
/// deposits `ratio` of a token, each retry withdraws one, and when fewer than one token is left
/// the failure is returned without retrying. `min_per_second` tokens also trickle in every
/// second, so a service with little traffic can still retry. The balance never exceeds
/// `max_tokens`, and starts at one second's trickle.
///
/// Deposits are kept in millionths of a token, so a ratio of `0.1` grants exactly one retry per
/// ten successes (a budget kept in whole tokens or rounded percentages over-grants there); a
/// ratio finer than a millionth is rounded down, so no budget grants more than
/// `successes × ratio`. A budget that could never grant a retry (`ratio` 0 and
/// `min_per_second` 0) is rejected.
///
/// A deposit writes only its own thread's counter (a cache-line-padded stripe per thread, up to
/// twice the cores, 128 bytes each), so successes on many cores do not contend on one line; the
/// balance takes the deposits in when it is next read, by a retry or by [`tokens`](Self::tokens).
///
/// ```
/// use fusebox_retry::RetryBudget;
///
/// // One retry per four successes, nothing for free.
/// let budget = RetryBudget::builder().ratio(0.25).min_per_second(0).build()?;
/// assert!(!budget.try_withdraw());
/// for _ in 0..8 {
///     budget.deposit();
/// }
/// assert!(budget.try_withdraw());
/// assert!(budget.try_withdraw());
/// assert!(!budget.try_withdraw());
/// # Ok::<(), fusebox_core::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct RetryBudget {
    inner: Arc<Inner>,
}

struct Inner {
    balance: AtomicI64,
    /// Every deposit ever made, in millionths (wrapping), striped per thread: a success writes
    /// only its own thread's cache line. Folded into `balance` when the balance is read.
    deposits: StripedCounter,
    /// How much of `deposits` is already in `balance`.
    folded: AtomicU64,
    refilled_at: AtomicU64,
    /// What a success deposits, in millionths (`deposit(ratio)`, in [0, 10⁹]).
    deposit: u64,
    per_second: i64,
    max: i64,
    epoch: Instant,
}

impl fmt::Debug for RetryBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryBudget")
            .field("tokens", &self.tokens())
            .field("ratio", &(self.inner.deposit as f64 / UNIT as f64))
            .field("min_per_second", &(self.inner.per_second / UNIT))
            .field("max_tokens", &(self.inner.max / UNIT))
            .finish()
    }
}

/// Builds a [`RetryBudget`].
#[derive(Clone, Copy, Debug)]
pub struct RetryBudgetBuilder {
    ratio: f64,
    min_per_second: u32,
    max_tokens: Option<u32>,
}

impl RetryBudgetBuilder {
    /// Share of a token each success deposits, in `[0, 1000]` (default 0.2: one retry per five
    /// successes).
    pub fn ratio(mut self, ratio: f64) -> Self {
        self.ratio = ratio;
        self
    }

    /// Tokens that trickle in every second whatever the traffic (default 10).
    pub fn min_per_second(mut self, tokens: u32) -> Self {
        self.min_per_second = tokens;
        self
    }

    /// Most tokens the budget holds (default: ten seconds of `min_per_second`, at least 10).
    pub fn max_tokens(mut self, tokens: u32) -> Self {
        self.max_tokens = Some(tokens);
        self
    }

    /// Checks the settings and builds the budget.
    pub fn build(self) -> Result<RetryBudget, ConfigError> {
        if !(self.ratio.is_finite() && (0.0..=1000.0).contains(&self.ratio)) {
            return Err(ConfigError::new("budget_ratio", "in [0, 1000]", self.ratio));
        }
        let max_tokens = self
            .max_tokens
            .unwrap_or_else(|| self.min_per_second.saturating_mul(10).max(10));
        if max_tokens == 0 {
            return Err(ConfigError::new(
                "budget_max_tokens",
                "at least 1",
                max_tokens,
            ));
        }
        if self.ratio == 0.0 && self.min_per_second == 0 {
            return Err(ConfigError::new(
                "budget_min_per_second",
                "at least 1 when budget_ratio is 0 (such a budget never grants a retry)",
                self.min_per_second,
            ));
        }
        let max = i64::from(max_tokens) * UNIT;
        let per_second = i64::from(self.min_per_second) * UNIT;
        Ok(RetryBudget {
            inner: Arc::new(Inner {
                balance: AtomicI64::new(per_second.min(max)),
                deposits: StripedCounter::new(),
                folded: AtomicU64::new(0),
                refilled_at: AtomicU64::new(0),
                deposit: u64::try_from(deposit(self.ratio)).unwrap_or(0),
                per_second,
                max,
                epoch: Instant::now(),
            }),
        })
    }
}

/// What a fold that read the deposits' total `total` has to add when `before` is folded
/// already: `None` when nothing is new, or when the read is older than the last fold (the
/// difference then wraps past half the range; deposits between two folds never come near it).
fn unfolded(total: u64, before: u64) -> Option<u64> {
    let new = total.wrapping_sub(before);
    (new != 0 && new <= u64::MAX / 2).then_some(new)
}

/// `ratio` in millionths of a token, never more than `ratio` itself: a ratio with more
/// decimals than a millionth is rounded down, so a budget never grants more retries than
/// `successes × ratio`. A ratio written with six decimals or fewer (`0.1`, `0.333333`) is kept
/// exactly, although its binary value may lie a hair under it.
fn deposit(ratio: f64) -> i64 {
    let scaled = ratio * UNIT as f64;
    let nearest = scaled.round();
    // `ratio` is in [0, 1000], so these casts are exact.
    if nearest / UNIT as f64 == ratio {
        nearest as i64
    } else {
        scaled.floor() as i64
    }
}

impl RetryBudget {
    /// Starts building a budget.
    pub fn builder() -> RetryBudgetBuilder {
        RetryBudgetBuilder {
            ratio: 0.2,
            min_per_second: 10,
            max_tokens: None,
        }
    }

    /// Records a successful call: deposits `ratio` of a token. The deposit is a plain write to
    /// this thread's own counter (no lock prefix, no cache line other cores write); the balance
    /// takes it in when it is next read.
    #[inline]
    pub fn deposit(&self) {
        self.inner.deposits.add(self.inner.deposit);
    }

    /// Takes one token for a retry; `false` when less than one is left.
    pub fn try_withdraw(&self) -> bool {
        self.fold();
        self.refill();
        let balance = &self.inner.balance;
        let mut current = balance.load(Relaxed);
        loop {
            if current < UNIT {
                return false;
            }
            match balance.compare_exchange_weak(current, current - UNIT, Relaxed, Relaxed) {
                Ok(_) => return true,
                Err(actual) => current = actual,
            }
        }
    }

    /// Tokens available now, fractional.
    pub fn tokens(&self) -> f64 {
        self.fold();
        self.refill();
        self.inner.balance.load(Relaxed) as f64 / UNIT as f64
    }

    fn add(&self, amount: i64) {
        if amount == 0 {
            return;
        }
        let balance = &self.inner.balance;
        let mut current = balance.load(Relaxed);
        loop {
            let next = current.saturating_add(amount).min(self.inner.max);
            if next == current {
                return;
            }
            match balance.compare_exchange_weak(current, next, Relaxed, Relaxed) {
                Ok(_) => return,
                Err(actual) => current = actual,
            }
        }
    }

    /// Moves the deposits made since the last fold into the balance (capped). Concurrent folds
    /// each move a disjoint part: the one that advances `folded` adds what it advanced by.
    fn fold(&self) {
        let inner = &self.inner;
        let total = inner.deposits.sum();
        let mut before = inner.folded.load(Relaxed);
        loop {
            let Some(new) = unfolded(total, before) else {
                return;
            };
            match inner
                .folded
                .compare_exchange_weak(before, total, Relaxed, Relaxed)
            {
                Ok(_) => {
                    self.add(i64::try_from(new).unwrap_or(i64::MAX));
                    return;
                }
                Err(actual) => before = actual,
            }
        }
    }

    /// Adds the trickle for the time since the last refill; one caller wins each interval.
    fn refill(&self) {
        let inner = &self.inner;
        if inner.per_second == 0 {
            return;
        }
        let now = u64::try_from(inner.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX);
        let last = inner.refilled_at.load(Relaxed);
        // Whole millionths of a token earned since `last`.
        let earned = (u128::from(now.saturating_sub(last)) * inner.per_second as u128
            / 1_000_000_000) as i64;
        if earned <= 0 {
            return;
        }
        // Advance the clock only by the time that earned those tokens, so no fraction is lost.
        let used = (earned as u128 * 1_000_000_000 / inner.per_second as u128) as u64;
        if inner
            .refilled_at
            .compare_exchange(last, last + used, Relaxed, Relaxed)
            .is_ok()
        {
            self.add(earned);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn fractional_ratios_grant_exactly_their_share() {
        for (ratio, successes, expected) in
            [(0.1, 100, 10), (0.25, 10, 2), (0.3, 10, 3), (0.05, 99, 4)]
        {
            let b = RetryBudget::builder()
                .ratio(ratio)
                .min_per_second(0)
                .max_tokens(1_000)
                .build()
                .unwrap();
            for _ in 0..successes {
                b.deposit();
            }
            let mut granted = 0;
            while b.try_withdraw() {
                granted += 1;
            }
            assert_eq!(
                granted, expected,
                "ratio {ratio} after {successes} successes"
            );
        }
    }

    #[test]
    fn ratios_finer_than_a_millionth_never_over_grant() {
        // 0.6666667 rounded to the nearest millionth (0.666667) would grant 2,000,001 retries
        // over 3 million successes; floor(3e6 × 0.6666667) is 2,000,000.
        assert_eq!(deposit(0.6666667), 666_666);
        assert_eq!(deposit(0.1), 100_000);
        assert_eq!(deposit(0.3), 300_000);
        assert_eq!(deposit(0.333333), 333_333);
        // 0.125014 × 10⁶ is 125013.99999999999 in binary: rounding down alone would lose the
        // millionth the ratio was written with.
        assert_eq!(deposit(0.125014), 125_014);
        assert_eq!(deposit(0.000249), 249);
        assert_eq!(deposit(1000.0), 1_000_000_000);
        assert_eq!(deposit(0.0), 0);
        let b = RetryBudget::builder()
            .ratio(0.6666667)
            .min_per_second(0)
            .max_tokens(u32::MAX)
            .build()
            .unwrap();
        for _ in 0..3_000_000 {
            b.deposit();
        }
        assert!(b.tokens() <= 2_000_000.0, "{} tokens", b.tokens());
    }

    #[test]
    fn a_budget_that_never_grants_is_rejected() {
        let err = RetryBudget::builder()
            .ratio(0.0)
            .min_per_second(0)
            .build()
            .unwrap_err();
        assert_eq!(err.field(), "budget_min_per_second");
        assert!(RetryBudget::builder()
            .ratio(0.0)
            .min_per_second(1)
            .build()
            .is_ok());
        assert!(RetryBudget::builder()
            .ratio(0.1)
            .min_per_second(0)
            .build()
            .is_ok());
    }

    #[test]
    fn a_fold_adds_only_what_is_new() {
        assert_eq!(unfolded(5, 5), None);
        assert_eq!(unfolded(7, 5), Some(2));
        assert_eq!(unfolded(5, 7), None, "a read older than the last fold");
        assert_eq!(unfolded(2, u64::MAX - 1), Some(4), "across the wrap");
        assert_eq!(unfolded(u64::MAX / 2 + 5, 5), Some(u64::MAX / 2));
        assert_eq!(unfolded(u64::MAX / 2 + 6, 5), None);
    }

    #[test]
    fn deposits_from_many_threads_all_reach_the_balance() {
        let b = RetryBudget::builder()
            .ratio(0.001)
            .min_per_second(0)
            .max_tokens(1_000_000)
            .build()
            .unwrap();
        let threads = fusebox_core::stripe::owned_stripes() + 3;
        std::thread::scope(|scope| {
            for _ in 0..threads {
                scope.spawn(|| {
                    for i in 0..10_000 {
                        b.deposit();
                        if i % 1_000 == 0 {
                            // Folds while other threads deposit.
                            let _ = b.tokens();
                        }
                    }
                });
            }
        });
        // 0.001 of a token per success: 10 tokens per thread.
        assert!(
            (b.tokens() - threads as f64 * 10.0).abs() < 1e-9,
            "{} tokens",
            b.tokens()
        );
    }

    #[test]
    fn the_balance_is_capped() {
        let b = RetryBudget::builder()
            .ratio(1.0)
            .min_per_second(0)
            .max_tokens(3)
            .build()
            .unwrap();
        for _ in 0..100 {
            b.deposit();
        }
        assert_eq!(b.tokens(), 3.0);
    }

    #[tokio::test(start_paused = true)]
    async fn tokens_trickle_in_over_time() {
        let b = RetryBudget::builder()
            .ratio(0.0)
            .min_per_second(2)
            .max_tokens(100)
            .build()
            .unwrap();
        assert_eq!(b.tokens(), 2.0, "starts with one second of trickle");
        assert!(b.try_withdraw() && b.try_withdraw() && !b.try_withdraw());
        tokio::time::advance(Duration::from_millis(750)).await;
        assert_eq!(b.tokens(), 1.5);
        tokio::time::advance(Duration::from_millis(250)).await;
        assert_eq!(b.tokens(), 2.0);
    }

    #[test]
    fn invalid_settings_name_their_field() {
        let e = RetryBudget::builder().ratio(-0.1).build().unwrap_err();
        assert_eq!(e.to_string(), "budget_ratio must be in [0, 1000], got -0.1");
        let e = RetryBudget::builder().max_tokens(0).build().unwrap_err();
        assert_eq!(e.to_string(), "budget_max_tokens must be at least 1, got 0");
    }
}
