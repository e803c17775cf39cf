//! The dependency graph: which components depend on which, and the root of a failure.

use crate::check::Status;
use std::collections::{BTreeMap, HashMap, HashSet};

/// The component a check belongs to: its name up to the first `:` (`calendar` for
/// `calendar:responseTime`), or the whole name.
pub fn component_of(check: &str) -> &str {
    check
        .split_once(':')
        .map_or(check, |(component, _)| component)
}

/// A component's health, from its own checks and from what it depends on.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ComponentHealth {
    /// The component's name.
    pub name: String,
    /// The worst last status of its own checks; `None` when it has none, or none has run yet.
    pub own: Option<Status>,
    /// The failing root among what it depends on, directly or not: the deepest component
    /// found failing, depth first in the order dependencies were declared.
    pub cause: Option<String>,
}

impl ComponentHealth {
    /// Its status all told: its own, and at least `warn` when something it depends on fails.
    pub fn status(&self) -> Option<Status> {
        match (self.own, &self.cause) {
            (own, Some(_)) => Some(own.map_or(Status::Warn, |own| own.max(Status::Warn))),
            (own, None) => own,
        }
    }
}

/// Components and the ones each depends on, in the order declared.
#[derive(Clone, Debug, Default)]
pub(crate) struct Graph {
    edges: HashMap<String, Vec<String>>,
}

impl Graph {
    pub(crate) fn add(&mut self, component: &str, dependencies: impl IntoIterator<Item = String>) {
        let entry = self.edges.entry(component.to_owned()).or_default();
        for dependency in dependencies {
            if !entry.contains(&dependency) {
                entry.push(dependency);
            }
        }
    }

    pub(crate) fn dependencies(&self, component: &str) -> &[String] {
        self.edges.get(component).map_or(&[], Vec::as_slice)
    }

    /// Every component named in the graph.
    pub(crate) fn names(&self) -> impl Iterator<Item = &str> {
        self.edges
            .iter()
            .flat_map(|(name, deps)| std::iter::once(name).chain(deps))
            .map(String::as_str)
    }

    /// The health of `name` given each component's own status (`own`); cycles end where they
    /// meet a component already visited, so a component is never its own cause.
    pub(crate) fn health(&self, name: &str, own: &BTreeMap<&str, Status>) -> ComponentHealth {
        let mut seen = HashSet::new();
        ComponentHealth {
            name: name.to_owned(),
            own: own.get(name).copied(),
            cause: self.root_cause(name, own, &mut seen),
        }
    }

    /// The first failing dependency found depth-first, reported at its root: a dependency
    /// failing because of a deeper one passes the deeper one on.
    fn root_cause(
        &self,
        name: &str,
        own: &BTreeMap<&str, Status>,
        seen: &mut HashSet<String>,
    ) -> Option<String> {
        seen.insert(name.to_owned());
        for dependency in self.dependencies(name) {
            // Explored already (it found no cause), or on the path here: a cycle, and a
            // component is never the cause of its own state.
            if seen.contains(dependency) {
                continue;
            }
            if let Some(deeper) = self.root_cause(dependency, own, seen) {
                return Some(deeper);
            }
            if own.get(dependency.as_str()) == Some(&Status::Fail) {
                return Some(dependency.clone());
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_check_belongs_to_the_component_before_its_colon() {
        assert_eq!(component_of("calendar:responseTime"), "calendar");
        assert_eq!(component_of("payments[t1]:circuit"), "payments[t1]");
        assert_eq!(component_of("redis"), "redis");
    }

    #[test]
    fn a_dependent_is_degraded_by_a_failing_root_two_levels_down_and_cycles_end() {
        let mut graph = Graph::default();
        graph.add("appointments", ["calendar".into(), "telephony".into()]);
        graph.add("telephony", ["calendar".into()]);
        graph.add("calendar", ["appointments".into()]);
        let own = BTreeMap::from([
            ("calendar", Status::Fail),
            ("telephony", Status::Pass),
            ("appointments", Status::Pass),
        ]);
        let telephony = graph.health("telephony", &own);
        assert_eq!(telephony.cause.as_deref(), Some("calendar"));
        assert_eq!(telephony.status(), Some(Status::Warn));
        let calendar = graph.health("calendar", &own);
        // Its own failure; the cycle back through appointments finds nothing else failing.
        assert_eq!((calendar.cause, calendar.own), (None, Some(Status::Fail)));
    }
}
