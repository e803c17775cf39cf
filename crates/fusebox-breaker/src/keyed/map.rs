use crate::breaker::{Breaker, Permit};
use crate::builder::BreakerBuilder;
use crate::clock::{nanos, Epoch};
use crate::config::Config;
use crate::stats::Layout;
use crate::sync::{read, write};
use ahash::RandomState;
use fusebox_core::{CircuitOpen, CircuitState, ConfigError, EventBus, EventListener, Subscription};
use fusebox_core::{LocalState, StateStore};
use hashbrown::HashTable;
use std::cell::Cell;
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, RwLock};
use std::time::Duration;

impl BreakerBuilder {
    /// Makes this the configuration of a set of breakers, one per key (tenant, route, host),
    /// created on first use: see [`KeyedBreakers`](crate::KeyedBreakers).
    pub fn keyed(self) -> KeyedBuilder {
        KeyedBuilder::new(self)
    }
}

/// The key of the breaker that keys share once the set is full.
pub const OVERFLOW_KEY: &str = "(overflow)";

/// Smallest `max_key_len`: room for a prefix and a 32-digit hash.
const MIN_KEY_LEN: usize = 48;

const SHARDS: usize = 16;

/// Builds [`KeyedBreakers`]; from [`BreakerBuilder::keyed`].
///
/// | setting | default |
/// |---|---|
/// | `max_keys` | 10,000 live breakers |
/// | `idle_timeout` | 10 minutes |
/// | `max_key_len` | 128 bytes |
/// | `key_label` | `"key"` |
pub struct KeyedBuilder {
    base: BreakerBuilder,
    max_keys: usize,
    idle_timeout: Duration,
    max_key_len: usize,
    key_label: &'static str,
    store: Arc<dyn StateStore>,
}

impl fmt::Debug for KeyedBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedBuilder")
            .field("base", &self.base)
            .field("max_keys", &self.max_keys)
            .field("idle_timeout", &self.idle_timeout)
            .field("max_key_len", &self.max_key_len)
            .field("key_label", &self.key_label)
            .finish_non_exhaustive()
    }
}

impl KeyedBuilder {
    pub(crate) fn new(mut base: BreakerBuilder) -> Self {
        let store = base.take_store().unwrap_or_else(|| Arc::new(LocalState));
        KeyedBuilder {
            base,
            max_keys: 10_000,
            idle_timeout: Duration::from_secs(600),
            max_key_len: 128,
            key_label: "key",
            store,
        }
    }

    /// Shares the state of every breaker of the set through `store` (each key's breaker is
    /// attached when it is made).
    pub fn store(mut self, store: impl StateStore) -> Self {
        self.store = Arc::new(store);
        self
    }

    /// Most live breakers; once reached, new keys share one overflow breaker
    /// (key [`OVERFLOW_KEY`]) until idle ones are evicted.
    pub fn max_keys(mut self, n: usize) -> Self {
        self.max_keys = n;
        self
    }

    /// A breaker that is closed and unused this long is dropped (open ones are kept until
    /// they close).
    pub fn idle_timeout(mut self, idle: Duration) -> Self {
        self.idle_timeout = idle;
        self
    }

    /// Keys longer than this many bytes (at least 48) are replaced by a prefix, `#` and 128
    /// bits of the key's SHA-256 in hex, `len + 1` bytes in all: the same name on every
    /// machine, and one no kept key can have.
    pub fn max_key_len(mut self, len: usize) -> Self {
        self.max_key_len = len;
        self
    }

    /// What the key is, in `503` bodies and logs (`"tenant_id"`, `"route"`, `"host"`).
    pub fn key_label(mut self, label: &'static str) -> Self {
        self.key_label = label;
        self
    }

    /// Checks every setting and builds the set.
    pub fn build(self) -> Result<KeyedBreakers, ConfigError> {
        if self.max_keys == 0 {
            return Err(ConfigError::new("max_keys", "at least 1", self.max_keys));
        }
        if self.idle_timeout.is_zero() || self.idle_timeout > crate::MAX_DURATION {
            return Err(ConfigError::new(
                "idle_timeout",
                "in (0, 18446744073709551615ns] (about 584 years)",
                self.idle_timeout,
            ));
        }
        if self.max_key_len < MIN_KEY_LEN {
            return Err(ConfigError::new(
                "max_key_len",
                "at least 48",
                self.max_key_len,
            ));
        }
        if self.key_label.is_empty() {
            return Err(ConfigError::new(
                "key_label",
                "a non-empty string",
                self.key_label,
            ));
        }
        let (name, config, events) = self.base.into_parts()?;
        let transitions = EventBus::new();
        let overflow = Breaker::from_parts_keyed(
            name.clone(),
            Some((OVERFLOW_KEY.into(), self.key_label)),
            true,
            config.clone(),
            events.clone(),
            transitions.clone(),
            // Every key past max_keys shares it: it may be as hot as a plain breaker.
            Layout::PerThread,
        );
        let unkeyed = Breaker::from_parts_keyed(
            name.clone(),
            None,
            false,
            config.clone(),
            events.clone(),
            transitions.clone(),
            Layout::PerThread,
        );
        overflow.share_with(self.store.as_ref());
        unkeyed.share_with(self.store.as_ref());
        Ok(KeyedBreakers {
            inner: Arc::new(Inner {
                name,
                config,
                events,
                transitions,
                shards: (0..SHARDS).map(|_| RwLock::new(HashTable::new())).collect(),
                hasher: RandomState::new(),
                live: AtomicUsize::new(0),
                max_keys: self.max_keys,
                idle: self.idle_timeout,
                max_key_len: self.max_key_len,
                key_label: self.key_label,
                overflow,
                unkeyed,
                store: self.store,
                epoch: Epoch::now(),
                last_sweep: AtomicU64::new(0),
            }),
        })
    }
}

/// A key's hash under the set's randomly keyed `aHash` (keys may come from attackers: with a
/// seed they cannot learn, they cannot choose keys that collide), the key's bytes in one write.
/// It took 96 instructions less per call than std's `SipHash` here. (A `str`'s own `Hash` adds
/// a terminator byte in a second write, which only matters when several values are hashed
/// together; a key is hashed alone, and one write saves about 80 instructions.)
#[inline]
fn key_hash(hasher: &RandomState, key: &str) -> u64 {
    let mut h = hasher.build_hasher();
    h.write(key.as_bytes());
    h.finish()
}

/// Whether two keys are equal; keys of up to 16 bytes (most tenant ids, hosts and routes) are
/// compared in two 8-byte loads each rather than through a call to `memcmp`.
#[inline]
fn same_key(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    if a.len() > 16 {
        return a == b;
    }
    // Two possibly overlapping 8-byte words cover any length from 8 to 16; shorter keys are
    // padded with zeros (the lengths are equal, so padding cannot make two keys look alike).
    // `at` is never past the end: 0, or the length less 8.
    let word = |bytes: &[u8], at: usize| {
        let mut w = [0u8; 8];
        let end = bytes.len().min(at + 8);
        w[..end - at].copy_from_slice(&bytes[at..end]);
        u64::from_le_bytes(w)
    };
    if a.len() >= 8 {
        let tail = a.len() - 8;
        word(a, 0) == word(b, 0) && word(a, tail) == word(b, tail)
    } else {
        word(a, 0) == word(b, 0)
    }
}

/// Hex digits of the hash that ends a shortened key: 128 bits of SHA-256.
const HASH_HEX: usize = 32;

/// The name of a key longer than `max_len` bytes: a prefix of it, `#` (repeated as padding),
/// and the first 128 bits of the key's SHA-256 in hex, `max_len + 1` bytes in all.
///
/// The same on every machine and every run, so instances sharing state through a store agree
/// on it; two keys share a name only if their SHA-256 hashes share 128 bits, which nobody can
/// arrange; and no key short enough to be kept as it is has that length, so a hostile key
/// cannot take a shortened key's name.
///
/// Written into `name`, emptied first, so that a caller can reuse its buffer.
fn shorten_into(key: &str, max_len: usize, name: &mut String) {
    use sha2::{Digest, Sha256};
    use std::fmt::Write;
    let digest = Sha256::digest(key.as_bytes());
    let mut cut = max_len - HASH_HEX;
    while !key.is_char_boundary(cut) {
        cut -= 1;
    }
    name.clear();
    name.push_str(&key[..cut]);
    while name.len() < max_len - HASH_HEX + 1 {
        name.push('#');
    }
    for byte in &digest[..HASH_HEX / 2] {
        let _ = write!(name, "{byte:02x}");
    }
}

/// [`shorten_into`] a new string (tests).
#[cfg(test)]
fn shorten(key: &str, max_len: usize) -> String {
    let mut name = String::new();
    shorten_into(key, max_len, &mut name);
    name
}

thread_local! {
    /// The buffer each thread shortens long keys into, so that a call with a long key
    /// allocates nothing once the buffer has grown to the set's `max_key_len`.
    static SHORTENED: Cell<String> = const { Cell::new(String::new()) };
}

/// Sweeps count idleness in tenths of the idle timeout; ten of them evict.
const IDLE_TICKS: u8 = 10;

struct Entry {
    key: Box<str>,
    breaker: Breaker,
    /// Tenths of the idle timeout since last use, as seen by sweeps; a call resets it to 0.
    idle_ticks: AtomicU8,
}

/// One lock's worth of the set; keys are spread over `SHARDS` of them.
type Shard = RwLock<HashTable<Entry>>;

struct Inner {
    name: String,
    config: Config,
    events: EventBus,
    transitions: EventBus,
    shards: Box<[Shard]>,
    hasher: RandomState,
    live: AtomicUsize,
    max_keys: usize,
    idle: Duration,
    max_key_len: usize,
    key_label: &'static str,
    overflow: Breaker,
    unkeyed: Breaker,
    store: Arc<dyn StateStore>,
    epoch: Epoch,
    last_sweep: AtomicU64,
}

/// A set of breakers, one per key, made on first use from one configuration and bounded in
/// number. Cheap to clone; clones share the set.
///
/// Memory stays bounded whatever keys callers send (an attacker's random `X-Tenant-ID`s):
///
/// - at most `max_keys` breakers live; beyond that, new keys share one overflow breaker
///   (key [`OVERFLOW_KEY`]) rather than allocating;
/// - a breaker that is closed and unused for `idle_timeout` (measured in tenths of it), and
///   that no caller holds, is dropped when new keys arrive (at most one sweep per tenth of the
///   idle timeout); open breakers are kept until they close;
/// - keys longer than `max_key_len` are cut and suffixed with a hash of the whole key.
///
/// ```
/// use fusebox_breaker::{Breaker, CircuitState};
///
/// let tenants = Breaker::builder("calendar")
///     .consecutive_failures(2)
///     .keyed()
///     .key_label("tenant_id")
///     .max_keys(1_000)
///     .build()?;
/// for _ in 0..2 {
///     tenants.get("acme").try_acquire().unwrap().failure();
/// }
/// assert_eq!(tenants.get("acme").state(), CircuitState::Open);
/// assert_eq!(tenants.get("globex").state(), CircuitState::Closed);
/// assert_eq!(tenants.get("acme").key(), Some("acme"));
/// # Ok::<(), fusebox_breaker::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct KeyedBreakers {
    inner: Arc<Inner>,
}

impl fmt::Debug for KeyedBreakers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedBreakers")
            .field("name", &self.inner.name)
            .field("live", &self.len())
            .field("max_keys", &self.inner.max_keys)
            .finish_non_exhaustive()
    }
}

impl KeyedBreakers {
    /// The name every breaker of the set carries.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The breaker for `key`, made on first use; the overflow breaker when the set is full.
    ///
    /// A known key costs one hash, a shared read lock and no clock read.
    pub fn get(&self, key: &str) -> Breaker {
        self.find(key, |breaker| Some(breaker.clone()))
            .unwrap_or_else(|breaker| breaker)
    }

    /// A permit from the breaker for `key`, or its rejection: what a keyed service asks per
    /// call. A closed breaker admits the call while the set's read lock is held, so the call
    /// clones no handle; any other state is asked after the lock is let go, since a rejection
    /// may run event listeners, which may use the set.
    #[inline]
    pub(crate) fn acquire(&self, key: &str) -> Result<Permit, CircuitOpen> {
        match self.find(key, Breaker::try_acquire_closed) {
            Ok(permit) => Ok(permit),
            Err(breaker) => breaker.try_acquire(),
        }
    }

    /// `found(breaker)` for the breaker of `key`, under the read lock of its table; the
    /// breaker itself when `found` declines (`None`) or the key is new (made, or the overflow
    /// breaker), for the caller to use with no lock held.
    #[inline]
    fn find<T>(&self, key: &str, found: impl FnOnce(&Breaker) -> Option<T>) -> Result<T, Breaker> {
        if key.len() > self.inner.max_key_len {
            return self.find_long(key, found);
        }
        self.find_kept(key, found)
    }

    /// [`find`](Self::find) for a key longer than `max_key_len`, by its shortened form, made in
    /// this thread's buffer. The buffer is taken out while the key is looked up, so a nested
    /// call (a store's hook that asks for another long key) finds it empty and grows its own;
    /// the larger of the two goes back.
    #[cold]
    #[inline(never)]
    fn find_long<T>(
        &self,
        key: &str,
        found: impl FnOnce(&Breaker) -> Option<T>,
    ) -> Result<T, Breaker> {
        // Without a buffer (a thread being torn down), in a new string.
        let mut name = SHORTENED.try_with(Cell::take).unwrap_or_default();
        shorten_into(key, self.inner.max_key_len, &mut name);
        let result = self.find_kept(&name, found);
        let _ = SHORTENED.try_with(|buffer| {
            let nested = buffer.take();
            buffer.set(std::cmp::max_by_key(nested, name, String::capacity));
        });
        result
    }

    /// [`find`](Self::find) for a key no longer than `max_key_len`.
    #[inline]
    fn find_kept<T>(
        &self,
        key: &str,
        found: impl FnOnce(&Breaker) -> Option<T>,
    ) -> Result<T, Breaker> {
        let inner = &self.inner;
        let hash = key_hash(&inner.hasher, key);
        // The table takes the low bits (slot) and the top seven (tag); middle bits pick it.
        let shard = &inner.shards[(hash >> 32) as usize % SHARDS];
        {
            let table = read(shard);
            if let Some(entry) = table.find(hash, |e| same_key(&e.key, key)) {
                if entry.idle_ticks.load(Relaxed) != 0 {
                    entry.idle_ticks.store(0, Relaxed);
                }
                return found(&entry.breaker).ok_or_else(|| entry.breaker.clone());
            }
        }
        Err(self.insert(key, hash, shard))
    }

    #[cold]
    fn insert(&self, key: &str, hash: u64, shard: &Shard) -> Breaker {
        let inner = &self.inner;
        let now = self.now();
        let since_sweep = now.saturating_sub(inner.last_sweep.load(Relaxed));
        if since_sweep >= self.tick() {
            self.sweep(now);
        }
        if inner.live.load(Relaxed) >= inner.max_keys {
            return inner.overflow.clone();
        }
        let mut table = write(shard);
        let hasher = &inner.hasher;
        let mut made = None;
        let entry = table
            .entry(hash, |e| &*e.key == key, |e| key_hash(hasher, &e.key))
            .or_insert_with(|| {
                inner.live.fetch_add(1, Relaxed);
                let breaker = Breaker::from_parts_keyed(
                    inner.name.clone(),
                    Some((key.into(), inner.key_label)),
                    false,
                    inner.config.clone(),
                    inner.events.clone(),
                    inner.transitions.clone(),
                    Layout::Single,
                );
                made = Some(breaker.clone());
                Entry {
                    key: key.into(),
                    breaker,
                    idle_ticks: AtomicU8::new(0),
                }
            });
        let breaker = entry.get().breaker.clone();
        drop(table);
        if let Some(made) = made {
            made.share_with(inner.store.as_ref());
        }
        breaker
    }

    /// A tenth of the idle timeout, in nanoseconds: the sweep cadence.
    fn tick(&self) -> u64 {
        (nanos(self.inner.idle) / u64::from(IDLE_TICKS)).max(1)
    }

    /// The breaker for requests that carry no key.
    pub fn unkeyed(&self) -> &Breaker {
        &self.inner.unkeyed
    }

    /// The breaker new keys share once the set is full.
    pub fn overflow(&self) -> &Breaker {
        &self.inner.overflow
    }

    /// Live per-key breakers (not counting the overflow and unkeyed ones).
    pub fn len(&self) -> usize {
        self.inner.live.load(Relaxed)
    }

    /// Whether no per-key breaker lives.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The live per-key breakers, in no particular order.
    pub fn breakers(&self) -> Vec<Breaker> {
        self.inner
            .shards
            .iter()
            .flat_map(|s| {
                let table = read(s);
                table.iter().map(|e| e.breaker.clone()).collect::<Vec<_>>()
            })
            .collect()
    }

    /// Drops now every breaker that is closed, idle for the idle timeout and held by no one;
    /// returns how many were dropped. (Also done as new keys arrive.)
    pub fn evict_idle(&self) -> usize {
        self.sweep(self.now())
    }

    /// Listens to the events of every breaker of the set (each names its key).
    pub fn subscribe(&self, listener: impl EventListener) -> Subscription {
        self.inner.events.subscribe(listener)
    }

    /// Listens to the state transitions of every breaker of the set, and to nothing else:
    /// unlike [`subscribe`](Self::subscribe), it does not make calls build events, so it costs
    /// the hot path nothing.
    pub fn on_transition(&self, listener: impl EventListener) -> Subscription {
        self.inner.transitions.subscribe(listener)
    }

    /// The key label (`"tenant_id"`).
    pub fn key_label(&self) -> &'static str {
        self.inner.key_label
    }

    fn now(&self) -> u64 {
        self.inner.epoch.now_nanos()
    }

    /// Ages every entry by the tenths of the idle timeout since the last sweep, and drops
    /// those idle for the whole timeout that are closed and held by no one.
    fn sweep(&self, now: u64) -> usize {
        let inner = &self.inner;
        let last = inner.last_sweep.swap(now, Relaxed);
        let ticks = u8::try_from(now.saturating_sub(last) / self.tick()).unwrap_or(u8::MAX);
        let mut dropped = 0;
        for shard in inner.shards.iter() {
            let mut table = write(shard);
            table.retain(|e| {
                let age = e.idle_ticks.load(Relaxed).saturating_add(ticks);
                e.idle_ticks.store(age, Relaxed);
                let evict = age >= IDLE_TICKS
                    && e.breaker.state() == CircuitState::Closed
                    && e.breaker.shared.is_unique();
                dropped += usize::from(evict);
                !evict
            });
        }
        inner.live.fetch_sub(dropped, Relaxed);
        dropped
    }
}

/// Every breaker of the set: the unkeyed one, the overflow one and each key's, read without
/// making, touching or evicting any.
impl fusebox_core::Circuits for KeyedBreakers {
    fn for_each_circuit(&self, visit: &mut dyn FnMut(&dyn fusebox_core::Circuit)) {
        visit(&*self.inner.unkeyed.shared);
        visit(&*self.inner.overflow.shared);
        for shard in self.inner.shards.iter() {
            for entry in read(shard).iter() {
                visit(&*entry.breaker.shared);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(max_keys: usize) -> KeyedBreakers {
        Breaker::builder("t")
            .consecutive_failures(1)
            .keyed()
            .max_keys(max_keys)
            .idle_timeout(Duration::from_secs(60))
            .build()
            .unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_set_sends_new_keys_to_the_overflow_breaker() {
        let s = set(2);
        assert_eq!(s.get("a").key(), Some("a"));
        assert_eq!(s.get("b").key(), Some("b"));
        assert_eq!(s.get("c").key(), Some(OVERFLOW_KEY));
        assert_eq!(
            s.get("a").key(),
            Some("a"),
            "existing keys keep their breaker"
        );
        assert_eq!(s.len(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn idle_closed_breakers_are_evicted_and_open_ones_kept() {
        let s = set(10);
        s.get("idle");
        s.get("open").try_acquire().unwrap().failure();
        let held = s.get("held");
        tokio::time::advance(Duration::from_secs(61)).await;
        assert_eq!(s.evict_idle(), 1);
        let keys: Vec<_> = s
            .breakers()
            .iter()
            .map(|b| b.key().unwrap().to_owned())
            .collect();
        assert!(keys.contains(&"open".to_owned()) && keys.contains(&"held".to_owned()));
        drop(held);
        assert_eq!(s.evict_idle(), 1, "released, and still idle");
        assert_eq!(s.len(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_key_in_use_is_not_evicted_however_long_ago_it_was_first_used() {
        let s = set(10);
        assert!(s.is_empty());
        drop(s.get("a"));
        assert!(!s.is_empty());
        tokio::time::advance(Duration::from_secs(30)).await;
        assert_eq!(s.evict_idle(), 0, "idle for half the timeout");
        drop(s.get("a"));
        tokio::time::advance(Duration::from_secs(40)).await;
        assert_eq!(s.evict_idle(), 0, "used 40 s ago, first 70 s ago");
        assert_eq!(s.len(), 1);
        tokio::time::advance(Duration::from_secs(25)).await;
        assert_eq!(s.evict_idle(), 1, "idle 65 s: gone");
        assert!(s.is_empty());
    }

    #[test]
    fn a_set_names_itself_and_its_keys() {
        let s = Breaker::builder("calendar")
            .keyed()
            .key_label("tenant_id")
            .build()
            .unwrap();
        assert_eq!((s.name(), s.key_label()), ("calendar", "tenant_id"));
    }

    #[tokio::test(start_paused = true)]
    async fn long_keys_are_cut_and_hashed() {
        let s = Breaker::builder("t")
            .keyed()
            .max_key_len(48)
            .build()
            .unwrap();
        let long_a = "a".repeat(100);
        let long_b = format!("{}b", "a".repeat(99));
        let a = s.get(&long_a);
        assert_eq!(a.key().unwrap().len(), 49);
        assert_ne!(a.key(), s.get(&long_b).key(), "different keys stay apart");
        assert_eq!(a.key(), s.get(&long_a).key());
        let multibyte = "é".repeat(40);
        let m = s.get(&multibyte);
        assert_eq!(m.key().unwrap().len(), 49, "{:?}", m.key());
        assert!(m.key().unwrap().starts_with("éééééééé#"));
        // A cut that falls inside a character moves back to its start, and `#`s pad it.
        let odd = format!("x{}", "é".repeat(40));
        let o = s.get(&odd);
        assert_eq!(o.key().unwrap().len(), 49, "{:?}", o.key());
        assert!(
            o.key()
                .unwrap()
                .starts_with(&format!("x{}##", "é".repeat(7))),
            "{:?}",
            o.key()
        );
        // A key short enough to be kept cannot take a shortened key's name.
        let literal = &a.key().unwrap()[..48];
        assert_ne!(s.get(literal).key(), a.key());
        assert_eq!(
            s.get(literal).key(),
            Some(literal),
            "48 bytes: kept as it is"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_long_key_met_while_another_is_being_shortened_is_shortened_alike() {
        use fusebox_core::StoredRef;
        use std::sync::{Mutex, OnceLock};
        /// A store that, as the first key's breaker is made, asks the set for a second long
        /// key: the thread's buffer is still shortening the first.
        #[derive(Default)]
        struct Nested {
            set: OnceLock<KeyedBreakers>,
            asked: std::sync::atomic::AtomicBool,
            found: Mutex<Option<String>>,
        }
        impl StateStore for Nested {
            fn attach(&self, _: &StoredRef) {
                let Some(set) = self.set.get() else { return };
                if !self.asked.swap(true, Relaxed) {
                    let key = set.get(&"b".repeat(100)).key().map(str::to_owned);
                    *self.found.lock().unwrap() = key;
                }
            }
        }
        let store = Arc::new(Nested::default());
        struct Shared(Arc<Nested>);
        impl StateStore for Shared {
            fn attach(&self, circuit: &StoredRef) {
                self.0.attach(circuit);
            }
        }
        let s = Breaker::builder("t")
            .keyed()
            .max_key_len(48)
            .store(Shared(store.clone()))
            .build()
            .unwrap();
        let _ = store.set.set(s.clone());
        let a = s.get(&"a".repeat(100));
        assert_eq!(a.key(), Some(shorten(&"a".repeat(100), 48).as_str()));
        assert_eq!(
            store.found.lock().unwrap().as_deref(),
            Some(shorten(&"b".repeat(100), 48).as_str())
        );
        assert_eq!(s.len(), 2);
    }

    #[test]
    fn keys_are_equal_exactly_when_their_bytes_are() {
        let keys = [
            "",
            "a",
            "b",
            "ab",
            "ba",
            "tenant-1",
            "tenant-2",
            "tenant-10",
            "tenant-01",
            "abcdefgh",
            "abcdefgi",
            "abcdefghijklmnop",
            "abcdefghijklmnoq",
            "bbcdefghijklmnop",
            "abcdefghijklmnopq",
            "abcdefghijklmnopr",
            "müller",
            "mueller",
            "a\0",
            "a\0\0",
            // Longer than 16 bytes, alike in their first and last eight.
            "aaaaaaaaXaaaaaaaa",
            "aaaaaaaaYaaaaaaaa",
            "tenant-00000000001-eu",
            "tenant-00000000002-eu",
        ];
        for a in keys {
            for b in keys {
                assert_eq!(same_key(a, b), a == b, "{a:?} and {b:?}");
            }
        }
    }

    #[test]
    fn shortened_keys_are_the_same_in_every_set_and_run() {
        // The first 128 bits of SHA-256("a" × 200): fixed, not seeded per process.
        let key = "a".repeat(200);
        let name = shorten(&key, 48);
        assert_eq!(
            name,
            format!("{}#c2a908d98f5df987ade41b5fce213067", "a".repeat(16))
        );
        let one = Breaker::builder("t")
            .keyed()
            .max_key_len(48)
            .build()
            .unwrap();
        let two = Breaker::builder("t")
            .keyed()
            .max_key_len(48)
            .build()
            .unwrap();
        assert_eq!(one.get(&key).key(), Some(name.as_str()));
        assert_eq!(two.get(&key).key(), Some(name.as_str()));
    }

    #[test]
    fn invalid_settings_name_their_field() {
        let e = Breaker::builder("t")
            .keyed()
            .max_keys(0)
            .build()
            .unwrap_err();
        assert_eq!(e.to_string(), "max_keys must be at least 1, got 0");
        let e = Breaker::builder("t")
            .keyed()
            .max_key_len(8)
            .build()
            .unwrap_err();
        assert_eq!(e.to_string(), "max_key_len must be at least 48, got 8");
        let e = Breaker::builder("t")
            .keyed()
            .idle_timeout(Duration::ZERO)
            .build()
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "idle_timeout must be in (0, 18446744073709551615ns] (about 584 years), got 0ns"
        );
        let e = Breaker::builder("t")
            .failure_rate(2.0)
            .keyed()
            .build()
            .unwrap_err();
        assert_eq!(e.field(), "failure_rate");
    }
}
