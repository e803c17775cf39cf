//! How many breakers are in each state.

use super::BreakerRegistry;
use fusebox_core::CircuitState;

/// How many breakers of a registry are in each state. (Which dependency degrades which is
/// fusebox-health's dependency graph, fed by breakers and checks alike.)
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RegistrySummary {
    /// Breakers in the registry.
    pub total: usize,
    /// Closed breakers.
    pub closed: usize,
    /// Open breakers (forced open included).
    pub open: usize,
    /// Half-open breakers.
    pub half_open: usize,
    /// Disabled breakers.
    pub disabled: usize,
}

impl BreakerRegistry {
    /// Counts the breakers by state.
    pub fn summary(&self) -> RegistrySummary {
        let mut s = RegistrySummary::default();
        for b in self.breakers().values() {
            s.total += 1;
            match b.state() {
                CircuitState::Closed => s.closed += 1,
                CircuitState::HalfOpen => s.half_open += 1,
                CircuitState::Disabled => s.disabled += 1,
                _ => s.open += 1,
            }
        }
        s
    }
}
