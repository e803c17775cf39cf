//! Circuit breaker state shared across servers through Redis, with nothing on the hot path.
//!
//! When ten servers call the same failing API, each should not have to discover the outage on
//! its own. A [`RedisStore`] shares the state of the breakers attached to it with every other
//! instance using the same namespace:
//!
//! - **Calls stay local.** A call through an attached breaker sends no Redis command. Each
//!   instance counts outcomes locally; every flush interval it sends the counts since the last
//!   flush (one `EVALSHA` per breaker that saw calls; an idle one is only read back, every
//!   poll interval), and a Lua script adds them to a shared time-bucketed window and trips
//!   the shared state when the window meets the breaker's failure-rate rule.
//! - **Transitions spread.** A trip decided anywhere (by the shared window, or by one instance's
//!   own breaker) is recorded atomically in Redis and published; every instance applies it
//!   within milliseconds. Each flush also returns the shared state, a safety net for missed
//!   messages and for instances that start late. Open-until times are kept on Redis's clock
//!   (`TIME`) and sent as a remaining duration, so skewed local clocks do not matter.
//! - **Redis trouble never fails a call.** Commands have a short timeout; if Redis is down,
//!   slow or failing, breakers keep deciding on local state, a `StoreDegraded` event and a
//!   rate-limited warning say so, counts keep accumulating, and the next successful flush sends
//!   them and reconciles. Redis being unreachable at start-up is not fatal.
//! - **One probe for the cluster.** When an instance's open period ends, it asks Redis for the
//!   probe lease (`SET NX PX`); the winner alone lets probe calls through, the others stay open
//!   until the lease or a newer open period ends. A prober that dies loses its lease (it
//!   expires after the breaker's half-open maximum wait) and another instance takes over. Each
//!   lease carries a fencing token; a probe result counts only while its lease is held.
//! - **Keys expire.** `fusebox:{<namespace>:<breaker>}:state`, `…:win` and `…:probe` carry TTLs
//!   refreshed on write, so abandoned breakers vanish without a cleanup job; they share a hash
//!   tag, so each script touches one slot.
//!
//! - **One bad instance cannot trip the fleet** with
//!   [`quorum`](RedisStoreBuilder::quorum): the shared window trips only when that many
//!   instances reported failures.
//!
//! [`RedisStore`] implements fusebox-core's [`StateStore`](fusebox_core::StateStore): it
//! depends on that seam only, not on the breaker crate. Give it to a breaker at build time
//! (`BreakerBuilder::store`), to an existing one (`Breaker::share_with`), or to a keyed set
//! (`KeyedBuilder::store`) or a registry (`BreakerRegistry::set_store`), which share every
//! breaker they make. It reaches each breaker through
//! [`StoredCircuit`](fusebox_core::StoredCircuit): monotonic outcome counters, the states and
//! open periods decided elsewhere, and the probe gate.
//!
//! **Servers.** Redis 6.2 and 7 and Valkey 8, single node or (feature `cluster`) Redis Cluster:
//! the scripts use only commands Redis 6 has (no functions, no `EXPIRE` options). The whole
//! test suite of this crate runs against Redis 7.0, Redis 6.2 and Valkey 8.0 on every CI run.
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `cluster` | no | `RedisStore::cluster_builder`, for Redis Cluster |
//! | `tls` | no | `rediss://` URLs (rustls with ring), a private CA, client certificates |
//!
//! **Security.** A password (and an ACL user) go in the URL:
//! `redis://user:password@host:6379/`. With the `tls` feature, `rediss://` URLs connect over
//! TLS, trusting the system's root certificates, or the CA given to
//! `RedisStoreBuilder::tls_root_certificates`; `RedisStoreBuilder::tls_client_certificate`
//! adds a client certificate for servers that require one. rustls needs a process-wide crypto
//! provider: the store installs ring's unless the application installed one first. A store
//! that cannot authenticate or verify the server degrades (a `StoreDegraded` event, a
//! warning naming the error) and its breakers keep deciding locally; calls never fail for it.
//!
//! ```no_run
//! use fusebox_redis::RedisStore;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! let store = RedisStore::builder("redis://127.0.0.1:6379/", "checkout").build()?;
//! // With the breaker (the `fusebox` facade's `redis` feature):
//! // let payments = Breaker::builder("payments").store(store.clone()).build()?;
//! # drop(store);
//! # Ok(())
//! # }
//! ```

#![cfg_attr(docsrs, feature(doc_cfg))]

mod store;

pub use store::{RedisStore, RedisStoreBuilder};
