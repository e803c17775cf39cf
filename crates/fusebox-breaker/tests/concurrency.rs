//! The half-open permit count holds under contention on a multi-thread runtime.

use fusebox_breaker::{Breaker, CircuitState};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use support::stored;

mod support;

const PROBES: u32 = 3;

fn half_open_breaker(successes: u32) -> Breaker {
    let b = Breaker::builder("contended")
        .consecutive_failures(1)
        .open_duration(Duration::from_nanos(1))
        .half_open_probes(PROBES)
        .half_open_successes(successes)
        .build()
        .unwrap();
    b.force_open();
    stored(&b).apply_remote_state(CircuitState::HalfOpen);
    assert_eq!(b.state(), CircuitState::HalfOpen);
    b
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn exactly_n_probes_are_admitted_when_all_race_for_them() {
    let b = half_open_breaker(1);
    let barrier = Arc::new(tokio::sync::Barrier::new(16));
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let b = b.clone();
            let barrier = barrier.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                let mut held = Vec::new();
                for _ in 0..1_000 {
                    if let Ok(p) = b.try_acquire() {
                        held.push(p);
                    }
                }
                held
            })
        })
        .collect();
    let mut admitted = Vec::new();
    for t in tasks {
        admitted.extend(t.await.unwrap());
    }
    assert_eq!(admitted.len() as u32, PROBES);
    assert_eq!(b.metrics().rejections, 16 * 1_000 - u64::from(PROBES));
    for p in admitted {
        p.success();
    }
    assert_eq!(b.state(), CircuitState::Closed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_probes_never_exceed_n_while_slots_are_recycled() {
    // Many successes needed, so the breaker stays half-open while slots turn over.
    let b = half_open_breaker(60_000);
    let in_flight = Arc::new(AtomicU32::new(0));
    let peak = Arc::new(AtomicU32::new(0));
    let admitted = Arc::new(AtomicU64::new(0));
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (b, in_flight, peak, admitted) =
                (b.clone(), in_flight.clone(), peak.clone(), admitted.clone());
            tokio::spawn(async move {
                for i in 0..5_000u32 {
                    if let Ok(p) = b.try_acquire() {
                        let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                        peak.fetch_max(now, Ordering::SeqCst);
                        admitted.fetch_add(1, Ordering::Relaxed);
                        if i % 7 == 0 {
                            tokio::task::yield_now().await;
                        }
                        in_flight.fetch_sub(1, Ordering::SeqCst);
                        if i % 2 == 0 {
                            p.success();
                        } else {
                            drop(p);
                        }
                    }
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    assert!(
        peak.load(Ordering::SeqCst) <= PROBES,
        "peak {}",
        peak.load(Ordering::SeqCst)
    );
    assert!(
        admitted.load(Ordering::Relaxed) > u64::from(PROBES),
        "slots were recycled"
    );
    assert_eq!(b.state(), CircuitState::HalfOpen);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_failures_trip_exactly_once() {
    let transitions = Arc::new(AtomicU32::new(0));
    let seen = transitions.clone();
    let b = Breaker::builder("contended")
        .consecutive_failures(10)
        .on_event(move |e: &fusebox_core::Event<'_>| {
            if matches!(e.kind, fusebox_core::EventKind::StateTransition { .. }) {
                seen.fetch_add(1, Ordering::SeqCst);
            }
        })
        .build()
        .unwrap();
    let permits: Vec<_> = (0..64).map(|_| b.try_acquire().unwrap()).collect();
    let tasks: Vec<_> = permits
        .into_iter()
        .map(|p| tokio::spawn(async move { p.failure() }))
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(b.state(), CircuitState::Open);
    assert_eq!(transitions.load(Ordering::SeqCst), 1);
}
