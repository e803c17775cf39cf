//! One retry layer's settings as data: [`RetrySettings`] is the one list of them, and
//! `validate` checks them into the parts of the layer's [`Policy`](crate::config::Policy) with
//! the defaults filled in. [`RetryLayerBuilder`](crate::RetryLayerBuilder) edits a
//! `RetrySettings`; adding a setting is one line below plus its check in `validate`.

use crate::backoff::{
    Backoff, BackoffKind, Jitter, Schedule, DEFAULT_BACKOFF_BASE, DEFAULT_BACKOFF_MULTIPLIER,
    DEFAULT_JITTER, DEFAULT_MAX_DELAY,
};
use crate::budget::RetryBudget;
use crate::config::{DEFAULT_MAX_ATTEMPTS, DEFAULT_MAX_RETRY_AFTER, MAX_ATTEMPTS};
use fusebox_core::ConfigError;
use std::time::Duration;

/// Defines [`RetrySettings`] from one list of fields and derives its merge from that list.
macro_rules! retry_settings {
    (
        $(#[$struct_attr:meta])*
        pub struct RetrySettings {
            $(
                $(#[$attr:meta])*
                $field:ident: $ty:ty,
            )*
        }
    ) => {
        $(#[$struct_attr])*
        pub struct RetrySettings {
            $(
                $(#[$attr])*
                pub $field: Option<$ty>,
            )*
        }

        impl RetrySettings {
            /// These settings, with `defaults` filling what they leave unset.
            pub fn or(&self, defaults: &RetrySettings) -> RetrySettings {
                RetrySettings {
                    $($field: self.$field.or(defaults.$field),)*
                }
            }
        }
    };
}

retry_settings! {
    /// Every setting of a retry layer that is plain data, each optional: unset ones take the
    /// defaults of [`RetryLayerBuilder`](crate::RetryLayerBuilder). Field names are those of the errors `build()` gives.
    /// (The classifier, the request policy, listeners, the random source and a budget shared
    /// with other layers are code, so they are given to the builder.)
    ///
    /// With the `serde` feature it deserialises from any serde format; durations are written in
    /// human form (`"100ms"`, `"2s"`), kinds in lower case:
    ///
    /// ```toml
    /// max_attempts = 4
    /// deadline = "5s"
    /// backoff = "exponential"
    /// backoff_base = "50ms"
    /// max_delay = "2s"
    /// jitter = "equal"
    /// budget_ratio = 0.1
    /// ```
    ///
    /// Without serde, set the fields and build:
    ///
    /// ```
    /// use fusebox_retry::{BackoffKind, RetrySettings};
    /// use std::time::Duration;
    ///
    /// let mut settings = RetrySettings::default();
    /// settings.max_attempts = Some(4);
    /// settings.backoff = Some(BackoffKind::Constant);
    /// settings.backoff_base = Some(Duration::from_millis(250));
    /// let layer = settings.build("calendar")?;
    ///
    /// settings.backoff_multiplier = Some(3.0);
    /// let err = settings.build("calendar").unwrap_err();
    /// assert_eq!(err.field(), "backoff_multiplier");
    /// # Ok::<(), fusebox_core::ConfigError>(())
    /// ```
    #[derive(Clone, Copy, Debug, Default, PartialEq)]
    #[cfg_attr(
        feature = "serde",
        derive(serde::Serialize, serde::Deserialize),
        serde(default, deny_unknown_fields)
    )]
    #[non_exhaustive]
    pub struct RetrySettings {
        /// Attempts in all, the first send included, in `1..=100` (default 3; 1 disables
        /// retries).
        max_attempts: u32,
        /// A limit on the whole call, counted from when it starts (default none).
        #[cfg_attr(feature = "serde", serde(with = "humantime_serde"))]
        deadline: Duration,
        /// The longest wait a `Retry-After` or an open circuit may ask for (default 60 s).
        #[cfg_attr(feature = "serde", serde(with = "humantime_serde"))]
        max_retry_after: Duration,
        /// The schedule's shape (default exponential).
        backoff: BackoffKind,
        /// The first delay: the constant delay, the linear schedule's first one, or the
        /// exponential schedule's base (default 100 ms).
        #[cfg_attr(feature = "serde", serde(with = "humantime_serde"))]
        backoff_base: Duration,
        /// The exponential schedule's factor, a finite number of at least 1 (default 2).
        backoff_multiplier: f64,
        /// The linear schedule's step (default `backoff_base`).
        #[cfg_attr(feature = "serde", serde(with = "humantime_serde"))]
        backoff_step: Duration,
        /// The cap on every delay (default 10 s).
        #[cfg_attr(feature = "serde", serde(with = "humantime_serde"))]
        max_delay: Duration,
        /// How delays are randomised (default full).
        jitter: Jitter,
        /// A budget, made when any `budget_` field is set: the share of a token each success
        /// deposits (default 0.2; see [`RetryBudgetBuilder`](crate::RetryBudgetBuilder)).
        budget_ratio: f64,
        /// A budget's tokens per second whatever the traffic (default 10).
        budget_min_per_second: u32,
        /// The most tokens a budget holds (default ten seconds of `budget_min_per_second`).
        budget_max_tokens: u32,
    }
}

/// What [`RetrySettings::validate`] checks the settings into.
pub(crate) struct Checked {
    pub(crate) backoff: Backoff,
    pub(crate) max_attempts: u32,
    pub(crate) deadline: Option<Duration>,
    pub(crate) max_retry_after: Duration,
    /// A budget of these settings' own, when they describe one.
    pub(crate) budget: Option<RetryBudget>,
}

impl RetrySettings {
    /// Whether a budget field is set.
    pub(crate) fn describes_budget(&self) -> bool {
        self.budget_ratio.is_some()
            || self.budget_min_per_second.is_some()
            || self.budget_max_tokens.is_some()
    }

    /// Sets every backoff field to describe `backoff`.
    pub(crate) fn set_backoff(&mut self, backoff: Backoff) {
        let (kind, base, multiplier, step) = match backoff.schedule {
            Schedule::Constant(delay) => (BackoffKind::Constant, delay, None, None),
            Schedule::Linear { initial, step } => (BackoffKind::Linear, initial, None, Some(step)),
            Schedule::Exponential { base, multiplier } => {
                (BackoffKind::Exponential, base, Some(multiplier), None)
            }
        };
        self.backoff = Some(kind);
        self.backoff_base = Some(base);
        self.backoff_multiplier = multiplier;
        self.backoff_step = step;
        self.max_delay = Some(backoff.max_delay);
        self.jitter = Some(backoff.jitter);
    }

    /// Clears the budget fields.
    pub(crate) fn clear_budget(&mut self) {
        self.budget_ratio = None;
        self.budget_min_per_second = None;
        self.budget_max_tokens = None;
    }

    /// Checks every setting and fills in the defaults, or names the first bad field and its
    /// value.
    pub(crate) fn validate(&self) -> Result<Checked, ConfigError> {
        let max_attempts = self.max_attempts.unwrap_or(DEFAULT_MAX_ATTEMPTS);
        if !(1..=MAX_ATTEMPTS).contains(&max_attempts) {
            return Err(ConfigError::new("max_attempts", "in 1..=100", max_attempts));
        }
        if let Some(deadline) = self.deadline {
            if deadline.is_zero() {
                return Err(ConfigError::new("deadline", "greater than zero", deadline));
            }
        }
        let max_retry_after = self.max_retry_after.unwrap_or(DEFAULT_MAX_RETRY_AFTER);
        if max_retry_after.is_zero() {
            return Err(ConfigError::new(
                "max_retry_after",
                "greater than zero",
                max_retry_after,
            ));
        }
        let backoff = Backoff {
            schedule: self.schedule()?,
            max_delay: self.max_delay.unwrap_or(DEFAULT_MAX_DELAY),
            jitter: self.jitter.unwrap_or(DEFAULT_JITTER),
        };
        backoff.validate()?;
        let budget = if self.describes_budget() {
            let mut budget = RetryBudget::builder();
            if let Some(ratio) = self.budget_ratio {
                budget = budget.ratio(ratio);
            }
            if let Some(tokens) = self.budget_min_per_second {
                budget = budget.min_per_second(tokens);
            }
            if let Some(tokens) = self.budget_max_tokens {
                budget = budget.max_tokens(tokens);
            }
            Some(budget.build()?)
        } else {
            None
        };
        Ok(Checked {
            backoff,
            max_attempts,
            deadline: self.deadline,
            max_retry_after,
            budget,
        })
    }

    /// The schedule the backoff fields describe; a field the shape does not use is an error.
    fn schedule(&self) -> Result<Schedule, ConfigError> {
        let kind = self.backoff.unwrap_or_default();
        let base = self.backoff_base.unwrap_or(DEFAULT_BACKOFF_BASE);
        if let (Some(m), false) = (self.backoff_multiplier, kind == BackoffKind::Exponential) {
            return Err(ConfigError::new(
                "backoff_multiplier",
                "set only with backoff = exponential",
                m,
            ));
        }
        if let (Some(step), false) = (self.backoff_step, kind == BackoffKind::Linear) {
            return Err(ConfigError::new(
                "backoff_step",
                "set only with backoff = linear",
                step,
            ));
        }
        Ok(match kind {
            BackoffKind::Constant => Schedule::Constant(base),
            BackoffKind::Linear => Schedule::Linear {
                initial: base,
                step: self.backoff_step.unwrap_or(base),
            },
            BackoffKind::Exponential => Schedule::Exponential {
                base,
                multiplier: self
                    .backoff_multiplier
                    .unwrap_or(DEFAULT_BACKOFF_MULTIPLIER),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checked(s: &RetrySettings) -> Checked {
        s.validate().expect("valid settings")
    }

    #[test]
    fn unset_settings_are_the_documented_defaults() {
        let c = checked(&RetrySettings::default());
        assert_eq!(c.max_attempts, 3);
        assert_eq!(c.deadline, None);
        assert_eq!(c.max_retry_after, Duration::from_secs(60));
        assert_eq!(c.backoff, Backoff::default());
        assert_eq!(
            c.backoff,
            Backoff::exponential(Duration::from_millis(100), 2.0)
                .max_delay(Duration::from_secs(10))
                .jitter(Jitter::Full)
        );
        assert!(c.budget.is_none());
    }

    #[test]
    fn every_backoff_comes_back_from_its_fields() {
        let ms = Duration::from_millis;
        for backoff in [
            Backoff::constant(ms(250)),
            Backoff::linear(ms(10), ms(30)).max_delay(ms(90)),
            Backoff::exponential(ms(5), 3.5).jitter(Jitter::Decorrelated),
            Backoff::constant(Duration::ZERO).jitter(Jitter::Equal),
        ] {
            let mut s = RetrySettings::default();
            s.set_backoff(backoff);
            assert_eq!(checked(&s).backoff, backoff);
        }
    }

    #[test]
    fn a_linear_step_defaults_to_the_base() {
        let s = RetrySettings {
            backoff: Some(BackoffKind::Linear),
            backoff_base: Some(Duration::from_millis(40)),
            jitter: Some(Jitter::None),
            ..RetrySettings::default()
        };
        let b = checked(&s).backoff;
        assert_eq!(b.base_delay(1), Duration::from_millis(40));
        assert_eq!(b.base_delay(3), Duration::from_millis(120));
    }

    #[test]
    fn a_field_the_shape_does_not_use_is_named() {
        let step = RetrySettings {
            backoff_step: Some(Duration::from_millis(5)),
            ..RetrySettings::default()
        };
        let err = step
            .validate()
            .err()
            .expect("a step on an exponential schedule");
        assert_eq!(err.field(), "backoff_step");
        assert_eq!(
            err.to_string(),
            "backoff_step must be set only with backoff = linear, got 5ms"
        );
        for kind in [BackoffKind::Constant, BackoffKind::Linear] {
            let multiplier = RetrySettings {
                backoff: Some(kind),
                backoff_multiplier: Some(2.0),
                ..RetrySettings::default()
            };
            let err = multiplier
                .validate()
                .err()
                .expect("a multiplier off exponential");
            assert_eq!(err.field(), "backoff_multiplier");
        }
    }

    #[test]
    fn bad_values_are_named_with_their_field() {
        let cases: [(RetrySettings, &str); 7] = [
            (
                RetrySettings {
                    max_attempts: Some(0),
                    ..RetrySettings::default()
                },
                "max_attempts",
            ),
            (
                RetrySettings {
                    max_attempts: Some(MAX_ATTEMPTS + 1),
                    ..RetrySettings::default()
                },
                "max_attempts",
            ),
            (
                RetrySettings {
                    deadline: Some(Duration::ZERO),
                    ..RetrySettings::default()
                },
                "deadline",
            ),
            (
                RetrySettings {
                    max_retry_after: Some(Duration::ZERO),
                    ..RetrySettings::default()
                },
                "max_retry_after",
            ),
            (
                RetrySettings {
                    backoff_multiplier: Some(f64::NAN),
                    ..RetrySettings::default()
                },
                "backoff_multiplier",
            ),
            (
                RetrySettings {
                    max_delay: Some(Duration::ZERO),
                    ..RetrySettings::default()
                },
                "max_delay",
            ),
            (
                RetrySettings {
                    budget_ratio: Some(-1.0),
                    ..RetrySettings::default()
                },
                "budget_ratio",
            ),
        ];
        for (settings, field) in cases {
            let err = settings.validate().err().expect("invalid settings");
            assert_eq!(err.field(), field, "{settings:?}");
        }
        let edge = RetrySettings {
            max_attempts: Some(MAX_ATTEMPTS),
            ..RetrySettings::default()
        };
        assert_eq!(checked(&edge).max_attempts, MAX_ATTEMPTS);
        let once = RetrySettings {
            max_attempts: Some(1),
            ..RetrySettings::default()
        };
        assert_eq!(checked(&once).max_attempts, 1);
    }

    #[test]
    fn any_budget_field_makes_a_budget_with_the_rest_defaulted() {
        let s = RetrySettings {
            budget_max_tokens: Some(3),
            ..RetrySettings::default()
        };
        let budget = checked(&s).budget.expect("a budget");
        // Ten tokens per second by default, capped at the three the settings allow.
        assert!((budget.tokens() - 3.0).abs() < 1e-9, "{}", budget.tokens());
        let mut cleared = s;
        cleared.clear_budget();
        assert!(!cleared.describes_budget());
        assert!(checked(&cleared).budget.is_none());
    }

    #[test]
    fn or_keeps_what_is_set_and_fills_the_rest() {
        let mine = RetrySettings {
            max_attempts: Some(5),
            ..RetrySettings::default()
        };
        let defaults = RetrySettings {
            max_attempts: Some(2),
            deadline: Some(Duration::from_secs(1)),
            ..RetrySettings::default()
        };
        let merged = mine.or(&defaults);
        assert_eq!(merged.max_attempts, Some(5));
        assert_eq!(merged.deadline, Some(Duration::from_secs(1)));
        assert_eq!(merged.jitter, None);
    }
}
