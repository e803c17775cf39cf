//! What the health crate's tests share.

use fusebox_health::{FnCheck, HealthCheck, Probe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// A check named `name` that fails (`down`) while `failing` is set, and passes otherwise.
pub(crate) fn switch(name: &str, failing: &Arc<AtomicBool>) -> impl HealthCheck {
    let failing = failing.clone();
    FnCheck::new(name, move || {
        let failing = failing.load(Ordering::SeqCst);
        async move {
            if failing {
                Probe::fail("down")
            } else {
                Probe::pass()
            }
        }
    })
}
