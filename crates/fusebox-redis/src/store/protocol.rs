//! What the store and its Lua scripts (next to this file) say to each other, typed: the
//! actions an instance shares, the shared states and probe decisions the scripts answer with,
//! the transition messages they publish, and each script's arguments in the order the script
//! reads them. Everything that knows a script's wire format is here.

use redis::{Script, ScriptInvocation};

/// Adds an instance's outcome counts to the shared window and trips it: `flush.lua`.
pub(super) const FLUSH: &str = include_str!("flush.lua");
/// Records a state one instance decided and tells every instance: `transition.lua`.
pub(super) const TRANSITION: &str = include_str!("transition.lua");
/// Hands the probe lease to one instance: `probe.lua`.
pub(super) const PROBE: &str = include_str!("probe.lua");

/// A local transition to share, or a request to probe.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Action {
    /// The breaker tripped.
    Open,
    /// Its open period ended: which instance probes? (`probe.lua`, not `transition.lua`.)
    Probe,
    /// Its probes succeeded (counts only while this instance holds the probe lease).
    Close,
    /// An operator closed it.
    Reset,
    /// An operator forced it open.
    ForcedOpen,
    /// An operator disabled it.
    Disabled,
}

impl Action {
    /// The action's name in `transition.lua`.
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Action::Open => "open",
            Action::Probe => "probe",
            Action::Close => "close",
            Action::Reset => "reset",
            Action::ForcedOpen => "forced_open",
            Action::Disabled => "disabled",
        }
    }
}

/// A breaker's state as Redis keeps it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum SharedState {
    Open,
    Closed,
    ForcedOpen,
    Disabled,
    /// A state this version does not know (written by a newer one): applied as nothing.
    Unknown,
}

impl SharedState {
    pub(super) fn parse(text: &str) -> SharedState {
        match text {
            "open" => SharedState::Open,
            "closed" => SharedState::Closed,
            "forced_open" => SharedState::ForcedOpen,
            "disabled" => SharedState::Disabled,
            _ => SharedState::Unknown,
        }
    }

    #[cfg(test)]
    fn as_str(self) -> &'static str {
        match self {
            SharedState::Open => "open",
            SharedState::Closed => "closed",
            SharedState::ForcedOpen => "forced_open",
            SharedState::Disabled => "disabled",
            SharedState::Unknown => "unknown",
        }
    }
}

/// `probe.lua`'s answer to "who probes?".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum ProbeDecision {
    /// This instance holds the lease: it probes.
    Granted,
    /// Another instance probes, or the fleet's open period is not over: wait.
    Wait,
    /// The fleet's breaker closed meanwhile.
    Closed,
    /// An operator forced the fleet's breaker open.
    ForcedOpen,
    /// An answer this version does not know: the breaker probes on its own.
    Unknown,
}

impl ProbeDecision {
    pub(super) fn parse(text: &str) -> ProbeDecision {
        match text {
            "granted" => ProbeDecision::Granted,
            "wait" => ProbeDecision::Wait,
            "closed" => ProbeDecision::Closed,
            "forced_open" => ProbeDecision::ForcedOpen,
            _ => ProbeDecision::Unknown,
        }
    }
}

/// A transition published on the namespace's channel:
/// `<breaker id>\t<state>\t<generation>\t<remaining open ms>`, written by the scripts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Message<'a> {
    pub(super) id: &'a str,
    pub(super) state: SharedState,
    pub(super) generation: i64,
    pub(super) remaining_ms: u64,
}

impl<'a> Message<'a> {
    /// Reads a published message; `None` for a malformed one. The id may hold anything
    /// (escaped ids hold no tab, but this does not rely on it): the last three fields are a
    /// word and two numbers.
    pub(super) fn decode(payload: &'a str) -> Option<Message<'a>> {
        let mut parts = payload.rsplitn(4, '\t');
        let remaining_ms = parts.next()?.parse().ok()?;
        let generation = parts.next()?.parse().ok()?;
        let state = SharedState::parse(parts.next()?);
        let id = parts.next()?;
        Some(Message {
            id,
            state,
            generation,
            remaining_ms,
        })
    }

    /// The message as the scripts write it.
    #[cfg(test)]
    fn encode(&self) -> String {
        format!(
            "{}\t{}\t{}\t{}",
            self.id,
            self.state.as_str(),
            self.generation,
            self.remaining_ms
        )
    }
}

/// The keys of one breaker; one hash tag, so every script touches one slot.
pub(super) struct Keys {
    pub(super) state: String,
    pub(super) window: String,
    pub(super) probe: String,
    pub(super) reporters: String,
}

impl Keys {
    pub(super) fn new(namespace: &str, id: &str) -> Keys {
        let base = format!("fusebox:{{{namespace}:{id}}}");
        Keys {
            state: format!("{base}:state"),
            window: format!("{base}:win"),
            probe: format!("{base}:probe"),
            reporters: format!("{base}:reporters"),
        }
    }
}

/// `flush.lua`'s arguments.
pub(super) struct FlushArgs<'a> {
    pub(super) calls: u64,
    pub(super) failures: u64,
    pub(super) bucket_ms: u64,
    pub(super) buckets: u64,
    /// The failure rate that trips the shared window; 0 for none.
    pub(super) failure_rate: f64,
    pub(super) min_calls: u32,
    pub(super) open_ms: u64,
    pub(super) ttl_ms: u64,
    pub(super) channel: &'a str,
    pub(super) id: &'a str,
    pub(super) instance: &'a str,
    pub(super) quorum: u32,
}

impl FlushArgs<'_> {
    pub(super) fn invocation<'s>(&self, script: &'s Script, keys: &Keys) -> ScriptInvocation<'s> {
        let mut invocation = script.key(&keys.state);
        invocation
            .key(&keys.window)
            .key(&keys.reporters)
            .arg(self.calls)
            .arg(self.failures)
            .arg(self.bucket_ms)
            .arg(self.buckets)
            .arg(self.failure_rate)
            .arg(self.min_calls)
            .arg(self.open_ms)
            .arg(self.ttl_ms)
            .arg(self.channel)
            .arg(self.id)
            .arg(self.instance)
            .arg(self.quorum);
        invocation
    }
}

/// `transition.lua`'s arguments.
pub(super) struct TransitionArgs<'a> {
    pub(super) action: Action,
    pub(super) open_ms: u64,
    pub(super) ttl_ms: u64,
    pub(super) channel: &'a str,
    pub(super) id: &'a str,
    /// This instance's probe lease (`<instance>:<token>`), or empty.
    pub(super) lease: &'a str,
}

impl TransitionArgs<'_> {
    pub(super) fn invocation<'s>(&self, script: &'s Script, keys: &Keys) -> ScriptInvocation<'s> {
        let mut invocation = script.key(&keys.state);
        invocation
            .key(&keys.window)
            .key(&keys.probe)
            .arg(self.action.as_str())
            .arg(self.open_ms)
            .arg(self.ttl_ms)
            .arg(self.channel)
            .arg(self.id)
            .arg(self.lease);
        invocation
    }
}

/// `probe.lua`'s arguments.
pub(super) struct ProbeArgs<'a> {
    pub(super) instance: &'a str,
    pub(super) lease_ms: u64,
}

impl ProbeArgs<'_> {
    pub(super) fn invocation<'s>(&self, script: &'s Script, keys: &Keys) -> ScriptInvocation<'s> {
        let mut invocation = script.key(&keys.state);
        invocation
            .key(&keys.window)
            .key(&keys.probe)
            .arg(self.instance)
            .arg(self.lease_ms);
        invocation
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_and_malformed_ones_are_refused() {
        for state in [
            SharedState::Open,
            SharedState::Closed,
            SharedState::ForcedOpen,
            SharedState::Disabled,
        ] {
            let message = Message {
                id: "calendar:acme",
                state,
                generation: 1_764_590_000_123,
                remaining_ms: 30_000,
            };
            assert_eq!(Message::decode(&message.encode()), Some(message));
        }
        // An id holding a tab still reads: the last three fields are fixed.
        let odd = Message::decode("a\tb\topen\t7\t0").unwrap();
        assert_eq!(
            (odd.id, odd.state, odd.generation),
            ("a\tb", SharedState::Open, 7)
        );
        for bad in ["", "x", "x\topen\t7", "x\topen\tseven\t0", "x\topen\t7\t-1"] {
            assert_eq!(Message::decode(bad), None, "{bad:?}");
        }
        assert_eq!(
            Message::decode("x\thalf_open\t7\t0").unwrap().state,
            SharedState::Unknown
        );
    }

    #[test]
    fn every_action_and_answer_has_the_scripts_name() {
        // The names the Lua scripts compare against.
        for (action, name) in [
            (Action::Open, "open"),
            (Action::Probe, "probe"),
            (Action::Close, "close"),
            (Action::Reset, "reset"),
            (Action::ForcedOpen, "forced_open"),
            (Action::Disabled, "disabled"),
        ] {
            assert_eq!(action.as_str(), name);
            if action != Action::Probe {
                assert!(TRANSITION.contains(&format!("'{name}'")), "{action:?}");
            }
        }
        for answer in ["granted", "wait", "closed", "forced_open"] {
            assert!(PROBE.contains(&format!("'{answer}'")), "{answer}");
            assert_ne!(ProbeDecision::parse(answer), ProbeDecision::Unknown);
        }
        assert_eq!(ProbeDecision::parse("later"), ProbeDecision::Unknown);
    }
}
