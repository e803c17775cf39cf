//! A recorder for tests: metrics-util's registry with atomic storage, read without draining
//! (the debugging recorder's snapshot resets counters and gauges to zero as it reads them).

#![allow(dead_code, unreachable_pub)]

use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};
use metrics_util::registry::{AtomicStorage, Registry};
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// What was recorded, by metric name and labels.
#[derive(Clone)]
pub struct Recorded {
    registry: Arc<Registry<Key, AtomicStorage>>,
}

struct Handles(Arc<Registry<Key, AtomicStorage>>);

impl Recorder for Handles {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        self.0
            .get_or_create_counter(key, |c| Counter::from_arc(c.clone()))
    }

    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        self.0
            .get_or_create_gauge(key, |g| Gauge::from_arc(g.clone()))
    }

    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        self.0
            .get_or_create_histogram(key, |h| Histogram::from_arc(h.clone()))
    }
}

/// Whether `key` is `name` with exactly `labels`, in any order.
fn matches(key: &Key, name: &str, labels: &[(&str, &str)]) -> bool {
    let mut have: Vec<(&str, &str)> = key.labels().map(|l| (l.key(), l.value())).collect();
    let mut want = labels.to_vec();
    have.sort_unstable();
    want.sort_unstable();
    key.name() == name && have == want
}

impl Recorded {
    pub fn new() -> Self {
        Recorded {
            registry: Arc::new(Registry::atomic()),
        }
    }

    /// Runs `f` with this recorder as the thread's: handles made in it record here.
    pub fn local<T>(&self, f: impl FnOnce() -> T) -> T {
        let handles = Handles(self.registry.clone());
        metrics::with_local_recorder(&handles, f)
    }

    /// The counter's value; `None` if it was never registered.
    pub fn counter(&self, name: &str, labels: &[(&str, &str)]) -> Option<u64> {
        let handles = self.registry.get_counter_handles();
        let (_, counter) = handles.iter().find(|(k, _)| matches(k, name, labels))?;
        Some(counter.load(Ordering::SeqCst))
    }

    /// The gauge's value; `None` if it was never registered.
    pub fn gauge(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let handles = self.registry.get_gauge_handles();
        let (_, gauge) = handles.iter().find(|(k, _)| matches(k, name, labels))?;
        Some(f64::from_bits(gauge.load(Ordering::SeqCst)))
    }

    /// Every value the histogram holds; empty if it was never registered.
    pub fn histogram(&self, name: &str, labels: &[(&str, &str)]) -> Vec<f64> {
        let handles = self.registry.get_histogram_handles();
        handles
            .iter()
            .find(|(k, _)| matches(k, name, labels))
            .map(|(_, h)| h.data())
            .unwrap_or_default()
    }

    /// The label sets registered under `name`, each sorted.
    pub fn series(&self, name: &str) -> Vec<Vec<(String, String)>> {
        let mut keys: Vec<Key> = self.registry.get_counter_handles().into_keys().collect();
        keys.extend(self.registry.get_gauge_handles().into_keys());
        keys.extend(self.registry.get_histogram_handles().into_keys());
        let mut series: Vec<Vec<(String, String)>> = keys
            .iter()
            .filter(|k| k.name() == name)
            .map(|k| {
                let mut labels: Vec<(String, String)> = k
                    .labels()
                    .map(|l| (l.key().to_owned(), l.value().to_owned()))
                    .collect();
                labels.sort();
                labels
            })
            .collect();
        series.sort();
        series
    }
}
