//! [`CircuitCheck`]: a circuit breaker's state as a health input.

use crate::check::{CheckFuture, HealthCheck, Probe};
use fusebox_core::{CircuitRef, CircuitState};

/// A circuit breaker's state as a check, read through [`fusebox_core::Circuit`] (so any
/// breaker, or a keyed set's circuit): closed passes; half-open (probing a recovery) and
/// disabled (an operator lets every call through) warn; open and forced open fail. It sends
/// nothing to the dependency.
///
/// ```
/// use fusebox_core::{Circuit, CircuitState, Handle};
/// use fusebox_health::{CircuitCheck, HealthCheck};
///
/// struct Payments;
/// impl Circuit for Payments {
///     fn name(&self) -> &str { "payments" }
///     fn state(&self) -> CircuitState { CircuitState::Closed }
/// }
/// let check = CircuitCheck::new(Handle::Static(&Payments));
/// assert_eq!(check.name(), "payments:circuit");
/// ```
#[derive(Clone)]
pub struct CircuitCheck {
    name: String,
    circuit: CircuitRef,
}

impl std::fmt::Debug for CircuitCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CircuitCheck")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl CircuitCheck {
    /// A check of `circuit`, named `<name>:circuit` (with its key, `<name>[<key>]:circuit`).
    pub fn new(circuit: CircuitRef) -> Self {
        let name = match circuit.key() {
            Some(key) => format!("{}[{key}]:circuit", circuit.name()),
            None => format!("{}:circuit", circuit.name()),
        };
        CircuitCheck { name, circuit }
    }
}

impl HealthCheck for CircuitCheck {
    fn name(&self) -> &str {
        &self.name
    }

    fn check(&self) -> CheckFuture<'_> {
        let state = self.circuit.state();
        let probe = match state {
            CircuitState::Closed => Probe::pass(),
            CircuitState::HalfOpen => Probe::warn("half-open: probing whether it recovered"),
            CircuitState::Disabled => Probe::warn("disabled by an operator: nothing trips it"),
            CircuitState::Open => Probe::fail("open: calls are rejected"),
            CircuitState::ForcedOpen => Probe::fail("forced open by an operator"),
            _ => Probe::warn(format!("in state {state}")),
        };
        Box::pin(std::future::ready(probe))
    }
}
