//! [`CircuitCheck`]: a circuit breaker's state as a health input.

use crate::check::{CheckFuture, HealthCheck, Probe};
use fusebox_core::{CircuitRef, CircuitState, Circuits, Role};
use std::sync::Arc;

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

/// The circuits of a keyed set (one per tenant, route or host) or of a registry as one check,
/// read through [`fusebox_core::Circuits`]: passes while none rejects calls; warns while some
/// do (one tenant's open circuit does not take the service down), naming up to three; fails
/// when every one does. A keyed set's shared circuits (for requests without a key, and for
/// keys past its cap) count only while they reject calls. Its observed value is the number
/// rejecting calls.
///
/// ```
/// use fusebox_core::{Circuit, CircuitState, Circuits};
/// use fusebox_health::{CircuitsCheck, HealthCheck, Status};
/// use std::sync::Arc;
///
/// struct Tenants;
/// struct Tenant(&'static str, CircuitState);
/// impl Circuit for Tenant {
///     fn name(&self) -> &str { "calendar" }
///     fn key(&self) -> Option<&str> { Some(self.0) }
///     fn state(&self) -> CircuitState { self.1 }
/// }
/// impl Circuits for Tenants {
///     fn for_each_circuit(&self, visit: &mut dyn FnMut(&dyn Circuit)) {
///         visit(&Tenant("acme", CircuitState::Open));
///         visit(&Tenant("globex", CircuitState::Closed));
///     }
/// }
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let check = CircuitsCheck::new("calendar:circuits", Arc::new(Tenants));
/// let probe = check.check().await;
/// assert_eq!(probe.status(), Status::Warn);
/// assert_eq!(probe.detail(), Some("1 of 2 circuits reject calls: calendar[acme]"));
/// # }
/// ```
#[derive(Clone)]
pub struct CircuitsCheck {
    name: String,
    circuits: Arc<dyn Circuits>,
}

impl std::fmt::Debug for CircuitsCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CircuitsCheck")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// How many rejecting circuits a [`CircuitsCheck`] names.
const NAMED: usize = 3;

impl CircuitsCheck {
    /// A check named `name` of every circuit `circuits` holds when it is probed.
    pub fn new(name: impl Into<String>, circuits: Arc<dyn Circuits>) -> Self {
        CircuitsCheck {
            name: name.into(),
            circuits,
        }
    }
}

impl HealthCheck for CircuitsCheck {
    fn name(&self) -> &str {
        &self.name
    }

    fn check(&self) -> CheckFuture<'_> {
        let (mut total, mut rejecting) = (0usize, 0usize);
        let mut named = Vec::new();
        self.circuits.for_each_circuit(&mut |circuit| {
            let rejects = circuit.state().may_reject();
            let role = circuit.role();
            // A keyed set's shared circuits (for keyless requests, for keys past its cap)
            // count only while they reject calls: idle, they say nothing of a dependency.
            if !rejects && matches!(role, Role::Keyless | Role::Overflow) {
                return;
            }
            total += 1;
            if rejects {
                rejecting += 1;
                if named.len() < NAMED {
                    named.push(match role {
                        Role::Key(key) => format!("{}[{key}]", circuit.name()),
                        Role::Keyless => format!("{}[keyless]", circuit.name()),
                        Role::Overflow => format!("{}[overflow]", circuit.name()),
                        _ => circuit.name().to_owned(),
                    });
                }
            }
        });
        let detail = || {
            let more = if rejecting > named.len() { ", …" } else { "" };
            format!(
                "{rejecting} of {total} circuits reject calls: {}{more}",
                named.join(", ")
            )
        };
        let probe = match rejecting {
            0 => Probe::pass(),
            n if n == total => Probe::fail(detail()),
            _ => Probe::warn(detail()),
        };
        let probe = probe.observed(rejecting as f64, "circuits");
        Box::pin(std::future::ready(probe))
    }
}
