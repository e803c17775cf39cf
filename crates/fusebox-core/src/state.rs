use std::fmt;

/// The state of a circuit breaker.
///
/// `Closed`, `Open` and `HalfOpen` are driven by the breaker's trip policy; `Disabled` and
/// `ForcedOpen` are set by an operator and left only by an operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CircuitState {
    /// Calls flow; outcomes are counted against the trip policy.
    Closed,
    /// Calls are rejected until the open period ends.
    Open,
    /// A limited number of probe calls test whether the dependency recovered.
    HalfOpen,
    /// Set by an operator: every call goes through, outcomes are still counted, nothing trips.
    Disabled,
    /// Set by an operator: every call is rejected until the breaker is reset.
    ForcedOpen,
}

impl CircuitState {
    /// The lowercase name used in logs, JSON and metrics labels (`"half_open"`).
    pub const fn as_str(self) -> &'static str {
        match self {
            CircuitState::Closed => "closed",
            CircuitState::Open => "open",
            CircuitState::HalfOpen => "half_open",
            CircuitState::Disabled => "disabled",
            CircuitState::ForcedOpen => "forced_open",
        }
    }

    /// Whether calls in this state may be rejected (`Open`, `HalfOpen` when its probes are taken,
    /// `ForcedOpen`).
    pub const fn may_reject(self) -> bool {
        matches!(
            self,
            CircuitState::Open | CircuitState::HalfOpen | CircuitState::ForcedOpen
        )
    }
}

impl fmt::Display for CircuitState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a circuit breaker changed state.
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub enum TransitionReason {
    /// `count` failures in a row reached the consecutive-failure threshold.
    ConsecutiveFailures {
        /// Failures in a row when the breaker tripped.
        count: u32,
    },
    /// The failure rate over the sliding window reached its threshold.
    FailureRate {
        /// Observed failure rate in `[0, 1]`.
        rate: f64,
        /// Configured threshold.
        threshold: f64,
        /// Calls in the window when the rate was computed.
        calls: u64,
    },
    /// The slow-call rate over the sliding window reached its threshold.
    SlowCallRate {
        /// Observed slow-call rate in `[0, 1]`.
        rate: f64,
        /// Configured threshold.
        threshold: f64,
        /// Calls in the window when the rate was computed.
        calls: u64,
    },
    /// The open period ended; probes may go through.
    OpenPeriodElapsed,
    /// Enough half-open probes succeeded.
    ProbesSucceeded {
        /// Probe successes counted in this half-open period.
        successes: u32,
    },
    /// A half-open probe failed.
    ProbeFailed,
    /// No probe completed within the half-open maximum wait.
    ProbeTimedOut,
    /// An operator reset the breaker.
    Reset,
    /// An operator forced the breaker open.
    ForcedOpen,
    /// An operator disabled the breaker.
    Disabled,
    /// The state was decided elsewhere (another instance, through a shared store).
    Remote,
}

impl TransitionReason {
    /// The lowercase name used in metrics labels and logs (`"failure_rate"`), without the
    /// figures [`Display`](fmt::Display) gives.
    pub const fn as_str(&self) -> &'static str {
        match self {
            TransitionReason::ConsecutiveFailures { .. } => "consecutive_failures",
            TransitionReason::FailureRate { .. } => "failure_rate",
            TransitionReason::SlowCallRate { .. } => "slow_call_rate",
            TransitionReason::OpenPeriodElapsed => "open_period_elapsed",
            TransitionReason::ProbesSucceeded { .. } => "probes_succeeded",
            TransitionReason::ProbeFailed => "probe_failed",
            TransitionReason::ProbeTimedOut => "probe_timed_out",
            TransitionReason::Reset => "reset",
            TransitionReason::ForcedOpen => "forced_open",
            TransitionReason::Disabled => "disabled",
            TransitionReason::Remote => "remote",
        }
    }
}

impl fmt::Display for TransitionReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            TransitionReason::ConsecutiveFailures { count } => {
                write!(f, "{count} consecutive failures")
            }
            TransitionReason::FailureRate {
                rate,
                threshold,
                calls,
            } => write!(
                f,
                "failure rate {:.1}% over {calls} calls reached threshold {:.1}%",
                rate * 100.0,
                threshold * 100.0
            ),
            TransitionReason::SlowCallRate {
                rate,
                threshold,
                calls,
            } => write!(
                f,
                "slow-call rate {:.1}% over {calls} calls reached threshold {:.1}%",
                rate * 100.0,
                threshold * 100.0
            ),
            TransitionReason::OpenPeriodElapsed => f.write_str("open period elapsed"),
            TransitionReason::ProbesSucceeded { successes } => {
                write!(f, "{successes} probe call(s) succeeded")
            }
            TransitionReason::ProbeFailed => f.write_str("probe call failed"),
            TransitionReason::ProbeTimedOut => f.write_str("no probe completed in time"),
            TransitionReason::Reset => f.write_str("reset by operator"),
            TransitionReason::ForcedOpen => f.write_str("forced open by operator"),
            TransitionReason::Disabled => f.write_str("disabled by operator"),
            TransitionReason::Remote => f.write_str("decided by another instance"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_transition_reason_has_its_own_label() {
        let reasons = [
            (
                TransitionReason::ConsecutiveFailures { count: 5 },
                "consecutive_failures",
            ),
            (
                TransitionReason::FailureRate {
                    rate: 0.6,
                    threshold: 0.5,
                    calls: 10,
                },
                "failure_rate",
            ),
            (
                TransitionReason::SlowCallRate {
                    rate: 0.6,
                    threshold: 0.5,
                    calls: 10,
                },
                "slow_call_rate",
            ),
            (TransitionReason::OpenPeriodElapsed, "open_period_elapsed"),
            (
                TransitionReason::ProbesSucceeded { successes: 2 },
                "probes_succeeded",
            ),
            (TransitionReason::ProbeFailed, "probe_failed"),
            (TransitionReason::ProbeTimedOut, "probe_timed_out"),
            (TransitionReason::Reset, "reset"),
            (TransitionReason::ForcedOpen, "forced_open"),
            (TransitionReason::Disabled, "disabled"),
            (TransitionReason::Remote, "remote"),
        ];
        for (reason, label) in reasons {
            assert_eq!(reason.as_str(), label, "{reason}");
        }
    }

    #[test]
    fn only_open_half_open_and_forced_open_circuits_may_reject() {
        use CircuitState::*;
        for (state, rejects) in [
            (Closed, false),
            (Disabled, false),
            (Open, true),
            (HalfOpen, true),
            (ForcedOpen, true),
        ] {
            assert_eq!(state.may_reject(), rejects, "{state}");
        }
    }

    #[test]
    fn reasons_read_as_sentences() {
        let r = TransitionReason::FailureRate {
            rate: 0.6,
            threshold: 0.5,
            calls: 10,
        };
        assert_eq!(
            r.to_string(),
            "failure rate 60.0% over 10 calls reached threshold 50.0%"
        );
        assert_eq!(
            TransitionReason::ConsecutiveFailures { count: 5 }.to_string(),
            "5 consecutive failures"
        );
        assert_eq!(CircuitState::HalfOpen.to_string(), "half_open");
    }
}

/// How a dependency is doing, as a health check found it (the IETF health check draft's
/// names): `pass`, `warn` (up, but degraded: slow, or a non-critical part down) or `fail`.
/// Ordered by severity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HealthStatus {
    /// Healthy.
    Pass,
    /// Up, but degraded.
    Warn,
    /// Down.
    Fail,
}

impl HealthStatus {
    /// The name used in JSON and logs: `"pass"`, `"warn"`, `"fail"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            HealthStatus::Pass => "pass",
            HealthStatus::Warn => "warn",
            HealthStatus::Fail => "fail",
        }
    }
}

impl fmt::Display for HealthStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod health_status_tests {
    use super::HealthStatus;

    #[test]
    fn statuses_are_named_and_ordered_by_severity() {
        assert_eq!(
            [HealthStatus::Pass, HealthStatus::Warn, HealthStatus::Fail].map(HealthStatus::as_str),
            ["pass", "warn", "fail"]
        );
        assert!(HealthStatus::Pass < HealthStatus::Warn && HealthStatus::Warn < HealthStatus::Fail);
        assert_eq!(HealthStatus::Warn.to_string(), "warn");
    }
}
