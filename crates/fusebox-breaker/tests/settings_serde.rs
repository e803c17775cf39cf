//! Breaker settings through serde: TOML and JSON round trips, unknown fields rejected.
#![cfg(feature = "serde")]

use fusebox_breaker::{BreakerSettings, RegistrySettings};
use std::time::Duration;

const TOML: &str = r#"
[defaults]
consecutive_failures = 5
open_duration = "60s"
half_open_max_wait = "1m 30s"

[breakers.calendar]
consecutive_failures = 3
failure_rate = 0.5
count_window = 20
slow_call_duration = "1500ms"
slow_call_rate = 0.8
start_disabled = true
"#;

#[test]
fn toml_loads_and_round_trips() {
    let settings: RegistrySettings = toml::from_str(TOML).unwrap();
    assert_eq!(
        settings.defaults.open_duration,
        Some(Duration::from_secs(60))
    );
    assert_eq!(
        settings.defaults.half_open_max_wait,
        Some(Duration::from_secs(90))
    );
    let calendar = settings.for_breaker("calendar");
    assert_eq!(calendar.consecutive_failures, Some(3));
    assert_eq!(calendar.start_disabled, Some(true));
    assert_eq!(settings.defaults.start_disabled, None);
    assert_eq!(
        calendar.slow_call_duration,
        Some(Duration::from_millis(1500))
    );
    assert_eq!(
        calendar.open_duration,
        Some(Duration::from_secs(60)),
        "from the defaults"
    );
    settings.validate().unwrap();

    let written = toml::to_string(&settings).unwrap();
    let again: RegistrySettings = toml::from_str(&written).unwrap();
    assert_eq!(again, settings);

    let json = serde_json::to_string(&settings).unwrap();
    let from_json: RegistrySettings = serde_json::from_str(&json).unwrap();
    assert_eq!(from_json, settings);
}

#[test]
fn unknown_fields_and_bad_values_are_rejected_by_name() {
    let err = toml::from_str::<BreakerSettings>("failure_treshold = 3").unwrap_err();
    assert!(err.to_string().contains("failure_treshold"), "{err}");
    let err = toml::from_str::<BreakerSettings>("open_duration = \"soon\"").unwrap_err();
    assert!(err.to_string().contains("open_duration"), "{err}");
    let bad: RegistrySettings =
        toml::from_str("[breakers.telephony]\nhalf_open_probes = 0").unwrap();
    assert_eq!(
        bad.validate().unwrap_err().to_string(),
        "breakers.telephony.half_open_probes must be in 1..=65535, got 0"
    );
}
