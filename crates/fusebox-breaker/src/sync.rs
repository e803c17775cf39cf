//! The atomics of the state machine, and the workspace's poison-tolerant locks.

/// The atomics of the state machine: loom's when built with `--cfg fusebox_loom`, so that
/// `tests/loom.rs` explores every interleaving of concurrent calls and transitions.
#[cfg(fusebox_loom)]
pub(crate) use loom::sync::atomic;
#[cfg(not(fusebox_loom))]
pub(crate) use std::sync::atomic;

pub(crate) use fusebox_core::sync::{lock, read, write};
