//! Dependencies between named breakers and what they mean for health: a dependency that
//! rejects calls degrades everything that depends on it, and the root cause is named.
//!
//! This moves to `fusebox-health` once that crate lands (its dependency graph will read every
//! circuit through fusebox-core's `Circuit` trait); until then it stays here so the demo and
//! the registry's tests keep working.

use super::BreakerRegistry;
use crate::breaker::Breaker;
use crate::sync::{read, write};
use fusebox_core::CircuitState;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;

/// How many breakers are in each state, and which are degraded by a dependency.
///
/// Moving to `fusebox-health` (its dependency graph reads circuits through
/// fusebox-core's `Circuit` trait); kept here until that crate lands.
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
    /// Names whose own breaker is not open but that depend on one that is.
    pub degraded: Vec<String>,
}

/// Whether a named dependency can be used, and if not, why.
///
/// Moving to `fusebox-health` (its dependency graph reads circuits through
/// fusebox-core's `Circuit` trait); kept here until that crate lands.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum HealthStatus {
    /// Its breaker lets calls through and nothing it depends on is open.
    Healthy,
    /// Its own breaker rejects calls.
    Unavailable {
        /// The breaker's state.
        state: CircuitState,
    },
    /// Its breaker is fine, but a dependency's breaker (`cause`, the root of the failure)
    /// rejects calls.
    Degraded {
        /// The failing root dependency.
        cause: String,
        /// The root's state.
        state: CircuitState,
    },
    /// No breaker and no declared dependency has this name.
    Unknown,
}

impl HealthStatus {
    /// Whether calls to it may work.
    pub fn is_healthy(&self) -> bool {
        matches!(self, HealthStatus::Healthy)
    }
}

impl fmt::Display for HealthStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HealthStatus::Healthy => f.write_str("healthy"),
            HealthStatus::Unavailable { state } => write!(f, "circuit is {state}"),
            HealthStatus::Degraded { cause, state } => {
                write!(
                    f,
                    "degraded: depends on `{cause}`, whose circuit is {state}"
                )
            }
            HealthStatus::Unknown => f.write_str("unknown"),
        }
    }
}

/// The state of every breaker at one moment.
impl BreakerRegistry {
    /// Declares that `name` depends on each of `dependencies`.
    ///
    /// Moving to `fusebox-health` (its dependency graph reads circuits through
    /// fusebox-core's `Circuit` trait); kept here until that crate lands.
    pub fn depends_on<I, S>(&self, name: &str, dependencies: I)
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut deps = write(&self.inner.dependencies);
        let entry = deps.entry(name.to_owned()).or_default();
        for d in dependencies {
            let d = d.into();
            if !entry.contains(&d) {
                entry.push(d);
            }
        }
    }

    /// Whether `name` can be used, and if not, why; a failing dependency is reported as the
    /// cause of its dependents' degradation.
    ///
    /// Moving to `fusebox-health` (its dependency graph reads circuits through
    /// fusebox-core's `Circuit` trait); kept here until that crate lands.
    pub fn health(&self, name: &str) -> HealthStatus {
        let breakers = self.breakers();
        let deps = read(&self.inner.dependencies);
        if let Some(b) = breakers.get(name) {
            let state = b.state();
            if state.may_reject() {
                return HealthStatus::Unavailable { state };
            }
        } else if !deps.contains_key(name) {
            return HealthStatus::Unknown;
        }
        let mut seen = HashSet::new();
        match root_cause(name, &breakers, &deps, &mut seen) {
            Some((cause, state)) => HealthStatus::Degraded { cause, state },
            None => HealthStatus::Healthy,
        }
    }

    /// Counts by state, and the names degraded by a failing dependency.
    ///
    /// Moving to `fusebox-health` (its dependency graph reads circuits through
    /// fusebox-core's `Circuit` trait); kept here until that crate lands.
    pub fn summary(&self) -> RegistrySummary {
        let mut s = RegistrySummary::default();
        let names: Vec<String> = {
            let breakers = self.breakers();
            for b in breakers.values() {
                s.total += 1;
                match b.state() {
                    CircuitState::Closed => s.closed += 1,
                    CircuitState::HalfOpen => s.half_open += 1,
                    CircuitState::Disabled => s.disabled += 1,
                    _ => s.open += 1,
                }
            }
            let deps = read(&self.inner.dependencies);
            breakers.keys().chain(deps.keys()).cloned().collect()
        };
        let mut degraded: Vec<String> = names
            .into_iter()
            .filter(|n| matches!(self.health(n), HealthStatus::Degraded { .. }))
            .collect();
        degraded.sort();
        degraded.dedup();
        s.degraded = degraded;
        s
    }
}

/// The first failing dependency found depth-first, reported at its root: a dependency that is
/// itself only degraded passes on its own cause.
fn root_cause(
    name: &str,
    breakers: &BTreeMap<String, Breaker>,
    deps: &HashMap<String, Vec<String>>,
    seen: &mut HashSet<String>,
) -> Option<(String, CircuitState)> {
    if !seen.insert(name.to_owned()) {
        return None;
    }
    for dep in deps.get(name).into_iter().flatten() {
        // A deeper cause explains a failing dependency better than the dependency itself.
        if let Some(deeper) = root_cause(dep, breakers, deps, seen) {
            return Some(deeper);
        }
        if let Some(state) = breakers.get(dep).map(Breaker::state) {
            if state.may_reject() {
                return Some((dep.clone(), state));
            }
        }
    }
    None
}
