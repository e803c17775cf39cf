//! A call through `MetricsLayer` allocates nothing once its handles are resolved, counted by
//! a global allocator; and with the Prometheus recorder, whose histograms buffer samples in
//! blocks until the next scrape or upkeep, allocations stay a small fraction of calls.
//!
//! The allocator counts every thread, so this binary runs without the test harness: `main` is
//! the only thread.

use fusebox_metrics::MetricsLayer;
use metrics::{
    Counter, CounterFn, Gauge, GaugeFn, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder,
    SharedString, Unit,
};
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};
use std::alloc::System;
use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use tower::{service_fn, Layer, Service};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const CALLS: usize = 100_000;

/// A recorder whose every handle is one atomic: a counter adds, a gauge keeps its bits, a
/// histogram counts its samples. Nothing it does allocates after registration.
#[derive(Default)]
struct Atomics;

struct Cell(AtomicU64);

impl CounterFn for Cell {
    fn increment(&self, value: u64) {
        self.0.fetch_add(value, Ordering::Relaxed);
    }
    fn absolute(&self, value: u64) {
        self.0.store(value, Ordering::Relaxed);
    }
}

impl GaugeFn for Cell {
    fn increment(&self, value: f64) {
        let _ = self
            .0
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| {
                Some((f64::from_bits(bits) + value).to_bits())
            });
    }
    fn decrement(&self, value: f64) {
        GaugeFn::increment(self, -value);
    }
    fn set(&self, value: f64) {
        self.0.store(value.to_bits(), Ordering::Relaxed);
    }
}

impl HistogramFn for Cell {
    fn record(&self, _: f64) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

impl Recorder for Atomics {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn register_counter(&self, _: &Key, _: &Metadata<'_>) -> Counter {
        Counter::from_arc(Arc::new(Cell(AtomicU64::new(0))))
    }
    fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::from_arc(Arc::new(Cell(AtomicU64::new(0))))
    }
    fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::from_arc(Arc::new(Cell(AtomicU64::new(0))))
    }
}

fn drive<S: Service<u32>>(svc: &mut S, calls: usize) -> usize {
    let mut cx = Context::from_waker(Waker::noop());
    let mut done = 0;
    for i in 0..calls {
        assert!(svc.poll_ready(&mut cx).is_ready());
        let fut = pin!(svc.call(u32::try_from(i).unwrap_or(u32::MAX)));
        match fut.poll(&mut cx) {
            Poll::Ready(_) => done += 1,
            Poll::Pending => unreachable!("ready futures"),
        }
    }
    done
}

/// Allocations (and reallocations) for `CALLS` calls, a failure every tenth, through a layer
/// made with `recorder` installed for the thread.
fn allocations_with(recorder: &dyn Recorder) -> usize {
    let layer = metrics::with_local_recorder(recorder, || MetricsLayer::new("geocoder"));
    let mut svc = layer.layer(service_fn(|n: u32| {
        std::future::ready(if n.is_multiple_of(10) {
            Err("unavailable")
        } else {
            Ok(n)
        })
    }));
    drive(&mut svc, 1_000); // warm-up
    let region = Region::new(GLOBAL);
    assert_eq!(drive(&mut svc, CALLS), CALLS);
    let change = region.change();
    change.allocations + change.reallocations
}

fn main() {
    let allocations = allocations_with(&Atomics);
    assert_eq!(
        allocations, 0,
        "MetricsLayer allocated {allocations} times in {CALLS} calls"
    );
    println!("MetricsLayer, {CALLS} calls: 0 allocations");

    let (exporter, recorder) = fusebox_metrics::PrometheusExporter::builder()
        .build()
        .unwrap();
    let allocations = allocations_with(&recorder);
    // The Prometheus recorder's histogram keeps samples in blocks of 64 until they are
    // folded in: about one allocation per 64 calls, never one per call.
    assert!(
        allocations * 32 <= CALLS,
        "{allocations} allocations in {CALLS} calls with the Prometheus recorder"
    );
    println!("MetricsLayer with the Prometheus recorder, {CALLS} calls: {allocations} allocations");
    assert!(exporter
        .render()
        .contains(r#"fusebox_calls_total{service="geocoder",outcome="failure"} 10100"#));
}
