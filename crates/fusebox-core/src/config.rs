use std::borrow::Cow;
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
    field: Cow<'static, str>,
    expected: &'static str,
    value: String,
}

impl ConfigError {
    /// An error for `field`, which must be `expected` but is `value` (shown with `Debug`, and
    /// cut to [`MAX_SHOWN`](Self::MAX_SHOWN) characters with a note of its full length, so a
    /// megabyte of garbage in a variable does not become a megabyte of log line).
    ///
    /// ```
    /// use fusebox_core::ConfigError;
    ///
    /// let err = ConfigError::new("namespace", "a short name", "x".repeat(1_000_000));
    /// assert!(err.to_string().len() < 200);
    /// assert!(err.value().ends_with("… (1000002 characters)"));
    /// ```
    pub fn new(
        field: impl Into<Cow<'static, str>>,
        expected: &'static str,
        value: impl fmt::Debug,
    ) -> Self {
        let mut value = format!("{value:?}");
        let length = value.chars().count();
        if length > Self::MAX_SHOWN {
            let cut = value
                .char_indices()
                .nth(Self::MAX_SHOWN)
                .map_or(value.len(), |(i, _)| i);
            value.truncate(cut);
            value.push_str(&format!("… ({length} characters)"));
        }
        ConfigError {
            field: field.into(),
            expected,
            value,
        }
    }

    /// The most characters of a rejected value an error shows.
    pub const MAX_SHOWN: usize = 80;

    /// The setting that is wrong (a field, or an environment variable when the setting came
    /// from one).
    pub fn field(&self) -> &str {
        &self.field
    }

    /// The same error, naming the setting `field` instead (for example the environment
    /// variable or the configuration path it came from).
    pub fn with_field(mut self, field: impl Into<Cow<'static, str>>) -> Self {
        self.field = field.into();
        self
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
