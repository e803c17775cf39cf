//! The contracts between a circuit breaker and the crates that read it, wait for it or share
//! it: [`Circuit`] (what a breaker reports), [`CircuitOpen`] (a rejection and when to come
//! back), and the state-store seam ([`StateStore`], [`StoredCircuit`]).
//!
//! They live here, not in the breaker crate, so that a retry, a health check, a metrics layer
//! or a shared store depends on this vocabulary only, never on the breaker itself.

use crate::correlation::CorrelationId;
use crate::event::{Event, Subscription};
use crate::handle::{Handle, WeakHandle};
use crate::state::CircuitState;
use crate::time::{after, nanos};
use std::error::Error;
use std::fmt;
use std::time::Duration;
use tokio::time::Instant;

/// What every circuit breaker reports about itself; health checks, fallbacks and metrics read
/// circuits through it, whatever made them.
///
/// ```
/// use fusebox_core::{Circuit, CircuitState};
///
/// /// A circuit an operator flips by hand.
/// struct Switch(std::sync::atomic::AtomicBool);
///
/// impl Circuit for Switch {
///     fn name(&self) -> &str {
///         "maintenance"
///     }
///     fn state(&self) -> CircuitState {
///         if self.0.load(std::sync::atomic::Ordering::Relaxed) {
///             CircuitState::ForcedOpen
///         } else {
///             CircuitState::Closed
///         }
///     }
/// }
///
/// let switch = Switch(true.into());
/// let circuit: &dyn Circuit = &switch;
/// assert_eq!((circuit.name(), circuit.key()), ("maintenance", None));
/// assert_eq!(circuit.state(), CircuitState::ForcedOpen);
/// ```
pub trait Circuit: Send + Sync + 'static {
    /// The circuit's name (the dependency it guards).
    fn name(&self) -> &str;

    /// The key (tenant, route, host) of a circuit of a keyed set; `None` by default.
    fn key(&self) -> Option<&str> {
        None
    }

    /// What the key is, in responses and logs (`"tenant_id"`); `"key"` by default.
    fn key_label(&self) -> &str {
        "key"
    }

    /// Which circuit of its family this is; by default [`Role::Key`] when it has a key and
    /// [`Role::Plain`] otherwise.
    fn role(&self) -> Role<'_> {
        match self.key() {
            Some(key) => Role::Key(key),
            None => Role::Plain,
        }
    }

    /// The state now.
    fn state(&self) -> CircuitState;

    /// Ends the open period now if its deadline has passed. A caller that waited until
    /// [`CircuitOpen::retry_at`] calls it (through [`CircuitOpen::recheck`]) before calling
    /// again, so that it does not race the circuit's own timer, due at the same instant. Does
    /// nothing by default.
    fn end_open_period_if_due(&self) {}

    /// The instant `nanos` nanoseconds after this circuit's own epoch. A circuit that keeps
    /// its deadlines as offsets from an epoch (in an atomic, say) hands a rejection its offset
    /// ([`CircuitOpen::at_offset`]), which is turned into an instant only when someone asks,
    /// and implements this; `None` (the default) for a circuit that never does.
    fn instant_at(&self, nanos: u64) -> Option<Instant> {
        let _ = nanos;
        None
    }
}

/// A shared reference to a circuit: counted, or static for a circuit that lives for the rest
/// of the process (cloning one then touches no reference count).
pub type CircuitRef = Handle<dyn Circuit>;

/// Something that holds circuits and lists them: a keyed set, a registry. Health checks and
/// metrics read every circuit of a set through it.
pub trait Circuits: Send + Sync + 'static {
    /// Calls `visit` with each circuit held now.
    fn for_each_circuit(&self, visit: &mut dyn FnMut(&dyn Circuit));
}

/// A call was rejected because the circuit is open.
///
/// Carries the circuit that rejected the call (its name and key), the state that rejected it,
/// and when a call may next be admitted. Converts into `tower::BoxError` and downcasts back;
/// [`find`](Self::find) looks for it anywhere in an error's `source()` chain, which is how a
/// retry recognises a rejection wrapped by other layers.
///
/// ```
/// use fusebox_core::{Circuit, CircuitOpen, CircuitRef, CircuitState, Handle};
/// use std::time::Duration;
///
/// struct Payments;
/// impl Circuit for Payments {
///     fn name(&self) -> &str {
///         "payments"
///     }
///     fn state(&self) -> CircuitState {
///         CircuitState::Open
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let circuit: CircuitRef = Handle::Static(&Payments);
/// let at = tokio::time::Instant::now() + Duration::from_secs(30);
/// let open = CircuitOpen::new(circuit, CircuitState::Open, Some(at));
/// let boxed: Box<dyn std::error::Error + Send + Sync> = Box::new(open);
/// let found = CircuitOpen::find(boxed.as_ref()).unwrap();
/// assert_eq!(found.name(), "payments");
/// assert_eq!(found.retry_after(), Some(Duration::from_secs(30)));
/// assert_eq!(found.to_string(), "circuit breaker `payments` is open; retry in 30.0s");
/// # }
/// ```
#[derive(Clone)]
pub struct CircuitOpen {
    circuit: CircuitRef,
    /// When a call may next be admitted, and how to read it, in one word (see [`Packed`]): a
    /// rejection carrying a correlation id stays five words, the size it was without one.
    packed: Packed,
    /// The rejected call's, when it ran with one ([`CorrelationId::current`]).
    correlation_id: Option<CorrelationId>,
}

/// The instant [`CircuitOpen::new`]'s instants are counted from: the first time it is asked.
/// An instant before it counts as it (a time already past).
fn process_epoch() -> Instant {
    static EPOCH: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

impl CircuitOpen {
    /// A rejection by `circuit` in `state`; a call may next be admitted at `retry_at`, or
    /// `None` when only an operator can end the rejection (a forced-open circuit).
    #[inline]
    pub fn new(circuit: CircuitRef, state: CircuitState, retry_at: Option<Instant>) -> Self {
        let at = retry_at.map(|at| nanos(at.saturating_duration_since(process_epoch())));
        CircuitOpen {
            circuit,
            packed: Packed::new(at, false, state),
            correlation_id: None,
        }
    }

    /// Like [`new`](Self::new), for a circuit that keeps its deadlines as offsets from an
    /// epoch of its own: a call may next be admitted `retry_at` nanoseconds after it, which
    /// the circuit's [`instant_at`](Circuit::instant_at) turns into an instant when asked.
    #[inline]
    pub fn at_offset(circuit: CircuitRef, state: CircuitState, retry_at: Option<u64>) -> Self {
        CircuitOpen {
            circuit,
            packed: Packed::new(retry_at, true, state),
            correlation_id: None,
        }
    }

    /// The same rejection, with [`awaits_probe`](Self::awaits_probe) set: a call may be
    /// admitted any moment before `retry_at`.
    #[must_use]
    #[inline]
    pub fn awaiting_probe(mut self) -> Self {
        self.packed.0 |= Packed::AWAITS_PROBE;
        self
    }

    /// The same rejection, for the call with correlation id `id`.
    #[must_use]
    #[inline]
    pub fn with_correlation_id(mut self, id: Option<CorrelationId>) -> Self {
        self.correlation_id = id;
        self
    }

    /// The rejected call's correlation id, if it had one (a breaker sets the id of the call
    /// it rejects, from [`CorrelationId::current`]).
    pub fn correlation_id(&self) -> Option<&CorrelationId> {
        self.correlation_id.as_ref()
    }

    /// The first `CircuitOpen` in `error` or its `source()` chain, however many layers wrap
    /// it.
    pub fn find<'a>(error: &'a (dyn Error + 'static)) -> Option<&'a CircuitOpen> {
        let mut next = Some(error);
        while let Some(e) = next {
            if let Some(open) = e.downcast_ref::<CircuitOpen>() {
                return Some(open);
            }
            next = e.source();
        }
        None
    }

    /// The rejecting circuit's name.
    pub fn name(&self) -> &str {
        self.circuit.name()
    }

    /// The key of the rejecting circuit, for a circuit of a keyed set (the tenant, route or
    /// host); `None` for a plain one.
    pub fn key(&self) -> Option<&str> {
        self.circuit.key()
    }

    /// What the key is (`"tenant_id"`, `"route"`, `"key"`).
    pub fn key_label(&self) -> &str {
        self.circuit.key_label()
    }

    /// Which circuit of its family rejected the call: for a keyed set, the key's own circuit,
    /// or the one a full set shares among new keys ([`Role::Overflow`]).
    pub fn role(&self) -> Role<'_> {
        self.circuit.role()
    }

    /// The state that rejected the call: `Open`, `HalfOpen` (all probe slots taken) or
    /// `ForcedOpen`.
    #[inline]
    pub fn state(&self) -> CircuitState {
        self.packed.state()
    }

    /// When a call may next be admitted, or `None` when only an operator can end the
    /// rejection (a forced-open circuit: nothing to wait for).
    ///
    /// For an open circuit, the end of its open period. For a half-open circuit whose probe
    /// slots are all taken, the end of its half-open maximum wait: the latest it can stay so,
    /// although it usually closes or reopens much sooner, when its probes finish. A time more
    /// than four years after the circuit's epoch (or the process's first rejection) is kept to
    /// within 128 ns.
    #[inline]
    pub fn retry_at(&self) -> Option<Instant> {
        let at = self.packed.retry_at()?;
        if self.packed.has(Packed::OWN_EPOCH) {
            self.circuit.instant_at(at)
        } else {
            Some(after(process_epoch(), at))
        }
    }

    /// Whether a call may be admitted any moment before [`retry_at`](Self::retry_at), which is
    /// then only the latest time: the circuit is half-open with every probe slot taken, or
    /// open and waiting for another instance's probe (with a shared store). A caller that wants
    /// to call again soon looks again after a short wait rather than waiting until `retry_at`.
    #[inline]
    pub fn awaits_probe(&self) -> bool {
        self.packed.has(Packed::AWAITS_PROBE)
    }

    /// Time from now until [`retry_at`](Self::retry_at), or `None` when only an operator can
    /// end the rejection; reads the clock, so it is computed only when asked.
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_at()
            .map(|at| at.saturating_duration_since(Instant::now()))
    }

    /// The circuit that rejected the call.
    #[inline]
    pub fn circuit(&self) -> &CircuitRef {
        &self.circuit
    }

    /// Asks the circuit to end its open period if [`retry_at`](Self::retry_at) has passed, so
    /// a call made right after waiting for it is not rejected by a timer that has not fired
    /// yet. Reads the clock once; does nothing for a rejection only an operator can end.
    pub fn recheck(&self) {
        if self.packed.has(Packed::ADMITS) {
            self.circuit.end_open_period_if_due();
        }
    }
}

/// A rejection's deadline and flags in one word: nanoseconds after an epoch in the low 57
/// bits, exact up to about four and a half years and in steps of 128 ns beyond (rounded up,
/// held at the last step for the largest), so every deadline a `u64` of nanoseconds can hold
/// is kept; then whether the value is in those steps, whether a call is ever admitted,
/// whether the epoch is the circuit's own, whether probes are under way, and the rejecting
/// state in the top three bits.
#[derive(Clone, Copy)]
struct Packed(u64);

impl Packed {
    const VALUE: u64 = (1 << 57) - 1;
    const STEP_BITS: u32 = 7;
    const COARSE: u64 = 1 << 57;
    const ADMITS: u64 = 1 << 58;
    const OWN_EPOCH: u64 = 1 << 59;
    const AWAITS_PROBE: u64 = 1 << 60;
    const STATE_AT: u32 = 61;

    #[inline]
    fn new(retry_at: Option<u64>, own_epoch: bool, state: CircuitState) -> Packed {
        let state = match state {
            CircuitState::Closed => 0,
            CircuitState::Open => 1,
            CircuitState::HalfOpen => 2,
            CircuitState::Disabled => 3,
            CircuitState::ForcedOpen => 4,
        };
        let at = retry_at.map_or(0, |at| Self::ADMITS | Self::encode(at));
        let epoch = if own_epoch { Self::OWN_EPOCH } else { 0 };
        Packed(at | epoch | (state << Self::STATE_AT))
    }

    #[inline]
    fn encode(at: u64) -> u64 {
        if at <= Self::VALUE {
            at
        } else {
            let below = at & ((1 << Self::STEP_BITS) - 1);
            let steps = (at >> Self::STEP_BITS) + u64::from(below != 0);
            // Disjoint bits: `+` is `|` here.
            Self::COARSE + steps.min(Self::VALUE)
        }
    }

    #[inline]
    fn has(self, flag: u64) -> bool {
        self.0 & flag != 0
    }

    #[inline]
    fn retry_at(self) -> Option<u64> {
        let value = self.0 & Self::VALUE;
        let at = if self.has(Self::COARSE) {
            value << Self::STEP_BITS
        } else {
            value
        };
        self.has(Self::ADMITS).then_some(at)
    }

    #[inline]
    fn state(self) -> CircuitState {
        match self.0 >> Self::STATE_AT {
            0 => CircuitState::Closed,
            1 => CircuitState::Open,
            2 => CircuitState::HalfOpen,
            3 => CircuitState::Disabled,
            _ => CircuitState::ForcedOpen,
        }
    }
}

impl fmt::Debug for CircuitOpen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitOpen")
            .field("name", &self.name())
            .field("key", &self.key())
            .field("state", &self.state())
            .field("retry_after", &self.retry_after())
            .field("correlation_id", &self.correlation_id)
            .finish()
    }
}

impl fmt::Display for CircuitOpen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "circuit breaker `{}`", self.name())?;
        if let Some(key) = self.key() {
            write!(f, " for {} `{key}`", self.key_label())?;
        }
        write!(f, " is {}", self.state())?;
        match self.retry_after() {
            Some(wait) => write!(f, "; retry in {:.1}s", wait.as_secs_f64()),
            None => f.write_str(" until an operator resets it"),
        }?;
        match &self.correlation_id {
            Some(id) => write!(f, " (correlation id {id})"),
            None => Ok(()),
        }
    }
}

impl Error for CircuitOpen {}

/// Which circuit of its family a circuit is, from [`Circuit::role`]. A shared store names
/// circuits by it, so that a tenant whose key reads like a special circuit's name does not
/// share that circuit's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Role<'a> {
    /// A circuit of its own, outside any keyed set.
    Plain,
    /// A keyed set's circuit for this key.
    Key(&'a str),
    /// A keyed set's circuit for requests that have no key.
    Keyless,
    /// The circuit a full keyed set shares among new keys.
    Overflow,
}

/// What a state store needs of a circuit's trip policy to decide for the whole fleet with the
/// pooled counts of every instance.
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub struct SharedPolicy {
    /// The failure rate (0–1) that trips the circuit, if a rate policy is configured.
    pub failure_rate: Option<f64>,
    /// The fewest calls a rate may trip on.
    pub min_calls: u32,
    /// The open duration after a first trip.
    pub open_duration: Duration,
    /// The longest the circuit waits in half-open before reopening.
    pub half_open_max_wait: Duration,
}

impl SharedPolicy {
    /// A policy without a failure rate: `open_duration` after a trip, at most
    /// `half_open_max_wait` in half-open.
    pub fn new(open_duration: Duration, half_open_max_wait: Duration) -> Self {
        SharedPolicy {
            failure_rate: None,
            min_calls: 0,
            open_duration,
            half_open_max_wait,
        }
    }

    /// The same policy, tripping at `failure_rate` (0–1) once `min_calls` calls are counted.
    #[must_use]
    pub fn with_failure_rate(mut self, failure_rate: f64, min_calls: u32) -> Self {
        self.failure_rate = Some(failure_rate);
        self.min_calls = min_calls;
        self
    }
}

/// The side of a circuit a state store sees: its counters, the decisions made elsewhere it
/// applies, and the probe gate that lets one instance of a fleet probe. A breaker implements
/// it; a user never calls it, and none of it runs on the path of a call.
pub trait StoredCircuit: Circuit {
    /// Successes and failures counted since the circuit was made. Both only grow, so a store
    /// sends deltas between two readings.
    fn outcome_totals(&self) -> (u64, u64);

    /// The trip policy, as far as a store needs it.
    fn shared_policy(&self) -> SharedPolicy;

    /// Time left in the current open period; `None` unless open.
    fn open_remaining(&self) -> Option<Duration>;

    /// Applies a state decided elsewhere: `Open` starts a normal open period, `Closed` clears
    /// the counts, `HalfOpen` admits probes. A state the circuit is already in changes
    /// nothing.
    fn apply_remote_state(&self, state: CircuitState);

    /// Opens the circuit for `remaining`, as decided elsewhere; a circuit already open stays
    /// open until the later of its own deadline and this one, with no new transition.
    fn apply_remote_open(&self, remaining: Duration);

    /// When on, an open period ends with the circuit still open and an
    /// [`EventKind::ProbeRequested`](crate::EventKind::ProbeRequested) to its transition
    /// listeners; the store answers with [`grant_probes`](Self::grant_probes) or
    /// [`defer_probe`](Self::defer_probe). Turning the gate off lets a circuit that waits for
    /// an answer probe on its own.
    fn gate_probes(&self, on: bool);

    /// This instance probes: a circuit waiting for its store's answer goes half-open. `false`
    /// if it was not waiting.
    fn grant_probes(&self) -> bool;

    /// Another instance probes: a circuit waiting for its store's answer stays open for `wait`
    /// more, with no transition, and asks again then. `false` if it was not waiting.
    fn defer_probe(&self, wait: Duration) -> bool;

    /// Listens to the circuit's transitions (and probe requests) only, without making calls
    /// build events.
    fn on_transition(
        &self,
        listener: Box<dyn Fn(&Event<'_>) + Send + Sync + 'static>,
    ) -> Subscription;
}

/// A shared reference to a circuit, as a store holds it.
pub type StoredRef = Handle<dyn StoredCircuit>;

/// A reference to a circuit that does not keep it alive: what a store keeps, so a keyed set
/// can still evict idle circuits.
pub type WeakStoredRef = WeakHandle<dyn StoredCircuit>;

/// Shares circuit state beyond this process. A store is told of each circuit to share
/// ([`attach`](Self::attach)) and then works through [`StoredCircuit`] only. Nothing of it
/// runs on the path of a call.
///
/// ```
/// use fusebox_core::{StateStore, StoredRef};
/// use std::sync::{Arc, Mutex};
///
/// /// Keeps a list of the circuits it was given (a real store would start sharing them).
/// #[derive(Clone, Default)]
/// struct Roster(Arc<Mutex<Vec<String>>>);
///
/// impl StateStore for Roster {
///     fn attach(&self, circuit: &StoredRef) {
///         let key = circuit.key().unwrap_or("-");
///         self.0.lock().unwrap().push(format!("{}/{key}", circuit.name()));
///     }
/// }
/// # let _ = Roster::default();
/// ```
pub trait StateStore: Send + Sync + 'static {
    /// Starts sharing `circuit`'s state. Called once per circuit.
    fn attach(&self, circuit: &StoredRef);
}

/// The default store: every circuit decides alone, in this process.
#[derive(Clone, Copy, Debug, Default)]
pub struct LocalState;

impl StateStore for LocalState {
    fn attach(&self, _: &StoredRef) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Named(&'static str, Option<&'static str>);

    impl Circuit for Named {
        fn name(&self) -> &str {
            self.0
        }
        fn key(&self) -> Option<&str> {
            self.1
        }
        fn key_label(&self) -> &str {
            "tenant_id"
        }
        fn state(&self) -> CircuitState {
            CircuitState::ForcedOpen
        }
    }

    #[derive(Debug)]
    struct Wrapped(Box<dyn Error + Send + Sync>);

    impl fmt::Display for Wrapped {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("calling the calendar API")
        }
    }

    impl Error for Wrapped {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            Some(self.0.as_ref())
        }
    }

    #[test]
    fn a_rejection_is_found_under_any_number_of_wrappers() {
        let open = CircuitOpen::new(
            Handle::Static(&Named("calendar", Some("acme"))),
            CircuitState::ForcedOpen,
            None,
        );
        let wrapped = Wrapped(Box::new(Wrapped(Box::new(open))));
        let found = CircuitOpen::find(&wrapped).expect("two levels down");
        assert_eq!((found.name(), found.key()), ("calendar", Some("acme")));
        assert_eq!(
            found.to_string(),
            "circuit breaker `calendar` for tenant_id `acme` is forced_open until an operator \
             resets it"
        );
        let traced = found
            .clone()
            .with_correlation_id(crate::CorrelationId::new("req-7"));
        assert_eq!(traced.correlation_id().map(|id| id.as_str()), Some("req-7"));
        assert!(
            traced
                .to_string()
                .ends_with("resets it (correlation id req-7)"),
            "{traced}"
        );
        assert!(format!("{traced:?}").contains("req-7"));
        let unrelated = Wrapped(Box::new(std::io::Error::other("reset")));
        assert!(CircuitOpen::find(&unrelated).is_none());
    }

    /// Keeps its deadlines as offsets from an epoch.
    struct Offsets(Instant);

    impl Circuit for Offsets {
        fn name(&self) -> &str {
            "telephony"
        }
        fn state(&self) -> CircuitState {
            CircuitState::Open
        }
        fn instant_at(&self, nanos: u64) -> Option<Instant> {
            Some(self.0 + Duration::from_nanos(nanos))
        }
    }

    #[tokio::test(start_paused = true)]
    async fn an_offset_becomes_an_instant_only_when_asked() {
        let epoch = Instant::now();
        let circuit: CircuitRef = Handle::Counted(std::sync::Arc::new(Offsets(epoch)));
        let open = CircuitOpen::at_offset(circuit, CircuitState::Open, Some(5_000_000_000));
        assert_eq!(open.retry_at(), Some(epoch + Duration::from_secs(5)));
        tokio::time::advance(Duration::from_secs(2)).await;
        assert_eq!(open.retry_after(), Some(Duration::from_secs(3)));
        // A circuit without an epoch of its own has no instant to give.
        let plain = CircuitOpen::at_offset(
            Handle::Static(&Named("calendar", None)),
            CircuitState::Open,
            Some(1),
        );
        assert_eq!(plain.retry_at(), None);
        let never = CircuitOpen::at_offset(
            Handle::Static(&Named("calendar", None)),
            CircuitState::ForcedOpen,
            None,
        );
        assert_eq!(never.retry_after(), None);
    }

    #[test]
    fn a_rejection_is_no_larger_than_five_words() {
        // The circuit (three words), the deadline with its flags, and the correlation id: every
        // byte is moved on every rejected call, and a breaker's future holds one.
        assert!(std::mem::size_of::<CircuitOpen>() <= 40);
    }

    #[test]
    fn a_packed_deadline_keeps_every_state_and_flag() {
        let states = [
            CircuitState::Closed,
            CircuitState::Open,
            CircuitState::HalfOpen,
            CircuitState::Disabled,
            CircuitState::ForcedOpen,
        ];
        let deadlines = [None, Some(0), Some(1), Some(Packed::VALUE), Some(128 << 57)];
        for state in states {
            for own_epoch in [false, true] {
                for at in deadlines {
                    for probing in [false, true] {
                        let mut packed = Packed::new(at, own_epoch, state);
                        if probing {
                            packed.0 |= Packed::AWAITS_PROBE;
                        }
                        let seen = (
                            packed.state(),
                            packed.has(Packed::OWN_EPOCH),
                            packed.retry_at(),
                            packed.has(Packed::AWAITS_PROBE),
                            packed.has(Packed::ADMITS),
                        );
                        assert_eq!(seen, (state, own_epoch, at, probing, at.is_some()));
                    }
                }
            }
        }
        // Beyond 57 bits, in steps of 128 ns, rounded up: never earlier than asked.
        let step = |at: u64| Packed::new(Some(at), false, CircuitState::Open).retry_at();
        assert_eq!(step(Packed::VALUE + 1), Some(Packed::VALUE + 1));
        assert_eq!(step(Packed::VALUE + 2), Some(Packed::VALUE + 1 + 128));
        // Any of the seven bits below a step rounds up, the second one alone too.
        assert_eq!(step(Packed::VALUE + 3), Some(Packed::VALUE + 1 + 128));
        assert_eq!(step(u64::MAX / 2), Some(u64::MAX / 2 + 1));
        // The largest deadline is held at the last step, 127 ns short of it.
        assert_eq!(step(u64::MAX), Some(u64::MAX - 127));
        let packed = Packed::new(Some(u64::MAX), true, CircuitState::ForcedOpen);
        assert_eq!(packed.state(), CircuitState::ForcedOpen);
        assert!(packed.has(Packed::OWN_EPOCH) && !packed.has(Packed::AWAITS_PROBE));
    }

    #[tokio::test(start_paused = true)]
    async fn an_instant_given_to_new_comes_back_exactly() {
        let at = Instant::now() + Duration::from_millis(1_500);
        let open = CircuitOpen::new(
            Handle::Static(&Named("calendar", None)),
            CircuitState::Open,
            Some(at),
        );
        assert_eq!(open.retry_at(), Some(at));
        // The process's epoch may have been taken by another test, on another clock, after
        // this test's clock was paused: move this clock past it first.
        let (epoch, now) = (process_epoch(), Instant::now());
        if epoch > now {
            tokio::time::advance(epoch - now).await;
        }
        let past = CircuitOpen::new(
            Handle::Static(&Named("calendar", None)),
            CircuitState::Open,
            Some(process_epoch() - Duration::from_secs(1)),
        );
        assert_eq!(
            past.retry_after(),
            Some(Duration::ZERO),
            "a time already past"
        );
    }

    /// A keyed circuit that keeps the default label, and counts the re-checks it is asked for.
    struct Rechecked(std::sync::atomic::AtomicUsize);

    impl Circuit for Rechecked {
        fn name(&self) -> &str {
            "calendar"
        }
        fn key(&self) -> Option<&str> {
            Some("acme")
        }
        fn state(&self) -> CircuitState {
            CircuitState::Open
        }
        fn end_open_period_if_due(&self) {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_rejection_rechecks_only_what_a_wait_can_end_and_says_whether_probes_are_busy() {
        let circuit: &'static Rechecked = Box::leak(Box::new(Rechecked(0.into())));
        let at = Instant::now() + Duration::from_secs(1);
        let open = CircuitOpen::new(Handle::Static(circuit), CircuitState::Open, Some(at));
        assert!(!open.awaits_probe());
        assert_eq!(open.key_label(), "key", "the default label");
        assert!(open.to_string().contains("for key `acme`"), "{open}");
        open.recheck();
        assert_eq!(circuit.0.load(std::sync::atomic::Ordering::SeqCst), 1);
        assert!(open.clone().awaiting_probe().awaits_probe());
        let forced = CircuitOpen::new(Handle::Static(circuit), CircuitState::ForcedOpen, None);
        forced.recheck();
        assert_eq!(
            circuit.0.load(std::sync::atomic::Ordering::SeqCst),
            1,
            "only an operator ends a forced-open circuit: nothing to re-check"
        );
    }
}
