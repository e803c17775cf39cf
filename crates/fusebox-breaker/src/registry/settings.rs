//! A registry's settings: defaults and per-breaker [`BreakerSettings`], from serde formats or
//! from environment variables, read through the field table of [`crate::settings`].

use super::BreakerRegistry;
use crate::breaker::Breaker;
use crate::settings::{
    env_key, env_name, field_name, parse, set, BreakerSettings, FIELDS, SETTING_WORDS,
};
use fusebox_core::ConfigError;
use std::collections::{BTreeMap, HashMap};

/// Settings for a [`BreakerRegistry`]: defaults, and per-breaker overrides by name.
///
/// ```toml
/// [defaults]
/// consecutive_failures = 5
/// open_duration = "60s"
///
/// [breakers.calendar]
/// consecutive_failures = 3
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(default, deny_unknown_fields)
)]
#[non_exhaustive]
pub struct RegistrySettings {
    /// Settings every breaker starts from.
    pub defaults: BreakerSettings,
    /// Per-breaker settings, by breaker name; unset fields fall back to `defaults`.
    pub breakers: BTreeMap<String, BreakerSettings>,
}

/// Where each environment-set field came from, to name the variable in errors.
type Origins = HashMap<(Option<String>, &'static str), String>;

/// [`RegistrySettings`] read from environment variables, with what was not understood.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct EnvSettings {
    /// The settings.
    pub settings: RegistrySettings,
    /// Variables under the prefix that name no setting (each also logged as a warning).
    pub unknown: Vec<String>,
    /// Variables read as a setting of a breaker whose name ends in a word of a setting's name
    /// (`FUSEBOX_BREAKER_CALENDAR_MAX_OPEN_DURATION`: breaker `calendar_max`), which is more
    /// likely a misspelt setting; each also logged as a warning. Read the variables with
    /// [`RegistrySettings::from_vars_for`] and the application's breaker names to make such a
    /// variable an error instead.
    pub doubtful: Vec<String>,
}

impl RegistrySettings {
    /// Reads settings from the process environment: `{PREFIX}_{SETTING}` (or
    /// `{PREFIX}_DEFAULT_{SETTING}`) for the defaults and `{PREFIX}_{NAME}_{SETTING}` for the
    /// breaker `name`, where `NAME` is [`env_name`]`(name)`: for example
    /// `FUSEBOX_BREAKER_FAILURE_THRESHOLD=5`, `FUSEBOX_BREAKER_OPEN_DURATION=60s`,
    /// `FUSEBOX_BREAKER_PAYMENT_GATEWAY_FAILURE_THRESHOLD=3` (for `payment-gateway`).
    /// `FAILURE_THRESHOLD` is another name for `CONSECUTIVE_FAILURES`; setting both is an
    /// error. Every breaker described is checked; an invalid value fails with an error naming
    /// the variable and its value.
    ///
    /// Without the application's breaker names, a variable's breaker name is whatever stands
    /// before a known setting, so a misspelt setting reads as a breaker with an odd name;
    /// [`from_env_for`](Self::from_env_for) knows the names and rejects such variables.
    pub fn from_env(prefix: &str) -> Result<EnvSettings, ConfigError> {
        Self::from_vars(prefix, std::env::vars())
    }

    /// Like [`from_env`](Self::from_env), for an application whose breakers are `names`: a
    /// variable that names no breaker of them is an error naming the variable, and so are two
    /// names that read the same in a variable (`payment-gateway` and `payment_gateway`).
    pub fn from_env_for<'n>(
        prefix: &str,
        names: impl IntoIterator<Item = &'n str>,
    ) -> Result<EnvSettings, ConfigError> {
        Self::from_vars_for(prefix, names, std::env::vars())
    }

    /// Like [`from_env`](Self::from_env), from the given variables.
    ///
    /// ```
    /// use fusebox_breaker::RegistrySettings;
    /// use std::time::Duration;
    ///
    /// let env = RegistrySettings::from_vars("FUSEBOX_BREAKER", [
    ///     ("FUSEBOX_BREAKER_FAILURE_THRESHOLD".to_owned(), "5".to_owned()),
    ///     ("FUSEBOX_BREAKER_OPEN_DURATION".to_owned(), "60s".to_owned()),
    ///     ("FUSEBOX_BREAKER_CALENDAR_FAILURE_THRESHOLD".to_owned(), "3".to_owned()),
    /// ])?;
    /// let s = &env.settings;
    /// assert_eq!(s.defaults.consecutive_failures, Some(5));
    /// assert_eq!(s.defaults.open_duration, Some(Duration::from_secs(60)));
    /// assert_eq!(s.breakers["calendar"].consecutive_failures, Some(3));
    ///
    /// let err = RegistrySettings::from_vars("FUSEBOX_BREAKER", [
    ///     ("FUSEBOX_BREAKER_CALENDAR_FAILURE_RATE".to_owned(), "1.5".to_owned()),
    /// ]).unwrap_err();
    /// assert_eq!(
    ///     err.to_string(),
    ///     "FUSEBOX_BREAKER_CALENDAR_FAILURE_RATE must be in (0, 1], got 1.5"
    /// );
    /// # Ok::<(), fusebox_breaker::ConfigError>(())
    /// ```
    pub fn from_vars(
        prefix: &str,
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<EnvSettings, ConfigError> {
        Self::read_vars(prefix, None, vars)
    }

    /// Like [`from_env_for`](Self::from_env_for), from the given variables.
    ///
    /// ```
    /// use fusebox_breaker::RegistrySettings;
    ///
    /// let vars = |pairs: &[(&str, &str)]| {
    ///     pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<Vec<_>>()
    /// };
    /// let names = ["calendar", "payment-gateway"];
    /// let env = RegistrySettings::from_vars_for("FB", names, vars(&[
    ///     ("FB_PAYMENT_GATEWAY_OPEN_DURATION", "10s"),
    /// ]))?;
    /// assert!(env.settings.for_breaker("payment-gateway").open_duration.is_some());
    ///
    /// // A misspelt setting: there is no breaker `calendar_max`.
    /// let err = RegistrySettings::from_vars_for("FB", names, vars(&[
    ///     ("FB_CALENDAR_MAX_OPEN_DURATION", "10s"),
    /// ])).unwrap_err();
    /// assert_eq!(err.field(), "FB_CALENDAR_MAX_OPEN_DURATION");
    /// # Ok::<(), fusebox_breaker::ConfigError>(())
    /// ```
    pub fn from_vars_for<'n>(
        prefix: &str,
        names: impl IntoIterator<Item = &'n str>,
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<EnvSettings, ConfigError> {
        let known = known_names(names)?;
        Self::read_vars(prefix, Some(&known), vars)
    }

    fn read_vars(
        prefix: &str,
        known: Option<&BTreeMap<String, String>>,
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<EnvSettings, ConfigError> {
        let head = format!("{}_", prefix.trim_end_matches('_'));
        let mut settings = RegistrySettings::default();
        let mut origins = Origins::new();
        let mut unknown = Vec::new();
        let mut doubtful = Vec::new();
        let mut vars: Vec<(String, String)> = vars
            .into_iter()
            .filter(|(k, _)| k.starts_with(&head))
            .collect();
        vars.sort();
        for (variable, value) in vars {
            let rest = &variable[head.len()..];
            // The longest suffix that matches: `SLOW_CALL_RATE`, not a shorter setting's.
            let found = FIELDS
                .iter()
                .filter_map(|&(suffix, field, kind)| {
                    let name = if rest == suffix {
                        None
                    } else {
                        let name = rest
                            .strip_suffix(suffix)
                            .and_then(|name| name.strip_suffix('_'))
                            .filter(|name| !name.is_empty())?;
                        Some(name)
                    };
                    Some((suffix.len(), name, field, kind))
                })
                .max_by_key(|&(len, ..)| len);
            let Some((_, name, field, kind)) = found else {
                tracing::warn!(variable = %variable, "ignoring an unknown breaker setting");
                unknown.push(variable);
                continue;
            };
            let name: Option<String> = match name {
                None | Some("DEFAULT" | "DEFAULTS") => None,
                Some(name) => match known {
                    Some(known) => match known.get(name) {
                        Some(_) => Some(name.to_ascii_lowercase()),
                        None => {
                            return Err(ConfigError::new(
                                variable.clone(),
                                "a setting of one of the application's breakers",
                                format!(
                                    "breaker {:?}, which is none of {:?}",
                                    name.to_ascii_lowercase(),
                                    known.values().collect::<Vec<_>>()
                                ),
                            ))
                        }
                    },
                    None => {
                        let name = name.to_ascii_lowercase();
                        let last = name.rsplit('_').next().unwrap_or_default();
                        if SETTING_WORDS.contains(&last) {
                            tracing::warn!(
                                variable = %variable,
                                breaker = %name,
                                "read as a setting of a breaker whose name ends like a setting; \
                                 is the setting misspelt?"
                            );
                            doubtful.push(variable.clone());
                        }
                        Some(name)
                    }
                },
            };
            let parsed = parse(&variable, &value, kind)?;
            if let Some(other) = origins.get(&(name.clone(), field)) {
                return Err(ConfigError::new(
                    variable,
                    "the only variable for its setting (FAILURE_THRESHOLD is CONSECUTIVE_FAILURES)",
                    format!("{other} sets it too"),
                ));
            }
            let target = match &name {
                None => &mut settings.defaults,
                Some(name) => settings.breakers.entry(name.clone()).or_default(),
            };
            set(target, field, parsed);
            origins.insert((name, field), variable);
        }
        settings.check().map_err(|(name, err)| {
            let field = err.field().to_owned();
            let origin = origins
                .get(&(name.clone(), field_name(&field)))
                .or_else(|| origins.get(&(None, field_name(&field))));
            match origin {
                Some(variable) => err.with_field(variable.clone()),
                None => err,
            }
        })?;
        Ok(EnvSettings {
            settings,
            unknown,
            doubtful,
        })
    }

    /// Like [`validate`](Self::validate), for an application whose breakers are `names`:
    /// settings for a breaker that is none of them (a typo, or a breaker removed from the code
    /// but not from the file) are an error naming the section.
    ///
    /// ```
    /// use fusebox_breaker::{BreakerSettings, RegistrySettings};
    ///
    /// let mut settings = RegistrySettings::default();
    /// settings.breakers.insert("calender".into(), BreakerSettings::default());
    /// let err = settings.validate_for(["calendar", "payments"]).unwrap_err();
    /// assert_eq!(err.field(), "breakers.calender");
    /// ```
    pub fn validate_for<'n>(
        &self,
        names: impl IntoIterator<Item = &'n str>,
    ) -> Result<(), ConfigError> {
        self.validate()?;
        let known = known_names(names)?;
        for key in self.breakers.keys() {
            let exact = known.values().any(|name| name == key);
            if !exact && !known.contains_key(&env_name(key)) {
                return Err(ConfigError::new(
                    format!("breakers.{key}"),
                    "the settings of one of the application's breakers",
                    format!(
                        "{key:?}, which is none of {:?}",
                        known.values().collect::<Vec<_>>()
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The settings for the breaker `name`: its own, then the defaults. Its own are those
    /// under `name`, or else under the key its environment variables use
    /// ([`env_name`]`(name)` lower-cased: `payment_gateway` for `payment-gateway`).
    pub fn for_breaker(&self, name: &str) -> BreakerSettings {
        let own = self
            .breakers
            .get(name)
            .or_else(|| self.breakers.get(&env_key(name)));
        match own {
            Some(own) => own.or(&self.defaults),
            None => self.defaults.clone(),
        }
    }

    /// Checks the defaults and every named breaker; the error names the breaker's path
    /// (`breakers.calendar.failure_rate`).
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.check().map_err(|(name, err)| match name {
            Some(name) => {
                let field = format!("breakers.{name}.{}", err.field());
                err.with_field(field)
            }
            None => {
                let field = format!("defaults.{}", err.field());
                err.with_field(field)
            }
        })
    }

    fn check(&self) -> Result<(), (Option<String>, ConfigError)> {
        self.defaults.build("defaults").map_err(|e| (None, e))?;
        for name in self.breakers.keys() {
            self.for_breaker(name)
                .build(name)
                .map_err(|e| (Some(name.clone()), e))?;
        }
        Ok(())
    }

    /// A registry whose breakers are made from these settings (checked first).
    pub fn into_registry(self) -> Result<BreakerRegistry, ConfigError> {
        self.validate()?;
        Ok(BreakerRegistry::new(move |name| {
            let settings = self.for_breaker(name);
            // Checked above for every named breaker and for the defaults alone.
            settings.apply(Breaker::builder(name))
        }))
    }
}

/// `names` by their [`env_name`]; two names that read the same in a variable are an error.
fn known_names<'n>(
    names: impl IntoIterator<Item = &'n str>,
) -> Result<BTreeMap<String, String>, ConfigError> {
    let mut known = BTreeMap::new();
    for name in names {
        if let Some(other) = known.insert(env_name(name), name.to_owned()) {
            if other != name {
                return Err(ConfigError::new(
                    "names",
                    "breaker names that differ in environment variables",
                    format!("{other:?} and {name:?} are both {}", env_name(name)),
                ));
            }
        }
    }
    Ok(known)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn every_setting_reads_from_the_environment() {
        let env = RegistrySettings::from_vars(
            "FB",
            vars(&[
                ("FB_CONSECUTIVE_FAILURES", "4"),
                ("FB_FAILURE_RATE", "0.5"),
                ("FB_COUNT_WINDOW", "50"),
                ("FB_MIN_CALLS", "10"),
                ("FB_SLOW_CALL_DURATION", "1500ms"),
                ("FB_SLOW_CALL_RATE", "0.8"),
                ("FB_OPEN_DURATION", "2m"),
                ("FB_OPEN_DURATION_MULTIPLIER", "3"),
                ("FB_OPEN_DURATION_MAX", "1h"),
                ("FB_HALF_OPEN_PROBES", "2"),
                ("FB_HALF_OPEN_SUCCESSES", "2"),
                ("FB_HALF_OPEN_MAX_WAIT", "45"),
                ("FB_PAYMENT_GATEWAY_TIME_WINDOW", "30s"),
                ("FB_PAYMENT_GATEWAY_START_DISABLED", "Yes"),
                ("FB_PAYMENT_GATEWAY_TIME_WINDOW_BUCKETS", "6"),
                ("FB_OTHER", "x"),
                ("UNRELATED", "y"),
            ]),
        )
        .unwrap();
        let d = &env.settings.defaults;
        assert_eq!(d.consecutive_failures, Some(4));
        assert_eq!(d.slow_call_duration, Some(Duration::from_millis(1500)));
        assert_eq!(d.open_duration, Some(Duration::from_secs(120)));
        assert_eq!(d.open_duration_max, Some(Duration::from_secs(3600)));
        assert_eq!(d.half_open_max_wait, Some(Duration::from_secs(45)));
        let gw = &env.settings.breakers["payment_gateway"];
        assert_eq!(gw.time_window, Some(Duration::from_secs(30)));
        assert_eq!(gw.time_window_buckets, Some(6));
        assert_eq!(gw.start_disabled, Some(true));
        assert_eq!(d.start_disabled, None);
        assert_eq!(env.unknown, ["FB_OTHER"]);
        let merged = env.settings.for_breaker("payment_gateway");
        assert_eq!(merged.failure_rate, Some(0.5), "defaults fill the rest");
        let b = merged.build("payment_gateway").unwrap();
        assert_eq!(b.state(), crate::CircuitState::Disabled);
        assert_eq!(
            b.window(),
            Some(crate::WindowKind::Time {
                duration: Duration::from_secs(30),
                buckets: 6
            })
        );
    }

    #[test]
    fn invalid_values_name_the_variable() {
        let cases = [
            (
                ("FB_FAILURE_THRESHOLD", "five"),
                "FB_FAILURE_THRESHOLD must be a whole number, got \"five\"",
            ),
            (
                ("FB_X_OPEN_DURATION", "soon"),
                "FB_X_OPEN_DURATION must be a duration such as 30s, 2m or 1500ms, got \"soon\"",
            ),
            (
                ("FB_X_FAILURE_RATE", "lots"),
                "FB_X_FAILURE_RATE must be a number, got \"lots\"",
            ),
            (
                ("FB_HALF_OPEN_PROBES", "0"),
                "FB_HALF_OPEN_PROBES must be in 1..=65535, got 0",
            ),
            (
                ("FB_CALENDAR_FAILURE_RATE", "1.5"),
                "FB_CALENDAR_FAILURE_RATE must be in (0, 1], got 1.5",
            ),
            (
                ("FB_START_DISABLED", "maybe"),
                "FB_START_DISABLED must be true or false (or yes/no, on/off, 1/0), got \"maybe\"",
            ),
        ];
        for ((k, v), message) in cases {
            let err = RegistrySettings::from_vars("FB", vars(&[(k, v)])).unwrap_err();
            assert_eq!(err.to_string(), message);
        }
        // A default that breaks a named breaker is reported against the default's variable.
        let err = RegistrySettings::from_vars(
            "FB",
            vars(&[("FB_OPEN_DURATION", "0s"), ("FB_CALENDAR_MIN_CALLS", "3")]),
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "FB_OPEN_DURATION must be greater than zero, got 0ns"
        );
    }

    #[test]
    fn half_set_pairs_are_rejected() {
        let s = BreakerSettings {
            slow_call_duration: Some(Duration::from_secs(1)),
            ..BreakerSettings::default()
        };
        assert_eq!(
            s.build("x").unwrap_err().to_string(),
            "slow_call_duration must be set only with slow_call_rate (which is unset), got 1s"
        );
    }

    #[test]
    fn a_setting_needing_another_names_its_variable() {
        let err = RegistrySettings::from_vars("FB", vars(&[("FB_X_TIME_WINDOW_BUCKETS", "6")]))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "FB_X_TIME_WINDOW_BUCKETS must be set only with time_window (which is unset), got 6"
        );
        let err =
            RegistrySettings::from_vars("FB", vars(&[("FB_SLOW_CALL_RATE", "0.5")])).unwrap_err();
        assert_eq!(err.field(), "FB_SLOW_CALL_RATE");
    }

    #[test]
    fn default_prefixed_variables_set_the_defaults() {
        let env = RegistrySettings::from_vars(
            "FB",
            vars(&[
                ("FB_DEFAULT_OPEN_DURATION", "60s"),
                ("FB_DEFAULTS_MIN_CALLS", "7"),
            ]),
        )
        .unwrap();
        assert!(env.settings.breakers.is_empty(), "no breaker named default");
        assert_eq!(
            env.settings.defaults.open_duration,
            Some(Duration::from_secs(60))
        );
        assert_eq!(env.settings.defaults.min_calls, Some(7));
    }

    #[test]
    fn two_variables_for_one_setting_are_an_error() {
        let err = RegistrySettings::from_vars(
            "FB",
            vars(&[
                ("FB_CALENDAR_FAILURE_THRESHOLD", "3"),
                ("FB_CALENDAR_CONSECUTIVE_FAILURES", "5"),
            ]),
        )
        .unwrap_err();
        assert_eq!(err.field(), "FB_CALENDAR_FAILURE_THRESHOLD");
        assert!(
            err.to_string()
                .contains("FB_CALENDAR_CONSECUTIVE_FAILURES sets it too"),
            "{err}"
        );
    }

    #[test]
    fn names_map_to_variables_by_one_rule() {
        let env = RegistrySettings::from_vars(
            "FB",
            vars(&[
                ("FB_PAYMENT_GATEWAY_MIN_CALLS", "3"),
                ("FB_PAYMENTS_MIN_CALLS", "4"),
            ]),
        )
        .unwrap();
        // Registry names with capitals, `-` or `.` reach their variables.
        assert_eq!(
            env.settings.for_breaker("payment-gateway").min_calls,
            Some(3)
        );
        assert_eq!(
            env.settings.for_breaker("Payment.Gateway").min_calls,
            Some(3)
        );
        assert_eq!(env.settings.for_breaker("Payments").min_calls, Some(4));
        let err = RegistrySettings::from_vars_for(
            "FB",
            ["payment-gateway", "payment_gateway"],
            vars(&[]),
        )
        .unwrap_err();
        assert_eq!(err.field(), "names");
    }

    #[test]
    fn a_misspelt_setting_is_doubtful_or_an_error() {
        let env =
            RegistrySettings::from_vars("FB", vars(&[("FB_CALENDAR_MAX_OPEN_DURATION", "60s")]))
                .unwrap();
        assert_eq!(env.doubtful, ["FB_CALENDAR_MAX_OPEN_DURATION"]);
        let err = RegistrySettings::from_vars_for(
            "FB",
            ["calendar"],
            vars(&[("FB_CALENDAR_MAX_OPEN_DURATION", "60s")]),
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "FB_CALENDAR_MAX_OPEN_DURATION must be a setting of one of the application's \
             breakers, got \"breaker \\\"calendar_max\\\", which is none of [\\\"calendar\\\"]\""
        );
    }

    #[test]
    fn settings_for_a_breaker_the_application_lacks_are_an_error() {
        let mut settings = RegistrySettings::default();
        settings
            .breakers
            .insert("payment_gateway".into(), BreakerSettings::default());
        assert!(settings.validate_for(["payment-gateway"]).is_ok());
        settings
            .breakers
            .insert("calender".into(), BreakerSettings::default());
        let err = settings
            .validate_for(["payment-gateway", "calendar"])
            .unwrap_err();
        assert_eq!(err.field(), "breakers.calender");
    }

    #[test]
    fn durations_take_fractional_seconds_and_long_values_are_cut_in_errors() {
        let env = RegistrySettings::from_vars("FB", vars(&[("FB_OPEN_DURATION", "1.5")])).unwrap();
        assert_eq!(
            env.settings.defaults.open_duration,
            Some(Duration::from_millis(1500))
        );
        let huge = "9".repeat(1_000_000);
        let err = RegistrySettings::from_vars("FB", vars(&[("FB_MIN_CALLS", &huge)])).unwrap_err();
        assert!(
            err.to_string().len() < 200,
            "{} bytes",
            err.to_string().len()
        );
        // The largest number of seconds is read, and rejected for what it is.
        let err = RegistrySettings::from_vars(
            "FB",
            vars(&[("FB_OPEN_DURATION", "18446744073709551615")]),
        )
        .unwrap_err();
        assert_eq!(err.field(), "FB_OPEN_DURATION");
        assert!(err.to_string().contains("at most"), "{err}");
    }

    #[test]
    fn registry_settings_make_the_registry() {
        let mut settings = RegistrySettings::default();
        settings.defaults.consecutive_failures = Some(5);
        settings.breakers.insert(
            "calendar".into(),
            BreakerSettings {
                consecutive_failures: Some(1),
                ..BreakerSettings::default()
            },
        );
        let registry = settings.into_registry().unwrap();
        let calendar = registry.get("calendar").unwrap();
        calendar.try_acquire().unwrap().failure();
        assert_eq!(calendar.state(), crate::CircuitState::Open);
        let other = registry.get("email").unwrap();
        for _ in 0..4 {
            other.try_acquire().unwrap().failure();
        }
        assert_eq!(other.state(), crate::CircuitState::Closed);
    }

    #[test]
    fn validation_names_the_breaker_path() {
        let mut settings = RegistrySettings::default();
        settings.breakers.insert(
            "calendar".into(),
            BreakerSettings {
                failure_rate: Some(2.0),
                ..BreakerSettings::default()
            },
        );
        assert_eq!(
            settings.validate().unwrap_err().to_string(),
            "breakers.calendar.failure_rate must be in (0, 1], got 2.0"
        );
    }
}
