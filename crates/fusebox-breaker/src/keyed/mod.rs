//! One breaker per key (tenant, route, host), bounded in number.
//!
//! A multi-tenant server that shares one breaker across tenants lets one tenant's failing
//! integration open the circuit for everyone. [`KeyedBreakers`] keeps a breaker per key, made on
//! first use from one configuration, and [`KeyedCircuitBreakerLayer`] picks the breaker for each
//! request with a [`KeyExtractor`].

mod extract;
mod layer;
mod map;

pub use extract::{key_fn, KeyExtractor, KeyFn};
#[cfg(feature = "http")]
pub use extract::{HeaderKey, HostKey, PathKey};
pub use layer::{ByKey, KeyedCircuitBreaker, KeyedCircuitBreakerLayer};
pub use map::{KeyedBreakers, KeyedBuilder, OVERFLOW_KEY};
