//! The timer that ends an open period, so rejected calls read no clock.

use super::word::{Word, TIMER};
use super::{Handle, Shared, WeakHandle};
use crate::sync::atomic::Ordering::Relaxed;

impl Shared {
    /// Spawns a timer that ends the open period of `generation`, so rejected calls read no clock.
    /// Without a Tokio runtime, or in one without a time driver, rejected calls compare the
    /// clock with the deadline instead.
    pub(super) fn arm_timer(this: &Handle, generation: u32) {
        if !timers_allowed() {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        // The deadline is published before the state, so it is this period's.
        let deadline = this.epoch.instant_at(this.open_until.load(Relaxed));
        // Tokio panics when a timer is made in a runtime without a time driver: catch that
        // once, and let open periods end by clock checks from then on.
        let Ok(sleep) = std::panic::catch_unwind(|| tokio::time::sleep_until(deadline)) else {
            if !NO_TIME_DRIVER.swap(true, std::sync::atomic::Ordering::Relaxed) {
                tracing::warn!(
                    "a circuit breaker's timer could not be made (a Tokio runtime without a \
                     time driver: call enable_time or enable_all on its builder); breakers now \
                     end open periods on the first call after them"
                );
            }
            return;
        };
        let mut word = this.load();
        loop {
            if !word.is_open() || word.generation() != generation {
                return;
            }
            match this.cas(word, Word(word.0 | TIMER)) {
                Ok(()) => break,
                Err(current) => word = current,
            }
        }
        // Built outside the task, so that a task dropped unpolled (runtime shutting down) still
        // disarms and the clock check takes over.
        let mut guard = TimerGuard {
            shared: this.downgrade(),
            generation,
            fired: false,
        };
        runtime.spawn(async move {
            sleep.await;
            guard.fired = true;
            if let Some(shared) = guard.shared.upgrade() {
                Shared::end_open_period(&shared, guard.generation);
            }
        });
    }
}

/// Whether breakers may make Tokio timers. Tokio offers no way to ask whether a runtime has a
/// time driver short of the panic it raises when it has none, which the breaker catches; in a
/// program built with `panic = "abort"` that panic would end the process, so there no breaker
/// makes timers: open periods end on the first call after them (one clock read per rejected
/// call), exactly as after a caught panic.
fn timers_allowed() -> bool {
    cfg!(panic = "unwind") && !NO_TIME_DRIVER.load(std::sync::atomic::Ordering::Relaxed)
}

/// Set once a timer could not be made because the runtime has no time driver (Tokio panics,
/// which the panic hook prints once): from then on no breaker in the process arms timers, and
/// open periods end on the first call after them. Correct either way; a timer only saves
/// rejected calls a clock read.
static NO_TIME_DRIVER: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

struct TimerGuard {
    shared: WeakHandle,
    generation: u32,
    fired: bool,
}

impl Drop for TimerGuard {
    fn drop(&mut self) {
        if self.fired {
            return;
        }
        if let Some(shared) = self.shared.upgrade() {
            let mut word = shared.load();
            while word.is_open() && word.generation() == self.generation && word.timer_armed() {
                match shared.cas(word, Word(word.0 & !TIMER)) {
                    Ok(()) => return,
                    Err(current) => word = current,
                }
            }
        }
    }
}
