//! What the slot uses under loom (`--cfg fusebox_loom`) in place of `arc-swap` and the pool of
//! retired slots.

use std::sync::Arc;

/// Under loom, a lock: loom does not model `arc-swap`'s thread-local debts.
pub(super) struct Shelf<T>(std::sync::RwLock<Option<Arc<T>>>);

impl<T> Default for Shelf<T> {
    fn default() -> Self {
        Shelf(std::sync::RwLock::new(None))
    }
}

impl<T> Shelf<T> {
    pub(super) fn set(&self, value: Option<Arc<T>>) {
        *crate::sync::write(&self.0) = value;
    }

    pub(super) fn get(&self) -> Option<Arc<T>> {
        crate::sync::read(&self.0).clone()
    }
}

/// Under loom every breaker gets a new slot: a slot's loom atomics belong to one execution.
pub(crate) mod pool {
    use crate::machine::slot::{Shape, Slot};

    pub(in crate::machine::slot) fn retire(_: &'static Slot) {}

    pub(in crate::machine::slot) fn reuse(_: Shape) -> Option<&'static Slot> {
        None
    }
}
