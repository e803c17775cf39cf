//! The registry's history: bounded snapshots of every breaker's state and the patterns of its
//! trips (times opened, time open, time of day).
//!
//! This moves to `fusebox-metrics` once that crate lands, fed by transition events; until then
//! it stays here so the demo and the registry's tests keep working.

use super::health::rejects_fully;
use super::{BreakerRegistry, BreakerStatus};
use crate::sync::lock;
use std::collections::BTreeMap;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, SystemTime};
use tokio::time::Instant;

/// How many breakers are in each state, and which are degraded by a dependency.
///
/// Moving to `fusebox-metrics`, fed by transition events; kept here until that
/// crate lands.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct RegistrySnapshot {
    /// Wall-clock time of the capture.
    pub taken_at: SystemTime,
    /// Every breaker, by name.
    pub breakers: Vec<BreakerStatus>,
}

/// What the registry's history says of one breaker.
///
/// Moving to `fusebox-metrics`, fed by transition events; kept here until that
/// crate lands.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct BreakerPattern {
    /// The breaker's name.
    pub name: String,
    /// Times it opened within the remembered history.
    pub times_opened: usize,
    /// Mean time from opening to leaving the open state, over the open periods that ended.
    pub mean_time_open: Option<Duration>,
}

impl BreakerRegistry {
    /// Keeps at most `capacity` snapshots (default 60, at least 1); older ones are dropped.
    ///
    /// Moving to `fusebox-metrics`, fed by transition events; kept here until that
    /// crate lands.
    pub fn set_snapshot_capacity(&self, capacity: usize) {
        self.inner.snapshot_capacity.store(capacity.max(1), Relaxed);
        let mut ring = lock(&self.inner.snapshots);
        while ring.len() > capacity.max(1) {
            ring.pop_front();
        }
    }

    /// Captures every breaker's state now, keeps it in the bounded ring, and returns it.
    ///
    /// Moving to `fusebox-metrics`, fed by transition events; kept here until that
    /// crate lands.
    pub fn snapshot(&self) -> RegistrySnapshot {
        let snapshot = RegistrySnapshot {
            taken_at: SystemTime::now(),
            breakers: self.list(),
        };
        let mut ring = lock(&self.inner.snapshots);
        while ring.len() >= self.inner.snapshot_capacity.load(Relaxed) {
            ring.pop_front();
        }
        ring.push_back(snapshot.clone());
        snapshot
    }

    /// The kept snapshots, oldest first.
    ///
    /// Moving to `fusebox-metrics`, fed by transition events; kept here until that
    /// crate lands.
    pub fn snapshots(&self) -> Vec<RegistrySnapshot> {
        let ring = lock(&self.inner.snapshots);
        ring.iter().cloned().collect()
    }

    /// How often each breaker opened, and its mean time open, over the remembered transitions
    /// (the last 4,096), by name.
    ///
    /// Moving to `fusebox-metrics`, fed by transition events; kept here until that
    /// crate lands.
    pub fn patterns(&self) -> Vec<BreakerPattern> {
        let log = lock(&self.inner.transitions);
        let mut by_name: BTreeMap<&str, (usize, Option<Instant>, Duration, u32)> = BTreeMap::new();
        for t in log.iter() {
            let (opened, since, total, periods) = by_name.entry(&t.name).or_default();
            if rejects_fully(t.to) {
                if since.is_none() {
                    *opened += 1;
                    *since = Some(t.at);
                }
            } else if let Some(start) = since.take() {
                *total += t.at - start;
                *periods += 1;
            }
        }
        by_name
            .into_iter()
            .map(|(name, (opened, _, total, periods))| BreakerPattern {
                name: name.to_owned(),
                times_opened: opened,
                mean_time_open: (periods > 0).then(|| total / periods),
            })
            .collect()
    }
}
