//! Service-level objectives, and the Prometheus rules that alert when one burns its error
//! budget too fast: the multi-window, multi-burn-rate alerts of the SRE workbook, generated
//! from the objectives' own definitions.

use crate::names;
use fusebox_core::ConfigError;
use std::fmt::Write as _;
use std::time::Duration;

/// The objectives of one service, as [`MetricsLayer`](crate::MetricsLayer) records its calls:
/// the share of calls that must succeed (availability), and the share that must finish under
/// a threshold (latency). Built with [`Slo::builder`].
///
/// ```
/// use fusebox_metrics::Slo;
/// use std::time::Duration;
///
/// let slo = Slo::builder("payments")
///     .availability(0.999)
///     .latency(Duration::from_secs(1), 0.99)
///     .build()?;
/// assert_eq!(slo.service(), "payments");
/// # Ok::<(), fusebox_core::ConfigError>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Slo {
    service: String,
    availability: Option<f64>,
    latency: Option<(Duration, f64)>,
    recovery: Option<Duration>,
}

/// Settings of an [`Slo`]; from [`Slo::builder`].
#[derive(Clone, Debug)]
pub struct SloBuilder {
    slo: Slo,
}

impl Slo {
    /// Starts the objectives of `service` (the name its `MetricsLayer` was given).
    pub fn builder(service: impl Into<String>) -> SloBuilder {
        SloBuilder {
            slo: Slo {
                service: service.into(),
                availability: None,
                latency: None,
                recovery: None,
            },
        }
    }

    /// The service's name.
    pub fn service(&self) -> &str {
        &self.service
    }

    /// The share of calls that must succeed, if set.
    pub fn availability(&self) -> Option<f64> {
        self.availability
    }

    /// The threshold and the share of calls that must finish under it, if set.
    pub fn latency(&self) -> Option<(Duration, f64)> {
        self.latency
    }

    /// How soon the service's breaker must close again after it opens, if set.
    pub fn recovery(&self) -> Option<Duration> {
        self.recovery
    }
}

/// One objective of an [`Slo`], as its rules are written.
enum Objective {
    Availability {
        target: f64,
    },
    /// `bound`: the threshold's bucket bound, as the exporter writes it (Rust's `{}` of the
    /// seconds).
    Latency {
        bound: String,
        target: f64,
    },
}

impl Objective {
    /// The `slo` label's value.
    fn name(&self) -> &'static str {
        match self {
            Objective::Availability { .. } => "availability",
            Objective::Latency { .. } => "latency",
        }
    }

    fn target(&self) -> f64 {
        match *self {
            Objective::Availability { target } | Objective::Latency { target, .. } => target,
        }
    }

    /// The query (in Prometheus's language) of the share of bad calls of `service` over `range`.
    fn error_ratio(&self, service: &str, range: &str) -> String {
        match self {
            Objective::Availability { .. } => format!(
                "sum(rate({calls}{{service=\"{service}\",outcome=\"failure\"}}[{range}]))\n          / \
                 sum(rate({calls}{{service=\"{service}\",outcome=~\"success|failure\"}}[{range}]))",
                calls = names::CALLS,
            ),
            Objective::Latency { bound, .. } => format!(
                "1 - (\n          sum(rate({duration}_bucket{{service=\"{service}\",le=\"{bound}\"}}[{range}]))\n          / \
                 sum(rate({duration}_count{{service=\"{service}\"}}[{range}]))\n          )",
                duration = names::CALL_DURATION,
            ),
        }
    }
}

impl Slo {
    fn objectives(&self) -> Vec<Objective> {
        let availability = self
            .availability
            .map(|target| Objective::Availability { target });
        let latency = self.latency.map(|(threshold, target)| Objective::Latency {
            bound: format!("{}", threshold.as_secs_f64()),
            target,
        });
        availability.into_iter().chain(latency).collect()
    }
}

/// Whether `target` is a share strictly between 0 and 1.
fn is_share(target: f64) -> bool {
    target > 0.0 && target < 1.0
}

impl SloBuilder {
    /// The share of calls (successes and failures, not ignored ones) that must succeed:
    /// `0.999` is "99.9 %". In (0, 1).
    pub fn availability(mut self, target: f64) -> Self {
        self.slo.availability = Some(target);
        self
    }

    /// The share of calls, `target`, that must finish in at most `threshold`: `(1 s, 0.99)`
    /// is "99 % of calls under a second". The threshold must be one of the exporter's
    /// duration buckets, so that Prometheus counts exactly the calls under it.
    pub fn latency(mut self, threshold: Duration, target: f64) -> Self {
        self.slo.latency = Some((threshold, target));
        self
    }

    /// How soon the service's breaker must close again once it opened: the recovery-time
    /// objective (`300 s` is "closed again within five minutes"). Tracked in process by
    /// [`SloTracker`](crate::SloTracker), whose report alerts while an outage outlasts it.
    pub fn recovery(mut self, objective: Duration) -> Self {
        self.slo.recovery = Some(objective);
        self
    }

    /// The objectives, or an error naming the first setting that is wrong.
    pub fn build(self) -> Result<Slo, ConfigError> {
        let slo = self.slo;
        if slo.service.is_empty() || slo.service.contains(['"', '\\', '\n']) {
            return Err(ConfigError::new(
                "service",
                "a non-empty name without quotes, backslashes or line breaks",
                &slo.service,
            ));
        }
        if let Some(target) = slo.availability {
            if !is_share(target) {
                return Err(ConfigError::new("availability", "in (0, 1)", target));
            }
        }
        if let Some((threshold, target)) = slo.latency {
            if threshold.is_zero() {
                return Err(ConfigError::new("latency.threshold", "above 0", threshold));
            }
            if !is_share(target) {
                return Err(ConfigError::new("latency.target", "in (0, 1)", target));
            }
        }
        if slo.recovery.is_some_and(|objective| objective.is_zero()) {
            return Err(ConfigError::new(
                "recovery",
                "above 0",
                slo.recovery.unwrap_or_default(),
            ));
        }
        if slo.availability.is_none() && slo.latency.is_none() {
            return Err(ConfigError::new(
                "slo",
                "an availability or a latency objective",
                "none",
            ));
        }
        Ok(slo)
    }
}

/// One alert of a multi-window burn-rate policy: it fires while the error budget burns at
/// least `factor` times faster than the objective allows, over both the `long` window (so a
/// blip does not page) and the `short` one (so the alert stops soon after the burn does).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BurnRateWindow {
    /// How much faster than allowed the budget burns.
    pub factor: f64,
    /// The long window.
    pub long: Duration,
    /// The short window.
    pub short: Duration,
}

/// The alerts a burn-rate policy raises, by severity: the SRE workbook's by default (page at
/// 14.4× over 1 h and 5 min, or 6× over 6 h and 30 min; ticket at 1× over 3 days and 6 h).
#[derive(Clone, Debug, PartialEq)]
pub struct BurnRatePolicy {
    /// Windows that page; any one of them firing pages.
    pub page: Vec<BurnRateWindow>,
    /// Windows that open a ticket.
    pub ticket: Vec<BurnRateWindow>,
}

impl Default for BurnRatePolicy {
    fn default() -> Self {
        const MINUTE: u64 = 60;
        const HOUR: u64 = 3_600;
        let window = |factor, long, short| BurnRateWindow {
            factor,
            long: Duration::from_secs(long),
            short: Duration::from_secs(short),
        };
        BurnRatePolicy {
            page: vec![
                window(14.4, HOUR, 5 * MINUTE),
                window(6.0, 6 * HOUR, 30 * MINUTE),
            ],
            ticket: vec![window(1.0, 72 * HOUR, 6 * HOUR)],
        }
    }
}

/// The name of the recording rule of an objective's bad-call ratio over `window`.
pub fn error_ratio_rule(window: Duration) -> String {
    format!(
        "fusebox:slo_error_ratio:rate{}",
        prometheus_duration(window)
    )
}

/// The name of the alert a policy's `severity` (`"page"`, `"ticket"`) raises.
pub fn alert_name(severity: &str) -> String {
    let mut name = String::from("FuseboxSloBurnRate");
    let mut chars = severity.chars();
    if let Some(first) = chars.next() {
        name.extend(first.to_uppercase());
        name.push_str(chars.as_str());
    }
    name
}

/// `duration` in Prometheus's notation, in the largest unit that divides it (`5m`, `3d`,
/// `1500ms`).
fn prometheus_duration(duration: Duration) -> String {
    let millis = duration.as_millis();
    for (unit, size) in [
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
    ] {
        if millis >= size && millis.is_multiple_of(size) {
            return format!("{}{unit}", millis / size);
        }
    }
    format!("{millis}ms")
}

impl BurnRatePolicy {
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        for (severity, windows) in [("page", &self.page), ("ticket", &self.ticket)] {
            for w in windows {
                if !(w.factor.is_finite() && w.factor > 0.0) {
                    return Err(ConfigError::new(
                        format!("{severity}.factor"),
                        "finite and above 0",
                        w.factor,
                    ));
                }
                if w.short < Duration::from_millis(1) || w.short >= w.long {
                    return Err(ConfigError::new(
                        format!("{severity}.short"),
                        "at least 1ms and shorter than the long window",
                        w.short,
                    ));
                }
            }
        }
        Ok(())
    }

    /// Every window length the policy reads, shortest first, once each.
    fn windows(&self) -> Vec<Duration> {
        let mut windows: Vec<Duration> = self
            .page
            .iter()
            .chain(&self.ticket)
            .flat_map(|w| [w.long, w.short])
            .collect();
        windows.sort();
        windows.dedup();
        windows
    }

    /// Prometheus recording and alerting rules, in the YAML `promtool check rules` reads, that
    /// implement this policy on the metrics `MetricsLayer` exports, for each objective of
    /// `slos`: one group of recording rules per service (the bad-call ratio over each window
    /// the policy reads, labelled `slo="availability"` or `slo="latency"`), and one alert per
    /// severity and objective, labelled `severity`, `service` and `slo`.
    ///
    /// ```
    /// use fusebox_metrics::{BurnRatePolicy, Slo};
    ///
    /// let slo = Slo::builder("payments").availability(0.999).build()?;
    /// let rules = BurnRatePolicy::default().prometheus_rules(&[slo])?;
    /// assert!(rules.contains("record: fusebox:slo_error_ratio:rate5m"));
    /// assert!(rules.contains("alert: FuseboxSloBurnRatePage"));
    /// # Ok::<(), fusebox_core::ConfigError>(())
    /// ```
    pub fn prometheus_rules(&self, slos: &[Slo]) -> Result<String, ConfigError> {
        self.validate()?;
        for (i, slo) in slos.iter().enumerate() {
            if slos[..i]
                .iter()
                .any(|earlier| earlier.service == slo.service)
            {
                return Err(ConfigError::new(
                    "slos",
                    "one objective set per service",
                    &slo.service,
                ));
            }
        }
        let mut yaml = String::from("groups:\n");
        for slo in slos {
            let service = &slo.service;
            let objectives = slo.objectives();
            let _ = writeln!(yaml, "  - name: fusebox-slo-{service}");
            let _ = writeln!(yaml, "    rules:");
            for window in self.windows() {
                let range = prometheus_duration(window);
                for objective in &objectives {
                    let (kind, expr) = (objective.name(), objective.error_ratio(service, &range));
                    let _ = writeln!(yaml, "      - record: {}", error_ratio_rule(window));
                    let _ = writeln!(yaml, "        expr: |\n          {expr}");
                    let _ = writeln!(
                        yaml,
                        "        labels:\n          service: \"{service}\"\n          slo: {kind}"
                    );
                }
            }
            for (severity, windows) in [("page", &self.page), ("ticket", &self.ticket)] {
                if windows.is_empty() {
                    continue;
                }
                for objective in &objectives {
                    let (kind, target) = (objective.name(), objective.target());
                    let selector = format!("{{service=\"{service}\",slo=\"{kind}\"}}");
                    let conditions: Vec<String> = windows
                        .iter()
                        .map(|w| {
                            let over = |d: Duration| {
                                format!(
                                    "{}{selector} > ({} * (1 - {target}))",
                                    error_ratio_rule(d),
                                    w.factor
                                )
                            };
                            format!("({}\n           and {})", over(w.long), over(w.short))
                        })
                        .collect();
                    let factors: Vec<String> =
                        windows.iter().map(|w| format!("{}x", w.factor)).collect();
                    let _ = writeln!(yaml, "      - alert: {}", alert_name(severity));
                    let _ = writeln!(
                        yaml,
                        "        expr: |\n          {}",
                        conditions.join("\n          or\n          ")
                    );
                    let _ = writeln!(
                        yaml,
                        "        labels:\n          severity: {severity}\n          service: \"{service}\"\n          slo: {kind}"
                    );
                    let _ = writeln!(
                        yaml,
                        "        annotations:\n          summary: \"{service}: the {kind} error budget burns {} faster than its objective of {target} allows\"",
                        factors.join(" or ")
                    );
                }
            }
        }
        Ok(yaml)
    }
}
