use std::fmt;

/// An invalid setting: names the field, what it must be, and the value it got.
///
/// Every fusebox builder returns this from `build()`, so a configuration mistake reads the same
/// way whichever layer made it.
///
/// ```
/// use fusebox_core::ConfigError;
///
/// let err = ConfigError::new("failure_rate", "in (0, 1]", 1.5);
/// assert_eq!(err.field(), "failure_rate");
/// assert_eq!(err.to_string(), "failure_rate must be in (0, 1], got 1.5");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    field: &'static str,
    expected: &'static str,
    value: String,
}

impl ConfigError {
    /// An error for `field`, which must be `expected` but is `value` (shown with `Debug`).
    pub fn new(field: &'static str, expected: &'static str, value: impl fmt::Debug) -> Self {
        ConfigError {
            field,
            expected,
            value: format!("{value:?}"),
        }
    }

    /// The setting that is wrong.
    pub fn field(&self) -> &'static str {
        self.field
    }

    /// The rejected value, as written in the message.
    pub fn value(&self) -> &str {
        &self.value
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} must be {}, got {}",
            self.field, self.expected, self.value
        )
    }
}

impl std::error::Error for ConfigError {}
