//! Benchmarks of fusebox side by side with the libraries a user would otherwise pick.
//!
//! [`harness`] calls every contender the way users call a tower service and times them in
//! interleaved rounds; [`contenders`] builds fusebox and its peers around the same opaque inner
//! service. The bench targets in `benches/` and the `closed_calls` program use them.

// The peers' breakers and the boxed runs have no `Debug` to show.
#![allow(missing_debug_implementations)]

pub mod contenders;
pub mod harness;
