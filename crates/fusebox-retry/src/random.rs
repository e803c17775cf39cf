//! Where a retry's jitter draws its random numbers.

use crate::backoff::RandomSource;
use std::fmt;
use std::sync::{Arc, Mutex};

/// The random numbers of a retry layer, as its builder chose them.
#[derive(Clone)]
pub(crate) enum Randomness {
    /// A fresh, randomly seeded generator for each call.
    Fresh,
    /// A generator seeded with the same seed for each call: reproducible delays.
    Seeded(u64),
    /// One source of the user's, shared by every call of the layer.
    Shared(Arc<Mutex<dyn RandomSource + Send>>),
}

impl fmt::Debug for Randomness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Randomness::Fresh => f.write_str("Fresh"),
            Randomness::Seeded(seed) => f.debug_tuple("Seeded").field(seed).finish(),
            Randomness::Shared(_) => f.write_str("Shared(..)"),
        }
    }
}

impl Randomness {
    /// The source one call draws from; made when the call first needs a delay.
    pub(crate) fn source(&self) -> CallRandom {
        match self {
            Randomness::Fresh => CallRandom::Own(fastrand::Rng::new()),
            Randomness::Seeded(seed) => CallRandom::Own(fastrand::Rng::with_seed(*seed)),
            Randomness::Shared(source) => CallRandom::Shared(source.clone()),
        }
    }
}

/// One call's random source.
pub(crate) enum CallRandom {
    Own(fastrand::Rng),
    Shared(Arc<Mutex<dyn RandomSource + Send>>),
}

impl RandomSource for CallRandom {
    fn next_f64(&mut self) -> f64 {
        match self {
            CallRandom::Own(rng) => rng.f64(),
            // A source that panicked mid-draw holds no invariant of ours: keep drawing from it.
            CallRandom::Shared(source) => fusebox_core::sync::lock(source).next_f64(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_names_the_kind_of_source() {
        assert_eq!(format!("{:?}", Randomness::Fresh), "Fresh");
        assert_eq!(format!("{:?}", Randomness::Seeded(7)), "Seeded(7)");
        let shared = Randomness::Shared(Arc::new(Mutex::new(|| 0.5)));
        assert_eq!(format!("{shared:?}"), "Shared(..)");
    }
}
