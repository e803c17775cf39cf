//! Locks that shrug off poisoning: a listener that panicked must not disable a breaker.

use std::sync::{Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// The atomics of the state machine: loom's when built with `--cfg fusebox_loom`, so that
/// `tests/loom.rs` explores every interleaving of concurrent calls and transitions.
#[cfg(fusebox_loom)]
pub(crate) use loom::sync::atomic;
#[cfg(not(fusebox_loom))]
pub(crate) use std::sync::atomic;

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

pub(crate) fn read<T>(l: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|p| p.into_inner())
}

pub(crate) fn write<T>(l: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|p| p.into_inner())
}
