//! Every interleaving of a few concurrent calls and transitions, explored by loom.
//!
//! The breaker's state word and counts are loom atomics in this build, so loom runs each model
//! under every schedule its atomics allow:
//!
//! ```sh
//! RUSTFLAGS="--cfg fusebox_loom" cargo test -p fusebox-breaker --test loom --release
//! ```
//!
//! (`scripts/test` runs it, in a target directory of its own.) Without a Tokio runtime the
//! breaker arms no timer, so an open period ends on the next call after its deadline: models
//! use a one-nanosecond open period where they need one to end.
#![cfg(fusebox_loom)]

use fusebox_breaker::{Breaker, BreakerBuilder, CircuitState};
use fusebox_core::{Event, EventKind};
use loom::thread;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

/// Counts the transitions into `to`.
fn count_transitions(b: &Breaker, to: CircuitState) -> Arc<AtomicUsize> {
    let n = Arc::new(AtomicUsize::new(0));
    let seen = n.clone();
    std::mem::forget(b.subscribe(move |e: &Event<'_>| {
        if matches!(e.kind, EventKind::StateTransition { to: t, .. } if t == to) {
            seen.fetch_add(1, SeqCst);
        }
    }));
    n
}

/// A breaker tripped by one failure whose (one-nanosecond) open period is over, so the next
/// call finds it half-open; `opened` counts its transitions to open, the trip included.
fn past_its_open_period(probes: u32, successes: u32) -> (Breaker, Arc<AtomicUsize>) {
    let b = Breaker::builder("t")
        .consecutive_failures(1)
        .open_duration(Duration::from_nanos(1))
        .half_open_probes(probes)
        .half_open_successes(successes)
        .build()
        .unwrap();
    let opened = count_transitions(&b, CircuitState::Open);
    fail_once(&b);
    std::thread::sleep(Duration::from_micros(1));
    (b, opened)
}

fn trips_on_one_failure() -> BreakerBuilder {
    Breaker::builder("t")
        .consecutive_failures(1)
        .open_duration(Duration::from_secs(60))
}

fn fail_once(b: &Breaker) {
    if let Ok(permit) = b.try_acquire() {
        permit.failure();
    }
}

#[test]
fn concurrent_failures_trip_the_breaker_exactly_once() {
    loom::model(|| {
        let b = trips_on_one_failure().build().unwrap();
        let opened = count_transitions(&b, CircuitState::Open);
        let (mine, theirs) = (b.try_acquire().unwrap(), b.try_acquire().unwrap());
        let t = thread::spawn(move || theirs.failure());
        mine.failure();
        t.join().unwrap();
        assert_eq!(b.state(), CircuitState::Open);
        assert_eq!(opened.load(SeqCst), 1, "one trip, one transition");
        assert_eq!(b.metrics().trips, 1);
    });
}

#[test]
fn half_open_admits_exactly_its_probes() {
    loom::model(|| {
        let (b, _) = past_its_open_period(1, 1);
        let other = b.clone();
        let t = thread::spawn(move || other.try_acquire().ok());
        let mine = b.try_acquire().ok();
        let theirs = t.join().unwrap();
        let admitted = usize::from(mine.is_some()) + usize::from(theirs.is_some());
        assert_eq!(admitted, 1, "one probe slot, one probe");
        assert_eq!(b.state(), CircuitState::HalfOpen);
        mine.or(theirs).unwrap().success();
        assert_eq!(b.state(), CircuitState::Closed);
    });
}

#[test]
fn a_call_admitted_before_a_reset_cannot_trip_after_it() {
    loom::model(|| {
        let b = trips_on_one_failure().build().unwrap();
        let permit = b.try_acquire().unwrap();
        let t = thread::spawn(move || permit.failure());
        b.reset();
        t.join().unwrap();
        // Before the reset, the failure tripped and the reset closed; after it, the failure
        // belonged to an earlier generation and was dropped. Either way: closed.
        assert_eq!(b.state(), CircuitState::Closed);
    });
}

#[test]
fn concurrent_failures_in_a_disabled_breaker_suppress_one_trip() {
    loom::model(|| {
        let b = trips_on_one_failure().start_disabled(true).build().unwrap();
        // Both admitted in the same period: one suppressed trip covers both, as one real
        // trip would. (A call admitted after it would count afresh.)
        let (mine, theirs) = (b.try_acquire().unwrap(), b.try_acquire().unwrap());
        let t = thread::spawn(move || theirs.failure());
        mine.failure();
        t.join().unwrap();
        assert_eq!(b.state(), CircuitState::Disabled);
        assert_eq!(b.metrics().suppressed_trips, 1);
        assert_eq!(b.metrics().rejections, 0);
    });
}

#[test]
fn any_failed_probe_reopens_whatever_the_order() {
    loom::model(|| {
        let (b, opened) = past_its_open_period(2, 2);
        let (good, bad) = (b.try_acquire().unwrap(), b.try_acquire().unwrap());
        let t = thread::spawn(move || bad.failure());
        good.success();
        t.join().unwrap();
        assert_eq!(b.state(), CircuitState::Open, "a probe failed");
        assert_eq!(opened.load(SeqCst), 2, "tripped, then reopened once");
    });
}

/// Two failures recorded at once into a window that trips only with both (rate 1.0): whichever
/// records last must see both, under every interleaving.
fn two_failures_at_once_trip(window: fn(BreakerBuilder) -> BreakerBuilder) {
    loom::model(move || {
        let b = window(Breaker::builder("t"))
            .failure_rate(1.0)
            .min_calls(2)
            .open_duration(Duration::from_secs(60))
            .build()
            .unwrap();
        let opened = count_transitions(&b, CircuitState::Open);
        let (mine, theirs) = (b.try_acquire().unwrap(), b.try_acquire().unwrap());
        let t = thread::spawn(move || theirs.failure());
        mine.failure();
        t.join().unwrap();
        assert_eq!(b.state(), CircuitState::Open);
        assert_eq!(opened.load(SeqCst), 1);
    });
}

#[test]
fn concurrent_failures_filling_a_count_window_trip_it_once() {
    two_failures_at_once_trip(|b| b.count_window(2));
}

#[test]
fn concurrent_failures_filling_a_time_window_trip_it_once() {
    two_failures_at_once_trip(|b| b.time_window(Duration::from_secs(60), 10));
}
